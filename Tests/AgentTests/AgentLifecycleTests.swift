import Agent
import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to the sample database whose job first waits `seconds` for a (slow) secret command.
func slowConnection(_ controlPlane: TestControlPlane, name: String) async throws -> ConnectionResponse {
    try await controlPlane.createConnection(
        ConnectionRequest(
            name: name, sourceKind: "sqlite", sourceURL: sampleDatabaseURL, secrets: ["password": "command:slow"]))
}

@Suite("Agent lifecycle: signals, restarts, keys, leases", .serialized)
struct AgentLifecycleTests {
    @Test func sigtermDrainsARunningJobToCompletionAndTakesNoNewWork() async throws {
        try await withControlPlane { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane)
            setup.yaml += "\n" + slowSecretCommand(seconds: 3)
            let connection = try await slowConnection(controlPlane, name: "drained")
            let first = try await controlPlane.runNow(connection.id)
            let agent = try AgentProcess(
                configPath: try setup.writeConfiguration(), logPath: setup.directory.path + "/agent.log")
            _ = try await controlPlane.waitFor(first.id) { $0.status == .running }
            agent.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            let second = try await controlPlane.runNow(connection.id)
            let status = await agent.waitForExit(within: .seconds(30))
            #expect(status == 0, "\(agent.log)")
            #expect(try await controlPlane.finished(first.id).status == .succeeded)
            // A claim already held open when SIGTERM came may have been answered with this run as the agent hung
            // up; it is then leased to nobody and re-queued after the lease expires, its attempt given back. It never
            // runs here.
            #expect([.queued, .leased].contains(try await controlPlane.run(second.id).status))
            #expect(agent.log.contains("agent.draining"))
        }
    }

    @Test func aSecondSigtermStopsTheRunningJobAtOnce() async throws {
        try await withControlPlane { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane)
            setup.yaml += "\n" + slowSecretCommand(seconds: 60)
            let connection = try await slowConnection(controlPlane, name: "stopped")
            let run = try await controlPlane.runNow(connection.id)
            let agent = try AgentProcess(
                configPath: try setup.writeConfiguration(), logPath: setup.directory.path + "/agent.log")
            _ = try await controlPlane.waitFor(run.id) { $0.status == .running }
            try await Task.sleep(for: .milliseconds(500))
            let jobs = jobProcesses(parent: agent.pid)
            #expect(jobs.count == 1)
            agent.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            agent.signal(SIGTERM)
            let status = await agent.waitForExit(within: .seconds(20))
            #expect(status == 0, "\(agent.log)")
            let finished = try await controlPlane.finished(run.id)
            #expect(finished.status == .failed)
            #expect(finished.error?.contains("stopped") == true, "\(finished.error ?? "")")
            for pid in jobs { #expect(livingMembers(ofGroup: pid).isEmpty, "job \(pid) survived the agent") }
        }
    }

    @Test func aRunSurvivesTheControlPlaneGoingDownAndTheAgentRestartingMeanwhile() async throws {
        try await withControlPlane { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane)
            setup.yaml += "\n" + slowSecretCommand(seconds: 2)
            let configPath = try setup.writeConfiguration()
            let connection = try await slowConnection(controlPlane, name: "outage")
            let run = try await controlPlane.runNow(connection.id)
            let first = try AgentProcess(configPath: configPath, logPath: setup.directory.path + "/first.log")
            _ = try await controlPlane.waitFor(run.id) { $0.status == .running }
            await controlPlane.stop()
            // The job finishes extracting while the control plane is away; then the agent dies.
            try await Task.sleep(for: .seconds(4))
            first.signal(SIGKILL)
            _ = await first.waitForExit(within: .seconds(10))
            let second = try AgentProcess(configPath: configPath, logPath: setup.directory.path + "/second.log")
            try await Task.sleep(for: .seconds(1))
            try await controlPlane.start()
            let finished = try await controlPlane.finished(run.id, within: .seconds(60))
            #expect(finished.status == .succeeded, "\(finished.error ?? "") \(second.log)")
            #expect(finished.attempt == 1)
            let log = try await controlPlane.log(run.id)
            #expect(log.components(separatedBy: "job.extracted").count == 2, "\(log)")
            #expect(finished.logTotalBytes == finished.logBytes)
            #expect(second.log.contains("run.resumed"))
            second.signal(SIGTERM)
            _ = await second.waitForExit(within: .seconds(20))
        }
    }

    @Test func aJobWhoseLeaseCannotBeRenewedIsKilledBySelfFencing() async throws {
        try await withControlPlane({ $0.leaseTTLSeconds = 6 }) { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane)
            setup.yaml += "\n" + slowSecretCommand(seconds: 60)
            let connection = try await slowConnection(controlPlane, name: "fenced")
            let run = try await controlPlane.runNow(connection.id)
            let dataDirectory = setup.dataDirectory
            try await withAgent(setup) { _ in
                _ = try await controlPlane.waitFor(run.id) { $0.status == .running }
                #expect(jobProcesses(dataDirectory: dataDirectory).count == 1)
                await controlPlane.stop()
                // ttl 6 s − margin 2 s after the last renewal, then SIGTERM with 2 s grace.
                let deadline = ContinuousClock.now + .seconds(15)
                while !jobProcesses(dataDirectory: dataDirectory).isEmpty && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(jobProcesses(dataDirectory: dataDirectory).isEmpty, "the job outlived its lease")
                try await controlPlane.start()
            }
            let ledger = try String(contentsOfFile: setup.dataDirectory + "/audit.jsonl", encoding: .utf8)
            #expect(ledger.contains("fenced"), "\(ledger)")
        }
    }

    @Test func aKeyRotatedInItsStoreMidRunIsPickedUpWithoutFailure() async throws {
        try await withControlPlane { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane)
            setup.yaml += "\n" + slowSecretCommand(seconds: 3)
            let keySetup = setup
            let connection = try await slowConnection(controlPlane, name: "rotated")
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { runner in
                _ = try await controlPlane.waitFor(run.id) { $0.status == .running }
                let replacement = try await controlPlane.mintAgentKey()
                try keySetup.rotateKey(replacement.text)
                let old = try await controlPlane.store.keys(tenantId: controlPlane.tenant.id).first {
                    $0.name == "agent"
                }!
                _ = try await controlPlane.store.revokeKey(
                    tenantId: controlPlane.tenant.id, id: old.id, at: WallClock.system.now)
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")

                // Revoked with nothing better in the store: the agent stops claiming and says why.
                _ = try await controlPlane.store.revokeKey(
                    tenantId: controlPlane.tenant.id, id: replacement.key.id, at: WallClock.system.now)
                let next = try await controlPlane.runNow(connection.id)
                let deadline = ContinuousClock.now + .seconds(20)
                var readiness = await runner.readiness()
                while readiness.ready && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    readiness = await runner.readiness()
                }
                #expect(!readiness.ready)
                #expect(readiness.reason.contains("refuses the API key"), "\(readiness.reason)")
                try await Task.sleep(for: .seconds(1))
                #expect(try await controlPlane.run(next.id).status == .queued)
            }
        }
    }
}
