import OutpostProtocol
import Testing

@testable import Agent

/// Every transition of a run's life, decided by `RunMachine` alone: no process, no server, no sleep.
@Suite("Run machine")
struct RunMachineTests {
    typealias Step = RunMachine.Step
    typealias Sight = RunMachine.Sight

    static let unavailable = AgentError(.unavailable, "the control plane answered 503", status: 503)
    static let stale = AgentError(.staleLease, "stale_lease", status: 409)
    static let rejected = AgentError(.rejected, "no such run", status: 404)
    static let keyMissing = AgentError(.apiKeyUnavailable, "the API key file is missing")

    static func ended(
        _ outcome: JobResult.Outcome?, _ termination: JobProcess.Termination = .exited(0),
        interruption: JobControl.Interruption? = nil, error: String? = nil, used: Int64? = 10
    ) -> RunMachine.JobEnding {
        RunMachine.JobEnding(
            interruption: interruption,
            result: outcome.map { JobResult(outcome: $0, error: error, policy: "allow sqlite", source: "sqlite:///x") },
            termination: termination, spoolUsed: used, spoolCap: 100)
    }

    /// A run resumed at `phase` whose lease was confirmed, past its `.supervise` step.
    static func supervised(at phase: RunState.Phase, _ sight: Sight = Sight()) -> (RunMachine, Step) {
        var machine = RunMachine(resuming: phase, leaseTTLSeconds: 40)
        _ = machine.handle(.renewed(LeaseResponse(leaseId: 1, leaseTTLSeconds: 40)), Sight())
        let step = machine.handle(.done, sight)
        return (machine, step)
    }

    // MARK: Starting

    @Test func anAcceptedStartOpensTheRunWithTheGrantedTtlThenSupervisesAndLaunchesIt() {
        var machine = RunMachine(claimedWithTTL: 30)
        #expect(machine.first == Step(.start))
        #expect(machine.phase == .starting)
        let open = machine.handle(.started(LeaseResponse(leaseId: 1, leaseTTLSeconds: 60)), Sight())
        #expect(open == Step(.open(leaseTTLSeconds: 60)))
        #expect(machine.handle(.done, Sight()) == Step(.supervise))
        #expect(machine.phase == .extracting)
        #expect(machine.handle(.done, Sight()) == Step(.launch))
    }

    @Test func aCancellationTheStartReplyCarriesInterruptsTheRunAsItIsSupervised() {
        var machine = RunMachine(claimedWithTTL: 30)
        let reply = LeaseResponse(leaseId: 1, leaseTTLSeconds: 30, cancel: true, cancelReason: "not needed")
        _ = machine.handle(.started(reply), Sight())
        #expect(machine.handle(.done, Sight()) == Step([.interrupt(.cancelled("not needed"))], .supervise))
    }

    @Test func aTransientStartFailureIsRetriedUntilTheLeaseTtlHasPassedThenTheRunIsRefused() {
        var machine = RunMachine(claimedWithTTL: 30)
        let busy = AgentError(.unavailable, "429", status: 429, retryAfter: .seconds(3))
        let retry = machine.handle(.failed(busy), Sight(elapsed: .seconds(29)))
        #expect(retry == Step([.note(.startRetry("429"))], .sleep(.seconds(3))))
        #expect(machine.handle(.done, Sight()) == Step(.start))
        let refused = machine.handle(.failed(busy), Sight(elapsed: .seconds(30)))
        #expect(refused == Step([.note(.startRefused("429"))], .end))
        #expect(machine.phase == .refused)
    }

    @Test(arguments: [rejected, stale, keyMissing])
    func aStartFailureThatIsNotTransientIsRefusedAtOnce(error: AgentError) {
        var machine = RunMachine(claimedWithTTL: 30)
        #expect(machine.handle(.failed(error), Sight()) == Step([.note(.startRefused(error.message))], .end))
        #expect(machine.phase == .refused)
    }

