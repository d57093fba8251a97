// The OutpostProtocol module is the agent ↔ control-plane wire protocol v1: request and response bodies,
// paths, headers and version constants, shared by the server that serves it and the agent that calls it.
// Foundation only; no transport code. Every call is made by the agent (outbound only), authenticated with a
// tenant-scoped API key as `Authorization: Bearer <key>`.

/// Version constants and the paths of protocol v1.
public enum AgentProtocol {
    /// The protocol version in every path (`/v1/...`).
    public static let version = "v1"
    /// The longest a claim is held open by the server before answering "nothing to do".
    public static let maximumClaimWaitSeconds = 50
    /// The largest request body the agent API accepts, except log chunks.
    public static let maximumBodyBytes = 1024 * 1024
    /// The largest compressed log chunk the agent API accepts.
    public static let maximumLogChunkBytes = 1024 * 1024
    /// Header carrying the lease id on log uploads (the body is the gzip chunk itself).
    public static let leaseHeader = "X-Outpost-Lease"
    /// Header carrying the calling agent's id on every call about a run (`start`, `lease`, `logs`, `uploads`,
    /// `complete`): a run's lease is bound to the agent that claimed it, and a call from any other agent of the
    /// tenant is refused as a stale lease.
    public static let agentHeader = "X-Outpost-Agent"

    public enum Path {
        public static let claim = "/v1/agent/claim"
        public static let heartbeat = "/v1/agent/heartbeat"
        public static func start(run: String) -> String { "/v1/runs/\(run)/start" }
        public static func lease(run: String) -> String { "/v1/runs/\(run)/lease" }
        /// `PUT` with `?offset=N`.
        public static func logs(run: String) -> String { "/v1/runs/\(run)/logs" }
        public static func uploads(run: String) -> String { "/v1/runs/\(run)/uploads" }
        public static func complete(run: String) -> String { "/v1/runs/\(run)/complete" }
    }
}

/// The body of every 4xx/5xx answer: a stable code and a message safe to show.
public struct ProblemResponse: Codable, Sendable, Equatable {
    /// Machine-readable, one of `ProblemResponse.codes`; a client treats a code it does not know by the status.
    public var error: String
    public var message: String
    /// For `invalid_request`: the field at fault, as a JSON path (`files[2].sha256`).
    public var field: String?
    /// For `offset_mismatch`: the offset the server expects next.
    public var expectedOffset: Int64?

    /// Every code the control plane sends, as the OpenAPI document's `Problem` schema lists them.
    public static let codes = [
        "invalid_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict", "stale_lease",
        "offset_mismatch", "payload_too_large", "rate_limited", "unsupported_version", "invalid_signature",
        "expired_grant", "size_mismatch", "checksum_mismatch", "not_implemented", "unavailable", "internal",
    ]

    public init(error: String, message: String, field: String? = nil, expectedOffset: Int64? = nil) {
        self.error = error
        self.message = message
        self.field = field
        self.expectedOffset = expectedOffset
    }
}
