public import ControlPlaneStorage
import Crypto

/// A freshly minted API key: the text, shown once, and the row to store (hash and prefix only).
public struct MintedAPIKey: Sendable {
    /// `opk_` + 43 base64url characters; never stored, never logged.
    public let text: String
    public let key: APIKey
}

extension APIKey {
    /// The marker every Outpost key starts with, so leaked keys are recognisable by secret scanners.
    public static let textPrefix = "opk_"
    /// `opk_` + 43 characters: 32 random bytes in unpadded base64url.
    public static let textLength = 47
    /// How many leading characters of the text are stored to recognise a key in lists.
    static let displayedPrefixLength = 12

    /// Mints a key of 256 random bits (the system CSPRNG) for `tenantId`.
    public static func mint(
        tenantId: String, name: String, role: Role, expiresAt: Timestamp?, now: Timestamp
    ) -> MintedAPIKey {
        var generator = SystemRandomNumberGenerator()
        return mint(tenantId: tenantId, name: name, role: role, expiresAt: expiresAt, now: now, using: &generator)
    }

    /// Mints a key with the given randomness (tests only; production must use the system CSPRNG).
    static func mint(
        tenantId: String, name: String, role: Role, expiresAt: Timestamp?, now: Timestamp,
        using generator: inout some RandomNumberGenerator
    ) -> MintedAPIKey {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        let text = textPrefix + base64URL(bytes)
        let key = APIKey(
            id: Identifier.make("key"), tenantId: tenantId, name: name, role: role, hash: hash(of: text),
            prefix: String(text.prefix(displayedPrefixLength)), createdAt: now, expiresAt: expiresAt)
        return MintedAPIKey(text: text, key: key)
    }

    /// Lower-case hex SHA-256 of the key text: what the store indexes keys by.
    public static func hash(of text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var result: [UInt8] = []
        result.reserveCapacity(64)
        for byte in digest {
            result.append(hex[Int(byte >> 4)])
            result.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Whether `text` has the shape of a key, checked before any lookup so garbage never reaches the database.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == textLength, text.hasPrefix(textPrefix) else { return false }
        return utf8.dropFirst(textPrefix.utf8.count).allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var output: [UInt8] = []
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { output.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3f)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let chunk = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            let shifts = rest == 2 ? [18, 12, 6] : [18, 12]
            for shift in shifts { output.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3f)]) }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
