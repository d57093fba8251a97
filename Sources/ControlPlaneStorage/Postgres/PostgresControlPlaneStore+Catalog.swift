internal import NIOCore
internal import PostgresNIO

// The catalog in PostgreSQL: a per-run staging table filled by one multi-row insert per batch, published into the
// connection's assets by set-based statements in one transaction, so neither side is ever loaded into memory.

extension PostgresControlPlaneStore {
    public func clearStaging(tenantId: String, runId: String) async throws {
        try await rows("DELETE FROM catalog_staging WHERE tenant_id = \(tenantId) AND run_id = \(runId)")
    }

    public func clearAbandonedStaging() async throws -> Int {
        try await transaction { connection in
            try await self.count(
                """
                WITH removed AS (
                    DELETE FROM catalog_staging AS s WHERE NOT EXISTS (
                        SELECT 1 FROM runs AS r
                        WHERE r.tenant_id = s.tenant_id AND r.id = s.run_id AND r.status = 'ingesting')
                    RETURNING 1
                )
                SELECT count(*) FROM removed
                """, on: connection)
        }
    }

    /// One `INSERT … SELECT FROM unnest(…)` per batch: one statement text whatever the batch size, one round trip,
    /// atomic. A (kind, qualified name) already staged for the run, or repeated in the batch, throws `.conflict`
    /// and stages nothing of the batch; an unknown run throws `.notFound`.
    public func stage(tenantId: String, runId: String, assets: [StagedAsset]) async throws {
        guard !assets.isEmpty else { return }
        // Arrays of optionals cannot be bound, so an absent parent, schema or lineage travels as '' and lands as
        // NULL.
        let lineage = try assets.map { try $0.storedLineage() ?? "" }
        try await rows(
            """
            INSERT INTO catalog_staging (tenant_id, run_id, kind, qualified_name, name, name_lower, parent, schema_qn,
                database_qn, body, fingerprint, lineage, search_text)
            SELECT \(tenantId), \(runId), a.kind, a.qualified_name, a.name, a.name_lower, NULLIF(a.parent, ''),
                NULLIF(a.schema_qn, ''), a.database_qn, a.body, a.fingerprint, NULLIF(a.lineage, ''), a.search_text
            FROM unnest(\(assets.map(\.kind))::text[], \(assets.map(\.qualifiedName))::text[],
                \(assets.map(\.name))::text[], \(assets.map(\.nameLower))::text[],
                \(assets.map { $0.storedParent ?? "" })::text[], \(assets.map { $0.storedSchema ?? "" })::text[],
                \(assets.map(\.database))::text[], \(assets.map { ByteBuffer(bytes: $0.body) })::bytea[],
                \(assets.map { ByteBuffer(bytes: $0.fingerprint) })::bytea[], \(lineage)::text[],
                \(assets.map(\.searchText))::text[])
                AS a (kind, qualified_name, name, name_lower, parent, schema_qn, database_qn, body, fingerprint,
                    lineage, search_text)
            """)
    }

