/// Whether a run's lease is known to be the run's, as its `LeaseKeeper` last learned it.
///
/// A run whose extraction finished keeps its files through a control-plane outage rather than fencing itself: its
/// lease *lapses* (not renewed within ttl − margin) and nothing more leaves the spool for it — a bucket relay
/// would otherwise write where the run's next attempt may be writing — until a renewal *confirms* it again.
final class LeaseStanding: Sendable {
    private struct State: Sendable {
        var lapsed = false
        /// Signalled when the lease is confirmed after lapsing; replaced at every confirmation.
        var confirmation = Latch()
    }

    private let state = MutexBox(State())

    /// False from a lapse until the next confirmation.
    var isConfirmed: Bool { !state.value.lapsed }

    /// The lease could not be renewed in time.
    func lapse() {
        state.withLock { $0.lapsed = true }
    }

    /// A renewal succeeded after a lapse: wakes whoever waits for it.
    func confirm() {
        let waiting = state.withLock { value -> Latch? in
            guard value.lapsed else { return nil }
            value.lapsed = false
            defer { value.confirmation = Latch() }
            return value.confirmation
        }
        waiting?.signal()
    }

    /// The latch the next confirmation signals (nil while the lease is confirmed), taken with the lapse under one
    /// lock so that a confirmation cannot slip between the check and the wait.
    var nextConfirmation: Latch? {
        state.withLock { $0.lapsed ? $0.confirmation : nil }
    }

    /// Returns once the lease is confirmed (at once when it is), or when `control` is interrupted, or when the
    /// calling task is cancelled.
    func confirmed(unless control: JobControl) async {
        guard let latch = nextConfirmation else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await latch.wait() }
            group.addTask { await control.interrupted() }
            await group.next()
            group.cancelAll()
        }
    }
}
