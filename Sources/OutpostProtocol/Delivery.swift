/// `POST /v1/runs/{run}/uploads`: a batch of upload grants, one per file (direct ingestion).
public struct UploadGrantRequest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        /// The file name as the manifest lists it (`records-00001.jsonl.gz`, `manifest.json`).
        public var path: String
        public var bytes: Int64
        /// Lower-case hex SHA-256 of the bytes as uploaded.
        public var sha256: String

        public init(path: String, bytes: Int64, sha256: String) {
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public var leaseId: Int64
    public var files: [File]

    public init(leaseId: Int64, files: [File]) {
        self.leaseId = leaseId
        self.files = files
    }
}

/// Pre-signed URLs, each bound to one object, its size and checksum, expiring in minutes.
public struct UploadGrantResponse: Codable, Sendable, Equatable {
    public struct Grant: Codable, Sendable, Equatable {
        public var path: String
        public var method: String
        public var url: String
        /// Headers the upload must carry exactly (content length, checksum, encryption).
        public var headers: [String: String]
        /// RFC 3339; a grant used later is refused and must be requested again.
        public var expiresAt: String

        public init(path: String, method: String, url: String, headers: [String: String], expiresAt: String) {
            self.path = path
            self.method = method
            self.url = url
            self.headers = headers
            self.expiresAt = expiresAt
        }
    }

    public var grants: [Grant]

    public init(grants: [Grant]) {
        self.grants = grants
    }
}

/// `POST /v1/runs/{run}/complete`: the run's outcome, what was delivered, and the log totals.
public struct CompleteRequest: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Every schema in scope was read.
        case succeeded
        /// Finished, but the manifest marks some schemas incomplete.
        case partial
        case failed
        /// Stopped on a cancellation from the control plane.
        case cancelled
    }

    /// Totals of everything the job logged, so a partial log shows as such.
    public struct LogTotals: Codable, Sendable, Equatable {
        public var bytes: Int64
        public var sha256: String
        /// Bytes the agent could not ship (spool cap hit).
        public var droppedBytes: Int64

        public init(bytes: Int64, sha256: String, droppedBytes: Int64) {
            self.bytes = bytes
            self.sha256 = sha256
            self.droppedBytes = droppedBytes
        }
    }

    /// For relay delivery: where the agent put the files.
    public struct RelayObjects: Codable, Sendable, Equatable {
        public struct Object: Codable, Sendable, Equatable {
            public var key: String
            public var bytes: Int64
            public var sha256: String

            public init(key: String, bytes: Int64, sha256: String) {
                self.key = key
                self.bytes = bytes
                self.sha256 = sha256
            }
        }

        public var bucket: String
        /// The key of `manifest.json`; chunk keys sit beside it.
        public var manifestKey: String
        public var objects: [Object]

        public init(bucket: String, manifestKey: String, objects: [Object]) {
            self.bucket = bucket
            self.manifestKey = manifestKey
            self.objects = objects
        }
    }

    public var leaseId: Int64
    public var status: Status
    /// For failed or cancelled runs: why, secret-free.
    public var error: String?
    public var relay: RelayObjects?
    public var logs: LogTotals

    public init(leaseId: Int64, status: Status, error: String? = nil, relay: RelayObjects? = nil, logs: LogTotals) {
        self.leaseId = leaseId
        self.status = status
        self.error = error
        self.relay = relay
        self.logs = logs
    }
}

/// The answer to `complete`.
public struct CompleteResponse: Codable, Sendable, Equatable {
    /// `queued` when ingestion starts, `none` for runs that delivered nothing.
    public var ingestion: String

    public init(ingestion: String) {
        self.ingestion = ingestion
    }
}
