internal import Foundation

/// How the agent and its jobs reach the Kubernetes API for `k8s:` secret references.
///
/// The agent decides it once from its configuration and environment and hands it to each job in the envelope,
/// because a job's environment is filtered and does not carry `KUBERNETES_SERVICE_HOST`.
public enum KubernetesAccess: Codable, Sendable, Equatable {
    /// The current context of a kubeconfig file (server, CA, token or client certificate).
    case kubeconfig(path: String)
    /// The pod's service account: the API server at `host:port`, the CA and the token in `directory`.
    case inCluster(host: String, port: String, directory: String)

    /// The kubeconfig when one is configured, else the pod's service account when its files exist; nil outside a
    /// pod without a kubeconfig.
    public static func configured(
        kubeconfig: String?, environment: [String: String],
        directory: String = KubernetesClient.serviceAccountDirectory
    ) -> KubernetesAccess? {
        if let kubeconfig { return .kubeconfig(path: kubeconfig) }
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            FileManager.default.fileExists(atPath: directory + "/token")
        else { return nil }
        return .inCluster(host: host, port: environment["KUBERNETES_SERVICE_PORT"] ?? "443", directory: directory)
    }

    /// A client for this access; the caller shuts it down.
    func client() throws -> KubernetesClient {
        switch self {
        case .kubeconfig(let path):
            return try KubernetesClient.kubeconfig(path: path)
        case .inCluster(let host, let port, let directory):
            return try KubernetesClient.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port], directory: directory)
        }
    }
}
