internal import Logging
internal import Metadata

/// Reads one database's catalog from its `INFORMATION_SCHEMA` and SHOW commands, with a fixed number of statements.
///
/// Statements: SCHEMATA; TABLES joined with VIEWS; COLUMNS; FUNCTIONS; PROCEDURES (all on the warehouse, restricted to
/// the schemas in scope); `SHOW PRIMARY|UNIQUE|IMPORTED KEYS IN DATABASE` (cloud services, no warehouse). A section
/// Snowflake refuses (not authorised, timeout) marks the schemas it covers incomplete and the others still run; when a
/// section fails with "information schema query returned too much data" (090030) it is repeated one schema at a time
/// for this database only.
struct SnowflakeDatabaseReader {
    let client: SnowflakeSQLClient
    let scope: ExtractionScope
    let sink: any RecordSink
    let logger: Logger
    let database: String
    let databaseName: QualifiedName

    /// Schemas in scope that the role can see, in name order.
    private(set) var schemas: [String] = []
    /// Schema name → why it is incomplete.
    private(set) var incomplete: [String: String] = [:]
    private(set) var schemaListRead = false
    /// Why the list of schemas could not be read, if it could not.
    private(set) var databaseReason: String?
    /// Every relation read, for the kinds of lineage upstreams.
    private var relationKinds: [QualifiedName: RecordKind] = [:]
    /// Views' references found in their definitions; edges are written once every relation is known.
    private var viewReferences:
        [(view: QualifiedName, kind: RecordKind, schema: QualifiedName, references: [QualifiedName])] =
            []

    init(client: SnowflakeSQLClient, scope: ExtractionScope, sink: any RecordSink, logger: Logger, database: String) {
        self.client = client
        self.scope = scope
        self.sink = sink
        self.logger = logger
        self.database = database
        self.databaseName = scope.connectionName.appending(database)
    }

    var completeness: [Manifest.Completeness] {
        let databaseEntry = Manifest.Completeness(
            database: database, schema: nil, qualifiedName: databaseName, complete: schemaListRead,
            reason: schemaListRead ? nil : databaseReason ?? "the list of schemas could not be read")
        return [databaseEntry]
            + schemas.map {
                Manifest.Completeness(
                    database: database, schema: $0, qualifiedName: databaseName.appending($0),
                    complete: incomplete[$0] == nil, reason: incomplete[$0])
            }
    }

    private var filters: ExtractionFilters { scope.filters }

    private func wants(_ kinds: RecordKind...) -> Bool { kinds.contains { !filters.excludeKinds.contains($0) } }

    // MARK: Reading

    /// Reads the database; returns its completeness entries.
    mutating func read() async throws -> [Manifest.Completeness] {
        if let reason = try await section("schemas", body: { reader in try await reader.readSchemas() }) {
            databaseReason = reason
            return completeness
        }
        schemaListRead = true
        guard !schemas.isEmpty else { return completeness }
        let allInScope = schemas.count == schemaCount
        let scopeAll: SnowflakeCatalogQueries.SchemaScope = allInScope ? .all : .only(schemas)
        let lineage = wants(.lineageEdge)
        if wants(.table, .view, .materializedView) || lineage {
            try await narrowable("relations", scopeAll) { reader, scope in try await reader.readRelations(scope) }
            if lineage { try writeLineage() }
        }
        if wants(.column) {
            try await narrowable("columns", scopeAll) { reader, scope in try await reader.readColumns(scope) }
        }
        if wants(.function) {
            try await narrowable("functions", scopeAll) { reader, scope in
                try await reader.readRoutines(scope, procedures: false)
            }
            try await narrowable("procedures", scopeAll) { reader, scope in
                try await reader.readRoutines(scope, procedures: true)
            }
        }
        if wants(.primaryKey) {
            markIncomplete(
                try await section("primary keys") { reader in
                    try await reader.readKeys(.primaryKey)
                })
        }
        if wants(.uniqueConstraint) {
            markIncomplete(
                try await section("unique keys") { reader in
                    try await reader.readKeys(.uniqueConstraint)
                })
        }
        if wants(.foreignKey) {
            markIncomplete(
                try await section("foreign keys") { reader in
                    try await reader.readForeignKeys()
                })
        }
        return completeness
    }

    /// How many schemas the database has besides INFORMATION_SCHEMA, admitted or not.
    private var schemaCount = 0