    /// Applies the run's staging to the connection's assets in one transaction (the caller clears the staging).
    ///
    /// Set-based, so 250,000 staged assets never pass through memory: an `UPDATE … FROM` rewrites only the assets
    /// whose fingerprint changed (an upsert would lock, and so write, every unchanged row too), an anti-joined
    /// `INSERT … SELECT` adds the new ones (`ON CONFLICT` would cost a speculative insertion per row), and each
    /// counts its rows on the server. When every asset the connection had was staged again, nothing can be absent
    /// and the deletion pass is skipped; otherwise deletion candidates — assets absent from staging inside the complete
    /// scope — are streamed through a cursor a batch at a time, and those `scope.outOfScope` does not protect are
    /// deleted by key. Database assets are never deleted (no scope covers a connection's list of databases).
    ///
    /// Publishes of one connection are serialised by a transaction-scoped advisory lock (which is what lets the
    /// insert anti-join without `ON CONFLICT`); the connection row is key-share locked, so it cannot be deleted
    /// meanwhile but can still be edited. Throws `.notFound` for an unknown connection.
    public func publish(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, now: Timestamp
    ) async throws -> PublishSummary {
        let (summary, lineageRows) = try await transaction { connection -> (PublishSummary, Int) in
            var lineageRows = 0
            let lockKey = tenantId + "/" + connectionId
            try await self.rows(
                "SELECT pg_advisory_xact_lock(\(Self.publishLockSpace), hashtext(\(lockKey)))", on: connection)
            guard
                let published = try await self.rows(
                    """
                    SELECT published_generation FROM connections
                    WHERE tenant_id = \(tenantId) AND id = \(connectionId) FOR KEY SHARE
                    """,
                    on: connection
                ).first
            else {
                throw StorageError(.notFound, "connection \(connectionId) does not exist")
            }
            guard
                let run = try await self.rows(
                    "SELECT generation FROM runs WHERE tenant_id = \(tenantId) AND id = \(runId)", on: connection
                ).first
            else {
                throw StorageError(.notFound, "run \(runId) does not exist")
            }
            // The advisory lock serialises this connection's publishes, so the generation read here stays the
            // newest published until this transaction commits its own.
            let generation = try run.decode(Int64.self)
            guard generation >= (try published.decode(Int64.self)) else {
                throw CatalogPublishing.superseded(runId: runId)
            }
            try await self.rows(
                """
                UPDATE connections SET published_generation = \(generation)
                WHERE tenant_id = \(tenantId) AND id = \(connectionId)
                """, on: connection)
            // Staging is filled and emptied run by run, so its statistics never describe the run at hand and the
            // planner, expecting a handful of rows, would pick per-row index loops; the bulk statements below are
            // always best as hash joins. Re-enabled for the key-by-key deletes.
            try await self.rows("SET LOCAL enable_nestloop = off", on: connection)
            let existing = try await self.count(
                """
                SELECT count(*) FROM catalog_assets WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)
                """, on: connection)
            let staged = try await self.count(
                "SELECT count(*) FROM catalog_staging WHERE tenant_id = \(tenantId) AND run_id = \(runId)",
                on: connection)
            // Lineage is stated by BI records only; a connection that has none staged and none stored skips it.
            let hasLineage = try await self.count(
                """
                SELECT (EXISTS (
                    SELECT 1 FROM catalog_staging
                    WHERE tenant_id = \(tenantId) AND run_id = \(runId) AND lineage IS NOT NULL)
                OR EXISTS (
                    SELECT 1 FROM catalog_links WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId))
                OR EXISTS (
                    SELECT 1 FROM catalog_references
                    WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)))::int
                """, on: connection)
            if hasLineage == 1 {
                try await self.removeChangedLineage(
                    tenantId: tenantId, connectionId: connectionId, runId: runId, on: connection)
            }
            let updated = try await self.count(
                """
                WITH changed AS (
                    UPDATE catalog_assets AS a SET name = s.name, name_lower = s.name_lower, parent = s.parent,
                        schema_qn = s.schema_qn, database_qn = s.database_qn, body = s.body,
                        fingerprint = s.fingerprint, run_id = s.run_id, updated_at = \(now.milliseconds),
                        search_text = s.search_text
                    FROM catalog_staging AS s
                    WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId)
                        AND s.tenant_id = \(tenantId) AND s.run_id = \(runId)
                        AND s.kind = a.kind AND s.qualified_name = a.qualified_name AND s.fingerprint <> a.fingerprint
                    RETURNING 1
                )
                SELECT count(*) FROM changed
                """, on: connection)
            let created = try await self.count(
                """
                WITH added AS (
                    INSERT INTO catalog_assets (tenant_id, connection_id, kind, qualified_name, name, name_lower,
                        parent, schema_qn, database_qn, body, fingerprint, run_id, created_at, updated_at, search_text)
                    SELECT tenant_id, \(connectionId), kind, qualified_name, name, name_lower, parent, schema_qn,
                        database_qn, body, fingerprint, run_id, \(now.milliseconds), \(now.milliseconds), search_text
                    FROM catalog_staging AS s WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId)
                        AND NOT EXISTS (
                            SELECT 1 FROM catalog_assets AS a
                            WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = s.kind
                                AND a.qualified_name = s.qualified_name)
                    RETURNING 1
                )
                SELECT count(*) FROM added
                """, on: connection)
            if hasLineage == 1 {
                lineageRows = try await self.insertLineage(
                    tenantId: tenantId, connectionId: connectionId, runId: runId, on: connection)
            }
            // Every staged asset was either there before or created, so when the connection had no more assets
            // than staged ones that already existed, none is absent and there is nothing to look for.
            let deleted =
                existing > staged - created
                ? try await self.deleteAbsent(
                    tenantId: tenantId, connectionId: connectionId, runId: runId, scope: scope, on: connection) : 0
            return (
                PublishSummary(
                    created: created, updated: updated, unchanged: staged - created - updated, deleted: deleted),
                lineageRows
            )
        }
        await refreshLineageStatistics(inserted: lineageRows)
        return summary
    }

