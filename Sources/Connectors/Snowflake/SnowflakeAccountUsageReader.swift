internal import Logging
internal import Metadata
internal import SourceURLs

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Reads a whole account from `SNOWFLAKE.ACCOUNT_USAGE` (`mode=account_usage`): one statement per view for the whole
/// account, whatever the number of databases, plus the three SHOW … KEYS IN ACCOUNT (no warehouse).
///
/// Statements: DATABASES, SCHEMATA, TABLES joined with VIEWS, COLUMNS, FUNCTIONS, PROCEDURES, OBJECT_DEPENDENCIES
/// (lineage of views and materialized views), each with `DELETED IS NULL` and restricted to the databases (and, when
/// a schema filter leaves some out, schemas) in scope. ACCOUNT_USAGE is not filtered by the role's privileges and
/// lags by 45 minutes to 3 hours; it needs the SNOWFLAKE database's imported privileges or a SNOWFLAKE database role.
struct SnowflakeAccountUsageReader {
    let client: SnowflakeSQLClient
    let scope: ExtractionScope
    let sink: any RecordSink
    let logger: Logger
    /// The database named in the source URL, if any.
    let namedDatabase: String?

    /// Database → its schemas in scope, in name order.
    private var schemas: [String: [String]] = [:]
    /// Whether tags and policies are joined in: TAG_REFERENCES and POLICY_REFERENCES need SNOWFLAKE.GOVERNANCE_VIEWER,
    /// which a role may lack while it can read the rest; then they are left out with a warning.
    private var governance = true
    /// Materialized views' text by database, schema and name, from SHOW MATERIALIZED VIEWS IN ACCOUNT (no warehouse):
    /// ACCOUNT_USAGE.VIEWS has plain views only. Materialized views are few.
    private var materializedViewText: [String: String] = [:]
    private var databases: [String] = []
    private var incomplete: [String: String] = [:]
    /// Statements submitted ahead (`async=true`): the relations and the columns once the schemas are known, the rest
    /// once the columns are ready, so Snowflake runs each while the results before it are read.
    private let ahead: SnowflakeSubmissions

    init(
        client: SnowflakeSQLClient, scope: ExtractionScope, sink: any RecordSink, logger: Logger, namedDatabase: String?
    ) {
        self.client = client
        self.scope = scope
        self.sink = sink
        self.logger = logger
        self.namedDatabase = namedDatabase
        self.ahead = SnowflakeSubmissions(client: client)
    }

    private var filters: ExtractionFilters { scope.filters }
    private func wants(_ kinds: RecordKind...) -> Bool { kinds.contains { !filters.excludeKinds.contains($0) } }
    private static let view = SnowflakeCatalogQueries.accountUsage

    private func statement(_ sql: String, _ label: String, warehouse: Bool = true) -> SnowflakeStatement {
        SnowflakeStatement(
            sql: sql, label: "\(label) (account usage)", database: nil, schema: nil, usesWarehouse: warehouse)
    }

    /// Reads the account; returns the completeness entries.
    ///
    /// - Throws: `ConnectorError` `.permissionDenied` saying what to grant when the role cannot read ACCOUNT_USAGE.
    mutating func read() async throws -> [Manifest.Completeness] {
        do {
            let completeness = try await readAll()
            await ahead.cancelAll()
            return completeness
        } catch {
            await ahead.cancelAll()
            throw error
        }
    }

