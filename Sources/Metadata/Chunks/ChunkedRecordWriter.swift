internal import Crypto

/// Receives records as a connector emits them.
public protocol RecordSink: AnyObject {
    /// Takes one record; throws when it cannot be stored, which ends the extraction.
    func write(_ record: MetadataRecord) throws
}

/// Writes records as gzip-compressed JSON Lines chunks into a directory, rolling to a new chunk before one
/// would exceed its uncompressed size bound, and hashing each chunk as it is written.
///
/// Memory use is one chunk's compression state and one line, whatever the number of records. A chunk is
/// written under a temporary name and renamed when complete, so a reader never sees half a chunk; the
/// manifest, written last by the caller, is what makes the set of chunks an extraction.
///
/// With a sealing key, each chunk file is a sealed file (`SealedFileWriter`) under the same name; a chunk's
/// `sha256` and `bytes` stay those of the plaintext gzip stream, which is what gets uploaded and verified.
public final class ChunkedRecordWriter: RecordSink {
    /// One finished chunk.
    public struct Chunk: Sendable, Equatable {
        public var fileName: String
        public var sha256: String
        public var bytes: Int64
        public var uncompressedBytes: Int64
        public var records: Int
    }

    private struct OpenChunk {
        let fileName: String
        let file: any ChunkFile
        let compressor: GzipCompressor
        var hasher = SHA256()
        var bytes: Int64 = 0
        var uncompressedBytes: Int64 = 0
        var records = 0
    }

    public let directory: String
    public let maxChunkBytes: Int
    public let compressionLevel: Int32
    /// The AES-256 key chunks are sealed with, or nil for plain files.
    public let sealingKey: [UInt8]?
    public private(set) var chunks: [Chunk] = []
    public private(set) var counts: [RecordKind: Int] = [:]
    public var recordCount: Int { counts.values.reduce(0, +) }

    private let encoder = JSONLineEncoder()
    private var line: [UInt8] = []
    private var current: OpenChunk?
    private var pending: [UInt8] = []
    /// Temporary files of chunks whose finishing failed.
    private var abandoned: [String] = []

    /// - Parameters:
    ///   - directory: an existing, writable directory.
    ///   - maxChunkBytes: upper bound of a chunk's uncompressed size; a single larger record gets a chunk alone.
    ///   - compressionLevel: gzip level 1…9.
    ///   - sealingKey: 32 bytes to write every chunk sealed (encrypted at rest), or nil for plain files.
    public init(
        directory: String, maxChunkBytes: Int = MetadataFormat.defaultChunkBytes, compressionLevel: Int = 6,
        sealingKey: [UInt8]? = nil
    ) {
        self.directory = directory
        self.sealingKey = sealingKey
        self.maxChunkBytes = max(1024, maxChunkBytes)
        self.compressionLevel = Int32(min(9, max(1, compressionLevel)))
        line.reserveCapacity(4096)
        pending.reserveCapacity(256 * 1024)
    }

    public func write(_ record: MetadataRecord) throws {
        line.removeAll(keepingCapacity: true)
        do {
            try encoder.encode(record, into: &line)
        } catch {
            throw MetadataError(.invalidRecord, "cannot encode \(record.kind.rawValue) record: \(error)")
        }
        line.append(UInt8(ascii: "\n"))
        if let open = current, open.records > 0,
            open.uncompressedBytes + Int64(pending.count) + Int64(line.count) > Int64(maxChunkBytes)
        {
            try finishChunk()
        }
        if current == nil { try startChunk() }
        pending.append(contentsOf: line)
        current!.records += 1
        counts[record.kind, default: 0] += 1
        if pending.count >= 128 * 1024 { try flushPending() }
    }

    /// Closes the last chunk and returns every chunk written.
    public func finish() throws -> [Chunk] {
        if current != nil { try finishChunk() }
        FileSystem.syncDirectory(directory)
        return chunks
    }

    /// Removes every chunk this writer created, finished or not: the extraction failed.
    public func discard() {
        if let open = current {
            current = nil
            try? open.file.close()
            FileSystem.remove(open.file.path)
        }
        for chunk in chunks { FileSystem.remove(directory + "/" + chunk.fileName) }
        for path in abandoned { FileSystem.remove(path) }
        chunks = []
        abandoned = []
    }

    private func startChunk() throws {
        let fileName = "records-" + String(chunks.count + 1).leftPadded(to: 5) + ".jsonl.gz"
        let path = directory + "/" + fileName + ".tmp"
        let file: any ChunkFile =
            if let sealingKey { try SealedFileWriter(creating: path, key: sealingKey) } else {
                try OutputFile(creating: path)
            }
        current = OpenChunk(fileName: fileName, file: file, compressor: try GzipCompressor(level: compressionLevel))
    }

    private func flushPending() throws {
        guard var open = current, !pending.isEmpty else { return }
        current = nil
        defer { current = open }
        open.uncompressedBytes += Int64(pending.count)
        try pending.withUnsafeBytes { input in
            try open.compressor.compress(input) { output in
                open.hasher.update(bufferPointer: output)
                open.bytes += Int64(output.count)
                try open.file.write(output)
            }
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func finishChunk() throws {
        try flushPending()
        guard var open = current else { return }
        current = nil
        // If finishing fails, the temporary file must still be removable by `discard()`.
        abandoned.append(open.file.path)
        try open.compressor.finish { output in
            open.hasher.update(bufferPointer: output)
            open.bytes += Int64(output.count)
            try open.file.write(output)
        }
        try open.file.close()
        try FileSystem.rename(open.file.path, to: directory + "/" + open.fileName)
        abandoned.removeLast()
        let digest = Hex.encode(open.hasher.finalize())
        chunks.append(
            Chunk(
                fileName: open.fileName, sha256: digest, bytes: open.bytes, uncompressedBytes: open.uncompressedBytes,
                records: open.records))
    }
}

/// Where a chunk's compressed bytes go: a plain file, or a sealed one when the writer has a sealing key.
protocol ChunkFile: AnyObject {
    var path: String { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Completes the file and flushes it to stable storage.
    func close() throws
}

extension OutputFile: ChunkFile {}

extension SealedFileWriter: ChunkFile {
    func close() throws { try finish() }
}

/// Lower-case hexadecimal, as checksums are written in manifests.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hexadecimal digit, either case; nil for any other byte.
    static func value(ofDigit byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
