internal import OutpostProtocol

// The run queue, leases and run logs in SQLite. Every change runs in one `BEGIN IMMEDIATE` transaction, so a
// read-check-write sequence (claim, lease update, log append) cannot interleave with another connection's.

extension SQLiteControlPlaneStore {
    /// Throws `.notFound` when the tenant has no such connection, `.conflict` when the id is taken.
    public func createRun(_ run: RunRecord) async throws {
        try database.writeTransaction { try insertRun(run) }
    }

    /// Inserts `run`; the caller holds the write transaction.
    func insertRun(_ run: RunRecord) throws {
        try database.execute(
            """
            INSERT INTO runs (\(Self.runColumns), generation)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                (SELECT coalesce(max(generation), 0) + 1 FROM runs))
            """,
            [
                run.tenantId, run.id, run.connectionId, run.status.rawValue, run.attempt, run.maxAttempts,
                run.leaseId, run.leaseAgentId, run.leaseExpiresAt, run.cancelRequested, run.cancelReason,
                run.error, run.createdAt, run.startedAt, run.finishedAt, run.logBytes, run.logTotalBytes,
                run.logSHA256, run.logDroppedBytes, run.logAttemptOffset, run.catalogChanges?.created,
                run.catalogChanges?.updated, run.catalogChanges?.unchanged, run.catalogChanges?.deleted,
            ])
    }

    public func run(tenantId: String, id: String) async throws -> RunRecord? {
        try loadRun(tenantId: tenantId, id: id)
    }

