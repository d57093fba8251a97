internal import SourceURLs
internal import Synchronization

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The secret a Snowflake source authenticates with, held in memory only.
///
/// `description` never shows the secret, so the value can travel through logs and errors safely.
public enum SnowflakeCredentials: Sendable, CustomStringConvertible {
    /// A PEM private key (PKCS#8, encrypted or not, or PKCS#1) and the passphrase of an encrypted one.
    case keyPair(privateKeyPEM: String, passphrase: String?)
    /// An OAuth access token or a programmatic access token, as the URL's `authenticator` says.
    case token(String)

    public var description: String {
        switch self {
        case .keyPair: "key pair (private key redacted)"
        case .token: "token (redacted)"
        }
    }
}

/// Produces the `Authorization` and `X-Snowflake-Authorization-Token-Type` headers of every SQL API request.
///
/// For key-pair authentication it signs a JWT as Snowflake's Python driver does (`auth/keypair.py`): header
/// `{"alg":"RS256","typ":"JWT"}`, claims `iss` = `ACCOUNT.USER.SHA256:<fingerprint>`, `sub` = `ACCOUNT.USER`, `iat`,
/// `exp` = `iat` + `lifetime`, serialised compactly in that order, so the same key and times give the same bytes. A
/// token is reused until `renewalMargin` before it expires, then a new one is signed.
final class SnowflakeAuthorization: Sendable {
    /// What one request sends.
    struct Header: Sendable {
        let authorization: String
        let tokenType: String
    }

    private enum Method: Sendable {
        case keyPair(SnowflakePrivateKey, issuer: String, subject: String)
        case token(String, type: String)
    }

    /// The driver's lifetime: short, so a leaked token is useless within a minute.
    static let lifetimeSeconds = 60
    static let renewalMarginSeconds = 15

    private let method: Method
    /// Seconds since the Unix epoch: the JWT's `iat` must be wall-clock time.
    private let now: @Sendable () -> Int
    private let cached = Mutex<(token: String, expiresAt: Int)?>(nil)

    /// - Throws: `ConnectorError` `.invalidSource` when the credentials do not fit the URL's authenticator or the key
    ///   cannot be read.
    init(
        source: SnowflakeSource, credentials: SnowflakeCredentials?,
        now: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    ) throws {
        self.now = now
        switch (source.authenticator, credentials) {
        case (.keyPair, .keyPair(let pem, let passphrase)?):
            let key = try SnowflakePrivateKey(pem: pem, passphrase: passphrase)
            let subject = "\(source.jwtAccount).\(source.jwtUser)"
            method = .keyPair(key, issuer: "\(subject).\(key.fingerprint)", subject: subject)
        case (.oauth, .token(let token)?), (.programmaticAccessToken, .token(let token)?):
            guard !token.isEmpty, !token.contains(where: { $0.isNewline || $0 == " " }) else {
                throw ConnectorError(.invalidSource, "the Snowflake token is empty or contains spaces or line breaks")
            }
            method = .token(token, type: source.authenticator.tokenType)
        case (.keyPair, .token?):
            throw ConnectorError(
                .invalidSource,
                "a token was given but the URL asks for key-pair authentication: add "
                    + "authenticator=oauth or authenticator=programmatic_access_token to the URL")
        case (.oauth, .keyPair?), (.programmaticAccessToken, .keyPair?):
            throw ConnectorError(
                .invalidSource,
                "a private key was given but the URL's authenticator is \(source.authenticator.rawValue): drop the "
                    + "authenticator parameter to use key-pair authentication")
        case (.keyPair, nil):
            throw ConnectorError(
                .invalidSource,
                "Snowflake key-pair authentication needs the user's private key: give --private-key-file or "
                    + "--private-key-secret (a privateKey secret for connections)")
        case (.oauth, nil), (.programmaticAccessToken, nil):
            throw ConnectorError(
                .invalidSource,
                "authenticator=\(source.authenticator.rawValue) needs a token: give --token-secret (a token secret "
                    + "for connections)")
        }
    }

    /// The headers for a request sent now.
    func header() throws -> Header {
        switch method {
        case .token(let token, let type):
            return Header(authorization: "Bearer \(token)", tokenType: type)
        case .keyPair(let key, let issuer, let subject):
            let time = now()
            let token = try cached.withLock { cache in
                if let cache, time < cache.expiresAt - Self.renewalMarginSeconds { return cache.token }
                let expiresAt = time + Self.lifetimeSeconds
                let token = try Self.jwt(
                    key: key, issuer: issuer, subject: subject, issuedAt: time, expiresAt: expiresAt)
                cache = (token, expiresAt)
                return token
            }
            return Header(authorization: "Bearer \(token)", tokenType: "KEYPAIR_JWT")
        }
    }

    /// A signed JWT, compact-serialised exactly as PyJWT does for the driver.
    static func jwt(
        key: SnowflakePrivateKey, issuer: String, subject: String, issuedAt: Int, expiresAt: Int
    ) throws -> String {
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let claims =
            #"{"iss":\#(jsonString(issuer)),"sub":\#(jsonString(subject)),"iat":\#(issuedAt),"exp":\#(expiresAt)}"#
        let signingInput = base64URL(Array(header.utf8)) + "." + base64URL(Array(claims.utf8))
        let signature = try key.sign(Array(signingInput.utf8))
        return signingInput + "." + base64URL(signature)
    }

    /// A JSON string literal as Python's `json.dumps` writes it (ASCII only, `\uXXXX` for everything else).
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: result += "\\\""
            case 0x5c: result += "\\\\"
            case 0x0a: result += "\\n"
            case 0x0d: result += "\\r"
            case 0x09: result += "\\t"
            case 0x08: result += "\\b"
            case 0x0c: result += "\\f"
            case 0x20..<0x7f: result.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return result + "\""
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacing("+", with: "-").replacing("/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}
