internal import OutpostProtocol

/// Runs whose source credential allows one session at a time take turns: a Tableau personal access token ends its
/// previous session when it signs in again, so two runs with the same token at once would break each other.
///
/// A run holds its credential from the moment its job process starts until it ends; a second run with the same
/// credential waits, first come first served, with its lease kept. The credential is known by its secret references
/// (the control plane never sends values): two connections naming the same token through different references are
/// not recognised as sharing it.
final class SessionCredentials: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var held: Set<String> = []
        var waiters: [String: [Waiter]] = [:]
        var nextWaiter = 0
    }

    private let state = MutexBox(State())

    /// The key of a job's one-session credential, or nil when its source has none: for a Tableau source, its token's
    /// references and the server they sign in to.
    static func key(for job: JobSpec) -> String? {
        guard job.sourceURL.lowercased().hasPrefix("tableau:"), let secret = job.secrets["patSecret"] else {
            return nil
        }
        return "tableau-pat\u{0}\(job.secrets["patName"] ?? "")\u{0}\(secret)"
    }

    /// Takes the credential at once if it is free.
    func tryAcquire(_ key: String) -> Bool {
        state.withLock { $0.held.insert(key).inserted }
    }

    /// Waits for the credential; returns false, without it, when the calling task is cancelled first.
    func acquire(_ key: String) async -> Bool {
        let id = state.withLock { value in
            defer { value.nextWaiter += 1 }
            return value.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { value -> Bool? in
                    if Task.isCancelled { return false }
                    if value.held.insert(key).inserted { return true }
                    value.waiters[key, default: []].append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { value -> Waiter? in
                guard let index = value.waiters[key]?.firstIndex(where: { $0.id == id }) else { return nil }
                return value.waiters[key]?.remove(at: index)
            }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Gives the credential back; the first run waiting for it takes it.
    func release(_ key: String) {
        let next = state.withLock { value -> Waiter? in
            if var queue = value.waiters[key], !queue.isEmpty {
                let first = queue.removeFirst()
                value.waiters[key] = queue.isEmpty ? nil : queue
                return first
            }
            value.held.remove(key)
            return nil
        }
        next?.continuation.resume(returning: true)
    }
}
