/// The PostgreSQL schema, as versioned steps (see `SchemaMigration`); the same logical schema as
/// `SQLiteMigrations`, version for version.
///
/// Times are BIGINT milliseconds since the epoch. A connection's secret references, filters and delivery are
/// JSONB. Rows that belong to a tenant carry `tenant_id`, and child rows reference their parent with it, so a run
/// can never point at another tenant's connection.
enum PostgresMigrations {
    static let all: [SchemaMigration] = [
        SchemaMigration(
            version: 1, name: "initial schema",
            statements: [
                """
                CREATE TABLE tenants (
                    id TEXT NOT NULL PRIMARY KEY,
                    name TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE api_keys (
                    id TEXT NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    revoked_at BIGINT,
                    last_used_at BIGINT
                )
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
                    free_slots BIGINT NOT NULL,
                    running_leases BIGINT NOT NULL,
                    cpu_percent DOUBLE PRECISION,
                    memory_bytes BIGINT,
                    disk_free_bytes BIGINT,
                    spool_backlog_bytes BIGINT,
                    last_error TEXT,
                    last_seen_at BIGINT NOT NULL,
                    drain_requested BOOLEAN NOT NULL DEFAULT FALSE,
                    PRIMARY KEY (tenant_id, id)
                )
                """,
                """
                CREATE TABLE connections (
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    source_kind TEXT NOT NULL,
                    source_url TEXT NOT NULL,
                    secrets JSONB NOT NULL,
                    filters JSONB NOT NULL,
                    delivery JSONB NOT NULL,
                    pool TEXT NOT NULL,
                    schedule TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, name)
                )
                """,
                """
                CREATE TABLE runs (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempt BIGINT NOT NULL,
                    max_attempts BIGINT NOT NULL,
                    lease_id BIGINT NOT NULL,
                    lease_agent_id TEXT,
                    lease_expires_at BIGINT,
                    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
                    cancel_reason TEXT,
                    error TEXT,
                    created_at BIGINT NOT NULL,
                    started_at BIGINT,
                    finished_at BIGINT,
                    log_bytes BIGINT NOT NULL DEFAULT 0,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                )
                """,
                // The claim path: a tenant's queued runs, oldest first. Partial, so it stays as small as the queue.
                "CREATE INDEX runs_queued ON runs (tenant_id, created_at, id) WHERE status = 'queued'",
                "CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at, id)",
                "CREATE INDEX runs_connection ON runs (tenant_id, connection_id, created_at, id)",
                // The lease reaper: only runs holding a lease.
                "CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE status IN ('leased', 'running')",
                """
                CREATE TABLE run_logs (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    byte_offset BIGINT NOT NULL,
                    bytes BYTEA NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, byte_offset),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                )
                """,
            ]),
        SchemaMigration(
            version: 2, name: "catalog and run log totals",
            statements: [
                // What the agent reports on `complete`, so a partial log shows as partial.
                "ALTER TABLE runs ADD COLUMN log_total_bytes BIGINT",
                "ALTER TABLE runs ADD COLUMN log_sha256 TEXT",
                "ALTER TABLE runs ADD COLUMN log_dropped_bytes BIGINT",
                // A delivery's assets while it is verified; emptied by publish. The primary key refuses a
                // repeated asset and serves every lookup publish makes (by run, by kind and name). Names and keys
                // compare bytewise (`COLLATE "C"`): as in SQLite, so both stores sort alike whatever the
                // database's locale, and cheaper to compare and hash in the joins of a large publish.
                """
                CREATE TABLE catalog_staging (
                    tenant_id TEXT COLLATE "C" NOT NULL,
                    run_id TEXT COLLATE "C" NOT NULL,
                    kind TEXT COLLATE "C" NOT NULL,
                    qualified_name TEXT COLLATE "C" NOT NULL,
                    name TEXT NOT NULL,
                    name_lower TEXT COLLATE "C" NOT NULL,
                    parent TEXT COLLATE "C",
                    schema_qn TEXT COLLATE "C",
                    database_qn TEXT COLLATE "C" NOT NULL,
                    body BYTEA NOT NULL,
                    fingerprint BYTEA NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, kind, qualified_name),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                )
                """,
                // Each connection's published catalog. `run_id` is the run that last created or changed the
                // asset: a plain value, since runs may be pruned while the assets they published remain.
                """
                CREATE TABLE catalog_assets (
                    tenant_id TEXT COLLATE "C" NOT NULL,
                    connection_id TEXT COLLATE "C" NOT NULL,
                    kind TEXT COLLATE "C" NOT NULL,
                    qualified_name TEXT COLLATE "C" NOT NULL,
                    name TEXT NOT NULL,
                    name_lower TEXT COLLATE "C" NOT NULL,
                    parent TEXT COLLATE "C",
                    schema_qn TEXT COLLATE "C",
                    database_qn TEXT COLLATE "C" NOT NULL,
                    body BYTEA NOT NULL,
                    fingerprint BYTEA NOT NULL,
                    run_id TEXT COLLATE "C" NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, connection_id, kind, qualified_name),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                )
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
                    hash TEXT COLLATE "C" NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at)",
            ]),
        SchemaMigration(
            version: 4, name: "connection schedules and ingestion recovery",
            statements: [
                // The scheduler's next slot per connection: advanced by compare-and-set, so each slot queues one
                // run however many replicas see it due. Null while the connection has no schedule (or before the
                // scheduler first computed it).
                "ALTER TABLE connections ADD COLUMN next_run_at BIGINT",
                "CREATE INDEX connections_next_run ON connections (next_run_at) WHERE schedule IS NOT NULL",
                // How often a run left `ingesting` by a stopped server was taken over and ingested again; bounded,
                // so a delivery that brings the server down cannot do so for ever.
                "ALTER TABLE runs ADD COLUMN ingestion_recoveries BIGINT NOT NULL DEFAULT 0",
                "CREATE INDEX runs_ingesting ON runs (lease_expires_at) WHERE status = 'ingesting'",
            ]),
        SchemaMigration(
            version: 5, name: "ordered publishing and per-attempt logs",
            statements: [
                // The order runs were created in, from one sequence rather than a clock, so replicas whose clocks
                // disagree still agree on which of two runs is the newer. Existing runs are numbered in creation
                // order before the sequence takes over.
                "CREATE SEQUENCE run_generations AS BIGINT",
                "ALTER TABLE runs ADD COLUMN generation BIGINT",
                """
                UPDATE runs SET generation = numbered.n
                FROM (SELECT tenant_id, id, row_number() OVER (ORDER BY created_at, id) AS n FROM runs) AS numbered
                WHERE runs.tenant_id = numbered.tenant_id AND runs.id = numbered.id
                """,
                "SELECT setval('run_generations', coalesce((SELECT max(generation) FROM runs), 0) + 1, false)",
                "ALTER TABLE runs ALTER COLUMN generation SET DEFAULT nextval('run_generations')",
                "ALTER TABLE runs ALTER COLUMN generation SET NOT NULL",
                "ALTER SEQUENCE run_generations OWNED BY runs.generation",
                // The newest run whose delivery the connection's catalog holds: an older delivery (an ingestion
                // recovered after a newer run published) is never published over it. Taken from the newest run
                // that published before this migration.
                "ALTER TABLE connections ADD COLUMN published_generation BIGINT NOT NULL DEFAULT 0",
                // Where the current attempt's log starts: a re-leased attempt appends its own log after the
                // earlier ones instead of being offset-matched against them.
                "ALTER TABLE runs ADD COLUMN log_attempt_offset BIGINT NOT NULL DEFAULT 0",
                // The longest audit ledger head each agent reported, and what went wrong with its ledger since.
                "ALTER TABLE agents ADD COLUMN audit_sequence BIGINT",
                "ALTER TABLE agents ADD COLUMN audit_hash TEXT",
                "ALTER TABLE agents ADD COLUMN audit_problem TEXT",
                // What each run was granted to upload, per file: the per-run upload limit holds across grant
                // requests, and what lies outside the accepted delivery is removed when the run ends.
                """
                CREATE TABLE run_upload_grants (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    path TEXT COLLATE "C" NOT NULL,
                    bytes BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, path),
                    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
                )
                """,
                """
                UPDATE connections SET published_generation = coalesce((
                    SELECT max(r.generation) FROM runs AS r
                    WHERE r.tenant_id = connections.tenant_id AND r.connection_id = connections.id
                        AND r.status IN ('succeeded', 'partial')), 0)
                """,
            ]),
        // Version 6 is SQLite's versioned catalog rows, a layout PostgreSQL does not need (it publishes in one
        // transaction); the numbers stay aligned so that one version means one logical schema in both.
        SchemaMigration(
            version: 7, name: "BI lineage: links and table references",
            statements: [
                // A staged BI record's links and table references as JSON, expanded into the two tables below when
                // the asset is published; null for every record of a database.
                "ALTER TABLE catalog_staging ADD COLUMN lineage TEXT",
                // Links inside a BI connection (`from` feeds `to`), each belonging to the asset whose record states it
                // (the holder): replaced when the holder changes, deleted with it (the publish deletes both; a
                // foreign key to the holder would cost a referential check per link, tens of thousands per site, and
                // those checks run on plans cached while the catalog was small). Walked both ways, by the two
                // indexes.
                """
                CREATE TABLE catalog_links (
                    tenant_id TEXT COLLATE "C" NOT NULL,
                    connection_id TEXT COLLATE "C" NOT NULL,
                    holder_kind TEXT COLLATE "C" NOT NULL,
                    holder_qn TEXT COLLATE "C" NOT NULL,
                    relation TEXT COLLATE "C" NOT NULL,
                    from_kind TEXT COLLATE "C" NOT NULL,
                    from_qn TEXT COLLATE "C" NOT NULL,
                    to_kind TEXT COLLATE "C" NOT NULL,
                    to_qn TEXT COLLATE "C" NOT NULL,
                    PRIMARY KEY (tenant_id, connection_id, holder_kind, holder_qn, relation, from_qn, to_qn),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX catalog_links_from ON catalog_links (tenant_id, connection_id, from_qn)",
                "CREATE INDEX catalog_links_to ON catalog_links (tenant_id, connection_id, to_qn)",
                // What BI assets say about tables of other connections, as they said it. Not resolved here: the
                // catalog resolves them when read (see `TableReferenceResolver`), by the table's name in lower
                // case across the tenant.
                """
                CREATE TABLE catalog_references (
                    tenant_id TEXT COLLATE "C" NOT NULL,
                    connection_id TEXT COLLATE "C" NOT NULL,
                    holder_kind TEXT COLLATE "C" NOT NULL,
                    holder_qn TEXT COLLATE "C" NOT NULL,
                    ordinal INTEGER NOT NULL,
                    relation TEXT COLLATE "C" NOT NULL,
                    connection_type TEXT COLLATE "C" NOT NULL,
                    host TEXT COLLATE "C",
                    port INTEGER,
                    database_name TEXT COLLATE "C",
                    schema_name TEXT COLLATE "C",
                    table_name TEXT COLLATE "C" NOT NULL,
                    table_lower TEXT COLLATE "C" NOT NULL,
                    column_name TEXT COLLATE "C",
                    PRIMARY KEY (tenant_id, connection_id, holder_kind, holder_qn, ordinal),
                    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX catalog_references_table ON catalog_references (tenant_id, table_lower)",
            ]),
        SchemaMigration(
            version: 8, name: "catalog search text and database lineage links",
            statements: [
                // What search matches words against: name, qualified name and comment, lower-cased by the server
                // (see `StagedAsset.searchText`); existing assets are filled here with the database's lower().
                "ALTER TABLE catalog_staging ADD COLUMN search_text TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
                "ALTER TABLE catalog_assets ADD COLUMN search_text TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
                """
                UPDATE catalog_assets SET search_text = lower(name || chr(10) || qualified_name || chr(10)
                    || coalesce(convert_from(body, 'UTF8')::jsonb ->> 'comment', ''))
                """,
                // A database lineage edge now states a link (upstream → view), so a table's downstream views are
                // found by the links index. Edges published before state none: their fingerprints are cleared so
                // that the next publish of their connection rewrites them, links included.
                "UPDATE catalog_assets SET fingerprint = '\\x'::bytea WHERE kind = 'lineage_edge'",
                // What each run's publish changed: assets created, updated, unchanged and deleted.
                "ALTER TABLE runs ADD COLUMN catalog_created INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_updated INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_unchanged INTEGER",
                "ALTER TABLE runs ADD COLUMN catalog_deleted INTEGER",
                // The key each agent last called with, shown on the agents page.
                "ALTER TABLE agents ADD COLUMN key_id TEXT COLLATE \"C\"",
            ]),
    ]
}