    /// Runs a section over every schema in scope; on "too much data" repeats it schema by schema.
    private mutating func narrowable(
        _ label: String, _ all: SnowflakeCatalogQueries.SchemaScope,
        _ body: (inout SnowflakeDatabaseReader, SnowflakeCatalogQueries.SchemaScope) async throws -> Void
    ) async throws {
        do {
            markIncomplete(try await section(label, tooMuchDataThrows: true) { try await body(&$0, all) })
        } catch let failure as SnowflakeFailure where failure.isTooMuchData && schemas.count > 1 {
            logger.info(
                "snowflake.section.narrowed",
                metadata: ["db.name": "\(database)", "section.name": "\(label)", "schema.count": "\(schemas.count)"])
            for schema in schemas {
                let reason = try await section("\(label) of schema \(schema)") {
                    try await body(&$0, .only([schema]))
                }
                if let reason, incomplete[schema] == nil { incomplete[schema] = reason }
            }
        }
    }

    /// Runs one section; returns why Snowflake refused it, or nil.
    ///
    /// Refusals (not authorised, statement timeout, any 422) are the account's state and make the section's schemas
    /// incomplete. Everything else — authentication, the service unreachable after retries, malformed answers, the
    /// sink failing, cancellation — ends the extraction. With `tooMuchDataThrows`, "too much data" is thrown as the
    /// `SnowflakeFailure` so the caller can narrow.
    private mutating func section(
        _ label: String, tooMuchDataThrows: Bool = false, body: (inout SnowflakeDatabaseReader) async throws -> Void
    ) async throws -> String? {
        do {
            try Task.checkCancellation()
            try await body(&self)
            return nil
        } catch let error as ConnectorError where error.code == .queryFailed || error.code == .timeout {
            guard let failure = error.underlying as? SnowflakeFailure else { throw error }
            if tooMuchDataThrows && failure.isTooMuchData { throw failure }
            let reason =
                failure.isNotAuthorized
                ? "permission denied: the \(label) could not be read (\(failure)); grant USAGE on the database and "
                    + "its schemas to the role"
                : "the \(label) could not be read: \(failure)"
            logger.warning(
                "snowflake.section.failed",
                metadata: ["db.name": "\(database)", "section.name": "\(label)", "section.reason": "\(reason)"])
            return reason
        }
    }

    private mutating func markIncomplete(_ reason: String?) {
        guard let reason else { return }
        for schema in schemas where incomplete[schema] == nil {
            incomplete[schema] = reason
        }
    }

    private func statement(_ sql: String, _ label: String, warehouse: Bool = true) -> SnowflakeStatement {
        SnowflakeStatement(
            sql: sql, label: "\(label) of database \(database)", database: database, schema: nil,
            usesWarehouse: warehouse)
    }

    private func schemaName(_ name: String) -> QualifiedName { databaseName.appending(name) }

    // MARK: Sections

    private mutating func readSchemas() async throws {
        var admitted: [String] = []
        var count = 0
        let sink = self.sink
        let filters = self.filters
        let databaseName = self.databaseName
        try await client.execute(statement(SnowflakeCatalogQueries.schemata(database: database), "schemas")) {
            row, _ in
            var cells = SnowflakeCells(row)
            let name = try cells.string()
            count += 1
            guard filters.admitsSchema(name) else { return }
            var record = Schema(qualifiedName: databaseName.appending(name), name: name, database: databaseName)
            record.owner = cells.optional()
            record.comment = cells.optional()
            try sink.write(.schema(record))
            admitted.append(name)
        }
        schemas = admitted
        schemaCount = count
    }

