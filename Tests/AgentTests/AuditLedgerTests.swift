import Agent
import Foundation
import OutpostTesting
import Testing

@Suite("Audit ledger")
struct AuditLedgerTests {
    static func entry(_ index: Int) -> AuditEntry {
        AuditEntry(
            runId: "run_\(index)", connectionId: "con_1", connectionName: "shop",
            source: "postgres://reader:hunter2@db.corp.internal:5432/shop",
            policy: .init(allowed: true, rule: "postgres://*.corp.internal/*"),
            files: [
                .init(name: "records-00001.jsonl.gz", bytes: 1234, sha256: String(repeating: "ab", count: 32)),
                .init(name: "manifest.json", bytes: 99, sha256: String(repeating: "cd", count: 32)),
            ],
            destination: index % 2 == 0
                ? .direct(host: "cp.example.com")
                : .relay(bucket: "corp-metadata", keys: ["t/run/records-00001.jsonl.gz"]),
            startedAt: "2026-01-01T00:00:00.000Z", finishedAt: "2026-01-01T00:00:05.000Z", outcome: .succeeded)
    }

    static func ledger(_ directory: TemporaryDirectory, entries: Int) throws -> String {
        let path = AuditLedger.path(dataDirectory: directory.path)
        let ledger = try AuditLedger(path: path)
        for index in 1...entries { try ledger.append(Self.entry(index)) }
        return path
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
    }

    static func write(_ lines: [String], to path: String) throws {
        try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test("an intact chain verifies, with credential-free sources and one JSON object per line")
    func intact() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 5)
        #expect(try AuditLedger.verify(path: path) == AuditVerification(entries: 5, broken: nil))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("hunter2"))
        #expect(text.contains("postgres://db.corp.internal:5432/shop"))
        let first = try #require(Self.lines(path).first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(object["seq"] as? Int == 1)
        #expect(object["previousHash"] as? String == AuditLedger.genesisHash)
        #expect((object["hash"] as? String)?.count == 64)
        #expect((object["event"] as? [String: Any])?["runId"] as? String == "run_1")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The documented hash: SHA-256 of the line without its leading "hash" member, checked with sha256sum.
        let body = "{" + first.dropFirst(#"{"hash":""#.count + 64 + 2)
        let bodyPath = directory.path + "/body"
        try body.write(toFile: bodyPath, atomically: false, encoding: .utf8)
        let sum = try ChildProcess.run("/usr/bin/env", ["sha256sum", bodyPath])
        #expect(sum.standardOutput.hasPrefix((object["hash"] as? String ?? "?") + " "))
    }

    @Test("one edited byte in a middle line is reported at that line", arguments: [10, 40, 200, 300])
    func editedByte(_ column: Int) throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 5)
        var lines = try Self.lines(path)
        var bytes = Array(lines[2].utf8)
        bytes[column] = bytes[column] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
        lines[2] = String(decoding: bytes, as: UTF8.self)
        try Self.write(lines, to: path)
        let result = try AuditLedger.verify(path: path)
        #expect(result.broken?.line == 3, "\(result)")
        #expect(result.entries == 2)
    }

    @Test("a deleted line is reported at the line that follows it")
    func deletedLine() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 5)
        var lines = try Self.lines(path)
        lines.remove(at: 1)
        try Self.write(lines, to: path)
        let result = try AuditLedger.verify(path: path)
        #expect(result.broken?.line == 2)
        #expect(result.broken?.reason.contains("seq") == true)
    }

    @Test("swapped lines are reported")
    func swapped() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 4)
        var lines = try Self.lines(path)
        lines.swapAt(1, 2)
        try Self.write(lines, to: path)
        #expect(try AuditLedger.verify(path: path).broken?.line == 2)
    }

    @Test("a torn last line is reported by verify, and set aside byte for byte when the ledger is opened")
    func truncatedLastLine() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 3)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 40).write(to: URL(fileURLWithPath: path))
        let result = try AuditLedger.verify(path: path)
        #expect(result.broken?.line == 3)
        #expect(result.broken?.reason.contains("incomplete") == true)

        let reopened = try AuditLedger(path: path)
        let tornPath = try #require(reopened.recoveredTail)
        let lines = try Self.lines(path)
        let kept = lines.dropLast().joined(separator: "\n") + "\n"
        let torn = try Data(contentsOf: URL(fileURLWithPath: tornPath))
        #expect(Data(kept.utf8) + torn == data.prefix(data.count - 40))
        #expect(reopened.count == 2)
        try reopened.append(Self.entry(4))
        #expect(try AuditLedger.verify(path: path) == AuditVerification(entries: 3, broken: nil))
    }

    @Test("a last entry that lost only its newline is kept and the chain continues from it")
    func missingNewline() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 3)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.dropLast().write(to: URL(fileURLWithPath: path))
        let reopened = try AuditLedger(path: path)
        #expect(reopened.recoveredTail == nil)
        #expect(reopened.count == 3)
        try reopened.append(Self.entry(4))
        #expect(try AuditLedger.verify(path: path) == AuditVerification(entries: 4, broken: nil))
    }

    @Test("a complete last line that does not match its hash stops the ledger from opening")
    func modifiedLastLine() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 3)
        var lines = try Self.lines(path)
        let last = lines.count - 2  // the final element is the empty string after the last newline
        lines[last] = lines[last].replacingOccurrences(of: #""seq":3"#, with: #""seq":4"#)
        try Self.write(lines, to: path)
        #expect(throws: AuditError.self) { _ = try AuditLedger(path: path) }
    }

    @Test("reopening a ledger continues its chain")
    func reopen() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.ledger(directory, entries: 3)
        let reopened = try AuditLedger(path: path)
        #expect(reopened.count == 3)
        try reopened.append(Self.entry(4))
        let again = try AuditLedger(path: path)
        try again.append(Self.entry(5))
        #expect(try AuditLedger.verify(path: path) == AuditVerification(entries: 5, broken: nil))
        let last = try #require(try Self.lines(path).dropLast().last)
        #expect(last.contains(#""seq":5"#))
    }

    @Test("an empty or new ledger verifies with no entries")
    func empty() throws {
        let directory = try TemporaryDirectory()
        let path = AuditLedger.path(dataDirectory: directory.path)
        _ = try AuditLedger(path: path)
        #expect(try AuditLedger.verify(path: path) == AuditVerification(entries: 0, broken: nil))
        #expect(throws: AuditError.self) { _ = try AuditLedger.verify(path: directory.path + "/missing.jsonl") }
    }

    @Test(
        "credentials are removed from source URLs",
        arguments: [
            ("postgres://u:p@h:5432/db", "postgres://h:5432/db"),
            ("postgres://u:p@ss@h/db", "postgres://h/db"),
            ("postgres://h/db?x=a@b", "postgres://h/db?x=a@b"),
            ("sqlite:/data/shop.db", "sqlite:/data/shop.db"),
        ])
    func credentials(_ input: String, _ expected: String) {
        #expect(AuditEntry.withoutCredentials(input) == expected)
    }
}
