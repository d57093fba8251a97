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
        /// Workload identity federation: another provider's token exchanged at STS (and for a service account's).
        case externalAccount(GoogleExternalAccount)

        /// Where tokens come from (the first endpoint asked), to pick the HTTP client (proxy or not) for it.
        public var tokenURL: String {
            switch self {
            case .serviceAccount(let key): key.tokenURI ?? GoogleServiceAccountKey.tokenAudience
            case .metadataServer(let host): "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token"
            case .externalAccount(let account): account.tokenURL
            }
        }

        /// The identity a credential file describes: a service account key or an external account configuration.
        ///
        /// - Throws: `GoogleCloudError` `.credentials` for any other file; never echoes a key.
        public static func credentialsFile(json: [UInt8]) throws -> Self {
            let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]
            switch object?["type"] as? String {
            case "external_account": return .externalAccount(try GoogleExternalAccount(json: json))
            default: return .serviceAccount(try GoogleServiceAccountKey(json: json))
            }
        }
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
        case .externalAccount(let account): account.principal
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
        case .externalAccount(let account):
            return try await federate(account, scope: scope)
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

    /// Workload identity federation: the subject token, exchanged at STS for a federated token, then (with an
    /// impersonated account) for the account's token.
    private func federate(_ account: GoogleExternalAccount, scope: String) async throws -> (String, Int64) {
        let subject = try await subjectToken(account)
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("audience", account.audience),
            ("scope", account.impersonationURL == nil ? scope : "https://www.googleapis.com/auth/cloud-platform"),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("subject_token", subject), ("subject_token_type", account.subjectTokenType),
        ].map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        var exchange = HTTPClientRequest(url: account.tokenURL)
        exchange.method = .POST
        exchange.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        exchange.body = .bytes(ByteBuffer(string: form))
        let (status, object) = try await call(exchange, url: account.tokenURL, purpose: "a federated token")
        guard status == 200, let federated = object?["access_token"] as? String, !federated.isEmpty else {
            throw GoogleCloudError(
                .token,
                "the Security Token Service at \(Self.withoutQuery(account.tokenURL)) refused the token of "
                    + "\(account.audience) (HTTP \(status)\(Self.reason(object)))", status: status)
        }
        let federatedLifetime = (object?["expires_in"] as? NSNumber)?.int64Value ?? 3600
        guard let impersonation = account.impersonationURL else { return (federated, federatedLifetime) }
        var request = HTTPClientRequest(url: impersonation)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(federated)")
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONSerialization.data(
            withJSONObject: ["scope": [scope], "lifetime": "\(account.tokenLifetime)s"], options: [.sortedKeys])
        request.body = .bytes(ByteBuffer(bytes: body))
        let (impersonated, answer) = try await call(request, url: impersonation, purpose: "a token for \(principal)")
        guard impersonated == 200, let token = answer?["accessToken"] as? String, !token.isEmpty else {
            let advice =
                impersonated == 403
                ? "; the pool's principal needs roles/iam.workloadIdentityUser on \(principal)" : ""
            throw GoogleCloudError(
                .token,
                "IAM Credentials refused a token for \(principal) (HTTP \(impersonated)\(Self.reason(answer)))\(advice)",
                status: impersonated)
        }
        let expires = (answer?["expireTime"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        let lifetime = expires.map { Int64($0.timeIntervalSince1970) - now() } ?? Int64(account.tokenLifetime)
        return (token, max(0, lifetime))
    }

    /// The other provider's token, read afresh from its file or local URL (never kept).
    private func subjectToken(_ account: GoogleExternalAccount) async throws -> String {
        let text: String
        let field: String?
        switch account.source {
        case .file(let path, let name):
            field = name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw GoogleCloudError(.credentials, "cannot read the subject token file \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        case .url(let url, let headers, let name):
            field = name
            var request = HTTPClientRequest(url: url)
            for (header, value) in headers { request.headers.add(name: header, value: value) }
            let (status, body) = try await call(request, url: url, purpose: "the subject token", json: false)
            guard status == 200, let body else {
                throw GoogleCloudError(
                    .credentials, "\(Self.withoutQuery(url)) gave no subject token (HTTP \(status))", status: status)
            }
            text = body
        }
        let token: String?
        if let field {
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            token = object?[field] as? String
        } else {
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token, !token.isEmpty else {
            throw GoogleCloudError(
                .credentials,
                "the subject token of \(account.audience) is empty\(field.map { " (no field \($0))" } ?? "")")
        }
        return token
    }

    /// One request, its host checked first; the answer's status and JSON object.
    private func call(
        _ request: HTTPClientRequest, url: String, purpose: String
    ) async throws -> (Int, [String: Any]?) {
        let (status, text) = try await call(request, url: url, purpose: purpose, json: true)
        return (status, text.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] })
    }

    private func call(
        _ request: HTTPClientRequest, url: String, purpose: String, json: Bool
    ) async throws -> (Int, String?) {
        try hostCheck(url)
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            return (Int(response.status.code), String(buffer: body))
        } catch {
            throw GoogleCloudError(.token, "cannot reach \(Self.withoutQuery(url)) for \(purpose): \(error)")
        }
    }

    static func reason(_ object: [String: Any]?) -> String {
        if let error = object?["error"] as? [String: Any], let message = error["message"] as? String {
            return ": \(message)"
        }
        let text = [object?["error"] as? String, object?["error_description"] as? String].compactMap { $0 }
        return text.isEmpty ? "" : ": " + text.joined(separator: ": ")
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
            return try .credentialsFile(json: bytes)
        } catch let error as GoogleCloudError {
            throw GoogleCloudError(.credentials, "GOOGLE_APPLICATION_CREDENTIALS (\(path)): \(error.message)")
        }
    }
}
