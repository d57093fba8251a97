public import AsyncHTTPClient
public import AzureCloud
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL

/// How `azure-kv:` references reach Azure Key Vault: whose identity, and where Entra ID is.
public struct AzureKeyVaultSettings: Codable, Sendable, Equatable {
    /// An app registration's tenant and client id, for a client secret or certificate.
    public var tenantId: String?
    public var clientId: String?
    /// The app's client secret, by reference.
    public var clientSecret: SecretReference?
    /// A PEM holding the app's certificate and its private key, by reference.
    public var clientCertificate: SecretReference?
    /// Entra ID's authority (a sovereign cloud, a test server); nil: `AZURE_AUTHORITY_HOST`, else the public one.
    public var authorityHost: String?
    /// The managed identity endpoint (IMDS) when not `http://169.254.169.254`.
    public var imdsEndpoint: String?
    /// A PEM of CA certificates trusted for the vault and Entra ID instead of the system's (a private CA).
    public var caBundle: String?

    public init(
        tenantId: String? = nil, clientId: String? = nil, clientSecret: SecretReference? = nil,
        clientCertificate: SecretReference? = nil, authorityHost: String? = nil, imdsEndpoint: String? = nil,
        caBundle: String? = nil
    ) {
        self.tenantId = tenantId
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.clientCertificate = clientCertificate
        self.authorityHost = authorityHost
        self.imdsEndpoint = imdsEndpoint
        self.caBundle = caBundle
    }

    /// The agent's own secrets among these settings (never a connection's).
    public var ownedReferences: [SecretReference] { [clientSecret, clientCertificate].compactMap { $0 } }

    /// The identity these settings name: the app with its client secret or certificate (read through `read`), or
    /// else the one the Azure variables in `environment` describe.
    ///
    /// - Parameter purpose: what the identity is for, for messages ("for azure-kv:…", "for the relay container").
    /// - Throws: `SecretError` when the app is incomplete or its credential cannot be read or parsed; never with
    ///   the credential's value.
    public func identity(
        environment: [String: String], purpose: String, read: (SecretReference) async throws -> String
    ) async throws -> AzureIdentity {
        guard clientSecret != nil || clientCertificate != nil else {
            return AzureIdentity.fromEnvironment(environment, imds: imdsEndpoint)
        }
        guard let tenant = tenantId, let clientId else {
            throw SecretError(.invalidReference, "an Azure client secret or certificate needs tenantId and clientId")
        }
        func value(_ reference: SecretReference, _ what: String) async throws -> String {
            do {
                return try await read(reference)
            } catch {
                throw SecretError(.unreadable, "cannot read the Azure \(what) \(reference) \(purpose): \(error)")
            }
        }
        if let clientSecret {
            return .clientSecret(
                tenantId: tenant, clientId: clientId, secret: try await value(clientSecret, "client secret"))
        }
        guard let clientCertificate else { return AzureIdentity.fromEnvironment(environment, imds: imdsEndpoint) }
        let pem = try await value(clientCertificate, "client certificate")
        do {
            return .clientCertificate(
                tenantId: tenant, clientId: clientId, certificate: try AzureClientCertificate(pem: pem))
        } catch {
            throw SecretError(.invalidFormat, "the Azure client certificate \(clientCertificate): \(error)")
        }
    }

