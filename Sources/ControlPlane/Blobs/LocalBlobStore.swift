internal import Crypto
internal import Foundation
internal import Metadata

#if canImport(Glibc)
    internal import Glibc
#endif

/// A `BlobStore` in a local folder, every object encrypted with AES-256-GCM under the server's key.
///
/// Objects are written in segments (online authenticated encryption, the STREAM construction): a header with a
/// random 8-byte nonce prefix, then segments of at most 1 MiB plaintext, each sealed with nonce = prefix ‖
/// 32-bit counter and additional data = counter ‖ final flag. Reading needs one segment of memory, detects
/// reordering, truncation and tampering, and never releases unauthenticated plaintext. Objects appear under
/// their key only when complete (temporary file + fsync + rename).
public struct LocalBlobStore: BlobStore {
    static let magic: [UInt8] = Array("OPB1".utf8)
    static let segmentSize = 1024 * 1024

    public let root: String
    /// Raw key bytes: swift-crypto's `SymmetricKey` is not `Sendable`, so one is made per operation.
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// - Parameters:
    ///   - root: the folder, created (0700) if missing.
    ///   - key: 32 bytes.
    public init(root: String, key: [UInt8]) throws {
        guard key.count == 32 else { throw BlobError(.invalidKey, "the blob encryption key must be 32 bytes") }
        self.root = root
        self.keyBytes = key
        try Self.makeDirectory(root)
    }

    /// Reads the key from `path`, or creates one (32 random bytes, mode 0600) if the file does not exist.
    public static func loadOrCreateKey(at path: String) throws -> [UInt8] {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else {
                throw BlobError(.invalidKey, "\(path) must hold exactly 32 bytes (it holds \(data.count))")
            }
            return Array(data)
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw BlobError(.io, "cannot create key file \(path)") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == 32, fsync(descriptor) == 0 else { throw BlobError(.io, "cannot write key file \(path)") }
        return bytes
    }

    public func put(
        key objectKey: String, from source: some AsyncSequence<[UInt8], any Error> & Sendable
    ) async throws -> BlobInfo {
        try BlobError.validate(key: objectKey)
        let target = path(for: objectKey)
        try Self.makeDirectory(String(target[..<target.lastIndex(of: "/")!]))
        let temporary = target + ".tmp-" + UUID().uuidString
        let file = try SegmentFile(creating: temporary)
        var success = false
        defer { if !success { unlink(temporary) } }
        var prefix = [UInt8](repeating: 0, count: 8)
        var generator = SystemRandomNumberGenerator()
        for index in prefix.indices { prefix[index] = UInt8.random(in: 0...255, using: &generator) }
        try file.write(Self.magic + prefix)
        var hasher = SHA256()
        var total: Int64 = 0
        var counter: UInt32 = 0
        var pending: [UInt8] = []
        pending.reserveCapacity(Self.segmentSize)
        for try await piece in source {
            hasher.update(data: piece)
            total += Int64(piece.count)
            pending.append(contentsOf: piece)
            while pending.count > Self.segmentSize {
                try file.write(
                    try seal(Array(pending[0..<Self.segmentSize]), prefix: prefix, counter: counter, final: false))
                pending.removeFirst(Self.segmentSize)
                counter += 1
            }
        }
        try file.write(try seal(pending, prefix: prefix, counter: counter, final: true))
        try file.close()
        guard rename(temporary, target) == 0 else { throw BlobError(.io, "cannot store blob \(objectKey)") }
        success = true
        return BlobInfo(bytes: total, sha256: Hex.encode(hasher.finalize()))
    }

