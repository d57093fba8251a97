import Agent
import Foundation
import Hummingbird
import OutpostProtocol
import Synchronization

/// The Secrets the fake serves to `GET /api/v1/namespaces/NS/secrets/NAME`, and the RBAC it plays: like a Role
/// granting `get` with `resourceNames`, only the listed Secrets may be read; any other name is 403 Forbidden,
/// whether it exists or not, as the real API server answers before looking.
struct ReadableSecrets {
    /// Secret objects by `namespace/name`.
    var objects: [String: KubernetesJSON] = [:]
    /// `namespace/name` the service account may `get`; nil grants every name.
    var allowed: Set<String>?
    /// The user the 403 message names.
    var user = "system:serviceaccount:outpost:outpost-agent"
}

extension FakeKubernetesAPI {
    /// Stores a Secret whose `data` holds `values`, base64-encoded as the API server returns it.
    func putSecret(namespace: String, name: String, _ values: [String: [UInt8]]) {
        let object: KubernetesJSON = [
            "kind": "Secret", "apiVersion": "v1", "type": "Opaque",
            "metadata": [
                "name": .string(name), "namespace": .string(namespace), "uid": .string(UUID().uuidString),
                "resourceVersion": "1",
            ],
            "data": .object(values.mapValues { .string(Data($0).base64EncodedString()) }),
        ]
        state.withLock { $0.readableSecrets.objects[namespace + "/" + name] = object }
    }

    /// From now on only these `namespace/name` Secrets may be read.
    func allowSecrets(_ names: Set<String>) {
        state.withLock { $0.readableSecrets.allowed = names }
    }

    func getSecret(namespace: String, name: String) -> Response {
        let (object, allowed, user) = state.withLock { state in
            let secrets = state.readableSecrets
            return (
                secrets.objects[namespace + "/" + name], secrets.allowed?.contains(namespace + "/" + name) ?? true,
                secrets.user
            )
        }
        guard allowed else {
            return Self.json(
                Self.status(
                    403, "Forbidden",
                    "secrets \"\(name)\" is forbidden: User \"\(user)\" cannot get resource \"secrets\" in API group "
                        + "\"\" in the namespace \"\(namespace)\""),
                status: .forbidden)
        }
        guard let object else {
            return Self.json(Self.status(404, "NotFound", "secrets \"\(name)\" not found"), status: .notFound)
        }
        return Self.json(object)
    }
}
