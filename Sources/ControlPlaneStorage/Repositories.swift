public import OutpostProtocol

/// Tenants and their API keys.
///
/// Every method that reads or changes tenant data takes the tenant id: an implementation must put it in the
/// `WHERE` clause of every statement, so a key of tenant A can never reach a row of tenant B.
public protocol TenantRepository: Sendable {
    func createTenant(_ tenant: Tenant) async throws
    func tenant(id: String) async throws -> Tenant?
    /// The first tenant by creation time, for bootstrap: nil on an empty database.
    func firstTenant() async throws -> Tenant?
    /// The first tenant by creation time, after creating `tenant` if the database has none. Atomic across replicas
    /// and processes: servers starting together on one empty database create one tenant between them.
    func firstTenant(creatingIfNone tenant: Tenant) async throws -> Tenant

    func createKey(_ key: APIKey) async throws
    /// Stores the key `mint` returns if the tenant has no key at all (revoked and expired ones count) and returns
    /// it; nil, without calling `mint`, when it has one. Atomic across replicas and processes: servers starting
    /// together store one first key between them. `mint` is called before the key is stored; if it throws, nothing
    /// is stored and its error is rethrown.
    func createFirstKey(tenantId: String, mint: @Sendable () throws -> APIKey) async throws -> APIKey?
    /// Looks a key up by the hash of the presented text; nil if unknown. Validity is the caller's check.
    func key(hash: String) async throws -> APIKey?
    func keys(tenantId: String) async throws -> [APIKey]
    /// Returns false if no such key exists in the tenant.
    func revokeKey(tenantId: String, id: String, at: Timestamp) async throws -> Bool
    func touchKey(id: String, at: Timestamp) async throws
}

/// Agents as seen through heartbeats.
public protocol AgentRepository: Sendable {
    /// Inserts or updates the agent's row from a heartbeat or claim.
    func upsertAgent(_ agent: AgentRecord) async throws
    func agent(tenantId: String, id: String) async throws -> AgentRecord?
    func agents(tenantId: String) async throws -> [AgentRecord]
    func requestDrain(tenantId: String, id: String) async throws -> Bool
    /// Compares `head` with the longest audit ledger head the agent reported before and keeps the longer, in one
    /// transaction: a head shorter than that one, or of its length with another hash, records `auditProblem`
    /// (the agent's ledger lost or rewrote entries). Returns the agent as stored afterwards; nil when the tenant
    /// has no such agent.
    func recordAuditHead(
        tenantId: String, agentId: String, head: AuditHead, now: Timestamp
    ) async throws
        -> AgentRecord?
}

/// Connections (sources) an admin registered.
public protocol ConnectionRepository: Sendable {
    /// Throws `StorageError.conflict` when the tenant already has a connection of that name.
    func createConnection(_ connection: ConnectionRecord) async throws
    func updateConnection(_ connection: ConnectionRecord) async throws -> Bool
    func connection(tenantId: String, id: String) async throws -> ConnectionRecord?
    func connections(tenantId: String) async throws -> [ConnectionRecord]
    func deleteConnection(tenantId: String, id: String) async throws -> Bool
}

/// The run queue with leases.
///
/// Claims must be safe with several server replicas on one database: a run is leased to exactly one agent
/// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer at a time).
public protocol RunRepository: Sendable {
    func createRun(_ run: RunRecord) async throws
    func run(tenantId: String, id: String) async throws -> RunRecord?
    /// Newest first.
    func runs(tenantId: String, connectionId: String?, limit: Int) async throws -> [RunRecord]

    /// Leases up to `limit` queued runs of the tenant whose connection is in one of `pools`, oldest first:
    /// sets status `leased`, a new lease id (strictly greater than any before for that run), the agent and
    /// expiry; increments `attempt`. Returns the leased runs.
    func claimRuns(
        tenantId: String, agentId: String, pools: [String], limit: Int, ttlSeconds: Int, now: Timestamp
    )
        async throws -> [RunRecord]

    /// Applies `change` to the run if its current lease id equals `leaseId` and the lease has not expired — for a
    /// `running` run, not more than `runningGraceSeconds` ago: until then `expireLeases` has not re-queued it, the
    /// lease is still its agent's, and an agent that was cut off can pick up where it was; returns the updated run,
    /// or nil when the lease is stale (the caller answers 409).
    func updateLeased(
        tenantId: String, runId: String, leaseId: Int64, now: Timestamp, runningGraceSeconds: Int,
        _ change: @Sendable (inout RunRecord) throws -> Void
    ) async throws -> RunRecord?

    /// Marks cancellation on a run not yet finished. A queued run, and an ingesting run whose lease expired (no
    /// server is ingesting it), are cancelled at once; their staging is the caller's to clear.
    func requestCancel(tenantId: String, runId: String, reason: String, now: Timestamp) async throws -> RunRecord?

    /// Gives every running run's lease at least `ttlSeconds` from `now`, for a server that starts: the time it was
    /// down (when no agent could renew) does not count against the agents' leases. Returns how many changed.
    func extendRunningLeases(now: Timestamp, ttlSeconds: Int) async throws -> Int

    /// Runs whose lease expired more than `graceSeconds` ago go back to `queued` (attempts left) or `failed`.
    /// A run never started (still `leased`: the agent never received the claim's answer, or died before `start`)
    /// gets its attempt back, at most `maxAttempts` times per run (counted as lease ids issued beyond attempts).
    /// Returns how many runs changed. Safe to call from every replica.
    func expireLeases(now: Timestamp, graceSeconds: Int) async throws -> Int

