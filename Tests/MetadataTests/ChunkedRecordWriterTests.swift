import Foundation
import Metadata
import OutpostTesting
import Testing

@Suite("Chunked record writer and reader")
struct ChunkedRecordWriterTests {
    /// Writes `count` column records in chunks of `chunkBytes` and a manifest; returns the manifest.
    static func writeExtraction(in directory: String, count: Int, chunkBytes: Int) throws -> Manifest {
        let writer = ChunkedRecordWriter(directory: directory, maxChunkBytes: chunkBytes, compressionLevel: 6)
        let database = QualifiedName(["c", "db"])
        let schema = database.appending("s")
        let table = schema.appending("t")
        for index in 0..<count {
            try writer.write(
                .column(
                    Column(
                        qualifiedName: table.appending("col\(index)"), name: "col\(index)", database: database,
                        schema: schema, table: table, ordinal: index + 1, nativeType: "text", typeFamily: .string,
                        nullable: true)))
        }
        let chunks = try writer.finish()
        let manifest = Manifest(
            extractionId: "test", connection: "c", source: Manifest.Source(kind: "test"),
            connector: Manifest.Connector(name: "test", version: "1"), startedAt: "2026-01-01T00:00:00.000Z",
            finishedAt: "2026-01-01T00:00:01.000Z", filters: Manifest.Filters(),
            files: chunks.map {
                Manifest.File(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            }, counts: ["column": count],
            completeness: [Manifest.Completeness(database: "db", schema: "s", qualifiedName: schema, complete: true)])
        try ExtractionFolder(path: directory).writeManifest(manifest)
        return manifest
    }

    @Test("chunks stay within their size bound and read back in order with verified checksums")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let manifest = try Self.writeExtraction(in: directory.path, count: 20_000, chunkBytes: 256 * 1024)
        #expect(manifest.files.count > 3)
        #expect(manifest.files.allSatisfy { $0.uncompressedBytes <= 256 * 1024 })
        #expect(manifest.files.map(\.path).first == "records-00001.jsonl.gz")
        let folder = ExtractionFolder(path: directory.path)
        let reread = try folder.readManifest()
        #expect(reread == manifest)
        var ordinals: [Int] = []
        try folder.forEachRecord(in: reread) { record in
            if case .column(let column) = record { ordinals.append(column.ordinal) }
        }
        #expect(ordinals == Array(1...20_000))
        // gzip's own tool agrees the files are valid.
        let gzip = try ChildProcess.run("/usr/bin/env", ["gzip", "-t", directory.path + "/" + manifest.files[0].path])
        #expect(gzip.status == 0)
    }

    @Test("a corrupted, truncated or swapped chunk is refused", arguments: ["flip", "truncate", "append"])
    func corruption(_ damage: String) throws {
        let directory = try TemporaryDirectory()
        let manifest = try Self.writeExtraction(in: directory.path, count: 2_000, chunkBytes: 1024 * 1024)
        let path = directory.path + "/" + manifest.files[0].path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        switch damage {
        case "flip": bytes[bytes.count / 2] ^= 0xFF
        case "truncate": bytes = bytes.prefix(bytes.count - 10)
        default: bytes.append(contentsOf: [0x1F, 0x8B])
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        let folder = ExtractionFolder(path: directory.path)
        #expect(throws: MetadataError.self) { try folder.forEachRecord(in: manifest) { _ in } }
    }

    @Test("a manifest that names a file outside its folder is refused")
    func unsafePath() throws {
        let directory = try TemporaryDirectory()
        var manifest = try Self.writeExtraction(in: directory.path, count: 10, chunkBytes: 1024 * 1024)
        manifest.files[0].path = "../etc/passwd"
        #expect(throws: MetadataError.self) {
            try ExtractionFolder(path: directory.path).forEachRecord(in: manifest) { _ in }
        }
    }

    @Test("a failed extraction's chunks are removed")
    func discard() throws {
        let directory = try TemporaryDirectory()
        let writer = ChunkedRecordWriter(directory: directory.path, maxChunkBytes: 1024)
        for index in 0..<100 {
            try writer.write(
                .database(Database(qualifiedName: QualifiedName(["c", "db\(index)"]), name: "db\(index)")))
        }
        writer.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}

@Suite("One-shot gzip")
struct GzipTests {
    @Test("compresses and decompresses, refusing truncation and output beyond the bound")
    func roundTrip() throws {
        let text = Array(String(repeating: "log line with some text\n", count: 1000).utf8)
        let compressed = try Gzip.compress(text)
        #expect(compressed.count < text.count / 10)
        #expect(try Gzip.decompress(compressed, maxOutputBytes: text.count) == text)
        #expect(throws: MetadataError.self) { try Gzip.decompress(compressed, maxOutputBytes: text.count - 1) }
        #expect(throws: MetadataError.self) {
            try Gzip.decompress(Array(compressed.dropLast(8)), maxOutputBytes: text.count)
        }
        #expect(throws: MetadataError.self) { try Gzip.decompress(Array("not gzip".utf8), maxOutputBytes: 100) }
    }
}
