#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Where and how to reach a PostgreSQL server, parsed from a libpq-style URL.
///
/// `postgres://[user[:password]@]host[:port][/database][?sslmode=…&sslrootcert=…&connect_timeout=…&host=/socket/dir]`.
/// A password in the URL works but is discouraged (it shows in process lists); the caller passes one resolved
/// from a file, `PGPASSWORD` or a secret reference instead. `description` never shows the password.
public struct PostgresSource: Sendable, CustomStringConvertible {
    /// libpq's `sslmode` values that change behaviour here.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it, without certificate checks (libpq's default).
        case prefer
        /// TLS required, without certificate checks.
        case require
        /// TLS required, certificate chain checked, host name not checked.
        case verifyCA = "verify-ca"
        /// TLS required, certificate chain and host name checked.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// A directory holding the server's socket (`?host=/var/run/postgresql`), instead of TCP.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    /// The database named in the URL; nil when the URL names none (then every connectable database is read).
    public var database: String?
    public var tlsMode: TLSMode
    /// Whether the URL said `sslmode` (otherwise `tlsMode` is libpq's default, `prefer`).
    public var tlsModeWasGiven = false
    /// A PEM bundle of trusted roots for `verify-ca` / `verify-full`.
    public var rootCertificatePath: String?
    public var connectTimeoutSeconds: Int
    /// Whether the password was written into the URL (rather than supplied separately).
    public var passwordCameFromURL = false
    /// Per-query limit; a catalog query that runs longer marks its schemas incomplete.
    public var statementTimeoutSeconds: Int

    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String? = nil,
        tlsMode: TLSMode = .prefer
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.connectTimeoutSeconds = 10
        self.statementTimeoutSeconds = 300
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    ///
    /// - Parameter environment: supplies `PGUSER` and `PGPASSWORD`-style defaults; pass the process environment.
    public init(url text: String, environment: [String: String] = [:]) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConnectorError(
                .invalidSource, "'\(Self.sanitize(text))' is not a PostgreSQL URL: write postgres://user@host:5432/db")
        }
        var host = components.host ?? ""
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        // URLComponents' decoded accessors already remove %-escapes; decode the raw forms exactly once.
        let user = components.percentEncodedUser.flatMap(\.percentDecoded) ?? environment["PGUSER"] ?? "postgres"
        let rawPath = components.percentEncodedPath
        let path = rawPath.percentDecoded ?? rawPath
        let database = path.count > 1 ? String(path.dropFirst()) : nil
        self.init(
            host: host.isEmpty ? "localhost" : host, port: components.port ?? 5432, user: user,
            password: components.percentEncodedPassword.flatMap(\.percentDecoded), database: database)
        passwordCameFromURL = password != nil
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                tlsModeWasGiven = true
                switch value {
                case "allow": tlsMode = .prefer
                default:
                    guard let mode = TLSMode(rawValue: value) else {
                        throw ConnectorError(
                            .invalidSource,
                            "unknown sslmode '\(value)': use disable, prefer, require, verify-ca or verify-full")
                    }
                    tlsMode = mode
                }
            case "sslrootcert": rootCertificatePath = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else {
                    throw ConnectorError(.invalidSource, "connect_timeout must be a positive number of seconds")
                }
                connectTimeoutSeconds = seconds
            case "statement_timeout":
                guard let seconds = Int(value), seconds > 0 else {
                    throw ConnectorError(.invalidSource, "statement_timeout must be a positive number of seconds")
                }
                statementTimeoutSeconds = seconds
            case "host" where value.hasPrefix("/"): socketDirectory = value
            case "host": self.host = value
            case "port":
                guard let number = Int(value), (1...65535).contains(number) else {
                    throw ConnectorError(.invalidSource, "port must be between 1 and 65535")
                }
                port = number
            case "user": self.user = value
            case "dbname": self.database = value
            case "password":
                throw ConnectorError(
                    .invalidSource, "do not put the password in the URL; use --password-file, PGPASSWORD or a secret")
            case "application_name", "options", "target_session_attrs", "sslcert", "sslkey", "sslcompression":
                throw ConnectorError(.invalidSource, "URL parameter '\(item.name)' is not supported")
            default:
                throw ConnectorError(
                    .invalidSource,
                    "unknown URL parameter '\(item.name)': supported are sslmode, sslrootcert, connect_timeout, "
                        + "statement_timeout, host, port, user, dbname")
            }
        }
        if password == nil, let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            password = fromEnvironment
        }
    }

    /// `host:port` (or the socket directory), the place shown in logs and manifests.
    public var location: String {
        if let socketDirectory { return socketDirectory }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public var description: String {
        "postgres://\(user)@\(location)" + (database.map { "/\($0)" } ?? "")
    }

    /// Removes any `user:password@` part from text that may be a URL, for error messages.
    ///
    /// Everything between `://` and the last `@` goes, even when the text does not parse as a URL (a password
    /// with `/` or `?` in it breaks parsing): over-redacting a database name is harmless, echoing a password is not.
    public static func sanitize(_ text: String) -> String {
        guard let separator = text.firstRange(of: "://"), let at = text[separator.upperBound...].lastIndex(of: "@")
        else {
            return text
        }
        return String(text[..<separator.upperBound]) + "***@" + String(text[text.index(after: at)...])
    }
}

extension String {
    /// The string with `%XX` escapes decoded; nil if an escape is malformed or the bytes are not UTF-8.
    ///
    /// Public because the agent's egress policy must decode source URLs exactly as the connector does.
    public var percentDecoded: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
