internal import PostgresNIO

// Connections in PostgreSQL. Secrets (references only), filters and delivery are stored as JSONB.

extension PostgresControlPlaneStore {
    /// Throws `.conflict` when the tenant already has a connection with that name (or id), `.notFound` when the
    /// tenant does not exist.
    public func createConnection(_ connection: ConnectionRecord) async throws {
        let json = try ConnectionJSON(connection)
        try await rows(
            """
            INSERT INTO connections (tenant_id, id, name, source_kind, source_url, secrets, filters, delivery, pool,
                schedule, created_at, updated_at, next_run_at)
            VALUES (\(connection.tenantId), \(connection.id), \(connection.name), \(connection.sourceKind),
                \(connection.sourceURL), \(json.secrets)::jsonb, \(json.filters)::jsonb, \(json.delivery)::jsonb,
                \(connection.pool), \(connection.schedule), \(connection.createdAt.milliseconds),
                \(connection.updatedAt.milliseconds), \(connection.nextRunAt?.milliseconds))
            """)
    }

    /// Replaces every field but `createdAt`; returns false when the tenant has no such connection. Renaming onto
    /// another connection's name throws `.conflict`.
    public func updateConnection(_ connection: ConnectionRecord) async throws -> Bool {
        let json = try ConnectionJSON(connection)
        return try await !rows(
            """
            UPDATE connections SET name = \(connection.name), source_kind = \(connection.sourceKind),
                source_url = \(connection.sourceURL), secrets = \(json.secrets)::jsonb,
                filters = \(json.filters)::jsonb, delivery = \(json.delivery)::jsonb, pool = \(connection.pool),
                schedule = \(connection.schedule), updated_at = \(connection.updatedAt.milliseconds),
                next_run_at = \(connection.nextRunAt?.milliseconds)
            WHERE tenant_id = \(connection.tenantId) AND id = \(connection.id)
            RETURNING id
            """
        ).isEmpty
    }

    public func connection(tenantId: String, id: String) async throws -> ConnectionRecord? {
        try await rows(
            """
            SELECT \(unescaped: Self.connectionColumns) FROM connections WHERE tenant_id = \(tenantId) AND id = \(id)
            """
        ).first.map(Self.decodeConnection)
    }

    /// By name.
    public func connections(tenantId: String) async throws -> [ConnectionRecord] {
        try await rows(
            "SELECT \(unescaped: Self.connectionColumns) FROM connections WHERE tenant_id = \(tenantId) ORDER BY name"
        ).map(Self.decodeConnection)
    }

    /// Deletes the connection with its runs and their logs; returns false when the tenant has no such connection.
    public func deleteConnection(tenantId: String, id: String) async throws -> Bool {
        try await !rows("DELETE FROM connections WHERE tenant_id = \(tenantId) AND id = \(id) RETURNING id").isEmpty
    }

    static let connectionColumns = """
        tenant_id, id, name, source_kind, source_url, secrets::text, filters::text, delivery::text, pool, schedule,
        created_at, updated_at, next_run_at
        """

    static func decodeConnection(_ row: PostgresRow) throws -> ConnectionRecord {
        let (tenantId, id, name, sourceKind, sourceURL, secrets, filters, delivery, pool, schedule, created, updated) =
            try row.decode(
                (String, String, String, String, String, String, String, String, String, String?, Int64, Int64).self)
        let nextRunAt = try row.makeRandomAccess()[12].decode(Int64?.self)
        return try ConnectionJSON(secrets: secrets, filters: filters, delivery: delivery).record(
            tenantId: tenantId, id: id, name: name, sourceKind: sourceKind, sourceURL: sourceURL, pool: pool,
            schedule: schedule, createdAt: Timestamp(milliseconds: created),
            updatedAt: Timestamp(milliseconds: updated), nextRunAt: nextRunAt.map(Timestamp.init(milliseconds:)))
    }
}
