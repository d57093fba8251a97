#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Where and how to reach a Snowflake account, parsed from a `snowflake://` URL.
///
/// `snowflake://USER@ACCOUNT[/DATABASE]?warehouse=WH[&role=ROLE][&endpoint=https://HOST[:PORT]][&sslrootcert=PATH]
/// [&mode=information_schema|account_usage][&authenticator=snowflake_jwt|oauth|programmatic_access_token]
/// [&statement_timeout=SECONDS]`.
///
/// The URL never carries a credential: the private key, its passphrase or the token come separately (files or
/// secret references), so a URL can be logged, stored in a connection and shown in a manifest as it is.
public struct SnowflakeSource: Sendable, CustomStringConvertible {
    /// Which catalog views an extraction reads.
    public enum Mode: String, Sendable, CaseIterable {
        /// Each database's `INFORMATION_SCHEMA` plus SHOW commands: real time, one fixed set of statements per
        /// database.
        case informationSchema = "information_schema"
        /// `SNOWFLAKE.ACCOUNT_USAGE`: one statement per view for the whole account, up to hours of latency.
        case accountUsage = "account_usage"
    }

    /// How the SQL API request is authenticated.
    public enum Authenticator: String, Sendable, CaseIterable {
        /// A JWT signed with the user's RSA private key (key-pair authentication).
        case keyPair = "snowflake_jwt"
        /// An OAuth access token issued by Snowflake or an external authorisation server.
        case oauth
        /// A programmatic access token (PAT) of the user.
        case programmaticAccessToken = "programmatic_access_token"

        /// The `X-Snowflake-Authorization-Token-Type` header value.
        public var tokenType: String {
            switch self {
            case .keyPair: "KEYPAIR_JWT"
            case .oauth: "OAUTH"
            case .programmaticAccessToken: "PROGRAMMATIC_ACCESS_TOKEN"
            }
        }
    }

    /// The login name as written in the URL.
    public var user: String
    /// The account identifier as written (`myorg-myacct`, `xy12345.eu-west-1`, `xy12345.us-east-2.aws`).
    public var account: String
    /// The account part of a key-pair JWT's `iss` and `sub`: upper case, without region or cloud.
    public var jwtAccount: String
    /// `https` unless the endpoint is a loopback `http://` address (tests).
    public var scheme: String
    /// The host requests go to: `<account>.snowflakecomputing.com`, or the endpoint's host.
    public var host: String
    public var port: Int
    /// The one database to read; nil reads every database the role can see.
    public var database: String?
    public var warehouse: String?
    public var role: String?
    /// A PEM bundle of trusted roots (a TLS-inspecting proxy's or a private CA), as for PostgreSQL.
    public var rootCertificatePath: String?
    public var mode: Mode
    public var authenticator: Authenticator
    /// The `timeout` of every statement, in seconds; a statement that runs longer is cancelled by Snowflake.
    public var statementTimeoutSeconds: Int

