import AWSSigV4
import Connectors
import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Metadata
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Relay
import Testing

/// Bucket relay: the test plays the agent over the real agent API (claim, start, complete on a live server) and
/// writes the delivery into a real moto bucket with the project's own `S3Client`; the server reads it back with
/// its own credentials.
@Suite("Relay ingestion", .serialized)
struct RelayIngestionTests {
    static let bucket = "customer-relay"
    static let quietLogger = Logger(label: "outpost.test.extract", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A moto with the customer's bucket, and the server's reader allowed to use it.
    static func customerBucket() throws -> (TestMoto, RelayReader) {
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='\(bucket)')")
        return (moto, RelayReader(environment: AWSEnvironment(moto.environment()), allowedEndpoints: [moto.url]))
    }

    static func relaySettings(_ moto: TestMoto) -> DeliverySettings {
        DeliverySettings(
            mode: .relay,
            relay: RelaySettings(bucket: bucket, prefix: "outpost/", region: "us-east-1", endpoint: moto.url))
    }

    /// What the agent does after extracting: every file into the run's prefix with server-side encryption.
    static func agentUploads(
        _ folder: ExtractionFolder, assignment: RunAssignment
    ) async throws -> (S3Client, CompleteRequest.RelayObjects) {
        let target = try #require(assignment.job.delivery.relay)
        let client = try S3Client(
            relay: target, credentials: .fixed(AWSCredentials(accessKeyId: "agent", secretAccessKey: "agent-secret")))
        let prefix = target.runPrefix(connectionId: assignment.job.connectionId, runId: assignment.runId)
        let manifest = try folder.readManifest()
        var objects: [CompleteRequest.RelayObjects.Object] = []
        for file in [MetadataFormat.manifestFileName] + manifest.files.map(\.path) {
            let uploaded = try await client.upload(
                file: folder.path + "/" + file, key: prefix + file,
                serverSideEncryption: try ServerSideEncryption(relay: target))
            #expect(uploaded.serverSideEncryption == "AES256")
            objects.append(.init(key: uploaded.key, bytes: uploaded.bytes, sha256: uploaded.sha256))
        }
        return (
            client,
            CompleteRequest.RelayObjects(
                bucket: target.bucket, manifestKey: prefix + MetadataFormat.manifestFileName, objects: objects)
        )
    }

    /// The catalog of a connection as the admin API lists it.
    static func catalog(
        _ client: some TestClientProtocol, _ harness: DeliveryHarness, connectionId: String,
        tenant: TenantKeys? = nil
    ) async throws -> [CatalogAssetSummary] {
        try await client.search(harness, "connectionId=\(connectionId)&limit=500", tenant: tenant)
            .sorted { ($0.kind, $0.qualifiedName) < ($1.kind, $1.qualifiedName) }
    }

    @Test("an agent writing to the bucket with S3Client over the real agent API gets the same catalog as direct")
    func relayPublishesTheSameCatalogAsDirect() async throws {
        let (moto, reader) = try Self.customerBucket()
        try await DeliveryHarness.serve(relayReader: reader) { harness, client in
            let database = harness.directory.path + "/shop.db"
            try SQLiteFile.create(
                at: database,
                script: """
                    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
                    CREATE TABLE "order lines" (
                        id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), total REAL);
                    CREATE INDEX lines_by_customer ON "order lines" (customer_id);
                    CREATE VIEW big_orders AS SELECT id, total FROM "order lines" WHERE total > 100;
                    """)
            let folder = try harness.folder("extraction")
            _ = try await Extraction(
                connector: SQLiteConnector(path: database), scope: ExtractionScope(connection: "shop"), folder: folder
            ).run(progress: ExtractionProgress(), logger: Self.quietLogger)

            // Tenant A's connection gets the files delivered directly…
            let direct = try await client.createConnection(harness, name: "shop")
            let directRun = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: direct.id), folder: folder)
            #expect(directRun.status == .succeeded)
            let directCatalog = try await Self.catalog(client, harness, connectionId: direct.id)
            #expect(directCatalog.count > 10)

