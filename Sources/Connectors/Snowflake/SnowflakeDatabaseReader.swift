internal import Logging
internal import Metadata
internal import SourceURLs

/// Reads one database's catalog from its `INFORMATION_SCHEMA` and SHOW commands, with a fixed number of statements.
///
/// Statements: SCHEMATA; TABLES joined with VIEWS; COLUMNS; FUNCTIONS; PROCEDURES (all on the warehouse, restricted to
/// the schemas in scope); `SHOW PRIMARY|UNIQUE|IMPORTED KEYS IN DATABASE` (cloud services, no warehouse). A section
/// Snowflake refuses (not authorised, timeout) marks the schemas it covers incomplete and the others still run; when a
/// section fails with "information schema query returned too much data" (090030) it is repeated one schema at a time
/// for this database only.
///
/// Tags and policy references come from ACCOUNT_USAGE, joined into the relations and columns statements (no statement
/// more); when the role cannot read them, those two statements run once more without them, a warning says what to
/// grant, and later databases of the extraction leave them out from the start (`governance`).
struct SnowflakeDatabaseReader {
    let client: SnowflakeSQLClient
    let scope: ExtractionScope
    let sink: any RecordSink
    let logger: Logger
    let database: String
    let databaseName: QualifiedName
    /// Whether tags and policy references are joined in; set to false when the role turns out not to read them.
    private(set) var governance: Bool

    /// Schemas in scope that the role can see, in name order.
    private(set) var schemas: [String] = []
    /// Schema name → why it is incomplete.
    private(set) var incomplete: [String: String] = [:]
    private(set) var schemaListRead = false
    /// Why the list of schemas could not be read, if it could not.
    private(set) var databaseReason: String?
    /// Views and materialized views read, by name, for the kinds of lineage upstreams.
    private var viewKinds: [QualifiedName: RecordKind] = [:]
    /// Tables read, as hashes of their names only: memory does not grow by a name per table. (A collision would make
    /// a name that is no relation an upstream of kind `table`, as an upstream outside this database is: harmless.)
    private var tableHashes: Set<Int> = []
    /// Statements submitted ahead (`async=true`) so that they run while earlier results are read.
    private let ahead: SnowflakeSubmissions
    /// Materialized views' text by schema and name: INFORMATION_SCHEMA.VIEWS has plain views only, so it comes from
    /// SHOW MATERIALIZED VIEWS (no warehouse) before the relations are read. Materialized views are few.
    private var materializedViewText: [String: [String: String]] = [:]
    /// Views' references found in their definitions; edges are written once every relation is known.
    private var viewReferences:
        [(view: QualifiedName, kind: RecordKind, schema: QualifiedName, references: [QualifiedName])] =
            []

    init(
        client: SnowflakeSQLClient, scope: ExtractionScope, sink: any RecordSink, logger: Logger, database: String,
        governance: Bool
    ) {
        self.governance = governance
        self.client = client
        self.scope = scope
        self.sink = sink
        self.logger = logger
        self.database = database
        self.databaseName = scope.connectionName.appending(database)
        self.ahead = SnowflakeSubmissions(client: client)
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
        await submitAhead(scopeAll)
        do {
            try await readSections(scopeAll)
        } catch {
            await cancelSubmitted()
            throw error
        }
        await cancelSubmitted()
        return completeness
    }

    /// Submits the warehouse statements of the sections that will run, so that Snowflake runs them while the
    /// results before them are read; a statement that cannot be submitted this way simply runs when its turn comes.
    private mutating func submitAhead(_ scope: SnowflakeCatalogQueries.SchemaScope) async {
        var statements: [(String, String)] = []
        let definitions = !filters.excludeFields.contains(.definitions) || wants(.lineageEdge)
        if wants(.table, .view, .materializedView, .lineageEdge) {
            statements.append(
                (
                    "relations",
                    SnowflakeCatalogQueries.relations(
                        database: database, scope: scope, definitions: definitions, governance: governance)
                ))
        }
        if wants(.column) {
            statements.append(
                (
                    "columns",
                    SnowflakeCatalogQueries.columns(database: database, scope: scope, governance: governance)
                ))
        }
        if wants(.function) {
            statements.append(("functions", SnowflakeCatalogQueries.functions(database: database, scope: scope)))
            statements.append(("procedures", SnowflakeCatalogQueries.procedures(database: database, scope: scope)))
        }
        await ahead.submit(statements.map { statement($0.1, $0.0) })
    }

