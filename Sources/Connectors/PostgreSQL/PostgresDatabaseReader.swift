internal import Logging
internal import Metadata
internal import PostgresNIO
internal import SourceURLs

/// Reads one database over one read-only session.
///
/// Each section (types, relations, columns, constraints, indexes, lineage, functions) is one query over all
/// schemas in scope (relations: a few keyset batches), streamed row by row into the sink. A section that fails
/// on the server (permission denied, statement or lock timeout) marks every schema in scope incomplete with the
/// reason; the other sections still run.
///
/// Sections run as separate statements, not in one snapshot transaction: deparsing a view locks it and every
/// relation it reads until the transaction ends, so a long transaction would hold thousands of locks, block
/// the customer's DDL for the whole extraction and, on large catalogs, exhaust the lock table. The price is
/// that an object created or dropped during the seconds an extraction takes may appear in one section and not
/// in another; consumers already treat references to absent objects as dangling, not as errors.
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
        try await execute("SET lock_timeout = \(min(statementTimeoutSeconds, 10) * 1000)")
        try await execute("SET default_transaction_read_only = on")
        try await execute("SET search_path = pg_catalog")
        try await execute("SET work_mem = '64MB'")
        try await readDatabase()
        try await readSchemas()
        schemaListRead = true
        if !schemas.isEmpty {
            let oids = PostgresBindings.oids(schemas.map(\.oid))
            markIncomplete(
                try await section("enum types") {
                    try await stream(PostgresCatalogQueries.enumTypes, oids) { try emitEnumType($0) }
                })
            markIncomplete(
                try await section("domain types") {
                    try await stream(PostgresCatalogQueries.domainTypes, oids) { try emitDomainType($0) }
                })
            markIncomplete(try await section("relations") { try await readRelations(schemaOIDs: schemas.map(\.oid)) })
            var columns = ColumnState()
            markIncomplete(
                try await section("columns") {
                    try await stream(PostgresCatalogQueries.columns, oids) { try emitColumn($0, state: &columns) }
                })
            markIncomplete(
                try await section("constraints") {
                    try await stream(PostgresCatalogQueries.constraints, oids) { try emitConstraint($0) }
                })
            markIncomplete(
                try await section("indexes") {
                    try await stream(PostgresCatalogQueries.indexes, oids) { try emitIndex($0) }
                })
            markIncomplete(
                try await section("lineage") {
                    try await stream(PostgresCatalogQueries.lineage, oids) { try emitLineage($0) }
                })
            markIncomplete(
                try await section("functions") {
                    try await stream(PostgresCatalogQueries.functions, oids) { try emitFunction($0) }
                })
        }
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

    /// Relations in keyset batches of `relationBatchSize`, so each statement's locks stay bounded.
    private func readRelations(schemaOIDs: [Int64]) async throws {
        var lastOID: Int64 = 0
        while true {
            var bindings = PostgresBindings.oids(schemaOIDs)
            bindings.append(lastOID)
            bindings.append(Int64(Self.relationBatchSize))
            var count = 0
            try await stream(PostgresCatalogQueries.relations, bindings) { row in
                lastOID = try emitRelation(row)
                count += 1
            }
            if count < Self.relationBatchSize { return }
        }
    }

    static let relationBatchSize = 1000

    /// Runs one query and hands every row to `emit`.
    private func stream(
        _ sql: String, _ bindings: PostgresBindings, _ emit: (PostgresRow) throws -> Void
    )
        async throws
    {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await row in rows {
            try emit(row)
        }
    }

    /// Runs one section; returns why it failed on the server, or nil.
    ///
    /// Server-side failures (permissions, timeouts) are the source's state and make the section incomplete.
    /// Anything else — the sink failing, cancellation, rows this code cannot decode — ends the extraction: a
    /// bug or a stopped job must not masquerade as a partial catalog.
    private func section(_ label: String, _ body: () async throws -> Void) async throws -> String? {
        do {
            try Task.checkCancellation()
            try await body()
            return nil
        } catch let error as MetadataError {
            throw error
        } catch let error as ConnectorError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as PostgresDecodingError {
            throw ConnectorError(
                .queryFailed, "cannot decode the \(label) of \(databaseName.parts.last ?? ""): \(error.code)",
                underlying: error)
        } catch {
            let reason = "\(label) could not be read: " + PostgresErrorMapping.reason(error)
            logger.warning(
                "postgres.section.failed",
                metadata: [
                    "db.name": "\(databaseName.parts.last ?? "")", "section.name": "\(label)",
                    "section.reason": "\(reason)",
                ])
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