    /// Newest first, at most `limit`, optionally of one connection.
    public func runs(tenantId: String, connectionId: String?, limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        if let connectionId {
            return try database.query(
                """
                SELECT \(Self.runColumns) FROM runs WHERE tenant_id = ? AND connection_id = ?
                ORDER BY created_at DESC, id DESC LIMIT ?
                """,
                [tenantId, connectionId, limit], Self.decodeRun)
        }
        return try database.query(
            "SELECT \(Self.runColumns) FROM runs WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [tenantId, limit], Self.decodeRun)
    }

    /// Leases up to `limit` of the tenant's oldest queued runs whose connection's pool is in `pools` and on which
    /// no cancellation is pending: status `leased`, `leaseId + 1`, the agent, expiry `now + ttlSeconds`,
    /// `attempt + 1`. Oldest first. One statement inside `BEGIN IMMEDIATE`, so two stores on one file never
    /// lease the same run. `INDEXED BY` pins the partial queue index: without statistics the planner prefers the
    /// full `(tenant_id, created_at)` index, which walks every finished run before reaching the queue. When a
    /// read finds nothing to lease, no write transaction is opened at all.
    public func claimRuns(
        tenantId: String, agentId: String, pools: [String], limit: Int, ttlSeconds: Int, now: Timestamp
    ) async throws -> [RunRecord] {
        guard limit > 0, !pools.isEmpty else { return [] }
        let poolList = try StoredJSON.encode(pools)
        // Most claims find nothing (idle agents poll): a plain read answers those without the write lock and its
        // commit. A run queued just after this read is found by the claim's next look, which its notification
        // triggers.
        let anyQueued = try database.queryFirst(
            """
            SELECT 1 FROM runs AS r INDEXED BY runs_queued
            JOIN connections AS c ON c.tenant_id = r.tenant_id AND c.id = r.connection_id
            WHERE r.tenant_id = ?1 AND r.status = 'queued' AND r.cancel_requested = 0
                AND c.pool IN (SELECT value FROM json_each(?2))
            LIMIT 1
            """,
            [tenantId, poolList]
        ) { _ in true }
        guard anyQueued == true else { return [] }
        let claimed = try database.writeTransaction {
            try database.query(
                """
                UPDATE runs SET status = 'leased', lease_id = lease_id + 1, lease_agent_id = ?1,
                    lease_expires_at = ?2, attempt = attempt + 1
                WHERE tenant_id = ?3 AND id IN (
                    SELECT r.id FROM runs AS r INDEXED BY runs_queued
                    JOIN connections AS c ON c.tenant_id = r.tenant_id AND c.id = r.connection_id
                    WHERE r.tenant_id = ?3 AND r.status = 'queued' AND r.cancel_requested = 0
                        AND c.pool IN (SELECT value FROM json_each(?4))
                    ORDER BY r.created_at, r.id LIMIT ?5)
                RETURNING \(Self.runColumns)
                """,
                [agentId, now.adding(seconds: ttlSeconds), tenantId, poolList, limit], Self.decodeRun)
        }
        // RETURNING follows no particular order.
        return claimed.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Runs `change` on the run and stores the result, in one transaction, only while `leaseId` is the current
    /// lease, that lease has not expired (`leaseExpiresAt > now`) and the run is not finished; otherwise returns
    /// nil (the caller answers 409) and stores nothing. Every mutable field is written back; the identity, the
    /// lease id and `logBytes` stay as stored. An error thrown by `change` rolls back and is rethrown.
    public func updateLeased(
        tenantId: String, runId: String, leaseId: Int64, now: Timestamp, runningGraceSeconds: Int,
        _ change: @Sendable (inout RunRecord) throws -> Void
    ) async throws -> RunRecord? {
        try database.writeTransaction {
            guard let stored = try loadRun(tenantId: tenantId, id: runId),
                stored.accepts(leaseId: leaseId, at: now, runningGraceSeconds: runningGraceSeconds)
            else { return nil }
            var run = stored
            try change(&run)
            run.keepStoreOwnedFields(of: stored)
            try saveMutableFields(run)
            return run
        }
    }

    /// A queued run, and an ingesting run whose lease expired (nobody is ingesting it), are cancelled at once
    /// (status `cancelled`, `finishedAt = now`); a leased, running or ingesting run gets `cancelRequested` and the
    /// reason (the first reason is kept), which the agent learns on its next
    /// lease renewal. A finished run is returned unchanged; nil when the tenant has no such run.
    public func requestCancel(
        tenantId: String, runId: String, reason: String, now: Timestamp
    ) async throws
        -> RunRecord?
    {
        try database.writeTransaction {
            guard var run = try loadRun(tenantId: tenantId, id: runId) else { return nil }
            guard !run.status.isFinished else { return run }
            if run.endsAtOnceWhenCancelled(at: now) {
                run.status = .cancelled
                run.finishedAt = now
                run.leaseExpiresAt = nil
            }
            run.cancelRequested = true
            run.cancelReason = run.cancelReason ?? reason
            try saveMutableFields(run)
            return run
        }
    }

    public func extendRunningLeases(now: Timestamp, ttlSeconds: Int) async throws -> Int {
        let until = now.adding(seconds: ttlSeconds)
        return try database.writeTransaction {
            try database.execute(
                "UPDATE runs SET lease_expires_at = ?1 WHERE status = 'running' AND lease_expires_at < ?1", [until])
        }
    }

    /// Running runs whose `leaseExpiresAt + graceSeconds < now`, and leased (never started) runs whose
    /// `leaseExpiresAt < now` (the start window a claim gets; no grace, since nothing runs yet): back to `queued` with the lease agent
    /// and expiry cleared (the lease id stays, so the next claim moves past it) while `attempt < maxAttempts` —
    /// with the attempt given back when the run was never started (`leased`), at most `maxAttempts` times;
    /// otherwise `failed` with "lease expired after N attempts". A run with a cancellation pending becomes
    /// `cancelled` instead of queued, since no claim would ever pick it up. Across all tenants; returns how
    /// many runs changed.
    public func expireLeases(now: Timestamp, graceSeconds: Int) async throws -> Int {
        let deadline = Timestamp(milliseconds: now.milliseconds - Int64(graceSeconds) * 1000)
        return try database.writeTransaction {
            let expired = """
                ((status = 'leased' AND lease_expires_at < ?) OR (status = 'running' AND lease_expires_at < ?))
                """
            let cancelled = try database.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ? WHERE \(expired) AND cancel_requested = 1",
                [now, now, deadline])
            // Never started: the agent never had the lease (a long-poll answered as it hung up) or died before
            // `start`; the job did not run, so the attempt is given back, at most `max_attempts` times per run.
            let refunded = try database.execute(
                """
                UPDATE runs SET status = 'queued', lease_agent_id = NULL, lease_expires_at = NULL,
                    attempt = attempt - 1
                WHERE \(expired) AND status = 'leased' AND attempt > 0 AND lease_id - attempt < max_attempts
                """,
                [now, deadline])
            let requeued = try database.execute(
                """
                UPDATE runs SET status = 'queued', lease_agent_id = NULL, lease_expires_at = NULL
                WHERE \(expired) AND attempt < max_attempts
                """,
                [now, deadline])
            let failed = try database.execute(
                """
                UPDATE runs SET status = 'failed', finished_at = ?,
                    error = 'lease expired after ' || attempt || ' attempts'
                WHERE \(expired)
                """,
                [now, now, deadline])
            return cancelled + refunded + requeued + failed
        }
    }

    // MARK: Logs

    /// Appends `text` at `offset` when `offset` is the stored length, in the same transaction that advances
    /// `runs.log_bytes`. A re-sent chunk whose bytes are already stored at `offset` answers the current length
    /// without writing (an agent retrying after a lost reply); any other offset throws
    /// `StorageError(.offsetMismatch(expected:))` with the length to resume from. `.notFound` for an unknown run.
    public func appendLog(tenantId: String, runId: String, offset: Int64, text: [UInt8]) async throws -> Int64 {
        try database.writeTransaction {
            guard
                let stored = try database.queryFirst(
                    "SELECT log_bytes FROM runs WHERE tenant_id = ? AND id = ?", [tenantId, runId], { $0.int64(0) })
            else {
                throw StorageError(.notFound, "run \(runId) does not exist")
            }
            switch LogChunk.decide(offset: offset, count: text.count, storedBytes: stored) {
            case .alreadyStored:
                return stored
            case .compareStored:
                guard try readChunks(tenantId: tenantId, runId: runId, from: offset, limit: text.count) == text else {
                    throw LogChunk.mismatch(runId: runId, offset: offset, expected: stored)
                }
                return stored
            case .mismatch:
                throw LogChunk.mismatch(runId: runId, offset: offset, expected: stored)
            case .append:
                let next = stored + Int64(text.count)
                try database.execute(
                    "INSERT INTO run_logs (tenant_id, run_id, byte_offset, bytes) VALUES (?, ?, ?, ?)",
                    [tenantId, runId, offset, text])
                try database.execute(
                    "UPDATE runs SET log_bytes = ? WHERE tenant_id = ? AND id = ?", [next, tenantId, runId])
                return next
            }
        }
    }

    /// Bytes `from ..< from + limit` of the run's log, shorter at the end of the log; empty for an unknown run.
    public func readLog(tenantId: String, runId: String, from: Int64, limit: Int) async throws -> [UInt8] {
        try readChunks(tenantId: tenantId, runId: runId, from: from, limit: limit)
    }

    private func readChunks(tenantId: String, runId: String, from: Int64, limit: Int) throws -> [UInt8] {
        guard from >= 0, limit > 0 else { return [] }
        // From the chunk holding `from` (the last one starting at or before it) to the last one starting before
        // the end: two range scans of the primary key.
        let chunks = try database.query(
            """
            SELECT byte_offset, bytes FROM run_logs
            WHERE tenant_id = ?1 AND run_id = ?2 AND byte_offset < ?4 AND byte_offset >= coalesce(
                (SELECT max(byte_offset) FROM run_logs WHERE tenant_id = ?1 AND run_id = ?2 AND byte_offset <= ?3), 0)
            ORDER BY byte_offset
            """,
            [tenantId, runId, from, LogChunk.end(from: from, limit: limit)]
        ) { LogChunk(offset: $0.int64(0), bytes: $0.blob(1)) }
        return LogChunk.slice(chunks, from: from, limit: limit)
    }

    // MARK: Rows

    private func loadRun(tenantId: String, id: String) throws -> RunRecord? {
        try database.queryFirst(
            "SELECT \(Self.runColumns) FROM runs WHERE tenant_id = ? AND id = ?", [tenantId, id], Self.decodeRun)
    }

    /// Writes every field a lease holder or an admin may change.
    private func saveMutableFields(_ run: RunRecord) throws {
        try database.execute(
            """
            UPDATE runs SET status = ?, attempt = ?, max_attempts = ?, lease_agent_id = ?, lease_expires_at = ?,
                cancel_requested = ?, cancel_reason = ?, error = ?, started_at = ?, finished_at = ?,
                log_total_bytes = ?, log_sha256 = ?, log_dropped_bytes = ?, log_attempt_offset = ?,
                catalog_created = ?, catalog_updated = ?, catalog_unchanged = ?, catalog_deleted = ?
            WHERE tenant_id = ? AND id = ?
            """,
            [
                run.status.rawValue, run.attempt, run.maxAttempts, run.leaseAgentId, run.leaseExpiresAt,
                run.cancelRequested, run.cancelReason, run.error, run.startedAt, run.finishedAt, run.logTotalBytes,
                run.logSHA256, run.logDroppedBytes, run.logAttemptOffset, run.catalogChanges?.created,
                run.catalogChanges?.updated, run.catalogChanges?.unchanged, run.catalogChanges?.deleted,
                run.tenantId, run.id,
            ])
    }

    static let runColumns = """
        tenant_id, id, connection_id, status, attempt, max_attempts, lease_id, lease_agent_id, lease_expires_at,
        cancel_requested, cancel_reason, error, created_at, started_at, finished_at, log_bytes, log_total_bytes,
        log_sha256, log_dropped_bytes, log_attempt_offset, catalog_created, catalog_updated, catalog_unchanged,
        catalog_deleted
        """

    static func decodeRun(_ row: SQLiteRow) throws -> RunRecord {
        let statusText = row.text(3)
        guard let status = RunRecord.Status(rawValue: statusText) else {
            throw StorageError(.unavailable, "run \(row.text(1)) has an unknown status '\(statusText)'")
        }
        var run = RunRecord(
            tenantId: row.text(0), id: row.text(1), connectionId: row.text(2), status: status, attempt: row.int(4),
            maxAttempts: row.int(5), leaseId: row.int64(6), createdAt: row.timestamp(12))
        run.leaseAgentId = row.optionalText(7)
        run.leaseExpiresAt = row.optionalTimestamp(8)
        run.cancelRequested = row.bool(9)
        run.cancelReason = row.optionalText(10)
        run.error = row.optionalText(11)
        run.startedAt = row.optionalTimestamp(13)
        run.finishedAt = row.optionalTimestamp(14)
        run.logBytes = row.int64(15)
        run.logTotalBytes = row.optionalInt64(16)
        run.logSHA256 = row.optionalText(17)
        run.logDroppedBytes = row.optionalInt64(18)
        run.logAttemptOffset = row.int64(19)
        if let created = row.optionalInt64(20), let updated = row.optionalInt64(21),
            let unchanged = row.optionalInt64(22), let deleted = row.optionalInt64(23)
        {
            run.catalogChanges = PublishSummary(
                created: Int(created), updated: Int(updated), unchanged: Int(unchanged), deleted: Int(deleted))
        }
        return run
    }
}
