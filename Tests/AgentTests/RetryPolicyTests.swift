import Testing

@testable import Agent

/// `RetryPolicy`: which failures are retried, how long the waits are, and the deadline.
@Suite("Retry policy")
struct RetryPolicyTests {
    struct Unexpected: Error {}

    @Test func transientFailuresAreRetriedAndFinalOnesAreNot() {
        let transient = RetryPolicy(scope: .transient)
        let patient = RetryPolicy(scope: .transientOrKeyUnavailable)
        let unavailable = AgentError(.unavailable, "503", status: 503)
        let keyMissing = AgentError(.apiKeyUnavailable, "no key")
        #expect(transient.retries(unavailable))
        #expect(!transient.retries(keyMissing))
        #expect(patient.retries(unavailable))
        #expect(patient.retries(keyMissing))
        for code in [AgentError.Code.staleLease, .rejected, .unauthorized, .policyDenied, .delivery, .io, .job] {
            #expect(!transient.retries(AgentError(code, "final")))
            #expect(!patient.retries(AgentError(code, "final")))
        }
        #expect(!patient.retries(Unexpected()))
        #expect(!patient.retries(CancellationError()))
    }

    @Test func theWaitsGrowExponentiallyWithFullJitterUpToTheCap() {
        var policy = RetryPolicy(backoff: Backoff(base: .seconds(1), cap: .seconds(60)), scope: .transient)
        let error = AgentError(.unavailable, "503")
        let ceilings = [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) }
        for ceiling in ceilings {
            let wait = policy.delay(after: error)
            #expect(wait.map { $0 >= .zero && $0 <= ceiling } == true, "\(String(describing: wait)) ≤ \(ceiling)")
        }
    }

    @Test func aRetryAfterFromTheServerIsHonouredUpToTheCap() {
        var policy = RetryPolicy(backoff: Backoff(cap: .seconds(10)), scope: .transient)
        #expect(policy.delay(after: AgentError(.unavailable, "429", retryAfter: .seconds(7))) == .seconds(7))
        #expect(policy.delay(after: AgentError(.unavailable, "429", retryAfter: .seconds(70))) == .seconds(10))
    }

    @Test func noRetryStartsOnceTheDeadlineHasPassed() {
        var policy = RetryPolicy.start(leaseTTLSeconds: 30)
        let error = AgentError(.unavailable, "503")
        #expect(policy.delay(after: error, elapsed: .zero) != nil)
        #expect(policy.delay(after: error, elapsed: .milliseconds(29_999)) != nil)
        #expect(policy.delay(after: error, elapsed: .seconds(30)) == nil)
        #expect(RetryPolicy.start(leaseTTLSeconds: 0).deadline == .seconds(1))
    }

    @Test func aFailureThatIsNotRetriedLeavesTheScheduleWhereItWas() {
        var policy = RetryPolicy(backoff: Backoff(base: .seconds(1), cap: .seconds(60)), scope: .transient)
        #expect(policy.delay(after: AgentError(.rejected, "404")) == nil)
        #expect(policy.backoff.attempt == 0)
        _ = policy.delay(after: AgentError(.unavailable, "503"))
        #expect(policy.backoff.attempt == 1)
    }

    @Test func aResumedRunConfirmsItsLeaseWithinAnEighthOfTheTtlAndFinishedWorkWaitsAsLongAsItTakes() {
        #expect(RetryPolicy.leaseConfirmation(leaseTTLSeconds: 40).backoff.cap == .seconds(5))
        #expect(RetryPolicy.leaseConfirmation(leaseTTLSeconds: 4).backoff.cap == .seconds(1))
        #expect(RetryPolicy.leaseConfirmation(leaseTTLSeconds: 40).deadline == nil)
        #expect(RetryPolicy.finishedWork.deadline == nil)
        #expect(RetryPolicy.finishedWork.scope == .transientOrKeyUnavailable)
        #expect(RetryPolicy.start(leaseTTLSeconds: 40).scope == .transient)
    }
}
