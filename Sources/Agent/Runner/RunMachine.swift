internal import OutpostProtocol

/// The life of one run — start handshake (or a restart's lease confirmation), extraction, delivery, completion — as
/// a value that decides and never acts.
///
/// `JobSupervisor` performs each step's operation (a call, a sleep, a process, a spool write) and hands back what
/// came of it as an `Event`, together with a `Sight` of what other tasks may have changed meanwhile: the run's
/// interruption, its lease standing, the time since it began. Everything the run does next is decided here, so
/// every transition — retries and their deadline, deferral while the agent stops, a dropped lease, the outcome
/// table — is tested without a process, a server or a sleep.
///
/// A run is completed exactly once or not at all: it ends `finished` (completed), `abandoned` (its lease is gone:
/// the spool forgets it, the ledger says why), `deferred` (left in the spool for the agent's next start) or
/// `refused` (nothing ran).
struct RunMachine: Sendable {
    /// Where the run stands.
    enum Phase: Sendable, Equatable {
        /// Sending `start` for a claimed lease.
        case starting
        /// Renewing the lease of a run found in the spool, to learn that it is still this agent's.
        case resuming
        /// `start` succeeded: writing the run's first state to the spool. Carries a cancellation `start` reported.
        case opening(cancel: JobControl.Interruption?)
        /// The job process runs (or is about to).
        case extracting
        /// The files are in the spool; they leave it only while the lease is confirmed.
        case delivering
        /// Only the log and `complete` are left.
        case completing
        /// Completed with this status.
        case finished(CompleteRequest.Status)
        /// Dropped without `complete`, for this reason.
        case abandoned(String)
        /// Left in the spool for the agent's next start, for this reason.
        case deferred(String)
        /// Never started (or its spool could not be written): nothing ran.
        case refused
    }

    /// What the supervisor sees when it hands over an event: what may have changed on other tasks meanwhile.
    struct Sight: Sendable, Equatable {
        /// Why the run must stop, if it must (the `JobControl`'s interruption).
        var interruption: JobControl.Interruption?
        /// False while the lease has lapsed (see `LeaseStanding`).
        var leaseConfirmed = true
        /// Time since the run was claimed or resumed, on the supervisor's clock.
        var elapsed: Duration = .zero
        /// The supervising task was cancelled.
        var cancelled = false
    }

    /// How a job process ended, as far as the outcome table needs to know.
    struct JobEnding: Sendable, Equatable {
        /// The first reason the job was stopped for, nil when it ended by itself.
        var interruption: JobControl.Interruption?
        /// The result the job wrote; nil when it wrote none (or it was not read because the job was stopped).
        var result: JobResult?
        /// How the process ended.
        var termination: JobProcess.Termination
        /// The spool's size once the job ended; nil when it could not be counted.
        var spoolUsed: Int64?
        /// The spool's cap in bytes.
        var spoolCap: Int64
    }

    /// What came of the last operation.
    enum Event: Sendable {
        /// `start` accepted the lease.
        case started(LeaseResponse)
        /// The resumed run's lease was renewed.
        case renewed(LeaseResponse)
        /// The operation finished and has nothing to report.
        case done
        /// The job process could not be started (why).
        case launchFailed(String)
        /// The job process ended.
        case jobEnded(JobEnding)
        /// The files were delivered (to this relay location, for bucket relay).
        case delivered(CompleteRequest.RelayObjects?)
        /// `complete` was accepted with this status.
        case completed(CompleteRequest.Status)
        /// The operation failed.
        case failed(any Error)
        /// Local work the operation needed before it could begin (the spool's files) failed: the run cannot go on.
        case localFailure(any Error)
    }

    /// What the supervisor does next; every operation but the terminal ones is answered with an `Event`.
    enum Operation: Sendable, Equatable {
        /// Send `start` for the claimed lease.
        case start
        /// Renew the resumed run's lease.
        case renew
        /// Wait before the next attempt, whatever happens meanwhile.
        case sleep(Duration)
        /// Write the accepted run's first state to the spool, with the ttl `start` granted.
        case open(leaseTTLSeconds: Int)
        /// Start keeping the lease and shipping the log, from the last confirmation; answered with `.done`.
        case supervise
        /// Start the job process and wait for it to end.
        case launch
        /// Change the run's state in the spool.
        case update(RunUpdate)
        /// Wait until the lapsed lease is confirmed again or the run is interrupted.
        case awaitConfirmation
        /// Deliver the spooled files.
        case deliver
        /// Wait before the next attempt, less when the run is interrupted for the first time or its lapsed lease
        /// is confirmed again.
        case pause(Duration)
        /// Ship the rest of the log and send `complete`.
        case complete
        /// Terminal: record the completed run in the ledger and forget it.
        case finish(CompleteRequest.Status)
        /// Terminal: drop the run without completing it.
        case abandon(String)
        /// Terminal: leave the run in the spool for the agent's next start.
        case leave(String)
        /// Terminal: tell the control plane the run failed, with no spool to report from.
        case failWithoutSpool(String)
        /// Terminal: nothing to do.
        case end
    }