    public func listAssets(tenantId: String, query: CatalogQuery) async throws -> CatalogPage {
        var filter = Self.filter(tenantId: tenantId, query: query)
        let total =
            try await rows(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM catalog_assets WHERE \(filter.sql)", binds: filter.binds)
            ).first?.decode(Int.self) ?? 0
        guard query.limit > 0, query.offset < total else { return CatalogPage(assets: [], total: total) }
        let sql = """
            SELECT \(Self.assetColumns) FROM catalog_assets WHERE \(filter.sql)
            ORDER BY \(Self.ordering(query)) LIMIT \(filter.bind(query.limit)) OFFSET \(filter.bind(query.offset))
            """
        let assets = try await rows(PostgresQuery(unsafeSQL: sql, binds: filter.binds)).map(Self.decodeAsset)
        return CatalogPage(assets: assets, total: total)
    }

    public func assetFacets(
        tenantId: String, query: CatalogQuery, limit: Int, dimensions: Set<CatalogFacets.Dimension>
    ) async throws -> CatalogFacets {
        func facet(_ column: String, without clear: (inout CatalogQuery) -> Void) async throws -> [CatalogFacets.Value]
        {
            var unfiltered = query
            clear(&unfiltered)
            var filter = Self.filter(tenantId: tenantId, query: unfiltered)
            let sql = """
                SELECT \(column), count(*)::bigint AS n FROM catalog_assets
                WHERE \(filter.sql) AND \(column) IS NOT NULL
                GROUP BY \(column) ORDER BY n DESC, \(column) LIMIT \(filter.bind(limit))
                """
            return try await rows(PostgresQuery(unsafeSQL: sql, binds: filter.binds)).map {
                let (value, count) = try $0.decode((String, Int).self)
                return CatalogFacets.Value(value: value, count: count)
            }
        }
        return CatalogFacets(
            kinds: dimensions.contains(.kind) ? try await facet("kind") { $0.kinds = [] } : [],
            connections: dimensions.contains(.connection)
                ? try await facet("connection_id") { $0.connectionId = nil } : [],
            databases: dimensions.contains(.database) ? try await facet("database_qn") { $0.database = nil } : [],
            schemas: dimensions.contains(.schema) ? try await facet("schema_qn") { $0.schema = nil } : [])
    }

    public func childCounts(
        tenantId: String, connectionId: String, parents: [String]
    ) async throws -> [String: [String: Int]] {
        guard !parents.isEmpty else { return [:] }
        var counts: [String: [String: Int]] = [:]
        let rows = try await rows(
            """
            SELECT parent, kind, count(*)::bigint FROM catalog_assets
            WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId) AND parent = ANY(\(parents)::text[])
            GROUP BY parent, kind
            """)
        for row in rows {
            let (parent, kind, count) = try row.decode((String, String, Int).self)
            counts[parent, default: [:]][kind] = count
        }
        return counts
    }

