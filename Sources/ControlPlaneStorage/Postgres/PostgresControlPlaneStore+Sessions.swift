internal import PostgresNIO

// Web UI sessions in PostgreSQL.

extension PostgresControlPlaneStore {
    /// Throws `.conflict` when the hash is taken, `.notFound` when the tenant or key does not exist.
    public func createSession(_ session: SessionRecord) async throws {
        try await rows(
            """
            INSERT INTO ui_sessions (hash, tenant_id, key_id, csrf_token, created_at, expires_at)
            VALUES (\(session.hash), \(session.tenantId), \(session.keyId), \(session.csrfToken),
                \(session.createdAt.milliseconds), \(session.expiresAt.milliseconds))
            """)
    }

    /// One query: the session joined with its key, which must belong to the same tenant and still be valid.
    public func session(hash: String, now: Timestamp) async throws -> SessionRecord? {
        try await rows(
            """
            SELECT s.hash, s.tenant_id, s.key_id, s.csrf_token, s.created_at, s.expires_at
            FROM ui_sessions s JOIN api_keys k ON k.id = s.key_id AND k.tenant_id = s.tenant_id
            WHERE s.hash = \(hash) AND s.expires_at > \(now.milliseconds) AND k.revoked_at IS NULL
                AND (k.expires_at IS NULL OR k.expires_at > \(now.milliseconds))
            """
        ).first.map { row in
            let (hash, tenantId, keyId, csrfToken, createdAt, expiresAt) =
                try row.decode((String, String, String, String, Int64, Int64).self)
            return SessionRecord(
                hash: hash, tenantId: tenantId, keyId: keyId, csrfToken: csrfToken,
                createdAt: Timestamp(milliseconds: createdAt), expiresAt: Timestamp(milliseconds: expiresAt))
        }
    }

    public func deleteSession(hash: String) async throws -> Bool {
        try await !rows("DELETE FROM ui_sessions WHERE hash = \(hash) RETURNING hash").isEmpty
    }

    public func deleteExpiredSessions(now: Timestamp) async throws -> Int {
        // Counted in the database, so a large sweep never brings its rows back.
        let rows = try await rows(
            """
            WITH gone AS (DELETE FROM ui_sessions WHERE expires_at <= \(now.milliseconds) RETURNING 1)
            SELECT count(*) FROM gone
            """)
        return try rows.first?.decode(Int.self) ?? 0
    }
}
