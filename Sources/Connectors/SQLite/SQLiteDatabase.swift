internal import CSQLite
internal import SourceURLs

/// A read-only connection to one SQLite database file, closed when released.
///
/// Opening never creates a file, and a file that exists but is not a database fails here, not halfway through
/// an extraction, so the connector can throw one actionable `.unreadableFile` error before emitting anything.
final class SQLiteDatabase {
    let handle: OpaquePointer
    /// The path as given, for messages.
    let path: String
    /// Keeps the descriptors SQLite's opens are served from alive as long as the connection.
    private let pinned: PinnedSQLiteFile

    /// Opens the pinned file read-only and checks that it is a database SQLite can read.
    ///
    /// - Parameter path: the path the file was pinned from, for messages.
    /// - Throws: `ConnectorError` with `.unreadableFile` when the file is not a database SQLite can read.
    init(pinned: PinnedSQLiteFile, path: String) throws {
        self.path = path
        self.pinned = pinned
        var connection: OpaquePointer?
        // Without SQLITE_OPEN_CREATE SQLite never creates the file, and without SQLITE_OPEN_URI the name is
        // literal. The name is the pinned file's absolute path, so SQLite's opens of it (and of its -wal, -shm
        // and -journal) are served from the pinned descriptors.
        let status = sqlite3_open_v2(pinned.openedPath, &connection, PinnedSQLiteFile.openFlags, nil)
        guard status == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(connection)
            throw Self.unreadable(path, code: status, message: message)
        }
        handle = connection
        // A writer may briefly hold the file locked; wait for it rather than failing the extraction.
        sqlite3_busy_timeout(handle, 5_000)
        // `trusted_schema` stays on: it guards functions run by stepping views and triggers, which catalog
        // reading never does (views are only prepared), and turning it off makes every view over an FTS table
        // fail to compile ("unsafe use of virtual table").
        do {
            // SQLite opens lazily: the first read of the schema is what discovers a file that is not a database.
            let probe = try prepare("SELECT count(*) FROM sqlite_master")
            _ = try probe.step()
        } catch {
            // Throwing from here still runs `deinit`, which closes the connection.
            throw Self.unreadable(path, code: sqlite3_errcode(handle), message: errorMessage)
        }
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Compiles one statement.
    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw ConnectorError(.queryFailed, "SQLite could not prepare a catalog query: \(errorMessage)")
        }
        return SQLiteStatement(handle: statement, database: self)
    }

    /// Runs a statement that returns no rows the caller needs.
    func execute(_ sql: String) throws {
        let statement = try prepare(sql)
        while try statement.step() {}
    }

    /// The connection's most recent error message.
    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// The `.unreadableFile` error for a failed open, worded by what went wrong.
    private static func unreadable(_ path: String, code: Int32, message: String) -> ConnectorError {
        switch code & 0xFF {
        case SQLITE_NOTADB:
            ConnectorError(
                .unreadableFile,
                "'\(path)' is not a SQLite database (or is encrypted); pass the path of a SQLite 3 database file")
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_AUTH, SQLITE_IOERR:
            ConnectorError(
                .unreadableFile,
                "cannot read SQLite database '\(path)' (\(message)); check that it is a database file this user can read"
            )
        default:
            ConnectorError(.unreadableFile, "cannot read SQLite database '\(path)': \(message)")
        }
    }
}