    /// Runs left `ingesting` whose lease (which the ingesting server holds and renews) expired before
    /// `expiredBefore` (normally `now`; later when this store knows every ingestion was orphaned): the server that
    /// was ingesting them stopped. Each is taken over at most once across replicas: while it was recovered fewer
    /// than `maximumRecoveries` times and no cancellation is pending, it gets a new lease id (fencing off the stopped
    /// server), a lease until `now + holdSeconds` and one more recovery, and is returned still `ingesting` for the
    /// caller to ingest again; a run with a cancellation pending ends `cancelled`, one out of recoveries `failed`
    /// with a reason, and both are returned finished (their staging is the caller's to clear). At most `limit`
    /// runs are taken over per call.
    func recoverIngestions(
        now: Timestamp, expiredBefore: Timestamp, holdSeconds: Int, maximumRecoveries: Int, limit: Int
    ) async throws
        -> [RunRecord]
}

/// The scheduler's view of connections: which are due, and the compare-and-set that moves a connection to its next
/// slot (queueing the slot's run in the same transaction).
///
/// Safe with several server replicas on one database: each slot is won by exactly one caller.
public protocol ScheduleRepository: Sendable {
    /// Connections of every tenant that have a schedule and whose `nextRunAt` is at or before `now`, or not
    /// computed yet (nil, e.g. after the migration that added it); earliest first, at most `limit`.
    func dueConnections(now: Timestamp, limit: Int) async throws -> [ConnectionRecord]

    /// Moves the connection's `nextRunAt` from `expected` to `next` only if it still is `expected` and the
    /// connection still has a schedule, and then queues `run` (when given) unless a run of the connection is still
    /// queued or in progress. One transaction; see `ScheduleAdvance` for the outcomes.
    func advanceSchedule(
        tenantId: String, connectionId: String, expected: Timestamp?, next: Timestamp?, run: RunRecord?
    ) async throws -> ScheduleAdvance
}

/// What `ScheduleRepository.advanceSchedule` did.
public enum ScheduleAdvance: Sendable, Equatable {
    /// The slot was this caller's and its run is queued.
    case queued
    /// The slot was this caller's, but the connection's previous run has not finished: no run was queued, so a slow
    /// source does not pile up runs.
    case skippedActiveRun
    /// The slot was this caller's and no run was asked for (first computation of `nextRunAt`).
    case advanced
    /// Another caller (replica) advanced it first, or the schedule was changed or removed meanwhile.
    case lost
}

/// Log chunks of runs, by offset.
public protocol RunLogRepository: Sendable {
    /// Appends `text` at `offset` if it equals the stored length; a chunk already stored at that offset with the
    /// same bytes is accepted again (idempotent). Returns the next offset, or throws
    /// `StorageError.offsetMismatch(expected:)`.
    func appendLog(tenantId: String, runId: String, offset: Int64, text: [UInt8]) async throws -> Int64
    /// Bytes `from` ..< `from + limit` of the run's log.
    func readLog(tenantId: String, runId: String, from: Int64, limit: Int) async throws -> [UInt8]
}

/// The upload grants of direct deliveries: what each run was granted, so that a run's uploads stay within its
/// limit however many grant requests it makes, and that whatever it uploaded outside its accepted delivery can be
/// removed when it ends.
public protocol UploadGrantRepository: Sendable {
    /// Records grants of `files` (path, bytes) for the run — a path granted before is replaced, not added — if the
    /// run's total over all its granted paths stays within `limit`; returns that total, or nil when it would not
    /// (and then nothing is recorded). Atomic against concurrent requests of the same run.
    func recordUploadGrants(
        tenantId: String, runId: String, files: [(path: String, bytes: Int64)], limit: Int64
    ) async throws -> Int64?
    /// Finished runs that still have grants recorded (what they uploaded was not tidied yet), oldest first.
    func finishedRunsWithUploadGrants(limit: Int) async throws -> [RunRecord]
    /// The paths granted to the run, sorted.
    func uploadGrantPaths(tenantId: String, runId: String) async throws -> [String]
    /// Forgets the run's grants, once its leftover objects are removed.
    func clearUploadGrants(tenantId: String, runId: String) async throws
}

/// Everything the control plane stores, in one database.
public protocol ControlPlaneStore: TenantRepository, AgentRepository, ConnectionRepository, RunRepository,
    RunLogRepository, CatalogRepository, LineageRepository, SessionRepository, ScheduleRepository,
    UploadGrantRepository
{
    /// Applies pending migrations; idempotent, safe when several replicas start together.
    func migrate() async throws
    /// Whether this store is the database's only user, so that a run found `ingesting` when the server starts was
    /// left by a server that stopped and can be taken over at once (a single-process SQLite server); false where
    /// replicas share the database and a live one may be ingesting it.
    var ingestionsAreOrphanedAtStart: Bool { get }
    /// Runs what the store needs running while it serves (PostgreSQL's connection pool) until the calling task is
    /// cancelled or `close()` is called; a store with nothing to run (SQLite) returns at once.
    func runConnections() async
    /// Returns once `runConnections()` has made the store ready for queries (at once when it has nothing to run).
    func waitUntilRunning() async
    func close() async throws
}

extension ControlPlaneStore {
    public func runConnections() async {}
    public func waitUntilRunning() async {}
}

/// A storage failure the HTTP layer maps to a status.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case conflict
        case offsetMismatch(expected: Int64)
        case notFound
        case unavailable
        /// A publish refused because the connection's catalog already holds a newer run's delivery.
        case superseded
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension RunRepository {
    /// `updateLeased` without grace: the lease must not have expired at all.
    public func updateLeased(
        tenantId: String, runId: String, leaseId: Int64, now: Timestamp,
        _ change: @Sendable (inout RunRecord) throws -> Void
    ) async throws -> RunRecord? {
        try await updateLeased(
            tenantId: tenantId, runId: runId, leaseId: leaseId, now: now, runningGraceSeconds: 0, change)
    }
}
