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
///
/// What the run does next is decided by its `RunMachine`; the supervisor only performs it — calls, the job process,
/// spool writes, waits on its clock — and hands back what came of it. Time is `clock`'s (a `ContinuousClock` in
/// the agent), so the supervisor's waits follow the lease keeper's.
struct JobSupervisor<C: Clock<Duration>>: Sendable {
    let context: AgentContext
    let clock: C

    /// A supervisor for one run, waiting on `clock`.
    init(context: AgentContext, clock: C) {
        self.context = context
        self.clock = clock
    }

    private var logger: Logger { context.logger }

    /// Starts a freshly claimed run (two-phase start) and supervises it.
    func runClaimed(_ assignment: RunAssignment, control: JobControl) async {
        await drive(
            RunMachine(claimedWithTTL: assignment.leaseTTLSeconds),
            Run(assignment: assignment, control: control, began: clock.now, logger: logger))
    }

    /// Resumes a run found in the spool after a restart: re-confirms the lease, then goes on from its phase.
    func resume(_ state: RunState, control: JobControl) async {
        var run = Run(assignment: state.assignment, control: control, began: clock.now, logger: logger)
        run.tracker = RunTracker(spool: context.spool, state: state)
        await drive(RunMachine(resuming: state.phase, leaseTTLSeconds: state.assignment.leaseTTLSeconds), run)
    }

    /// What the supervisor holds of one run while it performs the machine's steps.
    private struct Run {
        var assignment: RunAssignment
        let control: JobControl
        /// When the run was claimed or resumed: the start handshake's deadline counts from here.
        let began: C.Instant
        var logger: Logger
        /// Set once the run is in the spool.
        var tracker: RunTracker?
        /// When the last renewal that succeeded was sent; nil: the lease was confirmed when supervision starts.
        var confirmedAt: C.Instant?
        /// Set while the lease is kept and the log shipped.
        var supervision: Supervision?

        init(assignment: RunAssignment, control: JobControl, began: C.Instant, logger: Logger) {
            self.assignment = assignment
            self.control = control
            self.began = began
            var scoped = logger
            scoped[metadataKey: "run.id"] = "\(assignment.runId)"
            scoped[metadataKey: "lease.id"] = "\(assignment.leaseId)"
            self.logger = scoped
        }
    }

    private struct Supervision {
        let tracker: RunTracker
        let standing: LeaseStanding
        let shipper: LogShipper
    }

    /// Performs the machine's steps until a terminal one; from `.supervise` on, with the lease kept and the log
    /// shipped on their own tasks.
    private func drive(_ machine: RunMachine, _ run: Run) async {
        var machine = machine
        var run = run
        var step = machine.first
        while step.operation != .supervise {
            guard let event = await perform(step, &run) else { return }
            step = machine.handle(event, sight(run))
        }
        for effect in step.effects { apply(effect, run) }
        guard let tracker = run.tracker else { return }
        await supervise(&machine, &run, tracker: tracker)
    }

