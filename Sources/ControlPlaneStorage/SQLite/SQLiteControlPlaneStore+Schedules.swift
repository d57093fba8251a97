// The scheduler's compare-and-set and the recovery of interrupted ingestions in SQLite. Each runs in one
// `BEGIN IMMEDIATE` transaction, so stores sharing the file take turns and the second finds the slot moved.

extension SQLiteControlPlaneStore {
    public func dueConnections(now: Timestamp, limit: Int) async throws -> [ConnectionRecord] {
        guard limit > 0 else { return [] }
        return try database.query(
            """
            SELECT \(Self.connectionColumns) FROM connections
            WHERE schedule IS NOT NULL AND (next_run_at IS NULL OR next_run_at <= ?)
            ORDER BY next_run_at NULLS FIRST, tenant_id, id
            LIMIT ?
            """,
            [now, limit], Self.decodeConnection)
    }

    public func advanceSchedule(
        tenantId: String, connectionId: String, expected: Timestamp?, next: Timestamp?, run: RunRecord?
    ) async throws -> ScheduleAdvance {
        try database.writeTransaction {
            let moved = try database.execute(
                """
                UPDATE connections SET next_run_at = ?
                WHERE tenant_id = ? AND id = ? AND schedule IS NOT NULL AND next_run_at IS ?
                """,
                [next, tenantId, connectionId, expected])
            guard moved > 0 else { return .lost }
            guard let run else { return .advanced }
            let active = try database.queryFirst(
                """
                SELECT 1 FROM runs
                WHERE tenant_id = ? AND connection_id = ? AND status IN ('queued', 'leased', 'running', 'ingesting')
                LIMIT 1
                """,
                [tenantId, connectionId]
            ) { $0.int(0) }
            guard active == nil else { return .skippedActiveRun }
            try insertRun(run)
            return .queued
        }
    }

    public func recoverIngestions(
        now: Timestamp, expiredBefore: Timestamp, holdSeconds: Int, maximumRecoveries: Int, limit: Int
    ) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        return try database.writeTransaction {
            let resolved = try database.query(
                """
                UPDATE runs SET finished_at = ?1, lease_expires_at = NULL,
                    status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END,
                    error = CASE WHEN cancel_requested = 1 THEN error
                        ELSE 'the control plane stopped while ingesting this delivery '
                            || (ingestion_recoveries + 1) || ' times; run the connection again' END
                WHERE status = 'ingesting' AND lease_expires_at < ?2
                    AND (cancel_requested = 1 OR ingestion_recoveries >= ?3)
                RETURNING \(Self.runColumns)
                """,
                [now, expiredBefore, maximumRecoveries], Self.decodeRun)
            let recovered = try database.query(
                """
                UPDATE runs SET lease_id = lease_id + 1, lease_expires_at = ?2,
                    ingestion_recoveries = ingestion_recoveries + 1
                WHERE rowid IN (
                    SELECT rowid FROM runs INDEXED BY runs_ingesting
                    WHERE status = 'ingesting' AND lease_expires_at < ?1 AND cancel_requested = 0
                        AND ingestion_recoveries < ?3
                    ORDER BY lease_expires_at LIMIT ?4)
                RETURNING \(Self.runColumns)
                """,
                [expiredBefore, now.adding(seconds: holdSeconds), maximumRecoveries, limit], Self.decodeRun)
            return (resolved + recovered).sorted { ($0.tenantId, $0.id) < ($1.tenantId, $1.id) }
        }
    }
}