    /// What the supervisor does before the operation, without waiting for an answer.
    enum Effect: Sendable, Equatable {
        /// Log the decision.
        case note(Note)
        /// Interrupt the run (a cancellation a reply carried, or a lease the control plane gave away).
        case interrupt(JobControl.Interruption)
        /// The local policy refused a host the run needed.
        case countEgressDenial
    }

    /// A decision worth a log line.
    enum Note: Sendable, Equatable {
        /// `start` failed for now (the error); it is tried again.
        case startRetry(String)
        /// `start` failed for good or too late: the run is not this agent's.
        case startRefused(String)
        /// The accepted run's state could not be written.
        case spoolFailed(String)
        /// The control plane refused to renew a resumed run's lease.
        case resumeDropped(String)
        /// Delivery failed for now; it is tried again.
        case deliveryRetry(String)
        /// The local policy refused a host delivery needed.
        case egressDenied(String)
        /// Delivery failed for good: the run completes as failed.
        case deliveryFailed(String)
        /// `complete` failed for now; it is tried again.
        case completeRetry(String)
        /// Something no phase expects failed: the run is dropped.
        case supervisionFailed(String)
    }

    /// One step: effects first, then the operation.
    struct Step: Sendable, Equatable {
        var effects: [Effect] = []
        var operation: Operation

        /// Effects, then an operation.
        init(_ effects: [Effect], _ operation: Operation) {
            self.effects = effects
            self.operation = operation
        }

        /// An operation alone.
        init(_ operation: Operation) {
            self.init([], operation)
        }
    }

    /// Where the run stands now.
    private(set) var phase: Phase
    /// The operation whose answer the machine waits for.
    private(set) var awaiting: Operation
    /// The phase a resumed run goes on from once its lease is confirmed.
    private let resumeFrom: RunState.Phase
    private var openingRetry: RetryPolicy
    private var deliveryRetry = RetryPolicy.finishedWork
    private var completionRetry = RetryPolicy.finishedWork

    /// A freshly claimed run; `start` comes first.
    init(claimedWithTTL leaseTTLSeconds: Int) {
        phase = .starting
        awaiting = .start
        resumeFrom = .extracting
        openingRetry = .start(leaseTTLSeconds: leaseTTLSeconds)
    }

    /// A run found in the spool at `phase`; its lease is confirmed first.
    init(resuming phase: RunState.Phase, leaseTTLSeconds: Int) {
        self.phase = .resuming
        awaiting = .renew
        resumeFrom = phase
        openingRetry = .leaseConfirmation(leaseTTLSeconds: leaseTTLSeconds)
    }

    /// The first step.
    var first: Step { Step(awaiting) }

    /// Takes what came of the last operation and decides the next step.
    mutating func handle(_ event: Event, _ sight: Sight) -> Step {
        let step = decide(event, sight)
        awaiting = step.operation
        return step
    }

