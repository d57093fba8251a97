internal import Metadata
internal import SourceURLs

/// Primary, unique and foreign keys from `SHOW PRIMARY|UNIQUE|IMPORTED KEYS` (cloud services, no warehouse), with
/// their column pairs.
///
/// SHOW lists a row per key column, the rows of one table together (by database, schema and table), so the keys of
/// one table are grouped and written as soon as the next table's rows begin: memory holds one table's keys, not the
/// statement's. Only a hash per table already written is kept, to notice a listing that breaks that order (the
/// section is then refused rather than written with split keys).
enum SnowflakeKeys {
    private struct Pending {
        var columns: [(Int, String)] = []
        var referencedTable: QualifiedName?
        var referencedColumns: [(Int, String)] = []
        var onDelete: String?
        var onUpdate: String?
        var deferrable: Bool?
        var initiallyDeferred: Bool?
        var comment: String?
    }

    private struct TableID: Hashable {
        var database: String
        var schema: String
        var table: String
    }

    /// The keys of the table being listed, by constraint name.
    private struct TableKeys {
        let table: TableID
        var keys: [String: Pending] = [:]
    }

    /// Runs `statement` (a SHOW … KEYS), or reads it if it was submitted ahead, and writes one constraint record per
    /// key whose table `admits`.
    ///
    /// - Throws: `ConnectorError` `.queryFailed` when a table's rows are not listed together.
    static func read(
        _ kind: Constraint.Kind, submissions: SnowflakeSubmissions, statement: SnowflakeStatement,
        connection: QualifiedName,
        sink: any RecordSink, admits: (_ database: String, _ schema: String, _ table: String) -> Bool
    ) async throws {
        let foreign = kind == .foreignKey
        var current: TableKeys?
        var written: Set<Int> = []
        func flush() throws {
            guard let done = current else { return }
            current = nil
            written.insert(done.table.hashValue)
            try write(done, kind: kind, connection: connection, sink: sink)
        }
        try await submissions.execute(statement) { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let prefix = foreign ? "fk_" : ""
            let table = TableID(
                database: try cells.string(prefix + "database_name"), schema: try cells.string(prefix + "schema_name"),
                table: try cells.string(prefix + "table_name"))
            if current?.table != table {
                try flush()
                guard admits(table.database, table.schema, table.table) else { return }
                guard !written.contains(table.hashValue) else {
                    throw ConnectorError(
                        .queryFailed,
                        "\(statement.label): Snowflake listed the keys of \(table.database).\(table.schema)."
                            + "\(table.table) in two places; they cannot be grouped without holding every key")
                }
                current = TableKeys(table: table)
            }
            let name = try cells.string(foreign ? "fk_name" : "constraint_name")
            let position = Int(SnowflakeValues.int64(cells.optional("key_sequence")) ?? 0)
            var key = current?.keys.removeValue(forKey: name) ?? Pending()
            key.columns.append((position, try cells.string(prefix + "column_name")))
            if foreign {
                key.referencedColumns.append((position, try cells.string("pk_column_name")))
                key.referencedTable = connection.appending(try cells.string("pk_database_name"))
                    .appending(try cells.string("pk_schema_name")).appending(try cells.string("pk_table_name"))
                key.onDelete = referentialAction(cells.optional("delete_rule"))
                key.onUpdate = referentialAction(cells.optional("update_rule"))
                let deferrability = cells.optional("deferrability")?.uppercased()
                key.deferrable = deferrability.map { !$0.hasPrefix("NOT") }
                key.initiallyDeferred = deferrability.map { $0 == "INITIALLY DEFERRED" }
            }
            key.comment = cells.optional("comment").flatMap { $0.isEmpty ? nil : $0 }
            current?.keys[name] = key
        }
        try flush()
    }

    /// One table's keys, in name order.
    private static func write(
        _ group: TableKeys, kind: Constraint.Kind, connection: QualifiedName, sink: any RecordSink
    ) throws {
        let database = connection.appending(group.table.database)
        let schema = database.appending(group.table.schema)
        let table = schema.appending(group.table.table)
        for (name, key) in group.keys.sorted(by: { $0.key < $1.key }) {
            var record = Constraint(
                kind: kind, qualifiedName: table.appending(marker: .constraint, name), name: name,
                database: database, schema: schema, table: table, columns: key.columns.sorted { $0.0 < $1.0 }.map(\.1))
            if kind == .foreignKey {
                record.referencedTable = key.referencedTable
                record.referencedColumns = key.referencedColumns.sorted { $0.0 < $1.0 }.map(\.1)
                record.onDelete = key.onDelete
                record.onUpdate = key.onUpdate
                record.deferrable = key.deferrable
                record.initiallyDeferred = key.initiallyDeferred
            }
            record.comment = key.comment
            try sink.write(.constraint(record))
        }
    }

    static func referentialAction(_ rule: String?) -> String? {
        switch rule?.uppercased() {
        case "NO ACTION": "noAction"
        case "RESTRICT": "restrict"
        case "CASCADE": "cascade"
        case "SET NULL": "setNull"
        case "SET DEFAULT": "setDefault"
        default: nil
        }
    }
}
