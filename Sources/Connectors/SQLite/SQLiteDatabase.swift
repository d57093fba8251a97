internal import CSQLite

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A read-only connection to one SQLite database file, closed when released.
///
/// Opening never creates a file, and a file that exists but is not a database fails here, not halfway through
/// an extraction, so the connector can throw one actionable `.unreadableFile` error before emitting anything.
final class SQLiteDatabase {
    let handle: OpaquePointer
    let path: String

    /// Opens `path` read-only and checks that it is a database SQLite can read.
    ///
    /// - Throws: `ConnectorError` with `.unreadableFile` when the file is missing, unreadable or not a database.
    init(readOnlyPath path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConnectorError(.unreadableFile, "SQLite database file '\(path)' does not exist; check the path")
        }
        if (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeDirectory {
            throw ConnectorError(
                .unreadableFile, "'\(path)' is a directory; pass the path of a SQLite database file inside it")
        }
        var connection: OpaquePointer?
        // Without SQLITE_OPEN_CREATE SQLite never creates the file. Without SQLITE_OPEN_URI a `?` or `#` in
        // the path is literal; a relative `file:…` path gets `./` so a library built to accept URIs everywhere
        // still reads it as a file name.
        let filename = path.hasPrefix("file:") ? "./" + path : path
        let status = sqlite3_open_v2(filename, &connection, SQLITE_OPEN_READONLY, nil)
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
