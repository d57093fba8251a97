public import ControlPlaneStorage
public import OutpostProtocol

/// Everything `buildApplication` needs besides the store: where to listen, the queue's timing rules, and the
/// limits of direct-ingestion uploads.
///
/// Plain values with production defaults; tests shorten the intervals instead of waiting real time.
public struct ServerConfiguration: Sendable {
    /// The address to bind; loopback by default so nothing is exposed by accident.
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    /// How long a claim or renewal keeps a lease alive; agents renew every ttl/4.
    public var leaseTTLSeconds: Int
    /// How long after expiry a lease is re-queued, so an agent that lost contact stops its job first.
    public var leaseGraceSeconds: Int
    /// How long a claimed run waits for the agent's `start` before it goes back to the queue (no grace: nothing
    /// runs before `start`). Short, so a run handed to an agent that died while its long-poll was open (the
    /// answer went to a closed connection) reaches a live agent within seconds rather than a lease TTL.
    public var startWindowSeconds: Int = 10
    /// Attempts before a run whose leases keep expiring is marked failed.
    public var maxAttempts: Int
    /// The oldest agent version that may claim work.
    public var minimumAgentVersion: String
    /// When older agents start being refused; nil refuses them at once.
    public var minimumAgentVersionDeadline: Timestamp?
    /// The longest a claim is held open; never more than `AgentProtocol.maximumClaimWaitSeconds`.
    public var claimMaxWaitSeconds: Int
    /// How often a held claim looks at the queue even without a wake-up, so runs created by another replica
    /// are found.
    public var claimRecheckInterval: Duration
    /// How often expired leases and start windows are looked for (an indexed read when none expired).
    public var leaseExpiryInterval: Duration
    /// The agents' heartbeat interval: an agent is stale after two missed intervals.
    public var heartbeatIntervalSeconds: Int
    /// An agent not seen for this long is offline.
    public var agentOfflineSeconds: Int
    /// Limits handed to the agent with every run.
    public var runLimits: RunLimits
    /// The largest a log chunk may grow when decompressed (zip-bomb bound).
    public var maximumDecompressedLogChunkBytes: Int
    /// Failed authentications per client address and minute before answering 429.
    public var failedAuthenticationLimit: Int
    /// A key's `lastUsedAt` is written at most this often.
    public var keyTouchIntervalSeconds: Int
    /// Where agents reach this server, for the pre-signed upload URLs it hands out (`https://outpost.example.com`,
    /// no trailing slash). Nil derives `http://HOST:PORT` from the listen address, with the bound port when
    /// `port` is 0; set it whenever agents come through a proxy, TLS terminator or another name.
    public var publicBaseURL: String?
    /// The largest single file a direct-ingestion upload grant is given for.
    public var maximumUploadFileBytes: Int64
    /// How long an upload grant stays valid; an agent asks again after it expired.
    public var uploadGrantSeconds: Int
    /// Deliveries verified and published at the same time. Ingestion is CPU- and database-bound, so 1–2 keeps a
    /// large delivery from starving the API while a small one need not wait behind it.
    public var ingestionConcurrency: Int
    /// The longest one ingestion may take before the run fails.
    public var ingestionTimeoutSeconds: Int
    /// The lease a server holds on a run it ingests (or has queued to ingest), renewed every quarter of it while
    /// the server lives: when the server dies, another replica (or the restarted server) takes the run over once
    /// this has passed, plus up to `ingestionRecoveryInterval`.
    public var ingestionLeaseSeconds: Int = 60
    /// How long a web UI sign-in lasts; sessions are not extended by use.
    public var uiSessionSeconds: Int
    /// Proxies whose `X-Forwarded-For` names the client (for the failed-authentication limit and logs); none by
    /// default, so the header is ignored.
    public var trustedProxies: TrustedProxies = .none
    /// How often the scheduler looks for connections whose cron slot has come (slots are whole minutes).
    public var schedulerInterval: Duration = .seconds(10)
    /// How often ended runs' direct-delivery objects outside their accepted delivery are removed.
    public var deliveryCleanupInterval: Duration = .seconds(30)
    /// How often runs a stopped server left `ingesting` are looked for (also once at start-up).
    public var ingestionRecoveryInterval: Duration = .seconds(10)
    /// TLS on the listener (`outpost server --tls-cert --tls-key`); nil serves plain HTTP, e.g. behind a proxy
    /// that terminates TLS (then set `publicBaseURL` to its `https://` address).
    public var tls: ServerTLS?
    /// Secure cookies asked for explicitly (a TLS terminator the server cannot see).
    private var secureCookiesRequested: Bool

