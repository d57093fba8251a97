internal import Foundation
internal import Logging
internal import Metadata
internal import OutpostProtocol
internal import Secrets

/// Carries one run from `start` to `complete`: spawns the job process, keeps the lease, ships the log, delivers
/// the files and reports the outcome — recording every step in the spool so a restarted agent resumes it.
///
/// A run is completed exactly once or not at all. While the job process runs, a lease not renewed in time stops
/// the job and drops the run (the control plane may hand it out again). Once the extraction finished, its files
/// and log stay in the spool through a control-plane outage: the supervisor waits for a renewal to confirm the
/// lease, then delivers and completes; only a 409 (the run was leased again meanwhile) drops them.
struct JobSupervisor: Sendable {
    let context: AgentContext

    private var logger: Logger { context.logger }

    /// Starts a freshly claimed run (two-phase start) and supervises it.
    func runClaimed(_ assignment: RunAssignment, control: JobControl) async {
        let started: LeaseResponse
        var backoff = Backoff()
        let deadline = ContinuousClock.now + .seconds(max(1, assignment.leaseTTLSeconds))
        while true {
            do {
                started = try await context.client.start(
                    runId: assignment.runId, StartRequest(leaseId: assignment.leaseId, agentId: context.agentId))
                break
            } catch let error as AgentError where error.isRetryable && ContinuousClock.now < deadline {
                logger.notice("run.start_retry", metadata: ["run.id": "\(assignment.runId)", "error": "\(error)"])
                try? await Task.sleep(for: backoff.next(retryAfter: error.retryAfter))
            } catch {
                logger.warning("run.start_refused", metadata: ["run.id": "\(assignment.runId)", "error": "\(error)"])
                return
            }
        }
        var accepted = assignment
        accepted.leaseTTLSeconds = started.leaseTTLSeconds
        let state = RunState(assignment: accepted, startedAt: Self.now())
        do {
            try context.spool.writeState(state, runId: accepted.runId)
        } catch {
            logger.error("run.spool_failed", metadata: ["run.id": "\(accepted.runId)", "error": "\(error)"])
            await completeWithoutSpool(accepted, error: "the agent cannot write its spool: \(error)")
            return
        }
        logger.info(
            "run.started",
            metadata: [
                "run.id": "\(accepted.runId)", "lease.id": "\(accepted.leaseId)",
                "connection.name": "\(accepted.job.connectionName)",
            ])
        if started.cancel { control.interrupt(.cancelled(started.cancelReason)) }
        await supervise(RunTracker(spool: context.spool, state: state), control: control, confirmed: .now)
    }

    /// Resumes a run found in the spool after a restart: re-confirms the lease, then goes on from its phase.
    func resume(_ state: RunState, control: JobControl) async {
        let runId = state.assignment.runId
        // A control plane that was down grants running leases one ttl when it starts: come back well within it.
        var backoff = Backoff(cap: max(.seconds(1), .seconds(state.assignment.leaseTTLSeconds) / 8))
        let confirmed: ContinuousClock.Instant
        while true {
            let sent = ContinuousClock.now
            do {
                let response = try await context.client.renew(runId: runId, leaseId: state.assignment.leaseId)
                if response.cancel { control.interrupt(.cancelled(response.cancelReason)) }
                confirmed = sent
                break
            } catch let error as AgentError where error.isRetryable || error.code == .apiKeyUnavailable {
                if control.interruption != nil { return }
                try? await Task.sleep(for: backoff.next(retryAfter: error.retryAfter))
            } catch {
                logger.notice("run.resume_dropped", metadata: ["run.id": "\(runId)", "reason": "\(error)"])
                await abandon(RunTracker(spool: context.spool, state: state), reason: "\(error)")
                return
            }
        }
        logger.info("run.resumed", metadata: ["run.id": "\(runId)", "run.phase": "\(state.phase.rawValue)"])
        await supervise(RunTracker(spool: context.spool, state: state), control: control, confirmed: confirmed)
    }