    private mutating func readRelations(_ schemaScope: SnowflakeCatalogQueries.SchemaScope) async throws {
        let definitions = !filters.excludeFields.contains(.definitions) || wants(.lineageEdge)
        let sql = SnowflakeCatalogQueries.relations(database: database, scope: schemaScope, definitions: definitions)
        let lineage = wants(.lineageEdge)
        var kinds: [QualifiedName: RecordKind] = [:]
        var references: [(QualifiedName, RecordKind, QualifiedName, [QualifiedName])] = []
        let context = (sink: sink, filters: filters, databaseName: databaseName)
        let connectionName = scope.connectionName
        let inScope = Set(schemas)
        try await client.execute(statement(sql, "relations")) { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            guard inScope.contains(schemaText) else { return }
            let name = try cells.string()
            let schema = context.databaseName.appending(schemaText)
            let tableType = try cells.string().uppercased()
            let kind: Relation.Kind =
                switch tableType {
                case "VIEW": .view
                case "MATERIALIZED VIEW": .materializedView
                default: .table
                }
            // Every relation's kind, admitted or not: lineage may point at a relation the table filters leave out.
            kinds[schema.appending(name)] = Self.recordKind(kind)
            guard context.filters.admitsTable(name) else { return }
            var record = Relation(
                kind: kind, qualifiedName: schema.appending(name), name: name, database: context.databaseName,
                schema: schema)
            record.owner = cells.optional()
            let transient = SnowflakeValues.bool(cells.optional()) ?? false
            record.clusteringKey = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
            let rows = SnowflakeValues.int64(cells.optional())
            let bytes = SnowflakeValues.int64(cells.optional())
            record.createdAt = SnowflakeValues.timestamp(cells.optional())
            record.lastAlteredAt = SnowflakeValues.timestamp(cells.optional())
            record.comment = cells.optional()
            let iceberg = SnowflakeValues.bool(cells.optional()) ?? false
            let dynamic = SnowflakeValues.bool(cells.optional()) ?? false
            let hybrid = SnowflakeValues.bool(cells.optional()) ?? false
            let definition = cells.optional()
            if kind == .table {
                record.rowEstimate = rows
                record.sizeBytes = bytes
                // tableType keeps format 1.0's closed vocabulary (an external table's data lives elsewhere, like a
                // foreign table's); Snowflake's own kind goes in the open sourceTableType.
                record.tableType = tableType == "EXTERNAL TABLE" ? .foreign : .base
                record.sourceTableType =
                    if tableType == "EXTERNAL TABLE" { "external" } else if tableType == "EVENT TABLE" {
                        "event"
                    } else if dynamic { "dynamic" } else if iceberg { "iceberg" } else if hybrid { "hybrid" } else {
                        nil
                    }
                record.persistence = tableType.contains("TEMPORARY") ? "temporary" : "permanent"
                if transient { record.transient = true }
            } else {
                record.definition = definition
            }
            if kind == .materializedView { record.sizeBytes = bytes }
            if lineage, kind != .table, let definition {
                let found = SnowflakeViewReferences.references(
                    in: definition, connection: connectionName, database: context.databaseName.parts.last ?? "",
                    schema: schemaText)
                if !found.isEmpty { references.append((record.qualifiedName, Self.recordKind(kind), schema, found)) }
            }
            try context.sink.write(.relation(record))
        }
        relationKinds.merge(kinds) { $1 }
        viewReferences += references.map { (view: $0.0, kind: $0.1, schema: $0.2, references: $0.3) }
    }

    /// Lineage edges from the references found in view definitions, to relations this extraction saw (or, outside
    /// this database, to relations by name).
    private mutating func writeLineage() throws {
        for entry in viewReferences {
            var seen: Set<QualifiedName> = []
            for upstream in entry.references where upstream != entry.view && seen.insert(upstream).inserted {
                let kind = relationKinds[upstream]
                // A name in a schema whose relations were all read that is no relation there is not a relation at all
                // (a function argument such as EXTRACT(YEAR FROM d), a misparse): no edge.
                let listed =
                    upstream.parts.count == 4 && upstream.parts[1] == database && schemas.contains(upstream.parts[2])
                    && incomplete[upstream.parts[2]] == nil
                if listed && kind == nil { continue }
                let upstreamSchema = QualifiedName(Array(upstream.parts.prefix(3)))
                try sink.write(
                    .lineageEdge(
                        LineageEdge(
                            downstream: entry.view, downstreamKind: entry.kind, upstream: upstream,
                            upstreamSchema: upstreamSchema, upstreamKind: kind ?? .table,
                            name: upstream.parts.last ?? "", database: databaseName, schema: entry.schema,
                            upstreamColumns: [])))
            }
        }
        viewReferences = []
    }

