#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Where and how `PostgresControlPlaneStore` connects, parsed from `--database-url`.
///
/// `postgres://user:password@host:port/database?sslmode=…&pool_size=…`: user, password and database may be
/// %-escaped. `sslmode` follows libpq: `disable`, `prefer` (the default: TLS when offered, unverified),
/// `require` (TLS, unverified), `verify-ca` (chain checked), `verify-full` (chain and host name checked; use
/// this across any network you do not control). `pool_size` bounds the connections of this replica (default 20).
public struct PostgresStoreConfiguration: Sendable, Equatable {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable
        case prefer
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    public var maximumConnections: Int

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String,
        tlsMode: TLSMode = .prefer, maximumConnections: Int = 20
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.maximumConnections = maximumConnections
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    ///
    /// - Throws: `StorageError(.unavailable, …)` naming what is wrong; the message never repeats the password.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw StorageError(
                .unavailable, "the database URL is not a postgres:// URL; use postgres://user:password@host:port/db")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StorageError(
                .unavailable, "the database URL names no host; use postgres://user:password@host:port/db")
        }
        let database = percentDecoded(components.percentEncodedPath.dropFirst()) ?? ""
        guard !database.isEmpty else {
            throw StorageError(.unavailable, "the database URL names no database; add /<database> after the host")
        }
        self.init(
            host: host, port: components.port ?? 5432,
            username: components.percentEncodedUser.flatMap(percentDecoded) ?? "postgres",
            password: components.percentEncodedPassword.flatMap(percentDecoded), database: database)
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value == "allow" ? "prefer" : value) else {
                    throw StorageError(
                        .unavailable,
                        "unknown sslmode '\(value)' in the database URL: "
                            + "use disable, prefer, require, verify-ca or verify-full")
                }
                tlsMode = mode
            case "pool_size":
                guard let size = Int(value), size > 0 else {
                    throw StorageError(.unavailable, "pool_size in the database URL must be a positive integer")
                }
                maximumConnections = size
            default:
                throw StorageError(
                    .unavailable,
                    "unknown parameter '\(item.name)' in the database URL: supported are sslmode, pool_size")
            }
        }
    }
}

/// `text` with `%XX` escapes decoded as UTF-8; nil when an escape is malformed or the result is not UTF-8.
private func percentDecoded(_ text: some StringProtocol) -> String? {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
            return nil
        }
        bytes.append(high << 4 | low)
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
