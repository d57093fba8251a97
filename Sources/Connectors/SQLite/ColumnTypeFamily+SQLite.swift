internal import Metadata

extension Column.TypeFamily {
    /// The family of a column declared with `declaredType` in SQLite.
    ///
    /// SQLite stores any value in any column; the declared type is only a hint that sets the column's affinity
    /// by substring (`INT`, then `CHAR`/`CLOB`/`TEXT`, `BLOB`, `REAL`/`FLOA`/`DOUB`, else numeric). Names that
    /// carry more meaning than their affinity (`BOOLEAN`, `DATETIME`, `JSON`, `UUID`) are checked first, so a
    /// `DATETIME` column is a timestamp rather than numeric. A column with no declared type can hold anything
    /// and is `other`, as is a name nothing here recognises.
    init(sqliteDeclaredType declaredType: String) {
        let type = declaredType.uppercased()
        func has(_ parts: String...) -> Bool { parts.contains { type.contains($0) } }
        self =
            if type.isEmpty {
                .other
            } else if has("BOOL") {
                .boolean
            } else if has("DATETIME", "TIMESTAMP") {
                .timestamp
            } else if has("DATE") {
                .date
            } else if has("INTERVAL") {
                .interval
            } else if has("TIME") {
                .time
            } else if has("JSON") {
                .json
            } else if has("UUID", "GUID") {
                .uuid
            } else if has("INT") {
                .integer
            } else if has("CHAR", "CLOB", "TEXT", "STRING") {
                .string
            } else if has("BLOB", "BINARY", "BYTEA") {
                .binary
            } else if has("REAL", "FLOA", "DOUB") {
                .float
            } else if has("NUMERIC", "DECIMAL") {
                .decimal
            } else {
                .other
            }
    }
}
