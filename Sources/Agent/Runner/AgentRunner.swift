internal import Foundation
internal import Logging
internal import OutpostProtocol

/// The agent's main loop: resumes spooled runs, claims work while it has free slots, runs each claimed run
/// under a `JobSupervisor`, heartbeats, and drains on request.
///
/// `drain()` (first SIGTERM, or the control plane asking) stops claiming and lets running jobs finish for up to
/// the drain timeout, renewing, heartbeating and shipping logs meanwhile; then it stops them. `stopNow()` (second
/// SIGTERM) stops them at once. `run()` returns when nothing is left running.
public final class AgentRunner: Sendable {
    let context: AgentContext
    let keys: APIKeyProvider
    private let jobs = MutexBox<[String: JobControl]>([:])
    private let draining = Latch()
    private let stopping = Latch()
    private let slotFreed = MutexBox<CheckedContinuation<Void, Never>?>(nil)
    private let health = MutexBox<(lastHeartbeat: ContinuousClock.Instant?, lastError: String?)>((nil, nil))

    init(context: AgentContext, keys: APIKeyProvider) {
        self.context = context
        self.keys = keys
    }

    public var agentId: String { context.agentId }

    /// Ready when the API key is usable and a heartbeat succeeded within two intervals.
    public func readiness() async -> (ready: Bool, reason: String) {
        if let problem = await keys.problem { return (false, problem.message) }
        let interval = context.configuration.heartbeatInterval
        guard let last = health.value.lastHeartbeat else { return (false, "no heartbeat has succeeded yet") }
        guard ContinuousClock.now - last <= interval * 2 else {
            return (false, "no heartbeat succeeded in the last \(interval * 2)")
        }
        return (true, "ok")
    }

    /// Runs until drained (or stopped) and every job has ended, then closes the agent's connections; call once.
    public func run() async {
        let logger = context.logger
        logger.info(
            "agent.started",
            metadata: [
                "agent.id": "\(context.agentId)", "agent.name": "\(context.configuration.name)",
                "control_plane": "\(context.client.baseURL)", "concurrency": "\(context.configuration.concurrency)",
            ])
        await withTaskGroup(of: Void.self) { group in
            let heartbeats = Latch()
            group.addTask {
                await Heartbeater(runner: self).run(until: heartbeats)
            }
            resumeSpooledRuns(in: &group)
            await claimLoop(group: &group)
            await waitForJobs()
            heartbeats.signal()
            await group.waitForAll()
        }
        await context.network.shutdown()
        await context.argo?.shutdown()
        logger.info("agent.stopped", metadata: ["agent.id": "\(context.agentId)"])
    }

    /// Stops claiming; running jobs finish (up to the drain timeout).
    public func drain() {
        if !draining.isSignalled { context.logger.notice("agent.draining") }
        draining.signal()
    }

    /// Stops every running job now (they complete as failed with the reason) and drains.
    public func stopNow(reason: String = "the agent was stopped before the job finished") {
        drain()
        stopping.signal()
        for control in jobs.value.values { control.interrupt(.agentStopping(reason)) }
    }

    var state: HeartbeatRequest.State {
        if draining.isSignalled { return .draining }
        return jobs.value.isEmpty ? .idle : .busy
    }

    var freeSlots: Int {
        draining.isSignalled ? 0 : max(0, context.configuration.concurrency - jobs.value.count)
    }

    /// The runs whose jobs are running now.
    public var runningRunIds: [String] { Array(jobs.value.keys).sorted() }

    func heartbeatSucceeded() {
        health.withLock { $0.lastHeartbeat = .now }
    }

    func recordError(_ message: String?) {
        health.withLock { $0.lastError = message }
    }

    var lastError: String? { health.value.lastError }

    // MARK: Claiming