    private mutating func readAll() async throws -> [Manifest.Completeness] {
        try await readDatabases()
        guard !databases.isEmpty else { return [] }
        try await readSchemas()
        let definitions = !filters.excludeFields.contains(.definitions)
        let relationPredicate = predicate(database: "t.TABLE_CATALOG", schema: "t.TABLE_SCHEMA")
        let columnPredicate = predicate(database: "c.TABLE_CATALOG", schema: "c.TABLE_SCHEMA")
        // The two largest statements start now, the rest once the columns are ready (below).
        var first: [SnowflakeStatement] = []
        if wants(.table, .view, .materializedView) {
            first.append(
                statement(
                    Self.relationsSQL(predicate: relationPredicate, definitions: definitions, governance: governance),
                    "relations"))
        }
        if wants(.column) {
            first.append(statement(Self.columnsSQL(predicate: columnPredicate, governance: governance), "columns"))
        }
        await ahead.submit(first)
        if wants(.materializedView) && !filters.excludeFields.contains(.definitions) {
            markIncomplete(
                try await section("materialized views' text") { reader in
                    try await reader.readMaterializedViewText()
                })
        }
        let routinePredicates = [false, true].map { procedures in
            let column = procedures ? "PROCEDURE" : "FUNCTION"
            return predicate(database: "\(column)_CATALOG", schema: "\(column)_SCHEMA")
        }
        let keys = [
            (Constraint.Kind.primaryKey, "PRIMARY", "primary keys"), (.uniqueConstraint, "UNIQUE", "unique keys"),
            (.foreignKey, "IMPORTED", "foreign keys"),
        ].filter { !filters.excludeKinds.contains(Self.recordKind($0.0)) }
        // What follows the columns, submitted once they are ready.
        var later: [SnowflakeStatement] = []
        if wants(.function) {
            later += [false, true].map { procedures in
                statement(
                    Self.routinesSQL(predicate: routinePredicates[procedures ? 1 : 0], procedures: procedures),
                    procedures ? "procedures" : "functions")
            }
        }
        if wants(.lineageEdge) { later.append(statement(lineageSQL, "object dependencies")) }
        later += keys.map { statement("SHOW \($0.1) KEYS IN ACCOUNT", $0.2, warehouse: false) }
        let ahead = self.ahead
        let laterStatements = later
        if wants(.table, .view, .materializedView) {
            markIncomplete(
                try await withoutGovernanceIfRefused("relations") { reader in
                    let next =
                        reader.wants(.column)
                        ? [
                            reader.statement(
                                Self.columnsSQL(predicate: columnPredicate, governance: reader.governance), "columns")
                        ] : laterStatements
                    try await reader.readRelations(
                        predicate: relationPredicate, definitions: definitions,
                        whenReady: { await ahead.submit(next) })
                })
        }
        if wants(.column) {
            markIncomplete(
                try await withoutGovernanceIfRefused("columns") { reader in
                    try await reader.readColumns(
                        predicate: columnPredicate, whenReady: { await ahead.submit(laterStatements) })
                })
        }
        if wants(.function) {
            for procedures in [false, true] {
                let predicate = routinePredicates[procedures ? 1 : 0]
                markIncomplete(
                    try await section(procedures ? "procedures" : "functions") { reader in
                        try await reader.readRoutines(predicate: predicate, procedures: procedures)
                    })
            }
        }
        if wants(.lineageEdge) {
            markIncomplete(try await section("lineage") { reader in try await reader.readLineage() })
        }
        for (kind, show, label) in keys {
            markIncomplete(
                try await section(label) { reader in
                    let inScope = reader.schemas
                    let filters = reader.filters
                    try await SnowflakeKeys.read(
                        kind, submissions: reader.ahead,
                        statement: reader.statement("SHOW \(show) KEYS IN ACCOUNT", label, warehouse: false),
                        connection: reader.scope.connectionName, sink: reader.sink
                    ) { database, schema, table in
                        inScope[database]?.contains(schema) == true && filters.admitsTable(table)
                    }
                })
        }
        return completeness
    }

    private var completeness: [Manifest.Completeness] {
        databases.flatMap { database -> [Manifest.Completeness] in
            let databaseName = scope.connectionName.appending(database)
            return [
                Manifest.Completeness(database: database, schema: nil, qualifiedName: databaseName, complete: true)
            ]
                + (schemas[database] ?? []).map { schema in
                    let reason = incomplete[database + "\u{0}" + schema] ?? incomplete[""]
                    return Manifest.Completeness(
                        database: database, schema: schema, qualifiedName: databaseName.appending(schema),
                        complete: reason == nil, reason: reason)
                }
        }
    }

    /// Runs a section that joins tags and policies; when Snowflake refuses it for lack of access, runs it once more
    /// without them (nothing was written: a refusal comes before any row).
    private mutating func withoutGovernanceIfRefused(
        _ label: String, body: (inout SnowflakeAccountUsageReader) async throws -> Void
    ) async throws -> String? {
        guard governance else { return try await section(label, body: body) }
        do {
            try Task.checkCancellation()
            try await body(&self)
            return nil
        } catch let error as ConnectorError where (error.underlying as? SnowflakeFailure)?.isNotAuthorized == true {
            governance = false
            SnowflakeCatalogQueries.logGovernanceLeftOut(error, logger: logger)
            return try await section(label, body: body)
        }
    }

