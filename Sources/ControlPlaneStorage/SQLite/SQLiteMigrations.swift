/// The SQLite schema, as versioned steps (see `SchemaMigration`).
///
/// Tables are `STRICT`, so a value of the wrong type fails instead of being stored silently. Times are INTEGER
/// milliseconds since the epoch, booleans 0/1. Rows that belong to a tenant carry `tenant_id`, and child rows
/// reference their parent with it (`(tenant_id, connection_id)`), so a run can never point at another tenant's
/// connection.
enum SQLiteMigrations {
    static let all: [SchemaMigration] = [
        SchemaMigration(
            version: 1, name: "initial schema",
            statements: [
                """
                CREATE TABLE tenants (
                    id TEXT NOT NULL PRIMARY KEY,
                    name TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT
                """,
                """
                CREATE TABLE api_keys (
                    id TEXT NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER,
                    revoked_at INTEGER,
                    last_used_at INTEGER
                ) STRICT
                """,
                // Every agent API call looks its key up by hash.
                "CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash)",
                "CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at)",
                """
                CREATE TABLE agents (
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    state TEXT NOT NULL,
                    free_slots INTEGER NOT NULL,
                    running_leases INTEGER NOT NULL,
                    cpu_percent REAL,
                    memory_bytes INTEGER,
                    disk_free_bytes INTEGER,
                    spool_backlog_bytes INTEGER,
                    last_error TEXT,
                    last_seen_at INTEGER NOT NULL,
                    drain_requested INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (tenant_id, id)
                ) STRICT
                """,
                """
                CREATE TABLE connections (
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    source_kind TEXT NOT NULL,
                    source_url TEXT NOT NULL,
                    secrets TEXT NOT NULL,
                    filters TEXT NOT NULL,
                    delivery TEXT NOT NULL,
                    pool TEXT NOT NULL,
                    schedule TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, name)
                ) STRICT
                """,
                """
                CREATE TABLE runs (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL,
                    lease_id INTEGER NOT NULL,
                    lease_agent_id TEXT,
                    lease_expires_at INTEGER,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    cancel_reason TEXT,
                    error TEXT,
                    created_at INTEGER NOT NULL,
                    started_at INTEGER,
                    finished_at INTEGER,
                    log_bytes INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
                // The claim path: a tenant's queued runs, oldest first. Partial, so it stays as small as the queue.
                "CREATE INDEX runs_queued ON runs (tenant_id, created_at, id) WHERE status = 'queued'",
                "CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at, id)",
                "CREATE INDEX runs_connection ON runs (tenant_id, connection_id, created_at, id)",
                // The lease reaper: only runs holding a lease.
                """
                CREATE INDEX runs_lease_expiry ON runs (lease_expires_at)
                    WHERE status IN ('leased', 'running')
                """,
                """
                CREATE TABLE run_logs (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    byte_offset INTEGER NOT NULL,
                    bytes BLOB NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, byte_offset),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
            ]),
        SchemaMigration(
            version: 2, name: "catalog and run log totals",
            statements: [
                // What the agent reports on `complete`, so a partial log shows as partial.
                "ALTER TABLE runs ADD COLUMN log_total_bytes INTEGER",
                "ALTER TABLE runs ADD COLUMN log_sha256 TEXT",
                "ALTER TABLE runs ADD COLUMN log_dropped_bytes INTEGER",
                // A delivery's assets while it is verified; emptied by publish. The primary key refuses a
                // repeated asset and serves every lookup publish makes (by run, by kind and name).
                """
                CREATE TABLE catalog_staging (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    qualified_name TEXT NOT NULL,
                    name TEXT NOT NULL,
                    name_lower TEXT NOT NULL,
                    parent TEXT,
                    schema_qn TEXT,
                    database_qn TEXT NOT NULL,
                    body BLOB NOT NULL,
                    fingerprint BLOB NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, kind, qualified_name),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
                // Each connection's published catalog. `run_id` is the run that last created or changed the
                // asset: a plain value, since runs may be pruned while the assets they published remain.
                """
                CREATE TABLE catalog_assets (
                    tenant_id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    qualified_name TEXT NOT NULL,
                    name TEXT NOT NULL,
                    name_lower TEXT NOT NULL,
                    parent TEXT,
                    schema_qn TEXT,
                    database_qn TEXT NOT NULL,
                    body BLOB NOT NULL,
                    fingerprint BLOB NOT NULL,
                    run_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, connection_id, kind, qualified_name),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
                // Search walks a tenant's names in order and stops at the limit; browsing lists a parent's children.
                "CREATE INDEX catalog_assets_name ON catalog_assets (tenant_id, name_lower)",
                "CREATE INDEX catalog_assets_parent ON catalog_assets (tenant_id, connection_id, parent)",
            ]),
        SchemaMigration(
            version: 3, name: "web UI sessions",
            statements: [
                // Looked up by the hash of the cookie's token on every UI request; removed with their tenant or
                // key. The expiry index serves the sweep of expired sessions.
                """
                CREATE TABLE ui_sessions (
                    hash TEXT NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                ) STRICT
                """,
                "CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at)",
            ]),
        SchemaMigration(
            version: 4, name: "connection schedules and ingestion recovery",
            statements: [
                // The scheduler's next slot per connection: advanced by compare-and-set, so each slot queues one
                // run however many replicas see it due. Null while the connection has no schedule (or before the
                // scheduler first computed it).
                "ALTER TABLE connections ADD COLUMN next_run_at INTEGER",
                "CREATE INDEX connections_next_run ON connections (next_run_at) WHERE schedule IS NOT NULL",
                // How often a run left `ingesting` by a stopped server was taken over and ingested again; bounded,
                // so a delivery that brings the server down cannot do so for ever.
                "ALTER TABLE runs ADD COLUMN ingestion_recoveries INTEGER NOT NULL DEFAULT 0",
                "CREATE INDEX runs_ingesting ON runs (lease_expires_at) WHERE status = 'ingesting'",
            ]),
        SchemaMigration(
            version: 5, name: "ordered publishing and per-attempt logs",
            statements: [
                // The order runs were created in, from one counter for the whole database rather than a clock, so
                // replicas whose clocks disagree still agree on which of two runs is the newer. Existing runs are
                // numbered in creation order.
                "ALTER TABLE runs ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
                """
                UPDATE runs SET generation = numbered.n
                FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY created_at, id) AS n FROM runs) AS numbered
                WHERE runs.rowid = numbered.rid
                """,
                "CREATE INDEX runs_generation ON runs (generation)",
                // The newest run whose delivery the connection's catalog holds: an older delivery (an ingestion
                // recovered after a newer run published) is never published over it. Taken from the newest run
                // that published before this migration.
                "ALTER TABLE connections ADD COLUMN published_generation INTEGER NOT NULL DEFAULT 0",
                // Where the current attempt's log starts: a re-leased attempt appends its own log after the
                // earlier ones instead of being offset-matched against them.
                "ALTER TABLE runs ADD COLUMN log_attempt_offset INTEGER NOT NULL DEFAULT 0",
                // The longest audit ledger head each agent reported, and what went wrong with its ledger since.
                "ALTER TABLE agents ADD COLUMN audit_sequence INTEGER",
                "ALTER TABLE agents ADD COLUMN audit_hash TEXT",
                "ALTER TABLE agents ADD COLUMN audit_problem TEXT",
                // What each run was granted to upload, per file: the per-run upload limit holds across grant
                // requests, and what lies outside the accepted delivery is removed when the run ends.
                """
                CREATE TABLE run_upload_grants (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    path TEXT NOT NULL,
                    bytes INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, path),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
                """
                UPDATE connections SET published_generation = coalesce((
                    SELECT max(r.generation) FROM runs AS r
                    WHERE r.tenant_id = connections.tenant_id AND r.connection_id = connections.id
                        AND r.status IN ('succeeded', 'partial')), 0)
                """,
            ]),
        SchemaMigration(
            version: 6, name: "catalog versions published in slices",
            statements: [
                // Each asset row is one version: `born` is the catalog version that added it, `died` the one that
                // replaced or removed it (null while current). A publish writes version V+1 beside V in short
                // transactions, invisible until the connection's `catalog_version` moves to V+1 in one small
                // transaction, so readers see the old catalog or the new one and the writer is never held for a
                // whole delivery. Existing assets become version 0.
                """
                CREATE TABLE catalog_assets_versioned (
                    tenant_id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    qualified_name TEXT NOT NULL,
                    name TEXT NOT NULL,
                    name_lower TEXT NOT NULL,
                    parent TEXT,
                    schema_qn TEXT,
                    database_qn TEXT NOT NULL,
                    body BLOB NOT NULL,
                    fingerprint BLOB NOT NULL,
                    run_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    born INTEGER NOT NULL,
                    died INTEGER,
                    PRIMARY KEY (tenant_id, connection_id, kind, qualified_name, born),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                ) STRICT
                """,
                """
                INSERT INTO catalog_assets_versioned
                SELECT tenant_id, connection_id, kind, qualified_name, name, name_lower, parent, schema_qn, database_qn,
                    body, fingerprint, run_id, created_at, updated_at, 0, NULL
                FROM catalog_assets
                """,
                "DROP TABLE catalog_assets",
                "ALTER TABLE catalog_assets_versioned RENAME TO catalog_assets",
                "CREATE INDEX catalog_assets_name ON catalog_assets (tenant_id, name_lower)",
                "CREATE INDEX catalog_assets_parent ON catalog_assets (tenant_id, connection_id, parent)",
                // Replaced and removed versions, found for clean-up without walking the whole catalog.
                "CREATE INDEX catalog_assets_died ON catalog_assets (tenant_id, connection_id, died) WHERE died IS NOT NULL",
                // The version readers see, and the version a publish is writing (null when none): set when a
                // publish starts, so one that was interrupted is cleaned up before the next writes.
                "ALTER TABLE connections ADD COLUMN catalog_version INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE connections ADD COLUMN catalog_pending INTEGER",
                // How many assets the visible version has: when a delivery re-stages all of them, nothing can be
                // absent and the walk for absent assets is skipped.
                "ALTER TABLE connections ADD COLUMN catalog_count INTEGER NOT NULL DEFAULT 0",
                """
                UPDATE connections SET catalog_count = (
                    SELECT count(*) FROM catalog_assets AS a
                    WHERE a.tenant_id = connections.tenant_id AND a.connection_id = connections.id)
                """,
            ]),
        SchemaMigration(
            version: 7, name: "BI lineage: links and table references",
            statements: [
                // A staged BI record's links and table references as JSON, expanded into the two tables below when
                // the asset's new version is written; null for every record of a database.
                "ALTER TABLE catalog_staging ADD COLUMN lineage TEXT",
                // Links inside a BI connection (`from` feeds `to`), each belonging to the asset version whose record
                // states it (the holder): written with that version, removed with it by the cascade, and visible
                // exactly when it is. Walked both ways, by the two indexes.
                """
                CREATE TABLE catalog_links (
                    tenant_id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    holder_kind TEXT NOT NULL,
                    holder_qn TEXT NOT NULL,
                    holder_born INTEGER NOT NULL,
                    relation TEXT NOT NULL,
                    from_kind TEXT NOT NULL,
                    from_qn TEXT NOT NULL,
                    to_kind TEXT NOT NULL,
                    to_qn TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, connection_id, holder_kind, holder_qn, holder_born, relation, from_qn,
                        to_qn),
                    FOREIGN KEY (tenant_id, connection_id, holder_kind, holder_qn, holder_born)
                        REFERENCES catalog_assets (tenant_id, connection_id, kind, qualified_name, born)
                        ON DELETE CASCADE
                ) STRICT
                """,
                "CREATE INDEX catalog_links_from ON catalog_links (tenant_id, connection_id, from_qn)",
                "CREATE INDEX catalog_links_to ON catalog_links (tenant_id, connection_id, to_qn)",
                // What BI assets say about tables of other connections, as they said it. Not resolved here: the
                // catalog resolves them when read (see `TableReferenceResolver`), by the table's name in lower
                // case across the tenant.
                """
                CREATE TABLE catalog_references (
                    tenant_id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    holder_kind TEXT NOT NULL,
                    holder_qn TEXT NOT NULL,
                    holder_born INTEGER NOT NULL,
                    ordinal INTEGER NOT NULL,
                    relation TEXT NOT NULL,
                    connection_type TEXT NOT NULL,
                    host TEXT,
                    port INTEGER,
                    database_name TEXT,
                    schema_name TEXT,
                    table_name TEXT NOT NULL,
                    table_lower TEXT NOT NULL,
                    column_name TEXT,
                    PRIMARY KEY (tenant_id, connection_id, holder_kind, holder_qn, holder_born, ordinal),
                    FOREIGN KEY (tenant_id, connection_id, holder_kind, holder_qn, holder_born)
                        REFERENCES catalog_assets (tenant_id, connection_id, kind, qualified_name, born)
                        ON DELETE CASCADE
                ) STRICT
                """,
                "CREATE INDEX catalog_references_table ON catalog_references (tenant_id, table_lower)",
            ]),
        SchemaMigration(
            version: 8, name: "catalog search text and database lineage links",
            statements: [
                // What search matches words against: name, qualified name and comment, lower-cased by the server
                // (see `StagedAsset.searchText`). Existing assets are filled here with SQLite's lower(), which
                // folds ASCII only: a non-ASCII name published before this version matches case-sensitively until
                // its record changes.
                "ALTER TABLE catalog_staging ADD COLUMN search_text TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE catalog_assets ADD COLUMN search_text TEXT NOT NULL DEFAULT ''",
                """
                UPDATE catalog_assets SET search_text = lower(name || char(10) || qualified_name || char(10)
                    || coalesce(json_extract(CAST(body AS TEXT), '$.comment'), ''))
                """,
                // A database lineage edge now states a link (upstream → view), so a table's downstream views are
                // found by the links index. Edges published before state none: their fingerprints are cleared so
                // that the next publish of their connection rewrites them, links included.
                "UPDATE catalog_assets SET fingerprint = x'' WHERE kind = 'lineage_edge'",
                // What each run's publish changed: assets created, updated, unchanged and deleted.
                "ALTER TABLE runs ADD COLUMN catalog_created INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_updated INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_unchanged INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_deleted INTEGER",
                // The key each agent last called with, shown on the agents page.
                "ALTER TABLE agents ADD COLUMN key_id TEXT",
            ]),
    ]
}
