import Connectors
import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Metadata
import NIOCore
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

/// The OpenAPI document in `openapi/outpost-v1.yaml`: compiled into the server unchanged, valid OpenAPI 3.1, and
/// describing what the server really answers.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static var documentPath: String { BuildProducts.repositoryRoot + "/openapi/outpost-v1.yaml" }
    static var installHint: String { "install the test tools: python3 -m pip install -r Tests/tools/requirements.txt" }

    @Test func theServedCopyIsTheRepositoryFileByteForByte() throws {
        let file = Array(try Data(contentsOf: URL(fileURLWithPath: Self.documentPath)))
        let compiled = Array(OpenAPIDocument.yaml.utf8)
        guard file != compiled else { return }
        let offset = zip(file, compiled).prefix { $0 == $1 }.count
        let line = file.prefix(offset).filter { $0 == UInt8(ascii: "\n") }.count + 1
        Issue.record(
            """
            OpenAPIDocument.yaml differs from openapi/outpost-v1.yaml from byte \(offset) (line \(line)) on \
            (\(compiled.count) vs \(file.count) bytes): run `bash openapi/sync.sh` after editing the YAML
            """)
    }

    @Test func theDocumentIsValidOpenAPI31() throws {
        let validator = try #require(
            ChildProcess.which("openapi-spec-validator"), "openapi-spec-validator is not on PATH; \(Self.installHint)")
        let result = try ChildProcess.run(validator, [Self.documentPath])
        #expect(
            result.status == 0,
            "openapi-spec-validator rejects the document:\n\(result.standardOutput)\(result.standardError)")
    }

    /// Every documented operation is called on a live server at least once with a success and once with an error;
    /// every answer (status, content type, body, required headers) and every accepted request is checked against the
    /// document by `Tests/tools/check_openapi_responses.py`.
    @Test func everyOperationAnswersAsTheDocumentSays() async throws {
        let log = ExchangeLog()
        let fixture = try await ControlPlaneFixture.make { $0.failedAuthenticationLimit = 4 }
        try await fixture.application().test(.live) { client in
            try await Self.exercise(APIRecorder(client: client, log: log), fixture)
        }

        if let keep = ProcessInfo.processInfo.environment["OUTPOST_OPENAPI_EXCHANGES"] {
            // For debugging the document or the checker: the exchanges as the checker reads them.
            try Data(log.jsonLines.utf8).write(to: URL(fileURLWithPath: keep))
        }
        let python = try #require(ChildProcess.which("python3"), "python3 is not on PATH; \(Self.installHint)")
        let checker = BuildProducts.repositoryRoot + "/Tests/tools/check_openapi_responses.py"
        let result = try ChildProcess.run(
            python, [checker, Self.documentPath, "--require-coverage"], input: log.jsonLines)
        #expect(
            result.status == 0,
            "the server's answers do not match openapi/outpost-v1.yaml:\n\(result.standardOutput)\(result.standardError)"
        )
        #expect(result.standardOutput.contains("every operation covered"), "\(result.standardOutput)")
    }

    // MARK: The scenario

    static func exercise(_ api: APIRecorder, _ fixture: ControlPlaneFixture) async throws {
        let admin = fixture.tenantA.admin
        let agent = fixture.tenantA.agent

        // The service routes.
        let document = try await api.call(.get, "/openapi.yaml", expect: .ok)
        #expect(document.headers[.contentType] == "application/yaml")
        #expect(document.text == OpenAPIDocument.yaml)
        try await api.call(.get, "/healthz", expect: .ok)

        // Keys.
        let created = try await api.call(
            .post, "/v1/admin/keys", key: admin,
            json: KeyCreateRequest(name: "ci", role: .agent, expiresAt: "2030-01-01T00:00:00Z"), expect: .created
        ).decode(KeyCreatedResponse.self)
        try await api.call(
            .post, "/v1/admin/keys", key: admin, text: #"{"name":"ci","role":"agent","scope":"all"}"#,
            expect: .badRequest)
        try await api.call(.delete, "/v1/admin/keys/\(created.apiKey.id)", key: admin, expect: .noContent)
        try await api.call(.delete, "/v1/admin/keys/key_missing", key: admin, expect: .notFound)
        try await api.call(.get, "/v1/admin/keys", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/keys", key: agent, expect: .forbidden)

        // Connections: one to run, one with every optional setting to replace and delete.
        let shop = try await api.call(
            .post, "/v1/admin/connections", key: admin,
            json: ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: "sqlite:/data/shop.db"),
            expect: .created
        ).decode(ConnectionResponse.self)
        try await api.call(
            .post, "/v1/admin/connections", key: admin,
            json: ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: "sqlite:/data/other.db"),
            expect: .conflict)
        try await api.call(
            .post, "/v1/admin/connections", key: admin,
            json: ConnectionRequest(
                name: "leaky", sourceKind: "postgresql", sourceURL: "postgres://reader:hunter2@db:5432/sales"),
            expect: .badRequest)
        let warehouse = try await api.call(
            .post, "/v1/admin/connections", key: admin, json: Self.fullConnection(name: "warehouse"),
            expect: .created
        ).decode(ConnectionResponse.self)
        try await api.call(
            .put, "/v1/admin/connections/\(warehouse.id)", key: admin,
            json: ConnectionRequest(
                name: "warehouse", sourceKind: "postgresql", sourceURL: "postgres://reader@db.internal:5432/dw",
                pool: "etl"),
            expect: .ok)
        try await api.call(
            .put, "/v1/admin/connections/con_missing", key: admin, json: Self.fullConnection(name: "missing"),
            expect: .notFound)
        try await api.call(.get, "/v1/admin/connections", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/connections", key: nil, expect: .unauthorized)
        try await api.call(.get, "/v1/admin/connections/\(shop.id)", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/connections/con_missing", key: admin, expect: .notFound)
        try await api.call(.delete, "/v1/admin/connections/\(warehouse.id)", key: admin, expect: .noContent)
        try await api.call(.delete, "/v1/admin/connections/\(warehouse.id)", key: admin, expect: .notFound)

        // The agent reports in; nothing is queued yet; an outdated agent is refused work.
        try await api.call(.post, AgentProtocol.Path.heartbeat, key: agent, json: Self.heartbeat(), expect: .ok)
        var negative = Self.heartbeat()
        negative.freeSlots = -1
        try await api.call(.post, AgentProtocol.Path.heartbeat, key: agent, json: negative, expect: .badRequest)
        try await api.call(.post, AgentProtocol.Path.claim, key: agent, json: claimRequest(), expect: .noContent)
        var outdated = claimRequest(agentId: "agent-old")
        outdated.version = "0.0.1"
        try await api.call(.post, AgentProtocol.Path.claim, key: agent, json: outdated, expect: .forbidden)
        try await api.call(
            .post, AgentProtocol.Path.claim, key: agent,
            bytes: Array(repeating: UInt8(ascii: " "), count: AgentProtocol.maximumBodyBytes + 1),
            expect: .contentTooLarge)

        // Run now, claim, start, renew.
        let queued = try await api.call(.post, "/v1/admin/connections/\(shop.id)/runs", key: admin, expect: .created)
            .decode(RunResponse.self)
        try await api.call(.post, "/v1/admin/connections/con_missing/runs", key: admin, expect: .notFound)
        try await api.call(.delete, "/v1/admin/connections/\(shop.id)", key: admin, expect: .conflict)
        let run = try await api.call(.post, AgentProtocol.Path.claim, key: agent, json: claimRequest(), expect: .ok)
            .decode(ClaimResponse.self).run
        #expect(run.runId == queued.id)
        try await api.call(
            .post, AgentProtocol.Path.start(run: run.runId), key: agent,
            json: StartRequest(leaseId: run.leaseId + 1, agentId: "agent-1"), expect: .conflict)
        try await api.call(
            .post, AgentProtocol.Path.start(run: run.runId), key: agent,
            json: StartRequest(leaseId: run.leaseId, agentId: "agent-1"), expect: .ok)
        try await api.call(
            .post, AgentProtocol.Path.lease(run: run.runId), key: agent,
            json: LeaseRenewalRequest(leaseId: run.leaseId),
            expect: .ok)
        try await api.call(
            .post, AgentProtocol.Path.lease(run: "run_missing"), key: agent,
            json: LeaseRenewalRequest(leaseId: run.leaseId), expect: .notFound)

        try await Self.shipLogs(api, run: run, key: agent)
        try await Self.deliver(api, run: run, key: agent, fixture: fixture)

        // The admin's view of the finished run, with what its publish changed (the sample's assets, all new).
        let finished = try await api.call(.get, "/v1/admin/runs/\(run.runId)", key: admin, expect: .ok)
            .decode(RunResponse.self)
        #expect(finished.catalogChanges.map { $0.created > 0 && $0.updated == 0 && $0.deleted == 0 } == true)
        try await api.call(.get, "/v1/admin/runs/run_missing", key: admin, expect: .notFound)
        try await api.call(.get, "/v1/admin/runs?connectionId=\(shop.id)&limit=10", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/runs?limit=0", key: admin, expect: .badRequest)
        try await api.call(.get, "/v1/admin/runs/\(run.runId)/logs?from=0&limit=100", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/runs/\(run.runId)/logs?from=-1", key: admin, expect: .badRequest)
        try await api.call(
            .post, "/v1/admin/runs/\(run.runId)/cancel", key: admin, json: CancelRequest(), expect: .conflict)

        try await Self.cancelRunningRun(api, connectionId: shop.id, admin: admin, agent: agent)
        try await Self.browseCatalog(api, connectionId: shop.id, key: admin)

        // Agents: list, drain (delivered on the next heartbeat).
        try await api.call(.get, "/v1/admin/agents", key: admin, expect: .ok)
        try await api.call(.get, "/v1/admin/agents", key: agent, expect: .forbidden)
        try await api.call(.post, "/v1/admin/agents/agent-1/drain", key: admin, expect: .noContent)
        try await api.call(.post, "/v1/admin/agents/agent-missing/drain", key: admin, expect: .notFound)
        let drained = try await api.call(
            .post, AgentProtocol.Path.heartbeat, key: agent, json: Self.heartbeat(), expect: .ok)
        #expect(try drained.decode(HeartbeatResponse.self).drain)

        // Last, as it locks this client address out: failed authentications until the server answers 429.
        for attempt in 1...fixture.configuration.failedAuthenticationLimit {
            let response = try await api.call(.get, "/v1/admin/agents", key: "opk_not-a-key", expect: nil)
            if response.status == .tooManyRequests { break }
            #expect(response.status == .unauthorized)
            #expect(attempt < fixture.configuration.failedAuthenticationLimit, "no 429 after \(attempt) failures")
        }
        let limited = try await api.call(
            .get, "/v1/admin/agents", key: "opk_not-a-key", expect: .tooManyRequests)
        #expect(limited.headers[.retryAfter] != nil)
        // A valid key is never refused for its address.
        try await api.call(.get, "/v1/admin/agents", key: admin, expect: .ok)
    }

    /// Log chunks: gzip, a re-sent chunk, and the refusals.
    static func shipLogs(_ api: APIRecorder, run: RunAssignment, key: String) async throws {
        let path = AgentProtocol.Path.logs(run: run.runId)
        var headers: HTTPFields = [.contentType: "application/octet-stream", .contentEncoding: "gzip"]
        headers[HTTPField.Name(AgentProtocol.leaseHeader)!] = String(run.leaseId)
        let first = Array("extracting schema main\n".utf8)
        try await api.call(.put, "\(path)?offset=0", key: key, bytes: try Gzip.compress(first), headers: headers)
        var plain: HTTPFields = [.contentType: "text/plain"]
        plain[HTTPField.Name(AgentProtocol.leaseHeader)!] = String(run.leaseId)
        let second = try await api.call(
            .put, "\(path)?offset=\(first.count)", key: key, bytes: Array("done: 3 tables\n".utf8), headers: plain)
        let next = try second.decode(LogChunkResponse.self).nextOffset
        // Re-sending a stored chunk is idempotent.
        try await api.call(.put, "\(path)?offset=0", key: key, bytes: try Gzip.compress(first), headers: headers)
        let mismatch = try await api.call(
            .put, "\(path)?offset=\(next + 100)", key: key, bytes: Array("late\n".utf8), headers: plain,
            expect: .conflict)
        #expect(mismatch.problem?.expectedOffset == next)
        try await api.call(
            .put, "\(path)?offset=\(next)", key: key, bytes: Array("x\n".utf8),
            headers: [.contentType: "text/plain"], expect: .badRequest)
    }

    /// A real extraction of a small SQLite database, uploaded to its grants and completed; waits for ingestion.
    static func deliver(
        _ api: APIRecorder, run: RunAssignment, key: String, fixture: ControlPlaneFixture
    ) async throws {
        let database = fixture.directory.path + "/shop.db"
        try SQLiteFile.create(
            at: database,
            script: """
                CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
                CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), total REAL);
                CREATE INDEX orders_by_customer ON orders (customer_id);
                CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
                """)
        let folderPath = fixture.directory.path + "/extraction"
        try FileManager.default.createDirectory(atPath: folderPath, withIntermediateDirectories: true)
        let folder = ExtractionFolder(path: folderPath)
        _ = try await Extraction(
            connector: SQLiteConnector(path: database), scope: ExtractionScope(connection: "shop"), folder: folder
        ).run(
            progress: ExtractionProgress(),
            logger: Logger(label: "outpost.test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let files = try DeliveredFile.all(in: folder)

        let uploads = AgentProtocol.Path.uploads(run: run.runId)
        var broken = files[0].uploadRequest
        broken.sha256 = "not-a-checksum"
        try await api.call(
            .post, uploads, key: key, json: UploadGrantRequest(leaseId: run.leaseId, files: [broken]),
            expect: .badRequest)
        let grants = try await api.call(
            .post, uploads, key: key, json: UploadGrantRequest(leaseId: run.leaseId, files: files.map(\.uploadRequest)),
            expect: .ok
        ).decode(UploadGrantResponse.self).grants
        for (file, grant) in zip(files, grants) {
            let target = try #require(URLComponents(string: grant.url))
            var headers: HTTPFields = [.contentType: "application/octet-stream"]
            for (name, value) in grant.headers where name.lowercased() != "content-length" {
                headers[HTTPField.Name(name)!] = value
            }
            let uri = target.percentEncodedPath + "?" + (target.percentEncodedQuery ?? "")
            if file.path == files[0].path {
                try await api.call(
                    .put, uri.replacingOccurrences(of: "signature=", with: "signature=0"), key: nil, bytes: file.bytes,
                    headers: headers, expect: .forbidden)
            }
            try await api.call(.put, uri, key: nil, bytes: file.bytes, headers: headers, expect: .ok)
        }

        let complete = AgentProtocol.Path.complete(run: run.runId)
        let totals = CompleteRequest.LogTotals(bytes: 38, sha256: String(repeating: "a", count: 64), droppedBytes: 0)
        let relay = CompleteRequest.RelayObjects(bucket: "b", manifestKey: "k/manifest.json", objects: [])
        try await api.call(
            .post, complete, key: key,
            json: CompleteRequest(leaseId: run.leaseId, status: .succeeded, relay: relay, logs: totals),
            expect: .badRequest)
        let completed = try await api.call(
            .post, complete, key: key, json: CompleteRequest(leaseId: run.leaseId, status: .succeeded, logs: totals),
            expect: .ok)
        #expect(try completed.decode(CompleteResponse.self).ingestion == "queued")

        let deadline = ContinuousClock.now.advanced(by: .seconds(15))
        while true {
            let current = try await api.call(.get, "/v1/admin/runs/\(run.runId)", key: fixture.tenantA.admin)
                .decode(RunResponse.self)
            if current.status.isFinished {
                let error = current.error ?? "no error"
                #expect(current.status == .succeeded, "ingestion ended \(current.status.rawValue): \(error)")
                return
            }
            guard ContinuousClock.now < deadline else { throw FixtureError("ingestion did not finish in 15 s") }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// A second run, cancelled while running: the renewal carries the cancellation, the agent completes as cancelled.
    static func cancelRunningRun(_ api: APIRecorder, connectionId: String, admin: String, agent: String) async throws {
        try await api.call(.post, "/v1/admin/connections/\(connectionId)/runs", key: admin, expect: .created)
        let run = try await api.call(.post, AgentProtocol.Path.claim, key: agent, json: claimRequest(), expect: .ok)
            .decode(ClaimResponse.self).run
        try await api.call(
            .post, AgentProtocol.Path.start(run: run.runId), key: agent,
            json: StartRequest(leaseId: run.leaseId, agentId: "agent-1"), expect: .ok)
        try await api.call(
            .post, "/v1/admin/runs/\(run.runId)/cancel", key: admin, text: #"{"reason":"x","force":true}"#,
            expect: .badRequest)
        try await api.call(
            .post, "/v1/admin/runs/\(run.runId)/cancel", key: admin, json: CancelRequest(reason: "maintenance"),
            expect: .ok)
        let renewal = try await api.call(
            .post, AgentProtocol.Path.lease(run: run.runId), key: agent,
            json: LeaseRenewalRequest(leaseId: run.leaseId),
            expect: .ok
        ).decode(LeaseResponse.self)
        #expect(renewal.cancel && renewal.cancelReason == "maintenance")
        let cancelled = try await api.call(
            .post, AgentProtocol.Path.complete(run: run.runId), key: agent,
            json: CompleteRequest(
                leaseId: run.leaseId, status: .cancelled, error: "cancelled: maintenance",
                logs: .init(bytes: 0, sha256: String(repeating: "0", count: 64), droppedBytes: 0)),
            expect: .ok)
        #expect(try cancelled.decode(CompleteResponse.self).ingestion == "none")
        try await api.call(
            .post, AgentProtocol.Path.complete(run: "run_missing"), key: agent,
            json: completeRequest(leaseId: run.leaseId), expect: .notFound)
        try await api.call(.get, "/v1/admin/runs/\(run.runId)", key: admin, expect: .ok)
    }

    /// Search and the three shapes of an asset: a relation with its parts, a schema with children, a column.
    static func browseCatalog(_ api: APIRecorder, connectionId: String, key: String) async throws {
        let found = try await api.call(.get, "/v1/admin/catalog/search?q=ORDERS", key: key, expect: .ok)
            .decode(CatalogSearchResponse.self).assets
        #expect(found.contains { $0.qualifiedName == "shop/shop/main/orders" })
        try await api.call(
            .get, "/v1/admin/catalog/search?kind=table&connectionId=\(connectionId)&limit=5", key: key, expect: .ok)
        try await api.call(.get, "/v1/admin/catalog/search?kind=bogus", key: key, expect: .badRequest)
        let assets = "/v1/admin/catalog/assets?connectionId=\(connectionId)"
        let orders = try await api.call(
            .get, "\(assets)&kind=table&qualifiedName=shop%2Fshop%2Fmain%2Forders", key: key, expect: .ok
        ).decode(CatalogAssetResponse.self)
        #expect(orders.columns?.isEmpty == false)
        try await api.call(.get, "\(assets)&kind=view&qualifiedName=shop%2Fshop%2Fmain%2Fbig_orders", key: key)
        try await api.call(.get, "\(assets)&kind=schema&qualifiedName=shop%2Fshop%2Fmain", key: key)
        try await api.call(.get, "\(assets)&kind=database&qualifiedName=shop%2Fshop", key: key)
        try await api.call(.get, "\(assets)&kind=table", key: key, expect: .badRequest)
        try await api.call(
            .get, "\(assets)&kind=table&qualifiedName=shop%2Fshop%2Fmain%2Fnothing", key: key, expect: .notFound)
        let lineage = "/v1/admin/catalog/lineage?connectionId=\(connectionId)"
        let used = try await api.call(
            .get, "\(lineage)&kind=table&qualifiedName=shop%2Fshop%2Fmain%2Forders", key: key, expect: .ok
        ).decode(CatalogLineageResponse.self)
        // The sample's view big_orders reads orders.
        #expect(used.above.map(\.name) == ["big_orders"])
        #expect(used.below.isEmpty)
        try await api.call(.get, "\(lineage)&kind=table", key: key, expect: .badRequest)
        try await api.call(
            .get, "\(lineage)&kind=table&qualifiedName=shop%2Fshop%2Fmain%2Fnothing", key: key, expect: .notFound)
    }

    static func heartbeat() -> HeartbeatRequest {
        var request = HeartbeatRequest(
            agentId: "agent-1", agentName: "agent one", version: "0.1.0", state: .busy,
            runningLeases: [.init(runId: "run_1", leaseId: 1)], freeSlots: 1)
        request.cpuPercent = 12.5
        request.memoryBytes = 512 * 1024 * 1024
        request.diskFreeBytes = 10 * 1024 * 1024 * 1024
        request.spoolBacklogBytes = 0
        request.lastError = "connection refused"
        return request
    }

    /// A connection request with every optional setting.
    static func fullConnection(name: String) -> ConnectionRequest {
        ConnectionRequest(
            name: name, sourceKind: "postgresql", sourceURL: "postgres://reader@db.internal:5432/dw?sslmode=require",
            secrets: ["password": "aws-sm:prod/dw#password"],
            filters: ConnectionFilters(
                includeDatabases: ["dw"], excludeDatabases: ["template*"], includeSchemas: ["sales_*"],
                excludeSchemas: ["re:^tmp_"], includeTables: ["*"], excludeTables: ["audit_*"],
                excludeKinds: ["function"], excludeFields: ["comment"]),
            delivery: DeliverySettings(
                mode: .relay,
                relay: RelaySettings(
                    bucket: "acme-metadata", prefix: "outpost/", region: "eu-west-1",
                    endpoint: "https://s3.eu-west-1.amazonaws.com", serverSideEncryption: "aws:kms",
                    kmsKeyId: "alias/outpost")),
            pool: "etl", schedule: "0 3 * * 1-5")
    }
}

/// Sends requests through the test client and keeps every exchange for the checker.
struct APIRecorder {
    let client: any TestClientProtocol
    let log: ExchangeLog

    /// Sends a request and records it with its answer; `expect` (when not nil) is the status the scenario needs.
    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = nil, bytes: [UInt8]? = nil,
        headers: HTTPFields = [:], expect status: HTTPResponse.Status? = .ok,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        var fields = headers
        if let key { fields[.authorization] = "Bearer \(key)" }
        if bytes != nil && fields[.contentType] == nil { fields[.contentType] = "application/json" }
        if uri.hasPrefix("/v1/runs/") { fields[HTTPField.Name(AgentProtocol.agentHeader)!] = "agent-1" }
        let response = try await client.executeRequest(
            uri: uri, method: method, headers: fields, body: bytes.map { ByteBuffer(bytes: $0) })
        log.record(method: method, uri: uri, requestHeaders: fields, requestBody: bytes ?? [], response: response)
        if let status {
            #expect(
                response.status == status, "\(method) \(uri) answered \(response.status): \(response.text)",
                sourceLocation: sourceLocation)
        }
        return response
    }

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, json value: some Encodable,
        expect status: HTTPResponse.Status? = .ok, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        try await call(
            method, uri, key: key, bytes: Array(try JSONEncoder().encode(value)), expect: status,
            sourceLocation: sourceLocation)
    }

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, text: String,
        expect status: HTTPResponse.Status? = .ok, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        try await call(method, uri, key: key, bytes: Array(text.utf8), expect: status, sourceLocation: sourceLocation)
    }
}

/// The exchanges of one test as JSON Lines, in the form `check_openapi_responses.py` reads.
final class ExchangeLog: Sendable {
    struct Exchange: Encodable {
        var method: String
        var path: String
        var query: String
        var status: Int
        var headers: [String: String]
        var body: String
        var requestHeaders: [String: String]
        var requestBody: String
    }

    private let exchanges = Mutex<[Exchange]>([])

    func record(
        method: HTTPRequest.Method, uri: String, requestHeaders: HTTPFields, requestBody: [UInt8],
        response: TestResponse
    ) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let exchange = Exchange(
            method: method.rawValue, path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "",
            status: response.status.code, headers: Self.dictionary(response.headers), body: response.text,
            requestHeaders: Self.dictionary(requestHeaders),
            requestBody: String(decoding: requestBody, as: UTF8.self))
        exchanges.withLock { $0.append(exchange) }
    }

    var jsonLines: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return exchanges.withLock { list in
            list.map { String(decoding: (try? encoder.encode($0)) ?? Data(), as: UTF8.self) + "\n" }.joined()
        }
    }

    private static func dictionary(_ fields: HTTPFields) -> [String: String] {
        var result: [String: String] = [:]
        for field in fields {
            let name = field.name.canonicalName
            result[name] = result[name].map { $0 + ", " + field.value } ?? field.value
        }
        return result
    }
}
