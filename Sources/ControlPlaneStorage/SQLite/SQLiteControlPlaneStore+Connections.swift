// Connections in SQLite. Secrets (references only), filters and delivery are stored as JSON text.

extension SQLiteControlPlaneStore {
    /// Throws `.conflict` when the tenant already has a connection with that name (or id), `.notFound` when the
    /// tenant does not exist.
    public func createConnection(_ connection: ConnectionRecord) async throws {
        let json = try ConnectionJSON(connection)
        try database.writeTransaction {
            try database.execute(
                """
                INSERT INTO connections (tenant_id, id, name, source_kind, source_url, secrets, filters, delivery,
                    pool, schedule, created_at, updated_at, next_run_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    connection.tenantId, connection.id, connection.name, connection.sourceKind, connection.sourceURL,
                    json.secrets, json.filters, json.delivery, connection.pool, connection.schedule,
                    connection.createdAt, connection.updatedAt, connection.nextRunAt,
                ])
        }
    }

    /// Replaces every field but `createdAt`; returns false when the tenant has no such connection. Renaming onto
    /// another connection's name throws `.conflict`.
    public func updateConnection(_ connection: ConnectionRecord) async throws -> Bool {
        let json = try ConnectionJSON(connection)
        return try database.writeTransaction {
            try database.execute(
                """
                UPDATE connections SET name = ?, source_kind = ?, source_url = ?, secrets = ?, filters = ?,
                    delivery = ?, pool = ?, schedule = ?, updated_at = ?, next_run_at = ?
                WHERE tenant_id = ? AND id = ?
                """,
                [
                    connection.name, connection.sourceKind, connection.sourceURL, json.secrets, json.filters,
                    json.delivery, connection.pool, connection.schedule, connection.updatedAt, connection.nextRunAt,
                    connection.tenantId, connection.id,
                ]) > 0
        }
    }

    public func connection(tenantId: String, id: String) async throws -> ConnectionRecord? {
        try database.queryFirst(
            "SELECT \(Self.connectionColumns) FROM connections WHERE tenant_id = ? AND id = ?", [tenantId, id],
            Self.decodeConnection)
    }

    /// By name.
    public func connections(tenantId: String) async throws -> [ConnectionRecord] {
        try database.query(
            "SELECT \(Self.connectionColumns) FROM connections WHERE tenant_id = ? ORDER BY name", [tenantId],
            Self.decodeConnection)
    }

    /// Deletes the connection with its runs and their logs; returns false when the tenant has no such connection.
    public func deleteConnection(tenantId: String, id: String) async throws -> Bool {
        try database.writeTransaction {
            try database.execute("DELETE FROM connections WHERE tenant_id = ? AND id = ?", [tenantId, id]) > 0
        }
    }

    static let connectionColumns = """
        tenant_id, id, name, source_kind, source_url, secrets, filters, delivery, pool, schedule, created_at,
        updated_at, next_run_at
        """

    static func decodeConnection(_ row: SQLiteRow) throws -> ConnectionRecord {
        try ConnectionJSON(secrets: row.text(5), filters: row.text(6), delivery: row.text(7)).record(
            tenantId: row.text(0), id: row.text(1), name: row.text(2), sourceKind: row.text(3),
            sourceURL: row.text(4), pool: row.text(8), schedule: row.optionalText(9), createdAt: row.timestamp(10),
            updatedAt: row.timestamp(11), nextRunAt: row.optionalTimestamp(12))
    }
}
