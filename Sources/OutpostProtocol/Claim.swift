/// `POST /v1/agent/claim`: the agent asks for work, offering free slots. Answered at once when a run is
/// queued, otherwise held up to `waitSeconds` (≤ 50); 204 when nothing came.
public struct ClaimRequest: Codable, Sendable, Equatable {
    /// The agent's stable identity (chosen by the agent, persisted in its data dir).
    public var agentId: String
    public var agentName: String
    public var version: String
    /// Slots free for new runs; the server never hands out more runs than this.
    public var freeSlots: Int
    /// The pools this agent serves; a connection names the pool that may run it.
    public var pools: [String]
    /// How long the server may hold the request open.
    public var waitSeconds: Int

    public init(agentId: String, agentName: String, version: String, freeSlots: Int, pools: [String], waitSeconds: Int)
    {
        self.agentId = agentId
        self.agentName = agentName
        self.version = version
        self.freeSlots = freeSlots
        self.pools = pools
        self.waitSeconds = waitSeconds
    }
}

/// A run handed to an agent. Nothing may run before `start` with this lease succeeds.
public struct ClaimResponse: Codable, Sendable, Equatable {
    public var run: RunAssignment

    public init(run: RunAssignment) {
        self.run = run
    }
}

/// One run as the agent sees it.
public struct RunAssignment: Codable, Sendable, Equatable {
    public var runId: String
    /// The fencing token: strictly increasing per run; every later call carries it.
    public var leaseId: Int64
    public var leaseTTLSeconds: Int
    /// 1 for the first attempt; higher after lease expiry re-queued the run.
    public var attempt: Int
    public var job: JobSpec
    public var limits: RunLimits

    public init(runId: String, leaseId: Int64, leaseTTLSeconds: Int, attempt: Int, job: JobSpec, limits: RunLimits) {
        self.runId = runId
        self.leaseId = leaseId
        self.leaseTTLSeconds = leaseTTLSeconds
        self.attempt = attempt
        self.job = job
        self.limits = limits
    }
}

/// Limits the agent enforces on a run.
public struct RunLimits: Codable, Sendable, Equatable {
    public var maxDurationSeconds: Int
    public var maxLogBytes: Int64
    public var maxUploadBytes: Int64

    public init(maxDurationSeconds: Int, maxLogBytes: Int64, maxUploadBytes: Int64) {
        self.maxDurationSeconds = maxDurationSeconds
        self.maxLogBytes = maxLogBytes
        self.maxUploadBytes = maxUploadBytes
    }
}

/// What to extract and where to deliver it. Holds secret *references* only, never values.
public struct JobSpec: Codable, Sendable, Equatable {
    public var connectionId: String
    /// The first part of every qualified name.
    public var connectionName: String
    /// `postgresql` or `sqlite`.
    public var sourceKind: String
    /// The source URL without credentials (`postgres://reader@db:5432/sales`, `sqlite:/data/shop.db`).
    public var sourceURL: String
    /// Secret references by role, e.g. `password` → `aws-sm:prod/pg#password`.
    public var secrets: [String: String]
    public var filters: JobFilters
    public var delivery: Delivery

    public init(
        connectionId: String, connectionName: String, sourceKind: String, sourceURL: String,
        secrets: [String: String], filters: JobFilters, delivery: Delivery
    ) {
        self.connectionId = connectionId
        self.connectionName = connectionName
        self.sourceKind = sourceKind
        self.sourceURL = sourceURL
        self.secrets = secrets
        self.filters = filters
        self.delivery = delivery
    }
}

/// Name filters and exclusions as patterns (`sales_*`, `re:^tmp_`), applied by the connector.
public struct JobFilters: Codable, Sendable, Equatable {
    public var includeDatabases: [String]
    public var excludeDatabases: [String]
    public var includeSchemas: [String]
    public var excludeSchemas: [String]
    public var includeTables: [String]
    public var excludeTables: [String]
    public var excludeKinds: [String]
    public var excludeFields: [String]

    public init(
        includeDatabases: [String] = [], excludeDatabases: [String] = [], includeSchemas: [String] = [],
        excludeSchemas: [String] = [], includeTables: [String] = [], excludeTables: [String] = [],
        excludeKinds: [String] = [], excludeFields: [String] = []
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

/// Where a run's files go.
public struct Delivery: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Pre-signed upload URLs from the control plane.
        case direct
        /// The customer's own bucket; the control plane reads it with read-only credentials.
        case relay
    }

    public var mode: Mode
    /// For relay: the bucket to write to.
    public var relay: RelayTarget?

    public init(mode: Mode, relay: RelayTarget? = nil) {
        self.mode = mode
        self.relay = relay
    }
}

/// Which object store a relay bucket is in.
public enum RelayKind: String, Codable, Sendable, CaseIterable {
    /// Amazon S3 or an S3-compatible store.
    case s3
    /// Google Cloud Storage (JSON API).
    case gcs
    /// Azure Blob Storage (block blobs); `bucket` is the container.
    case azureBlob = "azure-blob"
}

/// A customer bucket: S3 (or S3-compatible), Google Cloud Storage or an Azure Blob Storage container.
public struct RelayTarget: Codable, Sendable, Equatable {
    /// `s3` when absent (targets written before other stores existed).
    public var kind: RelayKind
    /// The bucket; for Azure, the container.
    public var bucket: String
    /// Azure only: the storage account.
    public var account: String?
    /// Object keys start with this prefix, then `<connection>/<run>/`.
    public var prefix: String
    /// S3 only: the bucket's region.
    public var region: String?
    /// For S3-compatible stores, or a private Cloud Storage endpoint; nil means the cloud's public endpoint.
    public var endpoint: String?
    /// S3 only: `AES256` or `aws:kms`.
    public var serverSideEncryption: String
    /// S3 only: the KMS key of `aws:kms`.
    public var kmsKeyId: String?
    /// Cloud Storage only: a customer-managed Cloud KMS key (`projects/P/locations/L/keyRings/R/cryptoKeys/K`).
    public var kmsKeyName: String?
    /// Azure only: the storage account's encryption scope every blob is written with (customer-managed keys).
    public var encryptionScope: String?

    public init(
        kind: RelayKind = .s3, bucket: String, account: String? = nil, prefix: String, region: String? = nil,
        endpoint: String? = nil, serverSideEncryption: String = "AES256", kmsKeyId: String? = nil,
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

    private enum CodingKeys: String, CodingKey {
        case kind, bucket, account, prefix, region, endpoint, serverSideEncryption, kmsKeyId, kmsKeyName
        case encryptionScope
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try container.decodeIfPresent(RelayKind.self, forKey: .kind) ?? .s3,
            bucket: try container.decode(String.self, forKey: .bucket),
            account: try container.decodeIfPresent(String.self, forKey: .account),
            prefix: try container.decode(String.self, forKey: .prefix),
            region: try container.decodeIfPresent(String.self, forKey: .region),
            endpoint: try container.decodeIfPresent(String.self, forKey: .endpoint),
            serverSideEncryption: try container.decodeIfPresent(String.self, forKey: .serverSideEncryption)
                ?? "AES256",
            kmsKeyId: try container.decodeIfPresent(String.self, forKey: .kmsKeyId),
            kmsKeyName: try container.decodeIfPresent(String.self, forKey: .kmsKeyName),
            encryptionScope: try container.decodeIfPresent(String.self, forKey: .encryptionScope))
    }
}