    private func supervise(_ tracker: RunTracker, control: JobControl, confirmed: ContinuousClock.Instant) async {
        let assignment = await tracker.state.assignment
        let runId = assignment.runId
        var scoped = logger
        scoped[metadataKey: "run.id"] = "\(runId)"
        scoped[metadataKey: "lease.id"] = "\(assignment.leaseId)"
        let runLogger = scoped
        let shipper = LogShipper(client: context.client, tracker: tracker, metrics: context.metrics, logger: runLogger)
        let standing = LeaseStanding()
        let keeper = LeaseKeeper(
            ttl: .seconds(assignment.leaseTTLSeconds), margin: context.configuration.fenceMargin,
            clock: ContinuousClock()
        ) {
            do {
                let response = try await context.client.renew(runId: runId, leaseId: assignment.leaseId)
                context.metrics?.leaseRenewed(response.cancel ? .cancelled : .ok)
                return response
            } catch let error as AgentError where error.code == .staleLease {
                context.metrics?.leaseRenewed(.stale)
                throw error
            } catch {
                context.metrics?.leaseRenewed(.error)
                throw error
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let (events, continuation) = AsyncStream.makeStream(of: LeaseKeeper<ContinuousClock>.Event.self)
                await withTaskGroup(of: Void.self) { inner in
                    inner.addTask { await keeper.run(confirmedAt: confirmed, events: continuation) }
                    inner.addTask {
                        for await event in events {
                            switch event {
                            case .cancelRequested(let reason):
                                runLogger.notice("run.cancel_requested", metadata: ["reason": "\(reason ?? "")"])
                                control.interrupt(.cancelled(reason))
                            case .lost(let reason):
                                let extracting = await tracker.state.phase == .extracting
                                control.interrupt(.leaseLost(extracting ? reason : Self.droppedReason(reason)))
                            case .fenced:
                                if await tracker.state.phase == .extracting {
                                    control.interrupt(
                                        .leaseLost("the lease could not be renewed in time; the job fenced itself"))
                                } else {
                                    // The work is done and safe in the spool: keep it for when the server is back.
                                    standing.lapse()
                                    runLogger.notice("run.lease_lapsed", metadata: ["reason": "\(Self.lapseReason)"])
                                }
                            case .reconfirmed:
                                standing.confirm()
                                runLogger.notice("run.lease_reconfirmed")
                            }
                        }
                    }
                    await inner.next()
                    continuation.finish()
                    await inner.waitForAll()
                }
            }
            group.addTask { await shipper.run(interval: .milliseconds(500)) }
            await drive(tracker, control: control, standing: standing, shipper: shipper, logger: runLogger)
            group.cancelAll()
        }
    }

    /// The phases, in order, from wherever the run's state says it stands.
    private func drive(
        _ tracker: RunTracker, control: JobControl, standing: LeaseStanding, shipper: LogShipper, logger: Logger
    ) async {
        do {
            if await tracker.state.phase == .extracting {
                try await extract(tracker, control: control, logger: logger)
            }
            if await tracker.state.phase == .delivering {
                try await deliver(tracker, control: control, standing: standing, logger: logger)
            }
            if case .leaseLost(let reason) = control.interruption {
                await abandon(tracker, reason: reason)
                return
            }
            try await complete(tracker, control: control, standing: standing, shipper: shipper, logger: logger)
        } catch let deferral as Deferral {
            // Nothing is lost: the spool keeps the run and the agent's next start resumes it.
            logger.notice("run.left_in_spool", metadata: ["reason": "\(deferral.reason)"])
        } catch {
            if case .leaseLost(let reason) = control.interruption {
                await abandon(tracker, reason: reason)
            } else {
                logger.error("run.supervision_failed", metadata: ["error": "\(error)"])
                await abandon(tracker, reason: "\(error)")
            }
        }
    }

    // MARK: Extraction

