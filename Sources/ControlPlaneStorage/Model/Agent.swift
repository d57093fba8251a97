public import OutpostProtocol

/// An agent as last seen through its heartbeats and claims.
public struct AgentRecord: Sendable, Equatable {
    public var tenantId: String
    /// Chosen by the agent, stable across restarts.
    public var id: String
    public var name: String
    public var version: String
    /// `idle`, `busy` or `draining`, as last reported.
    public var state: String
    public var freeSlots: Int
    public var runningLeases: Int
    public var cpuPercent: Double?
    public var memoryBytes: Int64?
    public var diskFreeBytes: Int64?
    public var spoolBacklogBytes: Int64?
    public var lastError: String?
    public var lastSeenAt: Timestamp
    /// An admin asked it to drain; delivered on the next heartbeat.
    public var drainRequested: Bool
    /// The longest audit ledger head the agent reported (`AgentRepository.recordAuditHead`); not written by
    /// `upsertAgent`.
    public var auditHead: AuditHead?
    /// Set when the agent once reported a ledger shorter than, or different from, one it reported before: its
    /// newest entries were removed or rewritten. Kept until an operator looks into it (it never clears itself).
    public var auditProblem: String?
    /// The API key the agent last called with (its id), so an operator can tell which key to rotate or revoke;
    /// nil until it calls with this version of the server.
    public var keyId: String?

    public init(
        tenantId: String, id: String, name: String, version: String, state: String, freeSlots: Int,
        runningLeases: Int, lastSeenAt: Timestamp, drainRequested: Bool = false
    ) {
        self.tenantId = tenantId
        self.id = id
        self.name = name
        self.version = version
        self.state = state
        self.freeSlots = freeSlots
        self.runningLeases = runningLeases
        self.lastSeenAt = lastSeenAt
        self.drainRequested = drainRequested
    }
}
