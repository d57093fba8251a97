public import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
public import NIOSSL

/// Entra ID access tokens for one identity, per scope (`https://vault.azure.net/.default`,
/// `https://storage.azure.com/.default`), cached until five minutes before they expire.
public actor AzureAccessTokens {
    public nonisolated let identity: AzureIdentity
    /// `https://login.microsoftonline.com`, a sovereign cloud's, or a test server's.
    public nonisolated let authorityHost: String
    private let client: HTTPClient
    private let tlsConfiguration: TLSConfiguration?
    private let hostCheck: @Sendable (String) throws -> Void
    private let now: @Sendable () -> Int64
    private var cached: [String: (token: String, expires: Int64)] = [:]

    /// - Parameters:
    ///   - client: for Entra ID and the managed identity endpoint; the caller shuts it down.
    ///   - tlsConfiguration: for https requests (a private CA); the client's own when nil.
    ///   - hostCheck: called with each URL before it is requested (the agent's egress policy); throws to refuse.
    public init(
        identity: AzureIdentity, authorityHost: String = AzureIdentity.defaultAuthorityHost, client: HTTPClient,
        tlsConfiguration: TLSConfiguration? = nil, hostCheck: @escaping @Sendable (String) throws -> Void = { _ in },
        now: (@Sendable () -> Int64)? = nil
    ) {
        var authority = authorityHost
        while authority.hasSuffix("/") { authority.removeLast() }
        self.identity = identity
        self.authorityHost = authority
        self.client = client
        self.tlsConfiguration = tlsConfiguration
        self.hostCheck = hostCheck
        self.now = now ?? { Int64(Date().timeIntervalSince1970) }
    }

    public nonisolated var principal: String { identity.principal }

    /// A token for `scope` (`RESOURCE/.default`), from the cache while it has more than five minutes left.
    ///
    /// - Throws: `AzureError` naming the identity, the endpoint and Entra's error code.
    public func token(scope: String) async throws -> String {
        if let entry = cached[scope], entry.expires - 300 > now() { return entry.token }
        let (token, expires) = try await fetch(scope: scope)
        cached[scope] = (token, expires)
        return token
    }

    /// Forgets the tokens, after a service refused one.
    public func invalidate() { cached = [:] }

    private func fetch(scope: String) async throws -> (String, Int64) {
        switch identity {
        case .clientSecret(let tenant, let clientId, let secret):
            return try await entra(tenant: tenant, clientId: clientId, scope: scope) { _ in
                [("client_secret", secret)]
            }
        case .clientCertificate(let tenant, let clientId, let certificate):
            return try await entra(tenant: tenant, clientId: clientId, scope: scope) { url in
                [
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    (
                        "client_assertion",
                        try AzureJWT.assertion(clientId: clientId, tokenURL: url, certificate: certificate, now: now())
                    ),
                ]
            }
        case .workloadIdentity(let tenant, let clientId, let tokenFile):
            return try await entra(tenant: tenant, clientId: clientId, scope: scope) { _ in
                guard let data = FileManager.default.contents(atPath: tokenFile),
                    case let token = String(decoding: data, as: UTF8.self).trimmingCharacters(
                        in: .whitespacesAndNewlines),
                    !token.isEmpty
                else {
                    throw AzureError(.credentials, "cannot read the federated token file \(tokenFile)")
                }
                return [
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", token),
                ]
            }
        case .managedIdentity(let clientId, let endpoint):
            return try await managedIdentity(clientId: clientId, endpoint: endpoint, scope: scope)
        }
    }

    /// The client-credentials grant at `AUTHORITY/TENANT/oauth2/v2.0/token`.
    private func entra(
        tenant: String, clientId: String, scope: String, proof: (String) throws -> [(String, String)]
    ) async throws -> (String, Int64) {
        let url = "\(authorityHost)/\(Self.encode(tenant))/oauth2/v2.0/token"
        let form =
            [("grant_type", "client_credentials"), ("client_id", clientId), ("scope", scope)] + (try proof(url))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "&")))
        let (status, object) = try await call(request, url: url)
        guard status == 200, let token = object?["access_token"] as? String, !token.isEmpty else {
            let description = (object?["error_description"] as? String).map {
                String($0.prefix { $0 != "\r" && $0 != "\n" })
            }
            let reason = [object?["error"] as? String, description].compactMap { $0 }.joined(separator: ": ")
            throw AzureError(
                .token,
                "Entra ID at \(authorityHost) refused a token for \(principal) "
                    + "(HTTP \(status)\(reason.isEmpty ? "" : ": \(reason)"))", status: status)
        }
        return (token, now() + Self.seconds(object?["expires_in"]))
    }

    /// IMDS (`/metadata/identity/oauth2/token`, `Metadata: true`) or the App Service identity endpoint
    /// (`X-IDENTITY-HEADER`).
    private func managedIdentity(
        clientId: String?, endpoint: AzureIdentity.ManagedIdentityEndpoint, scope: String
    ) async throws -> (String, Int64) {
        var resource = scope
        if resource.hasSuffix("/.default") { resource.removeLast("/.default".count) }
        var url: String
        var request: HTTPClientRequest
        switch endpoint {
        case .imds(let base):
            var base = base
            while base.hasSuffix("/") { base.removeLast() }
            url = base + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + Self.encode(resource)
            request = HTTPClientRequest(url: "")
            request.headers.add(name: "Metadata", value: "true")
        case .appService(let base, let header):
            url = base + "?api-version=2019-08-01&resource=" + Self.encode(resource)
            request = HTTPClientRequest(url: "")
            request.headers.add(name: "X-IDENTITY-HEADER", value: header)
        }
        if let clientId { url += "&client_id=" + Self.encode(clientId) }
        request.url = url
        let (status, object) = try await call(request, url: url)
        guard status == 200, let token = object?["access_token"] as? String, !token.isEmpty else {
            let reason = [object?["error"] as? String, object?["error_description"] as? String].compactMap { $0 }
            throw AzureError(
                .token,
                "the managed identity endpoint \(url.prefix { $0 != "?" }) refused a token for \(principal) "
                    + "(HTTP \(status)\(reason.isEmpty ? "" : ": " + reason.joined(separator: ": ")))", status: status)
        }
        if let expiresOn = Self.number(object?["expires_on"]) { return (token, expiresOn) }
        return (token, now() + Self.seconds(object?["expires_in"]))
    }

    private func call(_ request: HTTPClientRequest, url: String) async throws -> (Int, [String: Any]?) {
        var request = request
        try hostCheck(url)
        if url.hasPrefix("https://"), let tlsConfiguration { request.tlsConfiguration = tlsConfiguration }
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any]
            return (Int(response.status.code), object)
        } catch {
            throw AzureError(.token, "cannot reach \(url.prefix { $0 != "?" }) for a token for \(principal): \(error)")
        }
    }

    /// A number Azure sends as a JSON number or a string.
    static func number(_ value: Any?) -> Int64? {
        if let number = value as? NSNumber { return number.int64Value }
        return (value as? String).flatMap { Int64($0) }
    }

    static func seconds(_ value: Any?) -> Int64 { number(value) ?? 3600 }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
