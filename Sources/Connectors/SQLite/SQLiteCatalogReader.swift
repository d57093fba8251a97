internal import Logging
internal import Metadata

/// Walks one SQLite file's catalog and writes its records, one relation at a time.
///
/// Each relation's records are gathered before they are written, so a pragma that fails halfway still lets
/// the relation's readable part through and the failure is reported as incompleteness, not as an error; a
/// failing sink, on the other hand, ends the extraction. Only one relation is ever held in memory.
final class SQLiteCatalogReader {
    private let database: SQLiteDatabase
    private let filters: ExtractionFilters
    private let sink: any RecordSink
    private let logger: Logger
    private let databaseName: String
    private let databaseQualifiedName: QualifiedName
    private let schemaQualifiedName: QualifiedName
    private let lineage: SQLiteLineageReader

    private let relations: SQLiteStatement
    private let columns: SQLiteStatement
    private let foreignKeys: SQLiteStatement
    private let indexList: SQLiteStatement
    private let indexColumns: SQLiteStatement
    private let indexSQL: SQLiteStatement
    /// Nil when the file has never been `ANALYZE`d.
    private let statistics: SQLiteStatement?

    /// SQLite's schema of the file itself; temporary and attached schemas are not part of a file.
    static let schemaName = "main"

    init(
        database: SQLiteDatabase, scope: ExtractionScope, databaseName: String, sink: any RecordSink,
        logger: Logger
    ) throws {
        self.database = database
        self.filters = scope.filters
        self.sink = sink
        self.logger = logger
        self.databaseName = databaseName
        databaseQualifiedName = scope.connectionName.appending(databaseName)
        schemaQualifiedName = databaseQualifiedName.appending(Self.schemaName)
        lineage = try SQLiteLineageReader(database: database)
        // `sqlite_master` rather than its newer alias `sqlite_schema`, which SQLite before 3.33 lacks.
        // Names starting `sqlite_` are SQLite's own (statistics, sequences); users cannot create them.
        relations = try database.prepare(
            """
            SELECT type, name, sql FROM sqlite_master
            WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
            ORDER BY name
            """)
        // Pragma table-valued functions take the object name as a bound value, so no name is ever spliced.
        columns = try database.prepare(
            """
            SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid
            """)
        foreignKeys = try database.prepare(
            """
            SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?1, 'main')
            ORDER BY id DESC, seq
            """)
        indexList = try database.prepare(
            """
            SELECT name, "unique", origin, partial FROM pragma_index_list(?1, 'main') ORDER BY name
            """)
        indexColumns = try database.prepare(
            """
            SELECT cid, name, "desc" FROM pragma_index_xinfo(?1, 'main') WHERE key = 1 ORDER BY seqno
            """)
        indexSQL = try database.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
        let analyzed = try database.prepare(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        statistics = try analyzed.step() ? try database.prepare("SELECT stat FROM sqlite_stat1 WHERE tbl = ?1") : nil
    }

    /// Writes the database, its schema and every relation in scope; returns the schema's completeness.
    func read() throws -> [Manifest.Completeness] {
        try sink.write(.database(try databaseRecord()))
        guard filters.admitsSchema(Self.schemaName) else {
            return [
                Manifest.Completeness(
                    database: databaseName, schema: nil, qualifiedName: databaseQualifiedName, complete: true)
            ]
        }
        try sink.write(
            .schema(Schema(qualifiedName: schemaQualifiedName, name: Self.schemaName, database: databaseQualifiedName)))
        var failures: [String] = []
        try relations.bind()
        while try relations.step() {
            try Task.checkCancellation()
            guard let name = relations.text(1), filters.admitsTable(name) else { continue }
            let isView = relations.text(0) == "view"
            let sql = relations.text(2) ?? ""
            var records: [MetadataRecord] = []
            do {
                if isView {
                    try readView(name, sql: sql, into: &records)
                } else {
                    try readTable(name, sql: sql, into: &records)
                }
            } catch {
                let failure = "\(isView ? "view" : "table") \(SQLiteConnector.quoted(name)): \(error)"
                logger.warning(
                    "relation could not be read fully",
                    metadata: ["connector.kind": "sqlite", "relation.name": "\(name)", "error": "\(error)"])
                failures.append(failure)
            }
            for record in records { try sink.write(record) }
        }
        let reason: String? =
            switch failures.count {
            case 0: nil
            case 1: failures[0]
            default: "\(failures.count) relations could not be read fully; first: \(failures[0])"
            }
        return [
            Manifest.Completeness(
                database: databaseName, schema: nil, qualifiedName: databaseQualifiedName, complete: true),
            Manifest.Completeness(
                database: databaseName, schema: Self.schemaName, qualifiedName: schemaQualifiedName,
                complete: failures.isEmpty, reason: reason),
        ]
    }

    private func databaseRecord() throws -> Database {
        var record = Database(qualifiedName: databaseQualifiedName, name: databaseName)
        let encoding = try database.prepare("PRAGMA encoding")
        if try encoding.step() { record.encoding = encoding.text(0) }
        let size = try database.prepare("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")
        if try size.step() { record.sizeBytes = size.int(0) }
        return record
    }

    // MARK: Relations

    private func readView(_ name: String, sql: String, into records: inout [MetadataRecord]) throws {
        let qualifiedName = schemaQualifiedName.appending(name)
        var relation = Relation(
            kind: .view, qualifiedName: qualifiedName, name: name, database: databaseQualifiedName,
            schema: schemaQualifiedName)
        // The query alone, like PostgreSQL's view definitions, so definitions compare across sources; the
        // whole statement when the header cannot be found.
        relation.definition = SQLiteSchemaSQL.viewQuery(sql) ?? sql
        records.append(.relation(relation))
        _ = try readColumns(of: qualifiedName, name, table: nil, into: &records)
        guard !filters.excludeKinds.contains(.lineageEdge) else { return }
        for upstream in try lineage.upstreams(ofView: name) {
            records.append(
                .lineageEdge(
                    LineageEdge(
                        downstream: qualifiedName, downstreamKind: .view,
                        upstream: schemaQualifiedName.appending(upstream.name), upstreamSchema: schemaQualifiedName,
                        upstreamKind: upstream.kind,
                        name: upstream.name, database: databaseQualifiedName, schema: schemaQualifiedName,
                        upstreamColumns: upstream.columns)))
        }
    }

    private func readTable(_ name: String, sql: String, into records: inout [MetadataRecord]) throws {
        let qualifiedName = schemaQualifiedName.appending(name)
        let isVirtual = SQLiteSchemaSQL.isVirtualTable(sql)
        // A virtual table's statement is its module's arguments, not column definitions.
        let definition = isVirtual ? SQLiteSchemaSQL.Table() : SQLiteSchemaSQL.table(sql)
        var relation = Relation(
            kind: .table, qualifiedName: qualifiedName, name: name, database: databaseQualifiedName,
            schema: schemaQualifiedName)
        relation.tableType = isVirtual ? .virtual : .base
        relation.persistence = "permanent"
        // Statistics are optional: a malformed `sqlite_stat1` costs the estimate, not the table.
        relation.rowEstimate = try? rowEstimate(of: name)
        records.append(.relation(relation))
        let primaryKey = try readColumns(
            of: qualifiedName, name, table: isVirtual ? nil : definition, into: &records)
        // SQLite allows duplicate constraint names and we invent names for unnamed ones: one namespace per table
        // keeps every constraint's qualified name unique.
        var constraintNames = ConstraintNames()
        if !primaryKey.isEmpty {
            let constraintName = constraintNames.claim(
                definition.namedConstraints.first { $0.kind == .primaryKey }?.name ?? "pk_\(name)")
            records.append(
                .constraint(
                    Constraint(
                        kind: .primaryKey, qualifiedName: qualifiedName.appending(marker: .constraint, constraintName),
                        name: constraintName, database: databaseQualifiedName, schema: schemaQualifiedName,
                        table: qualifiedName, columns: primaryKey)))
        }
        try readForeignKeys(
            of: qualifiedName, name, definition: definition, names: &constraintNames, into: &records)
        try readIndexes(of: qualifiedName, name, definition: definition, names: &constraintNames, into: &records)
        // Check constraints are not extracted: no pragma reports them, and SQLite keeps them only inside the
        // CREATE TABLE text, where an unnamed check has no name to give it a stable qualified name.
    }

    /// The largest row count `ANALYZE` recorded for the table or one of its indexes.
    private func rowEstimate(of table: String) throws -> Int64? {
        guard let statistics else { return nil }
        try statistics.bind(table)
        var estimate: Int64?
        while try statistics.step() {
            // `stat` starts with the number of rows, then per-column averages.
            guard let rows = statistics.text(0)?.split(separator: " ").first.flatMap({ Int64($0) }) else { continue }
            estimate = max(estimate ?? 0, rows)
        }
        return estimate
    }

    // MARK: Columns

    /// Appends the relation's columns; returns the primary key's columns in key order.
    ///
    /// - Parameter table: the parsed `CREATE TABLE` of a base table, for generation expressions and for
    ///   recognising a rowid alias; nil for views and virtual tables.
    private func readColumns(
        of relation: QualifiedName, _ name: String, table: SQLiteSchemaSQL.Table?,
        into records: inout [MetadataRecord]
    ) throws -> [String] {
        var primaryKey: [(position: Int64, column: String)] = []
        var ordinal = 0
        var rowidAliasCandidate: (index: Int, nativeType: String)?
        try columns.bind(name)
        while try columns.step() {
            let columnName = columns.text(0) ?? ""
            let hidden = columns.int(5) ?? 0
            // Hidden columns of virtual tables (an FTS table's own name, `rank`) are the module's plumbing.
            guard hidden != 1 else { continue }
            ordinal += 1
            let nativeType = columns.text(1) ?? ""
            var column = Column(
                qualifiedName: relation.appending(columnName), name: columnName, database: databaseQualifiedName,
                schema: schemaQualifiedName, table: relation, ordinal: ordinal, nativeType: nativeType,
                typeFamily: Column.TypeFamily(sqliteDeclaredType: nativeType), nullable: columns.int(2) == 0)
            if hidden == 2 || hidden == 3 {
                column.generatedExpression = table?.generatedExpression(of: columnName)
            } else {
                column.defaultExpression = columns.text(3)
            }
            if let position = columns.int(4), position > 0 {
                primaryKey.append((position, columnName))
                rowidAliasCandidate = (records.count, nativeType)
            }
            records.append(.column(column))
        }
        // An `INTEGER PRIMARY KEY` of a rowid table is the rowid itself and never NULL, although the pragma
        // reports it nullable (other primary key columns of rowid tables really do accept NULL).
        if let table, !table.withoutRowid, primaryKey.count == 1, let candidate = rowidAliasCandidate,
            candidate.nativeType.uppercased() == "INTEGER", case .column(var column) = records[candidate.index]
        {
            column.nullable = false
            records[candidate.index] = .column(column)
        }
        return primaryKey.sorted { $0.position < $1.position }.map(\.column)
    }

    // MARK: Keys and indexes

    private func readForeignKeys(
        of relation: QualifiedName, _ name: String, definition: SQLiteSchemaSQL.Table,
        names: inout ConstraintNames, into records: inout [MetadataRecord]
    ) throws {
        struct Row {
            var id: Int64
            var parent: String
            var from: String
            var to: String?
            var onUpdate: String
            var onDelete: String
        }
        var rows: [Row] = []
        try foreignKeys.bind(name)
        while try foreignKeys.step() {
            rows.append(
                Row(
                    id: foreignKeys.int(0) ?? 0, parent: foreignKeys.text(1) ?? "", from: foreignKeys.text(2) ?? "",
                    to: foreignKeys.text(3), onUpdate: foreignKeys.text(4) ?? "", onDelete: foreignKeys.text(5) ?? ""))
        }
        var unclaimed = definition.namedConstraints.filter { $0.kind == .foreignKey }
        // One row per column of a key, keys in declaration order (SQLite numbers the last-declared key 0).
        var groups: [[Row]] = []
        for row in rows {
            if let last = groups.last?.last, last.id == row.id {
                groups[groups.count - 1].append(row)
            } else {
                groups.append([row])
            }
        }
        for group in groups {
            guard let first = group.first else { continue }
            let parent = try lineage.relation(named: first.parent)?.name ?? first.parent
            let columns = group.map(\.from)
            var referencedColumns = group.compactMap(\.to)
            if referencedColumns.count != group.count {
                // `REFERENCES parent` without columns means the parent's primary key.
                referencedColumns = try primaryKeyColumns(of: parent)
            }
            let constraintName: String
            if let index = unclaimed.firstIndex(where: { named in
                named.columns.count == columns.count
                    && zip(named.columns, columns).allSatisfy { SQLiteSchemaSQL.sameName($0, $1) }
                    && named.referencedTable.map { SQLiteSchemaSQL.sameName($0, first.parent) } ?? true
            }) {
                constraintName = names.claim(unclaimed.remove(at: index).name)
            } else {
                constraintName = names.claim("fk_\(name)_" + columns.joined(separator: "_"))
            }
            var constraint = Constraint(
                kind: .foreignKey, qualifiedName: relation.appending(marker: .constraint, constraintName),
                name: constraintName, database: databaseQualifiedName, schema: schemaQualifiedName, table: relation,
                columns: columns)
            constraint.referencedTable = schemaQualifiedName.appending(parent)
            constraint.referencedColumns = referencedColumns
            constraint.onDelete = Self.referentialAction(first.onDelete)
            constraint.onUpdate = Self.referentialAction(first.onUpdate)
            // SQLite parses MATCH but always enforces simple matching.
            constraint.matchType = "simple"
            records.append(.constraint(constraint))
        }
    }

    private func primaryKeyColumns(of table: String) throws -> [String] {
        var key: [(Int64, String)] = []
        try columns.bind(table)
        while try columns.step() {
            if let position = columns.int(4), position > 0 { key.append((position, columns.text(0) ?? "")) }
        }
        return key.sorted { $0.0 < $1.0 }.map(\.1)
    }

    private static func referentialAction(_ action: String) -> String {
        switch action.uppercased() {
        case "RESTRICT": "restrict"
        case "CASCADE": "cascade"
        case "SET NULL": "setNull"
        case "SET DEFAULT": "setDefault"
        default: "noAction"
        }
    }

    /// Appends unique constraints, then indexes.
    ///
    /// Every index SQLite keeps is an index record, including those behind constraints: `UNIQUE` ones
    /// (`origin` u), which also become unique constraints, and the primary key's (`origin` pk, marked
    /// `primary`), as PostgreSQL reports its constraint indexes. A rowid table's `INTEGER PRIMARY KEY` is the
    /// table's own b-tree and has no index, so it has no index record.
    private func readIndexes(
        of relation: QualifiedName, _ name: String, definition: SQLiteSchemaSQL.Table,
        names: inout ConstraintNames, into records: inout [MetadataRecord]
    ) throws {
        struct Entry {
            var name: String
            var unique: Bool
            var origin: String
            var partial: Bool
        }
        var entries: [Entry] = []
        try indexList.bind(name)
        while try indexList.step() {
            entries.append(
                Entry(
                    name: indexList.text(0) ?? "", unique: indexList.int(1) == 1, origin: indexList.text(2) ?? "c",
                    partial: indexList.int(3) == 1))
        }
        var indexes: [MetadataRecord] = []
        for entry in entries {
            try indexSQL.bind(entry.name)
            // Indexes SQLite creates for constraints have no statement of their own.
            let sql = try indexSQL.step() ? indexSQL.text(0) : nil
            let expressions = sql.map(SQLiteSchemaSQL.indexKeys) ?? []
            var keys: [Index.Key] = []
            try indexColumns.bind(entry.name)
            while try indexColumns.step() {
                let position = keys.count
                let descending = indexColumns.int(2) == 1
                switch indexColumns.int(0) {
                case -2:
                    let expression = position < expressions.count ? expressions[position] : nil
                    keys.append(Index.Key(expression: expression, descending: descending))
                case -1:
                    keys.append(Index.Key(column: "rowid", descending: descending))
                default:
                    keys.append(Index.Key(column: indexColumns.text(1), descending: descending))
                }
            }
            if entry.origin == "u" {
                let columns = keys.compactMap(\.column)
                let constraintName = names.claim(
                    definition.namedConstraints.first { named in
                        named.kind == .unique && named.columns.count == columns.count
                            && zip(named.columns, columns).allSatisfy { SQLiteSchemaSQL.sameName($0, $1) }
                    }?.name ?? "uq_\(name)_" + columns.joined(separator: "_"))
                records.append(
                    .constraint(
                        Constraint(
                            kind: .uniqueConstraint,
                            qualifiedName: relation.appending(marker: .constraint, constraintName),
                            name: constraintName, database: databaseQualifiedName, schema: schemaQualifiedName,
                            table: relation, columns: columns)))
            }
            var index = Index(
                qualifiedName: relation.appending(marker: .index, entry.name), name: entry.name,
                database: databaseQualifiedName, schema: schemaQualifiedName, table: relation, keys: keys,
                unique: entry.unique)
            index.primary = entry.origin == "pk"
            index.predicate = entry.partial ? sql.flatMap(SQLiteSchemaSQL.indexPredicate) : nil
            // SQLite has one index structure.
            index.method = "btree"
            index.definition = sql
            indexes.append(.index(index))
        }
        records.append(contentsOf: indexes)
    }
}

/// Constraint names already given out within one table; a repeated name gets `_2`, `_3`, … appended.
struct ConstraintNames {
    private var used: Set<String> = []

    mutating func claim(_ name: String) -> String {
        var candidate = name
        var suffix = 2
        while used.contains(candidate) {
            candidate = "\(name)_\(suffix)"
            suffix += 1
        }
        used.insert(candidate)
        return candidate
    }
}
