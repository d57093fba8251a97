// The real control plane in-process (SQLite store, encrypted blob folder, live HTTP on a loopback port that
// survives restarts), an admin client for it, and agents configured against it — for the agent's tests.

import Agent
import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import Secrets
import ServiceLifecycle
import Synchronization
import Testing

/// A control plane served on a fixed loopback port, which a test can stop and start again on the same data.
final class TestControlPlane: @unchecked Sendable {
    // `server` is only touched by start()/stop(), which tests call sequentially.
    let directory: TemporaryDirectory
    let store: SQLiteControlPlaneStore
    let blobs: LocalBlobStore
    let signer: UploadSigner
    let tenant: Tenant
    let adminKey: String
    let agentKey: String
    let port: Int
    var configuration: ServerConfiguration
    /// The server's read access to relay buckets, if the test uses bucket relay.
    var relayReader: RelayReader?
    /// The client of the admin API: the shared one, or one trusting the test CA when the listener has TLS.
    var adminClient: HTTPClient = .shared
    private var server: Task<Void, any Error>?

    var url: String { "\(configuration.tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        directory = try TemporaryDirectory()
        store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        blobs = try LocalBlobStore(
            root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
        signer = UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key"))
        let now = WallClock.system.now
        tenant = Tenant(id: Identifier.make("ten"), name: "acme", createdAt: now)
        try await store.createTenant(tenant)
        let admin = APIKey.mint(tenantId: tenant.id, name: "admin", role: .admin, expiresAt: nil, now: now)
        let agent = APIKey.mint(tenantId: tenant.id, name: "agent", role: .agent, expiresAt: nil, now: now)
        try await store.createKey(admin.key)
        try await store.createKey(agent.key)
        adminKey = admin.text
        agentKey = agent.text
        port = try FreePort.find()
        configuration = ServerConfiguration(host: "127.0.0.1", port: port)
        configuration.leaseTTLSeconds = 20
        configuration.leaseGraceSeconds = 2
        configuration.leaseExpiryInterval = .milliseconds(250)
        configuration.claimRecheckInterval = .milliseconds(100)
        configure(&configuration)
    }

    /// Mints another agent key of the tenant.
    func mintAgentKey(expiresAt: Timestamp? = nil) async throws -> MintedAPIKey {
        let minted = APIKey.mint(
            tenantId: tenant.id, name: "agent-extra", role: .agent, expiresAt: expiresAt, now: WallClock.system.now)
        try await store.createKey(minted.key)
        return minted
    }

    func start() async throws {
        var logger = Logger(label: "outpost.test.server")
        // Stopping the server mid-test logs cancelled connections at error level; they are expected here.
        logger.logLevel = .critical
        let application = buildApplication(
            configuration: configuration, store: store, blobs: blobs, signer: signer, logger: logger,
            relayReader: relayReader)
        server = Task { try await application.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while !FreePort.isListening(port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the control plane did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        server?.cancel()
        _ = try? await server?.value
        server = nil
        let deadline = ContinuousClock.now + .seconds(10)
        while FreePort.isListening(port) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Admin API

    func admin<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)? = nil as String?, as type: Response.Type
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(adminKey)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(Array(try JSONEncoder().encode(body)))
        }
        let response = try await adminClient.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw TestFailure("\(method) \(path) answered \(response.status.code): \(String(buffer: bytes))")
        }
        return try JSONDecoder().decode(type, from: Data(bytes.readableBytesView))
    }

    func createConnection(_ request: ConnectionRequest) async throws -> ConnectionResponse {
        try await admin(.POST, "/v1/admin/connections", body: request, as: ConnectionResponse.self)
    }

    func runNow(_ connectionId: String) async throws -> RunResponse {
        try await admin(.POST, "/v1/admin/connections/\(connectionId)/runs", as: RunResponse.self)
    }

    func run(_ runId: String) async throws -> RunResponse {
        try await admin(.GET, "/v1/admin/runs/\(runId)", as: RunResponse.self)
    }

    func cancel(_ runId: String) async throws {
        _ = try await admin(.POST, "/v1/admin/runs/\(runId)/cancel", as: RunResponse.self)
    }

    /// The whole stored log of a run.
    func log(_ runId: String) async throws -> String {
        var text = ""
        var from: Int64 = 0
        while true {
            let page = try await admin(
                .GET, "/v1/admin/runs/\(runId)/logs?from=\(from)&limit=1000000", as: RunLogResponse.self)
            text += page.text
            if page.nextOffset >= page.totalBytes { return text }
            from = page.nextOffset
        }
    }

