public import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// Signs bytes as a service account whose private key stays with Google: IAM Credentials'
/// `projects/-/serviceAccounts/EMAIL:signBlob` (RSASSA-PKCS1-v1_5 with SHA-256), called with a token of the
/// caller's own identity, which needs `iam.serviceAccounts.signBlob` on the account (Service Account Token
/// Creator). This is how a server under workload identity or on the metadata server signs V4 URLs.
public struct GoogleIAMSigner: Sendable {
    public static let defaultEndpoint = "https://iamcredentials.googleapis.com"
    static let scope = "https://www.googleapis.com/auth/cloud-platform"

    public let tokens: GoogleAccessTokens
    public let endpoint: String
    let client: HTTPClient

    public init(tokens: GoogleAccessTokens, endpoint: String = GoogleIAMSigner.defaultEndpoint, client: HTTPClient) {
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.tokens = tokens
        self.endpoint = endpoint
        self.client = client
    }

    /// The signature of `bytes` by `email`'s Google-held key.
    ///
    /// - Throws: `GoogleCloudError` `.token` naming the account and Google's status (a 403 says which role is
    ///   missing), never the token.
    public func sign(_ bytes: [UInt8], as email: String) async throws -> [UInt8] {
        let token = try await tokens.token(scope: Self.scope)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@"))
        let url =
            endpoint + "/v1/projects/-/serviceAccounts/"
            + (email.addingPercentEncoding(withAllowedCharacters: allowed) ?? email) + ":signBlob"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONSerialization.data(withJSONObject: ["payload": Data(bytes).base64EncodedString()])
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let answer: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            status = Int(response.status.code)
            answer = try await response.body.collect(upTo: 1024 * 1024)
        } catch {
            throw GoogleCloudError(.token, "cannot reach IAM Credentials at \(endpoint) to sign as \(email): \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: answer)))) as? [String: Any]
        guard status == 200, let signed = (object?["signedBlob"] as? String).flatMap({ Data(base64Encoded: $0) })
        else {
            if status == 401 { await tokens.invalidate() }
            let message = ((object?["error"] as? [String: Any])?["message"] as? String).map { ": \($0)" } ?? ""
            let advice =
                status == 403
                ? " (\(tokens.principal) needs roles/iam.serviceAccountTokenCreator on \(email))" : ""
            throw GoogleCloudError(
                .token, "IAM Credentials refused to sign as \(email) (HTTP \(status)\(message))\(advice)",
                status: status)
        }
        return Array(signed)
    }
}

extension GoogleAccessTokens {
    /// The service account the tokens are for: the key's `client_email`, or what the metadata server says its
    /// default account is.
    ///
    /// - Throws: `GoogleCloudError` `.token` when the metadata server does not say.
    public func serviceAccountEmail() async throws -> String {
        switch identity {
        case .serviceAccount(let key):
            return key.clientEmail
        case .externalAccount(let account):
            guard let email = account.serviceAccountEmail else {
                throw GoogleCloudError(
                    .credentials,
                    "the workload identity configuration impersonates no service account: signing needs one "
                        + "(service_account_impersonation_url)")
            }
            return email
        case .metadataServer(let host):
            let url = "http://\(host)/computeMetadata/v1/instance/service-accounts/default/email"
            try hostCheck(url)
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Metadata-Flavor", value: "Google")
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 64 * 1024)
                let email = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
                guard response.status == .ok, email.contains("@") else {
                    throw GoogleCloudError(
                        .token, "the metadata server at \(host) names no service account (HTTP \(response.status.code))"
                    )
                }
                return email
            } catch let error as GoogleCloudError {
                throw error
            } catch {
                throw GoogleCloudError(.token, "cannot reach the metadata server at \(host): \(error)")
            }
        }
    }
}
