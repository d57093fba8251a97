import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostProtocol
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

    @Test("with --server, a ledger cut short of what the agent reported to the control plane fails, a whole one passes")
    func comparedWithTheControlPlane() async throws {
        try await AdminCommandTests.withServer { environment, store, keyFile in
            let directory = try TemporaryDirectory()
            let ledger = directory.path + "/audit.jsonl"
            try Self.writeLedger(ledger, count: 5)
            try Data("agt_audited".utf8).write(to: URL(fileURLWithPath: directory.path + "/agent-id"))
            // What the agent's heartbeats told the control plane: five entries, the last with this hash.
            let last = try #require(try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").last)
            let hash = String(last.dropFirst(#"{"hash":""#.count).prefix(64))
            let tenant = try #require(try await store.firstTenant())
            let now = Timestamp(milliseconds: 1_735_689_600_000)
            try await store.upsertAgent(
                AgentRecord(
                    tenantId: tenant.id, id: "agt_audited", name: "audited", version: "0.1.0", state: "idle",
                    freeSlots: 1, runningLeases: 0, lastSeenAt: now))
            _ = try await store.recordAuditHead(
                tenantId: tenant.id, agentId: "agt_audited", head: AuditHead(sequence: 5, hash: hash), now: now)
            let server = try #require(environment["OUTPOST_SERVER"])
            func verify() async throws -> ProcessResult {
                try await withCheckedThrowingContinuation { continuation in
                    Thread {
                        continuation.resume(
                            with: Result {
                                try OutpostCLI.run([
                                    "audit", "verify", "--data-dir", directory.path, "--server", server, "--key-file",
                                    keyFile,
                                ])
                            })
                    }.start()
                }
            }
            let whole = try await verify()
            #expect(whole.status == 0, "\(whole.standardOutput) \(whole.standardError)")
            #expect(whole.standardOutput.contains("including the 5 the control plane saw"))

            // The two newest entries cut off: the chain alone still verifies, the control plane's head does not.
            try Self.writeLedger(ledger, count: 3)
            let local = try OutpostCLI.run(["audit", "verify", "--data-dir", directory.path])
            #expect(local.status == 0)
            let cut = try await verify()
            #expect(cut.status == 1)
            #expect(cut.standardOutput.contains("SHORTENED"), "\(cut.standardOutput)")
        }
    }
}
