import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OutpostProtocol
import Testing

@Suite("Claim long poll")
struct ClaimLongPollTests {
    @Test func aHeldClaimWakesAsSoonAsRunNowIsCalled() async throws {
        // The periodic re-check is far longer than the test allows, so only the notification can wake the claim.
        let fixture = try await ControlPlaneFixture.make { $0.claimRecheckInterval = .seconds(30) }
        try await fixture.application().test(.live) { client in
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: sampleConnection()
            ).decode(ConnectionResponse.self)
            let port = try #require(client.port)

            try await withThrowingTaskGroup(of: (TestResponse, ContinuousClock.Instant).self) { group in
                group.addTask {
                    let response = try await client.send(
                        .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent,
                        json: claimRequest(waitSeconds: 20))
                    return (response, .now)
                }
                // A second connection: the first is busy holding the claim.
                let admin = TestClient(host: "localhost", port: port, configuration: .init(timeout: .seconds(20)))
                admin.connect()
                try await Task.sleep(for: .milliseconds(300))
                var headers: HTTPFields = [.authorization: "Bearer \(fixture.tenantA.admin)"]
                headers[.contentLength] = "0"
                let queued = try await admin.post(
                    "/v1/admin/connections/\(connection.id)/runs", headers: headers, body: ByteBuffer())
                let queuedAt = ContinuousClock.now
                try await admin.shutdown()
                #expect(queued.status == .created)

                let (response, answeredAt) = try #require(try await group.next())
                #expect(response.status == .ok)
                #expect(try response.decode(ClaimResponse.self).run.job.connectionId == connection.id)
                // The re-check interval is 30 s: an answer well before it can only come from the notification.
                #expect(queuedAt.duration(to: answeredAt) < .seconds(10))
            }
        }
    }

    @Test func aHeldClaimAnswersNoContentWhenItsWaitRunsOut() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.claimMaxWaitSeconds = 1 }
        try await fixture.application().test(.router) { client in
            let start = ContinuousClock.now
            // Asks for 30 s; the server caps the wait at its configured maximum.
            let response = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest(waitSeconds: 30))
            let waited = start.duration(to: .now)
            #expect(response.status == .noContent)
            #expect(waited >= .milliseconds(900))
            #expect(waited < .seconds(5))
        }
    }

    @Test func aHeldClaimFindsRunsQueuedElsewhereOnItsPeriodicRecheck() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.claimRecheckInterval = .milliseconds(100) }
        try await fixture.application().test(.router) { client in
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: sampleConnection()
            ).decode(ConnectionResponse.self)
            try await withThrowingTaskGroup(of: TestResponse.self) { group in
                group.addTask {
                    try await client.send(
                        .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest(waitSeconds: 40)
                    )
                }
                try await Task.sleep(for: .milliseconds(200))
                // Written straight into the database, as another replica would: no notification here.
                try await fixture.store.createRun(
                    RunRecord(
                        tenantId: fixture.tenantA.tenant.id, id: Identifier.make("run"), connectionId: connection.id,
                        status: .queued, attempt: 0, maxAttempts: 3, leaseId: 0, createdAt: fixture.clock.now))
                let start = ContinuousClock.now
                let response = try #require(try await group.next())
                #expect(response.status == .ok)
                // Well before the 40 s hold ends: the periodic re-check found it.
                #expect(start.duration(to: .now) < .seconds(20))
            }
        }
    }
}
