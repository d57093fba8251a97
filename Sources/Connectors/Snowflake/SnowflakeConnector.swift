public import AsyncHTTPClient
public import Logging
public import Metadata
public import SourceURLs

/// Extracts the metadata of a Snowflake account over the SQL API v2: every database the role can see, or the one
/// named in the URL, filtered by the scope.
///
/// `SHOW DATABASES` (no warehouse) lists the databases; each admitted database is then read with a fixed number of
/// statements (see `SnowflakeDatabaseReader`), one database after another, rows streamed into the sink as they arrive,
/// so memory stays flat however large the account. The statements run, and the warehouse time they took, are logged
/// and written to the manifest.
public struct SnowflakeConnector: Connector {
    public var sourceKind: String { "snowflake" }
    public let source: SnowflakeSource
    let credentials: SnowflakeCredentials?
    /// Names Outpost, the connection and the run in Snowflake's query history (`parameters.query_tag`).
    public var queryTag: String
    var clientConfiguration: SnowflakeClientConfiguration
    /// The HTTP CONNECT proxy every request goes through (the agent's `network.proxy`, or `HTTPS_PROXY` for
    /// `outpost extract`); nil connects directly.
    public var proxy: HTTPClient.Configuration.Proxy?

    /// - Parameters:
    ///   - credentials: the private key or token; checked against the URL's authenticator when the extraction starts.
    ///   - queryTag: the `query_tag` of every statement; the default names Outpost only.
    public init(source: SnowflakeSource, credentials: SnowflakeCredentials?, queryTag: String = "outpost") {
        self.init(
            source: source, credentials: credentials, queryTag: queryTag,
            clientConfiguration: SnowflakeClientConfiguration())
    }

    init(
        source: SnowflakeSource, credentials: SnowflakeCredentials?, queryTag: String,
        clientConfiguration: SnowflakeClientConfiguration
    ) {
        self.source = source
        self.credentials = credentials
        self.queryTag = queryTag
        self.clientConfiguration = clientConfiguration
    }

    public func extract(scope: ExtractionScope, into sink: any RecordSink, logger: Logger) async throws -> SourceReport
    {
        let (client, http) = try makeClient(logger: logger)
        let result: Result<[Manifest.Completeness], any Error>
        do {
            result = .success(try await extract(client: client, scope: scope, sink: sink, logger: logger))
        } catch {
            result = .failure(error)
        }
        try? await http.shutdown()
        let usage = client.usage
        logger.info(
            "snowflake.extraction.usage",
            metadata: [
                "snowflake.statements": "\(usage.statements)",
                "snowflake.warehouse_statements": "\(usage.warehouseStatements)",
                "snowflake.warehouse_seconds": "\(Self.seconds(usage.warehouseTime))",
                "snowflake.partitions": "\(usage.partitions)", "snowflake.retries": "\(usage.retries)",
            ])
        let completeness = try result.get()
        return SourceReport(
            source: Manifest.Source(
                kind: sourceKind, location: source.location,
                usage: Manifest.Usage(
                    statements: usage.statements, warehouseStatements: usage.warehouseStatements,
                    warehouseSeconds: Self.seconds(usage.warehouseTime))),
            connector: Manifest.Connector(name: "outpost-snowflake", version: ConnectorVersion.current),
            completeness: completeness)
    }