            // …tenant B's connection of the same name relays them through the customer's bucket.
            let tenant = harness.tenantB
            var request = ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: "sqlite:/data/shop.db")
            request.delivery = Self.relaySettings(moto)
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: tenant.admin, json: request
            ).decode(ConnectionResponse.self)
            let assignment = try await client.startRun(harness, connectionId: connection.id, tenant: tenant)
            #expect(assignment.job.delivery.mode == .relay)
            let (bucket, relay) = try await Self.agentUploads(folder, assignment: assignment)
            #expect(relay.objects.allSatisfy { $0.key.hasPrefix("outpost/\(connection.id)/\(assignment.runId)/") })
            #expect(try await bucket.headObject(key: relay.manifestKey).serverSideEncryption == "AES256")

            let response = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: tenant.agent,
                json: CompleteRequest(
                    leaseId: assignment.leaseId, status: .succeeded, relay: relay,
                    logs: .init(bytes: 0, sha256: String(repeating: "0", count: 64), droppedBytes: 0)))
            #expect(response.status == .ok, "\(response.text)")
            #expect(try response.decode(CompleteResponse.self) == CompleteResponse(ingestion: "queued"))
            let run = try await harness.finishedRun(assignment.runId, tenant: tenant)
            #expect(run.status == .succeeded, "\(run.error ?? "")")
            #expect(run.error == nil)

            let relayCatalog = try await Self.catalog(client, harness, connectionId: connection.id, tenant: tenant)
            #expect(relayCatalog.allSatisfy { $0.runId == assignment.runId && $0.connectionId == connection.id })
            #expect(
                relayCatalog.map { [$0.kind, $0.qualifiedName, $0.name, $0.parent ?? ""] }
                    == directCatalog.map { [$0.kind, $0.qualifiedName, $0.name, $0.parent ?? ""] })
            // Tenant A sees nothing of tenant B's relayed catalog.
            #expect(try await Self.catalog(client, harness, connectionId: connection.id).isEmpty)
        }
    }

    @Test("a tampered or missing relay object fails the run with the object named and publishes nothing")
    func tamperedObjectFailsTheRun() async throws {
        let (moto, reader) = try Self.customerBucket()
        try await DeliveryHarness.serve(relayReader: reader) { harness, client in
            var request = ConnectionRequest(name: "wh", sourceKind: "sqlite", sourceURL: "sqlite:/data/wh.db")
            request.delivery = Self.relaySettings(moto)
            let created = try await client.send(
                .post, "/v1/admin/connections", key: harness.tenantA.admin, json: request)
            let connection = try created.decode(ConnectionResponse.self)
            typealias R = CatalogRecords
            let folder = try harness.folder("delivery")
            let manifest = try DeliveryWriter.write(
                [R.database("wh", "d"), R.schema("wh", "d", "s"), R.table("wh", "d", "s", "t")],
                connection: "wh", completeness: [R.completeness("wh", "d", nil), R.completeness("wh", "d", "s")],
                into: folder)
            let chunk = try #require(manifest.files.first).path

            // The chunk is replaced after the agent reported its checksum.
            let tampered = try await client.startRun(harness, connectionId: connection.id)
            let (bucket, relay) = try await Self.agentUploads(folder, assignment: tampered)
            let chunkKey = try #require(relay.objects.first { $0.key.hasSuffix("/" + chunk) }).key
            let original = try await bucket.getObjectBytes(key: chunkKey, limit: 1 << 20)
            var altered = original
            altered[altered.count / 2] ^= 0xFF
            try await bucket.putObject(key: chunkKey, body: .bytes(altered))
            #expect(try await client.complete(harness, tampered, relay: relay).status == .ok)
            let failed = try await harness.finishedRun(tampered.runId)
            #expect(failed.status == .failed)
            let reason = try #require(failed.error)
            #expect(reason.contains(chunk))
            #expect(try await Self.catalog(client, harness, connectionId: connection.id).isEmpty)

            // Bytes appended after the report are caught against the reported size before they are read.
            let grown = try await client.startRun(harness, connectionId: connection.id)
            let (_, grownRelay) = try await Self.agentUploads(folder, assignment: grown)
            let grownKey = try #require(grownRelay.objects.first { $0.key.hasSuffix("/" + chunk) }).key
            try await bucket.putObject(key: grownKey, body: .bytes(original + Array("{}\n".utf8)))
            #expect(try await client.complete(harness, grown, relay: grownRelay).status == .ok)
            let grownRun = try await harness.finishedRun(grown.runId)
            #expect(grownRun.status == .failed)
            #expect(grownRun.error?.contains("s3://\(Self.bucket)/\(grownKey)") == true)
            #expect(grownRun.error?.contains("the agent reported") == true)
            #expect(try await Self.catalog(client, harness, connectionId: connection.id).isEmpty)

            // The next run's chunk never reaches the bucket at all.
            let missing = try await client.startRun(harness, connectionId: connection.id)
            let (_, missingRelay) = try await Self.agentUploads(folder, assignment: missing)
            let missingKey = try #require(missingRelay.objects.first { $0.key.hasSuffix("/" + chunk) }).key
            try await bucket.deleteObject(key: missingKey)
            #expect(try await client.complete(harness, missing, relay: missingRelay).status == .ok)
            let notFound = try await harness.finishedRun(missing.runId)
            #expect(notFound.status == .failed)
            #expect(notFound.error?.contains(chunk) == true)
            #expect(try await Self.catalog(client, harness, connectionId: connection.id).isEmpty)
        }
    }

    @Test("relay objects outside the run's prefix or bucket are refused with 400 naming the field")
    func keysOutsideThePrefixAreRefused() async throws {
        let (moto, reader) = try Self.customerBucket()
        try await DeliveryHarness.serve(setup: .router, relayReader: reader) { harness, client in
            var request = ConnectionRequest(name: "wh", sourceKind: "sqlite", sourceURL: "sqlite:/data/wh.db")
            request.delivery = Self.relaySettings(moto)
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: harness.tenantA.admin, json: request
            ).decode(ConnectionResponse.self)
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            let prefix = "outpost/\(connection.id)/\(assignment.runId)/"
            let sha = String(repeating: "b", count: 64)
            func objects(_ keys: [String]) -> [CompleteRequest.RelayObjects.Object] {
                keys.map { .init(key: $0, bytes: 10, sha256: sha) }
            }
            let manifestKey = prefix + "manifest.json"
            let cases: [(CompleteRequest.RelayObjects?, String)] = [
                (nil, "relay"),
                (
                    .init(bucket: "other-bucket", manifestKey: manifestKey, objects: objects([manifestKey])),
                    "relay.bucket"
                ),
                (
                    .init(
                        bucket: Self.bucket, manifestKey: manifestKey,
                        objects: objects([manifestKey, "outpost/\(connection.id)/other-run/records-00001.jsonl.gz"])),
                    "relay.objects[1].key"
                ),
                (
                    .init(
                        bucket: Self.bucket, manifestKey: manifestKey,
                        objects: objects([manifestKey, prefix + "../../escape.jsonl.gz"])),
                    "relay.objects[1].key"
                ),
                (
                    .init(
                        bucket: Self.bucket, manifestKey: "outpost/manifest.json",
                        objects: objects(["outpost/manifest.json"])),
                    "relay.manifestKey"
                ),
                (
                    .init(
                        bucket: Self.bucket, manifestKey: manifestKey, objects: objects([prefix + "records.jsonl.gz"])),
                    "relay.manifestKey"
                ),
                (
                    .init(bucket: Self.bucket, manifestKey: manifestKey, objects: objects([manifestKey, manifestKey])),
                    "relay.objects[1].key"
                ),
            ]
            for (relay, field) in cases {
                let response = try await client.complete(harness, assignment, relay: relay)
                #expect(response.status == .badRequest, "\(field): \(response.text)")
                #expect(response.problem?.field == field)
            }
            let run = try #require(
                try await harness.store.run(tenantId: harness.tenantA.tenant.id, id: assignment.runId))
            #expect(run.status == .running)
            // A failed run reports no objects and needs none.
            #expect(try await client.complete(harness, assignment, status: .failed, error: "source down").status == .ok)
        }
    }
}
