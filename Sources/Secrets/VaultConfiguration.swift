/// Where a Vault (or OpenBao) server is and how the agent logs in to it.
///
/// It holds no secret: the AppRole's role id and secret id are references, the token and the Kubernetes service
/// account token are files read when needed. So it can travel in a job envelope as it is.
public struct VaultConfiguration: Codable, Sendable, Equatable {
    /// How the agent gets its Vault token.
    public enum Authentication: Codable, Sendable, Equatable {
        /// A token in a file (a Vault Agent sink, a mounted Secret), re-read whenever it changes.
        case tokenFile(path: String)
        /// `POST /v1/auth/<mount>/login` with a role id and a secret id, both read from other secret stores.
        case appRole(mount: String, roleId: SecretReference, secretId: SecretReference)
        /// `POST /v1/auth/<mount>/login` with the pod's projected service account token.
        case kubernetes(mount: String, role: String, jwtFile: String)

        /// The auth method's name as the configuration spells it.
        public var method: String {
            switch self {
            case .tokenFile: "token"
            case .appRole: "approle"
            case .kubernetes: "kubernetes"
            }
        }
    }

    /// The server's base URL, `https://vault.example.com:8200` (plain `http://` for loopback tests and dev servers).
    public var address: String
    /// Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`; nil sends none.
    public var namespace: String?
    /// PEM file of the CA that signed the server's certificate; nil trusts the system's roots.
    public var caBundle: String?
    public var authentication: Authentication

    public init(address: String, namespace: String? = nil, caBundle: String? = nil, authentication: Authentication) {
        self.address = address
        self.namespace = namespace
        self.caBundle = caBundle
        self.authentication = authentication
    }

    /// The default Kubernetes auth mount and the path where Kubernetes projects a pod's service account token.
    public static let defaultKubernetesMount = "kubernetes"
    public static let defaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    public static let defaultAppRoleMount = "approle"
}
