public import OutpostProtocol

/// One execution of a connection's extraction, from queue to outcome.
public struct RunRecord: Sendable, Equatable {
    /// The run's status, as the admin API shows it too.
    public typealias Status = RunStatus

    public var tenantId: String
    public var id: String
    public var connectionId: String
    public var status: Status
    /// Attempts so far; a run whose lease expired is re-queued until `maxAttempts`.
    public var attempt: Int
    public var maxAttempts: Int
    /// The current fencing token; 0 before the first claim. Strictly increasing.
    public var leaseId: Int64
    public var leaseAgentId: String?
    public var leaseExpiresAt: Timestamp?
    public var cancelRequested: Bool
    public var cancelReason: String?
    /// Secret-free reason for failed runs.
    public var error: String?
    public var createdAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// Log bytes stored so far (the next expected offset).
    public var logBytes: Int64
    /// The log's total length as the agent reported it on `complete`; nil until then. Differs from `logBytes`
    /// when chunks were lost, so a partial log shows as partial.
    public var logTotalBytes: Int64?
    /// Lower-case hex SHA-256 of the whole log as the agent reported it on `complete`.
    public var logSHA256: String?
    /// Bytes the agent dropped before shipping (spool full, line too long), as reported on `complete`.
    public var logDroppedBytes: Int64?
    /// Where the current attempt's log starts in the stored log: 0 for the first attempt; a re-leased attempt's log
    /// is appended after what earlier attempts shipped, so every attempt's log is kept whole. The agent's offsets
    /// (and its reported totals) count from here.
    public var logAttemptOffset: Int64 = 0
    /// What publishing the run's delivery changed in its connection's catalog; nil for a run that published
    /// nothing (or finished before this was recorded).
    public var catalogChanges: PublishSummary?

    public init(
        tenantId: String, id: String, connectionId: String, status: Status, attempt: Int, maxAttempts: Int,
        leaseId: Int64, createdAt: Timestamp
    ) {
        self.tenantId = tenantId
        self.id = id
        self.connectionId = connectionId
        self.status = status
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseId = leaseId
        self.cancelRequested = false
        self.createdAt = createdAt
        self.logBytes = 0
    }
}
