internal import Foundation
internal import OutpostProtocol
public import Secrets

/// Resolves `k8s:NAMESPACE/NAME[#key]` by reading the Secret through the Kubernetes API with the agent's
/// service account (or a kubeconfig), for clusters where mounting every source's Secret into the agent pod is not
/// wanted.
///
/// `#key` names one key of the Secret's `data`; without it a Secret with a single key gives that key's value. The
/// value is base64-decoded, must be UTF-8, and loses one trailing newline, as a `file:` reference to the same
/// Secret mounted would. Each resolution is a fresh `GET` with a fresh connection: nothing is cached. Errors name
/// the reference and, for 403, the RBAC to grant; never a value or a token.
public struct KubernetesSecretProvider: SecretProvider {
    public var store: SecretReference.Store { .kubernetes }
    /// `#key` is a key of the Secret, not a JSON field.
    public var selectsField: Bool { true }
    /// Nil when the agent has no way to the API server: every reference then fails with what to configure.
    public let access: KubernetesAccess?
    /// Called with the API server's URL before any request; throws to refuse it (the job's egress policy).
    public let serverCheck: @Sendable (_ server: String) throws -> Void

    public init(
        access: KubernetesAccess?, serverCheck: @escaping @Sendable (_ server: String) throws -> Void = { _ in }
    ) {
        self.access = access
        self.serverCheck = serverCheck
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        let (namespace, name) = try Self.parse(reference)
        guard let access else {
            throw SecretError(
                .unreadable,
                "cannot read \(reference): the agent does not run in a Kubernetes pod with a service account token "
                    + "and no secretStores.kubernetes.kubeconfig is configured")
        }
        let client: KubernetesClient
        do {
            client = try access.client()
        } catch {
            throw SecretError(.unreadable, "cannot read \(reference): \(error)")
        }
        let answer: (status: Int, body: [UInt8])
        do {
            try serverCheck(client.server)
            answer = try await client.readSecret(namespace: namespace, name: name)
        } catch let error as SecretError {
            try? await client.shutdown()
            throw error
        } catch {
            try? await client.shutdown()
            throw SecretError(.unreadable, "cannot read \(reference): \(error)")
        }
        try? await client.shutdown()
        return try Self.value(
            status: answer.status, body: answer.body, reference: reference, namespace: namespace, name: name)
    }

    /// The namespace and name of `NAMESPACE/NAME`, checked as Kubernetes names before any request is made, and
    /// the `#key` checked as a Secret key.
    static func parse(_ reference: SecretReference) throws -> (namespace: String, name: String) {
        let parts = reference.locator.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else {
            throw SecretError(
                .invalidReference, "secret reference \(reference) must be k8s:NAMESPACE/NAME or k8s:NAMESPACE/NAME#KEY")
        }
        guard isName(parts[0], maxLength: 63, dots: false) else {
            throw SecretError(
                .invalidReference,
                "secret reference \(reference): '\(parts[0])' is not a Kubernetes namespace (a DNS-1123 label: "
                    + "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)")
        }
        guard isName(parts[1], maxLength: 253, dots: true) else {
            throw SecretError(
                .invalidReference,
                "secret reference \(reference): '\(parts[1])' is not a Kubernetes Secret name (a DNS-1123 "
                    + "subdomain: at most 253 lower-case letters, digits, '-' and '.', starting and ending with a "
                    + "letter or digit)")
        }
        if let key = reference.field {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
            guard key.count <= 253, key.allSatisfy({ allowed.contains($0) }) else {
                throw SecretError(
                    .invalidReference,
                    "secret reference \(reference): '\(key)' is not a Secret key (letters, digits, '-', '_' and '.')")
            }
        }
        return (parts[0], parts[1])
    }

    private static func isName(_ text: String, maxLength: Int, dots: Bool) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-" + (dots ? "." : ""))
        let alphanumeric = { (character: Character?) in
            character.map { $0 != "-" && $0 != "." && allowed.contains($0) } ?? false
        }
        return text.count <= maxLength && text.allSatisfy { allowed.contains($0) } && alphanumeric(text.first)
            && alphanumeric(text.last)
    }

    /// The value the API server's answer holds for the reference, or the error its status means.
    static func value(
        status: Int, body: [UInt8], reference: SecretReference, namespace: String, name: String
    ) throws -> String {
        let grant =
            "grant the agent's service account `get` on secrets with resourceNames [\(name)] in namespace "
            + "\(namespace) (a Role and a RoleBinding; see docs/secrets.md)"
        // The API server's Status message names the user and the resource, never a value.
        let said = (try? KubernetesJSON.decode(body))?["message"]?.string.map { ": \($0.prefix(300))" } ?? ""
        switch status {
        case 200:
            break
        case 401:
            throw SecretError(
                .unreadable,
                "the Kubernetes API server did not accept the agent's credentials reading \(reference) (HTTP 401): "
                    + "the service account token or the kubeconfig's credentials are invalid or expired")
        case 403:
            throw SecretError(
                .unreadable, "the Kubernetes API server forbids reading \(reference) (HTTP 403\(said)): \(grant)")
        case 404:
            throw SecretError(
                .notFound, "there is no Secret \(name) in namespace \(namespace) for \(reference) (HTTP 404)")
        default:
            throw SecretError(
                .unreadable, "the Kubernetes API server answered HTTP \(status) reading \(reference)\(said)")
        }
        guard let secret = try? KubernetesJSON.decode(body), secret["kind"]?.string == "Secret" else {
            throw SecretError(.invalidFormat, "the Kubernetes API server's answer for \(reference) is not a Secret")
        }
        guard case .object(let data) = secret["data"] ?? .object([:]), !data.isEmpty else {
            throw SecretError(.invalidFormat, "the Secret \(namespace)/\(name) of \(reference) has no data")
        }
        let keys = data.keys.sorted().joined(separator: ", ")
        let key: String
        if let field = reference.field {
            guard data[field] != nil else {
                throw SecretError(
                    .notFound,
                    "the Secret \(namespace)/\(name) has no key '\(field)' for \(reference) (its keys: \(keys))")
            }
            key = field
        } else {
            guard data.count == 1, let only = data.keys.first else {
                throw SecretError(
                    .invalidReference,
                    "the Secret \(namespace)/\(name) has several keys (\(keys)): name one, as in "
                        + "k8s:\(namespace)/\(name)#\(data.keys.sorted()[0])")
            }
            key = only
        }
        guard let encoded = data[key]?.string, let decoded = Data(base64Encoded: encoded) else {
            throw SecretError(.invalidFormat, "key '\(key)' of the Secret \(namespace)/\(name) is not base64")
        }
        var bytes = Array(decoded)
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SecretError(
                .invalidFormat,
                "key '\(key)' of the Secret \(namespace)/\(name) is not UTF-8 text; a source secret must be text")
        }
        return text
    }
}
