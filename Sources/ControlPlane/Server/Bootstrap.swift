public import ControlPlaneStorage
internal import OutpostProtocol

/// First start of a control plane: a default tenant and its first admin key.
public enum Bootstrap {
    /// Creates the default tenant on an empty database and, while that tenant has no key at all, an admin key.
    ///
    /// `deliver` receives the key text *before* the key is stored, so a key that could not be handed to the
    /// operator (say, the key file could not be written) never becomes valid; the next start tries again.
    /// Replicas starting together on one database create one tenant and one key between them: only the replica
    /// whose key was stored has `deliver` called. Returns the stored key's row, or nil when nothing had to be done.
    @discardableResult
    public static func run(
        store: some ControlPlaneStore, clock: WallClock = .system, tenantName: String = "default",
        deliver: @Sendable (String) throws -> Void
    ) async throws -> APIKey? {
        let now = clock.now
        let tenant = try await store.firstTenant(
            creatingIfNone: Tenant(id: Identifier.make("ten"), name: tenantName, createdAt: now))
        return try await store.createFirstKey(tenantId: tenant.id) {
            let minted = APIKey.mint(
                tenantId: tenant.id, name: "bootstrap admin", role: .admin, expiresAt: nil, now: now)
            try deliver(minted.text)
            return minted.key
        }
    }
}