    /// The `WHERE` conditions of a listing and their bindings, written for what the query sets only, so that
    /// the planner picks the index that fits (a parent's children by the parent index).
    private static func filter(tenantId: String, query: CatalogQuery) -> PostgresFilter {
        var filter = PostgresFilter()
        var conditions = ["tenant_id = \(filter.bind(tenantId))"]
        if let connectionId = query.connectionId { conditions.append("connection_id = \(filter.bind(connectionId))") }
        if let qualifiedName = query.qualifiedName {
            conditions.append("qualified_name = \(filter.bind(qualifiedName))")
        }
        switch query.place {
        case .anywhere: break
        case .topLevel: conditions.append("parent IS NULL")
        case .children(let parent): conditions.append("parent = \(filter.bind(parent))")
        }
        if let database = query.database { conditions.append("database_qn = \(filter.bind(database))") }
        if let schema = query.schema { conditions.append("schema_qn = \(filter.bind(schema))") }
        if !query.kinds.isEmpty { conditions.append("kind = ANY(\(filter.bind(query.kinds))::text[])") }
        for term in query.terms { conditions.append("strpos(search_text, \(filter.bind(term))) > 0") }
        filter.sql = conditions.joined(separator: " AND ")
        return filter
    }

    /// The `ORDER BY` of a listing: the chosen order, then enough ties broken to make pages stable.
    private static func ordering(_ query: CatalogQuery) -> String {
        let direction = query.descending ? "DESC" : "ASC"
        return switch query.order {
        case .name:
            "name_lower \(direction), name COLLATE \"C\" \(direction), connection_id, kind, qualified_name"
        case .kind: "kind \(direction), name_lower, name COLLATE \"C\", connection_id, qualified_name"
        case .qualifiedName: "qualified_name \(direction), connection_id, kind"
        case .updated: "updated_at \(direction), name_lower, connection_id, kind, qualified_name"
        }
    }

    public func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws -> CatalogAsset? {
        try await rows(
            """
            SELECT \(unescaped: Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId) AND kind = \(kind)
                AND qualified_name = \(qualifiedName)
            """
        ).first.map(Self.decodeAsset)
    }

