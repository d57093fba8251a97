import Connectors
import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("Direct ingestion")
struct DirectIngestionTests {
    static let quietLogger = Logger(label: "outpost.test.extract", factory: { _ in SwiftLogNoOpLogHandler() })

    // MARK: The whole flow

    @Test(
        "a delivery extracted by the SQLite connector is uploaded to its grants, ingested and found in the catalog",
        arguments: StorageBackend.allCases)
    func deliveryReachesTheCatalog(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend) { harness, client in
            let connection = try await client.createConnection(harness, name: "shop")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let database = harness.directory.path + "/shop.db"
            try SQLiteFile.create(
                at: database,
                script: """
                    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
                    CREATE TABLE orders (
                        id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), total REAL);
                    CREATE INDEX orders_by_customer ON orders (customer_id);
                    CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
                    """)
            let folder = try harness.folder("extraction")
            let manifest = try await Extraction(
                connector: SQLiteConnector(path: database), scope: ExtractionScope(connection: "shop"), folder: folder
            ).run(progress: ExtractionProgress(), logger: Self.quietLogger)
            #expect(manifest.status == .complete)

            let run = try await client.deliver(harness, assignment, folder: folder)
            #expect(run.status == .succeeded)
            #expect(run.error == nil)
            #expect(run.leaseExpiresAt == nil)
            #expect(run.finishedAt != nil)
            #expect(run.logTotalBytes == 42)
            #expect(run.logSHA256 == String(repeating: "a", count: 64))
            #expect(run.logDroppedBytes == 7)
            for file in manifest.files.map(\.path) + [MetadataFormat.manifestFileName] {
                #expect(
                    try await harness.blobs.exists(
                        key: "\(harness.tenantA.tenant.id)/\(assignment.runId)/\(file)"))
            }

