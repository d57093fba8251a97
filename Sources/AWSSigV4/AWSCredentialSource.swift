/// Where a process's AWS credentials come from, decided once from its configuration.
///
/// Shared by every AWS client in the project (Secrets Manager, S3) so that they all resolve credentials the same
/// way: static keys first, then a web-identity token exchanged with STS (EKS service-account roles). The exchange
/// itself is I/O and belongs to each client; this module only builds the STS request and reads its answer.
public enum AWSCredentialSource: Sendable, CustomStringConvertible {
    /// Fixed keys (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`).
    case fixed(AWSCredentials)
    /// `AssumeRoleWithWebIdentity` with the token read from `tokenFile` at each exchange (the kubelet rotates it).
    case webIdentity(WebIdentity)

    /// The parameters of a web-identity exchange with STS.
    public struct WebIdentity: Sendable {
        /// A file holding the OIDC token (`AWS_WEB_IDENTITY_TOKEN_FILE`).
        public var tokenFile: String
        /// The role to assume (`AWS_ROLE_ARN`).
        public var roleARN: String
        /// `AWS_ROLE_SESSION_NAME`, `outpost` when unset.
        public var sessionName: String
        /// The STS endpoint, `https://host[:port]` without a path.
        public var stsEndpoint: String

        /// Creates the parameters of an exchange.
        public init(tokenFile: String, roleARN: String, sessionName: String = "outpost", stsEndpoint: String) {
            self.tokenFile = tokenFile
            self.roleARN = roleARN
            self.sessionName = sessionName
            self.stsEndpoint = stsEndpoint
        }
    }

    /// Never shows a secret or a token.
    public var description: String {
        switch self {
        case .fixed(let credentials): return "fixed \(credentials)"
        case .webIdentity(let identity): return "web identity for role \(identity.roleARN)"
        }
    }
}

extension AWSEnvironment {
    /// The credential source the standard environment variables describe, or nil when they describe none.
    ///
    /// - Parameter region: the region whose STS endpoint a web-identity exchange uses.
    public func credentialSource(region: String) -> AWSCredentialSource? {
        if let credentials { return .fixed(credentials) }
        guard let tokenFile = webIdentityTokenFile, !tokenFile.isEmpty, let roleARN, !roleARN.isEmpty else {
            return nil
        }
        return .webIdentity(
            .init(
                tokenFile: tokenFile, roleARN: roleARN, sessionName: roleSessionName ?? "outpost",
                stsEndpoint: endpoint(serviceEnvironmentName: "STS", host: "sts", region: region)))
    }

    /// What to tell an operator when `credentialSource(region:)` found nothing.
    public static let missingCredentialsAdvice =
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN"
}

/// The STS `AssumeRoleWithWebIdentity` call as data: the form to POST (unsigned: the token is the proof) and the
/// reading of its XML answer.
public enum STSWebIdentityExchange {
    /// The `application/x-www-form-urlencoded` body to POST to `<stsEndpoint>/`.
    public static func formBody(_ identity: AWSCredentialSource.WebIdentity, token: String) -> String {
        [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", identity.roleARN),
            ("RoleSessionName", identity.sessionName), ("WebIdentityToken", token),
        ].map { "\($0.0)=\(SigV4Signer.percentEncode($0.1))" }.joined(separator: "&")
    }

    /// Temporary credentials and their expiry (`2026-11-22T05:00:00Z`, when STS sent one) from STS's answer; nil
    /// when the answer holds no credentials.
    public static func credentials(fromResponse text: String) -> (credentials: AWSCredentials, expiration: String?)? {
        guard let key = xmlValue("AccessKeyId", in: text), let secret = xmlValue("SecretAccessKey", in: text) else {
            return nil
        }
        let credentials = AWSCredentials(
            accessKeyId: key, secretAccessKey: secret, sessionToken: xmlValue("SessionToken", in: text))
        return (credentials, xmlValue("Expiration", in: text))
    }

    /// The text of the first `<element>` (STS's values are base64 and ARNs: no entities to decode).
    static func xmlValue(_ element: String, in text: String) -> String? {
        guard let start = text.firstRange(of: "<\(element)>"), let end = text.firstRange(of: "</\(element)>"),
            start.upperBound <= end.lowerBound
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
