import ControlPlane
import ControlPlaneStorage
import HummingbirdTesting
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("Ingestion recovery")
struct IngestionRecoveryTests {
    @Test(
        "a delivery left ingesting by a server that stopped is taken over and published by a running server",
        arguments: StorageBackend.allCases)
    func takesOverAnInterruptedIngestion(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(
            backend: backend, configure: { $0.ingestionRecoveryInterval = .milliseconds(20) }
        ) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let folder = try harness.folder("delivery")
            try DeliveryWriter.write(
                [
                    CatalogRecords.database("wh", "d"), CatalogRecords.schema("wh", "d", "s"),
                    CatalogRecords.table("wh", "d", "s", "t"),
                ],
                connection: "wh",
                completeness: [
                    CatalogRecords.completeness("wh", "d", nil), CatalogRecords.completeness("wh", "d", "s"),
                ],
                into: folder)
            try await client.uploadAll(harness, assignment, try DeliveredFile.all(in: folder))

            // What `complete` leaves behind when its server dies before ingesting: the run `ingesting` under a lease
            // the dead server held. Nothing is queued in this server's ingestion queue.
            let tenantId = harness.tenantA.tenant.id
            let now = harness.clock.now
            let left = try await harness.store.updateLeased(
                tenantId: tenantId, runId: assignment.runId, leaseId: assignment.leaseId, now: now
            ) { run in
                run.status = .ingesting
                run.logSHA256 = String(repeating: "a", count: 64)
                run.leaseExpiresAt = now.adding(seconds: 30)
            }
            #expect(left?.status == .ingesting)
            // While that lease lasts, nobody takes the run over.
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await harness.store.run(tenantId: tenantId, id: assignment.runId)?.status == .ingesting)

            harness.clock.advance(seconds: 31)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .succeeded)
            #expect(run.error == nil)
            #expect(run.leaseId == assignment.leaseId + 1)
            let found = try await client.search(harness, "kind=table&connectionId=\(connection.id)")
            #expect(found.map(\.qualifiedName) == ["wh/d/s/t"])
        }
    }
}
