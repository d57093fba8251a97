/// What the audit ledger records about one run: what was read, what the local policy decided, what left the
/// network, where to, and with which checksums.
///
/// The source is stored without credentials (`init` removes any `user:password@` part), and no field ever holds a
/// secret value.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// One file that left the agent.
    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        /// Lower-case hex SHA-256 of the bytes delivered.
        public var sha256: String

        public init(name: String, bytes: Int64, sha256: String) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// The local egress policy's decision on the run's source.
    public struct Policy: Codable, Sendable, Equatable {
        public var allowed: Bool
        /// The rule that allowed the source, when allowed.
        public var rule: String?
        /// Why the source was refused, when denied.
        public var reason: String?

        public init(allowed: Bool, rule: String? = nil, reason: String? = nil) {
            self.allowed = allowed
            self.rule = rule
            self.reason = reason
        }
    }

    /// Where the run's files went.
    public struct Destination: Codable, Sendable, Equatable {
        /// The delivery mode.
        public enum Kind: String, Codable, Sendable {
            /// Direct ingestion: uploaded to the control plane through pre-signed URLs.
            case direct
            /// Bucket relay: written into the organisation's own bucket.
            case relay
            /// A local folder (`outpost extract`).
            case folder
        }

        public var kind: Kind
        /// For `.direct`: the control plane's host.
        public var host: String?
        /// For `.relay`: the bucket.
        public var bucket: String?
        /// For `.relay`: the object keys written.
        public var keys: [String]?
        /// For `.folder`: the folder.
        public var path: String?

        /// Direct ingestion to the control plane at `host`.
        public static func direct(host: String) -> Destination {
            Destination(kind: .direct, host: host)
        }

        /// Bucket relay into `bucket` under `keys`.
        public static func relay(bucket: String, keys: [String]) -> Destination {
            Destination(kind: .relay, bucket: bucket, keys: keys)
        }

        /// A local folder.
        public static func folder(path: String) -> Destination {
            Destination(kind: .folder, path: path)
        }

        public init(
            kind: Kind, host: String? = nil, bucket: String? = nil, keys: [String]? = nil, path: String? = nil
        ) {
            self.kind = kind
            self.host = host
            self.bucket = bucket
            self.keys = keys
            self.path = path
        }
    }

    /// How the run ended.
    public enum Outcome: String, Codable, Sendable {
        case succeeded
        /// Finished, but some schemas could not be read fully.
        case partial
        case failed
        case cancelled
        /// The local policy refused the source or a destination; nothing was read.
        case denied
    }

    public var runId: String
    public var connectionId: String?
    public var connectionName: String?
    /// The source URL without credentials.
    public var source: String?
    public var policy: Policy?
    public var files: [File]
    public var destination: Destination?
    /// RFC 3339 times of the job's start and end.
    public var startedAt: String?
    public var finishedAt: String?
    public var outcome: Outcome
    /// The error that ended the run, if any (messages never hold secrets).
    public var error: String?

    public init(
        runId: String, connectionId: String? = nil, connectionName: String? = nil, source: String? = nil,
        policy: Policy? = nil, files: [File] = [], destination: Destination? = nil, startedAt: String? = nil,
        finishedAt: String? = nil, outcome: Outcome, error: String? = nil
    ) {
        self.runId = runId
        self.connectionId = connectionId
        self.connectionName = connectionName
        self.source = source.map(Self.withoutCredentials)
        self.policy = policy
        self.files = files
        self.destination = destination
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.error = error
    }

    /// `url` with everything between `://` and the last `@` of its authority removed.
    ///
    /// The last `@` is used (as URL parsers do), so a password containing `@` is removed whole.
    public static func withoutCredentials(_ url: String) -> String {
        guard let separator = url.firstRange(of: "://") else { return url }
        let rest = url[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<separator.upperBound]) + String(rest[rest.index(after: at)...])
    }
}
