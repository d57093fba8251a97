/// First start of a control plane: a default tenant and its first admin key.
public enum Bootstrap {
    /// Creates the default tenant on an empty database and, while that tenant has no key at all, an admin key.
    ///
    /// `deliver` receives the key text *before* the key is stored, so a key that could not be handed to the
    /// operator (say, the key file could not be written) never becomes valid; the next start tries again.
    /// Returns the stored key's row, or nil when nothing had to be done.
    @discardableResult
    public static func run(
        store: some ControlPlaneStore, clock: WallClock = .system, tenantName: String = "default",
        deliver: (String) throws -> Void
    ) async throws -> APIKey? {
        let now = clock.now
        let tenant: Tenant
        if let existing = try await store.firstTenant() {
            tenant = existing
        } else {
            tenant = Tenant(id: Identifier.make("ten"), name: tenantName, createdAt: now)
            try await store.createTenant(tenant)
        }
        guard try await store.keys(tenantId: tenant.id).isEmpty else { return nil }
        let minted = APIKey.mint(tenantId: tenant.id, name: "bootstrap admin", role: .admin, expiresAt: nil, now: now)
        try deliver(minted.text)
        try await store.createKey(minted.key)
        return minted.key
    }
}
