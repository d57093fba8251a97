"""Running one SQL API statement: context, role access, the warehouse rule, SHOW, the information-schema size
limit, and execution through fakesnow.

Every rule here works on the statement's parsed form (sqlglot's Snowflake dialect, as fakesnow parses it) or on
its result, never on its text.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import snowflake.connector.errors
import sqlglot
from sqlglot import exp

import fakesnow.transforms as fs_transforms
from fakesnow.converter import from_binding
from fakesnow.dialect import parse as fs_parse

from catalog import INFORMATION_SCHEMA_VIEWS, META, Catalog, display_name, qi, ql

COMPILATION = "SQL compilation error:\n"


class SqlError(Exception):
    def __init__(self, code: str, sql_state: str, message: str):
        super().__init__(message)
        self.code, self.sql_state, self.message = code, sql_state, message


def not_authorized_db(name: str) -> SqlError:
    return SqlError("002003", "02000", f"{COMPILATION}Database '{display_name(name)}' does not exist or not authorized.")


def not_authorized_schema(db: str, schema: str) -> SqlError:
    return SqlError("002003", "02000",
                    f"{COMPILATION}Schema '{display_name(db)}.{display_name(schema)}' does not exist or not authorized.")


NO_WAREHOUSE = SqlError("000606", "57P03", "No active warehouse selected in the current session.  Select an active "
                        "warehouse with the 'use warehouse' command.\n")


@dataclass
class Context:
    user: str
    role: str
    database: str | None
    schema: str | None
    warehouse: str | None
    query_tag: str | None = None


@dataclass
class Outcome:
    arrow_table: object
    row_type: list[dict]
    needs_warehouse: bool
    databases: set


# fakesnow redirects <db>.INFORMATION_SCHEMA.{TABLES,COLUMNS,VIEWS,SCHEMATA,LOAD_HISTORY} to its own views; the
# same redirection, extended to every view the fake builds from the catalog definition.
def _information_schema_fs(expression):
    if (isinstance(expression, exp.Table) and expression.db.upper() == "INFORMATION_SCHEMA"
            and expression.name.upper() in INFORMATION_SCHEMA_VIEWS):
        expression.set("this", exp.Identifier(this=f"_FS_{expression.name.upper()}", quoted=False))
        expression.set("db", exp.Identifier(this="_FS_INFORMATION_SCHEMA", quoted=False))
    return expression


fs_transforms.information_schema_fs = _information_schema_fs


def ident_value(ident) -> str | None:
    """A parsed identifier's exact Snowflake name: quoted stays as written, unquoted is upper-cased."""
    if ident is None:
        return None
    if isinstance(ident, exp.Identifier):
        return ident.this if ident.quoted else ident.this.upper()
    if isinstance(ident, exp.Expression) and ident.name:
        return ident.name.upper()
    return None


def table_parts(t: exp.Table) -> tuple[str | None, str | None, str]:
    return ident_value(t.args.get("catalog")), ident_value(t.args.get("db")), ident_value(t.args.get("this")) or ""


