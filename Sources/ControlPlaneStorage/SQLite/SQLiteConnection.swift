internal import CSQLite

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// One read-write connection to the control plane's SQLite file: prepared-statement cache, typed bind and
/// column access, and `BEGIN IMMEDIATE` write transactions.
///
/// Not thread-safe and not `Sendable`: `SQLiteControlPlaneStore` owns exactly one and uses it only on its own
/// executor, so the connection is opened in SQLite's multi-thread mode (no per-call mutex).
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]
    /// Checkpoints the log in the background instead of in whichever commit passes the threshold.
    private var checkpointer: SQLiteCheckpointer?
    let path: String

    /// How long a writer waits for another connection's write lock before failing with `.unavailable`.
    static let busyTimeoutMilliseconds: Int32 = 10_000

    /// Opens `path`, creating it with mode 0600 when missing, and configures the connection: WAL, `synchronous =
    /// NORMAL` (a commit is durable once the WAL is synced at checkpoint; a power loss may drop the last
    /// transactions but never corrupts), foreign keys, a busy timeout, extended result codes.
    init(path: String) throws {
        self.path = path
        try createPrivateFile(path)
        var connection: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &connection, flags, nil)
        guard status == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(connection)
            throw StorageError(
                .unavailable,
                "cannot open the SQLite database '\(path)' (\(message)); check the path and its permissions")
        }
        handle = connection
        sqlite3_extended_result_codes(connection, 1)
        sqlite3_busy_timeout(connection, Self.busyTimeoutMilliseconds)
        do {
            let mode = try queryFirst("PRAGMA journal_mode = WAL", []) { $0.text(0) }
            guard mode?.lowercased() == "wal" else {
                throw StorageError(
                    .unavailable,
                    "SQLite database '\(path)' cannot use write-ahead logging (journal mode \(mode ?? "unknown")); "
                        + "put it on a local file system")
            }
            // A 64 MiB page cache (SQLite's default is 2 MiB): publishing a large delivery inserts into the catalog's
            // indexes in name order, not key order, and with the default cache every insert re-reads its pages.
            // The log file is cut back to 64 MiB once a checkpoint has let it start over.
            try executeScript(
                """
                PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
                PRAGMA cache_size = -65536; PRAGMA journal_size_limit = 67108864;
                """)
            let checkpointer = try SQLiteCheckpointer(path: path)
            checkpointer.attach(to: connection)
            self.checkpointer = checkpointer
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
    }

    /// Finalises every cached statement and closes the file; later calls fail with `.unavailable`.
    func close() {
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
        checkpointer?.close()
        checkpointer = nil
    }

    // MARK: Statements

    /// The cached statement for `sql`, compiled on first use.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let handle = try openHandle()
        var compiled: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &compiled, nil)
        guard status == SQLITE_OK, let compiled else {
            sqlite3_finalize(compiled)
            throw error(status, context: "prepare a statement")
        }
        let statement = SQLiteStatement(handle: compiled, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ values: [any SQLiteBindable]) throws -> Int {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try bind(statement, values)
        while try step(statement) {}
        return Int(sqlite3_changes(try openHandle()))
    }

    /// Runs a query and maps every row.
    func query<Row>(_ sql: String, _ values: [any SQLiteBindable], _ map: (SQLiteRow) throws -> Row) throws -> [Row] {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try bind(statement, values)
        var rows: [Row] = []
        while try step(statement) { rows.append(try map(SQLiteRow(handle: statement.handle))) }
        return rows
    }

    /// Runs a query and maps its first row, if any.
    func queryFirst<Row>(
        _ sql: String, _ values: [any SQLiteBindable], _ map: (SQLiteRow) throws -> Row
    ) throws
        -> Row?
    {
        let statement = try self.statement(sql)
        defer { statement.reset() }
        try bind(statement, values)
        guard try step(statement) else { return nil }
        return try map(SQLiteRow(handle: statement.handle))
    }

    /// Runs several statements without parameters (schema changes, pragmas), uncached.
    func executeScript(_ sql: String) throws {
        let handle = try openHandle()
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard status == SQLITE_OK else { throw error(status, context: "run a schema statement") }
    }

    // MARK: Transactions

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two connections never
    /// both read a queued run and then race to lease it, and a writer never fails half-way on a lock upgrade.
    /// Commits when `body` returns, rolls back when it throws.
    @discardableResult
    func writeTransaction<Result>(_ body: () throws -> Result) throws -> Result {
        try execute("BEGIN IMMEDIATE", [])
        do {
            let result = try body()
            try execute("COMMIT", [])
            return result
        } catch {
            // Also reached when COMMIT itself fails, which leaves the transaction open.
            if sqlite3_get_autocommit(handle) == 0 { _ = try? execute("ROLLBACK", []) }
            throw error
        }
    }

    // MARK: Internals

    private func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw StorageError(.unavailable, "the SQLite store '\(path)' is closed")
        }
        return handle
    }

    private func bind(_ statement: SQLiteStatement, _ values: [any SQLiteBindable]) throws {
        let status = statement.bind(values)
        guard status == SQLITE_OK else { throw error(status, context: "bind a parameter") }
    }

    private func step(_ statement: SQLiteStatement) throws -> Bool {
        let status = sqlite3_step(statement.handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw error(status, context: "run a statement")
        }
    }

    /// Extended result codes SQLite reports for constraint failures.
    private enum Constraint {
        static let primaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
        static let unique: Int32 = SQLITE_CONSTRAINT | (8 << 8)
        static let foreignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)
    }

    /// The `StorageError` for a failed call: constraint failures become `.conflict` / `.notFound` so the HTTP
    /// layer can answer 409 / 404, everything else `.unavailable`.
    private func error(_ status: Int32, context: String) -> StorageError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
        switch status {
        case Constraint.primaryKey, Constraint.unique:
            return StorageError(.conflict, "a row with the same key already exists (\(message))")
        case Constraint.foreignKey:
            return StorageError(.notFound, "a row this one refers to does not exist (\(message))")
        default:
            switch status & 0xFF {
            case SQLITE_BUSY, SQLITE_LOCKED:
                return StorageError(
                    .unavailable,
                    "the SQLite database '\(path)' stayed locked by another writer; retry, and make sure only "
                        + "Outpost servers open it")
            case SQLITE_FULL:
                return StorageError(.unavailable, "the disk holding '\(path)' is full; free space and retry")
            case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN:
                return StorageError(
                    .unavailable, "cannot write the SQLite database '\(path)' (\(message)); check its permissions")
            default:
                return StorageError(.unavailable, "SQLite could not \(context): \(message)")
            }
        }
    }
}

/// Creates the database file readable by its owner only; an existing file keeps the mode an operator gave it.
/// SQLite gives the `-wal` and `-shm` files the database file's mode.
private func createPrivateFile(_ path: String) throws {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        let reason = String(cString: strerror(errno))
        throw StorageError(
            .unavailable,
            "cannot create the SQLite database '\(path)' (\(reason)); check that the directory exists and is writable"
        )
    }
    close(descriptor)
}
