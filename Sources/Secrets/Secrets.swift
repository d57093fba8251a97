// The Secrets module resolves secret *references* (`env:NAME`, `file:/path`, `aws-sm:ID`, `command:NAME`,
// `k8s:NAMESPACE/NAME#key`, `vault:PATH`, `gcp-sm:projects/P/secrets/S`) into values just in time.
// A reference is safe to store, log and send anywhere; a value never is. Resolved values are held by the
// caller only as long as it needs them and are never part of an error message.

/// A pointer to a secret in one of the organisation's own stores.
///
/// Written as `<store>:<locator>[#field]`: `env:PG_PASSWORD`, `file:/run/secrets/pg`,
/// `file:/run/secrets/db.json#password`. The optional `#field` selects one field of a JSON object secret.
public struct SecretReference: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The stores this build can resolve.
    public enum Store: String, Sendable, CaseIterable, Codable {
        case env
        case file
        /// AWS Secrets Manager: `aws-sm:<secret id or ARN>[#field]`.
        case awsSecretsManager = "aws-sm"
        /// A command configured on the agent, run without a shell, that prints the secret: `command:<name>`.
        case command
        /// A Kubernetes Secret read through the API server: `k8s:<namespace>/<name>[#key]`, where `#key` is one key
        /// of the Secret's `data`, not a JSON field.
        case kubernetes = "k8s"
        /// HashiCorp Vault or OpenBao: `vault:<path>[?version=N][#field]`, a KV version 2 secret or a dynamic secret.
        case vault
        /// Google Secret Manager: `gcp-sm:projects/<project>/secrets/<secret>[/versions/<version>][#field]`.
        case gcpSecretManager = "gcp-sm"
        /// Azure Key Vault: `azure-kv:<vault name or https URL>/<name>[/<version>][#field]`.
        case azureKeyVault = "azure-kv"
    }

    public let store: Store
    public let locator: String
    public let field: String?

    public init(store: Store, locator: String, field: String? = nil) {
        self.store = store
        self.locator = locator
        self.field = field
    }

    /// Parses the textual form.
    ///
    /// - Throws: `SecretError` with `.invalidReference` for an unknown store or an empty locator.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw SecretError(
                .invalidReference,
                "'\(SecretReference.redactedForm(text))' is not a secret reference: write STORE:LOCATOR, e.g. "
                    + "env:PG_PASSWORD or file:/run/secrets/pg")
        }
        let storeName = String(text[..<colon])
        guard let store = Store(rawValue: storeName) else {
            let known = Store.allCases.map(\.rawValue).joined(separator: ", ")
            // Echo the store name only if it looks like one: the text may be a pasted secret with a colon in it.
            let shown = Self.looksLikeStoreName(storeName) ? "'\(storeName)'" : SecretReference.redactedForm(text)
            throw SecretError(.invalidReference, "unknown secret store \(shown): this build resolves \(known)")
        }
        var locator = String(text[text.index(after: colon)...])
        var field: String?
        if let hash = locator.lastIndex(of: "#") {
            field = String(locator[locator.index(after: hash)...])
            locator = String(locator[..<hash])
            if field?.isEmpty == true {
                throw SecretError(.invalidReference, "secret reference '\(storeName):\(locator)#' names an empty field")
            }
        }
        guard !locator.isEmpty else {
            throw SecretError(.invalidReference, "secret reference '\(storeName):' has no locator")
        }
        self.init(store: store, locator: locator, field: field)
    }

    public var description: String {
        "\(store.rawValue):\(locator)" + (field.map { "#\($0)" } ?? "")
    }

    /// Whether `text` looks like a reference rather than a literal value.
    public static func looksLikeReference(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":") else { return false }
        return Store(rawValue: String(text[..<colon])) != nil
    }

    private static func looksLikeStoreName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 16 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// A form of unparseable input safe to echo: it might be a pasted secret, so only its length is shown.
    static func redactedForm(_ text: String) -> String {
        "<\(text.count) characters>"
    }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A store that can turn references into values.
public protocol SecretProvider: Sendable {
    /// The store this provider serves.
    var store: SecretReference.Store { get }
    /// Resolves the raw secret (before `#field` selection), or the selected value when `selectsField` is true.
    func resolve(_ reference: SecretReference) async throws -> String
    /// Whether `resolve` applies the reference's `#field` itself, because the store has keys of its own (a
    /// Kubernetes Secret's `data`): the resolver then takes the answer as it is instead of reading it as JSON.
    var selectsField: Bool { get }
}

extension SecretProvider {
    /// Most stores hold one string, and `#field` picks a field of it as a JSON object.
    public var selectsField: Bool { false }
}

/// A store whose secrets can come with leases (Vault's dynamic secrets): they must be kept alive while used and
/// revoked when no longer needed.
public protocol LeasingSecretProvider: SecretProvider {
    /// Renews what the provider holds before it expires, until the calling task is cancelled.
    func maintainLeases() async
    /// Revokes every lease the provider obtained. Best effort: a lease it cannot revoke expires at its TTL.
    func revokeLeases() async
}