    private mutating func readColumns(_ scope: SnowflakeCatalogQueries.SchemaScope) async throws {
        let sql = SnowflakeCatalogQueries.columns(database: database, scope: scope)
        let sink = self.sink
        let filters = self.filters
        let databaseName = self.databaseName
        var admittedTable: (String, String, Bool)?
        let inScope = Set(schemas)
        try await client.execute(statement(sql, "columns")) { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            let tableText = try cells.string()
            let admitted: Bool
            if let known = admittedTable, known.0 == schemaText, known.1 == tableText {
                admitted = known.2
            } else {
                admitted = inScope.contains(schemaText) && filters.admitsTable(tableText)
                admittedTable = (schemaText, tableText, admitted)
            }
            guard admitted else { return }
            let schema = databaseName.appending(schemaText)
            let table = schema.appending(tableText)
            let name = try cells.string()
            guard let ordinal = SnowflakeValues.int64(cells.optional()) else {
                throw ConnectorError(.queryFailed, "a column of \(tableText) has no ORDINAL_POSITION")
            }
            let dataType = try cells.string()
            let length = SnowflakeValues.int64(cells.optional())
            let precision = SnowflakeValues.int64(cells.optional())
            let scale = SnowflakeValues.int64(cells.optional())
            let datetimePrecision = SnowflakeValues.int64(cells.optional())
            var record = Column(
                qualifiedName: table.appending(name), name: name, database: databaseName, schema: schema,
                table: table, ordinal: Int(ordinal),
                nativeType: SnowflakeValues.nativeType(
                    dataType: dataType, length: length, precision: precision, scale: scale,
                    datetimePrecision: datetimePrecision),
                typeFamily: SnowflakeValues.typeFamily(dataType: dataType, scale: scale), nullable: true)
            record.nullable = SnowflakeValues.bool(cells.optional()) ?? true
            record.defaultExpression = cells.optional()
            if SnowflakeValues.bool(cells.optional()) == true {
                // Snowflake's IDENTITY/AUTOINCREMENT accepts explicit values: BY DEFAULT in SQL-standard terms.
                record.identity = "byDefault"
                record.defaultExpression = nil
            }
            record.collation = cells.optional()
            record.comment = cells.optional()
            try sink.write(.column(record))
        }
    }

    private mutating func readRoutines(_ scope: SnowflakeCatalogQueries.SchemaScope, procedures: Bool) async throws {
        let sql =
            procedures
            ? SnowflakeCatalogQueries.procedures(database: database, scope: scope)
            : SnowflakeCatalogQueries.functions(database: database, scope: scope)
        let sink = self.sink
        let databaseName = self.databaseName
        let inScope = Set(schemas)
        try await client.execute(statement(sql, procedures ? "procedures" : "functions")) { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            guard inScope.contains(schemaText) else { return }
            let schema = databaseName.appending(schemaText)
            let name = try cells.string()
            let argumentSignature = cells.optional() ?? "()"
            let signature = name + argumentSignature
            let arguments =
                argumentSignature.hasPrefix("(") && argumentSignature.hasSuffix(")")
                ? String(argumentSignature.dropFirst().dropLast()) : argumentSignature
            var record = Function(
                qualifiedName: schema.appending(marker: .function, signature), name: name, database: databaseName,
                schema: schema, routineType: procedures ? "procedure" : "function", signature: signature,
                arguments: arguments, language: "")
            record.returnType = cells.optional()
            record.language = cells.optional()?.lowercased() ?? ""
            record.owner = cells.optional()
            record.comment = cells.optional()
            try sink.write(.function(record))
        }
    }

    /// One key's columns as SHOW lists them: a row per column.
    private struct PendingKey {
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
        var schema: String
        var table: String
        var name: String

        static func < (lhs: KeyID, rhs: KeyID) -> Bool {
            (lhs.schema, lhs.table, lhs.name) < (rhs.schema, rhs.table, rhs.name)
        }
    }

    /// SHOW PRIMARY KEYS / SHOW UNIQUE KEYS: rows per column, grouped per constraint (SHOW has no ORDER BY, so one
    /// database's keys are held until the statement ends).
    private mutating func readKeys(_ kind: Constraint.Kind) async throws {
        let sql = SnowflakeCatalogQueries.showKeys(kind == .primaryKey ? "PRIMARY" : "UNIQUE", database: database)
        var pending: [KeyID: PendingKey] = [:]
        let admittedSchemas = Set(schemas)
        let filters = self.filters
        try await client.execute(statement(sql, kind == .primaryKey ? "primary keys" : "unique keys", warehouse: false))
        { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let schema = try cells.string("schema_name")
            let table = try cells.string("table_name")
            guard admittedSchemas.contains(schema), filters.admitsTable(table) else { return }
            let id = KeyID(schema: schema, table: table, name: try cells.string("constraint_name"))
            let position = Int(SnowflakeValues.int64(cells.optional("key_sequence")) ?? 0)
            pending[id, default: PendingKey()].columns.append((position, try cells.string("column_name")))
            pending[id]?.comment = cells.optional("comment").flatMap { $0.isEmpty ? nil : $0 }
        }
        for (id, key) in pending.sorted(by: { $0.key < $1.key }) {
            let schema = schemaName(id.schema)
            let table = schema.appending(id.table)
            var record = Constraint(
                kind: kind, qualifiedName: table.appending(marker: .constraint, id.name), name: id.name,
                database: databaseName, schema: schema, table: table,
                columns: key.columns.sorted { $0.0 < $1.0 }.map(\.1))
            record.comment = key.comment
            try sink.write(.constraint(record))
        }
    }

