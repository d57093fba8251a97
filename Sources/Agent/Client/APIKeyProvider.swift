public import Secrets

/// The agent's API key, read just in time from its secret store and re-read so that rotation needs no restart.
///
/// The key is re-read every `refreshInterval`, and at once after a 401 (the key may have been rotated in the
/// store). A 401 with the key the store still holds means the key was revoked or expired: the agent stops
/// claiming. A store that cannot be read makes the agent not ready. In both cases the store is asked again no
/// more often than every `retryInterval`, so a broken store is not hammered.
public actor APIKeyProvider {
    /// Why there is no usable key, in words safe to log and show.
    public enum Problem: Sendable, Equatable {
        case unreadable(String)
        case refused(String)

        public var message: String {
            switch self {
            case .unreadable(let reason): "the API key cannot be read from its secret store: \(reason)"
            case .refused(let reason): "the control plane refuses the API key: \(reason)"
            }
        }
    }

    public nonisolated let reference: SecretReference
    private let resolver: SecretResolver
    private let refreshInterval: Duration
    private let retryInterval: Duration
    private var current: String?
    private var readAt: ContinuousClock.Instant?
    private var lastAttempt: ContinuousClock.Instant?
    public private(set) var problem: Problem?

    public init(
        reference: SecretReference, resolver: SecretResolver, refreshInterval: Duration, retryInterval: Duration
    ) {
        self.reference = reference
        self.resolver = resolver
        self.refreshInterval = refreshInterval
        self.retryInterval = retryInterval
    }

    /// The key to authenticate with.
    ///
    /// - Throws: `AgentError` `.apiKeyUnavailable` while the store cannot be read or the key is refused.
    public func key() async throws -> String {
        let now = ContinuousClock.now
        if let problem {
            if let lastAttempt, now - lastAttempt < retryInterval {
                throw AgentError(.apiKeyUnavailable, problem.message)
            }
            await reread()
        } else if current == nil || readAt.map({ now - $0 >= refreshInterval }) ?? true {
            await reread()
        }
        if let problem { throw AgentError(.apiKeyUnavailable, problem.message) }
        return current!
    }

    /// Called after a 401 answered a request made with `key`. Returns true when the store now holds another key,
    /// so the request is worth repeating with it; otherwise the key counts as refused until the store changes.
    public func unauthorized(with key: String, reason: String) async -> Bool {
        if let current, key != current, problem == nil { return true }
        await reread()
        if let current, current != key, problem == nil { return true }
        if problem == nil { problem = .refused(reason) }
        return false
    }

    /// Whether the agent may claim work.
    public var isUsable: Bool { problem == nil && current != nil }

    /// Reads the store; a refused key stays refused until the store holds a different one.
    private func reread() async {
        lastAttempt = ContinuousClock.now
        do {
            let value = try await resolver.resolve(reference).trimmingWhitespace
            guard !value.isEmpty else {
                problem = .unreadable("\(reference) is empty")
                return
            }
            switch problem {
            case .refused where value == current: break
            default: problem = nil
            }
            current = value
            readAt = lastAttempt
        } catch {
            problem = .unreadable("\(error)")
        }
    }
}
