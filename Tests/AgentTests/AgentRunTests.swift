import Agent
import ControlPlane
import ControlPlaneStorage
import Foundation
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Agent runs against the real control plane", .serialized)
struct AgentRunTests {
    @Test func aDirectIngestionRunDeliversTheSampleCatalogWithItsLogAndAVerifiableAuditEntry() async throws {
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane)
            let metrics = AgentMetrics()
            try await withAgent(setup, metrics: metrics) { _ in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .succeeded, "\(run.error ?? "")")
            }
            let log = try await controlPlane.log(queued.id)
            #expect(log.contains("job.started"))
            #expect(log.contains("job.extracted"))
            let run = try await controlPlane.run(queued.id)
            #expect(run.logTotalBytes == run.logBytes)
            #expect(run.logDroppedBytes == 0)
            let assets = try await controlPlane.store.searchAssets(
                tenantId: controlPlane.tenant.id, text: "customers", kind: nil, connectionId: connection.id, limit: 10)
            #expect(assets.contains { $0.name == "customers" })

            let verification = try AuditLedger.verify(path: setup.dataDirectory + "/audit.jsonl")
            #expect(verification.entries == 1)
            let line = try String(contentsOfFile: setup.dataDirectory + "/audit.jsonl", encoding: .utf8)
            #expect(line.contains(queued.id))
            #expect(line.contains("manifest.json"))
            #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("outcome=\"succeeded\"} 1"))
            // Nothing of the run is left in the spool once the control plane has it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: setup.dataDirectory + "/spool/runs").isEmpty)
        }
    }

    @Test func anAgentWhoseSlotsAreAllBusyClaimsAgainOnceOneFrees() async throws {
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            var runs: [String] = []
            for _ in 0..<3 { runs.append(try await controlPlane.runNow(connection.id).id) }
            let queued = runs
            // One slot: the agent is full with each run and must claim the next one when it ends.
            let setup = try AgentSetup(controlPlane: controlPlane, concurrency: 1)
            try await withAgent(setup) { _ in
                for runId in queued {
                    let run = try await controlPlane.finished(runId, within: .seconds(30))
                    #expect(run.status == .succeeded, "\(run.error ?? "")")
                }
            }
        }
    }

    @Test func aSourceOutsideTheLocalPolicyFailsBeforeAnyConnectionIsAttempted() async throws {
        let listener = try RecordingListener()
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "elsewhere", sourceKind: "postgresql",
                    sourceURL: "postgres://reader@localhost:\(listener.port)/sales"))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane)
            let metrics = AgentMetrics()
            try await withAgent(setup, metrics: metrics) { _ in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .failed)
                #expect(run.error?.contains("local policy") == true, "\(run.error ?? "")")
            }
            #expect(listener.connections == 0)
            let ledger = try String(contentsOfFile: setup.dataDirectory + "/audit.jsonl", encoding: .utf8)
            #expect(ledger.contains("\"denied\""))
            #expect(
                String(decoding: metrics.exposition(), as: UTF8.self).contains("outpost_agent_egress_denials_total 1"))
        }
    }

    @Test func cancellingFromTheControlPlaneKillsTheJobsProcessGroupWithinTheGracePeriod() async throws {
        let listener = try RecordingListener()
        try await withControlPlane { controlPlane in
            // A source that accepts the connection and never answers: the job hangs until it is stopped.
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "hanging", sourceKind: "postgresql",
                    sourceURL: "postgres://reader@127.0.0.1:\(listener.port)/sales"))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane)
            try await withAgent(setup) { _ in
                _ = try await controlPlane.waitFor(queued.id) { $0.status == .running }
                let deadline = ContinuousClock.now + .seconds(20)
                while listener.connections == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                let jobs = jobProcesses(dataDirectory: setup.dataDirectory)
                #expect(jobs.count == 1)
                let cancelled = ContinuousClock.now
                try await controlPlane.cancel(queued.id)
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .cancelled)
                // Renewal every ttl/4 (5 s) + 2 s grace + margin.
                #expect(ContinuousClock.now - cancelled < .seconds(12))
                for pid in jobs { #expect(kill(pid, 0) != 0, "job process \(pid) survived the cancellation") }
            }
        }
    }

    @Test func aSecretCommandDiesWithItsJobProcessEvenWhenTheJobIsKilledBySIGKILL() async throws {
        let listener = try RecordingListener()
        try await withControlPlane { controlPlane in
            let scripts = try TemporaryDirectory()
            let pidFile = scripts.path + "/helper.pid"
            // A vault CLI that hangs: the job waits in it when it is killed.
            let helper = try scripts.executable(
                "slow-vault", "#!/bin/sh\necho $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile)\nexec sleep 120\n")
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "vaulted", sourceKind: "postgresql",
                    sourceURL: "postgres://reader@127.0.0.1:\(listener.port)/sales",
                    secrets: ["password": "command:slow"]))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(
                controlPlane: controlPlane,
                extra: """
                    secretStores:
                      commands:
                        slow:
                          path: \(helper)
                          timeout: 120s
                    """)
            try await withAgent(setup) { _ in
                let deadline = ContinuousClock.now + .seconds(30)
                while !FileManager.default.fileExists(atPath: pidFile) && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                let text = try String(contentsOfFile: pidFile, encoding: .utf8)
                let helperPID = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
                let jobs = jobProcesses(dataDirectory: setup.dataDirectory)
                #expect(jobs.count == 1)
                #expect(kill(helperPID, 0) == 0, "the secret command is not running")
                // Only the job's own process, not its group: the helper has a process group of its own.
                for pid in jobs { kill(pid, SIGKILL) }
                let gone = ContinuousClock.now + .seconds(10)
                while Self.isAlive(helperPID) && ContinuousClock.now < gone {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(!Self.isAlive(helperPID), "the secret command outlived its killed job")
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .failed)
            }
            #expect(listener.connections == 0)
        }
    }

    @Test func aJobThatWritesPastTheSpoolCapIsStoppedWhileItRuns() async throws {
        try await withControlPlane { controlPlane in
            // A misbehaving job in place of `outpost run-job`: it fills its output folder, then would hang for a
            // minute. The agent must stop it while it runs, not find out after it ended.
            let scripts = try TemporaryDirectory()
            let job = try scripts.executable(
                "greedy-job",
                """
                #!/usr/bin/env python3
                import json, sys, time
                envelope = json.load(sys.stdin)
                with open(envelope["outputDirectory"] + "/filler", "wb") as out:
                    for _ in range(8):
                        out.write(b"x" * (1024 * 1024))
                        out.flush()
                print("wrote 8 MiB", flush=True)
                time.sleep(60)
                """)
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "greedy", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            var setup = try AgentSetup(controlPlane: controlPlane, extra: "spool:\n  cap: 2MiB")
            setup.yaml = setup.yaml.replacingOccurrences(
                of: "executable: \(BuildProducts.outpost)", with: "executable: \(job)")
            try await withAgent(setup) { _ in
                _ = try await controlPlane.waitFor(queued.id) { $0.status == .running }
                let run = try await controlPlane.finished(queued.id, within: .seconds(40))
                #expect(run.status == .failed)
                #expect(run.error?.contains("does not fit in the spool") == true, "\(run.error ?? "")")
                #expect(run.error?.contains("was stopped") == true, "\(run.error ?? "")")
            }
        }
    }

    /// Whether `pid` is a live process (not a zombie waiting for its parent).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }
}

/// Process ids of running `outpost run-job` processes whose parent is `parent` (this test process, where the
/// agent runs in-process), so that jobs of other agents on the machine are not counted; with `dataDirectory`, only
/// the jobs of the agent using it (a job runs in its work directory under the agent's data directory), so that the
/// jobs of tests running at the same time in this process are not counted either.
func jobProcesses(parent: Int32 = getpid(), dataDirectory: String? = nil) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry),
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
            let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard arguments.count >= 2, arguments[0].hasSuffix("/outpost"), arguments[1] == "run-job" else { return nil }
        // After "pid (comm)": state, ppid, …
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, fields[0] != "Z", Int32(fields[1]) == parent else { return nil }
        if let dataDirectory {
            let directory = URL(fileURLWithPath: dataDirectory).resolvingSymlinksInPath().path
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
                cwd.hasPrefix(directory + "/")
            else { return nil }
        }
        return pid
    }
}