    private func extract(_ tracker: RunTracker, control: JobControl, logger: Logger) async throws {
        let assignment = await tracker.state.assignment
        let runId = assignment.runId
        let folder = try context.spool.filesDirectory(runId: runId)
        // A resumed extraction starts over: whatever an earlier attempt left is not a complete extraction.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
        let workDirectory = try makeWorkDirectory(runId: runId)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let envelope = makeEnvelope(assignment, folder: folder)
        let process: any RunningJob
        do {
            let executor: any JobExecutor
            if let argo = context.argo {
                executor = argo
            } else {
                let (executable, arguments) = command(folder: folder, workDirectory: workDirectory)
                executor = LocalJobExecutor(executable: executable, arguments: arguments, limits: context.limits)
            }
            process = try await executor.start(
                envelope: envelope, environment: jobEnvironment(workDirectory), workDirectory: workDirectory)
        } catch {
            try await tracker.update {
                $0.phase = .completing
                $0.status = .failed
                $0.error = "the job process could not be started: \(error)"
            }
            return
        }
        logger.info("job.process_started", metadata: ["job.started_as": "\(process.label)"])
        let pump = OutputPump(tracker: tracker, redactor: context.redactor, metrics: context.metrics, logger: logger)
        let timeout = assignment.limits.maxDurationSeconds
        let interruption: JobControl.Interruption? = await withTaskGroup(of: JobControl.Interruption?.self) { group in
            group.addTask {
                await pump.drain(process.output())
                _ = await process.wait()
                return nil
            }
            group.addTask {
                await control.interrupted()
                return control.interruption
            }
            if timeout > 0 {
                group.addTask {
                    do {
                        try await Task.sleep(for: .seconds(timeout))
                    } catch {
                        return nil
                    }
                    return .timedOut(timeout)
                }
            }
            group.addTask { await watchSpool() }
            let first = await group.next() ?? nil
            if let first {
                logger.notice("job.stopping", metadata: ["reason": "\(first)"])
                switch first {
                case .timedOut, .spoolFull: control.interrupt(first)
                default: break
                }
                await process.stop(grace: context.configuration.jobs.killGrace)
            }
            group.cancelAll()
            return first
        }
        let termination = await process.wait()
        logger.info("job.process_ended", metadata: ["job.termination": "\(termination)"])
        try await pump.finish()
        await process.release()
        if case .leaseLost = interruption ?? control.interruption { return }
        try await tracker.update { state in
            switch interruption {
            case .cancelled(let reason):
                state.status = .cancelled
                state.error = reason ?? "cancelled from the control plane"
            case .agentStopping(let reason):
                state.status = .failed
                state.error = reason
            case .timedOut, .spoolFull:
                state.status = .failed
                state.error = interruption?.message
            case .leaseLost, nil:
                break
            }
            if interruption == nil {
                let result = try? readResult(folder: folder)
                state.source = result?.source
                state.policy = result?.policy
                switch (result?.outcome, termination) {
                case (.succeeded, .exited(JobMain.exitSucceeded)):
                    state.status = .succeeded
                case (.partial, .exited(JobMain.exitPartial)):
                    state.status = .partial
                case (.denied, _):
                    state.status = .failed
                    state.denied = true
                    state.error = result?.error ?? "the agent's local policy refused the source"
                case (.failed, _):
                    state.status = .failed
                    state.error = result?.error ?? "the job failed"
                default:
                    state.status = .failed
                    state.error = "the job process ended abnormally (\(termination)) without a result"
                }
            }
            // The job wrote its files itself: count them, and refuse to deliver what broke the cap since the last look.
            if let used = try? context.spool.recount(), used > context.spool.capBytes,
                state.status == .succeeded || state.status == .partial
            {
                state.status = .failed
                state.error = JobControl.Interruption.spoolFull(used: used, cap: context.spool.capBytes).message
            }
            state.phase = state.status == .succeeded || state.status == .partial ? .delivering : .completing
        }
        if await tracker.state.denied == true { context.metrics?.egressDenied() }
    }

