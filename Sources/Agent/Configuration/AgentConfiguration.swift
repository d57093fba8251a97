public import Secrets

/// Everything `outpost agent` is configured with: one YAML file plus `OUTPOST_…` environment overrides.
///
/// The file never holds a secret value: the API key, the spool key and the source passwords are secret
/// references resolved at the moment they are needed. The local policy here is what the control plane cannot
/// override: which sources may be extracted, which hosts may be reached, which fields never leave.
public struct AgentConfiguration: Sendable {
    /// How to reach the control plane and who we are to it.
    public struct ControlPlane: Sendable {
        /// `https://…` (or `http://` only for loopback, as in tests and the quickstart).
        public var url: String
        /// Where the agent's API key lives, e.g. `file:/var/run/secrets/outpost/api-key`.
        public var apiKey: SecretReference
        /// How often the key is re-read even without a 401, so rotation needs no restart.
        public var keyRefreshInterval: Duration = .seconds(300)
        /// The least time between two re-reads after a failed one.
        public var keyRetryInterval: Duration = .seconds(180)
        /// Request timeout for everything but the long-poll claim.
        public var requestTimeout: Duration = .seconds(30)
    }

    /// TLS and proxy settings for every outbound connection (control plane, buckets, secret stores).
    public struct Network: Sendable {
        /// PEM file of CA certificates to trust instead of the system's.
        public var caBundle: String?
        /// PEM client certificate and key for mutual TLS.
        public var clientCertificate: String?
        public var clientKey: String?
        /// `http://[user:password@]host:port`; nil takes `HTTPS_PROXY` / `https_proxy` from the environment.
        public var proxy: String?
        /// Hosts never reached through the proxy; nil takes `NO_PROXY` / `no_proxy`.
        public var noProxy: [String]?
    }

    /// The local policy: the control plane cannot widen it.
    public struct Policy: Sendable {
        /// URL patterns of sources jobs may extract (`postgres://*.corp.internal:5432/*`, `sqlite:/data/*`).
        public var allowedSources: [String] = []
        /// Extra hosts jobs may reach (buckets, secret stores); the control plane's host is always allowed.
        public var allowedHosts: [String] = []
        /// Field groups never extracted, whatever a job asks (`comments`, `definitions`, …).
        public var excludeFields: [String] = []
        /// `STORE:PATTERN`s of the secret references a connection may name (`env:PG_*`,
        /// `vault:secret/data/outpost/*`); none by default. The agent's own secrets are never among them.
        public var allowedSecrets: [String] = []
        /// Source patterns that may be reached without a server that proves who it is: PostgreSQL `sslmode`
        /// `disable`, `prefer` or `require` (`prefer` when the URL says none). Every other PostgreSQL source is
        /// `verify-full` unless it says `verify-ca`.
        public var unverifiedSources: [String] = []
        /// Source patterns that may be sent a password in cleartext over an unencrypted connection, when the
        /// server asks for one that way; nothing else ever is.
        public var cleartextPasswordSources: [String] = []
    }

    /// The on-disk spool of files and logs not yet acknowledged.
    public struct Spool: Sendable {
        public var capBytes: Int64 = 10 * 1024 * 1024 * 1024
        /// Where the 32-byte spool key lives; nil keeps it in `dataDir/spool.key`.
        public var key: SecretReference?
    }

    /// How job processes are started and limited.
    public struct Jobs: Sendable {
        /// The `outpost` binary that runs `outpost run-job`; nil is this process's own executable.
        public var executable: String?
        /// Environment variable names passed to job processes (for `env:` secret references and TLS settings).
        public var passEnvironment: [String] = []
        public var addressSpaceBytes: Int64 = 8 * 1024 * 1024 * 1024
        public var cpuSeconds: Int64 = 4 * 3600
        public var openFiles: Int64 = 1024
        public var fileSizeBytes: Int64 = 16 * 1024 * 1024 * 1024
        /// Time between SIGTERM and SIGKILL when a job is stopped.
        public var killGrace: Duration = .seconds(10)
        /// Use bubblewrap, when installed, to narrow the job's view of the file system.
        public var bubblewrap: Bool = false
        /// Where jobs run: a local child process, or an Argo Workflow in a Kubernetes cluster.
        public var executor: Executor = .local
        /// The Argo Workflows executor's settings; set when `executor` is `.argo`.
        public var argo: Argo?
    }

    /// Where a job runs.
    public enum Executor: String, Sendable, CaseIterable {
        /// A child process of the agent (`outpost run-job`), with resource limits.
        case local
        /// One Argo Workflow per run in a Kubernetes cluster; see docs/argo-executor.md.
        case argo
    }

    /// How the Argo Workflows executor reaches the cluster and shapes each run's Workflow.
    public struct Argo: Sendable, Equatable {
        /// CPU, memory and ephemeral-storage quantities (`500m`, `1Gi`), as Kubernetes writes them.
        public struct Resources: Sendable, Equatable {
            public var cpu: String?
            public var memory: String?
            public var ephemeralStorage: String?

            public init(cpu: String? = nil, memory: String? = nil, ephemeralStorage: String? = nil) {
                self.cpu = cpu
                self.memory = memory
                self.ephemeralStorage = ephemeralStorage
            }
        }