    /// Creates a PostgreSQL connection whose password is the secret `reference`, runs it once with an agent of
    /// `setup` (without PGPASSWORD, so the secret is the only password) and returns the finished run and its log.
    func runPostgres(
        named name: String, url: String, password reference: String, setup: AgentSetup
    ) async throws -> (run: RunResponse, log: String) {
        let connection = try await createConnection(
            ConnectionRequest(
                name: name, sourceKind: "postgresql", sourceURL: url, secrets: ["password": reference]))
        let run = try await runNow(connection.id)
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = nil
        let finished = Mutex<RunResponse?>(nil)
        try await withAgent(setup, environment: environment) { _ in
            let run = try await self.finished(run.id)
            finished.withLock { $0 = run }
        }
        return (try #require(finished.withLock { $0 }), try await log(run.id))
    }

    /// Waits until the run has finished (ingestion included).
    func finished(_ runId: String, within limit: Duration = .seconds(60)) async throws -> RunResponse {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let run = try await run(runId)
            if run.status.isFinished { return run }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("run \(runId) did not finish within \(limit)")
    }

    /// Waits until `condition` holds for the run.
    func waitFor(
        _ runId: String, within limit: Duration = .seconds(30), _ condition: (RunResponse) -> Bool
    ) async throws -> RunResponse {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let run = try await run(runId)
            if condition(run) { return run }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("run \(runId) did not reach the expected state within \(limit)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An agent's data dir, key file and configuration for one test.
struct AgentSetup {
    let directory: TemporaryDirectory
    let keyFile: String
    var yaml: String

    /// - Parameter concurrency: the agent's slots; the configuration's default when nil.
    /// - Parameter unverifiedSources: sources reached without a proven server (the test PostgreSQL has no TLS).
    init(
        controlPlane: TestControlPlane, concurrency: Int? = nil, extraPolicy: String = "", extra: String = "",
        unverifiedSources: [String] = ["postgres://127.0.0.1:*/*"]
    ) throws {
        directory = try TemporaryDirectory()
        keyFile = directory.path + "/api-key"
        try Data(controlPlane.agentKey.utf8).write(to: URL(fileURLWithPath: keyFile))
        yaml = """
            controlPlane:
              url: \(controlPlane.url)
              apiKey: file:\(keyFile)
              keyRetryInterval: 200ms
            agent:
              name: test-agent
              \(concurrency.map { "concurrency: \($0)" } ?? "")
              dataDir: \(directory.path)/data
              heartbeatInterval: 1s
              drainTimeout: 20s
              fenceMargin: 2s
            policy:
              allowedSources:
                - "sqlite:\(BuildProducts.repositoryRoot)/Samples/*"
                - "sqlite:/tmp/**"
                - "postgres://127.0.0.1:*/*"
                - "snowflake://*@MYORG-*"
            \(extraPolicy)
              allowedSecrets: ["env:*", "file:/tmp/**", "command:*", "aws-sm:**", "k8s:**", "vault:**", "gcp-sm:**", "azure-kv:**"]
              unverifiedSources: [\(unverifiedSources.map { "\"\($0)\"" }.joined(separator: ", "))]
            jobs:
              executable: \(BuildProducts.outpost)
              killGrace: 2s
            \(extra)
            """
    }

    var dataDirectory: String { directory.path + "/data" }

    func configuration(environment: [String: String] = [:]) throws -> AgentConfiguration {
        try AgentConfiguration.parse(yaml, file: "agent.yaml", environment: environment)
    }

    func rotateKey(_ key: String) throws {
        try Data(key.utf8).write(to: URL(fileURLWithPath: keyFile))
    }
}

/// A logger for agents under test: notices and above to stderr, so failures explain themselves.
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .notice
    return logger
}

/// Runs an in-process agent for the duration of `body`, then drains it.
func withAgent(
    _ setup: AgentSetup, environment: [String: String] = ProcessInfo.processInfo.environment,
    metrics: AgentMetrics? = nil, _ body: @Sendable (AgentRunner) async throws -> Void
) async throws {
    let configuration = try setup.configuration(environment: environment)
    let runner = try await Agent.make(
        configuration: configuration, environment: environment, version: "0.1.0",
        jobExecutable: BuildProducts.outpost, metrics: metrics, logger: testLogger("outpost.test.agent"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await runner.run() }
        do {
            try await body(runner)
        } catch {
            runner.stopNow()
            try? await group.waitForAll()
            throw error
        }
        runner.drain()
        try await group.waitForAll()
    }
}

/// The sample SQLite database in the repository.
var sampleDatabaseURL: String { "sqlite:\(BuildProducts.repositoryRoot)/Samples/shop.db" }

/// Starts a control plane for `body` and stops it afterwards, whatever happens.
func withControlPlane(
    _ configure: (inout ServerConfiguration) -> Void = { _ in }, relayReader: RelayReader? = nil,
    _ body: (TestControlPlane) async throws -> Void
) async throws {
    let controlPlane = try await TestControlPlane(configure)
    controlPlane.relayReader = relayReader
    try await controlPlane.start()
    do {
        try await body(controlPlane)
    } catch {
        await controlPlane.stop()
        throw error
    }
    await controlPlane.stop()
}
