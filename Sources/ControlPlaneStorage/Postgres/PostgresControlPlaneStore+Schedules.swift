internal import PostgresNIO

// The scheduler's compare-and-set and the recovery of interrupted ingestions in PostgreSQL. Both are safe with
// several replicas: the slot moves under the connection's row lock (a second replica's UPDATE waits, then finds
// `next_run_at` changed and matches nothing), and recovery skips rows another replica has locked.

extension PostgresControlPlaneStore {
    public func dueConnections(now: Timestamp, limit: Int) async throws -> [ConnectionRecord] {
        guard limit > 0 else { return [] }
        return try await rows(
            """
            SELECT \(unescaped: Self.connectionColumns) FROM connections
            WHERE schedule IS NOT NULL AND (next_run_at IS NULL OR next_run_at <= \(now.milliseconds))
            ORDER BY next_run_at NULLS FIRST, tenant_id, id
            LIMIT \(limit)
            """
        ).map(Self.decodeConnection)
    }

    public func advanceSchedule(
        tenantId: String, connectionId: String, expected: Timestamp?, next: Timestamp?, run: RunRecord?
    ) async throws -> ScheduleAdvance {
        try await transaction { connection in
            let moved = try await self.rows(
                """
                UPDATE connections SET next_run_at = \(next?.milliseconds)
                WHERE tenant_id = \(tenantId) AND id = \(connectionId) AND schedule IS NOT NULL
                    AND next_run_at IS NOT DISTINCT FROM \(expected?.milliseconds)
                RETURNING id
                """, on: connection)
            guard !moved.isEmpty else { return .lost }
            guard let run else { return .advanced }
            let active = try await self.rows(
                """
                SELECT 1 FROM runs
                WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)
                    AND status IN ('queued', 'leased', 'running', 'ingesting')
                LIMIT 1
                """, on: connection)
            guard active.isEmpty else { return .skippedActiveRun }
            try await self.rows(Self.insertRun(run), on: connection)
            return .queued
        }
    }

    /// Two statements in one transaction, each picking its rows with `FOR UPDATE SKIP LOCKED`: runs with a
    /// cancellation pending are cancelled and runs out of recoveries fail, the others get a new lease.
    public func recoverIngestions(
        now: Timestamp, expiredBefore: Timestamp, holdSeconds: Int, maximumRecoveries: Int, limit: Int
    ) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        let hold = now.adding(seconds: holdSeconds).milliseconds
        return try await transaction { connection in
            let resolved = try await self.rows(
                """
                WITH ended AS (
                    SELECT tenant_id, id FROM runs
                    WHERE status = 'ingesting' AND lease_expires_at < \(expiredBefore.milliseconds)
                        AND (cancel_requested OR ingestion_recoveries >= \(maximumRecoveries))
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE runs SET finished_at = \(now.milliseconds), lease_expires_at = NULL,
                    status = CASE WHEN runs.cancel_requested THEN 'cancelled' ELSE 'failed' END,
                    error = CASE WHEN runs.cancel_requested THEN runs.error
                        ELSE 'the control plane stopped while ingesting this delivery '
                            || (runs.ingestion_recoveries + 1) || ' times; run the connection again' END
                FROM ended
                WHERE runs.tenant_id = ended.tenant_id AND runs.id = ended.id
                RETURNING \(unescaped: Self.runColumns(of: "runs"))
                """, on: connection
            ).map(Self.decodeRun)
            let recovered = try await self.rows(
                """
                WITH picked AS (
                    SELECT tenant_id, id FROM runs
                    WHERE status = 'ingesting' AND lease_expires_at < \(expiredBefore.milliseconds)
                        AND NOT cancel_requested AND ingestion_recoveries < \(maximumRecoveries)
                    ORDER BY lease_expires_at, tenant_id, id
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE runs SET lease_id = runs.lease_id + 1, lease_expires_at = \(hold),
                    ingestion_recoveries = runs.ingestion_recoveries + 1
                FROM picked
                WHERE runs.tenant_id = picked.tenant_id AND runs.id = picked.id
                RETURNING \(unescaped: Self.runColumns(of: "runs"))
                """, on: connection
            ).map(Self.decodeRun)
            return (resolved + recovered).sorted { ($0.tenantId, $0.id) < ($1.tenantId, $1.id) }
        }
    }
}