    /// A failing section marks every schema in scope incomplete (its statement covered the whole account).
    private mutating func markIncomplete(_ reason: String?) {
        guard let reason, incomplete[""] == nil else { return }
        incomplete[""] = reason
    }

    /// Runs one section; returns why Snowflake refused it (422, 408), or nil. Anything else ends the extraction.
    private mutating func section(
        _ label: String, body: (inout SnowflakeAccountUsageReader) async throws -> Void
    ) async throws -> String? {
        do {
            try Task.checkCancellation()
            try await body(&self)
            return nil
        } catch let error as ConnectorError where error.code == .queryFailed || error.code == .timeout {
            guard let failure = error.underlying as? SnowflakeFailure else { throw error }
            let reason = "the \(label) could not be read from ACCOUNT_USAGE: \(failure)"
            logger.warning(
                "snowflake.section.failed", metadata: ["section.name": "\(label)", "section.reason": "\(reason)"])
            return reason
        }
    }

    /// `DB IN (…)`, or per database `DB = 'D' AND SCHEMA IN (…)` when a schema filter leaves some schemas out.
    private func predicate(database: String, schema: String) -> String {
        let literal = SnowflakeValues.literal
        if filters.includeSchemas.isEmpty && filters.excludeSchemas.isEmpty {
            return "\(database) IN (" + databases.map(literal).joined(separator: ", ") + ")"
        }
        let parts = databases.compactMap { name -> String? in
            guard let list = schemas[name], !list.isEmpty else { return nil }
            return "(\(database) = \(literal(name)) AND \(schema) IN (" + list.map(literal).joined(separator: ", ")
                + "))"
        }
        return parts.isEmpty ? "FALSE" : "(" + parts.joined(separator: " OR ") + ")"
    }

    static func recordKind(_ kind: Constraint.Kind) -> RecordKind {
        switch kind {
        case .primaryKey: .primaryKey
        case .foreignKey: .foreignKey
        case .uniqueConstraint: .uniqueConstraint
        case .checkConstraint: .checkConstraint
        }
    }

    // MARK: Sections

    private mutating func readDatabases() async throws {
        let filters = self.filters
        let named = namedDatabase
        let sink = self.sink
        let connection = scope.connectionName
        var names: [String] = []
        var all: [String] = []
        do {
            try await client.execute(
                statement(
                    """
                    SELECT DATABASE_NAME, DATABASE_OWNER, COMMENT, CREATED, TYPE
                    FROM \(Self.view).DATABASES
                    WHERE DELETED IS NULL
                    ORDER BY DATABASE_NAME
                    """, "databases")
            ) { row, _ in
                var cells = SnowflakeCells(row)
                let name = try cells.string()
                all.append(name)
                guard filters.admitsDatabase(name), named == nil || !filters.includeDatabases.isEmpty || name == named
                else { return }
                // The account's own SNOWFLAKE database only when asked for.
                if name == "SNOWFLAKE" && filters.includeDatabases.isEmpty && named == nil { return }
                var record = Database(qualifiedName: connection.appending(name), name: name)
                record.owner = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
                record.comment = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
                record.createdAt = SnowflakeValues.timestamp(cells.optional())
                record.imported = (cells.optional() ?? "").uppercased().contains("IMPORTED")
                try sink.write(.database(record))
                names.append(name)
            }
        } catch let error as ConnectorError {
            guard let failure = error.underlying as? SnowflakeFailure, failure.isNotAuthorized else { throw error }
            let role = client.source.role ?? "the user's default role"
            throw ConnectorError(
                .permissionDenied,
                "mode=account_usage needs read access to SNOWFLAKE.ACCOUNT_USAGE, which \(role) lacks (\(failure)): "
                    + "GRANT DATABASE ROLE SNOWFLAKE.OBJECT_VIEWER TO ROLE \(client.source.role ?? "<role>") (or GRANT "
                    + "IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE), or use mode=information_schema",
                underlying: failure)
        }
        if let named, filters.includeDatabases.isEmpty, names.isEmpty {
            throw ConnectorError(
                .databaseNotFound,
                "database \"\(named)\" is not in SNOWFLAKE.ACCOUNT_USAGE.DATABASES (\(all.count) databases; "
                    + "ACCOUNT_USAGE lags by up to 3 hours): check the name as stored (unquoted names are upper case)")
        }
        databases = names
    }