    /// Entra ID's authority: `authorityHost`, else `AZURE_AUTHORITY_HOST`, else the public cloud's.
    public func authority(environment: [String: String]) -> String {
        authorityHost ?? environment["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
            ?? AzureIdentity.defaultAuthorityHost
    }
}

/// Resolves `azure-kv:VAULT/NAME[/VERSION][#field]` — VAULT a vault name (`https://VAULT.vault.azure.net`) or a
/// vault URL (`https://host[:port]`, a private endpoint) — with Key Vault's Get Secret (api-version 7.4).
///
/// The first request to a vault goes without a token; Key Vault's 401 challenge names the resource to ask Entra ID
/// for, which must be Key Vault's own (`https://vault.azure.net` or a sovereign cloud's), so a vault can never make
/// the agent send it a token for anything else. Tokens are cached per scope for the provider's life (one run);
/// values are not cached. Errors name the secret and the role to grant; never a value or a token.
public actor AzureKeyVaultSecretProvider: SecretProvider {
    public nonisolated var store: SecretReference.Store { .azureKeyVault }

    public nonisolated let settings: AzureKeyVaultSettings
    private let clientForHost: @Sendable (String) -> HTTPClient
    private let credentials: @Sendable (SecretReference) async throws -> String
    private let hostCheck: @Sendable (String) throws -> Void
    private let environment: [String: String]
    private let retryDelay: Duration
    private var tokens: AzureAccessTokens?
    private var scopes: [String: String] = [:]
    private var tlsConfiguration: TLSConfiguration?

    static let apiVersion = "7.4"
    /// Key Vault's resource in each cloud: the only audiences the agent ever asks a token for on a vault's word.
    static let vaultResources = [
        "https://vault.azure.net", "https://vault.azure.cn", "https://vault.usgovcloudapi.net",
        "https://vault.microsoftazure.de",
    ]

    /// - Parameters:
    ///   - clientForHost: the HTTP client for a host (through the proxy or not); the caller shuts them down.
    ///   - credentials: resolves the client secret's or certificate's reference (other stores).
    ///   - hostCheck: called with every URL before it is requested; throws to refuse (the egress policy).
    ///   - environment: the Azure variables (`AZURE_FEDERATED_TOKEN_FILE`, `IDENTITY_ENDPOINT`, …).
    public init(
        settings: AzureKeyVaultSettings, clientForHost: @escaping @Sendable (String) -> HTTPClient,
        credentials: @escaping @Sendable (SecretReference) async throws -> String,
        hostCheck: @escaping @Sendable (String) throws -> Void = { _ in }, environment: [String: String] = [:],
        retryDelay: Duration = .milliseconds(500)
    ) {
        self.settings = settings
        self.clientForHost = clientForHost
        self.credentials = credentials
        self.hostCheck = hostCheck
        self.environment = environment
        self.retryDelay = retryDelay
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let (vault, path) = try Self.locate(reference)
        let url = "\(vault)/secrets/\(path)?api-version=\(Self.apiVersion)"
        try hostCheck(url)
        let tokens = try await tokenSource(for: "to read \(reference)")
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            var token: String?
            if let scope = scopes[vault] {
                do {
                    token = try await tokens.token(scope: scope)
                } catch {
                    throw SecretError(.unreadable, "cannot get an Entra ID token to read \(reference): \(error)")
                }
            }
            let (status, headers, object) = try await get(url, token: token, reference: reference, vault: vault)
            if status == 200 {
                guard let value = object?["value"] as? String else {
                    throw SecretError(.invalidFormat, "Key Vault's answer for \(reference) holds no value")
                }
                return value
            }
            if status == 401 {
                // The challenge: learn (or re-learn) the scope, then retry once with a fresh token.
                guard token == nil || !refreshed else {
                    throw Self.failure(
                        status: status, object: object, reference: reference, principal: tokens.principal)
                }
                if token != nil {
                    refreshed = true
                    await tokens.invalidate()
                }
                scopes[vault] = try Self.scope(challenge: headers.first(name: "www-authenticate"), vault: vault)
                continue
            }
            if (status == 429 || status >= 500) && attempt < 3 {
                let wait = headers.first(name: "retry-after").flatMap { Int($0) }.map { Duration.seconds(min($0, 10)) }
                try await Task.sleep(for: wait ?? retryDelay * (1 << (attempt - 1)))
                continue
            }
            throw Self.failure(status: status, object: object, reference: reference, principal: tokens.principal)
        }
    }

    /// Gets a token for Key Vault, for `outpost agent --check`: the identity works and Entra ID is allowed; no
    /// vault is asked and no secret read.
    public func checkAccess() async throws -> String {
        let tokens = try await tokenSource(for: "for a check")
        do {
            _ = try await tokens.token(scope: Self.vaultResource(authority: tokens.authorityHost) + "/.default")
        } catch {
            throw SecretError(.unreadable, "\(error)")
        }
        return "a Key Vault token for \(tokens.principal) obtained from \(tokens.authorityHost)"
    }

    /// Key Vault's resource in the cloud whose Entra ID authority this is (the public cloud's by default).
    static func vaultResource(authority: String) -> String {
        let host = URLComponents(string: authority)?.host?.lowercased() ?? ""
        switch host {
        case "login.chinacloudapi.cn": return "https://vault.azure.cn"
        case "login.microsoftonline.us": return "https://vault.usgovcloudapi.net"
        case "login.microsoftonline.de": return "https://vault.microsoftazure.de"
        default: return vaultResources[0]
        }
    }

