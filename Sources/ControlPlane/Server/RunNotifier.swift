import Synchronization

/// Wakes claims held open for a tenant as soon as a run is queued for it in this process.
///
/// A claim reads the tenant's generation, looks at the queue, and if it is empty waits for the generation to
/// move on; taking the generation *before* looking closes the window in which a run created between the look
/// and the wait would be missed. Runs created by other replicas are not seen here: held claims also re-check
/// the queue periodically. A `Mutex` rather than an actor, so a cancelled wait can be resumed synchronously
/// from its cancellation handler.
public final class RunNotifier: Sendable {
    private struct State {
        var generations: [String: UInt64] = [:]
        /// Bumped by `notifyAll`; part of every tenant's generation.
        var epoch: UInt64 = 0
        var waiters: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
        var nextWaiter = 0
        var isShutDown = false

        func generation(of tenantId: String) -> UInt64 { (generations[tenantId] ?? 0) &+ epoch }
    }

    private let state = Mutex(State())

    public init() {}

    /// The current generation of `tenantId`; it increases with every notification.
    public func generation(of tenantId: String) -> UInt64 {
        state.withLock { $0.generation(of: tenantId) }
    }

    /// True once the server began shutting down: held claims answer at once.
    public var isShutDown: Bool { state.withLock { $0.isShutDown } }

    /// A run was queued for `tenantId`: wake its waiting claims.
    public func notify(tenantId: String) {
        let waiters = state.withLock { state in
            state.generations[tenantId, default: 0] &+= 1
            return state.waiters.removeValue(forKey: tenantId) ?? [:]
        }
        for continuation in waiters.values { continuation.resume() }
    }

    /// Runs may have been queued for any tenant (leases expired): wake every waiting claim.
    public func notifyAll() {
        let waiters = state.withLock { state in
            state.epoch &+= 1
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap(\.values)
        }
        for continuation in waiters { continuation.resume() }
    }

    /// Wakes every waiting claim and makes later waits return at once.
    public func shutDown() {
        let waiters = state.withLock { state in
            state.isShutDown = true
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap(\.values)
        }
        for continuation in waiters { continuation.resume() }
    }

    /// Waits until `tenantId`'s generation differs from `generation`, `timeout` passes, the task is cancelled or
    /// the notifier shuts down, whichever comes first.
    public func wait(tenantId: String, after generation: UInt64, timeout: Duration) async {
        guard timeout > .zero else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForNotification(tenantId: tenantId, after: generation) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForNotification(tenantId: String, after generation: UInt64) async {
        let id = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // Cancellation sets the flag before its handler runs, so a handler that found nothing to
                    // remove is always followed by this check seeing the flag.
                    if state.isShutDown || Task.isCancelled || state.generation(of: tenantId) != generation {
                        return true
                    }
                    state.waiters[tenantId, default: [:]][id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                let removed = state.waiters[tenantId]?.removeValue(forKey: id)
                if state.waiters[tenantId]?.isEmpty == true { state.waiters[tenantId] = nil }
                return removed
            }
            continuation?.resume()
        }
    }

    /// Claims currently waiting (tests and metrics).
    public var waitingCount: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }
}