    private mutating func decide(_ event: Event, _ sight: Sight) -> Step {
        switch (phase, event) {
        case (.starting, .started(let response)):
            phase = .opening(cancel: response.cancel ? .cancelled(response.cancelReason) : nil)
            return Step(.open(leaseTTLSeconds: response.leaseTTLSeconds))
        case (.starting, .failed(let error)):
            if let wait = openingRetry.delay(after: error, elapsed: sight.elapsed) {
                return Step([.note(.startRetry("\(error)"))], .sleep(wait))
            }
            phase = .refused
            return Step([.note(.startRefused("\(error)"))], .end)
        case (.starting, .done):
            return Step(.start)

        case (.opening(let cancel), .done):
            phase = .extracting
            let effects: [Effect] = cancel.map { [.interrupt($0)] } ?? []
            return Step(effects, .supervise)
        case (.opening, .failed(let error)):
            phase = .refused
            return Step(
                [.note(.spoolFailed("\(error)"))], .failWithoutSpool("the agent cannot write its spool: \(error)"))

        case (.resuming, .renewed(let response)):
            phase = Self.phase(resumeFrom)
            return Step(response.cancel ? [.interrupt(.cancelled(response.cancelReason))] : [], .supervise)
        case (.resuming, .failed(let error)):
            guard let wait = openingRetry.delay(after: error) else {
                return abandon("\(error)", note: .resumeDropped("\(error)"))
            }
            if sight.interruption != nil {
                return leave("the run was interrupted before the control plane confirmed its lease")
            }
            return Step(.sleep(wait))
        case (.resuming, .done):
            return Step(.renew)

        case (.extracting, .done):
            return Step(.launch)
        case (.extracting, .launchFailed(let reason)):
            return update(
                RunUpdate(phase: .completing, status: .failed, error: "the job process could not be started: \(reason)")
            )
        case (.extracting, .jobEnded(let ending)):
            if case .leaseLost = ending.interruption ?? sight.interruption { return afterDelivery(sight) }
            let outcome = Self.outcome(of: ending)
            return update(outcome, effects: outcome.denied == true ? [.countEgressDenial] : [])

        case (.delivering, .done):
            return deliveryStep(sight)
        case (.delivering, .delivered(let relay)):
            return update(RunUpdate(phase: .completing, relay: relay))
        case (.delivering, .failed(let error)) where awaiting == .deliver:
            return deliveryFailed(error, sight)

        case (.completing, .done):
            if case .pause = awaiting, sight.cancelled { return supervisionFailed(CancellationError(), sight) }
            return afterDelivery(sight)
        case (.completing, .completed(let status)):
            phase = .finished(status)
            return Step(.finish(status))
        case (.completing, .failed(let error)) where awaiting == .complete:
            return completionFailed(error, sight)

        case (.extracting, .failed(let error)), (.delivering, .failed(let error)), (.completing, .failed(let error)),
            (.extracting, .localFailure(let error)), (.delivering, .localFailure(let error)),
            (.completing, .localFailure(let error)):
            return supervisionFailed(error, sight)

        default:
            // An event the last operation cannot have produced: the supervisor and the machine disagree.
            preconditionFailure("run machine: \(event) in phase \(phase)")
        }
    }

    // MARK: Delivery

    /// Nothing leaves the spool on a lease that may have gone to the run's next attempt; an interrupted run
    /// completes with what interrupted it instead of delivering.
    private mutating func deliveryStep(_ sight: Sight) -> Step {
        if let interruption = sight.interruption {
            if case .leaseLost(let reason) = interruption { return abandon(reason) }
            if case .agentStopping = interruption, !sight.leaseConfirmed {
                return leave("the agent is stopping while the control plane cannot confirm the lease")
            }
            return update(
                RunUpdate(phase: .completing, status: interruption.status, error: interruption.message))
        }
        if !sight.leaseConfirmed { return Step(.awaitConfirmation) }
        return Step(.deliver)
    }

    private mutating func deliveryFailed(_ error: any Error, _ sight: Sight) -> Step {
        if let wait = deliveryRetry.delay(after: error) {
            return Step([.note(.deliveryRetry("\(error)"))], .pause(wait))
        }
        let agentError = error as? AgentError
        switch agentError?.code {
        case .staleLease:
            let reason = Self.droppedReason(agentError?.message ?? "")
            return abandon(reason, effects: [.interrupt(.leaseLost(reason))])
        case .policyDenied:
            let message = agentError?.message ?? ""
            return update(
                RunUpdate(phase: .completing, status: .failed, error: message, denied: true),
                effects: [.note(.egressDenied("\(error)")), .countEgressDenial])
        default:
            return update(
                RunUpdate(phase: .completing, status: .failed, error: "delivery failed: \(error)"),
                effects: [.note(.deliveryFailed("\(error)"))])
        }
    }

    // MARK: Completion

    /// Delivery is over (or skipped): complete, unless the lease is gone.
    private mutating func afterDelivery(_ sight: Sight) -> Step {
        if case .leaseLost(let reason) = sight.interruption { return abandon(reason) }
        phase = .completing
        return Step(.complete)
    }

    private mutating func completionFailed(_ error: any Error, _ sight: Sight) -> Step {
        if let wait = completionRetry.delay(after: error) {
            if case .agentStopping = sight.interruption {
                return leave("the agent is stopping and the control plane cannot be reached: \(error)")
            }
            return Step([.note(.completeRetry("\(error)"))], .pause(wait))
        }
        if let error = error as? AgentError, error.code == .staleLease {
            return abandon(Self.droppedReason(error.message))
        }
        return supervisionFailed(error, sight)
    }

    // MARK: Endings