    private func get(
        _ url: String, token: String?, reference: SecretReference, vault: String
    ) async throws -> (Int, HTTPHeaders, [String: Any]?) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if url.hasPrefix("https://"), let tlsConfiguration = try tls() { request.tlsConfiguration = tlsConfiguration }
        do {
            let response = try await clientForHost(URLComponents(string: url)?.host ?? "").execute(
                request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any]
            return (Int(response.status.code), response.headers, object)
        } catch let error as SecretError {
            throw error
        } catch {
            throw SecretError(.unreadable, "cannot reach Key Vault at \(vault) to read \(reference): \(error)")
        }
    }

    /// The Entra scope a vault's `WWW-Authenticate: Bearer authorization="…", resource="…"` (or `scope="…"`) names,
    /// refused unless it is Key Vault's own resource.
    static func scope(challenge: String?, vault: String) throws -> String {
        guard let challenge, challenge.lowercased().hasPrefix("bearer ") else {
            throw SecretError(
                .unreadable, "Key Vault at \(vault) refused the request without saying how to authenticate")
        }
        var parameters: [String: String] = [:]
        for part in challenge.dropFirst("bearer ".count).split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            parameters[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] =
                pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        var resource = parameters["resource"] ?? parameters["scope"] ?? ""
        if resource.hasSuffix("/.default") { resource.removeLast("/.default".count) }
        while resource.hasSuffix("/") { resource.removeLast() }
        guard vaultResources.contains(resource.lowercased()) else {
            throw SecretError(
                .unreadable,
                "Key Vault at \(vault) asked for a token for '\(resource)', which is not Key Vault's resource: refused")
        }
        return resource + "/.default"
    }

    /// `(https://vault-url, name[/version])` from the locator, checked before anything is sent.
    static func locate(_ reference: SecretReference) throws -> (String, String) {
        let locator = reference.locator
        let vault: String
        let rest: Substring
        if locator.hasPrefix("https://") || locator.hasPrefix("http://") {
            let afterScheme = locator.firstIndex(of: ":").map { locator.index($0, offsetBy: 3) }!
            let slash = locator[afterScheme...].firstIndex(of: "/") ?? locator.endIndex
            vault = String(locator[..<slash])
            rest = locator[slash...].drop { $0 == "/" }
            guard let components = URLComponents(string: vault), let host = components.host, !host.isEmpty,
                components.user == nil,
                components.scheme == "https" || ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host)
            else { throw invalid(reference) }
        } else {
            let name = locator.prefix { $0 != "/" }
            guard (3...24).contains(name.count),
                name.unicodeScalars.allSatisfy({
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                })
            else { throw invalid(reference) }
            vault = "https://\(name.lowercased()).vault.azure.net"
            rest = locator.dropFirst(name.count).drop { $0 == "/" }
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        func validName(_ text: Substring) -> Bool {
            (1...127).contains(text.count)
                && text.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                }
        }
        func validVersion(_ text: Substring) -> Bool {
            text.count == 32 && text.unicodeScalars.allSatisfy { ("a"..."f").contains($0) || ("0"..."9").contains($0) }
        }
        guard (1...2).contains(parts.count), validName(parts[0]), parts.count == 1 || validVersion(parts[1]) else {
            throw invalid(reference)
        }
        return (vault, parts.joined(separator: "/"))
    }

    static func invalid(_ reference: SecretReference) -> SecretError {
        SecretError(
            .invalidReference,
            "'\(reference)' is not a Key Vault reference: write azure-kv:VAULT/NAME[/VERSION][#field], VAULT a vault "
                + "name or https://HOST[:PORT], VERSION 32 hex digits")
    }

    private func tls() throws -> TLSConfiguration? {
        if let tlsConfiguration { return tlsConfiguration }
        guard let bundle = settings.caBundle else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(bundle))
        } catch {
            throw SecretError(.unreadable, "cannot read the Azure CA bundle \(bundle): \(error)")
        }
        tlsConfiguration = configuration
        return configuration
    }

    private func tokenSource(for purpose: String) async throws -> AzureAccessTokens {
        if let tokens { return tokens }
        let identity = try await settings.identity(environment: environment, purpose: purpose, read: credentials)
        let authority = settings.authority(environment: environment)
        let created = AzureAccessTokens(
            identity: identity, authorityHost: authority,
            client: clientForHost(URLComponents(string: identity.tokenURL(authorityHost: authority))?.host ?? ""),
            tlsConfiguration: try tls(),
            hostCheck: hostCheck)
        tokens = created
        return created
    }

    private static func failure(
        status: Int, object: [String: Any]?, reference: SecretReference, principal: String
    ) -> SecretError {
        let error = object?["error"] as? [String: Any]
        let code = (error?["innererror"] as? [String: Any])?["code"] as? String ?? error?["code"] as? String
        let message = error?["message"] as? String ?? ""
        let detail =
            "Key Vault answered HTTP \(status)\(code.map { " \($0)" } ?? "") for \(reference)"
            + (message.isEmpty ? "" : ": \(message)")
        switch (status, code) {
        case (403, "SecretDisabled"):
            return SecretError(.unreadable, "\(detail). The version is disabled: name an enabled one")
        case (403, _):
            return SecretError(
                .unreadable,
                "\(detail). Grant \(principal) the Key Vault Secrets User role on the vault (or 'get' on secrets in "
                    + "its access policies)")
        case (404, _):
            return SecretError(.notFound, "\(detail). Check the vault, the secret's name and the version")
        case (401, _):
            return SecretError(.unreadable, "\(detail). The token of \(principal) was refused")
        default:
            return SecretError(.unreadable, detail)
        }
    }
}
