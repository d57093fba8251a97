/// `POST /v1/runs/{run}/start`: two-phase start; the run begins only when this succeeds.
public struct StartRequest: Codable, Sendable, Equatable {
    public var leaseId: Int64
    public var agentId: String

    public init(leaseId: Int64, agentId: String) {
        self.leaseId = leaseId
        self.agentId = agentId
    }
}

/// `POST /v1/runs/{run}/lease`: renewal, every ttl/4. The answer may cancel the run.
public struct LeaseRenewalRequest: Codable, Sendable, Equatable {
    public var leaseId: Int64

    public init(leaseId: Int64) {
        self.leaseId = leaseId
    }
}

/// The answer to `start` and to a renewal. A stale lease is answered 409 instead.
public struct LeaseResponse: Codable, Sendable, Equatable {
    public var leaseId: Int64
    public var leaseTTLSeconds: Int
    /// The run was cancelled (from the admin API or UI): stop the job and `complete` as cancelled.
    public var cancel: Bool
    public var cancelReason: String?

    public init(leaseId: Int64, leaseTTLSeconds: Int, cancel: Bool = false, cancelReason: String? = nil) {
        self.leaseId = leaseId
        self.leaseTTLSeconds = leaseTTLSeconds
        self.cancel = cancel
        self.cancelReason = cancelReason
    }
}

/// The newest entry of an agent's audit ledger: how many entries it has and the last one's hash. A hash chain
/// cannot show that its newest entries were cut off; the control plane keeping the longest head it was told of can.
public struct AuditHead: Codable, Sendable, Equatable {
    /// The number of entries (the last entry's `seq`).
    public var sequence: Int64
    /// Lower-case hex SHA-256 of the last entry.
    public var hash: String

    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }
}

/// `POST /v1/agent/heartbeat`, every ~30 s with jitter.
public struct HeartbeatRequest: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case idle, busy, draining
    }

    public struct RunningLease: Codable, Sendable, Equatable {
        public var runId: String
        public var leaseId: Int64

        public init(runId: String, leaseId: Int64) {
            self.runId = runId
            self.leaseId = leaseId
        }
    }

    public var agentId: String
    public var agentName: String
    public var version: String
    public var state: State
    public var runningLeases: [RunningLease]
    public var freeSlots: Int
    public var cpuPercent: Double?
    public var memoryBytes: Int64?
    public var diskFreeBytes: Int64?
    public var spoolBacklogBytes: Int64?
    public var lastError: String?
    /// The head of the agent's audit ledger; the control plane keeps the longest it saw.
    public var auditHead: AuditHead?

    public init(
        agentId: String, agentName: String, version: String, state: State, runningLeases: [RunningLease],
        freeSlots: Int
    ) {
        self.agentId = agentId
        self.agentName = agentName
        self.version = version
        self.state = state
        self.runningLeases = runningLeases
        self.freeSlots = freeSlots
    }
}

/// What the control plane asks of a heartbeating agent.
public struct HeartbeatResponse: Codable, Sendable, Equatable {
    /// Stop claiming, finish running jobs, then exit.
    public var drain: Bool
    /// The oldest agent version this server supports.
    public var minimumAgentVersion: String
    /// When an agent older than the minimum will be refused (RFC 3339); set only when it applies.
    public var versionDeadline: String?
    /// When the calling key expires (RFC 3339), so the agent can warn ahead of time.
    public var keyExpiresAt: String?
    public var serverTime: String
    /// The longest audit ledger head the control plane has seen from this agent; an agent whose ledger is shorter
    /// lost entries.
    public var auditHead: AuditHead?

    public init(
        drain: Bool, minimumAgentVersion: String, versionDeadline: String? = nil, keyExpiresAt: String? = nil,
        serverTime: String, auditHead: AuditHead? = nil
    ) {
        self.auditHead = auditHead
        self.drain = drain
        self.minimumAgentVersion = minimumAgentVersion
        self.versionDeadline = versionDeadline
        self.keyExpiresAt = keyExpiresAt
        self.serverTime = serverTime
    }
}

/// The answer to an accepted log chunk (`PUT /v1/runs/{run}/logs?offset=N`, gzip body, lease header).
/// A chunk at the wrong offset is answered 409 with `ProblemResponse.expectedOffset`; re-sending an already
/// stored chunk is answered 200 with the same `nextOffset` (idempotent).
public struct LogChunkResponse: Codable, Sendable, Equatable {
    /// The uncompressed byte offset the next chunk must start at.
    public var nextOffset: Int64

    public init(nextOffset: Int64) {
        self.nextOffset = nextOffset
    }
}
