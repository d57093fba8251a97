internal import CSQLite
internal import SourceURLs

/// One compiled SQLite statement, finalised when released.
///
/// Only what catalog reading needs: text parameters, stepping, and reading text and integer columns.
final class SQLiteStatement {
    private let handle: OpaquePointer
    // Keeps the connection open for as long as one of its statements exists.
    private let database: SQLiteDatabase

    init(handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// SQLite's `SQLITE_TRANSIENT`: copy the bound bytes before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Resets the statement and binds `values` to parameters `?1`, `?2`, …, so it can run again.
    func bind(_ values: String...) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            guard sqlite3_bind_text(handle, Int32(offset + 1), value, -1, Self.transient) == SQLITE_OK else {
                throw ConnectorError(
                    .queryFailed, "SQLite could not bind a catalog query parameter: \(database.errorMessage)")
            }
        }
    }

    /// Advances to the next row; false when there are no more.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = database.errorMessage
            sqlite3_reset(handle)
            throw ConnectorError(.queryFailed, message)
        }
    }

    /// The column as text, nil for NULL.
    func text(_ column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else {
            return nil
        }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// The column as an integer, nil for NULL.
    func int(_ column: Int32) -> Int64? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        return sqlite3_column_int64(handle, column)
    }
}
