public import OutpostProtocol

/// What the spool remembers of one run, so that an agent restarted mid-run picks up where it stopped.
public struct RunState: Codable, Sendable, Equatable {
    /// How far the run got.
    public enum Phase: String, Codable, Sendable {
        /// The job process was running (or about to): it is started again under the same lease.
        case extracting
        /// The files are in the spool; delivery is in progress.
        case delivering
        /// Delivered (or failed); only the log and `complete` are left.
        case completing
    }

    public var assignment: RunAssignment
    public var phase: Phase
    /// Set once the job ended: the status `complete` will carry.
    public var status: CompleteRequest.Status?
    public var error: String?
    /// Files already accepted by the control plane (direct delivery), by name.
    public var delivered: [String]
    /// For relay delivery: where the files went.
    public var relay: CompleteRequest.RelayObjects?
    /// Log bytes the control plane has acknowledged.
    public var logAcknowledged: Int64
    /// Log bytes the spool could not hold.
    public var logDropped: Int64
    /// RFC 3339, for the audit ledger.
    public var startedAt: String
    public var policy: String?
    public var source: String?
    /// The local policy refused the job's source (or a host it needed).
    public var denied: Bool?

    public init(assignment: RunAssignment, startedAt: String) {
        self.assignment = assignment
        self.phase = .extracting
        self.delivered = []
        self.logAcknowledged = 0
        self.logDropped = 0
        self.startedAt = startedAt
    }
}
