internal import PostgresNIO

// BI lineage in PostgreSQL: recursive walks over the links of the published catalog (publishing is one
// transaction, so what a walk sees is one catalog per connection).

extension PostgresControlPlaneStore {
    public func lineageBelow(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        // `COLLATE "C"` on the seed: a recursive query's columns must have one collation in both of its terms.
        let assets = try await rows(
            """
            WITH RECURSIVE walk (kind, qn) AS (
                SELECT \(kind)::text COLLATE "C", \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.from_kind, l.from_qn FROM walk AS w
                JOIN catalog_links AS l
                    ON l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId) AND l.to_qn = w.qn
                        AND l.to_kind = w.kind
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            JOIN catalog_assets AS a
                ON a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = w.kind
                    AND a.qualified_name = w.qn
            WHERE NOT (w.kind = \(kind) AND w.qn = \(qualifiedName))
            ORDER BY a.kind, a.name_lower, a.qualified_name
            LIMIT \(limit + 1)
            """
        ).map(Self.decodeLineageAsset)
        let references = try await rows(
            """
            WITH RECURSIVE walk (kind, qn) AS (
                SELECT \(kind)::text COLLATE "C", \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.from_kind, l.from_qn FROM walk AS w
                JOIN catalog_links AS l
                    ON l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId) AND l.to_qn = w.qn
                        AND l.to_kind = w.kind
            )
            SELECT DISTINCT r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name
            FROM walk AS w
            JOIN catalog_references AS r
                ON r.tenant_id = \(tenantId) AND r.connection_id = \(connectionId) AND r.holder_kind = w.kind
                    AND r.holder_qn = w.qn
            ORDER BY r.table_name, r.schema_name, r.database_name, r.connection_type, r.host, r.port
            LIMIT \(limit + 1)
            """
        ).map(Self.decodeTarget)
        return LineageWalk(
            assets: Array(assets.prefix(limit)), references: Array(references.prefix(limit)),
            truncated: assets.count > limit || references.count > limit)
    }

    public func lineageAbove(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        let assets = try await rows(
            """
            WITH RECURSIVE walk (connection_id, kind, qn) AS (
                SELECT \(connectionId)::text COLLATE "C", \(kind)::text COLLATE "C",
                    \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.connection_id, l.to_kind, l.to_qn FROM walk AS w
                JOIN catalog_links AS l
                    ON l.tenant_id = \(tenantId) AND l.connection_id = w.connection_id AND l.from_qn = w.qn
                        AND l.from_kind = w.kind
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            JOIN catalog_assets AS a
                ON a.tenant_id = \(tenantId) AND a.connection_id = w.connection_id AND a.kind = w.kind
                    AND a.qualified_name = w.qn
            WHERE NOT (w.connection_id = \(connectionId) AND w.kind = \(kind) AND w.qn = \(qualifiedName))
            ORDER BY a.kind, a.name_lower, a.qualified_name, a.connection_id
            LIMIT \(limit + 1)
            """
        ).map(Self.decodeLineageAsset)
        return LineageWalk(assets: Array(assets.prefix(limit)), references: [], truncated: assets.count > limit)
    }

    public func lineageAbove(
        tenantId: String, targets: [TableReferenceTarget], limit: Int
    ) async throws -> LineageWalk {
        guard !targets.isEmpty else { return LineageWalk(assets: [], references: [], truncated: false) }
        // A missing part matches only a missing part (`IS NOT DISTINCT FROM`), as the reference was stored.
        let assets = try await rows(
            """
            WITH RECURSIVE targets AS (
                SELECT * FROM jsonb_to_recordset(\(try StoredTargets.encode(targets))::jsonb)
                    AS t (connection_type text, host text, port int, database_name text, schema_name text,
                        table_name text, table_lower text)
            ),
            walk (connection_id, kind, qn) AS (
                SELECT r.connection_id, r.holder_kind, r.holder_qn FROM targets AS t
                JOIN catalog_references AS r
                    ON r.tenant_id = \(tenantId) AND r.table_lower = t.table_lower AND r.table_name = t.table_name
                        AND r.connection_type = t.connection_type AND r.host IS NOT DISTINCT FROM t.host
                        AND r.port IS NOT DISTINCT FROM t.port
                        AND r.database_name IS NOT DISTINCT FROM t.database_name
                        AND r.schema_name IS NOT DISTINCT FROM t.schema_name
                UNION
                SELECT l.connection_id, l.to_kind, l.to_qn FROM walk AS w
                JOIN catalog_links AS l
                    ON l.tenant_id = \(tenantId) AND l.connection_id = w.connection_id AND l.from_qn = w.qn
                        AND l.from_kind = w.kind
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            JOIN catalog_assets AS a
                ON a.tenant_id = \(tenantId) AND a.connection_id = w.connection_id AND a.kind = w.kind
                    AND a.qualified_name = w.qn
            ORDER BY a.kind, a.name_lower, a.qualified_name, a.connection_id
            LIMIT \(limit + 1)
            """
        ).map(Self.decodeLineageAsset)
        return LineageWalk(assets: Array(assets.prefix(limit)), references: [], truncated: assets.count > limit)
    }

    public func referencedTables(
        tenantId: String, tableLower: String, limit: Int
    ) async throws -> [TableReferenceTarget] {
        try await rows(
            """
            SELECT DISTINCT connection_type, host, port, database_name, schema_name, table_name
            FROM catalog_references
            WHERE tenant_id = \(tenantId) AND table_lower = \(tableLower)
            ORDER BY table_name, schema_name, database_name, connection_type, host, port
            LIMIT \(limit)
            """
        ).map(Self.decodeTarget)
    }

    public func relations(
        tenantId: String, connectionIds: [String], nameLower: String, limit: Int
    ) async throws -> [CatalogAsset] {
        guard !connectionIds.isEmpty else { return [] }
        return try await rows(
            """
            SELECT \(unescaped: Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = \(tenantId) AND name_lower = \(nameLower)
                AND kind = ANY(\(LineageKinds.relations)::text[])
                AND connection_id = ANY(\(connectionIds)::text[])
            ORDER BY connection_id, kind, qualified_name
            LIMIT \(limit)
            """
        ).map(Self.decodeAsset)
    }

    private static let lineageColumns = "a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.run_id"

    private static func decodeLineageAsset(_ row: PostgresRow) throws -> LineageAsset {
        let (connectionId, kind, qualifiedName, name, parent, runId) = try row.decode(
            (String, String, String, String, String?, String).self)
        return LineageAsset(
            connectionId: connectionId, kind: kind, qualifiedName: qualifiedName, name: name, parent: parent,
            runId: runId)
    }

    private static func decodeTarget(_ row: PostgresRow) throws -> TableReferenceTarget {
        let (connectionType, host, port, database, schema, table) = try row.decode(
            (String, String?, Int32?, String?, String?, String).self)
        return TableReferenceTarget(
            connectionType: connectionType, host: host, port: port.map(Int.init), database: database, schema: schema,
            table: table)
    }
}
