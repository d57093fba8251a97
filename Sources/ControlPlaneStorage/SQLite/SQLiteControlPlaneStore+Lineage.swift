// BI lineage in SQLite: recursive walks over the links of the visible asset versions. A link or reference is
// visible when the asset version that states it (its holder) is, so a walk sees one published catalog per
// connection, never the version a publish is still writing.
//
// Every join is a `CROSS JOIN`, which SQLite never reorders: the walk drives, and each step looks its rows up by
// index. Left to the planner, a freshly filled links table (no statistics) made it scan the catalog once per walked
// asset — minutes instead of milliseconds for a table used by ten thousand fields.

extension SQLiteControlPlaneStore {
    public func lineageBelow(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        let walk = """
            WITH RECURSIVE walk(kind, qn) AS (
                SELECT ?3, ?4
                UNION
                SELECT l.from_kind, l.from_qn FROM walk AS w
                CROSS JOIN catalog_links AS l
                    ON l.tenant_id = ?1 AND l.connection_id = ?2 AND l.to_qn = w.qn AND l.to_kind = w.kind
                \(Self.visibleHolder("l"))
            )
            """
        let values: [any SQLiteBindable] = [tenantId, connectionId, kind, qualifiedName, limit + 1]
        let assets = try database.query(
            """
            \(walk)
            SELECT \(Self.lineageColumns) FROM walk AS w
            CROSS JOIN catalog_assets AS a
                ON a.tenant_id = ?1 AND a.connection_id = ?2 AND a.kind = w.kind AND a.qualified_name = w.qn
            \(Self.visibleAsset)
            WHERE NOT (w.kind = ?3 AND w.qn = ?4)
            ORDER BY a.kind, a.name_lower, a.qualified_name
            LIMIT ?5
            """, values, Self.decodeLineageAsset)
        let references = try database.query(
            """
            \(walk)
            SELECT DISTINCT r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name
            FROM walk AS w
            CROSS JOIN catalog_references AS r
                ON r.tenant_id = ?1 AND r.connection_id = ?2 AND r.holder_kind = w.kind AND r.holder_qn = w.qn
            \(Self.visibleHolder("r"))
            ORDER BY r.table_name, r.schema_name, r.database_name, r.connection_type, r.host, r.port
            LIMIT ?5
            """, values, Self.decodeTarget)
        return LineageWalk(
            assets: Array(assets.prefix(limit)), references: Array(references.prefix(limit)),
            truncated: assets.count > limit || references.count > limit)
    }