            let found = try await client.search(harness, "q=ORDERS")
            #expect(
                Set(found.map(\.qualifiedName)).isSuperset(of: ["shop/shop/main/orders", "shop/shop/main/big_orders"]))
            #expect(found.allSatisfy { $0.connectionId == connection.id && $0.runId == assignment.runId })
            let tables = try await client.search(harness, "kind=table&connectionId=\(connection.id)")
            #expect(tables.map(\.name).sorted() == ["customers", "orders"])
            #expect(try await client.search(harness, "q=orders", tenant: harness.tenantB).isEmpty)

            let orders = try await client.asset(harness, connection.id, kind: "table", "shop/shop/main/orders")
            #expect(orders.asset.name == "orders")
            #expect(orders.asset.parent == "shop/shop/main")
            #expect(orders.record.field("name") == .string("orders"))
            #expect(orders.columns?.map { $0.field("name") } == ["id", "customer_id", "total"].map(JSONValue.string))
            #expect(orders.keys?.compactMap { $0.field("kind") }.contains(.string("foreignKey")) == true)
            #expect(orders.indexes?.map { $0.field("name") } == [.string("orders_by_customer")])
            #expect(orders.children == nil)
            let view = try await client.asset(harness, connection.id, kind: "view", "shop/shop/main/big_orders")
            #expect(view.lineage?.upstream.map { $0.field("name") } == [.string("orders")])
            let schema = try await client.asset(harness, connection.id, kind: "schema", "shop/shop/main")
            let children = Set((schema.children ?? []).map(\.name))
            #expect(children.isSuperset(of: ["customers", "orders", "big_orders"]))
        }
    }

    @Test(
        "a partial delivery keeps the assets of incomplete schemas and deletes inside complete ones",
        arguments: StorageBackend.allCases)
    func partialDeliveryDeletesOnlyInCompleteSchemas(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            typealias R = CatalogRecords
            let first = try harness.folder("first")
            try DeliveryWriter.write(
                [
                    R.database("wh", "d"), R.schema("wh", "d", "s1"), R.schema("wh", "d", "s2"),
                    R.table("wh", "d", "s1", "a"), R.table("wh", "d", "s1", "b"), R.table("wh", "d", "s2", "c"),
                    R.table("wh", "d", "s2", "d"),
                ],
                connection: "wh",
                completeness: [
                    R.completeness("wh", "d", nil), R.completeness("wh", "d", "s1"), R.completeness("wh", "d", "s2"),
                ],
                into: first)
            let firstRun = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: first)
            #expect(firstRun.status == .succeeded)

            // s2 could not be read completely this time: c is all it saw there, so d must survive; s1 was read
            // completely and no longer has b.
            let second = try harness.folder("second")
            let manifest = try DeliveryWriter.write(
                [
                    R.database("wh", "d"), R.schema("wh", "d", "s1"), R.schema("wh", "d", "s2"),
                    R.table("wh", "d", "s1", "a"), R.table("wh", "d", "s2", "c"),
                ],
                connection: "wh",
                completeness: [
                    R.completeness("wh", "d", nil), R.completeness("wh", "d", "s1"),
                    R.completeness("wh", "d", "s2", complete: false),
                ],
                into: second)
            #expect(manifest.status == .partial)
            let secondRun = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: second)
            #expect(secondRun.status == .partial)
            #expect(secondRun.error == nil)

            let tables = try await client.search(harness, "kind=table&connectionId=\(connection.id)")
            #expect(tables.map(\.qualifiedName).sorted() == ["wh/d/s1/a", "wh/d/s2/c", "wh/d/s2/d"])
        }
    }

    @Test("a re-sent complete answers 200 again without ingesting twice, and a re-delivery adds no duplicates")
    func repeatedCompletionIsIdempotent() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
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
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let files = try DeliveredFile.all(in: folder)
            try await client.uploadAll(harness, assignment, files)
            // Uploading the same files again simply replaces them.
            try await client.uploadAll(harness, assignment, files)
            #expect(try await client.complete(harness, assignment).status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .succeeded)
            let before = try await client.search(harness, "connectionId=\(connection.id)")

            let again = try await client.complete(harness, assignment)
            #expect(again.status == .ok)
            #expect(try again.decode(CompleteResponse.self) == CompleteResponse(ingestion: "queued"))
            let after = try #require(try await harness.store.run(tenantId: harness.tenantA.tenant.id, id: run.id))
            #expect(after == run)
            #expect(try await client.search(harness, "connectionId=\(connection.id)") == before)

            // The same delivery again in a new run changes nothing and duplicates nothing.
            let redelivery = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: folder)
            #expect(redelivery.status == .succeeded)
            let assets = try await client.search(harness, "connectionId=\(connection.id)")
            #expect(assets == before)
            #expect(Set(assets.map(\.qualifiedName)).count == assets.count)
        }
    }

    @Test("a complete re-sent while the run is ingesting answers 200 and queues nothing")
    func completionWhileIngestingQueuesNothing() async throws {
        try await DeliveryHarness.serve(setup: .router) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            // As if a completion had been accepted and another replica were ingesting it.
            _ = try await harness.store.updateLeased(
                tenantId: harness.tenantA.tenant.id, runId: assignment.runId, leaseId: assignment.leaseId,
                now: harness.clock.now
            ) { run in
                run.status = .ingesting
                run.logSHA256 = String(repeating: "a", count: 64)
            }
            let response = try await client.complete(harness, assignment)
            #expect(response.status == .ok)
            #expect(try response.decode(CompleteResponse.self) == CompleteResponse(ingestion: "queued"))
            // Had it been queued, the ingestion would have failed the run at once: nothing was delivered.
            try await Task.sleep(for: .milliseconds(300))
            let run = try #require(
                try await harness.store.run(tenantId: harness.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .ingesting)
        }
    }

    // MARK: Broken deliveries

    @Test("a truncated gzip chunk fails the run with the file and reason, and publishes nothing")
    func truncatedChunkFailsTheRun() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let folder = try harness.folder("delivery")
            let written = try DeliveryWriter.write(
                [CatalogRecords.database("wh", "d"), CatalogRecords.schema("wh", "d", "s")]
                    + (0..<50).map { CatalogRecords.table("wh", "d", "s", "t\($0)") },
                connection: "wh",
                completeness: [
                    CatalogRecords.completeness("wh", "d", nil), CatalogRecords.completeness("wh", "d", "s"),
                ],
                into: folder)
            // Cut the chunk short and describe the cut file in the manifest, so every upload check passes and only
            // the gzip stream itself is broken.
            var chunk = written.files[0]
            let url = URL(fileURLWithPath: folder.path + "/" + chunk.path)
            let truncated = Array(try Data(contentsOf: url).dropLast(20))
            try Data(truncated).write(to: url)
            chunk.bytes = Int64(truncated.count)
            chunk.sha256 = DeliveredFile(path: chunk.path, bytes: truncated).sha256
            try DeliveryWriter.writeManifest(
                files: [chunk], counts: written.counts, connection: "wh", completeness: written.completeness,
                into: folder)

            let run = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: folder)
            #expect(run.status == .failed)
            let error = try #require(run.error)
            #expect(error.contains(chunk.path))
            #expect(error.contains("truncated"))
            #expect(try await client.search(harness, "connectionId=\(connection.id)").isEmpty)
        }
    }

    @Test(
        "an invalid record fails the run naming the file and record, and publishes nothing",
        arguments: [
            ("{\"kind\":\"table\",\"name\":\"broken\"}", "record 1 is not a valid v1 record"),
            (DirectIngestionTests.line(CatalogRecords.table("other", "d", "s", "t")), "named outside connection 'wh'"),
        ])
    func invalidRecordFailsTheRun(line: String, expected: String) async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let folder = try harness.folder("delivery")
            try DeliveryWriter.writeLines(
                [line], connection: "wh", completeness: [CatalogRecords.completeness("wh", "d", nil)], into: folder)
            let run = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: folder)
            #expect(run.status == .failed)
            #expect(run.error?.contains("records-00001.jsonl.gz") == true)
            #expect(run.error?.contains(expected) == true, "\(run.error ?? "")")
            #expect(try await client.search(harness, "connectionId=\(connection.id)").isEmpty)
        }
    }

    @Test("a delivery whose manifest was never uploaded fails the run")
    func missingManifestFailsTheRun() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            #expect(try await client.complete(harness, assignment).status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .failed)
            #expect(run.error == "the delivery has no manifest.json")
        }
    }

    // MARK: Uploads refused

    @Test("an upload whose bytes differ from the grant is refused with 400 and discarded")
    func tamperedUploadIsDiscarded() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let file = DeliveredFile(path: "records-00001.jsonl.gz", bytes: (0..<1000).map { UInt8($0 % 251) })
            let key = "\(harness.tenantA.tenant.id)/\(assignment.runId)/\(file.path)"
            let grant = try #require(try await client.grants(harness, assignment, for: [file]).first)

            var tampered = file.bytes
            tampered[500] ^= 0xFF
            let mismatch = try await client.upload(tampered, to: grant)
            #expect(mismatch.status == .badRequest)
            #expect(mismatch.problem?.error == "checksum_mismatch")
            #expect(mismatch.problem?.field == "sha256")
            #expect(try await harness.blobs.exists(key: key) == false)

            let short = try await client.upload(Array(file.bytes.prefix(999)), to: grant)
            #expect(short.status == .badRequest)
            #expect(short.problem?.error == "size_mismatch")
            #expect(short.problem?.field == "bytes")

            var headers = grant.headers
            headers[UploadGrantTests.checksumHeader] = String(repeating: "0", count: 64)
            let wrongHeader = try await client.upload(file.bytes, to: grant, headers: headers)
            #expect(wrongHeader.status == .badRequest)
            #expect(wrongHeader.problem?.error == "checksum_mismatch")
            headers[UploadGrantTests.checksumHeader] = nil
            let noHeader = try await client.upload(file.bytes, to: grant, headers: headers)
            #expect(noHeader.status == .badRequest)
            #expect(try await harness.blobs.exists(key: key) == false)

            #expect(try await client.upload(file.bytes, to: grant).status == .ok)
            #expect(try await client.upload(file.bytes, to: grant).status == .ok)
            // The same URL used again with junk of the same size is refused, and the accepted file stays.
            let junk = try await client.upload(file.bytes.map { $0 ^ 0xFF }, to: grant)
            #expect(junk.status == .badRequest)
            #expect(junk.problem?.error == "checksum_mismatch")
            var stored: [UInt8] = []
            try await harness.blobs.read(key: key) { stored += $0 }
            #expect(stored == file.bytes)
        }
    }

    @Test("a body larger than granted is refused with 413 and nothing is stored")
    func oversizedUploadIsRefused() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let file = DeliveredFile(path: "records-00001.jsonl.gz", bytes: Array(repeating: 7, count: 100))
            let grant = try #require(try await client.grants(harness, assignment, for: [file]).first)
            let response = try await client.upload(file.bytes + [7], to: grant)
            #expect(response.status == .contentTooLarge)
            #expect(response.problem?.error == "payload_too_large")
            #expect(
                try await harness.blobs.exists(key: "\(harness.tenantA.tenant.id)/\(assignment.runId)/\(file.path)")
                    == false)
        }
    }

    @Test("a grant is refused after it expired, and with any part of its URL changed")
    func expiredOrAlteredGrantsAreRefused() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let file = DeliveredFile(path: "manifest.json", bytes: Array("{}".utf8))
            let grant = try #require(try await client.grants(harness, assignment, for: [file]).first)

            let url = grant.url
            let signature = try #require(url.range(of: "signature=")).upperBound
            let flipped = url[signature] == "0" ? "1" : "0"
            for altered in [
                url.replacingCharacters(in: signature..<url.index(after: signature), with: flipped),
                url.replacingOccurrences(of: "bytes=2", with: "bytes=3"),
                url.replacingOccurrences(of: "manifest.json", with: "records-00001.jsonl.gz"),
                String(url[..<url.range(of: "&signature=")!.lowerBound]),
                url.replacingOccurrences(of: "expires=", with: "expires=1"),
            ] {
                let response = try await client.upload(file.bytes, to: grant, url: altered)
                #expect(response.status == .forbidden, "\(altered)")
                #expect(response.problem?.error == "invalid_signature")
            }

            harness.clock.advance(seconds: harness.configuration.uploadGrantSeconds)
            let expired = try await client.upload(file.bytes, to: grant)
            #expect(expired.status == .forbidden)
            #expect(expired.problem?.error == "expired_grant")
        }
    }

    @Test("a grant cannot be used for another run or another tenant")
    func grantsAreBoundToRunAndTenant() async throws {
        try await DeliveryHarness.serve { harness, client in
            let first = try await client.startRun(
                harness, connectionId: try await client.createConnection(harness, name: "one").id)
            let second = try await client.startRun(
                harness, connectionId: try await client.createConnection(harness, name: "two").id)
            let file = DeliveredFile(path: "manifest.json", bytes: Array("{}".utf8))
            let grant = try #require(try await client.grants(harness, first, for: [file]).first)

            let otherRun = grant.url.replacingOccurrences(of: first.runId, with: second.runId)
            let otherTenant = grant.url.replacingOccurrences(
                of: harness.tenantA.tenant.id, with: harness.tenantB.tenant.id)
            for url in [otherRun, otherTenant] {
                let response = try await client.upload(file.bytes, to: grant, url: url)
                #expect(response.status == .forbidden)
                #expect(response.problem?.error == "invalid_signature")
            }
            // Tenant B's agent cannot even ask for grants on tenant A's run.
            let foreign = try await client.requestGrants(
                harness, first, files: [file.uploadRequest], tenant: harness.tenantB)
            #expect(foreign.status == .notFound)
        }
    }

    @Test("uploads to a finished run are refused")
    func uploadsToAFinishedRunAreRefused() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let file = DeliveredFile(path: "manifest.json", bytes: Array("{}".utf8))
            let grant = try #require(try await client.grants(harness, assignment, for: [file]).first)
            let failed = try await client.complete(harness, assignment, status: .failed, error: "source unreachable")
            #expect(try failed.decode(CompleteResponse.self) == CompleteResponse(ingestion: "none"))
            let response = try await client.upload(file.bytes, to: grant)
            #expect(response.status == .conflict)
        }
    }

    // MARK: Completion without ingestion

    @Test("a failed or cancelled completion finishes the run at once with the log totals and ingests nothing")
    func failedCompletionSkipsIngestion() async throws {
        try await DeliveryHarness.serve(setup: .router) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let response = try await client.complete(harness, assignment, status: .failed, error: "source unreachable")
            #expect(response.status == .ok)
            #expect(try response.decode(CompleteResponse.self) == CompleteResponse(ingestion: "none"))
            let run = try #require(
                try await harness.store.run(tenantId: harness.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .failed)
            #expect(run.error == "source unreachable")
            #expect(run.logTotalBytes == 42)
            #expect(run.logDroppedBytes == 7)
            let shown = try await client.send(.get, "/v1/admin/runs/\(run.id)", key: harness.tenantA.admin)
                .decode(RunResponse.self)
            #expect(shown.logTotalBytes == 42)
            #expect(shown.logSHA256 == String(repeating: "a", count: 64))
            #expect(shown.logDroppedBytes == 7)
            // Repeating it is harmless; a different outcome for the same lease is not.
            #expect(try await client.complete(harness, assignment, status: .failed).status == .ok)
            #expect(try await client.complete(harness, assignment, status: .cancelled).status == .conflict)
        }
    }

    @Test("relay objects in the completion of a direct connection are refused with 400 and leave the run as it was")
    func relayObjectsForDirectConnectionAreRefused() async throws {
        try await DeliveryHarness.serve(setup: .router) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let relay = CompleteRequest.RelayObjects(
                bucket: "acme-metadata", manifestKey: "outpost/run/manifest.json",
                objects: [.init(key: "outpost/run/manifest.json", bytes: 2, sha256: String(repeating: "b", count: 64))])
            let response = try await client.complete(harness, assignment, relay: relay)
            #expect(response.status == .badRequest)
            #expect(response.problem?.field == "relay")
            #expect(response.problem?.message.contains("directly") == true)
            let run = try #require(
                try await harness.store.run(tenantId: harness.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .running)
        }
    }

    /// A record as one JSON line.
    static func line(_ record: MetadataRecord) -> String {
        String(decoding: (try? JSONEncoder().encode(record)) ?? Data(), as: UTF8.self)
    }
}

