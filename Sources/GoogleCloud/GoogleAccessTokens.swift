public import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// OAuth access tokens for Google APIs, per scope, cached until a minute before they expire.
///
/// Identities, none with a secret in a configuration file:
/// - a service account key (read by reference): a JWT bearer grant at the key's `token_uri`;
/// - the metadata server of GCE or GKE (`metadata.google.internal`, or the host `GCE_METADATA_HOST` names, as
///   Google's libraries allow): `…/service-accounts/default/token` with `Metadata-Flavor: Google`.
public actor GoogleAccessTokens {
    public enum Identity: Sendable {
        case serviceAccount(GoogleServiceAccountKey)
        /// `host[:port]` of the metadata server.
        case metadataServer(host: String)
    }

    public nonisolated let identity: Identity
    let client: HTTPClient
    let hostCheck: @Sendable (String) throws -> Void
    private let now: @Sendable () -> Int64
    private var cached: [String: (token: String, expires: Int64)] = [:]

    /// - Parameters:
    ///   - client: for the token endpoint or metadata server; the caller shuts it down.
    ///   - hostCheck: called with each URL before it is requested (the agent's egress policy); throws to refuse.
    public init(
        identity: Identity, client: HTTPClient, hostCheck: @escaping @Sendable (String) throws -> Void = { _ in },
        now: (@Sendable () -> Int64)? = nil
    ) {
        self.identity = identity
        self.client = client
        self.hostCheck = hostCheck
        self.now = now ?? { Int64(Date().timeIntervalSince1970) }
    }

    /// Who the tokens are for, for messages: the account's email or "the metadata server's account".
    public nonisolated var principal: String {
        switch identity {
        case .serviceAccount(let key): key.clientEmail
        case .metadataServer(let host): "the default service account of the metadata server at \(host)"
        }
    }

    /// A token for `scope`, from the cache while it has more than a minute left.
    public func token(scope: String) async throws -> String {
        if let entry = cached[scope], entry.expires - 60 > now() { return entry.token }
        let (token, lifetime) = try await fetch(scope: scope)
        cached[scope] = (token, now() + lifetime)
        return token
    }

    /// Forgets the tokens, after an API refused one.
    public func invalidate() { cached = [:] }

    private func fetch(scope: String) async throws -> (String, Int64) {
        var request: HTTPClientRequest
        let url: String
        switch identity {
        case .serviceAccount(let key):
            url = key.tokenURI ?? GoogleServiceAccountKey.tokenAudience
            request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let form =
                "grant_type=" + Self.formEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion="
                + Self.formEncode(try key.assertion(scope: scope, now: now()))
            request.body = .bytes(ByteBuffer(string: form))
        case .metadataServer(let host):
            url = "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token"
            request = HTTPClientRequest(url: url)
            request.headers.add(name: "Metadata-Flavor", value: "Google")
        }
        try hostCheck(url)
        let place = Self.withoutQuery(url)
        let body: ByteBuffer
        let status: Int
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            status = Int(response.status.code)
            body = try await response.body.collect(upTo: 1024 * 1024)
        } catch {
            throw GoogleCloudError(.token, "cannot reach \(place) for a token for \(principal): \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any]
        guard status == 200, let token = object?["access_token"] as? String, !token.isEmpty else {
            let reason =
                [object?["error"] as? String, object?["error_description"] as? String].compactMap { $0 }.joined(
                    separator: ": ")
            throw GoogleCloudError(
                .token,
                "\(place) refused a token for \(principal) (HTTP \(status)\(reason.isEmpty ? "" : ": \(reason)"))",
                status: status)
        }
        let lifetime = (object?["expires_in"] as? NSNumber)?.int64Value ?? 3600
        return (token, lifetime)
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }
}

extension GoogleAccessTokens.Identity {
    /// The metadata server's address when none is configured.
    public static let defaultMetadataHost = "metadata.google.internal"

    /// Application Default Credentials, found as Google's libraries find them: the key file
    /// `GOOGLE_APPLICATION_CREDENTIALS` names, otherwise the metadata server (`GCE_METADATA_HOST`, or
    /// `metadata.google.internal`).
    ///
    /// - Parameter readFile: reads the key file (the caller decides what may be read).
    /// - Throws: `GoogleCloudError` `.credentials` when the named file cannot be read or is not a service account
    ///   key; the message names the file, never its content.
    public static func applicationDefault(
        environment: [String: String], readFile: (String) throws -> [UInt8]
    ) throws -> Self {
        guard let path = environment["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty else {
            let host = environment["GCE_METADATA_HOST"].flatMap { $0.isEmpty ? nil : $0 }
            return .metadataServer(host: host ?? defaultMetadataHost)
        }
        let bytes: [UInt8]
        do {
            bytes = try readFile(path)
        } catch {
            throw GoogleCloudError(
                .credentials, "cannot read GOOGLE_APPLICATION_CREDENTIALS (\(path)): \(error)")
        }
        do {
            return .serviceAccount(try GoogleServiceAccountKey(json: bytes))
        } catch let error as GoogleCloudError {
            throw GoogleCloudError(.credentials, "GOOGLE_APPLICATION_CREDENTIALS (\(path)): \(error.message)")
        }
    }
}
