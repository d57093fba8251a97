internal import Crypto
internal import Metadata

/// Signs and checks the pre-signed upload URLs of the local blob store.
///
/// A grant is bound to one object (tenant, run, file name), its exact size and SHA-256, and an expiry; the
/// signature is HMAC-SHA256 under a server secret over all of them, so a URL cannot be reused for another
/// object, size or content, or after it expires. S3 blob stores use SigV4 pre-signed URLs instead.
public struct UploadSigner: Sendable {
    /// What a grant authorises.
    public struct Grant: Sendable, Equatable {
        public var tenantId: String
        public var runId: String
        public var path: String
        public var bytes: Int64
        public var sha256: String
        /// Seconds since the Unix epoch.
        public var expires: Int64

        public init(tenantId: String, runId: String, path: String, bytes: Int64, sha256: String, expires: Int64) {
            self.tenantId = tenantId
            self.runId = runId
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
            self.expires = expires
        }

        /// The canonical text that is signed: one field per line, so no field can bleed into another.
        var canonical: String {
            ["outpost-upload-v1", tenantId, runId, path, String(bytes), sha256, String(expires)].joined(separator: "\n")
        }
    }

    /// Raw secret bytes: swift-crypto's `SymmetricKey` is not `Sendable`.
    private let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: secret) }

    public init(secret: [UInt8]) {
        self.secret = secret
    }

    /// The lower-case hex signature of `grant`.
    public func signature(for grant: Grant) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(grant.canonical.utf8), using: key))
    }

    /// Whether `signature` is valid for `grant` at `now` (seconds since the epoch); constant-time comparison.
    public func verify(_ grant: Grant, signature: String, now: Int64) -> Bool {
        guard now < grant.expires, let provided = Self.decodeHex(signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: Array(grant.canonical.utf8), using: key)
    }

    private static func decodeHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
