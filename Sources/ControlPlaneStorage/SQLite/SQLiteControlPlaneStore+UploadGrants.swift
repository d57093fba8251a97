// Upload grants in SQLite: recorded and checked against the run's limit in one `BEGIN IMMEDIATE` transaction, so
// two grant requests of one run cannot both pass the limit.

extension SQLiteControlPlaneStore {
    public func recordUploadGrants(
        tenantId: String, runId: String, files: [(path: String, bytes: Int64)], limit: Int64
    ) async throws -> Int64? {
        do {
            return try database.writeTransaction {
                for file in files {
                    try database.execute(
                        """
                        INSERT INTO run_upload_grants (tenant_id, run_id, path, bytes) VALUES (?, ?, ?, ?)
                        ON CONFLICT (tenant_id, run_id, path) DO UPDATE SET bytes = excluded.bytes
                        """, [tenantId, runId, file.path, file.bytes])
                }
                let total =
                    try database.queryFirst(
                        "SELECT coalesce(sum(bytes), 0) FROM run_upload_grants WHERE tenant_id = ? AND run_id = ?",
                        [tenantId, runId], { $0.int64(0) }) ?? 0
                // Over the limit: throwing rolls the transaction back, so nothing of this request is recorded.
                guard total <= limit else { throw UploadGrantsOverLimit() }
                return total
            }
        } catch is UploadGrantsOverLimit {
            return nil
        }
    }

    /// Driven by the grants table, which holds only runs not tidied yet, so the sweep never walks the run history.
    public func finishedRunsWithUploadGrants(limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        return try database.query(
            """
            SELECT \(Self.runColumns) FROM runs AS r
            WHERE (r.tenant_id, r.id) IN (SELECT DISTINCT tenant_id, run_id FROM run_upload_grants)
                AND r.status IN ('succeeded', 'partial', 'failed', 'cancelled', 'superseded')
            ORDER BY r.finished_at, r.tenant_id, r.id
            LIMIT ?
            """, [limit], Self.decodeRun)
    }

    public func uploadGrantPaths(tenantId: String, runId: String) async throws -> [String] {
        try database.query(
            "SELECT path FROM run_upload_grants WHERE tenant_id = ? AND run_id = ? ORDER BY path", [tenantId, runId]
        ) { $0.text(0) }
    }

    public func clearUploadGrants(tenantId: String, runId: String) async throws {
        try database.writeTransaction {
            _ = try database.execute(
                "DELETE FROM run_upload_grants WHERE tenant_id = ? AND run_id = ?", [tenantId, runId])
        }
    }
}

/// Thrown inside a grant transaction to roll it back.
struct UploadGrantsOverLimit: Error {}
