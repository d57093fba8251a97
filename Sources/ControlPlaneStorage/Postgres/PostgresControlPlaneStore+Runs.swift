internal import NIOCore
internal import OutpostProtocol
internal import PostgresNIO

// The run queue, leases and run logs in PostgreSQL. Claims skip rows another replica has locked; every
// read-check-write sequence (lease update, cancel, log append) locks the run row first.

extension PostgresControlPlaneStore {
    /// Throws `.notFound` when the tenant has no such connection, `.conflict` when the id is taken.
    public func createRun(_ run: RunRecord) async throws {
        try await rows(Self.insertRun(run))
    }

    /// The statement inserting `run`.
    static func insertRun(_ run: RunRecord) -> PostgresQuery {
        """
        INSERT INTO runs (\(unescaped: Self.runColumns()))
        VALUES (\(run.tenantId), \(run.id), \(run.connectionId), \(run.status.rawValue), \(run.attempt),
            \(run.maxAttempts), \(run.leaseId), \(run.leaseAgentId), \(run.leaseExpiresAt?.milliseconds),
            \(run.cancelRequested), \(run.cancelReason), \(run.error), \(run.createdAt.milliseconds),
            \(run.startedAt?.milliseconds), \(run.finishedAt?.milliseconds), \(run.logBytes), \(run.logTotalBytes),
            \(run.logSHA256), \(run.logDroppedBytes), \(run.logAttemptOffset), \(run.catalogChanges?.created),
            \(run.catalogChanges?.updated), \(run.catalogChanges?.unchanged), \(run.catalogChanges?.deleted))
        """
    }

    public func run(tenantId: String, id: String) async throws -> RunRecord? {
        try await rows(
            "SELECT \(unescaped: Self.runColumns()) FROM runs WHERE tenant_id = \(tenantId) AND id = \(id)"
        ).first.map(Self.decodeRun)
    }

    /// Newest first, at most `limit`, optionally of one connection.
    public func runs(tenantId: String, connectionId: String?, limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        if let connectionId {
            return try await rows(
                """
                SELECT \(unescaped: Self.runColumns()) FROM runs
                WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """
            ).map(Self.decodeRun)
        }
        return try await rows(
            """
            SELECT \(unescaped: Self.runColumns()) FROM runs WHERE tenant_id = \(tenantId)
            ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """
        ).map(Self.decodeRun)
    }

