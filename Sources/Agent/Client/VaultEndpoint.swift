internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOSSL
internal import Secrets

/// The Vault server as the agent and its jobs reach it: its host for the egress policy and the proxy, and an HTTP
/// client that trusts its CA bundle.
enum VaultEndpoint {
    /// The host of an address such as `https://vault.example.com:8200`.
    static func host(_ address: String) -> String {
        URLComponents(string: address)?.plainHost ?? address
    }

    /// The port of an address, 443 for https and 80 for http when it names none.
    static func port(_ address: String) -> Int {
        let components = URLComponents(string: address)
        return components?.port ?? (components?.scheme?.lowercased() == "http" ? 80 : 443)
    }
}

extension OutboundNetwork {
    /// A client for the Vault server: TLS ≥ 1.2 trusting its CA bundle (the system's roots without one), through
    /// the proxy unless `NO_PROXY` exempts the server. A failed connection fails the request at once (the provider
    /// retries itself), so an untrusted certificate is reported rather than retried until the timeout.
    ///
    /// - Throws: `AgentError` `.invalidConfiguration` when the bundle is unreadable or holds no certificate.
    static func vaultClient(_ configuration: VaultConfiguration, proxy: ProxySettings?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let bundle = configuration.caBundle { tls.trustRoots = .certificates(try roots(bundle)) }
        var http = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)))
        http.connectionPool.retryConnectionEstablishment = false
        http.proxy = proxy?.proxy(for: VaultEndpoint.host(configuration.address))?.configuration
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    private static func roots(_ bundle: String) throws -> [NIOSSLCertificate] {
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(bundle)
        } catch {
            throw AgentError(
                .invalidConfiguration,
                "cannot load secretStores.vault.caBundle '\(bundle)' as PEM: \(describeTLS(error))")
        }
        guard !roots.isEmpty else {
            throw AgentError(
                .invalidConfiguration, "secretStores.vault.caBundle '\(bundle)' holds no PEM certificate")
        }
        return roots
    }
}
