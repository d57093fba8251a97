/// The Agent module's one error type: what went wrong, in words safe to log and to send to the control plane.
///
/// Messages never contain a secret value or an API key. Whether a failed call is worth repeating is decided
/// here, in `isRetryable`, and nowhere else.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The configuration file or an override is invalid.
        case invalidConfiguration
        /// The control plane could not be reached, timed out, or answered 408/429/5xx or an undecodable body.
        case unavailable
        /// The control plane refused the request for good (4xx other than the retryable ones).
        case rejected
        /// The API key was refused (401): re-read it from its store before trying again.
        case unauthorized
        /// The lease is no longer ours (409 `stale_lease`): drop the job.
        case staleLease
        /// A log chunk was sent at the wrong offset; the server said which one it expects.
        case offsetMismatch
        /// The API key could not be read from its secret store.
        case apiKeyUnavailable
        /// The local policy refused the job's source or destination.
        case policyDenied
        /// The job process could not be started or ended abnormally.
        case job
        /// Delivering files failed.
        case delivery
        /// Local storage (spool, data dir) failed.
        case io
    }

    public let code: Code
    public let message: String
    /// The HTTP status, when the control plane answered.
    public let status: Int?
    /// For `.offsetMismatch`: the offset the server expects.
    public let expectedOffset: Int64?
    /// For retryable answers with `Retry-After`: how long the server asked us to wait.
    public let retryAfter: Duration?

    public init(
        _ code: Code, _ message: String, status: Int? = nil, expectedOffset: Int64? = nil,
        retryAfter: Duration? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.expectedOffset = expectedOffset
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    /// Network errors, 408, 429, 5xx and undecodable bodies are worth repeating; everything else is final.
    public var isRetryable: Bool { code == .unavailable }
}
