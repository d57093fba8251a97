public import OutpostProtocol

// Bodies of the admin API (`/v1/admin`, admin keys only). Timestamps are RFC 3339 strings; lists come wrapped
// in an object so fields can be added without breaking clients.

/// `POST /v1/admin/keys`.
public struct KeyCreateRequest: Codable, Sendable, Equatable {
    public var name: String
    public var role: APIKey.Role
    /// RFC 3339; nil for a key that does not expire.
    public var expiresAt: String?

    public init(name: String, role: APIKey.Role, expiresAt: String? = nil) {
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
    }
}

/// A key as listed: never its hash, never its text.
public struct KeySummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: APIKey.Role
    /// The first characters of the key (`opk_Ab12Cd34`), to recognise it.
    public var prefix: String
    public var createdAt: String
    public var expiresAt: String?
    public var revokedAt: String?
    public var lastUsedAt: String?

    init(_ key: APIKey) {
        id = key.id
        name = key.name
        role = key.role
        prefix = key.prefix
        createdAt = key.createdAt.rfc3339
        expiresAt = key.expiresAt?.rfc3339
        revokedAt = key.revokedAt?.rfc3339
        lastUsedAt = key.lastUsedAt?.rfc3339
    }
}

/// The answer to a key creation: the only time the key text is ever shown.
public struct KeyCreatedResponse: Codable, Sendable, Equatable {
    /// The key itself (`opk_…`): store it now, it cannot be shown again.
    public var key: String
    public var apiKey: KeySummary
}

/// `GET /v1/admin/keys`.
public struct KeyList: Codable, Sendable, Equatable {
    public var keys: [KeySummary]
}

/// `POST /v1/admin/connections` and `PUT /v1/admin/connections/{id}`: a full description of the source.
public struct ConnectionRequest: Codable, Sendable, Equatable {
    public var name: String
    /// `postgresql`, `sqlite` or `snowflake`.
    public var sourceKind: String
    /// Without credentials: `postgres://reader@db:5432/sales`, `sqlite:/data/shop.db`,
    /// `snowflake://OUTPOST_SVC@myorg-myacct/SALES?warehouse=WH&role=R`.
    public var sourceURL: String
    /// Secret references by role (`password` → `aws-sm:prod/pg#password`); never values.
    public var secrets: [String: String]?
    public var filters: ConnectionFilters?
    /// Direct ingestion when omitted.
    public var delivery: DeliverySettings?
    /// `default` when omitted.
    public var pool: String?
    /// A five-field cron expression; nil for "run now" only.
    public var schedule: String?

    public init(
        name: String, sourceKind: String, sourceURL: String, secrets: [String: String]? = nil,
        filters: ConnectionFilters? = nil, delivery: DeliverySettings? = nil, pool: String? = nil,
        schedule: String? = nil
    ) {
        self.name = name
        self.sourceKind = sourceKind
        self.sourceURL = sourceURL
        self.secrets = secrets
        self.filters = filters
        self.delivery = delivery
        self.pool = pool
        self.schedule = schedule
    }
}

/// Name filters in a connection request; every list may be omitted.
public struct ConnectionFilters: Codable, Sendable, Equatable {
    public var includeDatabases: [String]?
    public var excludeDatabases: [String]?
    public var includeSchemas: [String]?
    public var excludeSchemas: [String]?
    public var includeTables: [String]?
    public var excludeTables: [String]?
    public var excludeKinds: [String]?
    public var excludeFields: [String]?

    public init(
        includeDatabases: [String]? = nil, excludeDatabases: [String]? = nil, includeSchemas: [String]? = nil,
        excludeSchemas: [String]? = nil, includeTables: [String]? = nil, excludeTables: [String]? = nil,
        excludeKinds: [String]? = nil, excludeFields: [String]? = nil
    ) {
        self.includeDatabases = includeDatabases
        self.excludeDatabases = excludeDatabases
        self.includeSchemas = includeSchemas
        self.excludeSchemas = excludeSchemas
        self.includeTables = includeTables
        self.excludeTables = excludeTables
        self.excludeKinds = excludeKinds
        self.excludeFields = excludeFields
    }
}

/// Delivery in a connection request.
public struct DeliverySettings: Codable, Sendable, Equatable {
    public var mode: Delivery.Mode
    /// Required for `relay`, refused for `direct`.
    public var relay: RelaySettings?

    public init(mode: Delivery.Mode, relay: RelaySettings? = nil) {
        self.mode = mode
        self.relay = relay
    }
}

/// A customer bucket in a connection request; no credentials (the agent has its own).
public struct RelaySettings: Codable, Sendable, Equatable {
    public var bucket: String
    public var prefix: String?
    public var region: String
    public var endpoint: String?
    /// `AES256` (default) or `aws:kms`.
    public var serverSideEncryption: String?
    public var kmsKeyId: String?

    public init(
        bucket: String, prefix: String? = nil, region: String, endpoint: String? = nil,
        serverSideEncryption: String? = nil, kmsKeyId: String? = nil
    ) {
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.endpoint = endpoint
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyId = kmsKeyId
    }
}

