internal import Crypto

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Writes a sealed (AES-256-GCM, segmented) file: what the agent's spool and the control plane's blob store keep
/// on disk instead of plaintext.
///
/// Memory use is one segment (1 MiB) whatever the file size. The file is created exclusively with mode 0600 and is
/// complete only after `finish()`, which seals the final segment and flushes to stable storage; a file whose
/// writer never finished is reported as truncated by readers. Callers that must never expose a partial file write
/// under a temporary name and rename after `finish()`. See `SealedFileFormat` for the layout.
public final class SealedFileWriter {
    /// The file being written.
    public let path: String
    /// Plaintext bytes accepted so far.
    public private(set) var plaintextBytes: Int64 = 0

    private let file: OutputFile
    private let key: SymmetricKey
    private let prefix: [UInt8]
    private var counter: UInt32 = 0
    private var pending: [UInt8] = []
    private var closed = false

    /// Creates `path` (mode 0600, failing if it exists) and writes the header.
    ///
    /// - Throws: `MetadataError` `.invalidKey` unless `key` is 32 bytes, `.io` if the file cannot be created.
    public init(creating path: String, key: [UInt8]) throws {
        self.key = try SealedFileFormat.symmetricKey(key)
        self.path = path
        self.prefix = SealedFileFormat.randomBytes(SealedFileFormat.prefixSize)
        self.file = try OutputFile(creating: path)
        pending.reserveCapacity(SealedFileFormat.segmentSize)
        let header = SealedFileFormat.magic + prefix + SealedFileFormat.keyCheck(key: self.key, prefix: prefix)
        do {
            try header.withUnsafeBytes { try file.write($0) }
        } catch {
            abandon()
            throw error
        }
    }

    /// Appends plaintext; seals and writes a segment each time a full one is buffered and more bytes follow.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !closed else { throw MetadataError(.io, "\(path) is already finished; it cannot be written to") }
        var offset = 0
        while offset < bytes.count {
            // The last segment must be the final one, so a full buffer is sealed only once more data arrives.
            if pending.count == SealedFileFormat.segmentSize { try sealPending(final: false) }
            let take = min(SealedFileFormat.segmentSize - pending.count, bytes.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
        }
        plaintextBytes += Int64(bytes.count)
    }

    /// Appends plaintext.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Seals the final segment, flushes the file to stable storage and closes it.
    public func finish() throws {
        guard !closed else { throw MetadataError(.io, "\(path) is already finished") }
        try sealPending(final: true)
        closed = true
        try file.close()
    }

    /// Closes and removes the file: the content is not wanted (the operation it belonged to failed).
    public func abandon() {
        guard !closed else {
            FileSystem.remove(path)
            return
        }
        closed = true
        try? file.close()
        FileSystem.remove(path)
    }

    private func sealPending(final: Bool) throws {
        guard counter < UInt32.max else {
            throw MetadataError(.io, "\(path) is too large for one sealed file (over 4 PiB)")
        }
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.seal(
                pending, using: key, nonce: try SealedFileFormat.nonce(prefix: prefix, counter: counter),
                authenticating: SealedFileFormat.associatedData(counter: counter, final: final))
        } catch {
            throw MetadataError(.io, "cannot encrypt \(path): \(error)", underlying: error)
        }
        let sealedLength = UInt32(box.ciphertext.count + box.tag.count)
        let frame = [final ? 1 : 0] + SealedFileFormat.bigEndian(sealedLength)
        try frame.withUnsafeBytes { try file.write($0) }
        try box.ciphertext.withUnsafeBytes { try file.write($0) }
        try box.tag.withUnsafeBytes { try file.write($0) }
        pending.removeAll(keepingCapacity: true)
        counter += 1
    }
}
