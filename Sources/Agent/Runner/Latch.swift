/// A one-shot signal many tasks can wait for; waiting ends early when the waiting task is cancelled.
final class Latch: Sendable {
    private struct State: Sendable {
        var signalled = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = MutexBox(State())

    var isSignalled: Bool { state.withLock { $0.signalled } }

    func signal() {
        let waiters = state.withLock { value -> [CheckedContinuation<Void, Never>] in
            guard !value.signalled else { return [] }
            value.signalled = true
            defer { value.waiters = [:] }
            return Array(value.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        let id = state.withLock { value in
            defer { value.nextWaiter += 1 }
            return value.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { value -> Bool in
                    if value.signalled || Task.isCancelled { return true }
                    value.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Runs `operation` unless or until the latch is signalled; returns nil if the latch won.
    func race<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                await self.wait()
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// Sleeps for `duration` or until the latch is signalled.
    func sleep(for duration: Duration) async {
        _ = try? await race { try await Task.sleep(for: duration) }
    }
}