    /// Looks at the spool's size every second while the job writes into it, and answers once the job has pushed
    /// it past its cap, so that a large extraction is stopped early rather than filling the disk; nil when
    /// cancelled (the job ended first).
    private func watchSpool() async -> JobControl.Interruption? {
        while true {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return nil
            }
            if let used = try? context.spool.recount(), used > context.spool.capBytes {
                return .spoolFull(used: used, cap: context.spool.capBytes)
            }
        }
    }

    private func readResult(folder: String) throws -> JobResult {
        let bytes = try SealedFile.readAll(
            path: folder + "/" + JobResult.fileName, key: context.spoolKey, limit: 1024 * 1024)
        return try JSONDecoder().decode(JobResult.self, from: Data(bytes))
    }

    private func makeEnvelope(_ assignment: RunAssignment, folder: String) -> JobEnvelope {
        let configuration = context.configuration
        return JobEnvelope(
            runId: assignment.runId, attempt: assignment.attempt, job: assignment.job, outputDirectory: folder,
            sealingKey: Data(context.spoolKey).base64EncodedString(),
            allowedSources: configuration.policy.allowedSources,
            allowedHosts: configuration.policy.allowedHosts, excludeFields: configuration.policy.excludeFields,
            secretCommands: configuration.secretStores.commands.mapValues {
                .init(path: $0.path, arguments: $0.arguments, timeoutMilliseconds: Backoff.milliseconds($0.timeout))
            },
            maxDurationSeconds: assignment.limits.maxDurationSeconds,
            proxy: context.network.proxy == nil ? nil : context.network.settings)
    }

    /// `outpost run-job`, inside bubblewrap when configured and installed: the whole file system read-only, the
    /// agent's data dir hidden but for this run's spool folder and work dir, the API key file masked.
    private func command(folder: String, workDirectory: String) -> (String, [String]) {
        let bubblewrap = "/usr/bin/bwrap"
        guard context.configuration.jobs.bubblewrap, FileManager.default.isExecutableFile(atPath: bubblewrap) else {
            return (context.jobExecutable, ["run-job"])
        }
        var arguments = [
            "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--ro-bind", "/", "/", "--dev", "/dev",
            "--proc", "/proc", "--tmpfs", context.configuration.dataDirectory, "--bind", folder, folder, "--bind",
            workDirectory, workDirectory,
        ]
        let key = context.configuration.controlPlane.apiKey
        if key.store == .file, FileManager.default.fileExists(atPath: key.locator) {
            arguments += ["--ro-bind", "/dev/null", key.locator]
        }
        return (bubblewrap, arguments + ["--", context.jobExecutable, "run-job"])
    }

    /// The job's environment: only allow-listed names, never the API key's variable, a private temp dir.
    private func jobEnvironment(_ workDirectory: String) -> [String: String] {
        var allowed = Set(["PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"])
        allowed.formUnion(
            [
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_STS",
            ])
        allowed.formUnion(context.configuration.jobs.passEnvironment)
        if context.configuration.controlPlane.apiKey.store == .env {
            allowed.remove(context.configuration.controlPlane.apiKey.locator)
        }
        var environment = context.environment.filter { allowed.contains($0.key) }
        environment["HOME"] = workDirectory
        environment["TMPDIR"] = workDirectory
        return environment
    }

    private func makeWorkDirectory(runId: String) throws -> String {
        let path = context.configuration.dataDirectory + "/work/" + runId
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    // MARK: Delivery

    private func deliver(
        _ tracker: RunTracker, control: JobControl, standing: LeaseStanding, logger: Logger
    ) async throws {
        let assignment = await tracker.state.assignment
        let folder = try context.spool.filesDirectory(runId: assignment.runId)
        var backoff = Backoff()
        while true {
            if let interruption = control.interruption {
                if case .leaseLost = interruption { return }
                if case .agentStopping = interruption, !standing.isConfirmed {
                    throw Deferral(reason: "the agent is stopping while the control plane cannot confirm the lease")
                }
                try await tracker.update {
                    $0.phase = .completing
                    $0.status = interruption.status
                    $0.error = interruption.message
                }
                return
            }
            if !standing.isConfirmed {
                // Nothing leaves the spool on a lease that may have gone to the run's next attempt.
                await standing.confirmed(unless: control)
                continue
            }
            do {
                let relay = try await context.delivery(
                    for: assignment, tracker: tracker, folder: folder, logger: logger)
                try await tracker.update {
                    $0.relay = relay
                    $0.phase = .completing
                }
                logger.info("run.delivered", metadata: ["delivery.mode": "\(assignment.job.delivery.mode.rawValue)"])
                return
            } catch let error as AgentError where error.isRetryable || error.code == .apiKeyUnavailable {
                logger.notice("delivery.retry", metadata: ["error": "\(error)"])
                await pause(backoff.next(retryAfter: error.retryAfter), control: control, standing: standing)
            } catch let error as AgentError where error.code == .staleLease {
                control.interrupt(.leaseLost(Self.droppedReason(error.message)))
                return
            } catch let error as AgentError where error.code == .policyDenied {
                logger.error("delivery.egress_denied", metadata: ["error": "\(error)"])
                context.metrics?.egressDenied()
                try await tracker.update {
                    $0.phase = .completing
                    $0.status = .failed
                    $0.denied = true
                    $0.error = error.message
                }
                return
            } catch {
                logger.error("delivery.failed", metadata: ["error": "\(error)"])
                try await tracker.update {
                    $0.phase = .completing
                    $0.status = .failed
                    $0.error = "delivery failed: \(error)"
                }
                return
            }
        }
    }

    // MARK: Completion

    private func complete(
        _ tracker: RunTracker, control: JobControl, standing: LeaseStanding, shipper: LogShipper, logger: Logger
    ) async throws {
        let runId = await tracker.runId
        var backoff = Backoff()
        while true {
            if case .leaseLost(let reason) = control.interruption {
                await abandon(tracker, reason: reason)
                return
            }
            do {
                try await shipper.shipAvailable()
                let state = await tracker.state
                let logs = CompleteRequest.LogTotals(
                    bytes: try context.spool.logEnd(runId: runId), sha256: try context.spool.logSHA256(runId: runId),
                    droppedBytes: state.logDropped)
                let request = CompleteRequest(
                    leaseId: state.assignment.leaseId, status: state.status ?? .failed,
                    error: state.status == .failed || state.status == .cancelled ? state.error : nil,
                    relay: state.relay, logs: logs)
                _ = try await context.client.complete(runId: runId, request)
                logger.info("run.completed", metadata: ["run.status": "\(request.status.rawValue)"])
                finish(tracker: tracker, state: state, outcome: Self.outcome(request.status))
                return
            } catch let error as AgentError where error.isRetryable || error.code == .apiKeyUnavailable {
                if case .agentStopping = control.interruption {
                    throw Deferral(reason: "the agent is stopping and the control plane cannot be reached: \(error)")
                }
                logger.notice("run.complete_retry", metadata: ["error": "\(error)"])
                await pause(backoff.next(retryAfter: error.retryAfter), control: control, standing: standing)
                try Task.checkCancellation()
            } catch let error as AgentError where error.code == .staleLease {
                await abandon(tracker, reason: Self.droppedReason(error.message))
                return
            }
        }
    }

    private func completeWithoutSpool(_ assignment: RunAssignment, error: String) async {
        let request = CompleteRequest(
            leaseId: assignment.leaseId, status: .failed, error: error,
            logs: .init(bytes: 0, sha256: Self.emptySHA256, droppedBytes: 0))
        _ = try? await context.client.complete(runId: assignment.runId, request)
    }

    private func finish(tracker: RunTracker, state: RunState, outcome: AuditEntry.Outcome) {
        let runId = state.assignment.runId
        context.record(state: state, outcome: outcome, error: state.error)
        context.metrics?.jobFinished(Self.metricOutcome(outcome), duration: Self.elapsed(since: state.startedAt))
        do {
            try context.spool.removeRun(runId: runId)
        } catch {
            logger.warning("run.spool_cleanup_failed", metadata: ["run.id": "\(runId)", "error": "\(error)"])
        }
    }

    /// Drops a run whose lease is gone: no `complete`, the spool forgets it, the ledger says why.
    private func abandon(_ tracker: RunTracker, reason: String) async {
        let state = await tracker.state
        logger.warning("run.abandoned", metadata: ["run.id": "\(state.assignment.runId)", "reason": "\(reason)"])
        context.record(state: state, outcome: .failed, error: "run dropped without completing: \(reason)")
        context.metrics?.jobFinished(.lost, duration: Self.elapsed(since: state.startedAt))
        try? context.spool.removeRun(runId: state.assignment.runId)
    }

    /// Waits `duration` before the next attempt, less when the run is interrupted (for the first time: a run
    /// already interrupted must not retry in a tight loop) or when its lapsed lease is confirmed again (the control
    /// plane is back: no reason to sit out the rest of a long backoff).
    private func pause(_ duration: Duration, control: JobControl, standing: LeaseStanding) async {
        let confirmation = standing.nextConfirmation
        let interruptible = control.interruption == nil
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            if interruptible { group.addTask { await control.interrupted() } }
            if let confirmation { group.addTask { await confirmation.wait() } }
            await group.next()
            group.cancelAll()
        }
    }

    /// A run left in the spool unfinished, to be resumed at the agent's next start.
    private struct Deferral: Error {
        var reason: String
    }

    static let lapseReason =
        "the lease could not be renewed in time; the finished extraction stays in the spool until the control plane "
        + "confirms the lease"

    /// Why a run whose extraction had finished is dropped after all: the control plane gave it to another attempt.
    static func droppedReason(_ message: String) -> String {
        "the control plane no longer holds this run's lease for this agent (it was leased again while the agent could "
            + "not renew it): \(message); the delivery kept in the spool is dropped"
    }

    static func metricOutcome(_ outcome: AuditEntry.Outcome) -> AgentMetrics.JobOutcome {
        AgentMetrics.JobOutcome(rawValue: outcome.rawValue) ?? .failed
    }

    static func elapsed(since startedAt: String) -> Duration {
        guard let started = Timestamps.parse(startedAt) else { return .zero }
        return .milliseconds(Int64(max(0, -started.timeIntervalSinceNow) * 1000))
    }

    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func outcome(_ status: CompleteRequest.Status) -> AuditEntry.Outcome {
        switch status {
        case .succeeded: .succeeded
        case .partial: .partial
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }

    static func now() -> String { Timestamps.now() }
}

extension JobControl.Interruption {
    /// The status a run interrupted this way completes with.
    var status: CompleteRequest.Status {
        if case .cancelled = self { return .cancelled }
        return .failed
    }

    var message: String {
        switch self {
        case .cancelled(let reason): reason ?? "cancelled from the control plane"
        case .leaseLost(let reason): reason
        case .agentStopping(let reason): reason
        case .timedOut(let seconds): "the job exceeded its maximum duration of \(seconds) s and was stopped"
        case .spoolFull(let used, let cap):
            "the extraction does not fit in the spool (\(used) bytes used, cap \(cap)) and was stopped: raise spool.cap"
        }
    }
}