class Engine:
    def __init__(self, fs, catalog: Catalog, info_schema_max_rows: int = 0):
        self.fs = fs
        self.catalog = catalog
        self.info_schema_max_rows = info_schema_max_rows
        self.lock = threading.Lock()

    # --- checks -------------------------------------------------------------------------------------------
    def check_context(self, ctx: Context) -> None:
        user = self.catalog.users.get(ctx.user) or {}
        granted = set(user.get("roles") or []) | {"PUBLIC"}
        if ctx.role not in granted:
            raise SqlError("390189", "08004", f"Role '{ctx.role}' specified in the connect string is not granted "
                           "to this user. Contact your local system administrator, or attempt to login with another "
                           "role, e.g. PUBLIC.")
        if ctx.database is not None and not self.catalog.role_may_use_database(ctx.role, ctx.database):
            raise not_authorized_db(ctx.database)
        if ctx.database is not None and ctx.schema is not None and \
                not self.catalog.role_may_use_schema(ctx.role, ctx.database, ctx.schema):
            raise not_authorized_schema(ctx.database, ctx.schema)

    def _tables(self, tree: exp.Expression) -> list[exp.Table]:
        ctes = {c.alias_or_name.upper() for c in tree.find_all(exp.CTE)}
        out = []
        for t in tree.find_all(exp.Table):
            if not t.args.get("this") or not isinstance(t.args.get("this"), exp.Identifier):
                continue  # table functions and the like
            if not t.args.get("db") and not t.args.get("catalog") and t.name.upper() in ctes:
                continue
            out.append(t)
        return out

    def check_objects(self, tree: exp.Expression, ctx: Context) -> set:
        """Every referenced database/schema must exist and be usable by the role; returns the databases."""
        dbs = set()
        for t in self._tables(tree):
            cat, sch, _ = table_parts(t)
            cat = cat or ctx.database
            sch = sch or ctx.schema
            if cat is None:
                continue  # fakesnow reports the missing current database as Snowflake does
            dbs.add(cat)
            if cat == "SNOWFLAKE":
                if sch != "ACCOUNT_USAGE" or not self.catalog.role_imported_privileges(ctx.role):
                    raise not_authorized_schema("SNOWFLAKE", sch or "PUBLIC")
                continue
            if not self.catalog.role_may_use_database(ctx.role, cat):
                raise not_authorized_db(cat)
            if sch is not None and not self.catalog.role_may_use_schema(ctx.role, cat, sch):
                raise not_authorized_schema(cat, sch)
        return dbs

    def needs_warehouse(self, tree: exp.Expression) -> bool:
        if isinstance(tree, (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy)):
            return bool(self._tables(tree))
        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
            return bool(self._tables(tree.expression))
        return False

    def check_warehouse(self, ctx: Context) -> None:
        if not ctx.warehouse or not self.catalog.role_may_use_warehouse(ctx.role, ctx.warehouse):
            raise NO_WAREHOUSE

    @staticmethod
    def _references_information_schema(tree) -> bool:
        return any((table_parts(t)[1] or "") == "INFORMATION_SCHEMA" for t in tree.find_all(exp.Table))

    @staticmethod
    def _has_schema_predicate(tree) -> bool:
        """A predicate on a schema column (TABLE_SCHEMA, SCHEMA_NAME, CONSTRAINT_SCHEMA, …) anywhere in a WHERE."""
        for where in tree.find_all(exp.Where):
            for pred in where.find_all(exp.EQ, exp.In, exp.Like, exp.ILike):
                for col in pred.find_all(exp.Column):
                    n = col.name.upper()
                    if n.endswith("_SCHEMA") or n == "SCHEMA_NAME":
                        return True
        return False

    # --- SHOW -------------------------------------------------------------------------------------------
    def show_sql(self, tree: exp.Expression, ctx: Context) -> str | None:
        kind, args = None, {}
        if isinstance(tree, exp.Show):
            kind, args = tree.name.upper(), tree.args
        elif isinstance(tree, exp.Command) and tree.name.upper() == "SHOW":
            rest = str(tree.expression or "").strip()
            m = re.match(r"(?i)(TERSE\s+)?(MATERIALIZED VIEWS|USER FUNCTIONS|DYNAMIC TABLES|EXTERNAL TABLES|"
                         r"ICEBERG TABLES|EVENT TABLES|HYBRID TABLES|EXPORTED KEYS)\b(.*)$", rest, re.S)
            if not m:
                return None
            # parse the scope/LIKE clause with sqlglot's own SHOW grammar by standing in a kind it knows
            stand_in = "PRIMARY KEYS" if m.group(2).upper() == "EXPORTED KEYS" else "TABLES"
            reparsed = sqlglot.parse_one(f"SHOW {m.group(1) or ''}{stand_in}{m.group(3)}", read="snowflake")
            kind, args = " ".join(m.group(2).upper().split()), reparsed.args
        if kind is None:
            return None
        like = args.get("like")
        starts = args.get("starts_with")
        limit = args.get("limit")
        scope_kind = (args.get("scope_kind") or "").upper() or None
        scope = args.get("scope")
        cat = sch = tbl = None
        if scope is not None:
            parts = [ident_value(p) for p in scope.parts] if isinstance(scope, exp.Table) else [ident_value(scope)]
            if scope_kind == "DATABASE":
                cat = parts[-1]
            elif scope_kind == "SCHEMA":
                cat, sch = (parts[-2], parts[-1]) if len(parts) >= 2 else (ctx.database, parts[-1])
            elif scope_kind == "TABLE":
                tbl = parts[-1]
                sch = parts[-2] if len(parts) >= 2 else ctx.schema
                cat = parts[-3] if len(parts) >= 3 else ctx.database
        elif scope_kind == "DATABASE":
            cat = ctx.database
        elif scope_kind == "SCHEMA":
            cat, sch = ctx.database, ctx.schema
        elif scope_kind != "ACCOUNT" and kind not in ("DATABASES",):
            if kind == "SCHEMAS":
                cat = ctx.database
            else:
                cat, sch = ctx.database, ctx.schema
        if scope_kind in ("DATABASE", "SCHEMA", "TABLE") and cat is None:
            raise SqlError("090105", "22000", "Cannot perform SHOW. This session does not have a current database. "
                           "Call 'USE DATABASE', or use a qualified name.")
        if cat is not None and not self.catalog.role_may_use_database(ctx.role, cat):
            raise not_authorized_db(cat)
        if cat is not None and sch is not None and not self.catalog.role_may_use_schema(ctx.role, cat, sch):
            raise not_authorized_schema(cat, sch)
        if tbl is not None and (cat, sch, tbl) not in self.catalog.objects:
            raise SqlError("002003", "02000", f"{COMPILATION}Table '{display_name(cat)}.{display_name(sch)}."
                           f"{display_name(tbl)}' does not exist or not authorized.")
        m = f"{META}.main"
        role = ql(ctx.role)

        def visible(c, s):
            return (f"EXISTS (SELECT 1 FROM {m}.role_schemas r WHERE r.ROLE = {role} AND r.CATALOG = {c} "
                    f"AND r.SCHEMA = {s})")

        def scoped(c, s, t=None):
            conds = []
            if cat is not None:
                conds.append(f"{c} = {ql(cat)}")
            if sch is not None:
                conds.append(f"{s} = {ql(sch)}")
            if tbl is not None and t is not None:
                conds.append(f"{t} = {ql(tbl)}")
            return conds

        def finish(select: str, where: list[str], name_col: str, order: str) -> str:
            if like is not None:
                where.append(f"{name_col} ILIKE {like.sql('snowflake')}")
            if starts:
                where.append(f"starts_with({name_col}, {starts.sql('snowflake')})")
            sql = f"SELECT * FROM ({select}) WHERE " + (" AND ".join(where) if where else "TRUE")
            sql += f" ORDER BY {order}"
            if limit is not None:
                sql += " " + limit.sql("snowflake")
            return sql

        terse = bool(args.get("terse"))
        if kind == "DATABASES":
            sel = f"""SELECT CREATED AS "created_on", DATABASE_NAME AS "name",
                CASE WHEN DATABASE_NAME = {ql(ctx.database)} THEN 'Y' ELSE 'N' END AS "is_default",
                CASE WHEN DATABASE_NAME = {ql(ctx.database)} THEN 'Y' ELSE 'N' END AS "is_current",
                ORIGIN AS "origin", DATABASE_OWNER AS "owner", COALESCE(COMMENT, '') AS "comment",
                CASE WHEN IS_TRANSIENT = 'YES' THEN 'TRANSIENT' ELSE '' END AS "options",
                CAST(RETENTION_TIME AS VARCHAR) AS "retention_time", TYPE AS "kind", NULL::VARCHAR AS "budget",
                OWNER_ROLE_TYPE AS "owner_role_type"
                FROM {m}.databases d WHERE EXISTS (SELECT 1 FROM {m}.role_databases r
                WHERE r.ROLE = {role} AND r.CATALOG = d.DATABASE_NAME)"""
            return finish(sel, [], '"name"', '"name"')
        if kind == "SCHEMAS":
            sel = f"""SELECT CREATED AS "created_on", SCHEMA_NAME AS "name",
                CASE WHEN SCHEMA_NAME = {ql(ctx.schema)} AND CATALOG_NAME = {ql(ctx.database)} THEN 'Y' ELSE 'N' END
                AS "is_default",
                CASE WHEN SCHEMA_NAME = {ql(ctx.schema)} AND CATALOG_NAME = {ql(ctx.database)} THEN 'Y' ELSE 'N' END
                AS "is_current", CATALOG_NAME AS "database_name", SCHEMA_OWNER AS "owner",
                COALESCE(COMMENT, '') AS "comment",
                CASE WHEN IS_MANAGED_ACCESS = 'YES' THEN 'MANAGED ACCESS' WHEN IS_TRANSIENT = 'YES' THEN 'TRANSIENT'
                ELSE '' END AS "options", CAST(RETENTION_TIME AS VARCHAR) AS "retention_time",
                OWNER_ROLE_TYPE AS "owner_role_type", NULL::VARCHAR AS "budget"
                FROM {m}.schemata x WHERE {visible('x.CATALOG_NAME', 'x.SCHEMA_NAME')}"""
            return finish(sel, scoped('"database_name"', '"name"'), '"name"', '"database_name", "name"')
        table_kinds = {"TABLES": "TABLE_TYPE NOT IN ('VIEW', 'MATERIALIZED VIEW')",
                       "DYNAMIC TABLES": "KIND = 'DYNAMIC'", "EXTERNAL TABLES": "KIND = 'EXTERNAL'",
                       "ICEBERG TABLES": "KIND = 'ICEBERG'", "EVENT TABLES": "KIND = 'EVENT'",
                       "HYBRID TABLES": "KIND = 'HYBRID'"}
        if kind in table_kinds:
            if terse:
                sel = f"""SELECT CREATED AS "created_on", TABLE_NAME AS "name",
                    CASE KIND WHEN 'TRANSIENT' THEN 'TRANSIENT' WHEN 'TEMPORARY' THEN 'TEMPORARY' ELSE 'TABLE' END
                    AS "kind", TABLE_CATALOG AS "database_name", TABLE_SCHEMA AS "schema_name"
                    FROM {m}.tables x WHERE {table_kinds[kind]} AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            else:
                sel = f"""SELECT CREATED AS "created_on", TABLE_NAME AS "name", TABLE_CATALOG AS "database_name",
                    TABLE_SCHEMA AS "schema_name",
                    CASE KIND WHEN 'TRANSIENT' THEN 'TRANSIENT' WHEN 'TEMPORARY' THEN 'TEMPORARY' ELSE 'TABLE' END
                    AS "kind", COALESCE(COMMENT, '') AS "comment", COALESCE(CLUSTERING_KEY, '') AS "cluster_by",
                    ROW_COUNT AS "rows", BYTES AS "bytes", TABLE_OWNER AS "owner",
                    CAST(RETENTION_TIME AS VARCHAR) AS "retention_time",
                    CASE WHEN CLUSTERING_KEY IS NULL THEN 'OFF' ELSE 'ON' END AS "automatic_clustering",
                    'OFF' AS "change_tracking", 'OFF' AS "search_optimization",
                    NULL::VARCHAR AS "search_optimization_progress", NULL::BIGINT AS "search_optimization_bytes",
                    CASE WHEN KIND = 'EXTERNAL' THEN 'Y' ELSE 'N' END AS "is_external",
                    'N' AS "enable_schema_evolution", OWNER_ROLE_TYPE AS "owner_role_type",
                    CASE WHEN KIND = 'EVENT' THEN 'Y' ELSE 'N' END AS "is_event", NULL::VARCHAR AS "budget",
                    CASE WHEN KIND = 'HYBRID' THEN 'Y' ELSE 'N' END AS "is_hybrid",
                    CASE WHEN KIND = 'ICEBERG' THEN 'Y' ELSE 'N' END AS "is_iceberg",
                    CASE WHEN KIND = 'DYNAMIC' THEN 'Y' ELSE 'N' END AS "is_dynamic", 'N' AS "is_immutable"
                    FROM {m}.tables x WHERE {table_kinds[kind]} AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            return finish(sel, scoped('"database_name"', '"schema_name"'), '"name"',
                          '"database_name", "schema_name", "name"')
        if kind == "VIEWS":
            if terse:
                sel = f"""SELECT CREATED AS "created_on", TABLE_NAME AS "name", 'VIEW' AS "kind",
                    TABLE_CATALOG AS "database_name", TABLE_SCHEMA AS "schema_name" FROM {m}.tables x
                    WHERE TABLE_TYPE IN ('VIEW', 'MATERIALIZED VIEW')
                    AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            else:
                sel = f"""SELECT CREATED AS "created_on", TABLE_NAME AS "name", '' AS "reserved",
                    TABLE_CATALOG AS "database_name", TABLE_SCHEMA AS "schema_name", TABLE_OWNER AS "owner",
                    COALESCE(COMMENT, '') AS "comment", VIEW_DEFINITION AS "text",
                    CASE WHEN IS_SECURE = 'YES' THEN 'true' ELSE 'false' END AS "is_secure",
                    CASE WHEN TABLE_TYPE = 'MATERIALIZED VIEW' THEN 'true' ELSE 'false' END AS "is_materialized",
                    OWNER_ROLE_TYPE AS "owner_role_type", 'OFF' AS "change_tracking"
                    FROM {m}.tables x WHERE TABLE_TYPE IN ('VIEW', 'MATERIALIZED VIEW')
                    AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            return finish(sel, scoped('"database_name"', '"schema_name"'), '"name"',
                          '"database_name", "schema_name", "name"')
        if kind == "MATERIALIZED VIEWS":
            sel = f"""SELECT CREATED AS "created_on", TABLE_NAME AS "name", '' AS "reserved",
                TABLE_CATALOG AS "database_name", TABLE_SCHEMA AS "schema_name",
                COALESCE(CLUSTERING_KEY, '') AS "cluster_by", ROW_COUNT AS "rows", BYTES AS "bytes",
                (SELECT d.REFERENCED_DATABASE FROM {m}.object_dependencies d WHERE d.REFERENCING_OBJECT_ID = x.TABLE_ID
                 ORDER BY d.REFERENCED_DATABASE, d.REFERENCED_SCHEMA, d.REFERENCED_OBJECT_NAME LIMIT 1) AS "source_database_name",
                (SELECT d.REFERENCED_SCHEMA FROM {m}.object_dependencies d WHERE d.REFERENCING_OBJECT_ID = x.TABLE_ID
                 ORDER BY d.REFERENCED_DATABASE, d.REFERENCED_SCHEMA, d.REFERENCED_OBJECT_NAME LIMIT 1) AS "source_schema_name",
                (SELECT d.REFERENCED_OBJECT_NAME FROM {m}.object_dependencies d
                 WHERE d.REFERENCING_OBJECT_ID = x.TABLE_ID ORDER BY d.REFERENCED_DATABASE, d.REFERENCED_SCHEMA, d.REFERENCED_OBJECT_NAME LIMIT 1) AS "source_table_name",
                LAST_ALTERED AS "refreshed_on", LAST_ALTERED AS "compacted_on", TABLE_OWNER AS "owner",
                'false' AS "invalid", '' AS "invalid_reason", '0' AS "behind_by", COALESCE(COMMENT, '') AS "comment",
                VIEW_DEFINITION AS "text", CASE WHEN IS_SECURE = 'YES' THEN 'true' ELSE 'false' END AS "is_secure",
                CASE WHEN CLUSTERING_KEY IS NULL THEN 'OFF' ELSE 'ON' END AS "automatic_clustering",
                OWNER_ROLE_TYPE AS "owner_role_type", NULL::VARCHAR AS "budget"
                FROM {m}.tables x WHERE TABLE_TYPE = 'MATERIALIZED VIEW'
                AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            return finish(sel, scoped('"database_name"', '"schema_name"'), '"name"',
                          '"database_name", "schema_name", "name"')
        if kind in ("PRIMARY KEYS", "UNIQUE KEYS"):
            ctype = "PRIMARY KEY" if kind == "PRIMARY KEYS" else "UNIQUE"
            sel = f"""SELECT CREATED AS "created_on", TABLE_CATALOG AS "database_name", TABLE_SCHEMA AS "schema_name",
                TABLE_NAME AS "table_name", COLUMN_NAME AS "column_name", KEY_SEQUENCE AS "key_sequence",
                CONSTRAINT_NAME AS "constraint_name", 'false' AS "rely", COMMENT AS "comment"
                FROM {m}.key_columns x WHERE CONSTRAINT_TYPE = '{ctype}'
                AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            return finish(sel, scoped('"database_name"', '"schema_name"', '"table_name"'), '"table_name"',
                          '"database_name", "schema_name", "table_name", "constraint_name", "key_sequence"')
        if kind in ("IMPORTED KEYS", "EXPORTED KEYS"):
            sel = f"""SELECT CREATED AS "created_on", PK_CATALOG AS "pk_database_name", PK_SCHEMA AS "pk_schema_name",
                PK_TABLE AS "pk_table_name", PK_COLUMN AS "pk_column_name", TABLE_CATALOG AS "fk_database_name",
                TABLE_SCHEMA AS "fk_schema_name", TABLE_NAME AS "fk_table_name", COLUMN_NAME AS "fk_column_name",
                KEY_SEQUENCE AS "key_sequence", UPDATE_RULE AS "update_rule", DELETE_RULE AS "delete_rule",
                CONSTRAINT_NAME AS "fk_name", PK_NAME AS "pk_name", 'NOT DEFERRABLE' AS "deferrability",
                'false' AS "rely", COMMENT AS "comment"
                FROM {m}.key_columns x WHERE CONSTRAINT_TYPE = 'FOREIGN KEY'
                AND {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            side = "fk" if kind == "IMPORTED KEYS" else "pk"
            return finish(sel, scoped(f'"{side}_database_name"', f'"{side}_schema_name"', f'"{side}_table_name"'),
                          f'"{side}_table_name"',
                          '"fk_database_name", "fk_schema_name", "fk_table_name", "fk_name", "key_sequence"')
        if kind == "COLUMNS":
            sel = f"""SELECT TABLE_NAME AS "table_name", TABLE_SCHEMA AS "schema_name", COLUMN_NAME AS "column_name",
                SHOW_DATA_TYPE AS "data_type", CASE WHEN IS_NULLABLE = 'YES' THEN 'true' ELSE 'false' END AS "null?",
                COALESCE(COLUMN_DEFAULT, '') AS "default", 'COLUMN' AS "kind", '' AS "expression",
                COALESCE(COMMENT, '') AS "comment", TABLE_CATALOG AS "database_name",
                CASE WHEN IS_IDENTITY = 'YES' THEN 'IDENTITY START ' || IDENTITY_START || ' INCREMENT ' ||
                IDENTITY_INCREMENT || CASE WHEN IDENTITY_ORDERED = 'YES' THEN ' ORDER' ELSE ' NOORDER' END
                ELSE '' END AS "autoincrement", ORDINAL_POSITION AS _ord
                FROM {m}.columns x WHERE {visible('x.TABLE_CATALOG', 'x.TABLE_SCHEMA')}"""
            sql = finish(sel, scoped('"database_name"', '"schema_name"', '"table_name"'), '"column_name"',
                         '"database_name", "schema_name", "table_name", _ord')
            return sql.replace("SELECT * FROM", "SELECT * EXCLUDE (_ord) FROM", 1)
        if kind in ("FUNCTIONS", "USER FUNCTIONS", "PROCEDURES"):
            rkind = "PROCEDURE" if kind == "PROCEDURES" else "FUNCTION"
            sel = f"""SELECT CREATED AS "created_on", NAME AS "name", SCHEMA AS "schema_name", 'N' AS "is_builtin",
                'N' AS "is_aggregate", 'N' AS "is_ansi", NAME || ARGUMENT_SIGNATURE || ' RETURN ' || DATA_TYPE
                AS "arguments", COALESCE(COMMENT, 'user-defined function') AS "description",
                CATALOG AS "catalog_name", 'N' AS "is_table_function", 'N' AS "valid_for_clustering",
                CASE WHEN IS_SECURE = 'YES' THEN 'Y' ELSE 'N' END AS "is_secure", LANGUAGE AS "language"
                FROM {m}.routines x WHERE KIND = '{rkind}' AND {visible('x.CATALOG', 'x.SCHEMA')}"""
            return finish(sel, scoped('"catalog_name"', '"schema_name"'), '"name"',
                          '"catalog_name", "schema_name", "name"')
        return None

    # --- execution --------------------------------------------------------------------------------------
    def execute(self, statement: str, ctx: Context, bindings: dict | None, statement_count: int = 1,
                on_connection=None) -> Outcome:
        try:
            trees = [t for t in fs_parse(statement) if t is not None and not isinstance(t, exp.Semicolon)]
        except snowflake.connector.errors.ProgrammingError as e:
            raise self._map_error(e) from None
        if statement_count != 0 and len(trees) != statement_count:
            raise SqlError("000008", "0A000", f"Actual statement count {len(trees)} did not match the desired "
                           f"statement count {statement_count}.")
        if len(trees) != 1:
            raise SqlError("000002", "0A000", "Unsupported feature: the fake runs one statement per request "
                           "(multi-statement requests are not implemented).")
        tree = trees[0]
        if isinstance(tree, (exp.Use, exp.Transaction, exp.Commit, exp.Rollback)) or \
                (isinstance(tree, exp.Command) and tree.name.upper() in ("PUT", "GET", "BEGIN")) or \
                (isinstance(tree, exp.Alter) and str(tree.args.get("kind") or "").upper() == "SESSION") or \
                (isinstance(tree, exp.Set)):
            raise SqlError("000002", "0A000", f"Unsupported feature '{tree.key.upper()}'. USE, ALTER SESSION, "
                           "transactions, PUT and GET are not supported in a single-statement SQL API request; "
                           "put the context in the request body.")
        self.check_context(ctx)
        show = self.show_sql(tree, ctx)
        if show is not None:
            needs_wh, dbs, sql = False, set(), show
        else:
            dbs = self.check_objects(tree, ctx)
            needs_wh = self.needs_warehouse(tree)
            sql = statement
        if needs_wh:
            self.check_warehouse(ctx)

        params = None
        if bindings:
            def conv(b):
                if b.get("type") == "REAL":
                    return float(b["value"])
                return from_binding(b)
            if all(k.isdigit() for k in bindings):
                params = tuple(conv(bindings[str(i)]) for i in range(1, len(bindings) + 1))
            else:
                params = {k: conv(v) for k, v in bindings.items()}

        conn = self.fs.connect()
        try:
            duck = conn._duck_conn
            duck.execute(f"SET VARIABLE fake_role = {ql(ctx.role)}")
            if ctx.database is not None:
                conn.database = ctx.database
                conn.database_set = True
                sch = self.catalog.schemas.get((ctx.database, ctx.schema)) if ctx.schema else None
                if ctx.schema is not None and (sch is None or sch.get("_physical")):
                    conn._schema = ctx.schema
                    conn.schema_set = True
                    duck.execute(f"USE {qi(ctx.database)}.{qi(ctx.schema)}")
                else:
                    if ctx.schema is not None:
                        conn._schema = ctx.schema
                        conn.schema_set = True
                    duck.execute(f"USE {qi(ctx.database)}.main")
            if on_connection:
                on_connection(duck)
            cur = conn.cursor()
            try:
                cur.execute(sql, binding_params=params, server=True)
                describe = cur._describe_last_sql()  # noqa: SLF001
            except snowflake.connector.errors.Error as e:
                raise self._map_error(e, tree, ctx) from None
            except NotImplementedError as e:
                raise SqlError("000002", "0A000", f"Unsupported feature: {e} (not implemented by fakesnow)") from None
            except Exception as e:  # duckdb.InterruptException on cancel, and fakesnow bugs
                if type(e).__name__ == "InterruptException":
                    raise SqlError("000604", "57014", "SQL execution canceled") from None
                raise SqlError("000603", "XX000", f"SQL execution internal error: {type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''}") from None
            table = cur._arrow_table  # noqa: SLF001
        finally:
            conn.close()
        from jsonv2 import rowtype_for

        row_type = [rowtype_for(table.column_names[i], row[1]) for i, row in enumerate(describe)]
        if (self.info_schema_max_rows and show is None and self._references_information_schema(tree)
                and table.num_rows > self.info_schema_max_rows and not self._has_schema_predicate(tree)):
            raise SqlError("090030", "57014", "Information schema query returned too much data. Please repeat "
                           "query with more selective predicates.")
        return Outcome(arrow_table=table, row_type=row_type, needs_warehouse=needs_wh, databases=dbs)

    def _map_error(self, e, tree=None, ctx=None) -> SqlError:
        code = f"{(e.errno or 0):06d}"
        state = e.sqlstate or "42000"
        msg = re.sub(r"^\d{6} \([0-9A-Z]{5}\): ", "", e.msg or str(e))
        m = re.search(r"(?:Table|View) with name (.+?) does not exist", msg)
        if code == "002003" and m:
            name = m.group(1)
            for t in (self._tables(tree) if tree is not None else []):
                cat, sch, tname = table_parts(t)
                if tname.upper() == name.upper():
                    cat, sch = cat or (ctx.database if ctx else None), sch or (ctx.schema if ctx else None)
                    name = ".".join(display_name(x) for x in (cat, sch, tname) if x)
                    break
            return SqlError("002003", "42S02", f"{COMPILATION}Object '{name}' does not exist or not authorized.")
        if code == "002003":
            return SqlError("002003", "42S02", f"{COMPILATION}{msg}")
        if code in ("001003", "002043") and not msg.startswith(COMPILATION):
            return SqlError(code, state, f"{COMPILATION}{msg}")
        return SqlError(code, state, msg)