extension TestClientProtocol {
    /// `GET /v1/admin/catalog/assets` as tenant A's admin.
    func asset(
        _ harness: DeliveryHarness, _ connectionId: String, kind: String, _ qualifiedName: String
    ) async throws -> CatalogAssetResponse {
        let name = qualifiedName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? qualifiedName
        let response = try await send(
            .get, "/v1/admin/catalog/assets?connectionId=\(connectionId)&kind=\(kind)&qualifiedName=\(name)",
            key: harness.tenantA.admin)
        guard response.status == .ok else { throw FixtureError("asset: \(response.status) \(response.text)") }
        return try response.decode(CatalogAssetResponse.self)
    }
}

extension JSONValue {
    /// A field of an object; nil for anything else.
    func field(_ name: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[name] }
        return nil
    }
}

extension DirectIngestionTests {
    @Test(
        "a run's uploads stay within its limit across grant requests; a file granted again counts once",
        arguments: StorageBackend.allCases)
    func uploadsAreBoundedPerRun(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(
            backend: backend,
            configure: {
                $0.runLimits.maxUploadBytes = 1_000
                $0.maximumUploadFileBytes = 1_000
            }
        ) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            func ask(_ path: String, _ bytes: Int64) async throws -> TestResponse {
                try await client.requestGrants(
                    harness, assignment,
                    files: [.init(path: path, bytes: bytes, sha256: String(repeating: "0", count: 64))])
            }
            #expect(try await ask("a.jsonl.gz", 600).status == .ok)
            let over = try await ask("b.jsonl.gz", 600)
            #expect(over.status == .contentTooLarge)
            #expect(over.problem?.message.contains("1000 bytes in all") == true, "\(over.text)")
            // Asking again for a file granted before (its grant expired, say) replaces it; the refused one left
            // nothing behind, so 400 more fit.
            #expect(try await ask("a.jsonl.gz", 600).status == .ok)
            #expect(try await ask("c.jsonl.gz", 400).status == .ok)
            #expect(try await ask("d.jsonl.gz", 1).status == .contentTooLarge)
        }
    }

    @Test(
        "when a run ends, what it uploaded outside its accepted delivery is removed, and a failed run's uploads all go",
        arguments: StorageBackend.allCases)
    func uploadsOutsideTheDeliveryAreRemoved(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(
            backend: backend, configure: { $0.deliveryCleanupInterval = .milliseconds(50) }
        ) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let folder = try harness.folder("delivery")
            try DeliveryWriter.write(
                [CatalogRecords.database("wh", "d"), CatalogRecords.schema("wh", "d", "s")], connection: "wh",
                completeness: [CatalogRecords.completeness("wh", "d", nil)], into: folder)
            let files = try DeliveredFile.all(in: folder)
            let stray = DeliveredFile(path: "stray.bin", bytes: Array("not in the manifest".utf8))
            func key(_ runId: String, _ path: String) -> String {
                DeliveryBlobKey.make(tenantId: harness.tenantA.tenant.id, runId: runId, file: path)
            }
            func waitUntilGone(_ key: String) async throws {
                let deadline = ContinuousClock.now + .seconds(10)
                while try await harness.blobs.exists(key: key), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }

            let good = try await client.startRun(harness, connectionId: connection.id)
            try await client.uploadAll(harness, good, files + [stray])
            #expect(try await client.complete(harness, good).status == .ok)
            #expect(try await harness.finishedRun(good.runId).status == .succeeded)
            try await waitUntilGone(key(good.runId, stray.path))
            #expect(try await harness.blobs.exists(key: key(good.runId, stray.path)) == false)
            for file in files {
                #expect(try await harness.blobs.exists(key: key(good.runId, file.path)), "\(file.path)")
            }

            let failed = try await client.startRun(harness, connectionId: connection.id)
            try await client.uploadAll(harness, failed, files + [stray])
            #expect(
                try await client.complete(harness, failed, status: .failed, error: "source went away").status == .ok)
            for file in files + [stray] {
                try await waitUntilGone(key(failed.runId, file.path))
                #expect(try await harness.blobs.exists(key: key(failed.runId, file.path)) == false, "\(file.path)")
            }
        }
    }
}
