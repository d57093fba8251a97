internal import Metadata

/// Primary, unique and foreign keys from `SHOW PRIMARY|UNIQUE|IMPORTED KEYS` (cloud services, no warehouse), with
/// their column pairs.
///
/// SHOW lists a row per key column and has no ORDER BY, so the keys of one statement's scope (a database, or the
/// account in `account_usage` mode) are grouped in memory until it ends: a few rows per key, far fewer than columns.
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

    private struct KeyID: Hashable, Comparable {
        var database: String
        var schema: String
        var table: String
        var name: String

        static func < (lhs: KeyID, rhs: KeyID) -> Bool {
            (lhs.database, lhs.schema, lhs.table, lhs.name) < (rhs.database, rhs.schema, rhs.table, rhs.name)
        }
    }

    /// Runs `statement` (a SHOW … KEYS) and writes one constraint record per key whose table `admits`.
    static func read(
        _ kind: Constraint.Kind, client: SnowflakeSQLClient, statement: SnowflakeStatement, connection: QualifiedName,
        sink: any RecordSink, admits: (_ database: String, _ schema: String, _ table: String) -> Bool
    ) async throws {
        let foreign = kind == .foreignKey
        var pending: [KeyID: Pending] = [:]
        try await client.execute(statement) { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let prefix = foreign ? "fk_" : ""
            let database = try cells.string(prefix + "database_name")
            let schema = try cells.string(prefix + "schema_name")
            let table = try cells.string(prefix + "table_name")
            guard admits(database, schema, table) else { return }
            let id = KeyID(
                database: database, schema: schema, table: table,
                name: try cells.string(foreign ? "fk_name" : "constraint_name"))
            let position = Int(SnowflakeValues.int64(cells.optional("key_sequence")) ?? 0)
            var key = pending[id] ?? Pending()
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
            pending[id] = key
        }
        for (id, key) in pending.sorted(by: { $0.key < $1.key }) {
            let database = connection.appending(id.database)
            let schema = database.appending(id.schema)
            let table = schema.appending(id.table)
            var record = Constraint(
                kind: kind, qualifiedName: table.appending(marker: .constraint, id.name), name: id.name,
                database: database, schema: schema, table: table, columns: key.columns.sorted { $0.0 < $1.0 }.map(\.1))
            if foreign {
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