    /// Something failed that no phase expects: the run cannot go on, so it is dropped.
    private mutating func supervisionFailed(_ error: any Error, _ sight: Sight) -> Step {
        if case .leaseLost(let reason) = sight.interruption { return abandon(reason) }
        return abandon("\(error)", note: .supervisionFailed("\(error)"))
    }

    private mutating func abandon(_ reason: String, note: Note? = nil, effects: [Effect] = []) -> Step {
        phase = .abandoned(reason)
        let noted: [Effect] = note.map { [.note($0)] } ?? []
        return Step(effects + noted, .abandon(reason))
    }

    private mutating func leave(_ reason: String) -> Step {
        phase = .deferred(reason)
        return Step(.leave(reason))
    }

    private mutating func update(_ update: RunUpdate, effects: [Effect] = []) -> Step {
        phase = Self.phase(update.phase)
        return Step(effects, .update(update))
    }

    private static func phase(_ phase: RunState.Phase) -> Phase {
        switch phase {
        case .extracting: .extracting
        case .delivering: .delivering
        case .completing: .completing
        }
    }
}

extension RunMachine {
    /// The outcome table: how a job's ending becomes the status `complete` carries and the phase the run goes on
    /// in. Only succeeded and partial extractions are delivered, and only when what the job wrote fits the spool.
    static func outcome(of ending: JobEnding) -> RunUpdate {
        var update = RunUpdate(phase: .completing)
        switch ending.interruption {
        case .cancelled(let reason):
            update.status = .cancelled
            update.error = reason ?? "cancelled from the control plane"
        case .agentStopping(let reason):
            update.status = .failed
            update.error = reason
        case .timedOut, .spoolFull:
            update.status = .failed
            update.error = ending.interruption?.message
        case .leaseLost, nil:
            break
        }
        if ending.interruption == nil {
            let result = ending.result
            update.source = result?.source
            update.policy = result?.policy
            switch (result?.outcome, ending.termination) {
            case (.succeeded, .exited(JobMain.exitSucceeded)):
                update.status = .succeeded
            case (.partial, .exited(JobMain.exitPartial)):
                update.status = .partial
            case (.denied, _):
                update.status = .failed
                update.denied = true
                update.error = result?.error ?? "the agent's local policy refused the source"
            case (.failed, _):
                update.status = .failed
                update.error = result?.error ?? "the job failed"
            default:
                update.status = .failed
                update.error = "the job process ended abnormally (\(ending.termination)) without a result"
            }
        }
        let delivers = update.status == .succeeded || update.status == .partial
        // The job wrote its files itself: refuse to deliver what broke the cap since the last look.
        if delivers, let used = ending.spoolUsed, used > ending.spoolCap {
            update.status = .failed
            update.error = JobControl.Interruption.spoolFull(used: used, cap: ending.spoolCap).message
        }
        update.phase = update.status == .succeeded || update.status == .partial ? .delivering : .completing
        return update
    }

    /// What the supervisor does about what its `LeaseKeeper` learned, given the run's phase.
    enum LeaseReaction: Sendable, Equatable {
        /// Stop the job, or drop the run, for this reason.
        case interrupt(JobControl.Interruption)
        /// The lease lapsed while the finished work waits in the spool: keep it, deliver nothing.
        case lapse
        /// The lapsed lease is the run's again.
        case confirm
    }

    /// While the job runs, a lease not renewed in time stops it; once its work is in the spool, the work waits
    /// for the control plane to come back, and only a 409 drops it.
    static func reaction<C: Clock<Duration>>(to event: LeaseKeeper<C>.Event, in phase: RunState.Phase) -> LeaseReaction
    {
        let extracting = phase == .extracting
        switch event {
        case .cancelRequested(let reason):
            return .interrupt(.cancelled(reason))
        case .lost(let reason):
            return .interrupt(.leaseLost(extracting ? reason : droppedReason(reason)))
        case .fenced:
            return extracting
                ? .interrupt(.leaseLost("the lease could not be renewed in time; the job fenced itself")) : .lapse
        case .reconfirmed:
            return .confirm
        }
    }

    /// Why a lapsed lease keeps finished work in the spool, for the log.
    static let lapseReason =
        "the lease could not be renewed in time; the finished extraction stays in the spool until the control plane "
        + "confirms the lease"

    /// Why a run whose extraction had finished is dropped after all: the control plane gave it to another attempt.
    static func droppedReason(_ message: String) -> String {
        "the control plane no longer holds this run's lease for this agent (it was leased again while the agent could "
            + "not renew it): \(message); the delivery kept in the spool is dropped"
    }
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