    /// The SHOW … KEYS statements (no warehouse) of the sections that will run: submitted once the columns are
    /// ready, so that Snowflake answers them while the columns are read.
    private var keyStatements: [SnowflakeStatement] {
        [
            (RecordKind.primaryKey, "PRIMARY", "primary keys"), (.uniqueConstraint, "UNIQUE", "unique keys"),
            (.foreignKey, "IMPORTED", "foreign keys"),
        ].filter { wants($0.0) }.map {
            statement(SnowflakeCatalogQueries.showKeys($0.1, database: database), $0.2, warehouse: false)
        }
    }

    /// Cancels what was submitted ahead and not read (the extraction stopped first).
    private func cancelSubmitted() async {
        await ahead.cancelAll()
    }

    /// Runs `sql`, or reads the same statement submitted ahead; `whenReady` as in `SnowflakeSQLClient.execute`.
    private func execute(
        _ sql: String, _ label: String, whenReady: (@Sendable () async -> Void)? = nil,
        onRow: ([String?], SnowflakeColumns) throws -> Void
    ) async throws {
        try await ahead.execute(statement(sql, label), whenReady: whenReady, onRow: onRow)
    }

    private mutating func readSections(_ scopeAll: SnowflakeCatalogQueries.SchemaScope) async throws {
        let lineage = wants(.lineageEdge)
        if wants(.materializedView) && (!filters.excludeFields.contains(.definitions) || lineage) {
            markIncomplete(
                try await section("materialized views' text") { reader in
                    try await reader.readMaterializedViewText()
                })
        }
        if wants(.table, .view, .materializedView) || lineage {
            try await narrowable("relations", scopeAll) { reader, scope in
                try await reader.withoutGovernanceIfRefused { reader, governance in
                    try await reader.readRelations(scope, governance: governance)
                }
            }
            if lineage { try writeLineage() }
        }
        if wants(.column) {
            try await narrowable("columns", scopeAll) { reader, scope in
                try await reader.withoutGovernanceIfRefused { reader, governance in
                    try await reader.readColumns(scope, governance: governance)
                }
            }
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
                    try await reader.readKeys(.foreignKey)
                })
        }
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

    /// Runs a statement that joins tags and policies; when Snowflake refuses it, runs it once more without them (a
    /// refusal comes before any row). If that succeeds, the role cannot read ACCOUNT_USAGE's governance views: say
    /// what to grant and leave them out from now on. If it fails too, the refusal was not about them.
    private mutating func withoutGovernanceIfRefused(
        _ body: (inout SnowflakeDatabaseReader, _ governance: Bool) async throws -> Void
    ) async throws {
        guard governance else { return try await body(&self, false) }
        do {
            try await body(&self, true)
        } catch let error as ConnectorError where (error.underlying as? SnowflakeFailure)?.isNotAuthorized == true {
            try await body(&self, false)
            governance = false
            SnowflakeCatalogQueries.logGovernanceLeftOut(error, logger: logger)
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

    private mutating func readRelations(
        _ schemaScope: SnowflakeCatalogQueries.SchemaScope, governance: Bool
    ) async throws {
        let definitions = !filters.excludeFields.contains(.definitions) || wants(.lineageEdge)
        let sql = SnowflakeCatalogQueries.relations(
            database: database, scope: schemaScope, definitions: definitions, governance: governance)
        let lineage = wants(.lineageEdge)
        var views: [QualifiedName: RecordKind] = [:]
        var tables: Set<Int> = []
        var references: [(QualifiedName, RecordKind, QualifiedName, [QualifiedName])] = []
        let context = (sink: sink, filters: filters, databaseName: databaseName)
        let connectionName = scope.connectionName
        let materializedViewText = self.materializedViewText
        let keepDefinitions = !filters.excludeFields.contains(.definitions)
        let inScope = Set(schemas)
        try await execute(sql, "relations") { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            guard inScope.contains(schemaText) else { return }
            let name = try cells.string()
            let schema = context.databaseName.appending(schemaText)
            let tableType = try cells.string()
            let kind = SnowflakeRecords.relationKind(tableType)
            // Every relation's kind, admitted or not: lineage may point at a relation the table filters leave out.
            if lineage {
                let qualifiedName = schema.appending(name)
                if kind == .table {
                    tables.insert(qualifiedName.hashValue)
                } else {
                    views[qualifiedName] = Self.recordKind(kind)
                }
            }
            guard context.filters.admitsTable(name) else { return }
            var (record, definition) = SnowflakeRecords.relation(
                &cells, tableType: tableType, name: name, schema: schema, database: context.databaseName)
            record.tags = try SnowflakeCatalogQueries.decode(cells.optional(), as: Tag.self)
            record.policies = try SnowflakeCatalogQueries.decode(cells.optional(), as: PolicyReference.self)
            if kind == .materializedView, definition == nil, let text = materializedViewText[schemaText]?[name] {
                definition = text
                if keepDefinitions { record.definition = text }
            }
            if lineage, kind != .table, let definition {
                let found = SnowflakeViewReferences.references(
                    in: definition, connection: connectionName, database: context.databaseName.parts.last ?? "",
                    schema: schemaText)
                if !found.isEmpty { references.append((record.qualifiedName, Self.recordKind(kind), schema, found)) }
            }
            try context.sink.write(.relation(record))
        }
        viewKinds.merge(views) { $1 }
        if tableHashes.isEmpty { tableHashes = tables } else { tableHashes.formUnion(tables) }
        viewReferences += references.map { (view: $0.0, kind: $0.1, schema: $0.2, references: $0.3) }
    }

    /// Lineage edges from the references found in view definitions, to relations this extraction saw (or, outside
    /// this database, to relations by name).
    private mutating func writeLineage() throws {
        for entry in viewReferences {
            var seen: Set<QualifiedName> = []
            for upstream in entry.references where upstream != entry.view && seen.insert(upstream).inserted {
                let kind = viewKinds[upstream] ?? (tableHashes.contains(upstream.hashValue) ? .table : nil)
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

    private mutating func readColumns(_ scope: SnowflakeCatalogQueries.SchemaScope, governance: Bool) async throws {
        let sql = SnowflakeCatalogQueries.columns(database: database, scope: scope, governance: governance)
        let sink = self.sink
        let filters = self.filters
        let databaseName = self.databaseName
        // Rows come table by table: the admission and the names of the last table are reused for its columns.
        var current: (schemaText: String, tableText: String, names: (schema: QualifiedName, table: QualifiedName)?)?
        let inScope = Set(schemas)
        let ahead = self.ahead
        let keyStatements = self.keyStatements
        try await execute(sql, "columns", whenReady: { await ahead.submit(keyStatements) }) { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            let tableText = try cells.string()
            if current?.schemaText != schemaText || current?.tableText != tableText {
                let admitted = inScope.contains(schemaText) && filters.admitsTable(tableText)
                let schema = databaseName.appending(schemaText)
                current = (schemaText, tableText, admitted ? (schema, schema.appending(tableText)) : nil)
            }
            guard let names = current?.names else { return }
            var record = try SnowflakeRecords.column(
                &cells, table: names.table, tableName: tableText, schema: names.schema, database: databaseName)
            record.tags = try SnowflakeCatalogQueries.decode(cells.optional(), as: Tag.self)
            record.policies = try SnowflakeCatalogQueries.decode(cells.optional(), as: PolicyReference.self)
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
        try await execute(sql, procedures ? "procedures" : "functions") { row, _ in
            var cells = SnowflakeCells(row)
            let schemaText = try cells.string()
            guard inScope.contains(schemaText) else { return }
            let schema = databaseName.appending(schemaText)
            let record = try SnowflakeRecords.routine(
                &cells, procedure: procedures, schema: schema, database: databaseName)
            try sink.write(.function(record))
        }
    }

    private mutating func readMaterializedViewText() async throws {
        var found: [String: [String: String]] = [:]
        let inScope = Set(schemas)
        let filters = self.filters
        let sql = "SHOW MATERIALIZED VIEWS IN DATABASE \(SnowflakeValues.identifier(database))"
        try await client.execute(statement(sql, "materialized views", warehouse: false)) { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let schema = try cells.string("schema_name")
            let name = try cells.string("name")
            guard inScope.contains(schema), filters.admitsTable(name), let text = cells.optional("text"), !text.isEmpty
            else { return }
            found[schema, default: [:]][name] = text
        }
        materializedViewText = found
    }

    /// SHOW PRIMARY KEYS / SHOW UNIQUE KEYS / SHOW IMPORTED KEYS IN DATABASE (no warehouse).
    private mutating func readKeys(_ kind: Constraint.Kind) async throws {
        let (show, label) =
            switch kind {
            case .primaryKey: ("PRIMARY", "primary keys")
            case .uniqueConstraint: ("UNIQUE", "unique keys")
            default: ("IMPORTED", "foreign keys")
            }
        let admittedSchemas = Set(schemas)
        let filters = self.filters
        let database = self.database
        try await SnowflakeKeys.read(
            kind, submissions: ahead,
            statement: statement(SnowflakeCatalogQueries.showKeys(show, database: database), label, warehouse: false),
            connection: scope.connectionName, sink: sink
        ) { keyDatabase, schema, table in
            keyDatabase == database && admittedSchemas.contains(schema) && filters.admitsTable(table)
        }
    }

    static func recordKind(_ kind: Relation.Kind) -> RecordKind {
        switch kind {
        case .table: .table
        case .view: .view
        case .materializedView: .materializedView
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
