/// When a run's call to the control plane is tried again, and after how long: the one policy behind the start
/// handshake, a resumed run's lease confirmation, delivery and completion.
///
/// The policy only decides; it neither sleeps nor reads a clock. Whoever drives it measures the time since the first
/// attempt on its own (injected) clock and passes it in, so a schedule and its deadline are tested without waiting.
struct RetryPolicy: Sendable {
    /// Which failures are worth repeating.
    enum Scope: Sendable, Equatable {
        /// Transient failures only (`AgentError.isRetryable`).
        case transient
        /// Transient failures and an API key its store could not hand out yet: a call that needs the key to make
        /// progress waits for the store rather than giving up the run's work.
        case transientOrKeyUnavailable
    }

    /// The schedule of waits between attempts.
    var backoff: Backoff
    /// Which failures are retried.
    var scope: Scope
    /// How long after the first attempt a failure may still be retried; nil: for as long as it takes.
    var deadline: Duration?

    /// A policy retrying `scope`'s failures on `backoff`'s schedule until `deadline`.
    init(backoff: Backoff = Backoff(), scope: Scope, deadline: Duration? = nil) {
        self.backoff = backoff
        self.scope = scope
        self.deadline = deadline
    }

    /// Whether `error` is worth another attempt, regardless of the deadline.
    func retries(_ error: any Error) -> Bool {
        guard let error = error as? AgentError else { return false }
        switch scope {
        case .transient: return error.isRetryable
        case .transientOrKeyUnavailable: return error.isRetryable || error.code == .apiKeyUnavailable
        }
    }

    /// The wait before the next attempt after `error`, `elapsed` after the first; nil when the failure is final or
    /// the deadline has passed. Advances the backoff.
    mutating func delay(
        after error: any Error, elapsed: Duration = .zero, using generator: inout some RandomNumberGenerator
    ) -> Duration? {
        guard retries(error) else { return nil }
        if let deadline, elapsed >= deadline { return nil }
        return backoff.next(retryAfter: (error as? AgentError)?.retryAfter, using: &generator)
    }

    /// `delay(after:elapsed:using:)` with the system's random numbers.
    mutating func delay(after error: any Error, elapsed: Duration = .zero) -> Duration? {
        var generator = SystemRandomNumberGenerator()
        return delay(after: error, elapsed: elapsed, using: &generator)
    }
}

extension RetryPolicy {
    /// `start` for a fresh claim: transient failures until the lease's ttl has passed — by then the control plane
    /// may have handed the run to another agent.
    static func start(leaseTTLSeconds: Int) -> RetryPolicy {
        RetryPolicy(scope: .transient, deadline: .seconds(max(1, leaseTTLSeconds)))
    }

    /// The first renewal of a run resumed from the spool. A control plane that was down grants running leases one
    /// ttl when it starts: the waits stay short (ttl/8, at least 1 s) so the agent comes back well within it.
    static func leaseConfirmation(leaseTTLSeconds: Int) -> RetryPolicy {
        RetryPolicy(
            backoff: Backoff(cap: max(.seconds(1), .seconds(leaseTTLSeconds) / 8)), scope: .transientOrKeyUnavailable)
    }

    /// Delivery and `complete` of finished work: kept up for as long as the lease holds, since the work is safe in
    /// the spool.
    static var finishedWork: RetryPolicy { RetryPolicy(scope: .transientOrKeyUnavailable) }
}
