import SourceURLs

/// Turns a source URL given on a command line or in a connection into the connector that reads it.
///
/// Schemes: `postgres://` and `postgresql://` (see `PostgresSource`), `sqlite:PATH` or `sqlite:///abs/path`,
/// `snowflake://` (see `SnowflakeSource`), `tableau://` (see `TableauSource`).
public enum SourceLocation {
    /// The schemes this build understands, for error messages.
    public static let supportedSchemes = ["postgres://", "postgresql://", "sqlite:", "snowflake://", "tableau://"]

    /// Parses `url` into a connector.
    ///
    /// - Parameters:
    ///   - username: a user name resolved from a secret store (dynamic database credentials); overrides the URL's.
    ///   - password: a password resolved from a file or secret store; overrides one in the URL or environment.
    ///   - environment: the process environment, for `PGUSER`/`PGPASSWORD`.
    ///   - snowflake: the private key or token of a `snowflake://` source.
    ///   - tableau: the personal access token of a `tableau://` source.
    ///   - queryTag: what a source that keeps a query history (Snowflake) records as each statement's tag.
    public static func resolve(
        _ url: String, username: String? = nil, password: String? = nil, environment: [String: String] = [:],
        snowflake: SnowflakeCredentials? = nil, tableau: TableauCredentials? = nil, queryTag: String? = nil
    ) throws -> ResolvedSource {
        guard let colon = url.firstIndex(of: ":") else {
            throw ConnectorError(
                .unknownScheme,
                "'\(PostgresSource.sanitize(url))' has no scheme: write \(supportedSchemes.joined(separator: ", "))")
        }
        let scheme = url[..<colon].lowercased()
        switch scheme {
        case "postgres", "postgresql":
            var source = try PostgresSource(url: url, environment: environment)
            if let username { source.user = username }
            if let password { source.password = password }
            let name = source.port == 5432 ? source.host : "\(source.host):\(source.port)"
            return ResolvedSource(
                connector: PostgresConnector(source: source), defaultConnectionName: name,
                passwordInURL: source.passwordCameFromURL)
        case "snowflake":
            let source = try SnowflakeSource(url: url)
            if password != nil || username != nil {
                throw ConnectorError(
                    .invalidSource,
                    "Snowflake sources take no password: use key-pair authentication or a token")
            }
            return ResolvedSource(
                connector: SnowflakeConnector(
                    source: source, credentials: snowflake, queryTag: queryTag ?? "outpost"),
                defaultConnectionName: source.account, passwordInURL: false)
        case "tableau":
            let source = try TableauSource(url: url)
            if password != nil || username != nil {
                throw ConnectorError(
                    .invalidSource, "Tableau sources take no password: use a personal access token (patName, patSecret)"
                )
            }
            return ResolvedSource(
                connector: TableauConnector(source: source, credentials: tableau),
                defaultConnectionName: source.site.isEmpty ? source.host : source.site, passwordInURL: false)
        case "sqlite":
            var path = String(url[url.index(after: colon)...])
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else {
                throw ConnectorError(.invalidSource, "sqlite: needs a file path, e.g. sqlite:./shop.db")
            }
            let fileName = path.split(separator: "/").last.map(String.init) ?? path
            let stem = fileName.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(
                separator: ".")
            return ResolvedSource(
                connector: SQLiteConnector(path: path), defaultConnectionName: stem.isEmpty ? fileName : stem,
                passwordInURL: false)
        default:
            throw ConnectorError(
                .unknownScheme,
                "unknown source scheme '\(scheme)': supported are \(supportedSchemes.joined(separator: ", "))")
        }
    }
}

/// A parsed source: its connector and what the command line needs to know about it.
public struct ResolvedSource: Sendable {
    public var connector: any Connector
    /// The host for PostgreSQL, the file name without extension for SQLite, the account identifier for Snowflake.
    public var defaultConnectionName: String
    /// True when the URL itself carried a password (visible in process lists: worth a warning).
    public var passwordInURL: Bool
}
