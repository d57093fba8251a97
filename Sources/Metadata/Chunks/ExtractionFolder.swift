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
public struct ExtractionFolder: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Writes the manifest atomically (temporary file, fsync, rename): the last step of an extraction.
    public func writeManifest(_ manifest: Manifest) throws {
        let bytes = try Self.encodeManifest(manifest)
        let target = path + "/" + MetadataFormat.manifestFileName
        let temporary = target + ".tmp"
        FileSystem.remove(temporary)
        let file = try OutputFile(creating: temporary)
        try bytes.withUnsafeBytes { try file.write($0) }
        try file.close()
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
        let bytes = try InputFile.readAll(target, limit: 64 * 1024 * 1024)
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
    /// A chunk that fails verification throws after its records were handed over: callers that must not
    /// publish partial data stage what they receive and commit only when this returns.
    public func forEachRecord(
        in manifest: Manifest, _ body: (MetadataRecord) throws -> Void
    ) throws {
        for file in manifest.files {
            guard !file.path.contains("/"), !file.path.hasPrefix(".") else {
                throw MetadataError(.invalidManifest, "manifest lists an unsafe file path '\(file.path)'")
            }
            try ChunkReader.read(path: path + "/" + file.path, expected: file, body)
        }
    }
}

/// Reads one chunk file: streams, hashes, decompresses and decodes.
enum ChunkReader {
    static func read(path: String, expected: Manifest.File, _ body: (MetadataRecord) throws -> Void) throws {
        let input = try InputFile(path: path)
        let decompressor = try GzipDecompressor()
        var hasher = SHA256()
        var bytes: Int64 = 0
        var records = 0
        var uncompressed: Int64 = 0
        var line: [UInt8] = []
        let decoder = JSONDecoder()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        func decodeLine() throws {
            defer { line.removeAll(keepingCapacity: true) }
            guard !line.isEmpty else { return }
            records += 1
            do {
                try body(try decoder.decode(MetadataRecord.self, from: Data(line)))
            } catch let error as MetadataError {
                throw error
            } catch {
                throw MetadataError(
                    .invalidRecord, "\(path): record \(records) is not a valid v1 record: \(error)", underlying: error)
            }
        }
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { break }
            try buffer.withUnsafeBytes { raw in
                let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                hasher.update(bufferPointer: slice)
                bytes += Int64(count)
                try decompressor.decompress(slice) { output in
                    uncompressed += Int64(output.count)
                    var start = 0
                    for index in 0..<output.count where output[index] == UInt8(ascii: "\n") {
                        line.append(contentsOf: UnsafeRawBufferPointer(rebasing: output[start..<index]))
                        start = index + 1
                        try decodeLine()
                    }
                    line.append(contentsOf: UnsafeRawBufferPointer(rebasing: output[start..<output.count]))
                    if line.count > 64 * 1024 * 1024 {
                        throw MetadataError(.corruptChunk, "\(path) holds a line longer than 64 MiB")
                    }
                }
            }
        }
        guard decompressor.atMemberBoundary, bytes > 0 else {
            throw MetadataError(.corruptChunk, "\(path) is truncated: the gzip stream does not end")
        }
        try decodeLine()
        guard bytes == expected.bytes else {
            throw MetadataError(
                .checksumMismatch, "\(path) has \(bytes) bytes; the manifest says \(expected.bytes)")
        }
        let digest = Hex.encode(hasher.finalize())
        guard digest == expected.sha256 else {
            throw MetadataError(
                .checksumMismatch, "\(path) has SHA-256 \(digest); the manifest says \(expected.sha256)")
        }
        guard uncompressed == expected.uncompressedBytes else {
            throw MetadataError(
                .checksumMismatch,
                "\(path) holds \(uncompressed) uncompressed bytes; the manifest says \(expected.uncompressedBytes)")
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
