internal import Crypto
internal import Foundation
internal import _CryptoExtras

/// A Google service account key file (`"type": "service_account"`): the account's email and RSA private key.
///
/// It signs with RS256 (PKCS#1 v1.5 over SHA-256), as Google's V4 signed URLs (`GOOG4-RSA-SHA256`) and its OAuth
/// JWT grants want. `description` never shows the key.
public struct GoogleServiceAccountKey: Sendable, CustomStringConvertible {
    public let clientEmail: String
    public let privateKeyId: String?
    public let projectId: String?
    /// Where the key's JWT grant is exchanged for an access token.
    public let tokenURI: String?
    private let key: _RSA.Signing.PrivateKey

    /// Parses the JSON of a key file.
    ///
    /// - Throws: `GoogleCloudError` `.credentials` naming what is wrong, never the key.
    public init(json: [UInt8]) throws {
        let file: KeyFile
        do {
            file = try JSONDecoder().decode(KeyFile.self, from: Data(json))
        } catch {
            throw GoogleCloudError(.credentials, "the service account key is not a JSON key file")
        }
        guard file.type == "service_account" else {
            throw GoogleCloudError(
                .credentials,
                "the key file's type is '\(file.type ?? "missing")', not 'service_account'")
        }
        guard let email = file.clientEmail, !email.isEmpty, let pem = file.privateKey else {
            throw GoogleCloudError(.credentials, "the service account key has no client_email or private_key")
        }
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw GoogleCloudError(
                .credentials, "the private_key of service account \(email) is not an RSA key in PEM")
        }
        clientEmail = email
        privateKeyId = file.privateKeyId
        projectId = file.projectId
        tokenURI = file.tokenURI
    }

    /// The JWT a service account presents to the token endpoint (the JWT bearer grant, RFC 7523): RS256, `kid` the
    /// key's id, `iss` the account, `aud` Google's token endpoint, `scope`, an hour's lifetime from `now`.
    public func assertion(scope: String, now: Int64) throws -> String {
        var header: [String: String] = ["alg": "RS256", "typ": "JWT"]
        if let privateKeyId { header["kid"] = privateKeyId }
        let claims: [String: Any] = [
            "iss": clientEmail, "scope": scope, "aud": Self.tokenAudience, "iat": now, "exp": now + 3600,
        ]
        let signingInput =
            Self.base64URL(try JSONSerialization.data(withJSONObject: header, options: .sortedKeys)) + "."
            + Self.base64URL(try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys))
        return signingInput + "." + Self.base64URL(Data(try sign(Array(signingInput.utf8))))
    }

    /// The audience of a JWT bearer grant, whatever `token_uri` says (Google's libraries send this one).
    public static let tokenAudience = "https://oauth2.googleapis.com/token"

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// RS256 over `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    public var description: String { "GoogleServiceAccountKey(\(clientEmail), key: <redacted>)" }

    /// The fields of a key file this reads, as Google writes them.
    private struct KeyFile: Decodable {
        var type: String?
        var clientEmail: String?
        var privateKey: String?
        var privateKeyId: String?
        var projectId: String?
        var tokenURI: String?

        enum CodingKeys: String, CodingKey {
            case type
            case clientEmail = "client_email"
            case privateKey = "private_key"
            case privateKeyId = "private_key_id"
            case projectId = "project_id"
            case tokenURI = "token_uri"
        }
    }
}
