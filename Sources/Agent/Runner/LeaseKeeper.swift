public import OutpostProtocol

/// Keeps one run's lease alive: renews every ttl/4 on its own task, carries cancellation back, and reports when the
/// lease could not be renewed in time — then goes on trying, so that a run holding finished work learns when the
/// control plane is back.
///
/// Time is measured on a monotonic clock from the moment the last successful renewal was *sent*, so a slow
/// answer never stretches the agent's idea of its lease beyond the server's. If no renewal succeeds for
/// ttl − margin, the keeper reports `.fenced`: by then the server may be about to hand the run to another agent,
/// so a job still running must be stopped. It keeps renewing (with backoff, never slower than ttl/8) and reports
/// `.reconfirmed` when a renewal succeeds again — a control plane that was down extends running leases when it
/// starts, so the run is still this agent's — or `.lost` when the server says the lease went to someone else.
public struct LeaseKeeper<C: Clock<Duration>>: Sendable {
    /// What the keeper learned; the job's supervisor acts on it.
    public enum Event: Sendable, Equatable {
        /// The control plane asked to cancel the run (reason shown to people).
        case cancelRequested(String?)
        /// The lease is not ours any more (409): drop the job without completing.
        case lost(String)
        /// No renewal succeeded within ttl − margin: a job still running must stop now.
        case fenced
        /// After `.fenced`, a renewal succeeded: the lease is the run's again for a whole ttl.
        case reconfirmed
    }

    /// Renews the lease; `AgentError`s are reported as they are (retryable or not).
    public typealias Renew = @Sendable () async throws -> LeaseResponse

    public let ttl: Duration
    public let margin: Duration
    public let clock: C
    public let renew: Renew

    public init(ttl: Duration, margin: Duration, clock: C, renew: @escaping Renew) {
        self.ttl = ttl
        self.margin = margin
        self.clock = clock
        self.renew = renew
    }

    /// Renews until cancelled or until the lease is lost; `events` receives what happened. The lease was last
    /// confirmed at `confirmedAt` (the `start` or a previous renewal).
    public func run(confirmedAt: C.Instant, events: AsyncStream<Event>.Continuation) async {
        var ttl = self.ttl
        var confirmed = confirmedAt
        var fenced = false
        var cancelReported = false
        var backoff = Self.backoff(ttl: ttl)
        var wait = ttl / 4
        while !Task.isCancelled {
            let deadline = confirmed.advanced(by: ttl - margin)
            var wake = clock.now.advanced(by: wait)
            if !fenced { wake = min(wake, deadline) }
            do {
                try await clock.sleep(until: wake, tolerance: nil)
            } catch {
                return
            }
            if !fenced && clock.now >= deadline {
                fenced = true
                events.yield(.fenced)
            }
            let sent = clock.now
            do {
                let response = try await renew()
                confirmed = sent
                ttl = .seconds(max(1, response.leaseTTLSeconds))
                backoff = Self.backoff(ttl: ttl)
                wait = ttl / 4
                if fenced {
                    fenced = false
                    events.yield(.reconfirmed)
                }
                if response.cancel && !cancelReported {
                    cancelReported = true
                    events.yield(.cancelRequested(response.cancelReason))
                }
            } catch is CancellationError {
                return
            } catch let error as AgentError where error.code == .staleLease {
                events.yield(.lost(error.message))
                return
            } catch let error as AgentError where error.code == .rejected {
                // A 404 or similar: the run is gone for this agent.
                events.yield(.lost(error.message))
                return
            } catch {
                // Retryable (network, 5xx, key being re-read): try again soon; before the fence deadline never past
                // it, after it often enough to be back within the ttl a restarted server grants.
                wait = backoff.next(retryAfter: (error as? AgentError)?.retryAfter)
            }
        }
    }

    private static func backoff(ttl: Duration) -> Backoff {
        Backoff(base: .milliseconds(250), cap: max(.milliseconds(250), ttl / 8))
    }
}
