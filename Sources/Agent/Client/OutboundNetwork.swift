public import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
public import Secrets

/// The agent's HTTP clients: TLS ≥ 1.2 everywhere, the configured CA bundle and client certificate, and the
/// HTTP CONNECT proxy from the configuration or `HTTPS_PROXY` / `NO_PROXY` (either casing).
///
/// AsyncHTTPClient takes one proxy per client, so there are two clients — proxied and direct — and
/// `client(for:)` picks by the target host. Third-party services (AWS Secrets Manager) are reached with the system's
/// trust roots rather than the CA bundle, through the same proxy: `serviceClient(for:)`. Call `shutdown()` once at
/// the end.
public final class OutboundNetwork: Sendable {
    /// A parsed proxy: where it is and the basic-auth credentials it wants, if any.
    public struct Proxy: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?

        public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }

        /// The proxy as AsyncHTTPClient takes it: HTTP CONNECT, with basic auth when credentials are set.
        public var configuration: HTTPClient.Configuration.Proxy {
            .server(
                host: host, port: port,
                authorization: username.map { .basic(username: $0, password: password ?? "") })
        }
    }

    public let proxy: Proxy?
    public let noProxy: [String]
    /// Whether TLS handshakes offer the configured client certificate (mutual TLS).
    public let presentsClientCertificate: Bool
    private let proxied: HTTPClient?
    private let direct: HTTPClient
    /// The system's trust roots, through the proxy; nil without a proxy.
    private let proxiedService: HTTPClient?
    /// The Vault server's client when `secretStores.vault` is set: its CA bundle, and the proxy unless `NO_PROXY`
    /// exempts the server.
    private let vault: HTTPClient?

    /// - Throws: `AgentError` `.invalidConfiguration` for an unreadable CA bundle, certificate or key, a key that
    ///   does not belong to the certificate, a certificate without its key (or the reverse), or an unparseable
    ///   proxy URL.
    /// - Parameter vault: the agent's Vault server, whose client trusts its own CA bundle.
    public init(
        network: AgentConfiguration.Network, environment: [String: String], vault: VaultConfiguration? = nil
    ) throws {
        if let configured = network.proxy {
            proxy = configured.isEmpty ? nil : try Self.parseProxy(configured)
        } else {
            proxy = try ProxySettings(environment: environment).proxy
        }
        noProxy = network.noProxy ?? Self.noProxyList(environment["NO_PROXY"] ?? environment["no_proxy"] ?? "")
        let tls = try Self.tlsConfiguration(network)
        // Before the other clients: a bad CA bundle throws here, with no client yet to shut down.
        let settings = ProxySettings(proxy: proxy, noProxy: noProxy)
        self.vault = try vault.map { try Self.vaultClient($0, proxy: settings) }
        presentsClientCertificate = network.clientCertificate != nil
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(90)))
        configuration.httpVersion = .automatic
        // The agent retries every call itself with backoff; the pool's own retries would hide a TLS or proxy
        // refusal until the connect timeout and then report it as a timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        if let proxy {
            configuration.proxy = proxy.configuration
            proxied = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        } else {
            proxied = nil
        }
        proxiedService = proxy.map { Self.serviceClient(proxy: $0) }
    }

    /// The client for the Vault server (`configuration` is the one this network was made with).
    public func vaultClient(for configuration: VaultConfiguration) -> HTTPClient {
        vault ?? serviceClient(for: VaultEndpoint.host(configuration.address))
    }

    /// The proxy as the agent hands it to its jobs, which reach their sources' APIs and secret stores through it.
    public var settings: ProxySettings { ProxySettings(proxy: proxy, noProxy: noProxy) }

    /// TLS ≥ 1.2 with the CA bundle and client certificate of `network`, each file loaded (and the pair checked
    /// against each other) now, so a bad file fails at start with its name rather than at the first handshake.
    static func tlsConfiguration(_ network: AgentConfiguration.Network) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        func load<Value>(_ file: String, _ setting: String, _ read: (String) throws -> Value) throws -> Value {
            do {
                return try read(file)
            } catch {
                throw AgentError(
                    .invalidConfiguration, "cannot load \(setting) '\(file)' as PEM: \(Self.describeTLS(error))")
            }
        }
        if let bundle = network.caBundle {
            let roots = try load(bundle, "network.caBundle") { try NIOSSLCertificate.fromPEMFile($0) }
            guard !roots.isEmpty else {
                throw AgentError(.invalidConfiguration, "network.caBundle '\(bundle)' holds no PEM certificate")
            }
            tls.trustRoots = .certificates(roots)
        }
        switch (network.clientCertificate, network.clientKey) {
        case (nil, nil):
            return tls
        case (let certificate?, let key?):
            let chain = try load(certificate, "network.clientCertificate") { try NIOSSLCertificate.fromPEMFile($0) }
            guard !chain.isEmpty else {
                throw AgentError(
                    .invalidConfiguration, "network.clientCertificate '\(certificate)' holds no PEM certificate")
            }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(
                try load(key, "network.clientKey") { try NIOSSLPrivateKey(file: $0, format: .pem) })
            do {
                // BoringSSL checks that the key belongs to the leaf certificate when both are set on a context.
                _ = try NIOSSLContext(configuration: tls)
            } catch {
                throw AgentError(
                    .invalidConfiguration,
                    "network.clientKey '\(key)' does not match network.clientCertificate '\(certificate)' "
                        + "(\(Self.describeTLS(error)))")
            }
            return tls
        default:
            throw AgentError(
                .invalidConfiguration, "network.clientCertificate and network.clientKey go together: give both")
        }
    }

    /// A TLS loading error in a sentence (NIOSSL's own descriptions are enum cases).
    static func describeTLS(_ error: any Error) -> String {
        switch error {
        case let error as NIOSSLError:
            switch error {
            case .failedToLoadCertificate: return "not a readable PEM certificate"
            case .failedToLoadPrivateKey: return "not a readable PEM private key, or not this certificate's key"
            default: return "\(error)"
            }
        default:
            return "\(error)"
        }
    }

    /// A connection failure in a sentence that says what to fix: an untrusted certificate, a failed handshake, a
    /// proxy refusing the credentials or the tunnel. Never contains the proxy's password (AsyncHTTPClient's
    /// errors do not carry it).
    public static func describeConnectionFailure(_ error: any Error) -> String? {
        if let error = error as? NIOSSLError, case .handshakeFailed(let detail) = error {
            let text = "\(detail)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS handshake failed: the server's certificate is not trusted (CERTIFICATE_VERIFY_FAILED); "
                    + "set network.caBundle to the CA that signed it"
            }
            return "TLS handshake failed: \(text)"
        }
        if let error = error as? NIOSSLExtraError {
            return "TLS handshake failed: \(error)"
        }
        if let error = error as? HTTPClientError {
            if error == .proxyAuthenticationRequired {
                return "the proxy refused the credentials (407 Proxy Authentication Required): check network.proxy"
            }
            if error == .invalidProxyResponse {
                return "the proxy did not open a tunnel to the server (its answer to CONNECT was not 200)"
            }
        }
        return nil
    }

    /// The client to reach `host` with: through the proxy unless `NO_PROXY` exempts the host.
    public func client(for host: String) -> HTTPClient {
        guard let proxied, !Self.bypassesProxy(host: host, noProxy: noProxy) else { return direct }
        return proxied
    }

    /// The client for a full URL.
    public func client(forURL url: String) -> HTTPClient {
        client(for: URLComponents(string: url)?.plainHost ?? "")
    }

    /// The client for a third-party HTTPS service at `host`: the system's trust roots (the CA bundle is for the
    /// control plane and the relay bucket), through the proxy unless `NO_PROXY` exempts the host.
    public func serviceClient(for host: String) -> HTTPClient {
        guard let proxiedService, !Self.bypassesProxy(host: host, noProxy: noProxy) else { return .shared }
        return proxiedService
    }

    /// A client with the system's trust roots and TLS ≥ 1.2 that tunnels every connection through `proxy`.
    static func serviceClient(proxy: Proxy) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(90)))
        configuration.proxy = proxy.configuration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await direct.shutdown()
        try? await proxied?.shutdown()
        try? await proxiedService?.shutdown()
        try? await vault?.shutdown()
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

    /// A comma-separated `NO_PROXY` value as its entries.
    static func noProxyList(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
    }

    static func parseProxy(_ text: String) throws -> Proxy {
        let withScheme = text.contains("://") ? text : "http://" + text
        guard let components = URLComponents(string: withScheme), let host = components.plainHost, !host.isEmpty,
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