    /// Whether clients reach this server over HTTPS: TLS on the listener, or an `https://` public address in front
    /// of it. Cookies the web UI sets must then carry `Secure`.
    public var servesHTTPS: Bool { tls != nil || publicBaseURL?.lowercased().hasPrefix("https://") == true }

    /// Whether the web UI's cookies carry `Secure` (and the session cookie the `__Host-` name): always when the
    /// server is reached over HTTPS, and when set explicitly.
    public var secureCookies: Bool {
        get { servesHTTPS || secureCookiesRequested }
        set { secureCookiesRequested = newValue }
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        leaseTTLSeconds: Int = 60,
        leaseGraceSeconds: Int = 30,
        maxAttempts: Int = 3,
        minimumAgentVersion: String = "0.1.0",
        minimumAgentVersionDeadline: Timestamp? = nil,
        claimMaxWaitSeconds: Int = AgentProtocol.maximumClaimWaitSeconds,
        claimRecheckInterval: Duration = .seconds(5),
        leaseExpiryInterval: Duration = .seconds(2),
        heartbeatIntervalSeconds: Int = 30,
        agentOfflineSeconds: Int = 600,
        runLimits: RunLimits = RunLimits(
            maxDurationSeconds: 6 * 3600, maxLogBytes: 64 * 1024 * 1024, maxUploadBytes: 10 * 1024 * 1024 * 1024),
        maximumDecompressedLogChunkBytes: Int = 8 * 1024 * 1024,
        failedAuthenticationLimit: Int = 20,
        keyTouchIntervalSeconds: Int = 60,
        publicBaseURL: String? = nil,
        maximumUploadFileBytes: Int64 = 1024 * 1024 * 1024,
        uploadGrantSeconds: Int = 600,
        ingestionConcurrency: Int = 2,
        ingestionTimeoutSeconds: Int = 3600,
        secureCookies: Bool = false,
        uiSessionSeconds: Int = 8 * 3600
    ) {
        self.host = host
        self.port = port
        self.leaseTTLSeconds = leaseTTLSeconds
        self.leaseGraceSeconds = leaseGraceSeconds
        self.maxAttempts = maxAttempts
        self.minimumAgentVersion = minimumAgentVersion
        self.minimumAgentVersionDeadline = minimumAgentVersionDeadline
        self.claimMaxWaitSeconds = claimMaxWaitSeconds
        self.claimRecheckInterval = claimRecheckInterval
        self.leaseExpiryInterval = leaseExpiryInterval
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.agentOfflineSeconds = agentOfflineSeconds
        self.runLimits = runLimits
        self.maximumDecompressedLogChunkBytes = maximumDecompressedLogChunkBytes
        self.failedAuthenticationLimit = failedAuthenticationLimit
        self.keyTouchIntervalSeconds = keyTouchIntervalSeconds
        self.publicBaseURL = publicBaseURL
        self.maximumUploadFileBytes = maximumUploadFileBytes
        self.uploadGrantSeconds = uploadGrantSeconds
        self.ingestionConcurrency = ingestionConcurrency
        self.ingestionTimeoutSeconds = ingestionTimeoutSeconds
        self.secureCookiesRequested = secureCookies
        self.uiSessionSeconds = uiSessionSeconds
    }

    /// The claim wait actually applied to a request asking for `requested` seconds.
    func claimWait(requested: Int) -> Int {
        max(0, min(requested, claimMaxWaitSeconds, AgentProtocol.maximumClaimWaitSeconds))
    }
}
