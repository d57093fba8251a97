import Agent
import Connectors
import Foundation
import Logging
import Metadata
import OutpostTesting
import Testing

@Suite("Spool")
struct SpoolTests {
    static let key = [UInt8](repeating: 0x5A, count: 32)
    static let canary = "SPOOL-CANARY-7f3a"

    struct RunState: Codable, Equatable {
        var phase: String
        var leaseId: Int64
        var note: String
    }

    static func spool(_ directory: String, cap: Int64 = 64 * 1024 * 1024) throws -> Spool {
        try Spool(directory: directory, key: key, capBytes: cap)
    }

    static func expectSpoolError(_ code: SpoolError.Code, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a \(code) error")
        } catch let error as SpoolError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Every file under `directory`, recursively.
    static func files(under directory: String) throws -> [String] {
        let enumerator = try #require(FileManager.default.enumerator(atPath: directory))
        return enumerator.compactMap { $0 as? String }.map { directory + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    @Test("a new spool instance on the same directory sees the states and logs of the old one")
    func restart() throws {
        let directory = try TemporaryDirectory()
        do {
            let spool = try Self.spool(directory.path)
            try spool.writeState(RunState(phase: "extracting", leaseId: 7, note: "a"), runId: "run_b")
            try spool.writeState(RunState(phase: "delivering", leaseId: 9, note: "b"), runId: "run_a")
            try spool.writeState(RunState(phase: "delivered", leaseId: 9, note: "c"), runId: "run_a")
            #expect(try spool.appendLog(runId: "run_a", Array("line one\n".utf8)) == 9)
            #expect(try spool.appendLog(runId: "run_a", Array("line two\n".utf8)) == 18)
        }
        let spool = try Self.spool(directory.path)
        #expect(try spool.runIds() == ["run_a", "run_b"])
        #expect(
            try spool.readState(RunState.self, runId: "run_a") == RunState(phase: "delivered", leaseId: 9, note: "c"))
        #expect(try spool.readState(RunState.self, runId: "nothing_here") == nil)
        #expect(try spool.logEnd(runId: "run_a") == 18)
        #expect(try spool.readLog(runId: "run_a", from: 0, maxBytes: 100) == Array("line one\nline two\n".utf8))
        #expect(try spool.readLog(runId: "run_a", from: 5, maxBytes: 8) == Array("one\nline".utf8))
        #expect(try spool.readLog(runId: "run_a", from: 18, maxBytes: 8) == [])
        Self.expectSpoolError(.invalidOffset) { _ = try spool.readLog(runId: "run_a", from: 19, maxBytes: 8) }
        #expect(try spool.appendLog(runId: "run_a", Array("three\n".utf8)) == 24)
        #expect(spool.usedBytes() == (try spool.recount()))
        try spool.removeRun(runId: "run_a")
        #expect(try spool.runIds() == ["run_b"])
        #expect(try spool.logEnd(runId: "run_a") == 0)
        #expect(spool.usedBytes() == (try Self.spool(directory.path).usedBytes()))
    }

    @Test("large logs span segments and read back exactly from any offset, with a matching SHA-256")
    func largeLog() throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        var expected: [UInt8] = []
        var generator = SystemRandomNumberGenerator()
        for index in 0..<40 {
            let size = [1, 100, 70_000, 150_000][index % 4]
            let piece = (0..<size).map { _ in UInt8.random(in: 32...126, using: &generator) }
            expected += piece
            #expect(try spool.appendLog(runId: "big", piece) == Int64(expected.count))
        }
        let logs = directory.path + "/runs/big/logs"
        #expect(try FileManager.default.contentsOfDirectory(atPath: logs).count > 2)
        let reopened = try Self.spool(directory.path)
        for offset in [0, 1, 65_535, 65_536, 1_048_576, expected.count - 1] {
            let read = try reopened.readLog(runId: "big", from: Int64(offset), maxBytes: 300_000)
            #expect(read == Array(expected[offset..<min(expected.count, offset + 300_000)]), "offset \(offset)")
        }
        var whole: [UInt8] = []
        while whole.count < expected.count {
            whole += try reopened.readLog(runId: "big", from: Int64(whole.count), maxBytes: 123_457)
        }
        #expect(whole == expected)
        let path = directory.path + "/whole.log"
        try Data(expected).write(to: URL(fileURLWithPath: path))
        let sum = try ChildProcess.run("/usr/bin/env", ["sha256sum", path])
        #expect(sum.standardOutput.hasPrefix(try reopened.logSHA256(runId: "big") + " "))
    }

