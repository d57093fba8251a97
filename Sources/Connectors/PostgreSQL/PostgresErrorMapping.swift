internal import NIOCore
internal import NIOPosix
internal import NIOSSL
internal import PostgresNIO
internal import SourceURLs

/// Turns postgres-nio and NIO errors into one-line, actionable `ConnectorError`s.
///
/// postgres-nio's own descriptions are deliberately generic (they may hide server details); the server's
/// SQLSTATE and message are what an operator needs, and they never contain the password.
enum PostgresErrorMapping {
    static func connectError(_ error: any Error, source: PostgresSource, database: String) -> ConnectorError {
        let place = source.location
        if let psql = error as? PSQLError {
            switch psql.code {
            case .server:
                let state = psql.serverInfo?[.sqlState] ?? ""
                let message = psql.serverInfo?[.message] ?? "server error"
                switch state {
                case "28P01":
                    return ConnectorError(
                        .authenticationFailed,
                        "password authentication failed for user \"\(source.user)\" at \(place): check the password "
                            + "source (--password-file, PGPASSWORD or the secret reference)", underlying: error)
                case "28000":
                    return ConnectorError(
                        .authenticationFailed,
                        "\(place) refused user \"\(source.user)\": \(message) (check pg_hba.conf and the role)",
                        underlying: error)
                case "3D000":
                    return ConnectorError(
                        .databaseNotFound,
                        "database \"\(database)\" does not exist at \(place): check the database name in the URL",
                        underlying: error)
                case "42501":
                    return ConnectorError(
                        .permissionDenied, "\(place): \(message) (grant CONNECT on the database)", underlying: error)
                case "53300":
                    return ConnectorError(.unreachable, "\(place): \(message); try again later", underlying: error)
                default:
                    return ConnectorError(.queryFailed, "\(place): \(message) (SQLSTATE \(state))", underlying: error)
                }
            case .sslUnsupported where !source.tlsModeWasGiven:
                return ConnectorError(
                    .tls,
                    "\(place) does not support TLS, and the agent reaches PostgreSQL with sslmode=\(source.tlsMode.rawValue) "
                        + "unless the source URL says otherwise: enable ssl on the server, or write sslmode=disable "
                        + "into the URL and allow the source in the agent's policy.unverifiedSources",
                    underlying: error)
            case .sslUnsupported:
                return ConnectorError(
                    .tls,
                    "\(place) does not support TLS but sslmode requires it: enable ssl on the server or use "
                        + "sslmode=prefer", underlying: error)
            case .authMechanismRequiresPassword:
                return ConnectorError(
                    .authenticationFailed,
                    "\(place) requires a password for user \"\(source.user)\": give --password-file, PGPASSWORD or "
                        + "--password-secret", underlying: error)
            case .unsupportedAuthMechanism:
                return ConnectorError(
                    .authenticationFailed,
                    "\(place) asked for an authentication method Outpost does not support "
                        + "(use scram-sha-256 or md5)", underlying: error)
            case .connectionError, .serverClosedConnection, .uncleanShutdown:
                return ConnectorError(
                    .unreachable, "cannot connect to PostgreSQL at \(place): \(reason(psql.underlying ?? error))",
                    underlying: error)
            case .failedToAddSSLHandler:
                return ConnectorError(.tls, "TLS setup failed for \(place): \(reason(error))", underlying: error)
            default:
                break
            }
        }
        return ConnectorError(
            .unreachable, "cannot connect to PostgreSQL at \(place): \(reason(error))", underlying: error)
    }

    /// A short, secret-free reason for any error.
    static func reason(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo {
                let state = info[.sqlState] ?? ""
                let message = info[.message] ?? "server error"
                switch state {
                case "57014": return "statement timeout (\(message))"
                case "42501": return "permission denied (\(message))"
                default: return "\(message) (SQLSTATE \(state))"
                }
            }
            if let underlying = psql.underlying { return reason(underlying) }
            return "\(psql.code)"
        }
        if let connection = error as? NIOConnectionError {
            if let dns = connection.dnsAAAAError ?? connection.dnsAError {
                return "host name lookup failed (\(dns))"
            }
            if let first = connection.connectionErrors.first {
                return reason(first.error)
            }
            return "no address could be reached"
        }
        if let io = error as? IOError {
            return io.description
        }
        if error is ChannelError {
            switch error as? ChannelError {
            case .connectTimeout: return "connection timed out"
            default: return "\(error)"
            }
        }
        if let ssl = error as? NIOSSLError {
            return "TLS error (\(ssl))"
        }
        if let connector = error as? ConnectorError {
            return connector.message
        }
        return "\(error)"
    }
}
