/// The catalog queries the PostgreSQL connector runs: a fixed set per database, each covering every schema in
/// scope at once (schema OIDs bound as `$1`), so the number of queries does not grow with the catalog.
///
/// They read `pg_catalog` directly rather than `information_schema` (which is slow and hides objects the role
/// does not own) and work on PostgreSQL 12 through 17. Casts make every result type explicit for decoding.
///
/// Sizes come from planner statistics (`relpages` × block size, as of the last VACUUM/ANALYZE) rather than
/// `pg_total_relation_size`, which stats every file and takes a lock on every table: on a large catalog that
/// was most of the extraction time, and a table locked by a migration would stall the whole query. Likewise
/// the full `CREATE INDEX` text is not fetched (`pg_get_indexdef` per index costs more than everything
/// else about indexes); keys, method, predicate and uniqueness are extracted field by field.
enum PostgresCatalogQueries {
    static let database = """
        SELECT d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text,
               pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text,
               pg_catalog.pg_database_size(d.oid)::int8,
               pg_catalog.shobj_description(d.oid, 'pg_database'),
               pg_catalog.current_setting('server_version')
        FROM pg_catalog.pg_database d
        WHERE d.datname = pg_catalog.current_database()
        """

    static let connectableDatabases = """
        SELECT d.datname::text
        FROM pg_catalog.pg_database d
        WHERE d.datallowconn AND NOT d.datistemplate
          AND pg_catalog.has_database_privilege(d.datname, 'CONNECT')
        ORDER BY d.datname
        """

    static let schemas = """
        SELECT n.oid::int8, n.nspname::text, pg_catalog.pg_get_userbyid(n.nspowner)::text,
               pg_catalog.has_schema_privilege(n.oid, 'USAGE'), d.description
        FROM pg_catalog.pg_namespace n
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND n.nspname !~ '^pg_(toast_)?temp_'
        ORDER BY n.nspname
        """

    static let enumTypes = """
        SELECT n.nspname::text, t.typname::text,
               ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
               pg_catalog.pg_get_userbyid(t.typowner)::text, d.description
        FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = t.oid AND d.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass
        WHERE t.typtype = 'e' AND n.oid::int8 = ANY($1)
        ORDER BY n.nspname, t.typname
        """

    static let domainTypes = """
        SELECT n.nspname::text, t.typname::text, pg_catalog.format_type(t.typbasetype, t.typtypmod),
               t.typcategory::text, bt.typname::text, NOT t.typnotnull, t.typdefault,
               ARRAY(SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c
                     WHERE c.contypid = t.oid AND c.contype = 'c' ORDER BY c.conname),
               co.collname::text, pg_catalog.pg_get_userbyid(t.typowner)::text, d.description
        FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
        LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation AND t.typcollation <> bt.typcollation
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = t.oid AND d.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass
        WHERE t.typtype = 'd' AND n.oid::int8 = ANY($1)
        ORDER BY n.nspname, t.typname
        """

    /// Read in batches (keyset on OID, `$2` the last OID seen, `$3` the batch size), each its own statement:
    /// printing a view definition locks the view and everything it reads until the statement ends, and one
    /// statement over every view of a large catalog would exhaust the server's lock table.
    static let relations = """
        SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, c.relpersistence::text,
               pg_catalog.pg_get_userbyid(c.relowner)::text,
               -- Unknown before the first ANALYZE: -1 from PostgreSQL 14, 0 with no pages before.
               CASE WHEN c.reltuples < 0 THEN NULL
                    WHEN c.reltuples = 0 AND c.relpages = 0
                         AND pg_catalog.current_setting('server_version_num')::int < 140000 THEN NULL
                    ELSE c.reltuples::float8 END,
               CASE WHEN c.relkind IN ('r', 'm') AND (c.relpages > 0 OR c.reltuples >= 0)
                    THEN (c.relpages::int8 + COALESCE(tc.relpages, 0)
                          + COALESCE((SELECT sum(ix.relpages) FROM pg_catalog.pg_index i
                                      JOIN pg_catalog.pg_class ix ON ix.oid = i.indexrelid
                                      WHERE i.indrelid = c.oid), 0))::int8
                         * pg_catalog.current_setting('block_size')::int8 END,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,
               c.relispopulated, pn.nspname::text, pc.relname::text,
               CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
               CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
               ARRAY(SELECT hn.nspname::text FROM pg_catalog.pg_inherits h
                     JOIN pg_catalog.pg_class hc ON hc.oid = h.inhparent
                     JOIN pg_catalog.pg_namespace hn ON hn.oid = hc.relnamespace
                     WHERE h.inhrelid = c.oid AND NOT c.relispartition ORDER BY h.inhseqno),
               ARRAY(SELECT hc.relname::text FROM pg_catalog.pg_inherits h
                     JOIN pg_catalog.pg_class hc ON hc.oid = h.inhparent
                     WHERE h.inhrelid = c.oid AND NOT c.relispartition ORDER BY h.inhseqno),
               d.description
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
        LEFT JOIN pg_catalog.pg_inherits pi ON c.relispartition AND pi.inhrelid = c.oid
        LEFT JOIN pg_catalog.pg_class pc ON pc.oid = pi.inhparent
        LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.oid::int8 = ANY($1) AND c.oid::int8 > $2
        ORDER BY c.oid
        LIMIT $3
        """

