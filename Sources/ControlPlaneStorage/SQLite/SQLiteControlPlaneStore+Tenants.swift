public import OutpostProtocol

// Tenants, API keys and agents in SQLite.

extension SQLiteControlPlaneStore {
    // MARK: Tenants

    /// Throws `.conflict` when the id is taken.
    public func createTenant(_ tenant: Tenant) async throws {
        try database.writeTransaction {
            try database.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                [tenant.id, tenant.name, tenant.createdAt])
        }
    }

    public func tenant(id: String) async throws -> Tenant? {
        try database.queryFirst("SELECT id, name, created_at FROM tenants WHERE id = ?", [id], Self.decodeTenant)
    }

    public func firstTenant() async throws -> Tenant? {
        try database.queryFirst(
            "SELECT id, name, created_at FROM tenants ORDER BY created_at, id LIMIT 1", [], Self.decodeTenant)
    }

    /// In one `BEGIN IMMEDIATE` transaction: a second server on the same file waits for the first one's tenant.
    public func firstTenant(creatingIfNone tenant: Tenant) async throws -> Tenant {
        try database.writeTransaction {
            if let first = try database.queryFirst(
                "SELECT id, name, created_at FROM tenants ORDER BY created_at, id LIMIT 1", [], Self.decodeTenant)
            {
                return first
            }
            try database.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                [tenant.id, tenant.name, tenant.createdAt])
            return tenant
        }
    }

    // MARK: API keys

    /// In one `BEGIN IMMEDIATE` transaction, like `firstTenant(creatingIfNone:)`.
    public func createFirstKey(tenantId: String, mint: @Sendable () throws -> APIKey) async throws -> APIKey? {
        try database.writeTransaction {
            guard
                try database.queryFirst("SELECT 1 FROM api_keys WHERE tenant_id = ? LIMIT 1", [tenantId], { _ in true })
                    == nil
            else { return nil }
            let key = try mint()
            try insert(key)
            return key
        }
    }

    /// Inserts the key row; inside a write transaction.
    private func insert(_ key: APIKey) throws {
        try database.execute(
            """
            INSERT INTO api_keys (id, tenant_id, name, role, hash, prefix, created_at, expires_at, revoked_at,
                last_used_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                key.id, key.tenantId, key.name, key.role.rawValue, key.hash, key.prefix, key.createdAt,
                key.expiresAt, key.revokedAt, key.lastUsedAt,
            ])
    }

    /// Throws `.conflict` when the id or hash is taken, `.notFound` when the tenant does not exist.
    public func createKey(_ key: APIKey) async throws {
        try database.writeTransaction { try insert(key) }
    }

    /// The one lookup not scoped by tenant: the hash is what identifies the tenant.
    public func key(hash: String) async throws -> APIKey? {
        try database.queryFirst("SELECT \(Self.keyColumns) FROM api_keys WHERE hash = ?", [hash], Self.decodeKey)
    }

    /// Oldest first.
    public func keys(tenantId: String) async throws -> [APIKey] {
        try database.query(
            "SELECT \(Self.keyColumns) FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id", [tenantId],
            Self.decodeKey)
    }

    /// Revoking twice keeps the first revocation time and still answers true.
    public func revokeKey(tenantId: String, id: String, at: Timestamp) async throws -> Bool {
        try database.writeTransaction {
            try database.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND id = ?",
                [at, tenantId, id]) > 0
        }
    }

    /// Called after authentication, so by key id alone.
    public func touchKey(id: String, at: Timestamp) async throws {
        try database.writeTransaction {
            _ = try database.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [at, id])
        }
    }

    // MARK: Agents

    /// Inserts or replaces the agent's reported fields. `drainRequested` is sticky: an upsert can set it but never
    /// clears it, so a heartbeat racing an admin's drain request cannot lose that request.
    public func upsertAgent(_ agent: AgentRecord) async throws {
        try database.writeTransaction {
            try database.execute(
                """
                INSERT INTO agents (tenant_id, id, name, version, state, free_slots, running_leases, cpu_percent,
                    memory_bytes, disk_free_bytes, spool_backlog_bytes, last_error, last_seen_at, drain_requested,
                    key_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id, id) DO UPDATE SET
                    name = excluded.name, version = excluded.version, state = excluded.state,
                    free_slots = excluded.free_slots, running_leases = excluded.running_leases,
                    cpu_percent = excluded.cpu_percent, memory_bytes = excluded.memory_bytes,
                    disk_free_bytes = excluded.disk_free_bytes, spool_backlog_bytes = excluded.spool_backlog_bytes,
                    last_error = excluded.last_error, last_seen_at = excluded.last_seen_at,
                    drain_requested = agents.drain_requested OR excluded.drain_requested,
                    key_id = coalesce(excluded.key_id, agents.key_id)
                """,
                [
                    agent.tenantId, agent.id, agent.name, agent.version, agent.state, agent.freeSlots,
                    agent.runningLeases, agent.cpuPercent, agent.memoryBytes, agent.diskFreeBytes,
                    agent.spoolBacklogBytes, agent.lastError, agent.lastSeenAt, agent.drainRequested, agent.keyId,
                ])
        }
    }

    public func agent(tenantId: String, id: String) async throws -> AgentRecord? {
        try database.queryFirst(
            "SELECT \(Self.agentColumns) FROM agents WHERE tenant_id = ? AND id = ?", [tenantId, id],
            Self.decodeAgent)
    }

    /// By name, then id.
    public func agents(tenantId: String) async throws -> [AgentRecord] {
        try database.query(
            "SELECT \(Self.agentColumns) FROM agents WHERE tenant_id = ? ORDER BY name, id", [tenantId],
            Self.decodeAgent)
    }

    public func recordAuditHead(
        tenantId: String, agentId: String, head: AuditHead, now: Timestamp
    ) async throws -> AgentRecord? {
        try database.writeTransaction {
            guard
                let stored = try database.queryFirst(
                    "SELECT \(Self.agentColumns) FROM agents WHERE tenant_id = ? AND id = ?", [tenantId, agentId],
                    Self.decodeAgent)
            else { return nil }
            var agent = stored
            AuditHeadComparison.apply(head, to: &agent, now: now)
            guard agent != stored else { return stored }
            try database.execute(
                """
                UPDATE agents SET audit_sequence = ?, audit_hash = ?, audit_problem = ?
                WHERE tenant_id = ? AND id = ?
                """,
                [agent.auditHead?.sequence, agent.auditHead?.hash, agent.auditProblem, tenantId, agentId])
            return agent
        }
    }

    /// Returns false when the tenant has no such agent.
    public func requestDrain(tenantId: String, id: String) async throws -> Bool {
        try database.writeTransaction {
            try database.execute(
                "UPDATE agents SET drain_requested = 1 WHERE tenant_id = ? AND id = ?", [tenantId, id]) > 0
        }
    }

    // MARK: Rows

    private static func decodeTenant(_ row: SQLiteRow) -> Tenant {
        Tenant(id: row.text(0), name: row.text(1), createdAt: row.timestamp(2))
    }

    private static let keyColumns =
        "id, tenant_id, name, role, hash, prefix, created_at, expires_at, revoked_at, last_used_at"

    private static func decodeKey(_ row: SQLiteRow) throws -> APIKey {
        let roleText = row.text(3)
        guard let role = APIKey.Role(rawValue: roleText) else {
            throw StorageError(.unavailable, "API key \(row.text(0)) has an unknown role '\(roleText)'")
        }
        return APIKey(
            id: row.text(0), tenantId: row.text(1), name: row.text(2), role: role, hash: row.text(4),
            prefix: row.text(5), createdAt: row.timestamp(6), expiresAt: row.optionalTimestamp(7),
            revokedAt: row.optionalTimestamp(8), lastUsedAt: row.optionalTimestamp(9))
    }

    private static let agentColumns = """
        tenant_id, id, name, version, state, free_slots, running_leases, cpu_percent, memory_bytes, disk_free_bytes,
        spool_backlog_bytes, last_error, last_seen_at, drain_requested, audit_sequence, audit_hash, audit_problem,
        key_id
        """

    private static func decodeAgent(_ row: SQLiteRow) -> AgentRecord {
        var agent = AgentRecord(
            tenantId: row.text(0), id: row.text(1), name: row.text(2), version: row.text(3), state: row.text(4),
            freeSlots: row.int(5), runningLeases: row.int(6), lastSeenAt: row.timestamp(12),
            drainRequested: row.bool(13))
        agent.cpuPercent = row.optionalDouble(7)
        agent.memoryBytes = row.optionalInt64(8)
        agent.diskFreeBytes = row.optionalInt64(9)
        agent.spoolBacklogBytes = row.optionalInt64(10)
        agent.lastError = row.optionalText(11)
        if let sequence = row.optionalInt64(14), let hash = row.optionalText(15) {
            agent.auditHead = AuditHead(sequence: sequence, hash: hash)
        }
        agent.auditProblem = row.optionalText(16)
        agent.keyId = row.optionalText(17)
        return agent
    }
}