    private mutating func readSchemas() async throws {
        let filters = self.filters
        let sink = self.sink
        let connection = scope.connectionName
        var found: [String: [String]] = [:]
        let sql = """
            SELECT CATALOG_NAME, SCHEMA_NAME, SCHEMA_OWNER, COMMENT
            FROM \(Self.view).SCHEMATA
            WHERE DELETED IS NULL AND CATALOG_NAME IN (\(databases.map(SnowflakeValues.literal).joined(separator: ", ")))
            ORDER BY CATALOG_NAME, SCHEMA_NAME
            """
        try await client.execute(statement(sql, "schemas")) { row, _ in
            var cells = SnowflakeCells(row)
            let database = try cells.string()
            let name = try cells.string()
            guard name != "INFORMATION_SCHEMA", filters.admitsSchema(name) else { return }
            let databaseName = connection.appending(database)
            var record = Schema(qualifiedName: databaseName.appending(name), name: name, database: databaseName)
            record.owner = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
            record.comment = cells.optional()
            try sink.write(.schema(record))
            found[database, default: []].append(name)
        }
        schemas = found
    }

    private static func key(_ database: String, _ schema: String, _ name: String) -> String {
        [database, schema, name].joined(separator: "\u{0}")
    }

    private mutating func readMaterializedViewText() async throws {
        var found: [String: String] = [:]
        let schemas = self.schemas
        let filters = self.filters
        try await client.execute(
            statement("SHOW MATERIALIZED VIEWS IN ACCOUNT", "materialized views", warehouse: false)
        ) { row, columns in
            let cells = SnowflakeNamedCells(row, columns)
            let database = try cells.string("database_name")
            let schema = try cells.string("schema_name")
            let name = try cells.string("name")
            guard schemas[database]?.contains(schema) == true, filters.admitsTable(name),
                let text = cells.optional("text"), !text.isEmpty
            else { return }
            found[Self.key(database, schema, name)] = text
        }
        materializedViewText = found
    }

    /// The TABLES statement (joined with VIEWS), with tags and policies joined in when `governance`.
    private static func relationsSQL(predicate: String, definitions: Bool, governance: Bool) -> String {
        """
        SELECT t.TABLE_CATALOG, t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_OWNER, t.IS_TRANSIENT,
               t.CLUSTERING_KEY, t.ROW_COUNT, t.BYTES, t.CREATED, t.LAST_ALTERED, t.COMMENT, t.IS_ICEBERG,
               t.IS_DYNAMIC, t.IS_HYBRID, \(definitions ? "v.VIEW_DEFINITION" : "NULL"),
               \(governance ? "g.TAGS, p.POLICIES" : "NULL, NULL")
        FROM \(Self.view).TABLES t
        LEFT JOIN \(Self.view).VIEWS v ON v.TABLE_ID = t.TABLE_ID AND v.DELETED IS NULL
        \(governance ? """
                LEFT JOIN \(SnowflakeCatalogQueries.tags(domain: "TABLE")) g
                       ON g.OBJECT_DATABASE = t.TABLE_CATALOG AND g.OBJECT_SCHEMA = t.TABLE_SCHEMA
                      AND g.OBJECT_NAME = t.TABLE_NAME
                LEFT JOIN \(SnowflakeCatalogQueries.policies(columns: false)) p
                       ON p.REF_DATABASE_NAME = t.TABLE_CATALOG AND p.REF_SCHEMA_NAME = t.TABLE_SCHEMA
                      AND p.REF_ENTITY_NAME = t.TABLE_NAME
                """ : "")
        WHERE t.DELETED IS NULL AND \(predicate)
        ORDER BY t.TABLE_CATALOG, t.TABLE_SCHEMA, t.TABLE_NAME
        """
    }