    private mutating func readForeignKeys() async throws {
        let sql = SnowflakeCatalogQueries.showKeys("IMPORTED", database: database)
        var pending: [KeyID: PendingKey] = [:]
        let admittedSchemas = Set(schemas)
        let filters = self.filters
        let connection = scope.connectionName
        try await client.execute(statement(sql, "foreign keys", warehouse: false)) { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let schema = try cells.string("fk_schema_name")
            let table = try cells.string("fk_table_name")
            guard admittedSchemas.contains(schema), filters.admitsTable(table) else { return }
            let id = KeyID(schema: schema, table: table, name: try cells.string("fk_name"))
            let position = Int(SnowflakeValues.int64(cells.optional("key_sequence")) ?? 0)
            var key = pending[id] ?? PendingKey()
            key.columns.append((position, try cells.string("fk_column_name")))
            key.referencedColumns.append((position, try cells.string("pk_column_name")))
            key.referencedTable = connection.appending(try cells.string("pk_database_name"))
                .appending(try cells.string("pk_schema_name")).appending(try cells.string("pk_table_name"))
            key.onDelete = Self.referentialAction(cells.optional("delete_rule"))
            key.onUpdate = Self.referentialAction(cells.optional("update_rule"))
            let deferrability = cells.optional("deferrability")?.uppercased()
            key.deferrable = deferrability.map { !$0.hasPrefix("NOT") }
            key.initiallyDeferred = deferrability.map { $0 == "INITIALLY DEFERRED" }
            key.comment = cells.optional("comment").flatMap { $0.isEmpty ? nil : $0 }
            pending[id] = key
        }
        for (id, key) in pending.sorted(by: { $0.key < $1.key }) {
            let schema = schemaName(id.schema)
            let table = schema.appending(id.table)
            var record = Constraint(
                kind: .foreignKey, qualifiedName: table.appending(marker: .constraint, id.name), name: id.name,
                database: databaseName, schema: schema, table: table,
                columns: key.columns.sorted { $0.0 < $1.0 }.map(\.1))
            record.referencedTable = key.referencedTable
            record.referencedColumns = key.referencedColumns.sorted { $0.0 < $1.0 }.map(\.1)
            record.onDelete = key.onDelete
            record.onUpdate = key.onUpdate
            record.deferrable = key.deferrable
            record.initiallyDeferred = key.initiallyDeferred
            record.comment = key.comment
            try sink.write(.constraint(record))
        }
    }

    static func recordKind(_ kind: Relation.Kind) -> RecordKind {
        switch kind {
        case .table: .table
        case .view: .view
        case .materializedView: .materializedView
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

/// Sequential access to a row's cells by position (SELECTs, whose column order is ours).
struct SnowflakeCells {
    private let row: [String?]
    private var index = 0

    init(_ row: [String?]) {
        self.row = row
    }

    mutating func optional() -> String? {
        defer { index += 1 }
        return index < row.count ? row[index] : nil
    }

    mutating func string() throws -> String {
        guard index < row.count else {
            throw ConnectorError(.queryFailed, "a Snowflake catalog answer has fewer columns than expected")
        }
        guard let value = optional() else {
            throw ConnectorError(.queryFailed, "a Snowflake catalog answer has NULL where a name was expected")
        }
        return value
    }
}

/// Access to a row's cells by column name (SHOW output, whose columns Snowflake may extend).
struct SnowflakeNamedCells {
    private let row: [String?]
    private let columns: SnowflakeColumns

    init(_ row: [String?], _ columns: SnowflakeColumns) {
        self.row = row
        self.columns = columns
    }

    func optional(_ name: String) -> String? {
        guard let index = columns.index(name), index < row.count else { return nil }
        return row[index]
    }

    func string(_ name: String) throws -> String {
        guard let value = optional(name) else {
            throw ConnectorError(.queryFailed, "a Snowflake SHOW answer has no value for '\(name)'")
        }
        return value
    }
}