    /// Ordered by relation so the reader can number live columns and cache per-relation work.
    static let columns = """
        SELECT a.attrelid::int8, n.nspname::text, c.relname::text, a.attname::text,
               pg_catalog.format_type(a.atttypid, a.atttypmod), tn.nspname::text, t.typcategory::text,
               COALESCE(bt.typname, t.typname)::text,
               CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
               CASE WHEN t.typcategory = 'A'
                    THEN pg_catalog.format_type(COALESCE(NULLIF(t.typelem, 0), bt.typelem), NULL) END,
               NOT a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
               a.attgenerated::text, co.collname::text, d.description
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
        LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        LEFT JOIN pg_catalog.pg_collation co
               ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
              AND d.objsubid = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.oid::int8 = ANY($1)
        ORDER BY a.attrelid, a.attnum
        """

    static let constraints = """
        SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text,
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                     ORDER BY k.ord),
               fn.nspname::text, fc.relname::text,
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                     ORDER BY k.ord),
               con.confdeltype::text, con.confupdtype::text, con.confmatchtype::text,
               CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid) END,
               con.condeferrable, con.condeferred, con.convalidated, d.description
        FROM pg_catalog.pg_constraint con
        JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
        LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = con.oid AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
        WHERE con.contype IN ('p', 'f', 'u', 'c') AND c.relkind IN ('r', 'p', 'f')
          AND n.oid::int8 = ANY($1)
          -- A foreign key to a partitioned table gets a hidden clone per partition on the same table.
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint parent
                          WHERE parent.oid = con.conparentid AND parent.conrelid = con.conrelid)
        ORDER BY n.nspname, c.relname, con.conname
        """

    /// Key columns come back as names ('' for an expression key) and expressions ('' for a column key),
    /// because catalog arrays cannot carry NULLs through the binary decoder.
    static let indexes = """
        SELECT n.nspname::text, c.relname::text, ic.relname::text, i.indisunique, i.indisprimary,
               am.amname::text,
               pg_catalog.pg_get_expr(i.indpred, i.indrelid), i.indnkeyatts::int8,
               ARRAY(SELECT COALESCE(a.attname::text, '') FROM generate_series(1, i.indnatts) AS k
                     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
                     ORDER BY k),
               ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0
                                 THEN pg_catalog.pg_get_indexdef(i.indexrelid, k, true) ELSE '' END
                     FROM generate_series(1, i.indnatts) AS k ORDER BY k),
               ARRAY(SELECT (i.indoption[k - 1] & 1) = 1 FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
               CASE WHEN ic.relpages > 0 OR ic.reltuples >= 0
                    THEN ic.relpages::int8 * pg_catalog.current_setting('block_size')::int8 END,
               d.description
        FROM pg_catalog.pg_index i
        JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_am am ON am.oid = ic.relam
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = i.indexrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
              AND d.objsubid = 0
        WHERE c.relkind IN ('r', 'p', 'm') AND n.oid::int8 = ANY($1)
        ORDER BY n.nspname, c.relname, ic.relname
        """

    /// A view's rewrite rule depends on every relation and column its query reads.
    static let lineage = """
        SELECT vn.nspname::text, v.relname::text, v.relkind::text, rn.nspname::text, r.relname::text,
               r.relkind::text,
               COALESCE(array_agg(DISTINCT a.attname::text ORDER BY a.attname::text) FILTER (WHERE a.attname IS NOT NULL), '{}')
        FROM pg_catalog.pg_rewrite rw
        JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class
        JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
        JOIN pg_catalog.pg_depend dep
             ON dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND dep.objid = rw.oid
            AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.refobjid <> v.oid
        JOIN pg_catalog.pg_class r ON r.oid = dep.refobjid
        JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
        LEFT JOIN pg_catalog.pg_attribute a
               ON dep.refobjsubid > 0 AND a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
        WHERE v.relkind IN ('v', 'm') AND r.relkind IN ('r', 'p', 'v', 'm', 'f') AND vn.oid::int8 = ANY($1)
        GROUP BY vn.nspname, v.relname, v.relkind, rn.nspname, r.relname, r.relkind
        ORDER BY vn.nspname, v.relname, rn.nspname, r.relname
        """

    /// Functions that belong to an extension are the extension's, not the schema owner's: left out.
    static let functions = """
        SELECT n.nspname::text, p.proname::text, p.prokind::text,
               pg_catalog.pg_get_function_identity_arguments(p.oid),
               pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),
               l.lanname::text, p.provolatile::text, p.prosecdef,
               pg_catalog.pg_get_userbyid(p.proowner)::text, d.description
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_catalog.pg_language l ON l.oid = p.prolang
        LEFT JOIN pg_catalog.pg_description d
               ON d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
        WHERE n.oid::int8 = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                          WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid = p.oid
                            AND e.deptype = 'e')
        ORDER BY n.nspname, p.proname, 4
        """
}