/// A connection as the admin API shows it.
public struct ConnectionResponse: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var sourceKind: String
    public var sourceURL: String
    public var secrets: [String: String]
    public var filters: JobFilters
    public var delivery: Delivery
    public var pool: String
    public var schedule: String?
    /// When the scheduler queues the next run (RFC 3339, UTC); absent without a schedule.
    public var nextRunAt: String?
    public var createdAt: String
    public var updatedAt: String

    init(_ connection: ConnectionRecord) {
        id = connection.id
        name = connection.name
        sourceKind = connection.sourceKind
        sourceURL = connection.sourceURL
        secrets = connection.secrets
        filters = connection.filters
        delivery = connection.delivery
        pool = connection.pool
        schedule = connection.schedule
        nextRunAt = connection.nextRunAt?.rfc3339
        createdAt = connection.createdAt.rfc3339
        updatedAt = connection.updatedAt.rfc3339
    }
}

/// `GET /v1/admin/connections`.
public struct ConnectionList: Codable, Sendable, Equatable {
    public var connections: [ConnectionResponse]
}

/// A run as the admin API shows it.
public struct RunResponse: Codable, Sendable, Equatable {
    public var id: String
    public var connectionId: String
    public var status: RunRecord.Status
    public var attempt: Int
    public var maxAttempts: Int
    public var leaseId: Int64
    public var leaseAgentId: String?
    public var leaseExpiresAt: String?
    public var cancelRequested: Bool
    public var cancelReason: String?
    public var error: String?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var logBytes: Int64
    /// The log's length as the agent reported it on completion; more than `logBytes` when chunks were lost.
    public var logTotalBytes: Int64?
    public var logSHA256: String?
    /// Bytes the agent dropped before shipping; a partial log shows as such.
    public var logDroppedBytes: Int64?
    /// Where the latest attempt's log starts in the log (0 for a first attempt): earlier attempts' logs come
    /// before it, each kept whole. `logSHA256` is the digest of the bytes from here.
    public var logAttemptOffset: Int64

    init(_ run: RunRecord) {
        id = run.id
        connectionId = run.connectionId
        status = run.status
        attempt = run.attempt
        maxAttempts = run.maxAttempts
        leaseId = run.leaseId
        leaseAgentId = run.leaseAgentId
        leaseExpiresAt = run.leaseExpiresAt?.rfc3339
        cancelRequested = run.cancelRequested
        cancelReason = run.cancelReason
        error = run.error
        createdAt = run.createdAt.rfc3339
        startedAt = run.startedAt?.rfc3339
        finishedAt = run.finishedAt?.rfc3339
        logBytes = run.logBytes
        logTotalBytes = run.logTotalBytes
        logSHA256 = run.logSHA256
        logDroppedBytes = run.logDroppedBytes
        logAttemptOffset = run.logAttemptOffset
    }
}

/// `GET /v1/admin/runs`.
public struct RunList: Codable, Sendable, Equatable {
    public var runs: [RunResponse]
}

/// `POST /v1/admin/runs/{id}/cancel`; the body may be omitted.
public struct CancelRequest: Codable, Sendable, Equatable {
    /// Shown to the agent and in the run; secret-free.
    public var reason: String?

    public init(reason: String? = nil) {
        self.reason = reason
    }
}

/// `GET /v1/admin/runs/{id}/logs?from=N&limit=M`: a slice of the run's log.
public struct RunLogResponse: Codable, Sendable, Equatable {
    public var runId: String
    /// The byte offset the slice starts at.
    public var from: Int64
    /// Where the next read starts; equals `totalBytes` when the stored log was read to its end.
    public var nextOffset: Int64
    /// The log's stored length so far.
    public var totalBytes: Int64
    /// The run has finished: no more log will arrive.
    public var finished: Bool
    /// The bytes as UTF-8; a slice never ends inside a multi-byte character.
    public var text: String
}

/// An agent as the admin API shows it.
public struct AgentResponse: Codable, Sendable, Equatable {
    /// `active` (heard within two heartbeat intervals), `stale`, or `offline` (silent for ten minutes).
    public enum Status: String, Codable, Sendable {
        case active, stale, offline
    }

    public var id: String
    public var name: String
    public var version: String
    public var state: String
    public var status: Status
    public var freeSlots: Int
    public var runningLeases: Int
    public var cpuPercent: Double?
    public var memoryBytes: Int64?
    public var diskFreeBytes: Int64?
    public var spoolBacklogBytes: Int64?
    public var lastError: String?
    public var lastSeenAt: String
    public var drainRequested: Bool
    /// The longest audit ledger head the agent reported.
    public var auditHead: AuditHead?
    /// Set once the agent reported a ledger shorter than, or different from, one it had reported: entries were
    /// removed or rewritten (`outpost audit verify --server` on the agent host says which).
    public var auditProblem: String?

    init(_ agent: AgentRecord, status: Status) {
        auditHead = agent.auditHead
        auditProblem = agent.auditProblem
        id = agent.id
        name = agent.name
        version = agent.version
        state = agent.state
        self.status = status
        freeSlots = agent.freeSlots
        runningLeases = agent.runningLeases
        cpuPercent = agent.cpuPercent
        memoryBytes = agent.memoryBytes
        diskFreeBytes = agent.diskFreeBytes
        spoolBacklogBytes = agent.spoolBacklogBytes
        lastError = agent.lastError
        lastSeenAt = agent.lastSeenAt.rfc3339
        drainRequested = agent.drainRequested
    }
}

/// `GET /v1/admin/agents`.
public struct AgentList: Codable, Sendable, Equatable {
    public var agents: [AgentResponse]
}
