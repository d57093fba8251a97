internal import Logging
internal import Metadata
internal import PostgresNIO

/// Reads one database over one connection, inside a read-only repeatable-read transaction so every
/// catalog query sees the same snapshot.
///
/// Each section (types, relations, columns, constraints, indexes, lineage, functions) is one query over all
/// schemas in scope, streamed row by row into the sink. A section that fails on the server (permission
/// denied, statement timeout) is rolled back to its savepoint and marks every schema in scope incomplete
/// with the reason; the other sections still run.
struct PostgresDatabaseReader {
    let connection: PostgresConnection
    let scope: ExtractionScope
    let sink: any RecordSink
    let logger: Logger
    let databaseName: QualifiedName

    /// One schema in scope.
    struct SchemaEntry {
        let oid: Int64
        let name: String
        let qualifiedName: QualifiedName
    }

    private(set) var schemas: [SchemaEntry] = []
    /// Schema name → reason it is incomplete.
    private(set) var incomplete: [String: String] = [:]
    private(set) var serverVersion: String?

    init(connection: PostgresConnection, scope: ExtractionScope, sink: any RecordSink, logger: Logger, database: String)
    {
        self.connection = connection
        self.scope = scope
        self.sink = sink
        self.logger = logger
        self.databaseName = scope.connectionName.appending(database)
    }

    /// Reads the whole database; returns its completeness entries.
    mutating func read(statementTimeoutSeconds: Int) async throws -> [Manifest.Completeness] {
        try await execute("SET statement_timeout = \(statementTimeoutSeconds * 1000)")
        try await execute("SET search_path = pg_catalog")
        try await execute("SET work_mem = '64MB'")
        try await execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try await readDatabase()
        try await readSchemas()
        schemaListRead = true
        if !schemas.isEmpty {
            let oids = PostgresBindings.oids(schemas.map(\.oid))
            markIncomplete(
                try await section("enum types", PostgresCatalogQueries.enumTypes, oids) { try emitEnumType($0) })
            markIncomplete(
                try await section("domain types", PostgresCatalogQueries.domainTypes, oids) { try emitDomainType($0) })
            markIncomplete(
                try await section("relations", PostgresCatalogQueries.relations, oids) { try emitRelation($0) })
            var columns = ColumnState()
            markIncomplete(
                try await section("columns", PostgresCatalogQueries.columns, oids) {
                    try emitColumn($0, state: &columns)
                })
            markIncomplete(
                try await section("constraints", PostgresCatalogQueries.constraints, oids) { try emitConstraint($0) })
            markIncomplete(try await section("indexes", PostgresCatalogQueries.indexes, oids) { try emitIndex($0) })
            markIncomplete(try await section("lineage", PostgresCatalogQueries.lineage, oids) { try emitLineage($0) })
            markIncomplete(
                try await section("functions", PostgresCatalogQueries.functions, oids) { try emitFunction($0) })
        }
        try? await execute("COMMIT")
        return completeness
    }

    /// Whether the list of schemas was read: the database-level entry, which lets consumers delete schemas
    /// that disappeared.
    private(set) var schemaListRead = false

    var completeness: [Manifest.Completeness] {
        let database = databaseName.parts.last ?? ""
        let databaseEntry = Manifest.Completeness(
            database: database, schema: nil, qualifiedName: databaseName, complete: schemaListRead,
            reason: schemaListRead ? nil : "the list of schemas could not be read")
        return [databaseEntry]
            + schemas.map {
                Manifest.Completeness(
                    database: database, schema: $0.name, qualifiedName: $0.qualifiedName,
                    complete: incomplete[$0.name] == nil, reason: incomplete[$0.name])
            }
            + incomplete.keys.filter { name in !schemas.contains { $0.name == name } }.sorted().map {
                Manifest.Completeness(
                    database: database, schema: $0, qualifiedName: databaseName.appending($0), complete: false,
                    reason: incomplete[$0])
            }
    }

    private func execute(_ sql: String) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    // MARK: Sections

    private mutating func readDatabase() async throws {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: PostgresCatalogQueries.database), logger: logger)
        for try await row in rows {
            var cells = Cells(row)
            let name = try cells.next(String.self)
            var record = Database(qualifiedName: databaseName, name: name)
            record.owner = try cells.next(String?.self)
            record.encoding = try cells.next(String?.self)
            record.collation = try cells.next(String?.self)
            record.sizeBytes = try cells.next(Int64?.self)
            record.comment = try cells.next(String?.self)
            serverVersion = try cells.next(String?.self)
            try sink.write(.database(record))
        }
    }

    private mutating func readSchemas() async throws {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: PostgresCatalogQueries.schemas), logger: logger)
        for try await row in rows {
            var cells = Cells(row)
            let oid = try cells.next(Int64.self)
            let name = try cells.next(String.self)
            guard scope.filters.admitsSchema(name) else { continue }
            let qualifiedName = databaseName.appending(name)
            var record = Schema(qualifiedName: qualifiedName, name: name, database: databaseName)
            record.owner = try cells.next(String?.self)
            let usable = try cells.next(Bool.self)
            record.comment = try cells.next(String?.self)
            try sink.write(.schema(record))
            if usable {
                schemas.append(SchemaEntry(oid: oid, name: name, qualifiedName: qualifiedName))
            } else {
                incomplete[name] = "permission denied: the role lacks USAGE on schema \(name)"
                logger.warning(
                    "postgres.schema.no_usage",
                    metadata: ["db.name": "\(databaseName.parts.last ?? "")", "db.schema": "\(name)"])
            }
        }
    }

    /// Runs one section query under a savepoint; returns why it failed, or nil.
    private func section(
        _ label: String, _ sql: String, _ bindings: PostgresBindings, _ emit: (PostgresRow) throws -> Void
    ) async throws -> String? {
        do {
            try await execute("SAVEPOINT outpost_section")
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            for try await row in rows {
                try emit(row)
            }
            try await execute("RELEASE SAVEPOINT outpost_section")
            return nil
        } catch let error as MetadataError {
            // The sink failed (disk full, …): that ends the whole extraction, not just one section.
            throw error
        } catch {
            let reason = "\(label) could not be read: " + PostgresErrorMapping.reason(error)
            logger.warning(
                "postgres.section.failed",
                metadata: ["db.name": "\(databaseName.parts.last ?? "")", "section": "\(label)", "reason": "\(reason)"])
            try? await execute("ROLLBACK TO SAVEPOINT outpost_section")
            return reason
        }
    }

    /// Marks every schema in scope incomplete, keeping the first reason each one got.
    private mutating func markIncomplete(_ reason: String?) {
        guard let reason else { return }
        for schema in schemas where incomplete[schema.name] == nil {
            incomplete[schema.name] = reason
        }
    }

    func schemaName(_ name: String) -> QualifiedName { databaseName.appending(name) }
}

extension PostgresBindings {
    /// Schema OIDs as an `int8[]` for `= ANY($1)`.
    static func oids(_ oids: [Int64]) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(oids)
        return bindings
    }
}

/// Sequential typed access to a row's cells.
struct Cells {
    private var iterator: PostgresRow.Iterator

    init(_ row: PostgresRow) {
        iterator = row.makeIterator()
    }

    mutating func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        guard let cell = iterator.next() else {
            throw ConnectorError(.queryFailed, "catalog query returned fewer columns than expected")
        }
        return try cell.decode(T.self)
    }
}
