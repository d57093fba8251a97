internal import Crypto
internal import Foundation
internal import _CryptoExtras

/// A Microsoft Entra ID identity, none with a secret in a configuration file: an app registration with a client
/// secret or a certificate (both read by reference, by the caller), workload identity federation on AKS (a projected
/// token file), or a managed identity (IMDS on a VM or AKS node, the identity endpoint of App Service and Container
/// Apps).
public enum AzureIdentity: Sendable {
    /// An app registration and its client secret.
    case clientSecret(tenantId: String, clientId: String, secret: String)
    /// An app registration and a certificate registered on it: a JWT client assertion signed with its key.
    case clientCertificate(tenantId: String, clientId: String, certificate: AzureClientCertificate)
    /// Workload identity (AKS): the federated token file, re-read for each exchange (Kubernetes rotates it).
    case workloadIdentity(tenantId: String, clientId: String, tokenFile: String)
    /// A managed identity; `clientId` picks a user-assigned one.
    case managedIdentity(clientId: String?, endpoint: ManagedIdentityEndpoint)

    public enum ManagedIdentityEndpoint: Sendable, Equatable {
        /// The instance metadata service, `http://169.254.169.254` unless moved.
        case imds(String)
        /// App Service / Container Apps: `IDENTITY_ENDPOINT` and the `IDENTITY_HEADER` it wants.
        case appService(url: String, header: String)
    }

    /// The standard IMDS address.
    public static let imdsAddress = "http://169.254.169.254"
    /// Entra ID's public cloud authority.
    public static let defaultAuthorityHost = "https://login.microsoftonline.com"

    /// Where tokens come from, to pick the HTTP client (proxy or not) for it.
    public func tokenURL(authorityHost: String) -> String {
        switch self {
        case .clientSecret, .clientCertificate, .workloadIdentity: authorityHost
        case .managedIdentity(_, .imds(let base)): base
        case .managedIdentity(_, .appService(let url, _)): url
        }
    }

    /// Who the tokens are for, for messages.
    public var principal: String {
        switch self {
        case .clientSecret(_, let clientId, _), .clientCertificate(_, let clientId, _),
            .workloadIdentity(_, let clientId, _):
            "app \(clientId)"
        case .managedIdentity(let clientId, _):
            clientId.map { "managed identity \($0)" } ?? "the default managed identity"
        }
    }

    /// The identity the standard Azure variables describe, as Azure's SDKs find it: `AZURE_FEDERATED_TOKEN_FILE`
    /// with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` (AKS workload identity); else `IDENTITY_ENDPOINT` with
    /// `IDENTITY_HEADER` (App Service, Container Apps); else IMDS (`AZURE_CLIENT_ID` picks a user-assigned
    /// identity). Client secrets and certificates are configured explicitly, by reference, never from variables.
    public static func fromEnvironment(_ environment: [String: String], imds: String? = nil) -> AzureIdentity {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let file = value("AZURE_FEDERATED_TOKEN_FILE"), let tenant = value("AZURE_TENANT_ID"),
            let client = value("AZURE_CLIENT_ID")
        {
            return .workloadIdentity(tenantId: tenant, clientId: client, tokenFile: file)
        }
        if let url = value("IDENTITY_ENDPOINT"), let header = value("IDENTITY_HEADER") {
            return .managedIdentity(clientId: value("AZURE_CLIENT_ID"), endpoint: .appService(url: url, header: header))
        }
        return .managedIdentity(clientId: value("AZURE_CLIENT_ID"), endpoint: .imds(imds ?? imdsAddress))
    }
}

/// A certificate registered on an app registration, with its private key: a PEM holding both (as Azure's SDKs
/// take `AZURE_CLIENT_CERTIFICATE_PATH`). `description` never shows the key.
public struct AzureClientCertificate: Sendable, CustomStringConvertible {
    /// base64url of the DER certificate's SHA-256: the assertion's `x5t#S256`.
    public let thumbprintSHA256: String
    private let key: _RSA.Signing.PrivateKey

    /// - Throws: `AzureError` `.credentials` when the PEM lacks a certificate or an RSA private key.
    public init(pem: String) throws {
        guard let der = Self.block("CERTIFICATE", in: pem) else {
            throw AzureError(.credentials, "the client certificate PEM holds no CERTIFICATE block")
        }
        guard let keyPEM = Self.pemBlock(containing: "PRIVATE KEY", in: pem),
            let key = try? _RSA.Signing.PrivateKey(pemRepresentation: keyPEM)
        else {
            throw AzureError(.credentials, "the client certificate PEM holds no RSA private key")
        }
        self.key = key
        self.thumbprintSHA256 = AzureJWT.base64URL(Data(SHA256.hash(data: der)))
    }

    /// The RS256 signature of `message`.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try key.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    public var description: String { "AzureClientCertificate(x5t#S256 \(thumbprintSHA256), key: <redacted>)" }

    static func block(_ label: String, in pem: String) -> [UInt8]? {
        guard let text = pemBlock(containing: label, in: pem) else { return nil }
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body).map(Array.init)
    }

    /// The first `-----BEGIN …LABEL-----` … `-----END …-----` block whose label ends with `label`.
    static func pemBlock(containing label: String, in pem: String) -> String? {
        var lines: [Substring] = []
        var inside = false
        for line in pem.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !inside, trimmed.hasPrefix("-----BEGIN "), trimmed.hasSuffix("\(label)-----") {
                inside = true
                lines = [Substring(trimmed)]
            } else if inside {
                lines.append(Substring(trimmed))
                if trimmed.hasPrefix("-----END ") { return lines.joined(separator: "\n") + "\n" }
            }
        }
        return nil
    }
}

/// JWTs for Entra ID's client assertions.
enum AzureJWT {
    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A client assertion (RFC 7523) for `clientId` at `tokenURL`: RS256, `x5t#S256` of the certificate, ten
    /// minutes of life.
    static func assertion(
        clientId: String, tokenURL: String, certificate: AzureClientCertificate, now: Int64
    ) throws -> String {
        let header = ["alg": "RS256", "typ": "JWT", "x5t#S256": certificate.thumbprintSHA256]
        let claims: [String: Any] = [
            "aud": tokenURL, "iss": clientId, "sub": clientId, "jti": UUID().uuidString, "nbf": now, "iat": now,
            "exp": now + 600,
        ]
        let signingInput =
            base64URL(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) + "."
            + base64URL(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signature = try certificate.sign(Array(signingInput.utf8))
        return signingInput + "." + base64URL(Data(signature))
    }
}

/// A failure of an Azure identity or service. Messages name the identity, the endpoint and Azure's error code,
/// never a secret, an assertion or a token.
public struct AzureError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A credential that cannot be used (a PEM without a key, a missing token file).
        case credentials
        /// Entra ID or the managed identity endpoint refused or could not be reached.
        case token
    }

    public var code: Code
    public var message: String
    /// The HTTP status of the answer, when there was one.
    public var status: Int?

    public init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { message }
}
