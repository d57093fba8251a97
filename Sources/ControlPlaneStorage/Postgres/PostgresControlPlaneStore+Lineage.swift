internal import PostgresNIO

// BI lineage in PostgreSQL: recursive walks over the links of the published catalog (publishing is one
// transaction, so what a walk sees is one catalog per connection).
//
// Each walk runs in a read transaction that lets the planner use index lookups only (`walkRows`): a walk's
// cost is what it reaches, and the planner cannot know that from statistics (a recursive query's working table is a
// guess, and a freshly filled links table has none), so left alone it chose scans of the whole links table per
// walked asset — a minute instead of milliseconds for a table used by ten thousand fields. Each step and each
// lookup of a walked row is also a `LATERAL` subquery, so the walk is always the outer side of the loop.

extension PostgresControlPlaneStore {
    public func lineageBelow(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        // `COLLATE "C"` on the seed: a recursive query's columns must have one collation in both of its terms.
        let assets = try await walkRows(
            """
            WITH RECURSIVE walk (kind, qn) AS (
                SELECT \(kind)::text COLLATE "C", \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.from_kind, l.from_qn FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.from_kind, l.from_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId) AND l.to_qn = w.qn
                        AND l.to_kind = w.kind) AS l
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            CROSS JOIN LATERAL (
                SELECT \(unescaped: Self.walkedColumns) FROM catalog_assets AS a
                WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = w.kind
                    AND a.qualified_name = w.qn) AS a
            WHERE NOT (w.kind = \(kind) AND w.qn = \(qualifiedName))
            ORDER BY a.kind, a.name_lower, a.qualified_name
            LIMIT \(limit + 1)
            """, Self.decodeLineageAsset)
        let references = try await walkRows(
            """
            WITH RECURSIVE walk (kind, qn) AS (
                SELECT \(kind)::text COLLATE "C", \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.from_kind, l.from_qn FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.from_kind, l.from_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId) AND l.to_qn = w.qn
                        AND l.to_kind = w.kind) AS l
            )
            SELECT DISTINCT r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name
            FROM walk AS w
            CROSS JOIN LATERAL (
                SELECT r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name
                FROM catalog_references AS r
                WHERE r.tenant_id = \(tenantId) AND r.connection_id = \(connectionId) AND r.holder_kind = w.kind
                    AND r.holder_qn = w.qn) AS r
            ORDER BY r.table_name, r.schema_name, r.database_name, r.connection_type, r.host, r.port
            LIMIT \(limit + 1)
            """, Self.decodeTarget)
        return LineageWalk(
            assets: Array(assets.prefix(limit)), references: Array(references.prefix(limit)),
            truncated: assets.count > limit || references.count > limit)
    }

    public func lineageAbove(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        let assets = try await walkRows(
            """
            WITH RECURSIVE walk (connection_id, kind, qn) AS (
                SELECT \(connectionId)::text COLLATE "C", \(kind)::text COLLATE "C",
                    \(qualifiedName)::text COLLATE "C"
                UNION
                SELECT l.connection_id, l.to_kind, l.to_qn FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.connection_id, l.to_kind, l.to_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = w.connection_id AND l.from_qn = w.qn
                        AND l.from_kind = w.kind) AS l
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            CROSS JOIN LATERAL (
                SELECT \(unescaped: Self.walkedColumns) FROM catalog_assets AS a
                WHERE a.tenant_id = \(tenantId) AND a.connection_id = w.connection_id AND a.kind = w.kind
                    AND a.qualified_name = w.qn) AS a
            WHERE NOT (w.connection_id = \(connectionId) AND w.kind = \(kind) AND w.qn = \(qualifiedName))
            ORDER BY a.kind, a.name_lower, a.qualified_name, a.connection_id
            LIMIT \(limit + 1)
            """, Self.decodeLineageAsset)
        return LineageWalk(assets: Array(assets.prefix(limit)), references: [], truncated: assets.count > limit)
    }

