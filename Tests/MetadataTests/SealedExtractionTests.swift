import Foundation
import Metadata
import OutpostTesting
import Testing

@Suite("Sealed extraction folders")
struct SealedExtractionTests {
    static let key = [UInt8](repeating: 0x17, count: 32)
    static let canary = "sealed-extraction-canary"

    /// Writes the same records plain or sealed; returns the manifest.
    static func write(in directory: String, key: [UInt8]?) throws -> Manifest {
        let writer = ChunkedRecordWriter(
            directory: directory, maxChunkBytes: 64 * 1024, compressionLevel: 1, sealingKey: key)
        let database = QualifiedName(["c", "db"])
        let schema = database.appending("s")
        let table = schema.appending(Self.canary)
        for index in 0..<3_000 {
            try writer.write(
                .column(
                    Column(
                        qualifiedName: table.appending("col\(index)"), name: "\(Self.canary)-\(index)",
                        database: database, schema: schema, table: table, ordinal: index + 1, nativeType: "text",
                        typeFamily: .string, nullable: true)))
        }
        let chunks = try writer.finish()
        let manifest = Manifest(
            extractionId: "sealed", connection: Self.canary, source: Manifest.Source(kind: "test"),
            connector: Manifest.Connector(name: "test", version: "1"), startedAt: "2026-01-01T00:00:00.000Z",
            finishedAt: "2026-01-01T00:00:01.000Z", filters: Manifest.Filters(),
            files: chunks.map {
                Manifest.File(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            }, counts: ["column": 3_000],
            completeness: [Manifest.Completeness(database: "db", schema: "s", qualifiedName: schema, complete: true)])
        try ExtractionFolder(path: directory, sealingKey: key).writeManifest(manifest)
        return manifest
    }

    static func records(_ folder: ExtractionFolder, _ manifest: Manifest) throws -> [MetadataRecord] {
        var records: [MetadataRecord] = []
        try folder.forEachRecord(in: manifest) { records.append($0) }
        return records
    }

    @Test("a sealed extraction verifies and reads back the same records as a plain one, with nothing in clear")
    func roundTrip() throws {
        let plainDirectory = try TemporaryDirectory()
        let sealedDirectory = try TemporaryDirectory()
        let plainManifest = try Self.write(in: plainDirectory.path, key: nil)
        let sealedManifest = try Self.write(in: sealedDirectory.path, key: Self.key)
        #expect(sealedManifest.files.count > 2)
        let sealed = ExtractionFolder(path: sealedDirectory.path, sealingKey: Self.key)
        #expect(try sealed.readManifest() == sealedManifest)
        let plain = ExtractionFolder(path: plainDirectory.path)
        #expect(try Self.records(sealed, sealedManifest) == (try Self.records(plain, plainManifest)))
        // The synchronous stream of a sealed chunk is byte for byte the plain writer's chunk.
        for file in sealedManifest.files {
            var sealedBytes: [UInt8] = []
            try sealed.readFile(file.path) { sealedBytes += $0 }
            var plainBytes: [UInt8] = []
            try plain.readFile(file.path) { plainBytes += $0 }
            #expect(sealedBytes == plainBytes)
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: sealedDirectory.path) {
            let raw = try Data(contentsOf: URL(fileURLWithPath: sealedDirectory.path + "/" + name))
            #expect(raw.range(of: Data(Self.canary.utf8)) == nil, "\(name) holds plaintext")
            #expect(raw.prefix(4) == Data("OPS1".utf8), "\(name) is not sealed")
        }
    }

    @Test("checksums in the manifest are those of the plaintext gzip stream that readFile delivers")
    func checksumsArePlaintext() async throws {
        let directory = try TemporaryDirectory()
        let manifest = try Self.write(in: directory.path, key: Self.key)
        let folder = ExtractionFolder(path: directory.path, sealingKey: Self.key)
        for file in manifest.files {
            // Stream the plaintext out (as an upload would) and let sha256sum check it against the manifest.
            let copy = directory.path + "/" + file.path + ".plain"
            _ = FileManager.default.createFile(atPath: copy, contents: nil)
            let handle = try #require(FileHandle(forWritingAtPath: copy))
            var bytes: Int64 = 0
            try await folder.readFile(file.path) { (piece: [UInt8]) async throws in
                try handle.write(contentsOf: piece)
                bytes += Int64(piece.count)
            }
            try handle.close()
            #expect(bytes == file.bytes)
            let sum = try ChildProcess.run("/usr/bin/env", ["sha256sum", copy])
            #expect(sum.standardOutput.hasPrefix(file.sha256 + " "), "\(sum.standardOutput)")
            let gzip = try ChildProcess.run("/usr/bin/env", ["gzip", "-t", copy])
            #expect(gzip.status == 0, "the plaintext is a valid gzip stream")
        }
        await #expect(throws: MetadataError.self) {
            try await folder.readFile("../escape") { (_: [UInt8]) async throws in }
        }
    }

    @Test("a sealed folder read without its key, with another key, or after tampering is refused")
    func refusals() throws {
        let directory = try TemporaryDirectory()
        let manifest = try Self.write(in: directory.path, key: Self.key)
        #expect(throws: MetadataError.self) { _ = try ExtractionFolder(path: directory.path).readManifest() }
        let other = ExtractionFolder(path: directory.path, sealingKey: [UInt8](repeating: 9, count: 32))
        #expect(throws: MetadataError.self) { _ = try other.readManifest() }
        #expect(throws: MetadataError.self) { _ = try Self.records(other, manifest) }
        let path = directory.path + "/" + manifest.files[1].path
        var raw = try Data(contentsOf: URL(fileURLWithPath: path))
        raw[raw.count / 2] ^= 0x20
        try raw.write(to: URL(fileURLWithPath: path))
        let folder = ExtractionFolder(path: directory.path, sealingKey: Self.key)
        do {
            _ = try Self.records(folder, manifest)
            Issue.record("a tampered chunk was read")
        } catch let error as MetadataError {
            #expect(error.code == .tampered)
        }
    }

    @Test("a failed sealed extraction leaves no files behind")
    func discard() throws {
        let directory = try TemporaryDirectory()
        let writer = ChunkedRecordWriter(directory: directory.path, maxChunkBytes: 1024, sealingKey: Self.key)
        let database = QualifiedName(["c", "db"])
        for index in 0..<200 {
            try writer.write(.database(Database(qualifiedName: database.appending("x\(index)"), name: "x\(index)")))
        }
        writer.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}
