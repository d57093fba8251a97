/// The agent's handle on one running job: lets the runner stop it (drain timeout, second SIGTERM) and lets the
/// supervisor wait for any reason to stop — its own lease keeper's or the runner's.
final class JobControl: Sendable {
    /// Why a job must stop before it finished on its own.
    enum Interruption: Sendable, Equatable {
        /// The control plane cancelled the run.
        case cancelled(String?)
        /// The lease is gone (409, or not renewed in time): drop the run without completing it.
        case leaseLost(String)
        /// The agent is shutting down (drain timeout, second signal).
        case agentStopping(String)
        /// The run exceeded its maximum duration.
        case timedOut(Int)
        /// What the job wrote pushed the spool past its cap (bytes used, cap).
        case spoolFull(used: Int64, cap: Int64)
    }

    private let current = MutexBox<Interruption?>(nil)
    private let latch = Latch()

    /// Records the first interruption; later ones are ignored, except that losing the lease overrides all.
    func interrupt(_ interruption: Interruption) {
        current.withLock { value in
            switch (value, interruption) {
            case (nil, _), (_, .leaseLost): value = interruption
            default: break
            }
        }
        latch.signal()
    }

    var interruption: Interruption? { current.value }

    /// Returns once the job is interrupted (at once if it is already), or when the calling task is cancelled.
    func interrupted() async { await latch.wait() }
}
