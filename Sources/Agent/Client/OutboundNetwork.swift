public import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOPosix
internal import NIOSSL

/// The agent's HTTP clients: TLS ≥ 1.2 everywhere, the configured CA bundle and client certificate, and the
/// HTTP CONNECT proxy from the configuration or `HTTPS_PROXY` / `NO_PROXY` (either casing).
///
/// AsyncHTTPClient takes one proxy per client, so there are two clients — proxied and direct — and
/// `client(for:)` picks by the target host. Call `shutdown()` once at the end.
public final class OutboundNetwork: Sendable {
    /// A parsed proxy: where it is and the basic-auth credentials it wants, if any.
    public struct Proxy: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
    }

    public let proxy: Proxy?
    public let noProxy: [String]
    private let proxied: HTTPClient?
    private let direct: HTTPClient

    /// - Throws: `AgentError` `.invalidConfiguration` for an unreadable CA bundle, certificate or key, or an
    ///   unparseable proxy URL.
    public init(network: AgentConfiguration.Network, environment: [String: String]) throws {
        let proxyText =
            network.proxy ?? environment["HTTPS_PROXY"] ?? environment["https_proxy"]
            ?? environment["ALL_PROXY"] ?? environment["all_proxy"]
        proxy = try proxyText.flatMap { $0.isEmpty ? nil : try Self.parseProxy($0) }
        noProxy =
            network.noProxy
            ?? (environment["NO_PROXY"] ?? environment["no_proxy"] ?? "").split(separator: ",").map {
                String($0).trimmingWhitespace
            }.filter { !$0.isEmpty }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if let bundle = network.caBundle {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(bundle))
            }
            if let certificate = network.clientCertificate, let key = network.clientKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
        } catch {
            throw AgentError(
                .invalidConfiguration,
                "cannot load the TLS files named in the configuration's network section: \(error)")
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(90)))
        configuration.httpVersion = .automatic
        direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        if let proxy {
            configuration.proxy = .server(
                host: proxy.host, port: proxy.port,
                authorization: proxy.username.map { .basic(username: $0, password: proxy.password ?? "") })
            proxied = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        } else {
            proxied = nil
        }
    }

    /// The client to reach `host` with: through the proxy unless `NO_PROXY` exempts the host.
    public func client(for host: String) -> HTTPClient {
        guard let proxied, !Self.bypassesProxy(host: host, noProxy: noProxy) else { return direct }
        return proxied
    }

    /// The client for a full URL.
    public func client(forURL url: String) -> HTTPClient {
        client(for: URLComponents(string: url)?.host ?? "")
    }

    public func shutdown() async {
        try? await direct.shutdown()
        try? await proxied?.shutdown()
    }

    /// `NO_PROXY` semantics as curl has them: `*` for everything, a name for itself and its subdomains
    /// (a leading `.` or `*.` is the same), an IP address for itself; ports in entries are ignored.
    static func bypassesProxy(host: String, noProxy: [String]) -> Bool {
        let target = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        for entry in noProxy {
            var name = entry.lowercased()
            if name == "*" { return true }
            if name.hasPrefix("*.") { name.removeFirst(2) } else if name.hasPrefix(".") { name.removeFirst() }
            if let colon = name.lastIndex(of: ":"), !name.contains("["), name.filter({ $0 == ":" }).count == 1 {
                name = String(name[..<colon])
            }
            name = name.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if name.isEmpty { continue }
            if target == name || target.hasSuffix("." + name) { return true }
        }
        return false
    }

    static func parseProxy(_ text: String) throws -> Proxy {
        let withScheme = text.contains("://") ? text : "http://" + text
        guard let components = URLComponents(string: withScheme), let host = components.host, !host.isEmpty,
            ["http", "https"].contains(components.scheme?.lowercased() ?? "")
        else {
            throw AgentError(
                .invalidConfiguration,
                "the proxy must be written http://[user:password@]host:port (it is given but not in that form)")
        }
        return Proxy(
            host: host, port: components.port ?? 3128, username: components.user?.removingPercentEncoding,
            password: components.password?.removingPercentEncoding)
    }
}
