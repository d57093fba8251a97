internal import Foundation

/// A workload identity federation credential configuration (`"type": "external_account"`): a token from another
/// identity provider (a Kubernetes service account token, an OIDC token of another cloud), read from a file or a
/// local URL, exchanged at Google's Security Token Service for a federated token, then, when the configuration
/// names a service account, for that account's token through IAM Credentials' `generateAccessToken`.
///
/// The file holds no secret: the subject token is read when a token is needed, never kept. Only OIDC/JWT subject
/// tokens from a file or URL are supported (not AWS's signed requests, SAML or executables).
public struct GoogleExternalAccount: Sendable, Equatable {
    /// The workload identity pool provider: `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/R`.
    public let audience: String
    /// `urn:ietf:params:oauth:token-type:jwt` or `…:id_token`.
    public let subjectTokenType: String
    /// The STS token endpoint.
    public let tokenURL: String
    /// `…/serviceAccounts/EMAIL:generateAccessToken`, when a service account is impersonated.
    public let impersonationURL: String?
    /// Where the subject token comes from.
    public let source: SubjectTokenSource
    /// Seconds an impersonated token lives (IAM allows up to 3600).
    public let tokenLifetime: Int

    public enum SubjectTokenSource: Sendable, Equatable {
        /// A file re-read for each exchange (Kubernetes rotates projected tokens); `field`: a JSON field holding it.
        case file(path: String, field: String?)
        /// A local URL (a metadata endpoint), with headers.
        case url(String, headers: [String: String], field: String?)
    }

    /// Parses a credential configuration file.
    ///
    /// - Throws: `GoogleCloudError` `.credentials` naming what is missing or unsupported.
    public init(json: [UInt8]) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw GoogleCloudError(.credentials, "the credential configuration is not JSON")
        }
        guard object["type"] as? String == "external_account" else {
            throw GoogleCloudError(
                .credentials, "the credential configuration's type is not 'external_account'")
        }
        guard let audience = object["audience"] as? String, audience.hasPrefix("//iam.googleapis.com/") else {
            throw GoogleCloudError(
                .credentials, "the credential configuration names no workload identity pool provider as audience")
        }
        let type = object["subject_token_type"] as? String ?? ""
        guard type == "urn:ietf:params:oauth:token-type:jwt" || type == "urn:ietf:params:oauth:token-type:id_token"
        else {
            throw GoogleCloudError(
                .credentials,
                "subject_token_type '\(type)' is not supported: Outpost federates OIDC tokens (jwt, id_token) only")
        }
        guard let source = object["credential_source"] as? [String: Any] else {
            throw GoogleCloudError(.credentials, "the credential configuration has no credential_source")
        }
        let format = source["format"] as? [String: Any]
        let field: String?
        switch format?["type"] as? String {
        case nil, "text": field = nil
        case "json":
            guard let name = format?["subject_token_field_name"] as? String, !name.isEmpty else {
                throw GoogleCloudError(
                    .credentials, "credential_source.format json needs subject_token_field_name")
            }
            field = name
        case let other?:
            throw GoogleCloudError(.credentials, "credential_source.format type '\(other)' is not text or json")
        }
        if let path = source["file"] as? String, !path.isEmpty {
            self.source = .file(path: path, field: field)
        } else if let url = source["url"] as? String, !url.isEmpty {
            self.source = .url(url, headers: source["headers"] as? [String: String] ?? [:], field: field)
        } else {
            throw GoogleCloudError(
                .credentials,
                "credential_source must be a file or a url (AWS, executable and certificate sources are not supported)")
        }
        self.audience = audience
        self.subjectTokenType = type
        self.tokenURL = object["token_url"] as? String ?? "https://sts.googleapis.com/v1/token"
        self.impersonationURL = object["service_account_impersonation_url"] as? String
        let impersonation = object["service_account_impersonation"] as? [String: Any]
        self.tokenLifetime = min(3600, max(600, impersonation?["token_lifetime_seconds"] as? Int ?? 3600))
    }

    /// The impersonated service account's email, from the impersonation URL.
    public var serviceAccountEmail: String? {
        guard let url = impersonationURL, let range = url.range(of: "/serviceAccounts/"),
            let end = url.range(of: ":generateAccessToken", range: range.upperBound..<url.endIndex)
        else { return nil }
        return String(url[range.upperBound..<end.lowerBound]).removingPercentEncoding
    }

    /// Who the tokens are for, for messages.
    public var principal: String {
        serviceAccountEmail ?? "the workload identity pool principal of \(audience)"
    }
}
