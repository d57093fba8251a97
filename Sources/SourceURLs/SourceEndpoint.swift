#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Where an HTTPS source's requests go: its own host, or the URL's `endpoint=https://HOST[:PORT]` (PrivateLink
/// names, proxies, test servers). Plain HTTP only on loopback, where nothing can listen in.
public struct SourceEndpoint: Sendable, Equatable {
    /// `https`, or `http` for a loopback endpoint.
    public var scheme: String
    /// Lower case, IPv6 addresses without brackets.
    public var host: String
    public var port: Int

    public init(scheme: String = "https", host: String, port: Int = 443) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Parses an `endpoint` parameter's value.
    ///
    /// - Throws: `ConnectorError` `.invalidSource` saying what is wrong and how to write it.
    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            var host = components.host, !host.isEmpty
        else {
            throw ConnectorError(.invalidSource, "endpoint '\(text)' is not a URL: write https://HOST[:PORT]")
        }
        guard components.user == nil && components.password == nil else {
            throw ConnectorError(.invalidSource, "the endpoint must not carry credentials")
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil,
            components.fragment == nil
        else {
            throw ConnectorError(.invalidSource, "endpoint '\(text)' must be just https://HOST[:PORT], no path")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch scheme {
        case "https":
            break
        case "http":
            guard Self.isLoopback(host) else {
                throw ConnectorError(
                    .invalidSource,
                    "endpoint '\(text)' uses plain http, which is allowed only for a loopback address "
                        + "(127.0.0.1, ::1, localhost); use https")
            }
        default:
            throw ConnectorError(.invalidSource, "endpoint '\(text)' must start with https://")
        }
        var port = scheme == "https" ? 443 : 80
        if let explicit = components.port {
            guard (1...65535).contains(explicit) else {
                throw ConnectorError(.invalidSource, "the endpoint's port must be between 1 and 65535")
            }
            port = explicit
        }
        self.init(scheme: scheme, host: host.lowercased(), port: port)
    }

    static func isLoopback(_ host: String) -> Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" { return true }
        let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    private var defaultPort: Int { scheme == "https" ? 443 : 80 }

    /// `https://host[:port]`, the base every request URL starts with.
    public var baseURL: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? "\(scheme)://\(bracketed)" : "\(scheme)://\(bracketed):\(port)"
    }

    /// `host[:port]`: the place shown in logs and manifests.
    public var location: String { port == defaultPort ? host : "\(host):\(port)" }
}
