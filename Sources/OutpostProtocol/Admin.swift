// Bodies of the admin API (`/v1/admin`, admin keys only), shared by the server and `outpost admin`. Timestamps are
// RFC 3339 strings (CivilTime's format: UTC, milliseconds); lists come wrapped in an object so fields can be added
// without breaking clients.

/// What an API key may do.
public enum APIKeyRole: String, Sendable, Codable, CaseIterable {
    /// May call the agent API.
    case agent
    /// May call the admin API and sign in to the UI.
    case admin
}

/// Where a run is, from queue to outcome.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for an agent.
    case queued
    /// Claimed: an agent holds a lease but has not confirmed `start`.
    case leased
    case running
    /// The agent completed; the delivery is being verified and published.
    case ingesting
    case succeeded
    /// Succeeded with some schemas incomplete.
    case partial
    case failed
    case cancelled
    /// The delivery was valid but not published: a newer run of the connection had published already, and a
    /// catalog never goes back to an older snapshot (an ingestion recovered after a crash, say).
    case superseded

    public var isFinished: Bool { [.succeeded, .partial, .failed, .cancelled, .superseded].contains(self) }
}

/// `POST /v1/admin/keys`.
public struct KeyCreateRequest: Codable, Sendable, Equatable {
    public var name: String
    public var role: APIKeyRole
    /// RFC 3339; nil for a key that does not expire.
    public var expiresAt: String?

    public init(name: String, role: APIKeyRole, expiresAt: String? = nil) {
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
    }
}

