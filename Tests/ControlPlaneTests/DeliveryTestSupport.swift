// Direct-ingestion deliveries as an agent makes them: an extraction folder written with the project's own library,
// upload grants, PUTs to the granted URLs over a live server, `complete`, and waiting for the ingestion outcome.

import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metadata
import NIOCore
import OutpostProtocol
import OutpostTesting
import Testing

/// A control plane over a real store (SQLite or PostgreSQL) and an encrypted blob folder, with tenants A and B
/// and a hand-driven clock, for one test.
struct DeliveryHarness: Sendable {
    let directory: TemporaryDirectory
    let store: any ControlPlaneStore
    let blobs: any BlobStore
    let clock: ManualClock
    let configuration: ServerConfiguration
    let tenantA: TenantKeys
    let tenantB: TenantKeys

    /// Builds the harness on `backend` and runs `body` against the application served as `setup` (live by
    /// default, so upload URLs are real URLs of a listening server). `blobs` replaces the encrypted blob folder
    /// (given the temporary directory); `relayReader` gives the server read access to relay buckets.
    static func serve(
        backend: StorageBackend = .sqlite, setup: TestingSetup = .live,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        blobs makeBlobs: ((String) throws -> any BlobStore)? = nil, relayReader: RelayReader? = nil,
        _ body: @Sendable (DeliveryHarness, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await backend.withStore { store in
            let directory = try TemporaryDirectory()
            let clock = ManualClock()
            let tenantA = try await ControlPlaneFixture.tenant(named: "a", store: store, clock: clock)
            let tenantB = try await ControlPlaneFixture.tenant(named: "b", store: store, clock: clock)
            let blobs: any BlobStore =
                try makeBlobs?(directory.path)
                ?? LocalBlobStore(
                    root: directory.path + "/blobs",
                    key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
            let signer = UploadSigner(
                secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key"))
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configure(&configuration)
            let harness = DeliveryHarness(
                directory: directory, store: store, blobs: blobs, clock: clock, configuration: configuration,
                tenantA: tenantA, tenantB: tenantB)
            var logger = Logger(label: "outpost.test.server")
            logger.logLevel = .error
            let app = buildApplication(
                configuration: configuration, store: store, blobs: blobs, signer: signer, logger: logger,
                clock: clock.wallClock, relayReader: relayReader)
            try await app.test(setup) { client in try await body(harness, client) }
        }
    }

    /// Polls the store until the run has finished (ingestion runs in the background); fails after 20 s.
    func finishedRun(_ runId: String, tenant: TenantKeys? = nil) async throws -> RunRecord {
        let tenantId = (tenant ?? tenantA).tenant.id
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            if let run = try await store.run(tenantId: tenantId, id: runId), run.status.isFinished { return run }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw FixtureError("run \(runId) did not finish within 20 s")
    }

    /// A fresh folder for one extraction.
    func folder(_ name: String) throws -> ExtractionFolder {
        let path = directory.path + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return ExtractionFolder(path: path)
    }
}

/// One file of a delivery as the agent uploads it.
struct DeliveredFile: Sendable {
    var path: String
    var bytes: [UInt8]

    var sha256: String { Hex.encode(SHA256.hash(data: bytes)) }

    var uploadRequest: UploadGrantRequest.File {
        UploadGrantRequest.File(path: path, bytes: Int64(bytes.count), sha256: sha256)
    }

    /// The manifest and every chunk it lists, manifest first.
    static func all(in folder: ExtractionFolder) throws -> [DeliveredFile] {
        let manifest = try folder.readManifest()
        return try ([MetadataFormat.manifestFileName] + manifest.files.map(\.path)).map { name in
            DeliveredFile(
                path: name, bytes: Array(try Data(contentsOf: URL(fileURLWithPath: folder.path + "/" + name))))
        }
    }
}

/// Deliveries written with the project's own chunk writer, for hand-made catalogs and broken deliveries.
enum DeliveryWriter {
    /// Writes `records` as chunks plus a manifest for `connection`; `completeness` decides the manifest status.
    @discardableResult
    static func write(
        _ records: [MetadataRecord], connection: String, completeness: [Manifest.Completeness],
        into folder: ExtractionFolder
    ) throws -> Manifest {
        let writer = ChunkedRecordWriter(directory: folder.path)
        for record in records { try writer.write(record) }
        let chunks = try writer.finish()
        return try writeManifest(
            files: chunks.map {
                Manifest.File(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            },
            counts: Dictionary(uniqueKeysWithValues: writer.counts.map { ($0.key.rawValue, $0.value) }),
            connection: connection, completeness: completeness, into: folder)
    }

    /// Writes a chunk file of the given JSON lines as they are (valid or not) and a manifest listing it.
    static func writeLines(
        _ lines: [String], connection: String, completeness: [Manifest.Completeness], into folder: ExtractionFolder
    ) throws {
        let text = Array(lines.map { $0 + "\n" }.joined().utf8)
        let compressed = try Gzip.compress(text)
        let name = "records-00001.jsonl.gz"
        try Data(compressed).write(to: URL(fileURLWithPath: folder.path + "/" + name))
        try writeManifest(
            files: [
                Manifest.File(
                    path: name, sha256: Hex.encode(SHA256.hash(data: compressed)), bytes: Int64(compressed.count),
                    uncompressedBytes: Int64(text.count), records: lines.count)
            ],
            counts: [:], connection: connection, completeness: completeness, into: folder)
    }

    @discardableResult
    static func writeManifest(
        files: [Manifest.File], counts: [String: Int], connection: String, completeness: [Manifest.Completeness],
        into folder: ExtractionFolder
    ) throws -> Manifest {
        let manifest = Manifest(
            extractionId: UUID().uuidString.lowercased(), connection: connection,
            source: Manifest.Source(kind: "sqlite"), connector: Manifest.Connector(name: "test", version: "1.0.0"),
            startedAt: "2025-01-01T00:00:00.000Z", finishedAt: "2025-01-01T00:00:01.000Z",
            filters: Manifest.Filters(), files: files, counts: counts, completeness: completeness)
        try folder.writeManifest(manifest)
        return manifest
    }
}

/// Hand-made catalog records: `<connection>/<database>/<schema>/<table>`.
enum CatalogRecords {
    static func database(_ connection: String, _ database: String) -> MetadataRecord {
        .database(Database(qualifiedName: QualifiedName([connection, database]), name: database))
    }

    static func schema(_ connection: String, _ database: String, _ schema: String) -> MetadataRecord {
        .schema(
            Schema(
                qualifiedName: QualifiedName([connection, database, schema]), name: schema,
                database: QualifiedName([connection, database])))
    }

    static func table(_ connection: String, _ database: String, _ schema: String, _ table: String) -> MetadataRecord {
        .relation(
            Relation(
                kind: .table, qualifiedName: QualifiedName([connection, database, schema, table]), name: table,
                database: QualifiedName([connection, database]),
                schema: QualifiedName([connection, database, schema])))
    }

    static func completeness(
        _ connection: String, _ database: String, _ schema: String?, complete: Bool = true
    ) -> Manifest.Completeness {
        Manifest.Completeness(
            database: database, schema: schema,
            qualifiedName: QualifiedName([connection, database] + (schema.map { [$0] } ?? [])), complete: complete,
            reason: complete ? nil : "permission denied")
    }
}

extension TestClientProtocol {
    /// Creates a direct-delivery SQLite connection as `tenant`'s admin.
    func createConnection(
        _ harness: DeliveryHarness, name: String, tenant: TenantKeys? = nil
    ) async throws -> ConnectionResponse {
        let request = ConnectionRequest(name: name, sourceKind: "sqlite", sourceURL: "sqlite:/data/\(name).db")
        let response = try await send(
            .post, "/v1/admin/connections", key: (tenant ?? harness.tenantA).admin, json: request)
        guard response.status == .created else { throw FixtureError("connection: \(response.status) \(response.text)") }
        return try response.decode(ConnectionResponse.self)
    }

    /// Queues a run of `connectionId` ("run now"), claims and starts it as `tenant`'s agent.
    func startRun(
        _ harness: DeliveryHarness, connectionId: String, tenant: TenantKeys? = nil
    ) async throws -> RunAssignment {
        let keys = tenant ?? harness.tenantA
        let queued = try await send(.post, "/v1/admin/connections/\(connectionId)/runs", key: keys.admin)
        guard queued.status == .created else { throw FixtureError("run now: \(queued.status) \(queued.text)") }
        let claim = try await send(.post, AgentProtocol.Path.claim, key: keys.agent, json: claimRequest())
        let assignment = try claim.decode(ClaimResponse.self).run
        let start = try await send(
            .post, AgentProtocol.Path.start(run: assignment.runId), key: keys.agent,
            json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-1"))
        guard start.status == .ok else { throw FixtureError("start: \(start.status) \(start.text)") }
        return assignment
    }

    /// Asks for grants; the answer as received.
    func requestGrants(
        _ harness: DeliveryHarness, _ assignment: RunAssignment, files: [UploadGrantRequest.File],
        tenant: TenantKeys? = nil
    ) async throws -> TestResponse {
        try await send(
            .post, AgentProtocol.Path.uploads(run: assignment.runId), key: (tenant ?? harness.tenantA).agent,
            json: UploadGrantRequest(leaseId: assignment.leaseId, files: files))
    }

    /// Starts a run of a new connection `wh` and writes its delivery (one table, `wh/d/s/orders`, both scopes
    /// complete) into a folder: what an agent would upload.
    func startOrdersRun(_ harness: DeliveryHarness) async throws -> (RunAssignment, [DeliveredFile]) {
        let connection = try await createConnection(harness, name: "wh")
        let assignment = try await startRun(harness, connectionId: connection.id)
        typealias R = CatalogRecords
        let folder = try harness.folder("delivery")
        try DeliveryWriter.write(
            [R.database("wh", "d"), R.schema("wh", "d", "s"), R.table("wh", "d", "s", "orders")],
            connection: "wh", completeness: [R.completeness("wh", "d", nil), R.completeness("wh", "d", "s")],
            into: folder)
        return (assignment, try DeliveredFile.all(in: folder))
    }

    /// Grants for `files`, which must be given.
    func grants(
        _ harness: DeliveryHarness, _ assignment: RunAssignment, for files: [DeliveredFile]
    ) async throws -> [UploadGrantResponse.Grant] {
        let response = try await requestGrants(harness, assignment, files: files.map(\.uploadRequest))
        guard response.status == .ok else { throw FixtureError("grants: \(response.status) \(response.text)") }
        return try response.decode(UploadGrantResponse.self).grants
    }

    /// PUTs `bytes` to the grant's URL with its headers, after checking that the URL names this very server; the
    /// test client then sends the URL's path and query as they are.
    func upload(
        _ bytes: [UInt8], to grant: UploadGrantResponse.Grant, headers: [String: String]? = nil,
        url: String? = nil
    ) async throws -> TestResponse {
        let target = url ?? grant.url
        guard let components = URLComponents(string: target), let path = components.percentEncodedPath.nilIfEmpty
        else { throw FixtureError("not a URL: \(target)") }
        if let port {
            #expect(components.scheme == "http")
            #expect(components.host == "127.0.0.1")
            #expect(components.port == port)
        }
        var fields = HTTPFields()
        for (name, value) in headers ?? grant.headers where name.lowercased() != "content-length" {
            fields[HTTPField.Name(name)!] = value
        }
        #expect(grant.method == "PUT")
        let query = components.percentEncodedQuery.map { "?" + $0 } ?? ""
        return try await executeRequest(
            uri: path + query, method: .put, headers: fields, body: ByteBuffer(bytes: bytes))
    }

    /// Grants and uploads every file, expecting each upload to be accepted.
    func uploadAll(_ harness: DeliveryHarness, _ assignment: RunAssignment, _ files: [DeliveredFile]) async throws {
        let grants = try await grants(harness, assignment, for: files)
        #expect(grants.map(\.path) == files.map(\.path))
        for (file, grant) in zip(files, grants) {
            let response = try await upload(file.bytes, to: grant)
            guard response.status == .ok else {
                throw FixtureError("upload \(file.path): \(response.status) \(response.text)")
            }
        }
    }

    /// Completes the run; the answer as received.
    func complete(
        _ harness: DeliveryHarness, _ assignment: RunAssignment, status: CompleteRequest.Status = .succeeded,
        error: String? = nil, relay: CompleteRequest.RelayObjects? = nil
    ) async throws -> TestResponse {
        try await send(
            .post, AgentProtocol.Path.complete(run: assignment.runId), key: harness.tenantA.agent,
            json: CompleteRequest(
                leaseId: assignment.leaseId, status: status, error: error, relay: relay,
                logs: .init(bytes: 42, sha256: String(repeating: "a", count: 64), droppedBytes: 7)))
    }

    /// Delivers `folder` as the run's delivery, completes it and waits for the ingestion's outcome.
    func deliver(
        _ harness: DeliveryHarness, _ assignment: RunAssignment, folder: ExtractionFolder
    ) async throws -> RunRecord {
        try await uploadAll(harness, assignment, try DeliveredFile.all(in: folder))
        let response = try await complete(harness, assignment)
        #expect(response.status == .ok)
        #expect(try response.decode(CompleteResponse.self) == CompleteResponse(ingestion: "queued"))
        return try await harness.finishedRun(assignment.runId)
    }

    /// `GET /v1/admin/catalog/search` as `tenant`'s admin.
    func search(
        _ harness: DeliveryHarness, _ query: String, tenant: TenantKeys? = nil
    ) async throws -> [CatalogAssetSummary] {
        let response = try await send(
            .get, "/v1/admin/catalog/search?\(query)", key: (tenant ?? harness.tenantA).admin)
        guard response.status == .ok else { throw FixtureError("search: \(response.status) \(response.text)") }
        return try response.decode(CatalogSearchResponse.self).assets
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// SQLite database files built by python3's sqlite3 module, the way the connector tests build theirs.
enum SQLiteFile {
    static func create(at path: String, script: String) throws {
        let result = try ChildProcess.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.close()",
                path,
            ],
            input: script)
        guard result.status == 0 else {
            throw FixtureError("python3 could not build the test database: \(result.standardError)")
        }
    }
}
