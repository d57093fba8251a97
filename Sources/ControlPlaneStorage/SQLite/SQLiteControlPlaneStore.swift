/// The control plane's storage in one SQLite file: the single-machine default (`outpost quickstart`,
/// `outpost server` without `--database-url`).
///
/// Concurrency model: one actor owns one connection and runs on its own serial executor (`SQLiteExecutor`), so
/// calls are serialised without blocking the cooperative thread pool. Every write runs in a `BEGIN IMMEDIATE`
/// transaction, which takes SQLite's single write lock before reading anything; that makes a claim atomic even
/// when several stores (or processes) open the same file, each waiting up to
/// `SQLiteConnection.busyTimeoutMilliseconds` for the lock. Reads run outside transactions and see the last
/// commit (WAL readers never block writers). Statements are prepared once per connection and reused, which is
/// what keeps heartbeat upserts in the tens of thousands per second.
public actor SQLiteControlPlaneStore: ControlPlaneStore {
    private let executor: SQLiteExecutor
    let database: SQLiteConnection
    private let ownerLock: SQLiteOwnerLock
    /// `tenant/connection` of the publishes under way, which take turns per connection.
    var publishingConnections: Set<String> = []

    /// Opens (and if missing, creates with mode 0600) the database at `path`. Call `migrate()` before use.
    ///
    /// - Throws: `StorageError(.unavailable, …)` when the file cannot be opened or cannot use write-ahead logging.
    public init(path: String) throws {
        executor = SQLiteExecutor(label: "outpost.storage.sqlite")
        database = try SQLiteConnection(path: path)
        ownerLock = SQLiteOwnerLock(databasePath: path)
    }

    /// True while no other store has this database open: then every run left `ingesting` at start was left by a
    /// process that stopped (see `SQLiteOwnerLock`).
    public nonisolated var ingestionsAreOrphanedAtStart: Bool { ownerLock.isHeld }

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// Applies the migrations `schema_migrations` does not list yet, in one `BEGIN IMMEDIATE` transaction: a
    /// second server starting on the same file waits for the first and then finds nothing to do.
    public func migrate() async throws {
        try migrate(through: nil)
    }

    /// Applies pending migrations up to `version`, or all when nil; tests build an older schema with it.
    func migrate(through version: Int?) throws {
        try database.writeTransaction {
            try database.executeScript(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER NOT NULL PRIMARY KEY,
                    applied_at INTEGER NOT NULL
                ) STRICT
                """)
            let applied = Set(try database.query("SELECT version FROM schema_migrations", []) { $0.int(0) })
            for migration in SQLiteMigrations.all
            where !applied.contains(migration.version) && migration.version <= version ?? .max {
                for statement in migration.statements { try database.executeScript(statement) }
                try database.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [migration.version, SchemaMigration.now()])
            }
        }
    }

    /// The versions recorded in `schema_migrations`, ascending (for tests and diagnostics).
    func appliedMigrations() throws -> [Int] {
        try database.query("SELECT version FROM schema_migrations ORDER BY version", []) { $0.int(0) }
    }

    /// Finalises the prepared statements and closes the file; later calls fail with `.unavailable`.
    public func close() async throws {
        database.close()
    }
}