/// A key as listed: never its hash, never its text.
public struct KeySummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: APIKeyRole
    /// The first characters of the key (`opk_Ab12Cd34`), to recognise it.
    public var prefix: String
    public var createdAt: String
    public var expiresAt: String?
    public var revokedAt: String?
    public var lastUsedAt: String?

    public init(
        id: String, name: String, role: APIKeyRole, prefix: String, createdAt: String, expiresAt: String?,
        revokedAt: String?, lastUsedAt: String?
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.prefix = prefix
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// The answer to a key creation: the only time the key text is ever shown.
public struct KeyCreatedResponse: Codable, Sendable, Equatable {
    /// The key itself (`opk_…`): store it now, it cannot be shown again.
    public var key: String
    public var apiKey: KeySummary

    public init(key: String, apiKey: KeySummary) {
        self.key = key
        self.apiKey = apiKey
    }
}

/// `GET /v1/admin/keys`.
public struct KeyList: Codable, Sendable, Equatable {
    public var keys: [KeySummary]

    public init(keys: [KeySummary]) {
        self.keys = keys
    }
}

/// `POST /v1/admin/connections` and `PUT /v1/admin/connections/{id}`: a full description of the source.
public struct ConnectionRequest: Codable, Sendable, Equatable {
    public var name: String
    /// `postgresql`, `sqlite`, `snowflake` or `tableau`.
    public var sourceKind: String
    /// Without credentials: `postgres://reader@db:5432/sales`, `sqlite:/data/shop.db`,
    /// `snowflake://OUTPOST_SVC@myorg-myacct/SALES?warehouse=WH&role=R`, `tableau://tableau.example.com/sales`.
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
    /// `s3` (default), `gcs` or `azure-blob`.
    public var kind: RelayKind?
    /// The bucket; for Azure, the container.
    public var bucket: String
    /// Azure only: the storage account.
    public var account: String?
    public var prefix: String?
    /// Required for S3, refused for Cloud Storage.
    public var region: String?
    public var endpoint: String?
    /// S3 only: `AES256` (default) or `aws:kms`.
    public var serverSideEncryption: String?
    /// S3 only, with `aws:kms`.
    public var kmsKeyId: String?
    /// Cloud Storage only: a customer-managed Cloud KMS key.
    public var kmsKeyName: String?
    /// Azure only: an encryption scope of the storage account.
    public var encryptionScope: String?

    public init(
        kind: RelayKind? = nil, bucket: String, account: String? = nil, prefix: String? = nil, region: String? = nil,
        endpoint: String? = nil, serverSideEncryption: String? = nil, kmsKeyId: String? = nil,
        kmsKeyName: String? = nil, encryptionScope: String? = nil
    ) {
        self.kind = kind
        self.bucket = bucket
        self.account = account
        self.prefix = prefix
        self.region = region
        self.endpoint = endpoint
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyId = kmsKeyId
        self.kmsKeyName = kmsKeyName
        self.encryptionScope = encryptionScope
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

    public init(
        id: String, name: String, sourceKind: String, sourceURL: String, secrets: [String: String], filters: JobFilters,
        delivery: Delivery, pool: String, schedule: String?, nextRunAt: String?, createdAt: String, updatedAt: String
    ) {
        self.id = id
        self.name = name
        self.sourceKind = sourceKind
        self.sourceURL = sourceURL
        self.secrets = secrets
        self.filters = filters
        self.delivery = delivery
        self.pool = pool
        self.schedule = schedule
        self.nextRunAt = nextRunAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// `GET /v1/admin/connections`.
public struct ConnectionList: Codable, Sendable, Equatable {
    public var connections: [ConnectionResponse]

    public init(connections: [ConnectionResponse]) {
        self.connections = connections
    }
}

/// A run as the admin API shows it.
public struct RunResponse: Codable, Sendable, Equatable {
    public var id: String
    public var connectionId: String
    public var status: RunStatus
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
    /// What publishing the run's delivery changed in the catalog; absent for a run that published nothing.
    public var catalogChanges: CatalogChanges?

    public init(
        id: String, connectionId: String, status: RunStatus, attempt: Int, maxAttempts: Int, leaseId: Int64,
        leaseAgentId: String?, leaseExpiresAt: String?, cancelRequested: Bool, cancelReason: String?, error: String?,
        createdAt: String, startedAt: String?, finishedAt: String?, logBytes: Int64, logTotalBytes: Int64?,
        logSHA256: String?, logDroppedBytes: Int64?, logAttemptOffset: Int64
    ) {
        self.id = id
        self.connectionId = connectionId
        self.status = status
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseId = leaseId
        self.leaseAgentId = leaseAgentId
        self.leaseExpiresAt = leaseExpiresAt
        self.cancelRequested = cancelRequested
        self.cancelReason = cancelReason
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.logBytes = logBytes
        self.logTotalBytes = logTotalBytes
        self.logSHA256 = logSHA256
        self.logDroppedBytes = logDroppedBytes
        self.logAttemptOffset = logAttemptOffset
    }
}

/// How many of a connection's catalog assets a run's publish created, updated, left unchanged and deleted.
public struct CatalogChanges: Codable, Sendable, Equatable {
    public var created: Int
    public var updated: Int
    public var unchanged: Int
    public var deleted: Int

    public init(created: Int, updated: Int, unchanged: Int, deleted: Int) {
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.deleted = deleted
    }
}

/// `GET /v1/admin/runs`.
public struct RunList: Codable, Sendable, Equatable {
    public var runs: [RunResponse]

    public init(runs: [RunResponse]) {
        self.runs = runs
    }
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

    public init(runId: String, from: Int64, nextOffset: Int64, totalBytes: Int64, finished: Bool, text: String) {
        self.runId = runId
        self.from = from
        self.nextOffset = nextOffset
        self.totalBytes = totalBytes
        self.finished = finished
        self.text = text
    }
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

    public init(
        id: String, name: String, version: String, state: String, status: Status, freeSlots: Int, runningLeases: Int,
        cpuPercent: Double?, memoryBytes: Int64?, diskFreeBytes: Int64?, spoolBacklogBytes: Int64?, lastError: String?,
        lastSeenAt: String, drainRequested: Bool, auditHead: AuditHead?, auditProblem: String?
    ) {
        self.id = id
        self.name = name
        self.version = version
        self.state = state
        self.status = status
        self.freeSlots = freeSlots
        self.runningLeases = runningLeases
        self.cpuPercent = cpuPercent
        self.memoryBytes = memoryBytes
        self.diskFreeBytes = diskFreeBytes
        self.spoolBacklogBytes = spoolBacklogBytes
        self.lastError = lastError
        self.lastSeenAt = lastSeenAt
        self.drainRequested = drainRequested
        self.auditHead = auditHead
        self.auditProblem = auditProblem
    }
}

/// `GET /v1/admin/agents`.
public struct AgentList: Codable, Sendable, Equatable {
    public var agents: [AgentResponse]

    public init(agents: [AgentResponse]) {
        self.agents = agents
    }
}
