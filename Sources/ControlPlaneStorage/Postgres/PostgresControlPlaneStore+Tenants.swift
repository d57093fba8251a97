public import OutpostProtocol
internal import PostgresNIO

// Tenants, API keys and agents in PostgreSQL.

extension PostgresControlPlaneStore {
    // MARK: Tenants

    /// Throws `.conflict` when the id is taken.
    public func createTenant(_ tenant: Tenant) async throws {
        try await rows(
            """
            INSERT INTO tenants (id, name, created_at)
            VALUES (\(tenant.id), \(tenant.name), \(tenant.createdAt.milliseconds))
            """)
    }

    public func tenant(id: String) async throws -> Tenant? {
        try await rows("SELECT id, name, created_at FROM tenants WHERE id = \(id)").first.map(Self.decodeTenant)
    }

    public func firstTenant() async throws -> Tenant? {
        try await rows("SELECT id, name, created_at FROM tenants ORDER BY created_at, id LIMIT 1").first.map(
            Self.decodeTenant)
    }

    /// Under a transaction-scoped advisory lock, so a second server waits for the first one's tenant.
    public func firstTenant(creatingIfNone tenant: Tenant) async throws -> Tenant {
        try await transaction { connection in
            try await self.rows("SELECT pg_advisory_xact_lock(\(Self.bootstrapLock))", on: connection)
            if let first = try await self.rows(
                "SELECT id, name, created_at FROM tenants ORDER BY created_at, id LIMIT 1", on: connection
            ).first.map(Self.decodeTenant) {
                return first
            }
            try await self.rows(
                """
                INSERT INTO tenants (id, name, created_at)
                VALUES (\(tenant.id), \(tenant.name), \(tenant.createdAt.milliseconds))
                """, on: connection)
            return tenant
        }
    }

    // MARK: API keys

    /// Under the same advisory lock as `firstTenant(creatingIfNone:)`.
    public func createFirstKey(tenantId: String, mint: @Sendable () throws -> APIKey) async throws -> APIKey? {
        try await transaction { connection in
            try await self.rows("SELECT pg_advisory_xact_lock(\(Self.bootstrapLock))", on: connection)
            guard
                try await self.rows("SELECT 1 FROM api_keys WHERE tenant_id = \(tenantId) LIMIT 1", on: connection)
                    .isEmpty
            else { return nil }
            let key = try mint()
            try await self.rows(Self.insert(key), on: connection)
            return key
        }
    }

    private static func insert(_ key: APIKey) -> PostgresQuery {
        """
        INSERT INTO api_keys (id, tenant_id, name, role, hash, prefix, created_at, expires_at, revoked_at,
            last_used_at)
        VALUES (\(key.id), \(key.tenantId), \(key.name), \(key.role.rawValue), \(key.hash), \(key.prefix),
            \(key.createdAt.milliseconds), \(key.expiresAt?.milliseconds), \(key.revokedAt?.milliseconds),
            \(key.lastUsedAt?.milliseconds))
        """
    }

    /// "bootstra" in ASCII: the key of the advisory lock the first tenant and key are created under.
    private static let bootstrapLock: Int64 = 0x626F_6F74_7374_7261

    /// Throws `.conflict` when the id or hash is taken, `.notFound` when the tenant does not exist.
    public func createKey(_ key: APIKey) async throws {
        try await rows(Self.insert(key))
    }

    /// The one lookup not scoped by tenant: the hash is what identifies the tenant.
    public func key(hash: String) async throws -> APIKey? {
        try await rows("SELECT \(unescaped: Self.keyColumns) FROM api_keys WHERE hash = \(hash)").first.map(
            Self.decodeKey)
    }

    /// Oldest first.
    public func keys(tenantId: String) async throws -> [APIKey] {
        try await rows(
            "SELECT \(unescaped: Self.keyColumns) FROM api_keys WHERE tenant_id = \(tenantId) ORDER BY created_at, id"
        ).map(Self.decodeKey)
    }

    /// Revoking twice keeps the first revocation time and still answers true.
    public func revokeKey(tenantId: String, id: String, at: Timestamp) async throws -> Bool {
        try await !rows(
            """
            UPDATE api_keys SET revoked_at = coalesce(revoked_at, \(at.milliseconds))
            WHERE tenant_id = \(tenantId) AND id = \(id) RETURNING id
            """
        ).isEmpty
    }

    /// Called after authentication, so by key id alone.
    public func touchKey(id: String, at: Timestamp) async throws {
        try await rows("UPDATE api_keys SET last_used_at = \(at.milliseconds) WHERE id = \(id)")
    }

    // MARK: Agents

    /// Inserts or replaces the agent's reported fields. `drainRequested` is sticky: an upsert can set it but never
    /// clears it, so a heartbeat racing an admin's drain request cannot lose that request.
    public func upsertAgent(_ agent: AgentRecord) async throws {
        try await rows(
            """
            INSERT INTO agents (tenant_id, id, name, version, state, free_slots, running_leases, cpu_percent,
                memory_bytes, disk_free_bytes, spool_backlog_bytes, last_error, last_seen_at, drain_requested, key_id)
            VALUES (\(agent.tenantId), \(agent.id), \(agent.name), \(agent.version), \(agent.state),
                \(agent.freeSlots), \(agent.runningLeases), \(agent.cpuPercent), \(agent.memoryBytes),
                \(agent.diskFreeBytes), \(agent.spoolBacklogBytes), \(agent.lastError),
                \(agent.lastSeenAt.milliseconds), \(agent.drainRequested), \(agent.keyId))
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                name = excluded.name, version = excluded.version, state = excluded.state,
                free_slots = excluded.free_slots, running_leases = excluded.running_leases,
                cpu_percent = excluded.cpu_percent, memory_bytes = excluded.memory_bytes,
                disk_free_bytes = excluded.disk_free_bytes, spool_backlog_bytes = excluded.spool_backlog_bytes,
                last_error = excluded.last_error, last_seen_at = excluded.last_seen_at,
                drain_requested = agents.drain_requested OR excluded.drain_requested,
                key_id = coalesce(excluded.key_id, agents.key_id)
            """)
    }

