import AsyncHTTPClient
import AzureCloud
import Foundation
import GoogleCloud
import NIOSSL

/// The server's own outbound HTTPS to clouds: the blob store, customers' relay buckets, and the token, IAM and
/// Entra ID endpoints. Without `--ca-bundle` it is the shared client with the system's trust roots; with it, a
/// client of its own that also trusts the bundle's certificates (private endpoints, a TLS-inspecting proxy), and
/// the same TLS is set on every request of the stores that set one per request.
struct CloudHTTP {
    let client: HTTPClient
    /// Set on each request of the stores that choose their TLS per request; nil: their default (system roots).
    let tlsConfiguration: TLSConfiguration?
    private let owned: Bool

    /// The shared client, system trust roots only.
    static let system = CloudHTTP(client: .shared, tlsConfiguration: nil, owned: false)

    private init(client: HTTPClient, tlsConfiguration: TLSConfiguration?, owned: Bool) {
        self.client = client
        self.tlsConfiguration = tlsConfiguration
        self.owned = owned
    }

    /// Loads the bundle now, so a bad file fails at start with its name rather than at the first handshake.
    ///
    /// - Throws: `ServerCommandError` (usage) when the file cannot be read or holds no PEM certificate.
    init(caBundle path: String) throws {
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ServerCommandError(usage: "--ca-bundle '\(path)' cannot be loaded as PEM: \(error)")
        }
        guard !roots.isEmpty else {
            throw ServerCommandError(usage: "--ca-bundle '\(path)' holds no PEM certificate")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.additionalTrustRoots = [.certificates(roots)]
        self.init(
            client: HTTPClient(
                eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls)),
            tlsConfiguration: tls, owned: true)
    }

    /// Shuts the client down if it is this value's own.
    func shutdown() async {
        if owned { try? await client.shutdown() }
    }
}

/// The server's own cloud identities, found once from its environment: one token cache each, shared by the blob
/// store and the relay reads.
struct ServerIdentities {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server.
    let google: GoogleAccessTokens
    /// Workload identity, App Service / Container Apps, else IMDS (`AzureIdentity.fromEnvironment`).
    let azure: AzureAccessTokens

    /// - Throws: `ServerCommandError` (usage) when the Google credentials file cannot be used.
    init(environment: [String: String], cloud: CloudHTTP) throws {
        do {
            google = GoogleAccessTokens(
                identity: try .applicationDefault(environment: environment) { path in
                    try Array(Data(contentsOf: URL(fileURLWithPath: path)))
                }, client: cloud.client)
        } catch {
            throw ServerCommandError(usage: "\(error)")
        }
        azure = AzureAccessTokens(
            identity: .fromEnvironment(environment),
            authorityHost: environment["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? AzureIdentity.defaultAuthorityHost, client: cloud.client, tlsConfiguration: cloud.tlsConfiguration)
    }
}
