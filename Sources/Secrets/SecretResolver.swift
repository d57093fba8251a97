#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Resolves references through the configured providers and applies `#field` selection.
public struct SecretResolver: Sendable {
    private let providers: [SecretReference.Store: any SecretProvider]

    public init(providers: [any SecretProvider]) {
        var byStore: [SecretReference.Store: any SecretProvider] = [:]
        for provider in providers { byStore[provider.store] = provider }
        self.providers = byStore
    }

    /// The providers every process has: environment and files.
    public static var standard: SecretResolver {
        SecretResolver(providers: [EnvironmentSecretProvider(), FileSecretProvider()])
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        guard let provider = providers[reference.store] else {
            throw SecretError(.invalidReference, "no provider is configured for secret store '\(reference.store)'")
        }
        let raw = try await provider.resolve(reference)
        guard let field = reference.field, !provider.selectsField else { return raw }
        return try Self.select(field: field, from: raw, reference: reference)
    }

    /// Keeps the leases of the dynamic secrets resolved so far (and the tokens they hang on) alive, until the
    /// calling task is cancelled. Run it beside the work that uses the secrets.
    public func maintainLeases() async {
        let leasing = providers.values.compactMap { $0 as? any LeasingSecretProvider }
        await withTaskGroup(of: Void.self) { group in
            for provider in leasing { group.addTask { await provider.maintainLeases() } }
        }
    }

    /// Revokes the leases of the dynamic secrets resolved, so their credentials stop working now rather than at
    /// their TTL. Call it when the work that used them ends, however it ends; it runs even in a cancelled task.
    public func revokeLeases() async {
        let leasing = providers.values.compactMap { $0 as? any LeasingSecretProvider }
        guard !leasing.isEmpty else { return }
        // A cancelled task's HTTP requests fail at once, and revoking matters most when the work was cancelled:
        // the revocation runs in a task of its own that the caller waits for, so it is never left behind.
        await Task.detached {
            for provider in leasing { await provider.revokeLeases() }
        }.value
    }

    /// Picks one string field of a JSON object secret.
    static func select(field: String, from raw: String, reference: SecretReference) throws -> String {
        guard let object = try? JSONDecoder().decode([String: FieldValue].self, from: Data(raw.utf8)) else {
            throw SecretError(
                .invalidFormat, "secret \(reference) is not a JSON object, so #\(field) cannot be selected")
        }
        guard let value = object[field] else {
            throw SecretError(.notFound, "secret \(reference) has no field '\(field)'")
        }
        guard case .text(let text) = value else {
            throw SecretError(.invalidFormat, "field '\(field)' of secret \(reference) is not a string or number")
        }
        return text
    }

    /// One field of a JSON object secret: a string or number as text, anything else unusable.
    private enum FieldValue: Decodable {
        case text(String)
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                self = .text(string)
            } else if let integer = try? container.decode(Int64.self) {
                self = .text(String(integer))
            } else if let double = try? container.decode(Double.self) {
                self = .text(String(double))
            } else {
                self = .other
            }
        }
    }
}
