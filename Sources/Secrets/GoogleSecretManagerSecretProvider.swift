public import AsyncHTTPClient
internal import Foundation
internal import GoogleCloud
internal import NIOCore
internal import NIOHTTP1

/// How `gcp-sm:` references reach Google Secret Manager: whose identity, and where.
public struct GoogleSecretManagerSettings: Codable, Sendable, Equatable {
    /// A service account key (its JSON), by reference; nil: the metadata server's account (GCE, GKE).
    public var credentials: SecretReference?
    /// `host[:port]` of the metadata server; nil: `GCE_METADATA_HOST`, else `metadata.google.internal`.
    public var metadataHost: String?
    /// Secret Manager's endpoint (a private endpoint, a test server).
    public var endpoint: String

    public static let defaultEndpoint = "https://secretmanager.googleapis.com"

    public init(credentials: SecretReference? = nil, metadataHost: String? = nil, endpoint: String = defaultEndpoint) {
        self.credentials = credentials
        self.metadataHost = metadataHost
        self.endpoint = endpoint
    }
}

/// Resolves `gcp-sm:projects/P/secrets/S[/versions/V][#field]` (`latest` when no version is named) with Secret
/// Manager's `versions.access`, checking the payload's CRC-32C.
///
/// The token comes from a service account key (by reference) or the metadata server and is cached per scope for
/// the provider's life (one run); nothing else is kept. Errors name the secret and Google's status, and say which
/// role is missing; never a value or a token.
public actor GoogleSecretManagerSecretProvider: SecretProvider {
    public nonisolated var store: SecretReference.Store { .gcpSecretManager }

    public nonisolated let settings: GoogleSecretManagerSettings
    private let clientForHost: @Sendable (String) -> HTTPClient
    private let credentials: @Sendable (SecretReference) async throws -> String
    private let hostCheck: @Sendable (String) throws -> Void
    private let environment: [String: String]
    private let retryDelay: Duration
    private var tokens: GoogleAccessTokens?

    static let scope = "https://www.googleapis.com/auth/cloud-platform"

    /// - Parameters:
    ///   - clientForHost: the HTTP client for a host (through the proxy or not); the caller shuts them down.
    ///   - credentials: resolves the key file's reference (other stores).
    ///   - hostCheck: called with every URL before it is requested; throws to refuse (the egress policy).
    ///   - environment: for `GCE_METADATA_HOST`.
    public init(
        settings: GoogleSecretManagerSettings, clientForHost: @escaping @Sendable (String) -> HTTPClient,
        credentials: @escaping @Sendable (SecretReference) async throws -> String,
        hostCheck: @escaping @Sendable (String) throws -> Void = { _ in }, environment: [String: String] = [:],
        retryDelay: Duration = .milliseconds(250)
    ) {
        self.settings = settings
        self.clientForHost = clientForHost
        self.credentials = credentials
        self.hostCheck = hostCheck
        self.environment = environment
        self.retryDelay = retryDelay
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let name = try Self.versionName(reference)
        let tokens = try await tokenSource(for: "to read \(reference)")
        let url = settings.endpoint + "/v1/" + name + ":access"
        try hostCheck(url)
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            let token: String
            do {
                token = try await tokens.token(scope: Self.scope)
            } catch {
                throw SecretError(.unreadable, "cannot get a Google token to read \(reference): \(error)")
            }
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Accept", value: "application/json")
            let status: Int
            let body: ByteBuffer
            do {
                let response = try await clientForHost(URLComponents(string: url)?.host ?? "").execute(
                    request, timeout: .seconds(30))
                status = Int(response.status.code)
                body = try await response.body.collect(upTo: 1024 * 1024)
            } catch {
                guard attempt < 3 else {
                    throw SecretError(.unreadable, "cannot reach Secret Manager at \(settings.endpoint): \(error)")
                }
                try await Task.sleep(for: retryDelay * (1 << (attempt - 1)))
                continue
            }
            let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any]
            if status == 200 { return try Self.payload(object, reference: reference) }
            if status == 401 && !refreshed {
                refreshed = true
                await tokens.invalidate()
                continue
            }
            if (status == 429 || status >= 500) && attempt < 3 {
                try await Task.sleep(for: retryDelay * (1 << (attempt - 1)))
                continue
            }
            throw Self.failure(status: status, object: object, reference: reference, principal: tokens.principal)
        }
    }

    /// Gets a token, for `outpost agent --check`: the identity works and its endpoints are allowed; no secret is read.
    public func checkAccess() async throws -> String {
        try hostCheck(settings.endpoint)
        let tokens = try await tokenSource(for: "for a check")
        do {
            _ = try await tokens.token(scope: Self.scope)
        } catch {
            throw SecretError(.unreadable, "\(error)")
        }
        return "a token for \(tokens.principal) obtained; Secret Manager at \(settings.endpoint) allowed"
    }

    /// `projects/P/secrets/S/versions/V` from the locator, checked before anything is sent.
    static func versionName(_ reference: SecretReference) throws -> String {
        let parts = reference.locator.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func valid(_ text: String) -> Bool {
            !text.isEmpty && text.count <= 255
                && text.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                        || $0 == "_"
                }
        }
        guard parts.count == 4 || parts.count == 6, parts[0] == "projects", parts[2] == "secrets", valid(parts[1]),
            valid(parts[3]), parts.count == 4 || (parts[4] == "versions" && valid(parts[5]))
        else {
            throw SecretError(
                .invalidReference,
                "'\(reference)' is not a Secret Manager reference: write gcp-sm:projects/PROJECT/secrets/SECRET"
                    + "[/versions/VERSION][#field]")
        }
        return parts.count == 4 ? reference.locator + "/versions/latest" : reference.locator
    }

    private func tokenSource(for purpose: String) async throws -> GoogleAccessTokens {
        if let tokens { return tokens }
        let identity: GoogleAccessTokens.Identity
        if let keyReference = settings.credentials {
            let json: String
            do {
                json = try await credentials(keyReference)
            } catch {
                throw SecretError(
                    .unreadable,
                    "cannot read the Google credentials \(keyReference) \(purpose): \(error)")
            }
            do {
                identity = try .credentialsFile(json: Array(json.utf8))
            } catch {
                throw SecretError(.invalidFormat, "the Google credentials \(keyReference): \(error)")
            }
        } else {
            let host =
                settings.metadataHost ?? environment["GCE_METADATA_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "metadata.google.internal"
            identity = .metadataServer(host: host)
        }
        let created = GoogleAccessTokens(
            identity: identity, client: clientForHost(URLComponents(string: identity.tokenURL)?.host ?? ""),
            hostCheck: hostCheck)
        tokens = created
        return created
    }

    private static func payload(_ object: [String: Any]?, reference: SecretReference) throws -> String {
        guard let payload = object?["payload"] as? [String: Any], let encoded = payload["data"] as? String,
            let data = Data(base64Encoded: encoded)
        else {
            throw SecretError(.invalidFormat, "Secret Manager's answer for \(reference) holds no payload")
        }
        if let expected = payload["dataCrc32c"] as? String {
            guard UInt32(expected) == CRC32C.checksum(data) else {
                throw SecretError(
                    .invalidFormat,
                    "the payload of \(reference) does not match its CRC-32C: it was corrupted on the way")
            }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SecretError(.invalidFormat, "the payload of \(reference) is not UTF-8 text")
        }
        return text
    }

    private static func failure(
        status: Int, object: [String: Any]?, reference: SecretReference, principal: String
    ) -> SecretError {
        let error = object?["error"] as? [String: Any]
        let googleStatus = error?["status"] as? String ?? "HTTP \(status)"
        let message = error?["message"] as? String ?? ""
        let detail =
            "Secret Manager answered \(googleStatus) for \(reference)" + (message.isEmpty ? "" : ": \(message)")
        switch status {
        case 403:
            return SecretError(
                .unreadable,
                "\(detail). Grant \(principal) the Secret Manager Secret Accessor role "
                    + "(roles/secretmanager.secretAccessor) on the secret")
        case 404:
            return SecretError(.notFound, "\(detail). Check the project, the secret's name and the version")
        case 400 where googleStatus == "FAILED_PRECONDITION":
            return SecretError(.unreadable, "\(detail). The version is disabled or destroyed: name an enabled one")
        case 401:
            return SecretError(.unreadable, "\(detail). The token of \(principal) was refused")
        default:
            return SecretError(.unreadable, detail)
        }
    }
}