    private func supervise(_ machine: inout RunMachine, _ run: inout Run, tracker: RunTracker) async {
        let assignment = run.assignment
        let runId = assignment.runId
        let runLogger = run.logger
        let control = run.control
        let context = self.context
        let shipper = LogShipper(client: context.client, tracker: tracker, metrics: context.metrics, logger: runLogger)
        let standing = LeaseStanding()
        let keeper = LeaseKeeper(
            ttl: .seconds(assignment.leaseTTLSeconds), margin: context.configuration.fenceMargin, clock: clock
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
        let confirmed = run.confirmedAt ?? clock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let (events, continuation) = AsyncStream.makeStream(of: LeaseKeeper<C>.Event.self)
                await withTaskGroup(of: Void.self) { inner in
                    inner.addTask { await keeper.run(confirmedAt: confirmed, events: continuation) }
                    inner.addTask {
                        for await event in events {
                            let phase = await tracker.state.phase
                            switch RunMachine.reaction(to: event, in: phase) {
                            case .interrupt(let interruption):
                                if case .cancelRequested(let reason) = event {
                                    runLogger.notice("run.cancel_requested", metadata: ["reason": "\(reason ?? "")"])
                                }
                                control.interrupt(interruption)
                            case .lapse:
                                // The work is done and safe in the spool: keep it for when the server is back.
                                standing.lapse()
                                runLogger.notice("run.lease_lapsed", metadata: ["reason": "\(RunMachine.lapseReason)"])
                            case .confirm:
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
            run.supervision = Supervision(tracker: tracker, standing: standing, shipper: shipper)
            var step = machine.handle(.done, sight(run))
            while let event = await perform(step, &run) {
                step = machine.handle(event, sight(run))
            }
            group.cancelAll()
        }
    }

    private func sight(_ run: Run) -> RunMachine.Sight {
        RunMachine.Sight(
            interruption: run.control.interruption, leaseConfirmed: run.supervision?.standing.isConfirmed ?? true,
            elapsed: run.began.duration(to: clock.now), cancelled: Task.isCancelled)
    }

    // MARK: Steps

    /// Performs one step; returns what came of its operation, nil after a terminal one.
    private func perform(_ step: RunMachine.Step, _ run: inout Run) async -> RunMachine.Event? {
        for effect in step.effects { apply(effect, run) }
        let assignment = run.assignment
        switch step.operation {
        case .start:
            do {
                return .started(
                    try await context.client.start(
                        runId: assignment.runId, StartRequest(leaseId: assignment.leaseId, agentId: context.agentId)))
            } catch {
                return .failed(error)
            }
        case .renew:
            let sent = clock.now
            do {
                let response = try await context.client.renew(runId: assignment.runId, leaseId: assignment.leaseId)
                run.confirmedAt = sent
                let phase = await run.tracker?.state.phase
                run.logger.info("run.resumed", metadata: ["run.phase": "\(phase?.rawValue ?? "")"])
                return .renewed(response)
            } catch {
                return .failed(error)
            }
        case .sleep(let duration):
            try? await clock.sleep(for: duration)
            return .done
        case .open(let leaseTTLSeconds):
            run.assignment.leaseTTLSeconds = leaseTTLSeconds
            let state = RunState(assignment: run.assignment, startedAt: Timestamps.now())
            do {
                try context.spool.writeState(state, runId: assignment.runId)
            } catch {
                return .failed(error)
            }
            run.tracker = RunTracker(spool: context.spool, state: state)
            run.logger.info("run.started", metadata: ["connection.name": "\(assignment.job.connectionName)"])
            return .done
        case .supervise:
            preconditionFailure("a run is supervised once, from drive(_:_:)")
        case .failWithoutSpool(let message):
            await completeWithoutSpool(assignment, error: message)
            return nil
        case .end:
            return nil
        case .leave(let reason):
            // Nothing is lost: the spool keeps the run and the agent's next start resumes it.
            run.logger.notice("run.left_in_spool", metadata: ["reason": "\(reason)"])
            return nil
        case .abandon(let reason):
            if let tracker = run.tracker { await abandon(tracker, reason: reason) }
            return nil
        case .launch, .update, .awaitConfirmation, .deliver, .pause, .complete, .finish:
            guard let supervision = run.supervision else { preconditionFailure("\(step.operation) before supervision") }
            return await perform(step.operation, run, supervision)
        }
    }

    /// The operations on a run whose lease is kept and whose log is shipped.
    private func perform(
        _ operation: RunMachine.Operation, _ run: Run, _ supervision: Supervision
    ) async -> RunMachine.Event? {
        let control = run.control
        let tracker = supervision.tracker
        switch operation {
        case .launch:
            do {
                return try await extract(tracker, control: control, logger: run.logger)
            } catch {
                return .failed(error)
            }
        case .update(let update):
            do {
                try await tracker.update { update.apply(to: &$0) }
                return .done
            } catch {
                return .failed(error)
            }
        case .awaitConfirmation:
            await supervision.standing.confirmed(unless: control)
            return .done
        case .deliver:
            let folder: String
            do {
                folder = try context.spool.filesDirectory(runId: run.assignment.runId)
            } catch {
                return .localFailure(error)
            }
            do {
                let relay = try await context.delivery(
                    for: run.assignment, tracker: tracker, folder: folder, logger: run.logger)
                run.logger.info(
                    "run.delivered", metadata: ["delivery.mode": "\(run.assignment.job.delivery.mode.rawValue)"])
                return .delivered(relay)
            } catch {
                return .failed(error)
            }
        case .pause(let duration):
            await pause(duration, control: control, standing: supervision.standing)
            return .done
        case .complete:
            do {
                return .completed(try await complete(tracker, shipper: supervision.shipper, logger: run.logger))
            } catch {
                return .failed(error)
            }
        case .finish(let status):
            finish(tracker: tracker, state: await tracker.state, outcome: Self.outcome(status))
            return nil
        case .start, .renew, .sleep, .open, .supervise, .failWithoutSpool, .end, .leave, .abandon:
            preconditionFailure("\(operation) is not a supervised operation")
        }
    }

    private func apply(_ effect: RunMachine.Effect, _ run: Run) {
        switch effect {
        case .interrupt(let interruption): run.control.interrupt(interruption)
        case .countEgressDenial: context.metrics?.egressDenied()
        case .note(let note): log(note, logger: run.logger)
        }
    }

    private func log(_ note: RunMachine.Note, logger: Logger) {
        switch note {
        case .startRetry(let error): logger.notice("run.start_retry", metadata: ["error": "\(error)"])
        case .startRefused(let error): logger.warning("run.start_refused", metadata: ["error": "\(error)"])
        case .spoolFailed(let error): logger.error("run.spool_failed", metadata: ["error": "\(error)"])
        case .resumeDropped(let error): logger.notice("run.resume_dropped", metadata: ["reason": "\(error)"])
        case .deliveryRetry(let error): logger.notice("delivery.retry", metadata: ["error": "\(error)"])
        case .egressDenied(let error): logger.error("delivery.egress_denied", metadata: ["error": "\(error)"])
        case .deliveryFailed(let error): logger.error("delivery.failed", metadata: ["error": "\(error)"])
        case .completeRetry(let error): logger.notice("run.complete_retry", metadata: ["error": "\(error)"])
        case .supervisionFailed(let error): logger.error("run.supervision_failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Extraction

    /// Runs the job process to its end (or until the run is interrupted, it times out or the spool fills up).
    private func extract(_ tracker: RunTracker, control: JobControl, logger: Logger) async throws -> RunMachine.Event {
        let assignment = await tracker.state.assignment
        let runId = assignment.runId
        let folder = try context.spool.filesDirectory(runId: runId)
        // A resumed extraction starts over: whatever an earlier attempt left is not a complete extraction.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
        // A credential that allows one session at a time is this run's alone while its job runs.
        let credential = SessionCredentials.key(for: assignment.job)
        if let credential, !context.sessionCredentials.tryAcquire(credential) {
            logger.notice("job.waiting_for_credential", metadata: ["source": "\(assignment.job.sourceURL)"])
            note(
                "run.waiting another run of this agent is using the same Tableau personal access token, which allows "
                    + "one session at a time: this run starts when that one ends", tracker: tracker, runId: runId)
            guard await acquire(credential, unless: control) else {
                return .jobEnded(
                    RunMachine.JobEnding(
                        interruption: control.interruption, result: nil, termination: .exited(JobMain.exitFailed),
                        spoolUsed: try? context.spool.recount(), spoolCap: context.spool.capBytes))
            }
            note("run.resumed the token is free: starting", tracker: tracker, runId: runId)
        }
        defer { if let credential { context.sessionCredentials.release(credential) } }
        let workDirectory = try makeWorkDirectory(runId: runId)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let approval = await context.localApprover?(assignment.job)
        let envelope = makeEnvelope(assignment, folder: folder, approval: approval)
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
            return .launchFailed("\(error)")
        }
        logger.info("job.process_started", metadata: ["job.started_as": "\(process.label)"])
        let pump = OutputPump(tracker: tracker, redactor: context.redactor, metrics: context.metrics, logger: logger)
        let timeout = assignment.limits.maxDurationSeconds
        let clock = self.clock
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
                        try await clock.sleep(for: .seconds(timeout))
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
        return .jobEnded(
            RunMachine.JobEnding(
                interruption: interruption, result: interruption == nil ? try? readResult(folder: folder) : nil,
                termination: termination, spoolUsed: try? context.spool.recount(), spoolCap: context.spool.capBytes))
    }

    /// Waits for a one-session credential; false (without it) when the run is interrupted first.
    private func acquire(_ credential: String, unless control: JobControl) async -> Bool {
        let credentials = context.sessionCredentials
        return await withTaskGroup(of: (acquired: Bool, interrupted: Bool).self) { group in
            group.addTask { (await credentials.acquire(credential), false) }
            group.addTask {
                await control.interrupted()
                return (false, true)
            }
            guard let first = await group.next() else { return false }
            group.cancelAll()
            if !first.interrupted { return first.acquired }
            // Interrupted: the waiter is cancelled, but may have been handed the credential just before.
            while let other = await group.next() {
                if other.acquired { credentials.release(credential) }
            }
            return false
        }
    }

    /// Appends one line of the agent's own to the run's log, in the job's text format.
    private func note(_ message: String, tracker: RunTracker, runId: String) {
        let line = "\(Timestamps.now()) notice \(message)\n"
        _ = try? tracker.spool.appendLog(runId: runId, Array(line.utf8))
    }

    /// Looks at the spool's size every second while the job writes into it, and answers once the job has pushed
    /// it past its cap, so that a large extraction is stopped early rather than filling the disk; nil when
    /// cancelled (the job ended first).
    private func watchSpool() async -> JobControl.Interruption? {
        while true {
            do {
                try await clock.sleep(for: .seconds(1))
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

    /// The job's envelope: the local policy as configured, plus an exact pattern of the job's source when the
    /// agent's operator approved it for this job (`LocalSourceApprover`).
    private func makeEnvelope(
        _ assignment: RunAssignment, folder: String, approval: LocalSourceApproval?
    ) -> JobEnvelope {
        let configuration = context.configuration
        var policy = configuration.policy
        if let approval, let pattern = LocalSourceApproval.exactPattern(assignment.job.sourceURL) {
            policy.allowedSources.append(pattern)
            if approval.unverifiedTLS { policy.unverifiedSources.append(pattern) }
            if approval.cleartextPassword { policy.cleartextPasswordSources.append(pattern) }
        }
        return JobEnvelope(
            runId: assignment.runId, attempt: assignment.attempt, job: assignment.job, outputDirectory: folder,
            sealingKey: Data(context.spoolKey).base64EncodedString(),
            allowedSources: policy.allowedSources,
            allowedHosts: configuration.policy.allowedHosts, excludeFields: configuration.policy.excludeFields,
            allowedSecrets: configuration.policy.allowedSecrets,
            protectedSecrets: SecretPolicy.Protected(configuration: configuration, environment: context.environment),
            unverifiedSources: policy.unverifiedSources,
            cleartextPasswordSources: policy.cleartextPasswordSources,
            secretCommands: configuration.secretStores.commands.mapValues {
                .init(path: $0.path, arguments: $0.arguments, timeoutMilliseconds: Backoff.milliseconds($0.timeout))
            },
            maxDurationSeconds: assignment.limits.maxDurationSeconds,
            proxy: context.network.proxy == nil ? nil : context.network.settings,
            kubernetes: KubernetesAccess.configured(
                kubeconfig: configuration.secretStores.kubernetes.kubeconfig, environment: context.environment),
            vault: configuration.secretStores.vault, google: configuration.secretStores.google,
            azure: configuration.secretStores.azure)
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
                // The identities `gcp-sm:` and `azure-kv:` references are read with when the configuration names
                // none: the metadata server's address, workload identity and managed identity.
                "GCE_METADATA_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
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

    // MARK: Completion

    /// Ships the rest of the log and sends `complete`; returns the status it carried.
    private func complete(
        _ tracker: RunTracker, shipper: LogShipper, logger: Logger
    ) async throws -> CompleteRequest.Status {
        let runId = await tracker.runId
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
        return request.status
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
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(for: duration) }
            if interruptible { group.addTask { await control.interrupted() } }
            if let confirmation { group.addTask { await confirmation.wait() } }
            await group.next()
            group.cancelAll()
        }
    }

    static func metricOutcome(_ outcome: AuditEntry.Outcome) -> AgentMetrics.JobOutcome {
        AgentMetrics.JobOutcome(rawValue: outcome.rawValue) ?? .failed
    }

    static func elapsed(since startedAt: String) -> Duration {
        guard let started = Timestamps.parse(startedAt) else { return .zero }
        return .milliseconds(Int64(max(0, -started.timeIntervalSinceNow) * 1000))
    }

    static var emptySHA256: String { "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }

    static func outcome(_ status: CompleteRequest.Status) -> AuditEntry.Outcome {
        switch status {
        case .succeeded: .succeeded
        case .partial: .partial
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }
}
