internal import Foundation
internal import Logging
internal import OutpostProtocol

/// Heartbeats every interval with ±10 % jitter: version, state, running leases, free slots, host load, spool
/// backlog and the last error. Acts on the answer: drain when asked, warn of an expiring key or an outdated
/// version.
struct Heartbeater: Sendable {
    let runner: AgentRunner
    private let host = HostStatistics()

    init(runner: AgentRunner) {
        self.runner = runner
    }

    private var context: AgentContext { runner.context }

    func run(until stop: Latch) async {
        var warnedVersion = false
        var warnedAudit = false
        while !stop.isSignalled {
            await beat(warnedVersion: &warnedVersion, warnedAudit: &warnedAudit)
            let interval = Backoff.milliseconds(context.configuration.heartbeatInterval)
            let jitter = Int64.random(in: -(interval / 10)...(interval / 10))
            await stop.sleep(for: .milliseconds(max(100, interval + jitter)))
        }
    }

    private func beat(warnedVersion: inout Bool, warnedAudit: inout Bool) async {
        var request = HeartbeatRequest(
            agentId: context.agentId, agentName: context.configuration.name, version: context.version,
            state: runner.state, runningLeases: [], freeSlots: runner.freeSlots)
        var leases: [HeartbeatRequest.RunningLease] = []
        for runId in runner.runningRunIds {
            if let state = try? context.spool.readState(RunState.self, runId: runId) {
                leases.append(.init(runId: runId, leaseId: state.assignment.leaseId))
            }
        }
        request.runningLeases = leases
        request.cpuPercent = host.cpuPercent()
        request.memoryBytes = host.memoryUsedBytes()
        request.diskFreeBytes = host.diskFreeBytes(path: context.configuration.dataDirectory)
        request.spoolBacklogBytes = context.spool.usedBytes()
        request.lastError = runner.lastError
        let head = context.audit.head
        request.auditHead = head
        context.metrics?.spoolSize(context.spool.usedBytes())
        do {
            let response = try await context.client.heartbeat(request)
            runner.heartbeatSucceeded()
            if let acknowledged = response.auditHead, acknowledged.sequence > head.sequence, !warnedAudit {
                // The control plane saw a longer ledger than this one: its newest entries were removed.
                warnedAudit = true
                context.logger.error(
                    "audit.ledger_shortened",
                    metadata: [
                        "audit.entries": "\(head.sequence)", "audit.acknowledged_entries": "\(acknowledged.sequence)",
                        "reason": "the control plane saw more entries than the ledger holds; run outpost audit verify",
                    ])
            }
            if response.drain {
                context.logger.notice("agent.drain_requested")
                runner.drain()
            }
            if let expiry = response.keyExpiresAt, let date = Timestamps.parse(expiry) {
                let remaining = date.timeIntervalSinceNow
                context.metrics?.apiKeyExpires(in: remaining)
                if remaining < 14 * 86_400 {
                    context.logger.warning(
                        "agent.api_key_expiring",
                        metadata: ["expires_at": "\(expiry)", "days_left": "\(Int(remaining / 86_400))"])
                }
            }
            if !warnedVersion, AgentVersion.isOlder(context.version, than: response.minimumAgentVersion) {
                warnedVersion = true
                context.logger.warning(
                    "agent.version_outdated",
                    metadata: [
                        "version": "\(context.version)", "minimum": "\(response.minimumAgentVersion)",
                        "refused_after": "\(response.versionDeadline ?? "now")",
                    ])
            }
        } catch {
            runner.recordError("\(error)")
            context.logger.notice("heartbeat.failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Dotted version comparison (`0.10.0` is newer than `0.9.3`).
enum AgentVersion {
    static func isOlder(_ version: String, than minimum: String) -> Bool {
        let left = version.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        let right = minimum.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            if a != b { return a < b }
        }
        return false
    }
}