    public func read(key objectKey: String, _ body: ([UInt8]) async throws -> Void) async throws {
        try BlobError.validate(key: objectKey)
        guard let handle = FileHandle(forReadingAtPath: path(for: objectKey)) else {
            throw BlobError(.notFound, "blob \(objectKey) does not exist")
        }
        defer { try? handle.close() }
        let header = try handle.read(upToCount: 12) ?? Data()
        guard header.count == 12, Array(header.prefix(4)) == Self.magic else {
            throw BlobError(.corrupt, "blob \(objectKey) is not an encrypted Outpost blob")
        }
        let prefix = Array(header.suffix(8))
        var counter: UInt32 = 0
        while true {
            guard let lengthBytes = try handle.read(upToCount: 5), lengthBytes.count == 5 else {
                throw BlobError(.corrupt, "blob \(objectKey) is truncated")
            }
            let final = lengthBytes[lengthBytes.startIndex] == 1
            let length = lengthBytes.dropFirst().reduce(0) { $0 << 8 | Int($1) }
            guard length <= Self.segmentSize + 16 else { throw BlobError(.corrupt, "blob \(objectKey) is corrupt") }
            guard let sealed = try handle.read(upToCount: length), sealed.count == length, length >= 16 else {
                throw BlobError(.corrupt, "blob \(objectKey) is truncated")
            }
            let plaintext: Data
            do {
                let box = try AES.GCM.SealedBox(
                    nonce: AES.GCM.Nonce(data: Self.nonce(prefix: prefix, counter: counter)),
                    ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
                plaintext = try AES.GCM.open(box, using: key, authenticating: Self.associatedData(counter, final))
            } catch {
                throw BlobError(.corrupt, "blob \(objectKey) failed authentication (tampered or wrong key)")
            }
            try await body(Array(plaintext))
            if final {
                guard try handle.read(upToCount: 1)?.isEmpty ?? true else {
                    throw BlobError(.corrupt, "blob \(objectKey) has data after its final segment")
                }
                return
            }
            counter += 1
        }
    }

    public func exists(key objectKey: String) async throws -> Bool {
        try BlobError.validate(key: objectKey)
        return FileManager.default.fileExists(atPath: path(for: objectKey))
    }

    public func delete(key objectKey: String) async throws {
        try BlobError.validate(key: objectKey)
        unlink(path(for: objectKey))
    }

    private func path(for objectKey: String) -> String {
        root + "/" + objectKey
    }

    /// One segment on disk: final flag (1 byte), sealed length (4 bytes, big-endian), ciphertext ‖ tag.
    private func seal(_ plaintext: [UInt8], prefix: [UInt8], counter: UInt32, final: Bool) throws -> [UInt8] {
        let box = try AES.GCM.seal(
            plaintext, using: key, nonce: AES.GCM.Nonce(data: Self.nonce(prefix: prefix, counter: counter)),
            authenticating: Self.associatedData(counter, final))
        let sealedLength = UInt32(box.ciphertext.count + box.tag.count)
        var out: [UInt8] = [final ? 1 : 0]
        out += withUnsafeBytes(of: sealedLength.bigEndian, Array.init)
        out += box.ciphertext
        out += box.tag
        return out
    }

    private static func nonce(prefix: [UInt8], counter: UInt32) -> [UInt8] {
        prefix + withUnsafeBytes(of: counter.bigEndian, Array.init)
    }

    private static func associatedData(_ counter: UInt32, _ final: Bool) -> [UInt8] {
        withUnsafeBytes(of: counter.bigEndian, Array.init) + [final ? 1 : 0]
    }

    private static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BlobError(.io, "cannot create blob directory \(path)")
        }
    }
}

/// An output file for one blob, written with POSIX calls and fsynced before close.
private final class SegmentFile {
    private var descriptor: Int32

    init(creating path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw BlobError(.io, "cannot create blob file") }
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw BlobError(.io, "cannot write blob file") }
                offset += written
            }
        }
    }

    func close() throws {
        defer { descriptor = -1 }
        guard fsync(descriptor) == 0, Glibc.close(descriptor) == 0 else { throw BlobError(.io, "cannot flush blob") }
    }
}