    private func resumeSpooledRuns(in group: inout TaskGroup<Void>) {
        let runIds: [String]
        do {
            runIds = try context.spool.runIds()
        } catch {
            context.logger.error("spool.unreadable", metadata: ["error": "\(error)"])
            return
        }
        for runId in runIds {
            let state: RunState?
            do {
                state = try context.spool.readState(RunState.self, runId: runId)
            } catch {
                context.logger.error("spool.run_unreadable", metadata: ["run.id": "\(runId)", "error": "\(error)"])
                try? context.spool.removeRun(runId: runId)
                continue
            }
            guard let state else { continue }
            let control = JobControl()
            jobs.withLock { $0[runId] = control }
            group.addTask {
                await JobSupervisor(context: self.context, clock: ContinuousClock()).resume(state, control: control)
                self.jobEnded(runId)
            }
        }
    }

    private func claimLoop(group: inout TaskGroup<Void>) async {
        var backoff = Backoff()
        while !draining.isSignalled {
            if freeSlots == 0 {
                await waitForFreeSlot()
                continue
            }
            let request = ClaimRequest(
                agentId: context.agentId, agentName: context.configuration.name, version: context.version,
                freeSlots: freeSlots, pools: context.configuration.pools,
                waitSeconds: AgentProtocol.maximumClaimWaitSeconds)
            let started = ContinuousClock.now
            do {
                let client = context.client
                guard let outcome = try await draining.race({ try await client.claim(request) }) else { break }
                backoff.reset()
                recordError(nil)
                guard let assignment = outcome else { continue }
                context.metrics?.claimCompleted(after: ContinuousClock.now - started)
                let control = JobControl()
                jobs.withLock { $0[assignment.runId] = control }
                context.logger.info(
                    "run.claimed", metadata: ["run.id": "\(assignment.runId)", "lease.id": "\(assignment.leaseId)"])
                group.addTask {
                    await JobSupervisor(context: self.context, clock: ContinuousClock()).runClaimed(
                        assignment, control: control)
                    self.jobEnded(assignment.runId)
                }
            } catch let error as AgentError where error.code == .apiKeyUnavailable || error.code == .unauthorized {
                recordError(error.message)
                context.logger.error("agent.not_claiming", metadata: ["reason": "\(error.message)"])
                await draining.sleep(for: context.configuration.controlPlane.keyRetryInterval)
            } catch let error as AgentError {
                recordError(error.message)
                let wait = backoff.next(retryAfter: error.retryAfter)
                if error.isRetryable {
                    context.logger.notice("claim.retry", metadata: ["error": "\(error)", "wait": "\(wait)"])
                } else {
                    context.logger.error("claim.refused", metadata: ["error": "\(error)", "wait": "\(wait)"])
                }
                await draining.sleep(for: wait)
            } catch {
                await draining.sleep(for: backoff.next())
            }
        }
    }

    private func waitForFreeSlot() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.slotFreed.withLock { slot -> Bool in
                        if self.freeSlots > 0 { return true }
                        slot?.resume()
                        slot = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { await self.draining.wait() }
            await group.next()
            // A freed slot must end the wait for draining too (cancelled, it returns at once); draining ends the
            // wait for a slot by resuming it here.
            group.cancelAll()
            if draining.isSignalled {
                slotFreed.withLock {
                    $0?.resume(); $0 = nil
                }
            }
            await group.waitForAll()
        }
    }

    private func jobEnded(_ runId: String) {
        jobs.withLock { _ = $0.removeValue(forKey: runId) }
        slotFreed.withLock { slot in
            slot?.resume()
            slot = nil
        }
    }

    /// After draining started: waits for running jobs, stopping them when the drain timeout passes.
    private func waitForJobs() async {
        let deadline = ContinuousClock.now + context.configuration.drainTimeout
        var stopped = false
        while !jobs.value.isEmpty {
            if !stopped && (stopping.isSignalled || ContinuousClock.now >= deadline) {
                stopped = true
                let reason =
                    stopping.isSignalled
                    ? "the agent was stopped before the job finished"
                    : "the agent's drain timeout passed before the job finished"
                context.logger.notice("agent.stopping_jobs", metadata: ["jobs": "\(jobs.value.count)"])
                for control in jobs.value.values { control.interrupt(.agentStopping(reason)) }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
