// A real SQLite store and an encrypted blob folder in a temporary directory, two tenants with keys, a hand-driven
// clock, and request helpers, shared by the HTTP tests.

import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OutpostProtocol
import OutpostTesting
import Synchronization

/// A wall clock the test moves by hand, so lease and key expiry are tested without sleeping.
final class ManualClock: Sendable {
    private let current: Mutex<Timestamp>

    /// 2025-01-01T00:00:00Z.
    init(start: Timestamp = Timestamp(milliseconds: 1_735_689_600_000)) {
        current = Mutex(start)
    }

    var now: Timestamp { current.withLock { $0 } }

    func advance(seconds: Int) {
        current.withLock { $0 = $0.adding(seconds: seconds) }
    }

    var wallClock: WallClock { WallClock { self.now } }
}

/// The tenant-scoped keys a test authenticates with.
struct TenantKeys {
    let tenant: Tenant
    let admin: String
    let agent: String
}

/// Everything one HTTP test needs; each test builds its own, so tests never share state.
struct ControlPlaneFixture {
    let directory: TemporaryDirectory
    let store: SQLiteControlPlaneStore
    let blobs: LocalBlobStore
    let signer: UploadSigner
    let clock: ManualClock
    var configuration: ServerConfiguration
    let tenantA: TenantKeys
    let tenantB: TenantKeys

    static func make(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ControlPlaneFixture {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        let clock = ManualClock()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let tenantA = try await Self.tenant(named: "a", store: store, clock: clock)
        let tenantB = try await Self.tenant(named: "b", store: store, clock: clock)
        let blobs = try LocalBlobStore(
            root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
        let signer = UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key"))
        return ControlPlaneFixture(
            directory: directory, store: store, blobs: blobs, signer: signer, clock: clock,
            configuration: configuration, tenantA: tenantA, tenantB: tenantB)
    }

    static func tenant(
        named name: String, store: some ControlPlaneStore, clock: ManualClock
    ) async throws
        -> TenantKeys
    {
        let tenant = Tenant(id: Identifier.make("ten"), name: name, createdAt: clock.now)
        try await store.createTenant(tenant)
        let admin = APIKey.mint(tenantId: tenant.id, name: "admin", role: .admin, expiresAt: nil, now: clock.now)
        let agent = APIKey.mint(tenantId: tenant.id, name: "agent", role: .agent, expiresAt: nil, now: clock.now)
        try await store.createKey(admin.key)
        try await store.createKey(agent.key)
        return TenantKeys(tenant: tenant, admin: admin.text, agent: agent.text)
    }

    var logger: Logger {
        var logger = Logger(label: "outpost.test.server")
        logger.logLevel = .error
        return logger
    }

    func application() -> some ApplicationProtocol {
        buildApplication(
            configuration: configuration, store: store, blobs: blobs, signer: signer, logger: logger,
            clock: clock.wallClock)
    }

    /// Mints and stores another key of tenant A.
    func mintKey(role: APIKey.Role, expiresAt: Timestamp? = nil) async throws -> MintedAPIKey {
        let minted = APIKey.mint(
            tenantId: tenantA.tenant.id, name: "extra", role: role, expiresAt: expiresAt, now: clock.now)
        try await store.createKey(minted.key)
        return minted
    }
}

/// A connection request that passes validation.
func sampleConnection(name: String = "sales") -> ConnectionRequest {
    ConnectionRequest(
        name: name, sourceKind: "postgresql", sourceURL: "postgres://reader@db.internal:5432/sales",
        secrets: ["password": "env:SALES_PASSWORD"], filters: ConnectionFilters(includeSchemas: ["public"]))
}

func claimRequest(agentId: String = "agent-1", waitSeconds: Int = 0, freeSlots: Int = 1) -> ClaimRequest {
    ClaimRequest(
        agentId: agentId, agentName: "agent one", version: "0.1.0", freeSlots: freeSlots, pools: ["default"],
        waitSeconds: waitSeconds)
}

func completeRequest(
    leaseId: Int64, status: CompleteRequest.Status = .succeeded, logBytes: Int64 = 0
)
    -> CompleteRequest
{
    CompleteRequest(
        leaseId: leaseId, status: status,
        logs: .init(bytes: logBytes, sha256: String(repeating: "0", count: 64), droppedBytes: 0))
}

extension TestClientProtocol {
    /// Sends `body` (raw bytes) with the bearer key, as the agent `agent-1` unless `headers` name another
    /// (`AgentProtocol.agentHeader`).
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, bytes: [UInt8]? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var fields = headers
        if let key { fields[.authorization] = "Bearer \(key)" }
        let agentHeader = HTTPField.Name(AgentProtocol.agentHeader)!
        if fields[agentHeader] == nil { fields[agentHeader] = "agent-1" }
        if bytes != nil && fields[.contentType] == nil { fields[.contentType] = "application/json" }
        return try await executeRequest(
            uri: uri, method: method, headers: fields, body: bytes.map { ByteBuffer(bytes: $0) })
    }

    /// Sends `value` as JSON with the bearer key.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, json value: some Encodable,
        headers: HTTPFields = [:]
    )
        async throws -> TestResponse
    {
        try await send(method, uri, key: key, bytes: Array(try JSONEncoder().encode(value)), headers: headers)
    }

    /// Sends a JSON text as written (for malformed and unknown-field bodies).
    func send(_ method: HTTPRequest.Method, _ uri: String, key: String?, text: String) async throws -> TestResponse {
        try await send(method, uri, key: key, bytes: Array(text.utf8))
    }

    /// Creates a connection and queues a run of it as tenant A's admin; returns the run id.
    func queueRun(_ fixture: ControlPlaneFixture, connectionName: String = "sales") async throws -> String {
        let connection = try await send(
            .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: sampleConnection(name: connectionName)
        ).decode(ConnectionResponse.self)
        return try await send(
            .post, "/v1/admin/connections/\(connection.id)/runs", key: fixture.tenantA.admin, bytes: nil
        )
        .decode(RunResponse.self).id
    }

    /// Queues a run and claims it as tenant A's agent; returns the assignment.
    func claimedRun(_ fixture: ControlPlaneFixture) async throws -> RunAssignment {
        _ = try await queueRun(fixture)
        return try await send(.post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            .decode(ClaimResponse.self).run
    }

    /// Queues, claims and starts a run; returns the assignment.
    func startedRun(_ fixture: ControlPlaneFixture) async throws -> RunAssignment {
        let assignment = try await claimedRun(fixture)
        let response = try await send(
            .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
            json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-1"))
        guard response.status == .ok else { throw FixtureError("start answered \(response.status)") }
        return assignment
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension TestResponse {
    /// The body decoded as `T`; throws with the body text when it does not decode.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw FixtureError("status \(status.code), body \(text) does not decode as \(type): \(error)")
        }
    }

    var problem: ProblemResponse? { try? decode(ProblemResponse.self) }

    var text: String { String(decoding: body.readableBytesView, as: UTF8.self) }
}
