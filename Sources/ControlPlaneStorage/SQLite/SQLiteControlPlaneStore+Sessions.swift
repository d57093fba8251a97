// Web UI sessions in SQLite.

extension SQLiteControlPlaneStore {
    /// Throws `.conflict` when the hash is taken, `.notFound` when the tenant or key does not exist.
    public func createSession(_ session: SessionRecord) async throws {
        try database.writeTransaction {
            try database.execute(
                """
                INSERT INTO ui_sessions (hash, tenant_id, key_id, csrf_token, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    session.hash, session.tenantId, session.keyId, session.csrfToken, session.createdAt,
                    session.expiresAt,
                ])
        }
    }

    /// One query: the session joined with its key, which must belong to the same tenant and still be valid.
    public func session(hash: String, now: Timestamp) async throws -> SessionRecord? {
        try database.queryFirst(
            """
            SELECT s.hash, s.tenant_id, s.key_id, s.csrf_token, s.created_at, s.expires_at
            FROM ui_sessions s JOIN api_keys k ON k.id = s.key_id AND k.tenant_id = s.tenant_id
            WHERE s.hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL
                AND (k.expires_at IS NULL OR k.expires_at > ?)
            """,
            [hash, now, now]
        ) { row in
            SessionRecord(
                hash: row.text(0), tenantId: row.text(1), keyId: row.text(2), csrfToken: row.text(3),
                createdAt: row.timestamp(4), expiresAt: row.timestamp(5))
        }
    }

    public func deleteSession(hash: String) async throws -> Bool {
        try database.writeTransaction {
            try database.execute("DELETE FROM ui_sessions WHERE hash = ?", [hash]) > 0
        }
    }

    public func deleteExpiredSessions(now: Timestamp) async throws -> Int {
        try database.writeTransaction {
            try database.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", [now])
        }
    }
}