    @Test func aSpoolThatCannotBeWrittenFailsTheRunWithoutOne() {
        var machine = RunMachine(claimedWithTTL: 30)
        _ = machine.handle(.started(LeaseResponse(leaseId: 1, leaseTTLSeconds: 30)), Sight())
        let step = machine.handle(.failed(SpoolFailure()), Sight())
        #expect(
            step
                == Step(
                    [.note(.spoolFailed("disk full"))], .failWithoutSpool("the agent cannot write its spool: disk full")
                ))
        #expect(machine.phase == .refused)
    }

    // MARK: Resuming

    @Test(arguments: [
        (RunState.Phase.extracting, RunMachine.Phase.extracting, RunMachine.Operation.launch),
        (.delivering, .delivering, .deliver),
        (.completing, .completing, .complete),
    ])
    func aResumedRunGoesOnFromItsSpooledPhaseOnceItsLeaseIsConfirmed(
        spooled: RunState.Phase, phase: RunMachine.Phase, next: RunMachine.Operation
    ) {
        var machine = RunMachine(resuming: spooled, leaseTTLSeconds: 40)
        #expect(machine.first == Step(.renew))
        #expect(machine.handle(.renewed(LeaseResponse(leaseId: 1, leaseTTLSeconds: 40)), Sight()) == Step(.supervise))
        #expect(machine.phase == phase)
        #expect(machine.handle(.done, Sight()) == Step(next))
    }

    @Test func aResumedRunTheRenewalCancelsIsInterrupted() {
        var machine = RunMachine(resuming: .delivering, leaseTTLSeconds: 40)
        let reply = LeaseResponse(leaseId: 1, leaseTTLSeconds: 40, cancel: true, cancelReason: nil)
        #expect(machine.handle(.renewed(reply), Sight()) == Step([.interrupt(.cancelled(nil))], .supervise))
    }

    @Test(arguments: [unavailable, keyMissing])
    func aResumedRunRetriesItsConfirmationWithinAnEighthOfTheTtl(error: AgentError) throws {
        var machine = RunMachine(resuming: .completing, leaseTTLSeconds: 40)
        for _ in 0..<10 {
            let step = machine.handle(.failed(error), Sight())
            guard case .sleep(let wait) = step.operation else {
                Issue.record("\(step)")
                return
            }
            #expect(wait <= .seconds(5))
            #expect(machine.handle(.done, Sight()) == Step(.renew))
        }
        #expect(machine.phase == .resuming)
    }

    @Test func aResumedRunInterruptedWhileItsLeaseCannotBeConfirmedStaysInTheSpool() {
        var machine = RunMachine(resuming: .delivering, leaseTTLSeconds: 40)
        let step = machine.handle(.failed(Self.unavailable), Sight(interruption: .agentStopping("stop")))
        #expect(step == Step(.leave("the run was interrupted before the control plane confirmed its lease")))
        #expect(machine.phase == .deferred("the run was interrupted before the control plane confirmed its lease"))
    }

    @Test(arguments: [stale, rejected])
    func aResumedRunWhoseLeaseIsRefusedIsDropped(error: AgentError) {
        var machine = RunMachine(resuming: .completing, leaseTTLSeconds: 40)
        let step = machine.handle(.failed(error), Sight())
        #expect(step == Step([.note(.resumeDropped(error.message))], .abandon(error.message)))
        #expect(machine.phase == .abandoned(error.message))
    }

    // MARK: Extracting

    @Test func aJobProcessThatCannotStartCompletesTheRunAsFailed() {
        var (machine, launch) = Self.supervised(at: .extracting)
        #expect(launch == Step(.launch))
        let step = machine.handle(.launchFailed("no such file"), Sight())
        let update = RunUpdate(
            phase: .completing, status: .failed, error: "the job process could not be started: no such file")
        #expect(step == Step(.update(update)))
        #expect(machine.phase == .completing)
        #expect(machine.handle(.done, Sight()) == Step(.complete))
    }

    @Test func aSucceededExtractionIsRecordedThenDelivered() {
        var (machine, _) = Self.supervised(at: .extracting)
        let step = machine.handle(.jobEnded(Self.ended(.succeeded)), Sight())
        var update = RunUpdate(phase: .delivering, status: .succeeded)
        update.source = "sqlite:///x"
        update.policy = "allow sqlite"
        #expect(step == Step(.update(update)))
        #expect(machine.phase == .delivering)
        #expect(machine.handle(.done, Sight()) == Step(.deliver))
    }

    @Test func aJobTheLocalPolicyRefusedCountsAnEgressDenialAndCompletesAsFailed() {
        var (machine, _) = Self.supervised(at: .extracting)
        let step = machine.handle(.jobEnded(Self.ended(.denied, .exited(3))), Sight())
        #expect(step.effects == [.countEgressDenial])
        #expect(machine.phase == .completing)
    }

    @Test func aJobStoppedBecauseItsLeaseWasLostDropsTheRunWithoutARecord() {
        var (machine, _) = Self.supervised(at: .extracting)
        let lost = JobControl.Interruption.leaseLost("fenced")
        let step = machine.handle(
            .jobEnded(Self.ended(nil, .signalled(15), interruption: lost)), Sight(interruption: lost))
        #expect(step == Step(.abandon("fenced")))
        #expect(machine.phase == .abandoned("fenced"))
    }

    @Test func aLeaseLostAfterTheJobWasCancelledRecordsTheOutcomeThenDropsTheRun() {
        var (machine, _) = Self.supervised(at: .extracting)
        let lost = Sight(interruption: .leaseLost("gone"))
        let step = machine.handle(.jobEnded(Self.ended(nil, .signalled(15), interruption: .cancelled("x"))), lost)
        #expect(step == Step(.update(RunUpdate(phase: .completing, status: .cancelled, error: "x"))))
        #expect(machine.handle(.done, lost) == Step(.abandon("gone")))
    }

    @Test func aLocalFailureWhileExtractingDropsTheRunAndSaysSo() {
        var (machine, _) = Self.supervised(at: .extracting)
        let step = machine.handle(.failed(SpoolFailure()), Sight())
        #expect(step == Step([.note(.supervisionFailed("disk full"))], .abandon("disk full")))
    }

    @Test func aFailureAfterTheLeaseWasLostDropsTheRunForTheLease() {
        var (machine, _) = Self.supervised(at: .extracting)
        let step = machine.handle(.failed(SpoolFailure()), Sight(interruption: .leaseLost("gone")))
        #expect(step == Step(.abandon("gone")))
    }

    // MARK: The outcome table

    struct Row: Sendable, CustomTestStringConvertible {
        var ending: RunMachine.JobEnding
        var status: CompleteRequest.Status
        var error: String?
        var denied: Bool? = nil
        var testDescription: String {
            let result = ending.result.map { "\($0.outcome)" } ?? "no result"
            let interruption = ending.interruption.map { "\($0)" } ?? "uninterrupted"
            return "\(result), \(ending.termination), \(interruption), spool \(ending.spoolUsed.map { "\($0)" } ?? "?")"
                + " → \(status)"
        }
    }

    static let rows: [Row] = [
        Row(ending: ended(.succeeded), status: .succeeded),
        Row(ending: ended(.partial, .exited(2)), status: .partial),
        Row(
            ending: ended(.succeeded, .exited(1)), status: .failed,
            error: "the job process ended abnormally (exited(1)) without a result"),
        Row(
            ending: ended(nil, .signalled(9)), status: .failed,
            error: "the job process ended abnormally (signalled(9)) without a result"),
        Row(ending: ended(.failed, .exited(1), error: "no route"), status: .failed, error: "no route"),
        Row(ending: ended(.failed, .exited(1)), status: .failed, error: "the job failed"),
        Row(
            ending: ended(.denied, .exited(3)), status: .failed, error: "the agent's local policy refused the source",
            denied: true),
        Row(ending: ended(nil, interruption: .cancelled("by Ada")), status: .cancelled, error: "by Ada"),
        Row(
            ending: ended(nil, interruption: .cancelled(nil)), status: .cancelled,
            error: "cancelled from the control plane"),
        Row(ending: ended(nil, interruption: .agentStopping("drained")), status: .failed, error: "drained"),
        Row(
            ending: ended(nil, interruption: .timedOut(60)), status: .failed,
            error: "the job exceeded its maximum duration of 60 s and was stopped"),
        Row(
            ending: ended(nil, interruption: .spoolFull(used: 120, cap: 100)), status: .failed,
            error: JobControl.Interruption.spoolFull(used: 120, cap: 100).message),
        Row(
            ending: ended(.succeeded, used: 101), status: .failed,
            error: JobControl.Interruption.spoolFull(used: 101, cap: 100).message),
        Row(ending: ended(.partial, .exited(2), used: 100), status: .partial),
        Row(ending: ended(.succeeded, used: nil), status: .succeeded),
        Row(ending: ended(.failed, .exited(1), error: "no route", used: 500), status: .failed, error: "no route"),
    ]

    @Test(arguments: rows)
    func theOutcomeTableDecidesTheStatusAndWhetherTheFilesAreDelivered(row: Row) {
        let update = RunMachine.outcome(of: row.ending)
        #expect(update.status == row.status)
        #expect(update.error == row.error)
        #expect(update.denied == row.denied)
        #expect(update.phase == (row.status == .succeeded || row.status == .partial ? .delivering : .completing))
        if row.ending.interruption == nil, row.ending.result != nil {
            #expect(update.source == "sqlite:///x")
            #expect(update.policy == "allow sqlite")
        } else {
            #expect(update.source == nil)
        }
    }

    // MARK: Delivering

    @Test func deliveredFilesAreRecordedThenTheRunIsCompleted() {
        var (machine, deliver) = Self.supervised(at: .delivering)
        #expect(deliver == Step(.deliver))
        let relay = CompleteRequest.RelayObjects(bucket: "b", manifestKey: "m", objects: [])
        #expect(
            machine.handle(.delivered(relay), Sight()) == Step(.update(RunUpdate(phase: .completing, relay: relay))))
        #expect(machine.handle(.done, Sight()) == Step(.complete))
    }

    @Test func nothingIsDeliveredWhileTheLeaseHasLapsed() {
        var (machine, step) = Self.supervised(at: .delivering, Sight(leaseConfirmed: false))
        #expect(step == Step(.awaitConfirmation))
        #expect(machine.handle(.done, Sight(leaseConfirmed: false)) == Step(.awaitConfirmation))
        #expect(machine.handle(.done, Sight()) == Step(.deliver))
    }

    @Test(arguments: [unavailable, keyMissing])
    func aTransientDeliveryFailureIsRetriedAfterAPause(error: AgentError) {
        var (machine, _) = Self.supervised(at: .delivering)
        let step = machine.handle(.failed(error), Sight())
        #expect(step.effects == [.note(.deliveryRetry(error.message))])
        guard case .pause(let wait) = step.operation else {
            Issue.record("\(step)")
            return
        }
        #expect(wait <= .seconds(1))
        #expect(machine.handle(.done, Sight()) == Step(.deliver))
    }

    @Test func aStaleLeaseDuringDeliveryDropsTheRunAndItsFiles() {
        var (machine, _) = Self.supervised(at: .delivering)
        let reason = RunMachine.droppedReason("stale_lease")
        let step = machine.handle(.failed(Self.stale), Sight())
        #expect(step == Step([.interrupt(.leaseLost(reason))], .abandon(reason)))
        #expect(machine.phase == .abandoned(reason))
    }

    @Test func aDeliveryTheLocalPolicyRefusesCompletesTheRunAsDenied() {
        var (machine, _) = Self.supervised(at: .delivering)
        let denied = AgentError(.policyDenied, "the bucket host is not allowed")
        let step = machine.handle(.failed(denied), Sight())
        let update = RunUpdate(phase: .completing, status: .failed, error: denied.message, denied: true)
        #expect(step == Step([.note(.egressDenied(denied.message)), .countEgressDenial], .update(update)))
    }

    @Test(arguments: [rejected, AgentError(.delivery, "the bucket refused the upload")])
    func aFinalDeliveryFailureCompletesTheRunAsFailed(error: AgentError) {
        var (machine, _) = Self.supervised(at: .delivering)
        let step = machine.handle(.failed(error), Sight())
        let update = RunUpdate(phase: .completing, status: .failed, error: "delivery failed: \(error.message)")
        #expect(step == Step([.note(.deliveryFailed(error.message))], .update(update)))
    }

    @Test func aSpoolThatCannotHandOutTheFilesDropsTheRun() {
        var (machine, _) = Self.supervised(at: .delivering)
        let step = machine.handle(.localFailure(SpoolFailure()), Sight())
        #expect(step == Step([.note(.supervisionFailed("disk full"))], .abandon("disk full")))
    }

    @Test(arguments: [
        (JobControl.Interruption.cancelled("by Ada"), CompleteRequest.Status.cancelled, "by Ada"),
        (.agentStopping("drained"), .failed, "drained"),
        (.timedOut(5), .failed, "the job exceeded its maximum duration of 5 s and was stopped"),
    ])
    func anInterruptedRunCompletesWithItsReasonInsteadOfDelivering(
        interruption: JobControl.Interruption, status: CompleteRequest.Status, error: String
    ) {
        let (machine, step) = Self.supervised(at: .delivering, Sight(interruption: interruption))
        #expect(step == Step(.update(RunUpdate(phase: .completing, status: status, error: error))))
        #expect(machine.phase == .completing)
    }

    @Test func anAgentStoppingWhileTheLeaseHasLapsedLeavesTheFilesInTheSpool() {
        let (machine, step) = Self.supervised(
            at: .delivering, Sight(interruption: .agentStopping("drained"), leaseConfirmed: false))
        let reason = "the agent is stopping while the control plane cannot confirm the lease"
        #expect(step == Step(.leave(reason)))
        #expect(machine.phase == .deferred(reason))
    }

    @Test func aLeaseLostBeforeDeliveryDropsTheRun() {
        let (machine, step) = Self.supervised(at: .delivering, Sight(interruption: .leaseLost("gone")))
        #expect(step == Step(.abandon("gone")))
        #expect(machine.phase == .abandoned("gone"))
    }

    // MARK: Completing

    @Test func anAcceptedCompleteFinishesTheRun() {
        var (machine, step) = Self.supervised(at: .completing)
        #expect(step == Step(.complete))
        #expect(machine.handle(.completed(.partial), Sight()) == Step(.finish(.partial)))
        #expect(machine.phase == .finished(.partial))
    }

    @Test func aTransientCompleteFailureIsRetriedAfterAPause() {
        var (machine, _) = Self.supervised(at: .completing)
        for _ in 0..<5 {
            let step = machine.handle(.failed(Self.unavailable), Sight())
            #expect(step.effects == [.note(.completeRetry(Self.unavailable.message))])
            guard case .pause = step.operation else {
                Issue.record("\(step)")
                return
            }
            #expect(machine.handle(.done, Sight()) == Step(.complete))
        }
    }

    @Test func anAgentStoppingWhileTheControlPlaneIsUnreachableLeavesTheRunInTheSpool() {
        var (machine, _) = Self.supervised(at: .completing)
        let step = machine.handle(.failed(Self.keyMissing), Sight(interruption: .agentStopping("drained")))
        let reason = "the agent is stopping and the control plane cannot be reached: \(Self.keyMissing.message)"
        #expect(step == Step(.leave(reason)))
        #expect(machine.phase == .deferred(reason))
    }

    @Test func aStaleLeaseAtCompletionDropsTheRun() {
        var (machine, _) = Self.supervised(at: .completing)
        let reason = RunMachine.droppedReason("stale_lease")
        #expect(machine.handle(.failed(Self.stale), Sight()) == Step(.abandon(reason)))
        #expect(machine.phase == .abandoned(reason))
    }

    @Test func aFinalCompleteFailureDropsTheRunAndSaysSo() {
        var (machine, _) = Self.supervised(at: .completing)
        let step = machine.handle(.failed(Self.rejected), Sight())
        #expect(step == Step([.note(.supervisionFailed("no such run"))], .abandon("no such run")))
    }

    @Test func aCancelledSupervisorStopsRetryingComplete() {
        var (machine, _) = Self.supervised(at: .completing)
        _ = machine.handle(.failed(Self.unavailable), Sight())
        let step = machine.handle(.done, Sight(cancelled: true))
        let reason = "\(CancellationError())"
        #expect(step == Step([.note(.supervisionFailed(reason))], .abandon(reason)))
    }

    @Test func aLeaseLostBeforeCompletionDropsTheRun() {
        let (machine, step) = Self.supervised(at: .completing, Sight(interruption: .leaseLost("gone")))
        #expect(step == Step(.abandon("gone")))
        #expect(machine.phase == .abandoned("gone"))
    }

    // MARK: Lease reactions

    @Test(arguments: [
        (
            LeaseKeeper<ContinuousClock>.Event.cancelRequested("x"), RunState.Phase.extracting,
            RunMachine.LeaseReaction.interrupt(.cancelled("x"))
        ),
        (.cancelRequested(nil), .delivering, .interrupt(.cancelled(nil))),
        (.lost("409"), .extracting, .interrupt(.leaseLost("409"))),
        (.lost("409"), .delivering, .interrupt(.leaseLost(RunMachine.droppedReason("409")))),
        (.lost("409"), .completing, .interrupt(.leaseLost(RunMachine.droppedReason("409")))),
        (.fenced, .extracting, .interrupt(.leaseLost("the lease could not be renewed in time; the job fenced itself"))),
        (.fenced, .delivering, .lapse),
        (.fenced, .completing, .lapse),
        (.reconfirmed, .completing, .confirm),
    ])
    func aRunStopsItsJobWhenTheLeaseFailsButKeepsFinishedWork(
        event: LeaseKeeper<ContinuousClock>.Event, phase: RunState.Phase, reaction: RunMachine.LeaseReaction
    ) {
        #expect(RunMachine.reaction(to: event, in: phase) == reaction)
    }

    // MARK: With a clock

    @Test func aStartHandshakeThatNeverSucceedsGivesUpOnceTheTtlHasPassedOnTheClock() async throws {
        let clock = VirtualClock()
        let began = clock.now
        var machine = RunMachine(claimedWithTTL: 30)
        var step = machine.first
        var attempts = 0
        while step.operation != .end {
            switch step.operation {
            case .start:
                attempts += 1
                step = machine.handle(.failed(Self.unavailable), Sight(elapsed: began.duration(to: clock.now)))
            case .sleep(let wait):
                try await clock.sleep(for: wait)
                step = machine.handle(.done, Sight(elapsed: began.duration(to: clock.now)))
            default:
                Issue.record("\(step)")
                return
            }
        }
        let elapsed = began.duration(to: clock.now)
        #expect(elapsed >= .seconds(30))
        #expect(elapsed < .seconds(90))
        #expect(attempts > 1)
    }

    struct SpoolFailure: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }
}
