// The catalog in SQLite: a per-run staging table filled in short transactions, published as a new version of the
// connection's assets in bounded slices (each its own `BEGIN IMMEDIATE` transaction) and made visible by one small
// transaction, so neither side is ever loaded into memory and the only write lock is never held for long.

extension SQLiteControlPlaneStore {
    /// A batch of rows per transaction, yielding between them, so requests that write (heartbeats, claims) are
    /// not held up behind the removal of a large delivery's staging.
    public func clearStaging(tenantId: String, runId: String) async throws {
        try await repeatInSlices { rows in
            try database.execute(
                """
                DELETE FROM catalog_staging WHERE rowid IN (
                    SELECT rowid FROM catalog_staging WHERE tenant_id = ? AND run_id = ? LIMIT ?)
                """, [tenantId, runId, rows])
        }
    }

    public func clearAbandonedStaging() async throws -> Int {
        try database.writeTransaction {
            try database.execute(
                """
                DELETE FROM catalog_staging WHERE NOT EXISTS (
                    SELECT 1 FROM runs AS r
                    WHERE r.tenant_id = catalog_staging.tenant_id AND r.id = catalog_staging.run_id
                        AND r.status = 'ingesting')
                """, [])
        }
    }

    /// A transaction per slice of the batch (`SliceSize`) through one prepared statement, yielding between them. A (kind,
    /// qualified name) already staged for the run, or repeated in the batch, throws `.conflict`, and the slices of
    /// the batch staged before it are removed again; an unknown run throws `.notFound`.
    public func stage(tenantId: String, runId: String, assets: [StagedAsset]) async throws {
        var staged = 0
        var size = SliceSize()
        do {
            while staged < assets.count {
                let slice = assets[staged..<min(staged + size.rows, assets.count)]
                let started = ContinuousClock.now
                try database.writeTransaction {
                    for asset in slice {
                        try database.execute(
                            """
                            INSERT INTO catalog_staging (tenant_id, run_id, kind, qualified_name, name, name_lower,
                                parent, schema_qn, database_qn, body, fingerprint, lineage, search_text)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                            [
                                tenantId, runId, asset.kind, asset.qualifiedName, asset.name, asset.nameLower,
                                asset.storedParent, asset.storedSchema, asset.database, asset.body, asset.fingerprint,
                                try asset.storedLineage(), asset.searchText,
                            ])
                    }
                }
                staged = slice.endIndex
                size.record(ContinuousClock.now - started)
                if staged < assets.count { await Task.yield() }
            }
        } catch {
            // All or nothing: what this batch staged before the failing slice goes again.
            for slice in stride(from: 0, to: staged, by: SliceSize.maximum) {
                try database.writeTransaction {
                    for asset in assets[slice..<min(slice + SliceSize.maximum, staged)] {
                        try database.execute(
                            """
                            DELETE FROM catalog_staging
                            WHERE tenant_id = ? AND run_id = ? AND kind = ? AND qualified_name = ?
                            """, [tenantId, runId, asset.kind, asset.qualifiedName])
                    }
                }
            }
            throw error
        }
    }

    /// Writes the run's staging as the connection's next catalog version, then makes it the visible one.
    ///
    /// Readers see version `catalog_version`; this writes version V+1 beside it (`born` V+1 for new and changed
    /// assets, `died` V+1 on the rows they replace and on absent ones), a slice of rows per transaction
    /// (`SliceSize`: about 10 ms of work) with a yield between, so heartbeats, claims and log uploads queued meanwhile run after
    /// one slice rather than after the whole delivery. One small transaction then moves `catalog_version` to V+1
    /// (checking the order of runs again), and the replaced rows are removed in slices. Nothing passes through
    /// memory but a slice's bounds and deletion candidates.
    ///
    /// A publish interrupted by a crash leaves `catalog_pending` set and rows of a version nobody sees; the next
    /// publish of the connection removes them first. Publishes of one connection take turns (this actor is the
    /// only writer of its file, see `SQLiteOwnerLock`). Throws `.notFound` for an unknown connection or run and
    /// `.superseded` when a newer run's delivery is published already.
    public func publish(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, now: Timestamp
    ) async throws -> PublishSummary {
        let turn = tenantId + "/" + connectionId
        while publishingConnections.contains(turn) { try await Task.sleep(for: .milliseconds(20)) }
        publishingConnections.insert(turn)
        defer { publishingConnections.remove(turn) }

        let start = try database.writeTransaction {
            () throws -> (generation: Int64, visible: Int64, interrupted: Bool, count: Int) in
            guard
                let connection = try database.queryFirst(
                    """
                    SELECT published_generation, catalog_version, catalog_pending, catalog_count FROM connections
                    WHERE tenant_id = ? AND id = ?
                    """, [tenantId, connectionId], { ($0.int64(0), $0.int64(1), $0.optionalInt64(2), $0.int(3)) })
            else {
                throw StorageError(.notFound, "connection \(connectionId) does not exist")
            }
            guard
                let generation = try database.queryFirst(
                    "SELECT generation FROM runs WHERE tenant_id = ? AND id = ?", [tenantId, runId], { $0.int64(0) })
            else {
                throw StorageError(.notFound, "run \(runId) does not exist")
            }
            guard generation >= connection.0 else { throw CatalogPublishing.superseded(runId: runId) }
            try database.execute(
                "UPDATE connections SET catalog_pending = ? WHERE tenant_id = ? AND id = ?",
                [connection.1 + 1, tenantId, connectionId])
            return (generation, connection.1, connection.2 != nil, connection.3)
        }
        let version = start.visible + 1
        let assets = AssetVersions(tenantId: tenantId, connectionId: connectionId)
        if start.interrupted { try await discardUnpublished(assets, visible: start.visible) }

        // New and changed assets, slice by slice of the staging in key order.
        var created = 0
        var updated = 0
        var staged = 0
        var after = (kind: "", qualifiedName: "")
        var slice = SliceSize()
        while true {
            let started = ContinuousClock.now
            guard let bound = try stagingSliceEnd(tenantId: tenantId, runId: runId, after: after, rows: slice.rows)
            else { break }
            let counts = try database.writeTransaction { () throws -> (replaced: Int, inserted: Int) in
                let values: [any SQLiteBindable] = [
                    tenantId, connectionId, runId, now, version, after.kind, after.qualifiedName, bound.end.kind,
                    bound.end.qualifiedName,
                ]
                // The slice of staging drives (CROSS JOIN), and `+` keeps SQLite from turning the slice's key range
                // into a range scan of the whole catalog: each staged asset looks up its current row by key.
                let replaced = try database.execute(
                    """
                    UPDATE catalog_assets SET died = ?5 WHERE rowid IN (
                        SELECT a.rowid FROM catalog_staging AS s CROSS JOIN catalog_assets AS a
                        WHERE s.tenant_id = ?1 AND s.run_id = ?3
                            AND (s.kind, s.qualified_name) > (?6, ?7) AND (s.kind, s.qualified_name) <= (?8, ?9)
                            AND a.tenant_id = ?1 AND a.connection_id = ?2 AND a.kind = +s.kind
                            AND a.qualified_name = +s.qualified_name AND a.died IS NULL
                            AND a.fingerprint <> s.fingerprint)
                    """, values)
                // A replaced asset keeps its creation time; looked up only when the slice replaced any.
                let createdAt =
                    replaced == 0
                    ? "?4"
                    : """
                    coalesce((
                        SELECT o.created_at FROM catalog_assets AS o
                        WHERE o.tenant_id = ?1 AND o.connection_id = ?2 AND o.kind = s.kind
                            AND o.qualified_name = s.qualified_name AND o.died = ?5), ?4)
                    """
                let inserted = try database.execute(
                    """
                    INSERT INTO catalog_assets (tenant_id, connection_id, kind, qualified_name, name, name_lower,
                        parent, schema_qn, database_qn, body, fingerprint, run_id, created_at, updated_at, born, died,
                        search_text)
                    SELECT s.tenant_id, ?2, s.kind, s.qualified_name, s.name, s.name_lower, s.parent, s.schema_qn,
                        s.database_qn, s.body, s.fingerprint, s.run_id, \(createdAt), ?4, ?5, NULL, s.search_text
                    FROM catalog_staging AS s
                    WHERE s.tenant_id = ?1 AND s.run_id = ?3
                        AND (s.kind, s.qualified_name) > (?6, ?7) AND (s.kind, s.qualified_name) <= (?8, ?9)
                        AND NOT EXISTS (
                            SELECT 1 FROM catalog_assets AS a
                            WHERE a.tenant_id = ?1 AND a.connection_id = ?2 AND a.kind = s.kind
                                AND a.qualified_name = s.qualified_name AND a.died IS NULL)
                    """, values)
                if inserted > 0 {
                    try writeLineage(
                        tenantId: tenantId, connectionId: connectionId, runId: runId, version: version,
                        after: after, end: bound.end)
                }
                return (replaced, inserted)
            }
            updated += counts.replaced
            created += counts.inserted - counts.replaced
            staged += bound.rows
            after = bound.end
            slice.record(ContinuousClock.now - started)
            // Stopping here (the ingestion was cancelled) leaves a version nobody sees, cleaned up by the next.
            await Task.yield()
            try Task.checkCancellation()
        }

        // Every staged asset was current before or is new, so when the catalog had no more assets than the staged
        // ones that were there before, none is absent and there is nothing to look for.
        let deleted =
            start.count > staged - created
            ? try await markAbsent(
                assets, runId: runId, version: version,
                completeSchemas: StoredJSON.encode(scope.completeSchemas.sorted()),
                completeDatabases: StoredJSON.encode(scope.completeDatabases.sorted()), outOfScope: scope.outOfScope)
            : 0

        // The switch: readers see the new version from this commit on.
        try database.writeTransaction {
            let switched = try database.execute(
                """
                UPDATE connections SET published_generation = ?, catalog_version = ?, catalog_pending = NULL,
                    catalog_count = ?
                WHERE tenant_id = ? AND id = ? AND published_generation <= ? AND catalog_pending = ?
                """,
                [
                    start.generation, version, start.count + created - deleted, tenantId, connectionId,
                    start.generation, version,
                ])
            guard switched == 1 else {
                let exists = try database.queryFirst(
                    "SELECT 1 FROM connections WHERE tenant_id = ? AND id = ?", [tenantId, connectionId],
                    { $0.int(0) })
                guard exists != nil else { throw StorageError(.notFound, "connection \(connectionId) does not exist") }
                throw CatalogPublishing.superseded(runId: runId)
            }
        }
        try await removeReplaced(assets, upTo: version)
        return PublishSummary(
            created: created, updated: updated, unchanged: staged - created - updated, deleted: deleted)
    }

    /// Expands the lineage of the slice's staged assets whose new version (`born` = `version`) was just written
    /// into links and references of that version: the rows come and go with the asset version that states them.
    private func writeLineage(
        tenantId: String, connectionId: String, runId: String, version: Int64,
        after: (kind: String, qualifiedName: String), end: (kind: String, qualifiedName: String)
    ) throws {
        let values: [any SQLiteBindable] = [
            tenantId, connectionId, runId, version, after.kind, after.qualifiedName, end.kind, end.qualifiedName,
        ]
        // The slice's staged rows that state lineage and whose version this publish wrote (new or changed).
        func written(_ list: String, as alias: String) -> String {
            """
            FROM catalog_staging AS s, json_each(s.lineage, '$.\(list)') AS \(alias)
            WHERE s.tenant_id = ?1 AND s.run_id = ?3 AND s.lineage IS NOT NULL
                AND (s.kind, s.qualified_name) > (?5, ?6) AND (s.kind, s.qualified_name) <= (?7, ?8)
                AND EXISTS (
                    SELECT 1 FROM catalog_assets AS a
                    WHERE a.tenant_id = ?1 AND a.connection_id = ?2 AND a.kind = s.kind
                        AND a.qualified_name = s.qualified_name AND a.born = ?4)
            """
        }
        try database.execute(
            """
            INSERT INTO catalog_links (tenant_id, connection_id, holder_kind, holder_qn, holder_born, relation,
                from_kind, from_qn, to_kind, to_qn)
            SELECT ?1, ?2, s.kind, s.qualified_name, ?4, json_extract(l.value, '$.relation'),
                json_extract(l.value, '$.from_kind'), json_extract(l.value, '$.from_qn'),
                json_extract(l.value, '$.to_kind'), json_extract(l.value, '$.to_qn')
            \(written("links", as: "l"))
            """, values)
        try database.execute(
            """
            INSERT INTO catalog_references (tenant_id, connection_id, holder_kind, holder_qn, holder_born, ordinal,
                relation, connection_type, host, port, database_name, schema_name, table_name, table_lower, column_name)
            SELECT ?1, ?2, s.kind, s.qualified_name, ?4, json_extract(r.value, '$.ordinal'),
                json_extract(r.value, '$.relation'), json_extract(r.value, '$.connection_type'),
                json_extract(r.value, '$.host'), json_extract(r.value, '$.port'),
                json_extract(r.value, '$.database_name'), json_extract(r.value, '$.schema_name'),
                json_extract(r.value, '$.table_name'), json_extract(r.value, '$.table_lower'),
                json_extract(r.value, '$.column_name')
            \(written("references", as: "r"))
            """, values)
    }

    public func listAssets(tenantId: String, query: CatalogQuery) async throws -> CatalogPage {
        let (conditions, values) = try Self.conditions(tenantId: tenantId, query: query)
        let total =
            try database.queryFirst(
                "SELECT count(*) FROM catalog_assets AS a \(Self.visibleVersion) WHERE \(conditions)", values,
                { $0.int(0) }) ?? 0
        guard query.limit > 0, query.offset < total else { return CatalogPage(assets: [], total: total) }
        let assets = try database.query(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets AS a \(Self.visibleVersion)
            WHERE \(conditions)
            ORDER BY \(Self.ordering(query))
            LIMIT ? OFFSET ?
            """, values + [query.limit, query.offset], Self.decodeAsset)
        return CatalogPage(assets: assets, total: total)
    }

    public func assetFacets(
        tenantId: String, query: CatalogQuery, limit: Int, dimensions: Set<CatalogFacets.Dimension>
    ) async throws -> CatalogFacets {
        func facet(_ column: String, without clear: (inout CatalogQuery) -> Void) throws -> [CatalogFacets.Value] {
            var unfiltered = query
            clear(&unfiltered)
            let (conditions, values) = try Self.conditions(tenantId: tenantId, query: unfiltered)
            return try database.query(
                """
                SELECT a.\(column), count(*) AS n FROM catalog_assets AS a \(Self.visibleVersion)
                WHERE \(conditions) AND a.\(column) IS NOT NULL
                GROUP BY a.\(column) ORDER BY n DESC, a.\(column) LIMIT ?
                """, values + [limit]
            ) { CatalogFacets.Value(value: $0.text(0), count: $0.int(1)) }
        }
        return CatalogFacets(
            kinds: dimensions.contains(.kind) ? try facet("kind") { $0.kinds = [] } : [],
            connections: dimensions.contains(.connection) ? try facet("connection_id") { $0.connectionId = nil } : [],
            databases: dimensions.contains(.database) ? try facet("database_qn") { $0.database = nil } : [],
            schemas: dimensions.contains(.schema) ? try facet("schema_qn") { $0.schema = nil } : [])
    }

    public func childCounts(
        tenantId: String, connectionId: String, parents: [String]
    ) async throws -> [String: [String: Int]] {
        guard !parents.isEmpty else { return [:] }
        var counts: [String: [String: Int]] = [:]
        let rows = try database.query(
            """
            SELECT a.parent, a.kind, count(*) FROM json_each(?3) AS p
            CROSS JOIN catalog_assets AS a ON a.tenant_id = ?1 AND a.connection_id = ?2 AND a.parent = p.value
            \(Self.visibleVersion)
            GROUP BY a.parent, a.kind
            """, [tenantId, connectionId, try StoredJSON.encode(parents)]
        ) { (parent: $0.text(0), kind: $0.text(1), count: $0.int(2)) }
        for row in rows { counts[row.parent, default: [:]][row.kind] = row.count }
        return counts
    }

    /// The `WHERE` conditions of a listing over `catalog_assets AS a` and the values they bind, written for what
    /// the query sets only, so that SQLite picks the index that fits (a parent's children by the parent index).
    private static func conditions(
        tenantId: String, query: CatalogQuery
    ) throws -> (String, [any SQLiteBindable]) {
        var conditions = ["a.tenant_id = ?"]
        var values: [any SQLiteBindable] = [tenantId]
        if let connectionId = query.connectionId {
            conditions.append("a.connection_id = ?")
            values.append(connectionId)
        }
        if let qualifiedName = query.qualifiedName {
            conditions.append("a.qualified_name = ?")
            values.append(qualifiedName)
        }
        switch query.place {
        case .anywhere: break
        case .topLevel: conditions.append("a.parent IS NULL")
        case .children(let parent):
            conditions.append("a.parent = ?")
            values.append(parent)
        }
        if let database = query.database {
            conditions.append("a.database_qn = ?")
            values.append(database)
        }
        if let schema = query.schema {
            conditions.append("a.schema_qn = ?")
            values.append(schema)
        }
        if !query.kinds.isEmpty {
            conditions.append("a.kind IN (SELECT value FROM json_each(?))")
            values.append(try StoredJSON.encode(query.kinds))
        }
        for term in query.terms {
            conditions.append("instr(a.search_text, ?) > 0")
            values.append(term)
        }
        return (conditions.joined(separator: " AND "), values)
    }

    /// The `ORDER BY` of a listing: the chosen order, then enough ties broken to make pages stable.
    private static func ordering(_ query: CatalogQuery) -> String {
        let direction = query.descending ? "DESC" : "ASC"
        return switch query.order {
        case .name:
            "a.name_lower \(direction), a.name \(direction), a.connection_id, a.kind, a.qualified_name"
        case .kind: "a.kind \(direction), a.name_lower, a.name, a.connection_id, a.qualified_name"
        case .qualifiedName: "a.qualified_name \(direction), a.connection_id, a.kind"
        case .updated: "a.updated_at \(direction), a.name_lower, a.connection_id, a.kind, a.qualified_name"
        }
    }

    public func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws -> CatalogAsset? {
        try database.queryFirst(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets AS a \(Self.visibleVersion)
            WHERE a.tenant_id = ? AND a.connection_id = ? AND a.kind = ? AND a.qualified_name = ?
            """,
            [tenantId, connectionId, kind, qualifiedName], Self.decodeAsset)
    }

    /// Ordered by kind, then name.
    public func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset] {
        try database.query(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets AS a \(Self.visibleVersion)
            WHERE a.tenant_id = ? AND a.connection_id = ? AND a.parent = ?
            ORDER BY a.kind, a.name_lower, a.name, a.qualified_name
            """,
            [tenantId, connectionId, parent], Self.decodeAsset)
    }

    /// How many rows the connection's catalog holds, whatever their version (for tests and diagnostics: after a
    /// publish it equals the visible assets).
    func assetRows(tenantId: String, connectionId: String) throws -> Int {
        try database.queryFirst(
            "SELECT count(*) FROM catalog_assets WHERE tenant_id = ? AND connection_id = ?", [tenantId, connectionId],
            { $0.int(0) }) ?? 0
    }

    // MARK: Versions

    /// The connection whose asset versions a publish works on.
    struct AssetVersions {
        var tenantId: String
        var connectionId: String
    }

    /// Where the staging slice after `after` ends (its last key, in key order) and how many rows it has; nil when
    /// nothing is staged after `after`.
    private func stagingSliceEnd(
        tenantId: String, runId: String, after: (kind: String, qualifiedName: String), rows: Int
    ) throws -> (end: (kind: String, qualifiedName: String), rows: Int)? {
        let keys = try database.query(
            """
            SELECT kind, qualified_name FROM catalog_staging
            WHERE tenant_id = ? AND run_id = ? AND (kind, qualified_name) > (?, ?)
            ORDER BY kind, qualified_name LIMIT ?
            """, [tenantId, runId, after.kind, after.qualifiedName, rows]
        ) { (kind: $0.text(0), qualifiedName: $0.text(1)) }
        return keys.last.map { (end: $0, rows: keys.count) }
    }

    /// Calls `body` with successive ranges of the connection's asset keys (`SliceSize` keys each), each call in its own write transaction, yielding between them. `body` gets the condition that
    /// restricts `a` (`catalog_assets AS a`) to the range and the values it binds, to append after its own.
    private func forEachAssetSlice(
        _ assets: AssetVersions, _ body: (_ range: String, _ values: [any SQLiteBindable]) throws -> Void
    ) async throws {
        var after = (kind: "", qualifiedName: "")
        var slice = SliceSize()
        while true {
            let started = ContinuousClock.now
            let end = try database.queryFirst(
                """
                SELECT kind, qualified_name FROM catalog_assets
                WHERE tenant_id = ? AND connection_id = ? AND (kind, qualified_name) > (?, ?)
                ORDER BY kind, qualified_name LIMIT 1 OFFSET ?
                """,
                [
                    assets.tenantId, assets.connectionId, after.kind, after.qualifiedName,
                    slice.rows - 1,
                ]
            ) { (kind: $0.text(0), qualifiedName: $0.text(1)) }
            // Two forms, so the upper bound is part of the index search rather than a filter after it.
            let range =
                end == nil
                ? "(a.kind, a.qualified_name) > (?, ?)"
                : "(a.kind, a.qualified_name) > (?, ?) AND (a.kind, a.qualified_name) <= (?, ?)"
            var values: [any SQLiteBindable] = [after.kind, after.qualifiedName]
            if let end { values += [end.kind, end.qualifiedName] }
            try database.writeTransaction { try body(range, values) }
            guard let end else { return }
            after = end
            slice.record(ContinuousClock.now - started)
            await Task.yield()
            try Task.checkCancellation()
        }
    }

    /// Marks the connection's current assets that the run did not stage and that lie inside the complete scope as
    /// removed in `version`: in a complete schema, or in a complete database whose schema has no staged `schema`
    /// (or, for a BI site, `project`) record: the scope vanished — unless `outOfScope` keeps them. Walks the catalog a slice of keys at a time.
    private func markAbsent(
        _ assets: AssetVersions, runId: String, version: Int64, completeSchemas: String, completeDatabases: String,
        outOfScope: (String, String) -> Bool
    ) async throws -> Int {
        var marked = 0
        try await forEachAssetSlice(assets) { range, rangeValues in
            let candidates = try database.query(
                """
                SELECT a.kind, a.qualified_name FROM catalog_assets AS a
                WHERE a.tenant_id = ? AND a.connection_id = ? AND a.died IS NULL AND a.schema_qn IS NOT NULL
                    AND (a.schema_qn IN (SELECT value FROM json_each(?))
                        OR (a.database_qn IN (SELECT value FROM json_each(?)) AND NOT EXISTS (
                            SELECT 1 FROM catalog_staging AS s
                            WHERE s.tenant_id = a.tenant_id AND s.run_id = ? AND s.kind IN (?, ?)
                                AND s.qualified_name = a.schema_qn)))
                    AND NOT EXISTS (
                        SELECT 1 FROM catalog_staging AS s
                        WHERE s.tenant_id = a.tenant_id AND s.run_id = ? AND s.kind = a.kind
                            AND s.qualified_name = a.qualified_name)
                    AND \(range)
                ORDER BY a.kind, a.qualified_name
                """,
                [
                    assets.tenantId, assets.connectionId, completeSchemas, completeDatabases, runId,
                    CatalogPublishing.scopeKinds[0], CatalogPublishing.scopeKinds[1], runId,
                ] + rangeValues
            ) { (kind: $0.text(0), qualifiedName: $0.text(1)) }
            for candidate in candidates where !outOfScope(candidate.kind, candidate.qualifiedName) {
                marked += try database.execute(
                    """
                    UPDATE catalog_assets SET died = ?
                    WHERE tenant_id = ? AND connection_id = ? AND kind = ? AND qualified_name = ? AND died IS NULL
                    """,
                    [version, assets.tenantId, assets.connectionId, candidate.kind, candidate.qualifiedName])
            }
        }
        return marked
    }

    /// Removes the rows of versions readers no longer see (`died` at or before `version`), a slice at a time.
    private func removeReplaced(_ assets: AssetVersions, upTo version: Int64) async throws {
        try await repeatInSlices { rows in
            try database.execute(
                """
                DELETE FROM catalog_assets WHERE rowid IN (
                    SELECT rowid FROM catalog_assets
                    WHERE tenant_id = ? AND connection_id = ? AND died IS NOT NULL AND died <= ? LIMIT ?)
                """, [assets.tenantId, assets.connectionId, version, rows])
        }
    }

    /// Undoes what an interrupted publish wrote: rows of the version it never made visible go, rows it marked as
    /// replaced or removed are current again, and rows it left replaced are removed.
    private func discardUnpublished(_ assets: AssetVersions, visible: Int64) async throws {
        try await forEachAssetSlice(assets) { range, rangeValues in
            try database.execute(
                """
                DELETE FROM catalog_assets WHERE rowid IN (
                    SELECT a.rowid FROM catalog_assets AS a
                    WHERE a.tenant_id = ? AND a.connection_id = ? AND a.born > ? AND \(range))
                """, [assets.tenantId, assets.connectionId, visible] + rangeValues)
        }
        try await repeatInSlices { rows in
            try database.execute(
                """
                UPDATE catalog_assets SET died = NULL WHERE rowid IN (
                    SELECT rowid FROM catalog_assets
                    WHERE tenant_id = ? AND connection_id = ? AND died IS NOT NULL AND died > ? LIMIT ?)
                """, [assets.tenantId, assets.connectionId, visible, rows])
        }
        try await removeReplaced(assets, upTo: visible)
    }

    /// Runs `body` (given how many rows to touch; returns how many it touched) in one write transaction after
    /// another, yielding between them, until it touches fewer rows than it was given.
    private func repeatInSlices(_ body: (_ rows: Int) throws -> Int) async throws {
        var slice = SliceSize()
        while true {
            let started = ContinuousClock.now
            let touched = try database.writeTransaction { try body(slice.rows) }
            guard touched == slice.rows else { return }
            slice.record(ContinuousClock.now - started)
            await Task.yield()
        }
    }

    // MARK: Rows

    static let assetColumns = "a.connection_id, a.kind, a.qualified_name, a.name, a.parent, a.body, a.run_id"

    /// Restricts `catalog_assets AS a` to the version of each asset its connection's readers see.
    static let visibleVersion = """
        JOIN connections AS c ON c.tenant_id = a.tenant_id AND c.id = a.connection_id
            AND a.born <= c.catalog_version AND (a.died IS NULL OR a.died > c.catalog_version)
        """

    static func decodeAsset(_ row: SQLiteRow) -> CatalogAsset {
        CatalogAsset(
            connectionId: row.text(0), kind: row.text(1), qualifiedName: row.text(2), name: row.text(3),
            parent: row.optionalText(4), body: row.blob(5), runId: row.text(6))
    }
}