    public func lineageAbove(
        tenantId: String, targets: [TableReferenceTarget], limit: Int
    ) async throws -> LineageWalk {
        guard !targets.isEmpty else { return LineageWalk(assets: [], references: [], truncated: false) }
        // A missing part matches only a missing part (`IS NOT DISTINCT FROM`), as the reference was stored.
        let assets = try await walkRows(
            """
            WITH RECURSIVE targets AS (
                SELECT * FROM jsonb_to_recordset(\(try StoredTargets.encode(targets))::jsonb)
                    AS t (connection_type text, host text, port int, database_name text, schema_name text,
                        table_name text, table_lower text)
            ),
            walk (connection_id, kind, qn) AS (
                SELECT r.connection_id, r.holder_kind, r.holder_qn FROM targets AS t
                CROSS JOIN LATERAL (
                    SELECT r.connection_id, r.holder_kind, r.holder_qn FROM catalog_references AS r
                    WHERE r.tenant_id = \(tenantId) AND r.table_lower = t.table_lower COLLATE "C"
                        AND r.table_name = t.table_name COLLATE "C" AND r.connection_type = t.connection_type COLLATE "C"
                        AND r.host IS NOT DISTINCT FROM t.host COLLATE "C" AND r.port IS NOT DISTINCT FROM t.port
                        AND r.database_name IS NOT DISTINCT FROM t.database_name COLLATE "C"
                        AND r.schema_name IS NOT DISTINCT FROM t.schema_name COLLATE "C") AS r
                UNION
                SELECT l.connection_id, l.to_kind, l.to_qn FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.connection_id, l.to_kind, l.to_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = w.connection_id AND l.from_qn = w.qn
                        AND l.from_kind = w.kind) AS l
            )
            SELECT \(unescaped: Self.lineageColumns) FROM walk AS w
            CROSS JOIN LATERAL (
                SELECT \(unescaped: Self.walkedColumns) FROM catalog_assets AS a
                WHERE a.tenant_id = \(tenantId) AND a.connection_id = w.connection_id AND a.kind = w.kind
                    AND a.qualified_name = w.qn) AS a
            ORDER BY a.kind, a.name_lower, a.qualified_name, a.connection_id
            LIMIT \(limit + 1)
            """, Self.decodeLineageAsset)
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

    /// Runs a walk in a transaction whose planner may only look rows up by index (see the top of this file).
    public func lineageLinks(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, direction: LineageDirection,
        depth: Int, limit: Int
    ) async throws -> (links: [LineageLink], truncated: Bool) {
        guard depth > 0, limit > 0 else { return ([], false) }
        // `near` is the end a step arrives from, `far` the end it goes to.
        let (near, far) = direction == .above ? ("from", "to") : ("to", "from")
        let links = try await walkRows(
            """
            WITH RECURSIVE walk (kind, qn, depth) AS (
                SELECT \(kind)::text COLLATE "C", \(qualifiedName)::text COLLATE "C", 0
                UNION
                SELECT l.far_kind, l.far_qn, w.depth + 1 FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.\(unescaped: far)_kind AS far_kind, l.\(unescaped: far)_qn AS far_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId)
                        AND l.\(unescaped: near)_qn = w.qn AND l.\(unescaped: near)_kind = w.kind) AS l
                WHERE w.depth < \(depth)
            ),
            edges AS (
                SELECT DISTINCT l.from_kind, l.from_qn, l.to_kind, l.to_qn FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT l.from_kind, l.from_qn, l.to_kind, l.to_qn FROM catalog_links AS l
                    WHERE l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId)
                        AND l.\(unescaped: near)_qn = w.qn AND l.\(unescaped: near)_kind = w.kind) AS l
                WHERE w.depth < \(depth)
            )
            SELECT a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.run_id,
                b.connection_id, b.kind, b.qualified_name, b.name, b.parent, b.run_id
            FROM edges AS e
            CROSS JOIN LATERAL (
                SELECT \(unescaped: Self.walkedColumns) FROM catalog_assets AS a
                WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = e.from_kind
                    AND a.qualified_name = e.from_qn) AS a
            CROSS JOIN LATERAL (
                SELECT \(unescaped: Self.walkedColumns) FROM catalog_assets AS a
                WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = e.to_kind
                    AND a.qualified_name = e.to_qn) AS b
            ORDER BY a.name_lower, a.qualified_name, b.name_lower, b.qualified_name
            LIMIT \(limit + 1)
            """
        ) { row in
            let columns = try row.decode(
                (String, String, String, String, String?, String, String, String, String, String, String?, String).self)
            return LineageLink(
                from: LineageAsset(
                    connectionId: columns.0, kind: columns.1, qualifiedName: columns.2, name: columns.3,
                    parent: columns.4, runId: columns.5),
                to: LineageAsset(
                    connectionId: columns.6, kind: columns.7, qualifiedName: columns.8, name: columns.9,
                    parent: columns.10, runId: columns.11))
        }
        return (Array(links.prefix(limit)), links.count > limit)
    }

    private func walkRows<Row: Sendable>(
        _ query: PostgresQuery, _ decode: @Sendable (PostgresRow) throws -> Row
    ) async throws -> [Row] {
        try await transaction { connection in
            for setting in ["enable_seqscan", "enable_hashjoin", "enable_mergejoin"] {
                try await self.rows("SET LOCAL \(unescaped: setting) = off", on: connection)
            }
            return try await self.rows(query, on: connection).map(decode)
        }
    }

    /// What the lateral lookups of walked assets return: `lineageColumns` and what the walks order by.
    private static let walkedColumns =
        "a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.run_id, a.name_lower"

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
