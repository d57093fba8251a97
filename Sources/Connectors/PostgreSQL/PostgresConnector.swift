public import Logging
public import Metadata
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
internal import PostgresNIO
public import SourceURLs

/// Extracts the metadata of a PostgreSQL server (12 through 17): every database the role can connect to, or
/// the one named in the URL, filtered by the scope.
///
/// Per database it opens one connection and runs a fixed number of catalog queries (see
/// `PostgresCatalogQueries`), streaming rows into the sink, so time grows linearly and memory stays flat
/// with catalog size. Databases are read one after another.
public struct PostgresConnector: Connector {
    public var sourceKind: String { "postgresql" }
    public var source: PostgresSource
    /// Closes a connection that is not encrypted when the server asks for the password in cleartext (the agent's
    /// default; `outpost extract` sends it as libpq does).
    public var refusesCleartextPassword = false

    public init(source: PostgresSource) {
        self.source = source
    }

    public func extract(scope: ExtractionScope, into sink: any RecordSink, logger: Logger) async throws -> SourceReport
    {
        let tls = try makeTLS()
        let firstDatabase = source.database ?? "postgres"
        let first = try await connect(database: firstDatabase, tls: tls, logger: logger)
        var databases: [String]
        do {
            if source.database != nil && scope.filters.includeDatabases.isEmpty {
                databases = [firstDatabase]
            } else {
                databases = []
                let rows = try await first.query(
                    PostgresQuery(unsafeSQL: PostgresCatalogQueries.connectableDatabases), logger: logger)
                for try await name in rows.decode(String.self) where scope.filters.admitsDatabase(name) {
                    databases.append(name)
                }
            }
        } catch {
            try? await first.close()
            throw ConnectorError(
                .queryFailed, "cannot list databases at \(source.location): \(PostgresErrorMapping.reason(error))",
                underlying: error)
        }
        var serverVersion: String?
        var completeness: [Manifest.Completeness] = []
        var reusable: PostgresConnection? = first
        for database in databases {
            try Task.checkCancellation()
            let connection: PostgresConnection
            if let open = reusable, database == firstDatabase {
                connection = open
                reusable = nil
            } else {
                do {
                    connection = try await connect(database: database, tls: tls, logger: logger)
                } catch let error as ConnectorError where databases.count > 1 {
                    // One unreadable database among several: report it, read the rest.
                    logger.warning(
                        "postgres.database.unreadable",
                        metadata: ["db.name": "\(database)", "db.error": "\(error)"])
                    completeness.append(
                        Manifest.Completeness(
                            database: database, schema: nil, qualifiedName: scope.connectionName.appending(database),
                            complete: false, reason: error.message))
                    continue
                }
            }
            logger.info("postgres.database.start", metadata: ["db.name": "\(database)"])
            var reader = PostgresDatabaseReader(
                connection: connection, scope: scope, sink: sink, logger: logger, database: database)
            do {
                completeness += try await reader.read(statementTimeoutSeconds: source.statementTimeoutSeconds)
            } catch let error where error is MetadataError || error is CancellationError || error is ConnectorError {
                // The sink failed, the job was cancelled, or the rows could not be decoded: stop, don't report
                // a partial catalog.
                try? await connection.close()
                try? await reusable?.close()
                throw error
            } catch {
                // The database could not be read fully (connection lost before or between catalog queries).
                let reason = PostgresErrorMapping.reason(error)
                completeness += reader.completeness.map { entry in
                    var entry = entry
                    if entry.complete || entry.schema == nil {
                        entry.complete = false
                        entry.reason = reason
                    }
                    return entry
                }
            }
            serverVersion = serverVersion ?? reader.serverVersion
            try? await connection.close()
        }
        try? await reusable?.close()
        return SourceReport(
            source: Manifest.Source(kind: sourceKind, serverVersion: serverVersion, location: source.location),
            connector: Manifest.Connector(name: "outpost-postgresql", version: ConnectorVersion.current),
            completeness: completeness)
    }

    public func check(logger: Logger) async throws -> String {
        let database = source.database ?? "postgres"
        let connection = try await connect(database: database, tls: try makeTLS(), logger: logger)
        let result: Result<String, any Error>
        do {
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT current_user::text, current_setting('server_version')"),
                logger: logger)
            var found: (String, String)?
            for try await row in rows.decode((String, String).self) { found = row }
            guard let (user, version) = found else {
                throw ConnectorError(.queryFailed, "the check query returned nothing")
            }
            result = .success(
                "connected to \(source.location)/\(database) as \(user) (PostgreSQL \(version), "
                    + "sslmode=\(source.tlsMode.rawValue))")
        } catch {
            result = .failure(
                ConnectorError(
                    .queryFailed,
                    "connected to \(source.location) but could not query it: \(PostgresErrorMapping.reason(error))",
                    underlying: error))
        }
        try? await connection.close()
        return try result.get()
    }

    private func connect(
        database: String, tls: PostgresConnection.Configuration.TLS, logger: Logger
    ) async throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        var eventLoop: (any EventLoop)?
        let refusal = CleartextPasswordGuard.Refusal()
        if let directory = source.socketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(source.port)", username: source.user,
                password: source.password, database: database)
        } else if refusesCleartextPassword && (source.tlsMode == .disable || source.tlsMode == .prefer) {
            // The connection may stay unencrypted: watch what the server asks for before the client answers.
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(Int64(source.connectTimeoutSeconds)))
                    .channelInitializer { [expectsSSL = source.tlsMode != .disable] channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                CleartextPasswordGuard(expectsSSLResponse: expectsSSL, refusal: refusal))
                        }
                    }
                    .connect(host: source.host, port: source.port).get()
            } catch {
                throw PostgresErrorMapping.connectError(error, source: source, database: database)
            }
            configuration = PostgresConnection.Configuration(
                establishedChannel: channel, tls: tls, username: source.user, password: source.password,
                database: database)
            eventLoop = channel.eventLoop
        } else {
            configuration = PostgresConnection.Configuration(
                host: source.host, port: source.port, username: source.user, password: source.password,
                database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(Int64(source.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", "outpost")]
        if source.tlsMode == .verifyFull {
            configuration.options.tlsServerName = source.host
        }
        do {
            if let eventLoop {
                return try await PostgresConnection.connect(
                    on: eventLoop, configuration: configuration, id: 1, logger: logger
                ).get()
            }
            return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        } catch {
            if refusal.happened {
                throw ConnectorError(
                    .authenticationFailed,
                    "\(source.location) asked for the password in cleartext over an unencrypted connection; it was "
                        + "not sent. Use TLS (sslmode=verify-full), SCRAM authentication on the server, or allow "
                        + "this source in the agent's policy.cleartextPasswordSources", underlying: error)
            }
            throw PostgresErrorMapping.connectError(error, source: source, database: database)
        }
    }

    private func makeTLS() throws -> PostgresConnection.Configuration.TLS {
        guard source.tlsMode != .disable else { return .disable }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch source.tlsMode {
        case .disable, .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        if let path = source.rootCertificatePath {
            configuration.trustRoots = .file(path)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConnectorError(
                .tls, "cannot set up TLS (sslrootcert \(source.rootCertificatePath ?? "none")): \(error)",
                underlying: error)
        }
        return source.tlsMode == .prefer ? .prefer(context) : .require(context)
    }
}
