internal import Crypto

/// The on-disk layout of a sealed file and the AES-256-GCM operations on it, in one place.
///
/// A sealed file is online authenticated encryption (the STREAM construction): a 20-byte header, then segments
/// of at most `segmentSize` plaintext bytes.
///
/// - header: magic `OPS1` ‖ random 8-byte nonce prefix ‖ key check (8 bytes of HMAC-SHA-256(key, label ‖ prefix)).
/// - segment: flag (1 byte: 0 = more follow, 1 = final) ‖ sealed length (4 bytes, big-endian) ‖ ciphertext ‖ tag,
///   sealed with nonce = prefix ‖ 32-bit big-endian counter and additional data = counter ‖ flag.
///
/// The counter binds each segment to its position and the flag to the end of the stream, so reordered, dropped,
/// duplicated or truncated segments fail authentication or are reported missing; the random prefix keeps nonces
/// distinct across files under one key (safe for far more files than a spool or blob store holds). The key check
/// tells "sealed with another key" apart from "modified" for a clearer error; it reveals nothing about the key.
enum SealedFileFormat {
    static let magic: [UInt8] = Array("OPS1".utf8)
    static let prefixSize = 8
    static let keyCheckSize = 8
    static let headerSize = 4 + prefixSize + keyCheckSize
    static let frameHeaderSize = 5
    static let tagSize = 16
    /// Plaintext bytes per segment: what a reader or writer holds in memory at most.
    static let segmentSize = 1024 * 1024
    private static let keyCheckLabel = Array("outpost sealed file v1 key check".utf8)

    /// Turns raw key bytes into a key, refusing anything but 32 bytes.
    static func symmetricKey(_ bytes: [UInt8]) throws -> SymmetricKey {
        guard bytes.count == 32 else {
            throw MetadataError(.invalidKey, "a sealing key must be 32 bytes (AES-256); this one has \(bytes.count)")
        }
        return SymmetricKey(data: bytes)
    }

    static func keyCheck(key: SymmetricKey, prefix: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: keyCheckLabel)
        mac.update(data: prefix)
        return Array(mac.finalize().prefix(keyCheckSize))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func nonce(prefix: [UInt8], counter: UInt32) throws -> AES.GCM.Nonce {
        try AES.GCM.Nonce(data: prefix + bigEndian(counter))
    }

    static func associatedData(counter: UInt32, final: Bool) -> [UInt8] {
        bigEndian(counter) + [final ? 1 : 0]
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
