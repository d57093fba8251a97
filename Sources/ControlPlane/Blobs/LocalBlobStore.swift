internal import Crypto
internal import Foundation
internal import Metadata

#if canImport(Glibc)
    internal import Glibc
#endif

/// A `BlobStore` in a local folder, every object a sealed file (AES-256-GCM, segmented; see `SealedFileWriter`)
/// under the server's key.
///
/// Reading needs one segment of memory, detects reordering, truncation and tampering, and never releases
/// unauthenticated plaintext. Objects appear under their key only when complete (temporary file + fsync + rename).
public struct LocalBlobStore: BlobStore {
    public let root: String
    private let keyBytes: [UInt8]

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
    ///
    /// A key file that is a symbolic link, not a regular file, or writable by group or others is refused: whoever
    /// could plant or change it could forge upload URLs or read the blobs.
    public static func loadOrCreateKey(at path: String) throws -> [UInt8] {
        let existing = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if existing >= 0 {
            defer { close(existing) }
            var info = stat()
            guard fstat(existing, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                throw BlobError(.invalidKey, "\(path) is not a regular file; remove it or give a key file")
            }
            guard info.st_mode & 0o022 == 0 else {
                throw BlobError(
                    .invalidKey,
                    "\(path) is writable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); "
                        + "make it 0600 and check it was not changed")
            }
            var bytes = [UInt8](repeating: 0, count: 33)
            let count = bytes.withUnsafeMutableBytes { Glibc.read(existing, $0.baseAddress, 33) }
            guard count == 32 else {
                throw BlobError(.invalidKey, "\(path) must hold exactly 32 bytes (it holds \(max(count, 0)) or more)")
            }
            return Array(bytes[0..<32])
        }
        if errno == ELOOP {
            throw BlobError(.invalidKey, "\(path) is a symbolic link; key files must be regular files")
        }
        guard errno == ENOENT else { throw BlobError(.io, "cannot open key file \(path)") }
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
        let writer: SealedFileWriter
        do {
            writer = try SealedFileWriter(creating: temporary, key: keyBytes)
        } catch {
            throw BlobError(.io, "cannot create blob \(objectKey): \(error)")
        }
        var success = false
        defer { if !success { writer.abandon() } }
        var hasher = SHA256()
        do {
            for try await piece in source {
                hasher.update(data: piece)
                try writer.write(piece)
            }
            try writer.finish()
        } catch let error as MetadataError {
            throw BlobError(.io, "cannot write blob \(objectKey): \(error)")
        }
        guard rename(temporary, target) == 0 else { throw BlobError(.io, "cannot store blob \(objectKey)") }
        success = true
        return BlobInfo(bytes: writer.plaintextBytes, sha256: Hex.encode(hasher.finalize()))
    }

    public func read(key objectKey: String, _ body: ([UInt8]) async throws -> Void) async throws {
        try BlobError.validate(key: objectKey)
        let path = path(for: objectKey)
        guard FileManager.default.fileExists(atPath: path) else {
            throw BlobError(.notFound, "blob \(objectKey) does not exist")
        }
        do {
            try await SealedFile.read(path: path, key: keyBytes, body: body)
        } catch let error as MetadataError {
            throw BlobError(error.code == .io ? .io : .corrupt, "blob \(objectKey) cannot be read: \(error)")
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

    private static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BlobError(.io, "cannot create blob directory \(path)")
        }
    }
}
