internal import Crypto

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Reads a sealed file segment by segment, releasing only authenticated plaintext.
///
/// Each `next()` returns one segment's plaintext (at most 1 MiB) after its tag has been checked, so memory stays at
/// one segment; the end of the data is reported only once the final segment has been authenticated and nothing
/// follows it. A file sealed with another key, modified, truncated or with its segments reordered throws
/// `MetadataError` (`.wrongKey`, `.tampered`, `.truncated`), never returning unauthenticated bytes.
public final class SealedFileReader {
    /// The file being read.
    public let path: String
    private let input: InputFile
    private let key: SymmetricKey
    private var prefix: [UInt8] = []
    private var counter: UInt32 = 0
    private var ended = false
    private var buffer: [UInt8]

    /// Opens `path` and checks its header.
    ///
    /// - Throws: `MetadataError` `.io` if it cannot be opened, `.tampered` if it is not a sealed file,
    ///   `.wrongKey` if it was sealed with another key, `.invalidKey` unless `key` is 32 bytes.
    public init(path: String, key: [UInt8]) throws {
        self.path = path
        self.key = try SealedFileFormat.symmetricKey(key)
        self.input = try InputFile(path: path)
        self.buffer = [UInt8](repeating: 0, count: SealedFileFormat.headerSize)
        let count = try readFully(SealedFileFormat.headerSize)
        guard count == SealedFileFormat.headerSize, Array(buffer[0..<4]) == SealedFileFormat.magic else {
            throw MetadataError(.tampered, "\(path) is not a sealed Outpost file (its header is missing or damaged)")
        }
        prefix = Array(buffer[4..<(4 + SealedFileFormat.prefixSize)])
        let check = Array(buffer[(4 + SealedFileFormat.prefixSize)..<SealedFileFormat.headerSize])
        guard check == SealedFileFormat.keyCheck(key: self.key, prefix: prefix) else {
            throw MetadataError(
                .wrongKey,
                "\(path) was sealed with a different key (or its header was modified): check the configured key")
        }
    }

    /// The next segment's authenticated plaintext, or nil after the final segment.
    public func next() throws -> [UInt8]? {
        guard !ended else { return nil }
        let frameCount = try readFully(SealedFileFormat.frameHeaderSize)
        guard frameCount == SealedFileFormat.frameHeaderSize else {
            throw MetadataError(.truncated, "\(path) is truncated: it ends before its final segment")
        }
        let flag = buffer[0]
        let length = buffer[1..<5].reduce(0) { $0 << 8 | Int($1) }
        guard flag <= 1, length >= SealedFileFormat.tagSize,
            length <= SealedFileFormat.segmentSize + SealedFileFormat.tagSize
        else {
            throw MetadataError(.tampered, "\(path) is damaged: segment \(counter) has an invalid frame")
        }
        let final = flag == 1
        guard try readFully(length) == length else {
            throw MetadataError(.truncated, "\(path) is truncated: segment \(counter) is incomplete")
        }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try SealedFileFormat.nonce(prefix: prefix, counter: counter),
                ciphertext: buffer[0..<(length - SealedFileFormat.tagSize)],
                tag: buffer[(length - SealedFileFormat.tagSize)..<length])
            plaintext = try AES.GCM.open(
                box, using: key, authenticating: SealedFileFormat.associatedData(counter: counter, final: final))
        } catch {
            throw MetadataError(
                .tampered, "\(path) failed authentication at segment \(counter): it was modified or reordered",
                underlying: error)
        }
        if final {
            guard try readFully(1) == 0 else {
                throw MetadataError(.tampered, "\(path) is damaged: data follows its final segment")
            }
            ended = true
        } else {
            guard counter < UInt32.max else { throw MetadataError(.tampered, "\(path) has too many segments") }
            counter += 1
        }
        return Array(plaintext)
    }

    /// Reads up to `count` bytes into the front of `buffer`, stopping early only at the end of the file.
    private func readFully(_ count: Int) throws -> Int {
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        var filled = 0
        while filled < count {
            let read = try buffer.withUnsafeMutableBytes {
                try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled..<count]))
            }
            if read == 0 { break }
            filled += read
        }
        return filled
    }
}

/// Whole-file operations on sealed files (see `SealedFileWriter` and `SealedFileReader`).
public enum SealedFile {
    /// Streams the authenticated plaintext of the sealed file at `path` to `body`, one segment (≤ 1 MiB) at a time.
    ///
    /// `body` may have received earlier segments when a later one fails: callers that must not act on partial
    /// content stage what they receive and commit only when this returns.
    public static func read(path: String, key: [UInt8], body: ([UInt8]) throws -> Void) throws {
        let reader = try SealedFileReader(path: path, key: key)
        while let segment = try reader.next() { try body(segment) }
    }

    /// Streams the authenticated plaintext to an asynchronous `body` (an upload, a network write).
    public static func read(path: String, key: [UInt8], body: ([UInt8]) async throws -> Void) async throws {
        let reader = try SealedFileReader(path: path, key: key)
        while let segment = try reader.next() { try await body(segment) }
    }

    /// The whole plaintext of a small sealed file (a manifest, a state record).
    ///
    /// - Throws: `MetadataError` `.io` when the plaintext exceeds `limit`, or any reading error.
    public static func readAll(path: String, key: [UInt8], limit: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        try read(path: path, key: key) { segment in
            guard result.count + segment.count <= limit else {
                throw MetadataError(.io, "\(path) holds more than \(limit) bytes")
            }
            result += segment
        }
        return result
    }

    /// Writes `bytes` as a new sealed file (created exclusively, mode 0600, flushed before returning).
    public static func write(_ bytes: [UInt8], to path: String, key: [UInt8]) throws {
        let writer = try SealedFileWriter(creating: path, key: key)
        do {
            try writer.write(bytes)
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }
}
