import Foundation
import OutpostTesting
import Testing

/// `outpost audit verify` against ledgers written by an independent implementation of the documented format.
@Suite("outpost audit verify")
struct AuditCommandTests {
    /// Writes a ledger of `count` entries with Python, following the format documented on `AuditLedger`.
    static func writeLedger(_ path: String, count: Int) throws {
        let script = """
            import hashlib, json, sys
            path, count = sys.argv[1], int(sys.argv[2])
            previous = "0" * 64
            with open(path, "w") as out:
                for seq in range(1, count + 1):
                    body = {"event": {"runId": f"run_{seq}", "files": [], "outcome": "succeeded"},
                            "previousHash": previous, "seq": seq, "time": "2026-01-01T00:00:00.000Z"}
                    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    out.write('{"hash":"' + digest + '",' + text[1:] + "\\n")
                    previous = digest
            """
        let result = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script, path, String(count)])
        try #require(result.status == 0, "\(result.standardError)")
    }

    @Test("an intact ledger exits 0 with its entry count, from --file or --data-dir")
    func intact() throws {
        let directory = try TemporaryDirectory()
        try Self.writeLedger(directory.path + "/audit.jsonl", count: 4)
        let byFile = try OutpostCLI.run(["audit", "verify", "--file", directory.path + "/audit.jsonl"])
        #expect(byFile.status == 0, "\(byFile.standardOutput)\(byFile.standardError)")
        #expect(byFile.standardOutput.contains("intact, 4 entries"))
        let byDirectory = try OutpostCLI.run(["audit", "verify", "--data-dir", directory.path])
        #expect(byDirectory.status == 0)
    }

    @Test("a broken ledger exits 1 naming the first broken line")
    func broken() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/audit.jsonl"
        try Self.writeLedger(path, count: 5)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "run_3", with: "run_X")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let result = try OutpostCLI.run(["audit", "verify", "--file", path])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("BROKEN at line 3"), "\(result.standardOutput)")
    }

    @Test("missing arguments and a missing file are errors")
    func usage() throws {
        let directory = try TemporaryDirectory()
        #expect(try OutpostCLI.run(["audit", "verify"]).status == 64)
        let missing = try OutpostCLI.run(["audit", "verify", "--data-dir", directory.path])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("cannot open the audit ledger"))
    }
}