    private func readRelations(
        predicate: String, definitions: Bool, whenReady: @escaping @Sendable () async -> Void
    ) async throws {
        let sql = Self.relationsSQL(predicate: predicate, definitions: definitions, governance: governance)
        let sink = self.sink
        let filters = self.filters
        let connection = scope.connectionName
        let schemas = self.schemas
        let materializedViewText = self.materializedViewText
        try await ahead.execute(statement(sql, "relations"), whenReady: whenReady) { row, _ in
            var cells = SnowflakeCells(row)
            let database = try cells.string()
            let schemaText = try cells.string()
            let name = try cells.string()
            let tableType = try cells.string()
            guard schemas[database]?.contains(schemaText) == true, filters.admitsTable(name) else { return }
            let databaseName = connection.appending(database)
            var (record, _) = SnowflakeRecords.relation(
                &cells, tableType: tableType, name: name, schema: databaseName.appending(schemaText),
                database: databaseName)
            record.tags = try SnowflakeCatalogQueries.decode(cells.optional(), as: Tag.self)
            record.policies = try SnowflakeCatalogQueries.decode(cells.optional(), as: PolicyReference.self)
            if record.kind == .materializedView, definitions, record.definition == nil {
                record.definition = materializedViewText[Self.key(database, schemaText, name)]
            }
            try sink.write(.relation(record))
        }
    }

    /// The COLUMNS statement, with tags and policies joined in when `governance`.
    private static func columnsSQL(predicate: String, governance: Bool) -> String {
        """
        SELECT c.TABLE_CATALOG, c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.ORDINAL_POSITION, c.DATA_TYPE,
               c.CHARACTER_MAXIMUM_LENGTH, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION,
               c.IS_NULLABLE, c.COLUMN_DEFAULT, c.IS_IDENTITY, c.COLLATION_NAME, c.COMMENT,
               \(governance ? "g.TAGS, p.POLICIES" : "NULL, NULL")
        FROM \(Self.view).COLUMNS c
        \(governance ? """
            LEFT JOIN \(SnowflakeCatalogQueries.tags(domain: "COLUMN")) g
                   ON g.OBJECT_DATABASE = c.TABLE_CATALOG AND g.OBJECT_SCHEMA = c.TABLE_SCHEMA
                  AND g.OBJECT_NAME = c.TABLE_NAME AND g.COLUMN_NAME = c.COLUMN_NAME
            LEFT JOIN \(SnowflakeCatalogQueries.policies(columns: true)) p
                   ON p.REF_DATABASE_NAME = c.TABLE_CATALOG AND p.REF_SCHEMA_NAME = c.TABLE_SCHEMA
                  AND p.REF_ENTITY_NAME = c.TABLE_NAME AND p.REF_COLUMN_NAME = c.COLUMN_NAME
            """ : "")
        WHERE c.DELETED IS NULL AND \(predicate)
        ORDER BY c.TABLE_CATALOG, c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION
        """
    }

    private func readColumns(predicate: String, whenReady: @escaping @Sendable () async -> Void) async throws {
        let sql = Self.columnsSQL(predicate: predicate, governance: governance)
        let sink = self.sink
        let filters = self.filters
        let connection = scope.connectionName
        let schemas = self.schemas
        // Rows come table by table: the admission and the names of the last table are reused for its columns.
        var current:
            (
                database: String, schemaText: String, tableText: String,
                names: (database: QualifiedName, schema: QualifiedName, table: QualifiedName)?
            )?
        try await ahead.execute(statement(sql, "columns"), whenReady: whenReady) { row, _ in
            var cells = SnowflakeCells(row)
            let database = try cells.string()
            let schemaText = try cells.string()
            let tableText = try cells.string()
            if current?.database != database || current?.schemaText != schemaText || current?.tableText != tableText {
                let admitted = schemas[database]?.contains(schemaText) == true && filters.admitsTable(tableText)
                let databaseName = connection.appending(database)
                let schema = databaseName.appending(schemaText)
                current = (
                    database, schemaText, tableText,
                    admitted ? (databaseName, schema, schema.appending(tableText)) : nil
                )
            }
            guard let names = current?.names else { return }
            var record = try SnowflakeRecords.column(
                &cells, table: names.table, tableName: tableText, schema: names.schema, database: names.database)
            record.tags = try SnowflakeCatalogQueries.decode(cells.optional(), as: Tag.self)
            record.policies = try SnowflakeCatalogQueries.decode(cells.optional(), as: PolicyReference.self)
            try sink.write(.column(record))
        }
    }

