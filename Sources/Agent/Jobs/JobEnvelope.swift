public import OutpostProtocol
public import Secrets

/// What the agent hands a job process on stdin: the job, where to write, and the local policy to enforce.
///
/// It carries secret *references* only. The spool key travels here (a pipe, never the environment or argv) so
/// the job writes its files sealed; the API key never does.
public struct JobEnvelope: Codable, Sendable, Equatable {
    /// A command that serves `command:NAME` secret references.
    public struct SecretCommand: Codable, Sendable, Equatable {
        public var path: String
        public var arguments: [String]
        public var timeoutMilliseconds: Int64

        public init(path: String, arguments: [String], timeoutMilliseconds: Int64) {
            self.path = path
            self.arguments = arguments
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

    public var runId: String
    public var attempt: Int
    public var job: JobSpec
    /// The spool folder the job writes its chunks and manifest into.
    public var outputDirectory: String
    /// The spool key (base64 of 32 bytes): files are written sealed.
    public var sealingKey: String
    /// Local policy: source URL patterns and hosts the job may reach.
    public var allowedSources: [String]
    public var allowedHosts: [String]
    /// Local policy: field groups never extracted, on top of the job's own exclusions.
    public var excludeFields: [String]
    /// Local policy: the secret references a connection may name, and what is the agent's own.
    public var allowedSecrets: [String]
    public var protectedSecrets: SecretPolicy.Protected
    /// Local policy: sources reached without a verified server, and sources sent a cleartext password.
    public var unverifiedSources: [String]
    public var cleartextPasswordSources: [String]
    public var secretCommands: [String: SecretCommand]
    public var maxDurationSeconds: Int
    /// The agent's HTTP CONNECT proxy, for the HTTPS APIs the job calls itself (Snowflake, AWS Secrets Manager);
    /// nil when the agent has none.
    public var proxy: ProxySettings?
    /// How the job reads `k8s:` secret references; nil when the agent has no way to the Kubernetes API.
    public var kubernetes: KubernetesAccess?
    /// The agent's Vault server for `vault:` references (its address, CA bundle and how to log in, with
    /// references to the login's credentials, never a token); nil when the agent has none.
    public var vault: VaultConfiguration?
    /// How the job reaches Google Secret Manager for `gcp-sm:` references (a key by reference, never a key).
    public var google: GoogleSecretManagerSettings?
    /// How the job reaches Azure Key Vault for `azure-kv:` references (credentials by reference only).
    public var azure: AzureKeyVaultSettings?

    public init(
        runId: String, attempt: Int, job: JobSpec, outputDirectory: String, sealingKey: String,
        allowedSources: [String], allowedHosts: [String], excludeFields: [String],
        allowedSecrets: [String] = [], protectedSecrets: SecretPolicy.Protected = .init(),
        unverifiedSources: [String] = [], cleartextPasswordSources: [String] = [],
        secretCommands: [String: SecretCommand], maxDurationSeconds: Int, proxy: ProxySettings? = nil,
        kubernetes: KubernetesAccess? = nil, vault: VaultConfiguration? = nil,
        google: GoogleSecretManagerSettings? = nil, azure: AzureKeyVaultSettings? = nil
    ) {
        self.runId = runId
        self.attempt = attempt
        self.job = job
        self.outputDirectory = outputDirectory
        self.sealingKey = sealingKey
        self.allowedSources = allowedSources
        self.allowedHosts = allowedHosts
        self.excludeFields = excludeFields
        self.allowedSecrets = allowedSecrets
        self.protectedSecrets = protectedSecrets
        self.unverifiedSources = unverifiedSources
        self.cleartextPasswordSources = cleartextPasswordSources
        self.secretCommands = secretCommands
        self.maxDurationSeconds = maxDurationSeconds
        self.proxy = proxy
        self.kubernetes = kubernetes
        self.vault = vault
        self.google = google
        self.azure = azure
    }
}

/// What a job process leaves beside its files (`result.json`, sealed): how it ended, in words safe to send.
public struct JobResult: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        case succeeded, partial, failed
        /// The local policy refused the source before any connection was made.
        case denied
    }

    public var outcome: Outcome
    /// Redacted; set for failed and denied.
    public var error: String?
    /// The policy rule that allowed the source, or why it was refused.
    public var policy: String?
    public var records: Int
    /// The credential-free source URL, for the audit ledger.
    public var source: String

    public init(outcome: Outcome, error: String? = nil, policy: String? = nil, records: Int = 0, source: String) {
        self.outcome = outcome
        self.error = error
        self.policy = policy
        self.records = records
        self.source = source
    }

    /// The file name beside the manifest.
    public static let fileName = "result.json"
}