    public func lineageAbove(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk {
        try walkUp(
            seeds: "SELECT ?3, ?4, ?5",
            values: [tenantId, limit + 1, connectionId, kind, qualifiedName],
            excluding: "WHERE NOT (w.connection_id = ?3 AND w.kind = ?4 AND w.qn = ?5)", limit: limit)
    }

    public func lineageAbove(
        tenantId: String, targets: [TableReferenceTarget], limit: Int
    ) async throws -> LineageWalk {
        guard !targets.isEmpty else { return LineageWalk(assets: [], references: [], truncated: false) }
        // A missing part matches only a missing part (`IS`), as the reference was stored.
        return try walkUp(
            seeds: """
                SELECT r.connection_id, r.holder_kind, r.holder_qn
                FROM json_each(?3) AS t
                CROSS JOIN catalog_references AS r
                    ON r.tenant_id = ?1 AND r.table_lower = json_extract(t.value, '$.table_lower')
                        AND r.table_name = json_extract(t.value, '$.table_name')
                        AND r.connection_type = json_extract(t.value, '$.connection_type')
                        AND r.host IS json_extract(t.value, '$.host') AND r.port IS json_extract(t.value, '$.port')
                        AND r.database_name IS json_extract(t.value, '$.database_name')
                        AND r.schema_name IS json_extract(t.value, '$.schema_name')
                \(Self.visibleHolder("r"))
                """,
            values: [tenantId, limit + 1, try StoredTargets.encode(targets)], excluding: "", limit: limit)
    }

    public func referencedTables(
        tenantId: String, tableLower: String, limit: Int
    ) async throws -> [TableReferenceTarget] {
        try database.query(
            """
            SELECT DISTINCT r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name
            FROM catalog_references AS r
            \(Self.visibleHolder("r"))
            WHERE r.tenant_id = ?1 AND r.table_lower = ?2
            ORDER BY r.table_name, r.schema_name, r.database_name, r.connection_type, r.host, r.port
            LIMIT ?3
            """, [tenantId, tableLower, limit], Self.decodeTarget)
    }

    public func relations(
        tenantId: String, connectionIds: [String], nameLower: String, limit: Int
    ) async throws -> [CatalogAsset] {
        guard !connectionIds.isEmpty else { return [] }
        return try database.query(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets AS a \(Self.visibleVersion)
            WHERE a.tenant_id = ?1 AND a.name_lower = ?2
                AND a.kind IN (SELECT value FROM json_each(?3))
                AND a.connection_id IN (SELECT value FROM json_each(?4))
            ORDER BY a.connection_id, a.kind, a.qualified_name
            LIMIT ?5
            """,
            [
                tenantId, nameLower, try StoredJSON.encode(LineageKinds.relations),
                try StoredJSON.encode(connectionIds), limit,
            ], Self.decodeAsset)
    }

    public func lineageLinks(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, direction: LineageDirection,
        depth: Int, limit: Int
    ) async throws -> (links: [LineageLink], truncated: Bool) {
        guard depth > 0, limit > 0 else { return ([], false) }
        // `near` is the end a step arrives from, `far` the end it goes to.
        let (near, far) = direction == .above ? ("from", "to") : ("to", "from")
        let step = """
            CROSS JOIN catalog_links AS l
                ON l.tenant_id = ?1 AND l.connection_id = ?2 AND l.\(near)_qn = w.qn AND l.\(near)_kind = w.kind
            \(Self.visibleHolder("l"))
            WHERE w.depth < ?5
            """
        let links = try database.query(
            """
            WITH RECURSIVE walk(kind, qn, depth) AS (
                SELECT ?3, ?4, 0
                UNION
                SELECT l.\(far)_kind, l.\(far)_qn, w.depth + 1 FROM walk AS w
                \(step)
            ),
            edges AS (
                SELECT DISTINCT l.from_kind, l.from_qn, l.to_kind, l.to_qn FROM walk AS w
                \(step)
            )
            SELECT a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.run_id,
                b.connection_id, b.kind, b.qualified_name, b.name, b.parent, b.run_id
            FROM edges AS e
            CROSS JOIN catalog_assets AS a
                ON a.tenant_id = ?1 AND a.connection_id = ?2 AND a.kind = e.from_kind AND a.qualified_name = e.from_qn
            \(Self.visibleAsset)
            CROSS JOIN catalog_assets AS b
                ON b.tenant_id = ?1 AND b.connection_id = ?2 AND b.kind = e.to_kind AND b.qualified_name = e.to_qn
                    AND b.born <= c.catalog_version AND (b.died IS NULL OR b.died > c.catalog_version)
            ORDER BY a.name_lower, a.qualified_name, b.name_lower, b.qualified_name
            LIMIT ?6
            """, [tenantId, connectionId, kind, qualifiedName, depth, limit + 1]
        ) { row in
            LineageLink(
                from: LineageAsset(
                    connectionId: row.text(0), kind: row.text(1), qualifiedName: row.text(2), name: row.text(3),
                    parent: row.optionalText(4), runId: row.text(5)),
                to: LineageAsset(
                    connectionId: row.text(6), kind: row.text(7), qualifiedName: row.text(8), name: row.text(9),
                    parent: row.optionalText(10), runId: row.text(11)))
        }
        return (Array(links.prefix(limit)), links.count > limit)
    }

    /// Walks links upwards (`from` → `to`) from `seeds` (a select of connection, kind and qualified name that may
    /// use `?1`, the tenant, and `?3…`; `?2` is the limit), returning the visible assets reached, minus those
    /// `excluding` names.
    private func walkUp(
        seeds: String, values: [any SQLiteBindable], excluding: String, limit: Int
    ) throws -> LineageWalk {
        let assets = try database.query(
            """
            WITH RECURSIVE walk(connection_id, kind, qn) AS (
                \(seeds)
                UNION
                SELECT l.connection_id, l.to_kind, l.to_qn FROM walk AS w
                CROSS JOIN catalog_links AS l
                    ON l.tenant_id = ?1 AND l.connection_id = w.connection_id AND l.from_qn = w.qn
                        AND l.from_kind = w.kind
                \(Self.visibleHolder("l"))
            )
            SELECT \(Self.lineageColumns) FROM walk AS w
            CROSS JOIN catalog_assets AS a
                ON a.tenant_id = ?1 AND a.connection_id = w.connection_id AND a.kind = w.kind
                    AND a.qualified_name = w.qn
            \(Self.visibleAsset)
            \(excluding)
            ORDER BY a.kind, a.name_lower, a.qualified_name, a.connection_id
            LIMIT ?2
            """, values, Self.decodeLineageAsset)
        return LineageWalk(assets: Array(assets.prefix(limit)), references: [], truncated: assets.count > limit)
    }

    /// Restricts a link or reference row (`alias`) to those whose holder's version is the one its connection's
    /// readers see.
    private static func visibleHolder(_ alias: String) -> String {
        """
        CROSS JOIN catalog_assets AS \(alias)_h
            ON \(alias)_h.tenant_id = \(alias).tenant_id AND \(alias)_h.connection_id = \(alias).connection_id
                AND \(alias)_h.kind = \(alias).holder_kind AND \(alias)_h.qualified_name = \(alias).holder_qn
                AND \(alias)_h.born = \(alias).holder_born
        CROSS JOIN connections AS \(alias)_c
            ON \(alias)_c.tenant_id = \(alias)_h.tenant_id AND \(alias)_c.id = \(alias)_h.connection_id
                AND \(alias)_h.born <= \(alias)_c.catalog_version
                AND (\(alias)_h.died IS NULL OR \(alias)_h.died > \(alias)_c.catalog_version)
        """
    }

    /// `visibleVersion` for an asset reached by a walk, the connection looked up after it.
    private static let visibleAsset = """
        CROSS JOIN connections AS c ON c.tenant_id = a.tenant_id AND c.id = a.connection_id
            AND a.born <= c.catalog_version AND (a.died IS NULL OR a.died > c.catalog_version)
        """

    private static let lineageColumns = "a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.run_id"

    private static func decodeLineageAsset(_ row: SQLiteRow) -> LineageAsset {
        LineageAsset(
            connectionId: row.text(0), kind: row.text(1), qualifiedName: row.text(2), name: row.text(3),
            parent: row.optionalText(4), runId: row.text(5))
    }

    private static func decodeTarget(_ row: SQLiteRow) -> TableReferenceTarget {
        TableReferenceTarget(
            connectionType: row.text(0), host: row.optionalText(1), port: row.optionalInt64(2).map { Int($0) },
            database: row.optionalText(3), schema: row.optionalText(4), table: row.text(5))
    }
}