        /// The namespace Workflows and their Secrets are created in.
        public var namespace: String
        /// The container image with the `outpost` binary.
        public var image: String
        /// The `outpost` binary inside the image.
        public var executable: String = "/usr/local/bin/outpost"
        /// The pods' service account; nil is the namespace's default.
        public var serviceAccount: String?
        /// A kubeconfig file; nil uses the agent pod's in-cluster service account.
        public var kubeconfig: String?
        /// The PersistentVolumeClaim holding the agent's data directory, shared with job pods.
        public var sharedVolumeClaim: String
        public var requests = Resources()
        public var limits = Resources()
        /// The Workflow's `activeDeadlineSeconds`; nil takes the run's maximum duration plus a minute.
        public var activeDeadline: Duration?
        /// How long a finished Workflow the agent could not delete stays before Argo removes it.
        public var ttlAfterFinished: Duration = .seconds(3600)
        /// The pods' `fsGroup`, so a non-root job can write to the shared volume; nil sets none.
        public var fsGroup: Int64?
        /// Labels added to the job pods, e.g. `azure.workload.identity/use: "true"` so AKS's webhook gives them
        /// the workload identity of `serviceAccount`.
        public var podLabels: [String: String] = [:]

        /// The label AKS's workload identity webhook looks for on a pod.
        public static let azureWorkloadIdentityLabel = "azure.workload.identity/use"

        /// Whether the job pods get their Azure workload identity from AKS's webhook (their own token file and
        /// `AZURE_*` variables), so the agent's are not handed to them.
        public var podsHaveAzureWorkloadIdentity: Bool { podLabels[Self.azureWorkloadIdentityLabel] == "true" }

        public init(namespace: String, image: String, sharedVolumeClaim: String) {
            self.namespace = namespace
            self.image = image
            self.sharedVolumeClaim = sharedVolumeClaim
        }
    }

    /// Secret stores the agent and its jobs may read.
    public struct SecretStores: Sendable {
        /// Named commands for `command:NAME` references: an executable and its arguments, never a shell.
        public struct Command: Sendable, Equatable {
            public var path: String
            public var arguments: [String]
            public var timeout: Duration
        }

        /// How `k8s:NAMESPACE/NAME#key` references reach the Kubernetes API.
        public struct Kubernetes: Sendable, Equatable {
            /// A kubeconfig file; nil uses the pod's in-cluster service account when its token file exists.
            public var kubeconfig: String?
        }

        public var commands: [String: Command] = [:]
        public var kubernetes = Kubernetes()
        /// The Vault (or OpenBao) server for `vault:` references, and how to log in to it; nil: none.
        public var vault: VaultConfiguration?
        /// How `gcp-sm:` references reach Google Secret Manager; nil: the metadata server's account and Google's
        /// endpoint.
        public var google: GoogleSecretManagerSettings?
        /// How `azure-kv:` references reach Azure Key Vault; nil: the identity the Azure variables describe
        /// (workload identity, managed identity) and Azure's public cloud.
        public var azure: AzureKeyVaultSettings?
    }

    /// Credentials for writing relay buckets beyond the agent's own cloud identity.
    public struct Relay: Sendable, Equatable {
        /// Azure storage accounts written with Shared Key instead of an Entra ID token: account name → its account
        /// key, by reference (`relay.azure.accounts.NAME.accountKey`).
        public var azureAccountKeys: [String: SecretReference] = [:]
    }

    /// Local health, readiness and metrics endpoints, and the log format.
    public struct Observability: Sendable {
        /// `host:port` for `/healthz`, `/readyz`, `/metrics`; nil serves none. Loopback unless said otherwise.
        public var listen: String?
        public var logFormat: LogFormat = .text
        public var logLevel: String = "info"
    }

    /// Text lines for people, JSON lines for log pipelines.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    public var controlPlane: ControlPlane
    /// The file the configuration was read from (nil when built in code): never readable as a job's secret.
    public var configurationFile: String?
    public var network = Network()
    /// The name shown in the UI; defaults to the host name.
    public var name: String
    /// Where the agent keeps its identity, spool, audit ledger and keys.
    public var dataDirectory: String
    public var pools: [String] = ["default"]
    /// Runs executed at once.
    public var concurrency: Int = 2
    public var heartbeatInterval: Duration = .seconds(30)
    /// How long SIGTERM waits for running jobs before cancelling them.
    public var drainTimeout: Duration = .seconds(300)
    /// How long before the lease's end a job whose lease could not be renewed is stopped.
    public var fenceMargin: Duration = .seconds(10)
    public var policy = Policy()
    public var spool = Spool()
    public var jobs = Jobs()
    public var secretStores = SecretStores()
    public var relay = Relay()
    public var observability = Observability()

    public init(controlPlane: ControlPlane, name: String, dataDirectory: String) {
        self.controlPlane = controlPlane
        self.name = name
        self.dataDirectory = dataDirectory
    }
}

extension AgentConfiguration.ControlPlane {
    public init(url: String, apiKey: SecretReference) {
        self.url = url
        self.apiKey = apiKey
    }
}
