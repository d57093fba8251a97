public import Logging
internal import NIOSSL
internal import PostgresNIO
internal import Synchronization

/// The control plane's storage in PostgreSQL, for several stateless server replicas on one database.
///
/// Built on postgres-nio's `PostgresClient` connection pool, which only hands out connections while `run()` is
/// running: start `run()` in the server's task group (it has the shape of a ServiceLifecycle `Service`) before
/// the first query, and stop it by cancelling that task or calling `close()`.
///
/// Replicas coordinate through the database alone: claims lock the rows they lease with `FOR UPDATE SKIP
/// LOCKED`, lease-bound changes lock the run row, log appends lock the run row, and migrations hold a
/// transaction-scoped advisory lock.
public final class PostgresControlPlaneStore: ControlPlaneStore {
    let client: PostgresClient
    let logger: Logger
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Whether `run()` has handed control to the pool's own `run()`.
        var running = false
        var startWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// A store for `configuration`; nothing connects before `run()`.
    public init(configuration: PostgresStoreConfiguration, logger: Logger) {
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: Self.tls(configuration.tlsMode))
        client.options.maximumConnections = configuration.maximumConnections
        client.options.additionalStartupParameters = [("application_name", "outpost")]
        self.client = PostgresClient(configuration: client, backgroundLogger: logger)
        self.logger = logger
    }

    /// A store for a `postgres://user:password@host:port/database` URL (see `PostgresStoreConfiguration`).
    public convenience init(url: String, logger: Logger = Logger(label: "outpost.storage.postgres")) throws {
        self.init(configuration: try PostgresStoreConfiguration(url: url), logger: logger)
    }

    /// Runs the connection pool until the calling task is cancelled or `close()` is called. Call once.
    public func runConnections() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                self.markRunning()
                await self.client.run()
            }
            group.addTask { await self.waitUntilStopped() }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Returns once `run()` has started the pool: queries made before would make postgres-nio warn that its
    /// `run()` was not called yet (and wait for it).
    public func waitUntilRunning() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let running = lifecycle.withLock { state in
                if !state.running { state.startWaiters.append(continuation) }
                return state.running
            }
            if running { continuation.resume() }
        }
    }

    private func markRunning() {
        let waiters = lifecycle.withLock { state in
            state.running = true
            defer { state.startWaiters = [] }
            return state.startWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Ends `run()`, which closes the pool's connections; queries after that fail with `.unavailable`.
    public func close() async throws {
        stop()
    }

    /// Applies the migrations `schema_migrations` does not list yet, all in one transaction that first takes an
    /// advisory lock: replicas starting together apply them once, in order, and the others then find nothing
    /// to do. DDL is transactional in PostgreSQL, so a failed migration leaves no half-built schema.
    /// Replicas share a PostgreSQL database, so a run found `ingesting` may be a live replica's.
    public var ingestionsAreOrphanedAtStart: Bool { false }

    public func migrate() async throws {
        try await migrate(through: nil)
    }

    /// Applies pending migrations up to `version`, or all when nil; tests build an older schema with it.
    func migrate(through version: Int?) async throws {
        try await transaction { connection in
            try await self.rows("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", on: connection)
            try await self.rows(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT NOT NULL PRIMARY KEY,
                    applied_at BIGINT NOT NULL
                )
                """, on: connection)
            let applied = Set(
                try await self.rows("SELECT version FROM schema_migrations", on: connection).map {
                    try $0.decode(Int.self)
                })
            for migration in PostgresMigrations.all
            where !applied.contains(migration.version) && migration.version <= version ?? .max {
                self.logger.info(
                    "storage.migration", metadata: ["migration.version": "\(migration.version)"])
                for statement in migration.statements {
                    try await self.rows(PostgresQuery(unsafeSQL: statement), on: connection)
                }
                try await self.rows(
                    """
                    INSERT INTO schema_migrations (version, applied_at)
                    VALUES (\(migration.version), \(SchemaMigration.now().milliseconds))
                    """, on: connection)
            }
        }
    }

    /// The versions recorded in `schema_migrations`, ascending (for tests and diagnostics).
    func appliedMigrations() async throws -> [Int] {
        try await rows("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self) }
    }

    // MARK: Queries

    /// "outpost" in ASCII: the key of the advisory lock held while migrating.
    private static let migrationLock: Int64 = 0x6F_7574_706F_7374

    /// Runs one statement on a pooled connection and collects its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.query(query, logger: logger).collect()
        } catch {
            throw Self.storageError(error)
        }
    }

    /// Runs one statement inside a `transaction` and collects its rows.
    @discardableResult
    func rows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// Runs `body` between `BEGIN` and `COMMIT` on one pooled connection; rolls back and rethrows what `body`
    /// threw, unchanged (postgres-nio's own `withTransaction` would wrap it, hiding a `StorageError` or the
    /// caller's own error from the caller). Driver errors become `StorageError`s.
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withConnection { connection in
                try await self.rows("BEGIN", on: connection)
                do {
                    let result = try await body(connection)
                    try await self.rows("COMMIT", on: connection)
                    return result
                } catch {
                    // A failed ROLLBACK means a broken connection, which the pool discards.
                    _ = try? await self.rows("ROLLBACK", on: connection)
                    throw error is PSQLError ? error : CallerError(underlying: error)
                }
            }
        } catch let error as CallerError {
            throw error.underlying
        } catch {
            throw Self.storageError(error)
        }
    }

    /// Carries an error thrown by a transaction's body past the driver-error mapping.
    private struct CallerError: Error {
        let underlying: any Error
    }

    /// Maps a driver error to a `StorageError`: unique violations are `.conflict`, foreign-key violations
    /// `.notFound`, everything else `.unavailable`. Messages carry the server's message, never the values bound
    /// (PostgreSQL's `detail` field can quote them).
    static func storageError(_ error: any Error) -> any Error {
        if error is StorageError { return error }
        guard let error = error as? PSQLError else {
            return StorageError(.unavailable, "PostgreSQL call failed: \(error)")
        }
        let message = error.serverInfo?[.message]
        switch error.serverInfo?[.sqlState] {
        case "23505":
            return StorageError(.conflict, "a row with the same key already exists (\(message ?? "unique violation"))")
        case "23503":
            return StorageError(.notFound, "a row this one refers to does not exist (\(message ?? "foreign key"))")
        default:
            if let message { return StorageError(.unavailable, "PostgreSQL refused a statement: \(message)") }
            return StorageError(
                .unavailable,
                "PostgreSQL is unreachable (\(error.code)); check --database-url and that the server is up")
        }
    }

    // MARK: Lifecycle

    private func stop() {
        let waiter = lifecycle.withLock { state in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func waitUntilStopped() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let stopped = lifecycle.withLock { state in
                    if !state.stopped { state.waiter = continuation }
                    return state.stopped
                }
                if stopped { continuation.resume() }
            }
        } onCancel: {
            stop()
        }
    }

    private static func tls(_ mode: PostgresStoreConfiguration.TLSMode) -> PostgresClient.Configuration.TLS {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        var chainOnly = TLSConfiguration.makeClientConfiguration()
        chainOnly.certificateVerification = .noHostnameVerification
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(unverified)
        case .require: return .require(unverified)
        case .verifyCA: return .require(chainOnly)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }
}