    /// Parses a `snowflake://` URL.
    ///
    /// - Throws: `ConnectorError` `.invalidSource` saying what is wrong and how to write it.
    public init(url text: String) throws {
        let example = "snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE"
        guard let schemeEnd = text.firstRange(of: "://"), text[..<schemeEnd.lowerBound].lowercased() == "snowflake"
        else {
            throw ConnectorError(.invalidSource, "'\(Self.sanitize(text))' is not a Snowflake URL: write \(example)")
        }
        let rest = text[schemeEnd.upperBound...]
        let beforeQuery = rest.firstIndex(of: "?").map { rest[..<$0] } ?? rest
        let query = rest.firstIndex(of: "?").map { rest[rest.index(after: $0)...] } ?? ""
        guard let at = beforeQuery.lastIndex(of: "@") else {
            throw ConnectorError(.invalidSource, "the Snowflake URL names no user: write \(example)")
        }
        let userPart = beforeQuery[..<at]
        if userPart.contains(":") {
            throw ConnectorError(
                .invalidSource,
                "do not put a password in a Snowflake URL; use key-pair authentication (--private-key-file or a "
                    + "privateKey secret) or a token (--token-secret or a token secret)")
        }
        guard let user = String(userPart).percentDecoded, !user.isEmpty else {
            throw ConnectorError(.invalidSource, "the user in the Snowflake URL is empty or badly %-encoded")
        }
        let hostAndPath = beforeQuery[beforeQuery.index(after: at)...]
        let accountText: Substring
        var database: String?
        if let slash = hostAndPath.firstIndex(of: "/") {
            accountText = hostAndPath[..<slash]
            let path = hostAndPath[hostAndPath.index(after: slash)...]
            if !path.isEmpty {
                guard let decoded = String(path).percentDecoded, !decoded.isEmpty else {
                    throw ConnectorError(.invalidSource, "the database in the Snowflake URL is badly %-encoded")
                }
                database = decoded
            }
        } else {
            accountText = hostAndPath
        }
        let account = try Self.parseAccount(String(accountText))
        self.user = user
        self.account = account
        self.jwtAccount = Self.jwtAccount(account)
        self.scheme = "https"
        self.host = Self.host(account)
        self.port = 443
        self.database = database
        self.mode = .informationSchema
        self.authenticator = .keyPair
        self.statementTimeoutSeconds = 600
        var seen: Set<String> = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: String
            let rawValue: Substring
            if let equals = item.firstIndex(of: "=") {
                name = String(item[..<equals])
                rawValue = item[item.index(after: equals)...]
            } else {
                name = String(item)
                rawValue = ""
            }
            guard let value = String(rawValue).replacing("+", with: " ").percentDecoded else {
                throw ConnectorError(.invalidSource, "URL parameter '\(name)' is badly %-encoded")
            }
            guard seen.insert(name).inserted else {
                throw ConnectorError(.invalidSource, "URL parameter '\(name)' is given twice")
            }
            try apply(name: name, value: value)
        }
    }

    private mutating func apply(name: String, value: String) throws {
        func nonEmpty() throws -> String {
            guard !value.isEmpty else { throw ConnectorError(.invalidSource, "URL parameter '\(name)' is empty") }
            return value
        }
        switch name {
        case "warehouse": warehouse = try nonEmpty()
        case "role": role = try nonEmpty()
        case "sslrootcert": rootCertificatePath = try nonEmpty()
        case "endpoint": try applyEndpoint(try nonEmpty())
        case "mode":
            guard let mode = Mode(rawValue: value.lowercased()) else {
                throw ConnectorError(
                    .invalidSource, "unknown mode '\(value)': use information_schema or account_usage")
            }
            self.mode = mode
        case "authenticator":
            guard let authenticator = Authenticator(rawValue: value.lowercased()) else {
                throw ConnectorError(
                    .invalidSource,
                    "unknown authenticator '\(value)': use snowflake_jwt (key pair), oauth or "
                        + "programmatic_access_token")
            }
            self.authenticator = authenticator
        case "statement_timeout":
            guard let seconds = Int(value), (1...604_800).contains(seconds) else {
                throw ConnectorError(
                    .invalidSource, "statement_timeout must be a number of seconds between 1 and 604800")
            }
            statementTimeoutSeconds = seconds
        case "password", "private_key", "private_key_file", "private_key_file_pwd", "private_key_passphrase",
            "token", "passcode":
            throw ConnectorError(
                .invalidSource,
                "do not put credentials in the Snowflake URL ('\(name)'); give them as files or secret references")
        default:
            throw ConnectorError(
                .invalidSource,
                "unknown URL parameter '\(name)': supported are warehouse, role, endpoint, sslrootcert, mode, "
                    + "authenticator, statement_timeout")
        }
    }

    /// `endpoint=https://HOST[:PORT]`: where requests go instead of the account's own host.
    private mutating func applyEndpoint(_ text: String) throws {
        let endpoint = try SourceEndpoint(parsing: text)
        (scheme, host, port) = (endpoint.scheme, endpoint.host, endpoint.port)
    }

    /// Validates an account identifier; a full `….snowflakecomputing.com` host is accepted and shortened.
    static func parseAccount(_ text: String) throws -> String {
        var account = text.lowercased()
        for suffix in [".snowflakecomputing.com", ".snowflakecomputing.cn"] where account.hasSuffix(suffix) {
            account.removeLast(suffix.count)
        }
        if account.hasSuffix(".privatelink") {
            throw ConnectorError(
                .invalidSource,
                "give the account identifier without .privatelink and the PrivateLink host as endpoint=https://HOST")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        guard !account.isEmpty, account.allSatisfy({ allowed.contains($0) }), !account.hasPrefix("."),
            !account.hasPrefix("-"), !account.hasSuffix("."), !account.contains("..")
        else {
            throw ConnectorError(
                .invalidSource,
                "'\(text)' is not a Snowflake account identifier: write ORGNAME-ACCOUNTNAME (myorg-myacct) or an "
                    + "account locator with its region (xy12345.eu-west-1)")
        }
        return account
    }

    /// `<account>.snowflakecomputing.com`; underscores in an account name become hyphens, as Snowflake's URLs
    /// require.
    static func host(_ account: String) -> String {
        account.replacing("_", with: "-") + ".snowflakecomputing.com"
    }

    /// The account part of a JWT as Snowflake's drivers derive it: upper case, and only the text before the first
    /// `.` (the locator without region and cloud), or before the first `-` for a `.global` identifier.
    static func jwtAccount(_ account: String) -> String {
        let separator: Character = account.contains(".global") ? "-" : "."
        let head = account.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return head.uppercased()
    }

    /// The user part of a JWT: the login name in upper case.
    public var jwtUser: String { user.uppercased() }

    private var endpoint: SourceEndpoint { SourceEndpoint(scheme: scheme, host: host, port: port) }

    /// `https://host[:port]`, the base every request URL starts with.
    public var baseURL: String { endpoint.baseURL }

    /// The account and host, the place shown in logs and manifests (no credentials).
    public var location: String { endpoint.location }

    public var description: String {
        "snowflake://\(user)@\(account)" + (database.map { "/\($0)" } ?? "")
    }

    /// Removes any `user:password@` part from text that may be a URL, for error messages.
    static func sanitize(_ text: String) -> String { PostgresSource.sanitize(text) }
}