    public func agent(tenantId: String, id: String) async throws -> AgentRecord? {
        try await rows(
            "SELECT \(unescaped: Self.agentColumns) FROM agents WHERE tenant_id = \(tenantId) AND id = \(id)"
        ).first.map(Self.decodeAgent)
    }

    /// By name, then id.
    public func agents(tenantId: String) async throws -> [AgentRecord] {
        try await rows(
            "SELECT \(unescaped: Self.agentColumns) FROM agents WHERE tenant_id = \(tenantId) ORDER BY name, id"
        ).map(Self.decodeAgent)
    }

    public func recordAuditHead(
        tenantId: String, agentId: String, head: AuditHead, now: Timestamp
    ) async throws -> AgentRecord? {
        try await transaction { connection in
            guard
                let stored = try await self.rows(
                    """
                    SELECT \(unescaped: Self.agentColumns) FROM agents
                    WHERE tenant_id = \(tenantId) AND id = \(agentId) FOR UPDATE
                    """, on: connection
                ).first.map(Self.decodeAgent)
            else { return nil }
            var agent = stored
            AuditHeadComparison.apply(head, to: &agent, now: now)
            guard agent != stored else { return stored }
            try await self.rows(
                """
                UPDATE agents SET audit_sequence = \(agent.auditHead?.sequence), audit_hash = \(agent.auditHead?.hash),
                    audit_problem = \(agent.auditProblem)
                WHERE tenant_id = \(tenantId) AND id = \(agentId)
                """, on: connection)
            return agent
        }
    }

    /// Returns false when the tenant has no such agent.
    public func requestDrain(tenantId: String, id: String) async throws -> Bool {
        try await !rows(
            "UPDATE agents SET drain_requested = TRUE WHERE tenant_id = \(tenantId) AND id = \(id) RETURNING id"
        ).isEmpty
    }

    // MARK: Rows

    private static func decodeTenant(_ row: PostgresRow) throws -> Tenant {
        let (id, name, createdAt) = try row.decode((String, String, Int64).self)
        return Tenant(id: id, name: name, createdAt: Timestamp(milliseconds: createdAt))
    }

    private static let keyColumns =
        "id, tenant_id, name, role, hash, prefix, created_at, expires_at, revoked_at, last_used_at"

    private static func decodeKey(_ row: PostgresRow) throws -> APIKey {
        let (id, tenantId, name, roleText, hash, prefix, createdAt, expiresAt, revokedAt, lastUsedAt) =
            try row.decode((String, String, String, String, String, String, Int64, Int64?, Int64?, Int64?).self)
        guard let role = APIKey.Role(rawValue: roleText) else {
            throw StorageError(.unavailable, "API key \(id) has an unknown role '\(roleText)'")
        }
        return APIKey(
            id: id, tenantId: tenantId, name: name, role: role, hash: hash, prefix: prefix,
            createdAt: Timestamp(milliseconds: createdAt), expiresAt: expiresAt.map(Timestamp.init(milliseconds:)),
            revokedAt: revokedAt.map(Timestamp.init(milliseconds:)),
            lastUsedAt: lastUsedAt.map(Timestamp.init(milliseconds:)))
    }

    private static let agentColumns = """
        tenant_id, id, name, version, state, free_slots, running_leases, cpu_percent, memory_bytes, disk_free_bytes,
        spool_backlog_bytes, last_error, last_seen_at, drain_requested, audit_sequence, audit_hash, audit_problem,
        key_id
        """

    private static func decodeAgent(_ row: PostgresRow) throws -> AgentRecord {
        let columns = row.makeRandomAccess()
        var agent = AgentRecord(
            tenantId: try columns[0].decode(String.self), id: try columns[1].decode(String.self),
            name: try columns[2].decode(String.self), version: try columns[3].decode(String.self),
            state: try columns[4].decode(String.self), freeSlots: try columns[5].decode(Int.self),
            runningLeases: try columns[6].decode(Int.self),
            lastSeenAt: Timestamp(milliseconds: try columns[12].decode(Int64.self)),
            drainRequested: try columns[13].decode(Bool.self))
        agent.cpuPercent = try columns[7].decode(Double?.self)
        agent.memoryBytes = try columns[8].decode(Int64?.self)
        agent.diskFreeBytes = try columns[9].decode(Int64?.self)
        agent.spoolBacklogBytes = try columns[10].decode(Int64?.self)
        agent.lastError = try columns[11].decode(String?.self)
        if let sequence = try columns[14].decode(Int64?.self), let hash = try columns[15].decode(String?.self) {
            agent.auditHead = AuditHead(sequence: sequence, hash: hash)
        }
        agent.auditProblem = try columns[16].decode(String?.self)
        agent.keyId = try columns[17].decode(String?.self)
        return agent
    }
}
