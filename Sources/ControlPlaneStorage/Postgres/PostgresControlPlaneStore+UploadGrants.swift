internal import PostgresNIO

// Upload grants in PostgreSQL: recorded and checked against the run's limit in one transaction that first locks
// the run's row, so two grant requests of one run (through two replicas, say) cannot both pass the limit.

extension PostgresControlPlaneStore {
    public func recordUploadGrants(
        tenantId: String, runId: String, files: [(path: String, bytes: Int64)], limit: Int64
    ) async throws -> Int64? {
        do {
            return try await transaction { connection in
                try await self.rows(
                    "SELECT 1 FROM runs WHERE tenant_id = \(tenantId) AND id = \(runId) FOR UPDATE", on: connection)
                try await self.rows(
                    """
                    INSERT INTO run_upload_grants (tenant_id, run_id, path, bytes)
                    SELECT \(tenantId), \(runId), f.path, f.bytes
                    FROM unnest(\(files.map(\.path))::text[], \(files.map(\.bytes))::bigint[]) AS f (path, bytes)
                    ON CONFLICT (tenant_id, run_id, path) DO UPDATE SET bytes = excluded.bytes
                    """, on: connection)
                let total = try await self.count(
                    """
                    SELECT coalesce(sum(bytes), 0)::bigint FROM run_upload_grants
                    WHERE tenant_id = \(tenantId) AND run_id = \(runId)
                    """, on: connection)
                guard Int64(total) <= limit else { throw UploadGrantsOverLimit() }
                return Int64(total)
            }
        } catch is UploadGrantsOverLimit {
            return nil
        }
    }

    /// Driven by the grants table, which holds only runs not tidied yet, so the sweep never walks the run history.
    public func finishedRunsWithUploadGrants(limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        return try await rows(
            """
            SELECT \(unescaped: Self.runColumns(of: "r")) FROM runs AS r
            WHERE (r.tenant_id, r.id) IN (SELECT DISTINCT tenant_id, run_id FROM run_upload_grants)
                AND r.status IN ('succeeded', 'partial', 'failed', 'cancelled', 'superseded')
            ORDER BY r.finished_at, r.tenant_id, r.id
            LIMIT \(limit)
            """
        ).map(Self.decodeRun)
    }

    public func uploadGrantPaths(tenantId: String, runId: String) async throws -> [String] {
        try await rows(
            """
            SELECT path FROM run_upload_grants WHERE tenant_id = \(tenantId) AND run_id = \(runId) ORDER BY path
            """
        ).map { try $0.decode(String.self) }
    }

    public func clearUploadGrants(tenantId: String, runId: String) async throws {
        try await rows("DELETE FROM run_upload_grants WHERE tenant_id = \(tenantId) AND run_id = \(runId)")
    }
}
