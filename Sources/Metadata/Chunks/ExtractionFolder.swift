internal import Crypto

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif
#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// An extraction on disk: a folder holding chunk files and their `manifest.json`.
///
/// With a sealing key every file in the folder (chunks and manifest) is a sealed file under its usual name, as the
/// agent keeps extractions in its encrypted spool; checksums and sizes in the manifest are those of the plaintext.
public struct ExtractionFolder: Sendable {
    public let path: String
    /// The AES-256 key the folder's files are sealed with, or nil for plain files.
    public let sealingKey: [UInt8]?

    /// - Parameters:
    ///   - path: the folder.
    ///   - sealingKey: 32 bytes when the files are (to be) sealed; nil for plain files.
    public init(path: String, sealingKey: [UInt8]? = nil) {
        self.path = path
        self.sealingKey = sealingKey
    }

    /// Writes the manifest atomically (temporary file, fsync, rename): the last step of an extraction.
    public func writeManifest(_ manifest: Manifest) throws {
        let bytes = try Self.encodeManifest(manifest)
        let target = path + "/" + MetadataFormat.manifestFileName
        let temporary = target + ".tmp"
        FileSystem.remove(temporary)
        if let sealingKey {
            try SealedFile.write(bytes, to: temporary, key: sealingKey)
        } else {
            let file = try OutputFile(creating: temporary)
            try bytes.withUnsafeBytes { try file.write($0) }
            try file.close()
        }
        try FileSystem.rename(temporary, to: target)
        FileSystem.syncDirectory(path)
    }

    /// The manifest's canonical JSON: sorted keys, indented, newline-terminated.
    public static func encodeManifest(_ manifest: Manifest) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(manifest)) + [UInt8(ascii: "\n")]
    }

    /// Reads and decodes the manifest.
    public func readManifest() throws -> Manifest {
        let target = path + "/" + MetadataFormat.manifestFileName
        let limit = 64 * 1024 * 1024
        let bytes =
            if let sealingKey { try SealedFile.readAll(path: target, key: sealingKey, limit: limit) } else {
                try InputFile.readAll(target, limit: limit)
            }
        do {
            let manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
            guard manifest.formatVersion.split(separator: ".").first == "1" else {
                throw MetadataError(
                    .invalidManifest, "\(target) has format version \(manifest.formatVersion); this reader knows 1.x")
            }
            return manifest
        } catch let error as MetadataError {
            throw error
        } catch {
            throw MetadataError(.invalidManifest, "\(target) is not a valid manifest: \(error)", underlying: error)
        }
    }

    /// Reads every record of every chunk the manifest lists, verifying each file's size, SHA-256 and record
    /// count, and hands records to `body` one at a time; memory stays bounded by one line.
    ///
    /// Records of kinds this reader does not know are skipped when the manifest's version is a later 1.x minor
    /// version (which may add kinds); in a file of this or an earlier version they fail the read.
    ///
    /// A chunk that fails verification throws after its records were handed over: callers that must not
    /// publish partial data stage what they receive and commit only when this returns.
    /// - Returns: how many records were skipped for their unknown kind.
    @discardableResult
    public func forEachRecord(
        in manifest: Manifest, _ body: (MetadataRecord) throws -> Void
    ) throws -> Int {
        let skipsUnknownKinds = MetadataFormat.isLaterMinorVersion(manifest.formatVersion)
        var skipped = 0
        for file in manifest.files {
            guard !file.path.contains("/"), !file.path.hasPrefix(".") else {
                throw MetadataError(.invalidManifest, "manifest lists an unsafe file path '\(file.path)'")
            }
            skipped += try ChunkReader.read(
                path: path + "/" + file.path, expected: file, sealingKey: sealingKey,
                skipsUnknownKinds: skipsUnknownKinds, body)
        }
        return skipped
    }

    /// Streams the plaintext of one file of the folder (a chunk or the manifest), unsealing it if the folder is
    /// sealed: what a delivery uploads. Pieces are at most 1 MiB.
    public func readFile(_ name: String, _ body: ([UInt8]) throws -> Void) throws {
        try Self.checkFileName(name)
        try ChunkReader.forEachPiece(path: path + "/" + name, sealingKey: sealingKey) { try body(Array($0)) }
    }

    /// Streams the plaintext of one file of the folder to an asynchronous `body` (an upload).
    public func readFile(_ name: String, _ body: ([UInt8]) async throws -> Void) async throws {
        try Self.checkFileName(name)
        let filePath = path + "/" + name
        if let sealingKey {
            try await SealedFile.read(path: filePath, key: sealingKey, body: body)
            return
        }
        let input = try InputFile(path: filePath)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { return }
            try await body(Array(buffer[0..<count]))
        }
    }

    private static func checkFileName(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw MetadataError(.invalidManifest, "'\(name)' is not a file name inside an extraction folder")
        }
    }
}

