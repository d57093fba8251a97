/// A signed-in web UI session as stored: never the session token itself, only its SHA-256, so a copy of the
/// database cannot be replayed as a browser cookie.
public struct SessionRecord: Sendable, Equatable {
    /// Lower-case hex SHA-256 of the token in the session cookie.
    public var hash: String
    public var tenantId: String
    /// The admin key that signed in: revoking or expiring it ends the session too.
    public var keyId: String
    /// The synchronizer token every form of the session must carry (CSRF protection).
    public var csrfToken: String
    public var createdAt: Timestamp
    /// An absolute end: sessions are not extended by use, so a stolen cookie has a bounded life.
    public var expiresAt: Timestamp

    public init(
        hash: String, tenantId: String, keyId: String, csrfToken: String, createdAt: Timestamp, expiresAt: Timestamp
    ) {
        self.hash = hash
        self.tenantId = tenantId
        self.keyId = keyId
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// Web UI sessions, kept server-side so sign-out and key revocation end them at once on every replica.
public protocol SessionRepository: Sendable {
    /// Throws `StorageError.conflict` when the hash is taken, `.notFound` when the tenant or key does not exist.
    func createSession(_ session: SessionRecord) async throws
    /// The session with this hash if it is still live at `now`: not expired, and the key that signed it in is
    /// neither revoked nor expired. Nil otherwise.
    func session(hash: String, now: Timestamp) async throws -> SessionRecord?
    /// Sign-out: removes the session; false when there was none.
    func deleteSession(hash: String) async throws -> Bool
    /// Removes every session that expired at or before `now`; returns how many. Safe to call from every replica.
    func deleteExpiredSessions(now: Timestamp) async throws -> Int
}