    @Test("log appends that would exceed the cap fail with .full and write nothing")
    func cap() throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path, cap: 4096)
        _ = try spool.appendLog(runId: "r1", [UInt8](repeating: 65, count: 2000))
        let used = spool.usedBytes()
        do {
            _ = try spool.appendLog(runId: "r1", [UInt8](repeating: 66, count: 3000))
            Issue.record("the cap was not enforced")
        } catch let error as SpoolError {
            #expect(error.code == .full)
            #expect(error.message.contains("spool is full"))
        }
        #expect(spool.usedBytes() == used)
        #expect(try spool.logEnd(runId: "r1") == 2000)
        try spool.removeRun(runId: "r1")
        #expect(try spool.appendLog(runId: "r2", [UInt8](repeating: 67, count: 3000)) == 3000)
    }

    @Test("a modified state or log byte is reported as corrupt, never read")
    func tamper() throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        try spool.writeState(RunState(phase: "p", leaseId: 1, note: "n"), runId: "r")
        _ = try spool.appendLog(runId: "r", [UInt8](repeating: 70, count: 200_000))
        let state = directory.path + "/runs/r/state.sealed"
        var raw = try Data(contentsOf: URL(fileURLWithPath: state))
        raw[raw.count - 3] ^= 1
        try raw.write(to: URL(fileURLWithPath: state))
        Self.expectSpoolError(.corrupt) { _ = try spool.readState(RunState.self, runId: "r") }

        let segment = directory.path + "/runs/r/logs/00000000000000000000.log"
        raw = try Data(contentsOf: URL(fileURLWithPath: segment))
        raw[100_000] ^= 1
        try raw.write(to: URL(fileURLWithPath: segment))
        let fresh = try Self.spool(directory.path)
        Self.expectSpoolError(.corrupt) { _ = try fresh.readLog(runId: "r", from: 0, maxBytes: 200_000) }
        Self.expectSpoolError(.corrupt) { _ = try fresh.logSHA256(runId: "r") }
        Self.expectSpoolError(.corrupt) { _ = try fresh.appendLog(runId: "r", [1]) }
    }

    @Test("a log segment moved to another run or offset fails authentication")
    func moved() throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        _ = try spool.appendLog(runId: "a", Array("secret-ish output of run a".utf8))
        _ = try spool.appendLog(runId: "b", Array("other".utf8))
        let a = directory.path + "/runs/a/logs/00000000000000000000.log"
        let b = directory.path + "/runs/b/logs/00000000000000000000.log"
        try FileManager.default.removeItem(atPath: b)
        try FileManager.default.copyItem(atPath: a, toPath: b)
        Self.expectSpoolError(.corrupt) {
            _ = try Self.spool(directory.path).readLog(runId: "b", from: 0, maxBytes: 10)
        }
    }

    @Test("a torn last log record left by a crash is dropped on reopen")
    func tornTail() throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        _ = try spool.appendLog(runId: "r", Array("complete\n".utf8))
        let segment = directory.path + "/runs/r/logs/00000000000000000000.log"
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0, 60, 1, 2, 3]))
        try handle.close()
        let reopened = try Self.spool(directory.path)
        #expect(try reopened.logEnd(runId: "r") == 9)
        #expect(try reopened.appendLog(runId: "r", Array("next\n".utf8)) == 14)
        #expect(try reopened.readLog(runId: "r", from: 0, maxBytes: 100) == Array("complete\nnext\n".utf8))
    }

    @Test(
        "run ids that could escape the spool are refused",
        arguments: ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "a\nb", "a b", String(repeating: "x", count: 129)])
    func identifiers(_ runId: String) throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        Self.expectSpoolError(.invalidIdentifier) { _ = try spool.filesDirectory(runId: runId) }
        Self.expectSpoolError(.invalidIdentifier) { _ = try spool.appendLog(runId: runId, [1]) }
        Self.expectSpoolError(.invalidIdentifier) { try spool.writeState(["a": 1], runId: runId) }
        Self.expectSpoolError(.invalidIdentifier) { try spool.removeRun(runId: runId) }
    }

    @Test("nothing written through the spool is on disk in the clear")
    func nothingInClear() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        try spool.writeState(RunState(phase: Self.canary, leaseId: 1, note: Self.canary), runId: "run1")
        _ = try spool.appendLog(runId: "run1", Array("log line with \(Self.canary)\n".utf8))
        // The job process's side: a sealed extraction of the sample database into the run's files directory.
        let files = try spool.filesDirectory(runId: "run1")
        let sample = BuildProducts.repositoryRoot + "/Samples/shop.db"
        _ = try await Extraction(
            connector: SQLiteConnector(path: sample), scope: ExtractionScope(connection: Self.canary),
            folder: ExtractionFolder(path: files, sealingKey: Self.key)
        ).run(progress: ExtractionProgress(), logger: Logger(label: "test"))
        let grep = try ChildProcess.run("/usr/bin/env", ["grep", "-r", "-l", "-a", Self.canary, directory.path])
        #expect(grep.status == 1, "grep found the canary in: \(grep.standardOutput)")
        let grepCustomers = try ChildProcess.run(
            "/usr/bin/env", ["grep", "-r", "-l", "-a", "customers", directory.path])
        #expect(grepCustomers.status == 1, "table names in clear in: \(grepCustomers.standardOutput)")
        for path in try Self.files(under: directory.path) {
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(path)")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: files)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        #expect(try spool.recount() > 0)
    }

    @Test("a sealed extraction of the SQLite sample verifies and reads back the same records as a plain one")
    func sealedExtraction() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        let sample = BuildProducts.repositoryRoot + "/Samples/shop.db"
        let sealedFolder = try spool.extractionFolder(runId: "shop")
        let plainFolder = ExtractionFolder(path: directory.path + "/plain")
        try FileManager.default.createDirectory(atPath: plainFolder.path, withIntermediateDirectories: true)
        var manifests: [Manifest] = []
        for folder in [sealedFolder, plainFolder] {
            manifests.append(
                try await Extraction(
                    connector: SQLiteConnector(path: sample), scope: ExtractionScope(connection: "shop"),
                    folder: folder
                ).run(progress: ExtractionProgress(), logger: Logger(label: "test")))
        }
        var sealedRecords: [MetadataRecord] = []
        try sealedFolder.forEachRecord(in: try sealedFolder.readManifest()) { sealedRecords.append($0) }
        var plainRecords: [MetadataRecord] = []
        try plainFolder.forEachRecord(in: try plainFolder.readManifest()) { plainRecords.append($0) }
        #expect(sealedRecords.count > 20)
        #expect(sealedRecords == plainRecords)
        #expect(manifests[0].files.map(\.sha256) == manifests[1].files.map(\.sha256))
        #expect(manifests[0].counts == manifests[1].counts)
    }

    @Test("the spool key is created 0600 and reused; a widely readable or wrong-sized key is refused")
    func key() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/spool.key"
        let key = try SpoolKey.loadOrCreate(at: path)
        #expect(key.count == 32)
        #expect(try SpoolKey.loadOrCreate(at: path) == key)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        Self.expectSpoolError(.invalidKey) { _ = try SpoolKey.loadOrCreate(at: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        Self.expectSpoolError(.invalidKey) { _ = try SpoolKey.loadOrCreate(at: path) }
        Self.expectSpoolError(.invalidKey) { _ = try Spool(directory: directory.path, key: [1], capBytes: 1) }
    }

    @Test("concurrent appends from many tasks all land, in some order, without loss")
    func concurrency() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Self.spool(directory.path)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for line in 0..<50 { _ = try? spool.appendLog(runId: "r", Array("t\(task)-l\(line)\n".utf8)) }
                }
            }
        }
        let text = String(decoding: try spool.readLog(runId: "r", from: 0, maxBytes: 1 << 20), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 400)
        #expect(Set(lines).count == 400)
    }
}