/// Reads one chunk file: streams, hashes, decompresses and decodes.
enum ChunkReader {
    /// Returns how many records were skipped for their unknown kind (only when `skipsUnknownKinds`).
    static func read(
        path: String, expected: Manifest.File, sealingKey: [UInt8]? = nil, skipsUnknownKinds: Bool = false,
        _ body: (MetadataRecord) throws -> Void
    ) throws -> Int {
        let lines = try GzipLineDecoder()
        var hasher = SHA256()
        var records = 0
        var skipped = 0
        let decoder = JSONDecoder()
        func decodeLine(_ line: [UInt8]) throws {
            guard !line.isEmpty else {
                throw MetadataError(.invalidRecord, "\(path): line \(records + 1) is empty")
            }
            records += 1
            do {
                switch try decoder.decode(RecordLine.self, from: Data(line)) {
                case .record(let record):
                    try body(record)
                case .unknownKind(let kind):
                    guard skipsUnknownKinds else {
                        throw MetadataError(
                            .invalidRecord,
                            "\(path): record \(records) has kind '\(kind)', which format \(MetadataFormat.version) "
                                + "does not define")
                    }
                    skipped += 1
                }
            } catch let error as MetadataError {
                throw error
            } catch {
                throw MetadataError(
                    .invalidRecord, "\(path): record \(records) is not a valid v1 record: \(error)", underlying: error)
            }
        }
        try forEachPiece(path: path, sealingKey: sealingKey) { piece in
            hasher.update(bufferPointer: piece)
            try lines.feed(piece, decodeLine)
        }
        do {
            try lines.finish(decodeLine)
        } catch let error as MetadataError where error.code == .corruptChunk {
            throw MetadataError(.corruptChunk, "\(path) is truncated: the gzip stream does not end")
        }
        try ChunkVerification.check(
            path: path, expected: expected, bytes: lines.compressedBytes, sha256: Hex.encode(hasher.finalize()),
            uncompressedBytes: lines.uncompressedBytes, records: records)
        return skipped
    }
}

extension ChunkReader {
    /// Hands the plaintext of a file to `body` in pieces: read directly, or unsealed segment by segment.
    static func forEachPiece(
        path: String, sealingKey: [UInt8]?, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        if let sealingKey {
            try SealedFile.read(path: path, key: sealingKey) { segment in try segment.withUnsafeBytes(body) }
            return
        }
        let input = try InputFile(path: path)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }
}

/// Compares what was read of a chunk with what the manifest promised.
public enum ChunkVerification {
    public static func check(
        path: String, expected: Manifest.File, bytes: Int64, sha256: String, uncompressedBytes: Int64, records: Int
    ) throws {
        guard bytes == expected.bytes else {
            throw MetadataError(.checksumMismatch, "\(path) has \(bytes) bytes; the manifest says \(expected.bytes)")
        }
        guard sha256 == expected.sha256 else {
            throw MetadataError(
                .checksumMismatch, "\(path) has SHA-256 \(sha256); the manifest says \(expected.sha256)")
        }
        guard uncompressedBytes == expected.uncompressedBytes else {
            throw MetadataError(
                .checksumMismatch,
                "\(path) holds \(uncompressedBytes) uncompressed bytes; the manifest says \(expected.uncompressedBytes)"
            )
        }
        guard records == expected.records else {
            throw MetadataError(
                .checksumMismatch, "\(path) holds \(records) records; the manifest says \(expected.records)")
        }
    }
}

/// A file opened for reading with POSIX calls.
final class InputFile {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw MetadataError(.io, "cannot open \(path): \(SystemErrorText.current())")
        }
    }

    deinit { _ = platformClose(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = platformRead(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw MetadataError(.io, "cannot read \(path): \(SystemErrorText.current())")
        }
    }

    static func readAll(_ path: String, limit: Int) throws -> [UInt8] {
        let file = try InputFile(path: path)
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
            guard result.count <= limit else {
                throw MetadataError(.io, "\(path) is larger than \(limit) bytes")
            }
        }
    }
}