    /// Leases up to `limit` of the tenant's oldest queued runs whose connection's pool is in `pools` and on which
    /// no cancellation is pending: status `leased`, `leaseId + 1`, the agent, expiry `now + ttlSeconds`,
    /// `attempt + 1`. Oldest first.
    ///
    /// One statement, so one transaction: the runs are picked with `FOR UPDATE SKIP LOCKED`, so replicas
    /// claiming at the same moment each lock different rows instead of waiting for (or double-leasing) the same
    /// ones; a row whose claim committed meanwhile is re-checked and no longer `queued`.
    public func claimRuns(
        tenantId: String, agentId: String, pools: [String], limit: Int, ttlSeconds: Int, now: Timestamp
    ) async throws -> [RunRecord] {
        guard limit > 0, !pools.isEmpty else { return [] }
        let claimed = try await rows(
            """
            WITH picked AS (
                SELECT r.tenant_id, r.id FROM runs AS r
                JOIN connections AS c ON c.tenant_id = r.tenant_id AND c.id = r.connection_id
                WHERE r.tenant_id = \(tenantId) AND r.status = 'queued' AND NOT r.cancel_requested
                    AND c.pool = ANY(\(pools))
                ORDER BY r.created_at, r.id
                LIMIT \(limit)
                FOR UPDATE OF r SKIP LOCKED
            )
            UPDATE runs SET status = 'leased', lease_id = runs.lease_id + 1, lease_agent_id = \(agentId),
                lease_expires_at = \(now.adding(seconds: ttlSeconds).milliseconds), attempt = runs.attempt + 1
            FROM picked
            WHERE runs.tenant_id = \(tenantId) AND runs.tenant_id = picked.tenant_id AND runs.id = picked.id
            RETURNING \(unescaped: Self.runColumns(of: "runs"))
            """
        ).map(Self.decodeRun)
        // RETURNING follows no particular order.
        return claimed.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Runs `change` on the run and stores the result, in one transaction holding the run's row lock, only while
    /// `leaseId` is the current lease, that lease has not expired (`leaseExpiresAt > now`) and the run is not
    /// finished; otherwise returns nil (the caller answers 409) and stores nothing. Every mutable field is written
    /// back; the identity, the lease id and `logBytes` stay as stored. An error thrown by `change` rolls back and
    /// is rethrown.
    public func updateLeased(
        tenantId: String, runId: String, leaseId: Int64, now: Timestamp, runningGraceSeconds: Int,
        _ change: @Sendable (inout RunRecord) throws -> Void
    ) async throws -> RunRecord? {
        try await transaction { connection in
            guard let stored = try await self.lockRun(tenantId: tenantId, id: runId, on: connection),
                stored.accepts(leaseId: leaseId, at: now, runningGraceSeconds: runningGraceSeconds)
            else { return nil }
            var run = stored
            try change(&run)
            run.keepStoreOwnedFields(of: stored)
            try await self.saveMutableFields(run, on: connection)
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
        try await transaction { connection in
            guard var run = try await self.lockRun(tenantId: tenantId, id: runId, on: connection) else { return nil }
            guard !run.status.isFinished else { return run }
            if run.endsAtOnceWhenCancelled(at: now) {
                run.status = .cancelled
                run.finishedAt = now
                run.leaseExpiresAt = nil
            }
            run.cancelRequested = true
            run.cancelReason = run.cancelReason ?? reason
            try await self.saveMutableFields(run, on: connection)
            return run
        }
    }

    public func extendRunningLeases(now: Timestamp, ttlSeconds: Int) async throws -> Int {
        let until = now.adding(seconds: ttlSeconds).milliseconds
        return try await rows(
            """
            UPDATE runs SET lease_expires_at = \(until)
            WHERE status = 'running' AND lease_expires_at < \(until)
            RETURNING id
            """
        ).count
    }

    /// Running runs whose `leaseExpiresAt + graceSeconds < now`, and leased (never started) runs whose
    /// `leaseExpiresAt < now` (the start window a claim gets; no grace, since nothing runs yet): back to `queued` with the lease agent
    /// and expiry cleared (the lease id stays, so the next claim moves past it) while `attempt < maxAttempts`;
    /// otherwise `failed` with "lease expired after N attempts". A run with a cancellation pending becomes
    /// `cancelled` instead of queued, since no claim would ever pick it up. Across all tenants; returns how
    /// many runs changed.
    ///
    /// One statement that skips rows locked elsewhere: replicas sweeping together never wait on (or deadlock
    /// over) each other's rows, and a run whose lease is being renewed right now is left to that renewal.
    public func expireLeases(now: Timestamp, graceSeconds: Int) async throws -> Int {
        let deadline = now.milliseconds - Int64(graceSeconds) * 1000
        return try await rows(
            """
            WITH expired AS (
                SELECT tenant_id, id FROM runs
                WHERE (status = 'leased' AND lease_expires_at < \(now.milliseconds))
                    OR (status = 'running' AND lease_expires_at < \(deadline))
                FOR UPDATE SKIP LOCKED
            ),
            decided AS (
                SELECT runs.tenant_id, runs.id, CASE
                    WHEN runs.cancel_requested THEN 'cancelled'
                    WHEN runs.status = 'leased' AND runs.attempt > 0
                        AND runs.lease_id - runs.attempt < runs.max_attempts THEN 'refunded'
                    WHEN runs.attempt < runs.max_attempts THEN 'queued'
                    ELSE 'failed' END AS outcome
                FROM runs JOIN expired ON runs.tenant_id = expired.tenant_id AND runs.id = expired.id
            )
            UPDATE runs SET
                status = CASE WHEN decided.outcome = 'refunded' THEN 'queued' ELSE decided.outcome END,
                attempt = CASE WHEN decided.outcome = 'refunded' THEN runs.attempt - 1 ELSE runs.attempt END,
                lease_agent_id = CASE WHEN decided.outcome IN ('queued', 'refunded') THEN NULL
                    ELSE runs.lease_agent_id END,
                lease_expires_at = CASE WHEN decided.outcome IN ('queued', 'refunded') THEN NULL
                    ELSE runs.lease_expires_at END,
                finished_at = CASE WHEN decided.outcome IN ('queued', 'refunded') THEN runs.finished_at
                    ELSE \(now.milliseconds) END,
                error = CASE WHEN decided.outcome = 'failed'
                    THEN 'lease expired after ' || runs.attempt || ' attempts' ELSE runs.error END
            FROM decided
            WHERE runs.tenant_id = decided.tenant_id AND runs.id = decided.id
            RETURNING runs.id
            """
        ).count
    }

    // MARK: Logs

    /// Appends `text` at `offset` when `offset` is the stored length, in the same transaction (holding the run's
    /// row lock) that advances `runs.log_bytes`. A re-sent chunk whose bytes are already stored at `offset`
    /// answers the current length without writing (an agent retrying after a lost reply); any other offset throws
    /// `StorageError(.offsetMismatch(expected:))` with the length to resume from. `.notFound` for an unknown run.
    public func appendLog(tenantId: String, runId: String, offset: Int64, text: [UInt8]) async throws -> Int64 {
        try await transaction { connection in
            guard
                let row = try await self.rows(
                    "SELECT log_bytes FROM runs WHERE tenant_id = \(tenantId) AND id = \(runId) FOR UPDATE",
                    on: connection
                ).first
            else {
                throw StorageError(.notFound, "run \(runId) does not exist")
            }
            let stored = try row.decode(Int64.self)
            switch LogChunk.decide(offset: offset, count: text.count, storedBytes: stored) {
            case .alreadyStored:
                return stored
            case .compareStored:
                let existing = try await self.readChunks(
                    tenantId: tenantId, runId: runId, from: offset, limit: text.count, on: connection)
                guard existing == text else { throw LogChunk.mismatch(runId: runId, offset: offset, expected: stored) }
                return stored
            case .mismatch:
                throw LogChunk.mismatch(runId: runId, offset: offset, expected: stored)
            case .append:
                let next = stored + Int64(text.count)
                try await self.rows(
                    """
                    INSERT INTO run_logs (tenant_id, run_id, byte_offset, bytes)
                    VALUES (\(tenantId), \(runId), \(offset), \(ByteBuffer(bytes: text)))
                    """, on: connection)
                try await self.rows(
                    "UPDATE runs SET log_bytes = \(next) WHERE tenant_id = \(tenantId) AND id = \(runId)",
                    on: connection)
                return next
            }
        }
    }

    /// Bytes `from ..< from + limit` of the run's log, shorter at the end of the log; empty for an unknown run.
    public func readLog(tenantId: String, runId: String, from: Int64, limit: Int) async throws -> [UInt8] {
        guard from >= 0, limit > 0 else { return [] }
        let chunks = try await rows(Self.chunkQuery(tenantId: tenantId, runId: runId, from: from, limit: limit))
        return LogChunk.slice(try chunks.map(Self.decodeChunk), from: from, limit: limit)
    }

    private func readChunks(
        tenantId: String, runId: String, from: Int64, limit: Int, on connection: PostgresConnection
    ) async throws -> [UInt8] {
        let chunks = try await rows(
            Self.chunkQuery(tenantId: tenantId, runId: runId, from: from, limit: limit), on: connection)
        return LogChunk.slice(try chunks.map(Self.decodeChunk), from: from, limit: limit)
    }

    /// From the chunk holding `from` (the last one starting at or before it) to the last one starting before the
    /// end: two range scans of the primary key.
    private static func chunkQuery(tenantId: String, runId: String, from: Int64, limit: Int) -> PostgresQuery {
        let end = LogChunk.end(from: from, limit: limit)
        return """
            SELECT byte_offset, bytes FROM run_logs
            WHERE tenant_id = \(tenantId) AND run_id = \(runId) AND byte_offset < \(end)
                AND byte_offset >= coalesce((
                    SELECT max(byte_offset) FROM run_logs
                    WHERE tenant_id = \(tenantId) AND run_id = \(runId) AND byte_offset <= \(from)), 0)
            ORDER BY byte_offset
            """
    }

    private static func decodeChunk(_ row: PostgresRow) throws -> LogChunk {
        let (offset, bytes) = try row.decode((Int64, ByteBuffer).self)
        return LogChunk(offset: offset, bytes: Array(bytes.readableBytesView))
    }

    // MARK: Rows

    private func lockRun(tenantId: String, id: String, on connection: PostgresConnection) async throws -> RunRecord? {
        try await rows(
            "SELECT \(unescaped: Self.runColumns()) FROM runs WHERE tenant_id = \(tenantId) AND id = \(id) FOR UPDATE",
            on: connection
        ).first.map(Self.decodeRun)
    }

    /// Writes every field a lease holder or an admin may change.
    private func saveMutableFields(_ run: RunRecord, on connection: PostgresConnection) async throws {
        try await rows(
            """
            UPDATE runs SET status = \(run.status.rawValue), attempt = \(run.attempt),
                max_attempts = \(run.maxAttempts), lease_agent_id = \(run.leaseAgentId),
                lease_expires_at = \(run.leaseExpiresAt?.milliseconds), cancel_requested = \(run.cancelRequested),
                cancel_reason = \(run.cancelReason), error = \(run.error), started_at = \(run.startedAt?.milliseconds),
                finished_at = \(run.finishedAt?.milliseconds), log_total_bytes = \(run.logTotalBytes),
                log_sha256 = \(run.logSHA256), log_dropped_bytes = \(run.logDroppedBytes),
                log_attempt_offset = \(run.logAttemptOffset), catalog_created = \(run.catalogChanges?.created),
                catalog_updated = \(run.catalogChanges?.updated), catalog_unchanged = \(run.catalogChanges?.unchanged),
                catalog_deleted = \(run.catalogChanges?.deleted)
            WHERE tenant_id = \(run.tenantId) AND id = \(run.id)
            """, on: connection)
    }

    private static let runColumnNames = [
        "tenant_id", "id", "connection_id", "status", "attempt", "max_attempts", "lease_id", "lease_agent_id",
        "lease_expires_at", "cancel_requested", "cancel_reason", "error", "created_at", "started_at", "finished_at",
        "log_bytes", "log_total_bytes", "log_sha256", "log_dropped_bytes", "log_attempt_offset", "catalog_created",
        "catalog_updated", "catalog_unchanged", "catalog_deleted",
    ]

    /// The run columns in `decodeRun`'s order, qualified by `table` where a join makes names ambiguous.
    static func runColumns(of table: String? = nil) -> String {
        runColumnNames.map { column in table.map { "\($0).\(column)" } ?? column }.joined(separator: ", ")
    }

    static func decodeRun(_ row: PostgresRow) throws -> RunRecord {
        let columns = row.makeRandomAccess()
        let statusText = try columns[3].decode(String.self)
        let id = try columns[1].decode(String.self)
        guard let status = RunRecord.Status(rawValue: statusText) else {
            throw StorageError(.unavailable, "run \(id) has an unknown status '\(statusText)'")
        }
        var run = RunRecord(
            tenantId: try columns[0].decode(String.self), id: id, connectionId: try columns[2].decode(String.self),
            status: status, attempt: try columns[4].decode(Int.self), maxAttempts: try columns[5].decode(Int.self),
            leaseId: try columns[6].decode(Int64.self),
            createdAt: Timestamp(milliseconds: try columns[12].decode(Int64.self)))
        run.leaseAgentId = try columns[7].decode(String?.self)
        run.leaseExpiresAt = try columns[8].decode(Int64?.self).map(Timestamp.init(milliseconds:))
        run.cancelRequested = try columns[9].decode(Bool.self)
        run.cancelReason = try columns[10].decode(String?.self)
        run.error = try columns[11].decode(String?.self)
        run.startedAt = try columns[13].decode(Int64?.self).map(Timestamp.init(milliseconds:))
        run.finishedAt = try columns[14].decode(Int64?.self).map(Timestamp.init(milliseconds:))
        run.logBytes = try columns[15].decode(Int64.self)
        run.logTotalBytes = try columns[16].decode(Int64?.self)
        run.logSHA256 = try columns[17].decode(String?.self)
        run.logDroppedBytes = try columns[18].decode(Int64?.self)
        run.logAttemptOffset = try columns[19].decode(Int64.self)
        if let created = try columns[20].decode(Int?.self), let updated = try columns[21].decode(Int?.self),
            let unchanged = try columns[22].decode(Int?.self), let deleted = try columns[23].decode(Int?.self)
        {
            run.catalogChanges = PublishSummary(
                created: created, updated: updated, unchanged: unchanged, deleted: deleted)
        }
        return run
    }
}