    /// Ordered by kind, then name.
    public func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset] {
        try await rows(
            """
            SELECT \(unescaped: Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId) AND parent = \(parent)
            ORDER BY kind, name_lower, name COLLATE "C", qualified_name
            """
        ).map(Self.decodeAsset)
    }

    // MARK: Lineage

    /// Removes the links and references of the assets whose record changed, before they are rewritten (their
    /// fingerprints still differ from the staged ones here); the assets deleted later take theirs along by the
    /// cascade.
    private func removeChangedLineage(
        tenantId: String, connectionId: String, runId: String, on connection: PostgresConnection
    ) async throws {
        for table in ["catalog_links", "catalog_references"] {
            try await rows(
                """
                DELETE FROM \(unescaped: table) AS l USING catalog_staging AS s, catalog_assets AS a
                WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId)
                    AND a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = s.kind
                    AND a.qualified_name = s.qualified_name AND a.fingerprint <> s.fingerprint
                    AND l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId) AND l.holder_kind = a.kind
                    AND l.holder_qn = a.qualified_name
                """, on: connection)
        }
    }

    /// Writes the staged links and references of every staged asset that has none stored: the new and changed
    /// ones (whose rows `removeChangedLineage` removed), and any published before links were stored. Returns how
    /// many rows it wrote.
    ///
    /// The holders that already have rows are read once, before anything is written (a materialised CTE), so the
    /// check costs one pass whatever the plan: probing the table being written would meet, in its indexes, every
    /// row the statement itself added.
    private func insertLineage(
        tenantId: String, connectionId: String, runId: String, on connection: PostgresConnection
    ) async throws -> Int {
        let links = try await count(
            """
            WITH present AS MATERIALIZED (
                SELECT DISTINCT holder_kind, holder_qn FROM catalog_links
                WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)
            ), inserted AS (
                INSERT INTO catalog_links (tenant_id, connection_id, holder_kind, holder_qn, relation, from_kind,
                    from_qn, to_kind, to_qn)
                SELECT \(tenantId), \(connectionId), s.kind, s.qualified_name, l.relation, l.from_kind, l.from_qn,
                    l.to_kind, l.to_qn
                FROM catalog_staging AS s
                CROSS JOIN LATERAL jsonb_to_recordset(s.lineage::jsonb -> 'links')
                    AS l (relation text, from_kind text, from_qn text, to_kind text, to_qn text)
                WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId) AND s.lineage IS NOT NULL
                    AND NOT EXISTS (
                        SELECT 1 FROM present AS e WHERE e.holder_kind = s.kind AND e.holder_qn = s.qualified_name)
                RETURNING 1
            )
            SELECT count(*) FROM inserted
            """, on: connection)
        let references = try await count(
            """
            WITH present AS MATERIALIZED (
                SELECT DISTINCT holder_kind, holder_qn FROM catalog_references
                WHERE tenant_id = \(tenantId) AND connection_id = \(connectionId)
            ), inserted AS (
                INSERT INTO catalog_references (tenant_id, connection_id, holder_kind, holder_qn, ordinal, relation,
                    connection_type, host, port, database_name, schema_name, table_name, table_lower, column_name)
                SELECT \(tenantId), \(connectionId), s.kind, s.qualified_name, r.ordinal, r.relation,
                    r.connection_type, r.host, r.port, r.database_name, r.schema_name, r.table_name, r.table_lower,
                    r.column_name
                FROM catalog_staging AS s
                CROSS JOIN LATERAL jsonb_to_recordset(s.lineage::jsonb -> 'references')
                    AS r (ordinal int, relation text, connection_type text, host text, port int, database_name text,
                        schema_name text, table_name text, table_lower text, column_name text)
                WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId) AND s.lineage IS NOT NULL
                    AND NOT EXISTS (
                        SELECT 1 FROM present AS e WHERE e.holder_kind = s.kind AND e.holder_qn = s.qualified_name)
                RETURNING 1
            )
            SELECT count(*) FROM inserted
            """, on: connection)
        return links + references
    }

    /// Refreshes the planner's statistics of the lineage tables (and the assets they join) after a publish wrote
    /// many lineage rows: the lineage walks are recursive joins whose plan depends on them, and autovacuum may not
    /// get there before the first reader (measured: a 12,000-record site's first "used by" took 80 s on the
    /// statistics of the empty tables, 0.1 s after ANALYZE). Outside the publish's transaction, so the lock ANALYZE
    /// takes is held only while it samples; best effort.
    private func refreshLineageStatistics(inserted: Int) async {
        guard inserted > 0 else { return }
        do {
            let known =
                try await rows(
                    "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class WHERE relname = 'catalog_links'"
                ).first?.decode(Int64.self) ?? 0
            // Statistics stay good while a publish adds less than a tenth of what they describe.
            guard Int64(inserted) * 10 > known else { return }
            _ = try await rows("ANALYZE catalog_links, catalog_references, catalog_assets")
        } catch {
            logger.notice("catalog.analyze_failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Deletion

    /// The first key of the two-key advisory locks that serialise publishes of one connection (the second is a
    /// hash of tenant and connection); "cat" in ASCII. Two-key locks never collide with the migration lock.
    private static let publishLockSpace: Int32 = 0x63_6174

    /// Deletes the connection's assets that the run did not stage and that lie inside the complete scope: in a
    /// complete schema, or in a complete database whose schema has no staged `schema` record (the schema
    /// vanished) — unless `outOfScope` keeps them. One cursor streams the candidates (the server plans the
    /// anti-join once) and each fetched batch is filtered in Swift and deleted by key before the next is fetched.
    private func deleteAbsent(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, on connection: PostgresConnection
    ) async throws -> Int {
        try await rows(
            """
            DECLARE catalog_deletion_candidates NO SCROLL CURSOR FOR
            SELECT a.kind, a.qualified_name FROM catalog_assets AS a
            WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.schema_qn IS NOT NULL
                AND (a.schema_qn = ANY(\(Array(scope.completeSchemas))::text[])
                    OR (a.database_qn = ANY(\(Array(scope.completeDatabases))::text[]) AND NOT EXISTS (
                        SELECT 1 FROM catalog_staging AS s
                        WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId)
                            AND s.kind = ANY(\(CatalogPublishing.scopeKinds)::text[])
                            AND s.qualified_name = a.schema_qn)))
                AND NOT EXISTS (
                    SELECT 1 FROM catalog_staging AS s
                    WHERE s.tenant_id = \(tenantId) AND s.run_id = \(runId) AND s.kind = a.kind
                        AND s.qualified_name = a.qualified_name)
            """, on: connection)
        try await rows("SET LOCAL enable_nestloop = on", on: connection)
        var deleted = 0
        while true {
            let candidates = try await rows(
                "FETCH FORWARD \(unescaped: String(CatalogPublishing.deletionBatchSize)) FROM catalog_deletion_candidates",
                on: connection
            ).map { try $0.decode((String, String).self) }
            let chosen = candidates.filter { !scope.outOfScope($0.0, $0.1) }
            if !chosen.isEmpty {
                deleted += try await count(
                    """
                    WITH chosen AS (
                        SELECT * FROM unnest(\(chosen.map(\.0))::text[], \(chosen.map(\.1))::text[])
                            AS c (kind, qualified_name)
                    ), removed AS (
                        DELETE FROM catalog_assets AS a USING chosen AS c
                        WHERE a.tenant_id = \(tenantId) AND a.connection_id = \(connectionId) AND a.kind = c.kind
                            AND a.qualified_name = c.qualified_name
                        RETURNING 1
                    ), links AS (
                        DELETE FROM catalog_links AS l USING chosen AS c
                        WHERE l.tenant_id = \(tenantId) AND l.connection_id = \(connectionId)
                            AND l.holder_kind = c.kind AND l.holder_qn = c.qualified_name
                    ), refs AS (
                        DELETE FROM catalog_references AS r USING chosen AS c
                        WHERE r.tenant_id = \(tenantId) AND r.connection_id = \(connectionId)
                            AND r.holder_kind = c.kind AND r.holder_qn = c.qualified_name
                    )
                    SELECT count(*) FROM removed
                    """, on: connection)
            }
            if candidates.count < CatalogPublishing.deletionBatchSize { break }
        }
        try await rows("CLOSE catalog_deletion_candidates", on: connection)
        return deleted
    }

    // MARK: Rows

    /// The one integer a `SELECT count(*)` answers.
    func count(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Int {
        guard let row = try await rows(query, on: connection).first else { return 0 }
        return try row.decode(Int.self)
    }

    static let assetColumns = "connection_id, kind, qualified_name, name, parent, body, run_id"

    static func decodeAsset(_ row: PostgresRow) throws -> CatalogAsset {
        let (connectionId, kind, qualifiedName, name, parent, body, runId) = try row.decode(
            (String, String, String, String, String?, ByteBuffer, String).self)
        return CatalogAsset(
            connectionId: connectionId, kind: kind, qualifiedName: qualifiedName, name: name, parent: parent,
            body: Array(body.readableBytesView), runId: runId)
    }
}

/// SQL conditions built from what a query sets, with the values they bind as `$1`, `$2`, ….
struct PostgresFilter {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }
}