    private static func routinesSQL(predicate: String, procedures: Bool) -> String {
        let prefix = procedures ? "PROCEDURE" : "FUNCTION"
        return """
            SELECT \(prefix)_CATALOG, \(prefix)_SCHEMA, \(prefix)_NAME, ARGUMENT_SIGNATURE, DATA_TYPE, \(prefix)_LANGUAGE,
                   \(prefix)_OWNER, COMMENT
            FROM \(Self.view).\(prefix)S
            WHERE DELETED IS NULL AND \(predicate)
            ORDER BY \(prefix)_CATALOG, \(prefix)_SCHEMA, \(prefix)_NAME, ARGUMENT_SIGNATURE
            """
    }

    private func readRoutines(predicate: String, procedures: Bool) async throws {
        let sql = Self.routinesSQL(predicate: predicate, procedures: procedures)
        let sink = self.sink
        let connection = scope.connectionName
        let schemas = self.schemas
        try await ahead.execute(statement(sql, procedures ? "procedures" : "functions")) { row, _ in
            var cells = SnowflakeCells(row)
            let database = try cells.string()
            let schemaText = try cells.string()
            guard schemas[database]?.contains(schemaText) == true else { return }
            let databaseName = connection.appending(database)
            try sink.write(
                .function(
                    try SnowflakeRecords.routine(
                        &cells, procedure: procedures, schema: databaseName.appending(schemaText),
                        database: databaseName)))
        }
    }

    /// Views' and materialized views' dependencies as Snowflake records them (by name or id), to tables, views and
    /// materialized views anywhere in the account.
    private var lineageSQL: String {
        """
        SELECT REFERENCING_DATABASE, REFERENCING_SCHEMA, REFERENCING_OBJECT_NAME, REFERENCING_OBJECT_DOMAIN,
               REFERENCED_DATABASE, REFERENCED_SCHEMA, REFERENCED_OBJECT_NAME, REFERENCED_OBJECT_DOMAIN
        FROM \(Self.view).OBJECT_DEPENDENCIES
        WHERE REFERENCING_DATABASE IN (\(databases.map(SnowflakeValues.literal).joined(separator: ", ")))
          AND REFERENCING_OBJECT_DOMAIN IN ('VIEW', 'MATERIALIZED VIEW')
        ORDER BY REFERENCING_DATABASE, REFERENCING_SCHEMA, REFERENCING_OBJECT_NAME, REFERENCED_DATABASE,
                 REFERENCED_SCHEMA, REFERENCED_OBJECT_NAME
        """
    }

    private func readLineage() async throws {
        let sql = lineageSQL
        let sink = self.sink
        let filters = self.filters
        let connection = scope.connectionName
        let schemas = self.schemas
        var last: QualifiedName?
        try await ahead.execute(statement(sql, "object dependencies")) { row, _ in
            var cells = SnowflakeCells(row)
            let database = try cells.string()
            let schemaText = try cells.string()
            let name = try cells.string()
            let domain = try cells.string().uppercased()
            guard schemas[database]?.contains(schemaText) == true, filters.admitsTable(name) else { return }
            let upstreamDatabase = try cells.string()
            let upstreamSchemaText = try cells.string()
            let upstreamName = try cells.string()
            let upstreamKind: RecordKind
            switch cells.optional()?.uppercased() ?? "" {
            case "VIEW": upstreamKind = .view
            case "MATERIALIZED VIEW": upstreamKind = .materializedView
            case let other where other.hasSuffix("TABLE"): upstreamKind = .table
            default: return  // a function, stage or sequence: no relation
            }
            let databaseName = connection.appending(database)
            let schema = databaseName.appending(schemaText)
            let upstreamSchema = connection.appending(upstreamDatabase).appending(upstreamSchemaText)
            let upstream = upstreamSchema.appending(upstreamName)
            let edge = LineageEdge(
                downstream: schema.appending(name), downstreamKind: domain == "VIEW" ? .view : .materializedView,
                upstream: upstream, upstreamSchema: upstreamSchema, upstreamKind: upstreamKind, name: upstreamName,
                database: databaseName, schema: schema, upstreamColumns: [])
            // By name and by id, Snowflake can list a dependency twice; the order puts the twins together.
            guard edge.qualifiedName != last else { return }
            last = edge.qualifiedName
            try sink.write(.lineageEdge(edge))
        }
    }
}
