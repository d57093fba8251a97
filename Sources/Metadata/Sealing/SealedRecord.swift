internal import Crypto

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// One small AES-256-GCM sealed record with caller-supplied additional data, for append-only logs whose pieces
/// are written one at a time (the agent's spooled job logs) where a `SealedFileWriter` stream cannot stay open.
///
/// Layout: random 12-byte nonce ‖ ciphertext ‖ 16-byte tag. The additional data is not stored: the reader must
/// supply the same bytes (typically the record's log, position and offset), which binds a record to its place.
/// Random nonces keep the usual AES-GCM bound of 2³² records per key, far beyond a spool's lifetime of records.
public enum SealedRecord {
    /// Bytes a sealed record adds to its plaintext.
    public static let overhead = 12 + 16

    /// Seals `plaintext`, binding it to `associatedData`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let symmetricKey = try SealedFileFormat.symmetricKey(key)
        do {
            let box = try AES.GCM.seal(
                plaintext, using: symmetricKey, nonce: AES.GCM.Nonce(data: SealedFileFormat.randomBytes(12)),
                authenticating: associatedData)
            return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw MetadataError(.io, "cannot encrypt a record: \(error)", underlying: error)
        }
    }

    /// Opens a record sealed by `seal`; throws `MetadataError` `.tampered` if it or its additional data differ.
    public static func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let symmetricKey = try SealedFileFormat.symmetricKey(key)
        guard sealed.count >= overhead else {
            throw MetadataError(.tampered, "a sealed record is shorter than its nonce and tag")
        }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed[0..<12]), ciphertext: sealed[12..<(sealed.count - 16)],
                tag: sealed[(sealed.count - 16)...])
            return Array(try AES.GCM.open(box, using: symmetricKey, authenticating: associatedData))
        } catch {
            throw MetadataError(
                .tampered, "a sealed record failed authentication: it was modified, moved or sealed with another key",
                underlying: error)
        }
    }
}