    /// Authenticates and lists the databases the role can see (`SHOW DATABASES`: no warehouse runs), through the
    /// proxy when one is set.
    ///
    /// - Throws: `ConnectorError`: what the extraction would have failed with; `.databaseNotFound` when the URL
    ///   names a database the role cannot see.
    public func check(logger: Logger) async throws -> String {
        let (client, http) = try makeClient(logger: logger)
        var names: [String] = []
        let result: Result<Void, any Error>
        do {
            try await client.execute(
                SnowflakeStatement(
                    sql: SnowflakeCatalogQueries.showDatabases, label: "the list of databases", database: nil,
                    schema: nil, usesWarehouse: false)
            ) { row, columns in
                names.append(try SnowflakeNamedCells(row, columns).string("name"))
            }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try? await http.shutdown()
        try result.get()
        let reached =
            "authenticated at \(source.location) as \(source.user) (\(source.authenticator.rawValue)"
            + (source.role.map { ", role \($0)" } ?? "") + (proxy == nil ? "" : ", through the proxy") + ")"
        guard let database = source.database else {
            return reached + "; \(names.count) databases visible"
        }
        guard names.contains(database) || names.contains(database.uppercased()) else {
            throw ConnectorError(
                .databaseNotFound,
                reached + ", but \(database) is not among the \(names.count) databases the role can see: grant the "
                    + "role USAGE on it")
        }
        return reached + "; \(database) is among the \(names.count) databases visible"
    }

    /// The SQL API client of this source (credentials checked against the URL's authenticator, the query tag, the
    /// proxy) and its HTTP client, which the caller shuts down.
    private func makeClient(logger: Logger) throws -> (SnowflakeSQLClient, HTTPClient) {
        let authorization = try SnowflakeAuthorization(source: source, credentials: credentials)
        var configuration = clientConfiguration
        configuration.queryTag = String(queryTag.prefix(2000))
        let http = try SnowflakeSQLClient.makeHTTPClient(source: source, proxy: proxy)
        return (
            SnowflakeSQLClient(
                source: source, authorization: authorization, http: http, configuration: configuration, logger: logger),
            http
        )
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return (Double(seconds) + Double(attoseconds) / 1e18 * 1000).rounded() / 1000
    }

    /// One database as SHOW DATABASES lists it.
    struct DatabaseEntry {
        var name: String
        var owner: String?
        var comment: String?
        var origin: String?
        var kind: String?
        var createdAt: String?
        /// Asked for by name but not listed by SHOW DATABASES: the role cannot see it (or it does not exist); it is
        /// still tried, so the completeness entry carries Snowflake's own reason.
        var unlisted = false

        var imported: Bool { !(origin ?? "").isEmpty || (kind ?? "").uppercased().contains("IMPORTED") }
        /// The account's own SNOWFLAKE database (ACCOUNT_USAGE and friends; the name is reserved): read only when
        /// asked for by name.
        var isSystem: Bool { name == "SNOWFLAKE" }
    }

    private func extract(
        client: SnowflakeSQLClient, scope: ExtractionScope, sink: any RecordSink, logger: Logger
    ) async throws -> [Manifest.Completeness] {
        if source.mode == .accountUsage {
            logger.info("snowflake.account_usage.start")
            var reader = SnowflakeAccountUsageReader(
                client: client, scope: scope, sink: sink, logger: logger, namedDatabase: source.database)
            return try await reader.read()
        }
        let databases = try await listDatabases(client: client, scope: scope)
        var completeness: [Manifest.Completeness] = []
        // Tags and policies are tried until the role turns out not to read them.
        var governance = true
        for entry in databases {
            try Task.checkCancellation()
            let databaseName = scope.connectionName.appending(entry.name)
            var record = Database(qualifiedName: databaseName, name: entry.name, owner: entry.owner)
            record.comment = entry.comment
            record.imported = entry.imported
            record.origin = entry.origin.flatMap { $0.isEmpty ? nil : $0 }
            record.createdAt = entry.createdAt
            if !entry.unlisted { try sink.write(.database(record)) }
            logger.info("snowflake.database.start", metadata: ["db.name": "\(entry.name)"])
            var reader = SnowflakeDatabaseReader(
                client: client, scope: scope, sink: sink, logger: logger, database: entry.name, governance: governance)
            let entries = try await reader.read()
            governance = reader.governance
            if entry.unlisted {
                if reader.schemaListRead {
                    try sink.write(.database(record))
                } else {
                    logger.warning(
                        "snowflake.database.unusable",
                        metadata: ["db.name": "\(entry.name)", "db.reason": "\(entries.first?.reason ?? "")"])
                }
            }
            completeness += entries
        }
        return completeness
    }

    private func listDatabases(client: SnowflakeSQLClient, scope: ExtractionScope) async throws -> [DatabaseEntry] {
        var entries: [DatabaseEntry] = []
        let filters = scope.filters
        let named = source.database
        let explicit = !filters.includeDatabases.isEmpty || named != nil
        do {
            try await client.execute(
                SnowflakeStatement(
                    sql: SnowflakeCatalogQueries.showDatabases, label: "the list of databases", database: nil,
                    schema: nil, usesWarehouse: false)
            ) { row, columns in
                let cells = SnowflakeNamedCells(row, columns)
                let name = try cells.string("name")
                let entry = DatabaseEntry(
                    name: name, owner: cells.optional("owner").flatMap { $0.isEmpty ? nil : $0 },
                    comment: cells.optional("comment").flatMap { $0.isEmpty ? nil : $0 },
                    origin: cells.optional("origin"), kind: cells.optional("kind"),
                    createdAt: SnowflakeValues.timestamp(cells.optional("created_on")))
                if entry.isSystem && !explicit { return }
                guard filters.admitsDatabase(name) else { return }
                entries.append(entry)
            }
        } catch let error as ConnectorError where error.underlying is SnowflakeFailure {
            throw ConnectorError(
                error.code, "cannot list the databases of \(source.location): \(error.message)",
                underlying: error.underlying)
        }
        // Databases asked for by exact name that SHOW DATABASES does not list are still tried: the role may lack
        // every privilege on them, and Snowflake's answer says so in the completeness entry.
        var wanted: [String] = []
        if let named, filters.includeDatabases.isEmpty {
            // The URL's database as stored, or, written unquoted-style, its upper-case twin.
            if let exact = entries.first(where: { $0.name == named }) { return [exact] }
            let folded = entries.filter { $0.name == named.uppercased() }
            if folded.count == 1 { return folded }
            wanted = [named]
        } else {
            wanted = filters.includeDatabases.compactMap(\.literalName).filter { name in
                filters.admitsDatabase(name) && !entries.contains { $0.name == name }
            }
        }
        for name in wanted {
            entries.append(DatabaseEntry(name: name, unlisted: true))
        }
        return entries
    }
}

extension NamePattern {
    /// The name a pattern matches when it matches exactly one (a glob without wildcards or escapes), else nil.
    var literalName: String? {
        let text = description
        guard !text.hasPrefix("re:"), !text.contains(where: { "*?[\\".contains($0) }) else { return nil }
        return text
    }
}
