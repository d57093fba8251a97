// The catalog in SQLite: a per-run staging table filled in batches, published into the connection's assets by
// set-based statements in one `BEGIN IMMEDIATE` transaction, so neither side is ever loaded into memory.

extension SQLiteControlPlaneStore {
    /// A batch of rows per transaction, yielding between them, so requests that write (heartbeats, claims) are
    /// not held up behind the removal of a large delivery's staging.
    public func clearStaging(tenantId: String, runId: String) async throws {
        while true {
            let removed = try database.writeTransaction {
                try database.execute(
                    """
                    DELETE FROM catalog_staging WHERE rowid IN (
                        SELECT rowid FROM catalog_staging WHERE tenant_id = ? AND run_id = ? LIMIT ?)
                    """, [tenantId, runId, CatalogPublishing.clearBatchSize])
            }
            guard removed == CatalogPublishing.clearBatchSize else { return }
            await Task.yield()
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

    /// One transaction per batch through one prepared statement. A (kind, qualified name) already staged for the
    /// run, or repeated in the batch, throws `.conflict` and stages nothing of the batch; an unknown run throws
    /// `.notFound`.
    public func stage(tenantId: String, runId: String, assets: [StagedAsset]) async throws {
        guard !assets.isEmpty else { return }
        try database.writeTransaction {
            for asset in assets {
                try database.execute(
                    """
                    INSERT INTO catalog_staging (tenant_id, run_id, kind, qualified_name, name, name_lower, parent,
                        schema_qn, database_qn, body, fingerprint)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        tenantId, runId, asset.kind, asset.qualifiedName, asset.name, asset.nameLower,
                        asset.storedParent, asset.storedSchema, asset.database, asset.body, asset.fingerprint,
                    ])
            }
        }
    }

    /// Applies the run's staging to the connection's assets in one transaction (the caller clears the staging).
    ///
    /// Set-based, so 250,000 staged assets never pass through memory: an `UPDATE … FROM` rewrites the assets
    /// whose fingerprint changed, an `INSERT … SELECT … ON CONFLICT DO NOTHING` adds the new ones (an UPSERT, so
    /// the SELECT does not read the table it fills and SQLite need not buffer it), and `changes()` counts both.
    /// When every asset the connection had was staged again, nothing can be absent and the deletion pass is
    /// skipped; otherwise deletion candidates — assets absent from staging inside the complete scope — are then read in key order,
    /// a batch at a time, and those `scope.outOfScope` does not protect are deleted. Database assets are never
    /// deleted (no scope covers a connection's list of databases). Throws `.notFound` for an unknown connection.
    public func publish(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, now: Timestamp
    ) async throws -> PublishSummary {
        let completeSchemas = try StoredJSON.encode(scope.completeSchemas.sorted())
        let completeDatabases = try StoredJSON.encode(scope.completeDatabases.sorted())
        return try database.writeTransaction {
            guard
                let published = try database.queryFirst(
                    "SELECT published_generation FROM connections WHERE tenant_id = ? AND id = ?",
                    [tenantId, connectionId], { $0.int64(0) })
            else {
                throw StorageError(.notFound, "connection \(connectionId) does not exist")
            }
            guard
                let generation = try database.queryFirst(
                    "SELECT generation FROM runs WHERE tenant_id = ? AND id = ?", [tenantId, runId], { $0.int64(0) })
            else {
                throw StorageError(.notFound, "run \(runId) does not exist")
            }
            guard generation >= published else { throw CatalogPublishing.superseded(runId: runId) }
            try database.execute(
                "UPDATE connections SET published_generation = ? WHERE tenant_id = ? AND id = ?",
                [generation, tenantId, connectionId])
            let existing =
                try database.queryFirst(
                    "SELECT count(*) FROM catalog_assets WHERE tenant_id = ? AND connection_id = ?",
                    [tenantId, connectionId], { $0.int(0) }) ?? 0
            let staged =
                try database.queryFirst(
                    "SELECT count(*) FROM catalog_staging WHERE tenant_id = ? AND run_id = ?", [tenantId, runId],
                    { $0.int(0) }) ?? 0
            let updated = try database.execute(
                """
                UPDATE catalog_assets SET name = s.name, name_lower = s.name_lower, parent = s.parent,
                    schema_qn = s.schema_qn, database_qn = s.database_qn, body = s.body, fingerprint = s.fingerprint,
                    run_id = s.run_id, updated_at = ?4
                FROM catalog_staging AS s
                WHERE catalog_assets.tenant_id = ?1 AND catalog_assets.connection_id = ?2
                    AND s.tenant_id = ?1 AND s.run_id = ?3
                    AND s.kind = catalog_assets.kind AND s.qualified_name = catalog_assets.qualified_name
                    AND s.fingerprint <> catalog_assets.fingerprint
                """,
                [tenantId, connectionId, runId, now])
            let created = try database.execute(
                """
                INSERT INTO catalog_assets (tenant_id, connection_id, kind, qualified_name, name, name_lower, parent,
                    schema_qn, database_qn, body, fingerprint, run_id, created_at, updated_at)
                SELECT tenant_id, ?2, kind, qualified_name, name, name_lower, parent, schema_qn, database_qn, body,
                    fingerprint, run_id, ?4, ?4
                FROM catalog_staging WHERE tenant_id = ?1 AND run_id = ?3
                ON CONFLICT (tenant_id, connection_id, kind, qualified_name) DO NOTHING
                """,
                [tenantId, connectionId, runId, now])
            // Every staged asset was either there before or created, so when the connection had no more assets
            // than staged ones that already existed, none is absent and there is nothing to look for.
            let deleted =
                existing > staged - created
                ? try deleteAbsent(
                    tenantId: tenantId, connectionId: connectionId, runId: runId, completeSchemas: completeSchemas,
                    completeDatabases: completeDatabases, outOfScope: scope.outOfScope) : 0
            return PublishSummary(
                created: created, updated: updated, unchanged: staged - created - updated, deleted: deleted)
        }
    }

    /// Case-insensitive substring match on the name, ordered by name; `text` empty matches every asset.
    public func searchAssets(
        tenantId: String, text: String, kind: String?, connectionId: String?, limit: Int
    ) async throws -> [CatalogAsset] {
        guard limit > 0 else { return [] }
        return try database.query(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = ?1 AND instr(name_lower, ?2) > 0
                AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR connection_id = ?4)
            ORDER BY name_lower, name, connection_id, kind, qualified_name
            LIMIT ?5
            """,
            [tenantId, text.lowercased(), kind, connectionId, limit], Self.decodeAsset)
    }

    public func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws -> CatalogAsset? {
        try database.queryFirst(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = ? AND connection_id = ? AND kind = ? AND qualified_name = ?
            """,
            [tenantId, connectionId, kind, qualifiedName], Self.decodeAsset)
    }

    /// Ordered by kind, then name.
    public func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset] {
        try database.query(
            """
            SELECT \(Self.assetColumns) FROM catalog_assets
            WHERE tenant_id = ? AND connection_id = ? AND parent = ?
            ORDER BY kind, name_lower, name, qualified_name
            """,
            [tenantId, connectionId, parent], Self.decodeAsset)
    }

    // MARK: Deletion

    /// Deletes the connection's assets that the run did not stage and that lie inside the complete scope: in a
    /// complete schema, or in a complete database whose schema has no staged `schema` record (the schema
    /// vanished) — unless `outOfScope` keeps them. Candidates are read in primary-key order, a batch at a time
    /// from where the last batch ended, so memory stays bounded; deleting behind the cursor does not disturb it.
    private func deleteAbsent(
        tenantId: String, connectionId: String, runId: String, completeSchemas: String, completeDatabases: String,
        outOfScope: (String, String) -> Bool
    ) throws -> Int {
        var deleted = 0
        var after = (kind: "", qualifiedName: "")
        while true {
            let candidates = try database.query(
                """
                SELECT a.kind, a.qualified_name FROM catalog_assets AS a
                WHERE a.tenant_id = ?1 AND a.connection_id = ?2 AND (a.kind, a.qualified_name) > (?6, ?7)
                    AND a.schema_qn IS NOT NULL
                    AND (a.schema_qn IN (SELECT value FROM json_each(?4))
                        OR (a.database_qn IN (SELECT value FROM json_each(?5)) AND NOT EXISTS (
                            SELECT 1 FROM catalog_staging AS s
                            WHERE s.tenant_id = ?1 AND s.run_id = ?3 AND s.kind = ?8
                                AND s.qualified_name = a.schema_qn)))
                    AND NOT EXISTS (
                        SELECT 1 FROM catalog_staging AS s
                        WHERE s.tenant_id = ?1 AND s.run_id = ?3 AND s.kind = a.kind
                            AND s.qualified_name = a.qualified_name)
                ORDER BY a.kind, a.qualified_name
                LIMIT ?9
                """,
                [
                    tenantId, connectionId, runId, completeSchemas, completeDatabases, after.kind, after.qualifiedName,
                    CatalogPublishing.schemaKind, CatalogPublishing.deletionBatchSize,
                ]
            ) { (kind: $0.text(0), qualifiedName: $0.text(1)) }
            for candidate in candidates where !outOfScope(candidate.kind, candidate.qualifiedName) {
                deleted += try database.execute(
                    """
                    DELETE FROM catalog_assets
                    WHERE tenant_id = ? AND connection_id = ? AND kind = ? AND qualified_name = ?
                    """,
                    [tenantId, connectionId, candidate.kind, candidate.qualifiedName])
            }
            guard let last = candidates.last, candidates.count == CatalogPublishing.deletionBatchSize else { break }
            after = last
        }
        return deleted
    }

    // MARK: Rows

    private static let assetColumns = "connection_id, kind, qualified_name, name, parent, body, run_id"

    private static func decodeAsset(_ row: SQLiteRow) -> CatalogAsset {
        CatalogAsset(
            connectionId: row.text(0), kind: row.text(1), qualifiedName: row.text(2), name: row.text(3),
            parent: row.optionalText(4), body: row.blob(5), runId: row.text(6))
    }
}
