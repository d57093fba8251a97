"""The catalog definition: loading, generating, and making it real inside fakesnow.

Two layers are built from a definition:
- physical objects, created through fakesnow with DDL (CREATE DATABASE/SCHEMA/TABLE with constraints, CREATE VIEW
  with the view's own text), so the objects exist in fakesnow's DuckDB and their SQL is checked by fakesnow;
- metadata tables in a private DuckDB catalog (`_fake_meta`), holding what Snowflake knows and fakesnow does not
  (kinds, owners, comments, row counts, bytes, times, clustering keys, tags, policies, dependencies, grants, exact
  case-sensitive names). Views over them replace fakesnow's `<db>._fs_information_schema` views and form
  `SNOWFLAKE.ACCOUNT_USAGE`, so INFORMATION_SCHEMA and ACCOUNT_USAGE queries run as ordinary SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from dataclasses import dataclass

import pyarrow as pa

META = "_fake_meta"
RESERVED_CATALOGS = {"MEMORY", "SYSTEM", "TEMP", "_FS_GLOBAL", META.upper(), "SNOWFLAKE"}
TABLE_KINDS = {"TABLE", "TRANSIENT", "TEMPORARY", "EXTERNAL", "DYNAMIC", "ICEBERG", "EVENT", "HYBRID", "VIEW",
               "MATERIALIZED VIEW"}
EPOCH = "2024-01-01T00:00:00+00:00"


class DefinitionError(Exception):
    pass


def qi(name: str) -> str:
    """A quoted identifier (exact, case-sensitive)."""
    return '"' + name.replace('"', '""') + '"'


def ql(text: str | None) -> str:
    """A SQL string literal."""
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def display_name(name: str) -> str:
    """How Snowflake writes an identifier in messages: bare when it needs no quotes, else double-quoted."""
    return name if re.fullmatch(r"[A-Z_][A-Z0-9_$]*", name) else qi(name)


# ---------------------------------------------------------------------------------------------------------------
# Types


@dataclass
class TypeInfo:
    data_type: str  # INFORMATION_SCHEMA.COLUMNS.DATA_TYPE
    char_max: int | None = None
    char_octets: int | None = None
    precision: int | None = None
    radix: int | None = None
    scale: int | None = None
    dt_precision: int | None = None
    physical: str = ""  # the type used in the DDL sent to fakesnow
    physical_note: str | None = None

    def show_json(self, nullable: bool) -> str:
        """SHOW COLUMNS `data_type` JSON."""
        t = {"NUMBER": "FIXED", "FLOAT": "REAL"}.get(self.data_type, self.data_type)
        d: dict = {"type": t}
        if self.data_type == "NUMBER":
            d.update(precision=self.precision, scale=self.scale)
        elif self.data_type in ("TEXT", "BINARY"):
            d.update(length=self.char_max, byteLength=self.char_octets, fixed=False)
        elif self.dt_precision is not None:
            d.update(precision=0, scale=self.dt_precision)
        d["nullable"] = nullable
        return json.dumps(d, separators=(",", ":"))


def normalize_type(text: str) -> TypeInfo:
    """A column type as written in DDL -> what Snowflake reports for it."""
    t = " ".join(text.strip().upper().split())
    m = re.fullmatch(r"([A-Z_ 0-9]+?)\s*(?:\((.*)\))?", t)
    if not m:
        raise DefinitionError(f"unparseable type {text!r}")
    base, args = m.group(1).strip(), m.group(2)
    nums = [int(a) for a in re.findall(r"\d+", args)] if args else []
    if base in ("NUMBER", "DECIMAL", "NUMERIC"):
        p = nums[0] if nums else 38
        s = nums[1] if len(nums) > 1 else 0
        return TypeInfo("NUMBER", precision=p, radix=10, scale=s, physical=f"NUMBER({p},{s})")
    if base in ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"):
        return TypeInfo("NUMBER", precision=38, radix=10, scale=0, physical="NUMBER(38,0)")
    if base in ("FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL"):
        return TypeInfo("FLOAT", physical="FLOAT")
    if base in ("VARCHAR", "STRING", "TEXT", "NVARCHAR", "NVARCHAR2", "CHAR VARYING", "NCHAR VARYING",
                "CHAR", "CHARACTER", "NCHAR"):
        n = nums[0] if nums else (1 if base in ("CHAR", "CHARACTER", "NCHAR") else 16777216)
        return TypeInfo("TEXT", char_max=n, char_octets=min(n * 4, 16777216), physical=f"VARCHAR({n})")
    if base in ("BINARY", "VARBINARY"):
        n = nums[0] if nums else 8388608
        return TypeInfo("BINARY", char_max=n, char_octets=n, physical="BINARY")  # fakesnow: BLOB takes no length
    if base == "BOOLEAN":
        return TypeInfo("BOOLEAN", physical="BOOLEAN")
    if base == "DATE":
        return TypeInfo("DATE", physical="DATE")
    if base == "TIME":
        p = nums[0] if nums else 9
        return TypeInfo("TIME", dt_precision=p, physical="TIME")
    if base in ("TIMESTAMP_NTZ", "DATETIME", "TIMESTAMP", "TIMESTAMPNTZ", "TIMESTAMP WITHOUT TIME ZONE"):
        p = nums[0] if nums else 9
        return TypeInfo("TIMESTAMP_NTZ", dt_precision=p, physical="TIMESTAMP_NTZ")
    if base in ("TIMESTAMP_LTZ", "TIMESTAMPLTZ", "TIMESTAMP WITH LOCAL TIME ZONE"):
        p = nums[0] if nums else 9
        return TypeInfo("TIMESTAMP_LTZ", dt_precision=p, physical="TIMESTAMP_LTZ")
    if base in ("TIMESTAMP_TZ", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        p = nums[0] if nums else 9
        return TypeInfo("TIMESTAMP_TZ", dt_precision=p, physical="TIMESTAMP_TZ")
    if base in ("VARIANT", "OBJECT", "ARRAY"):
        return TypeInfo(base, physical=base)
    if base in ("GEOGRAPHY", "GEOMETRY"):
        return TypeInfo(base, physical="VARIANT",
                        physical_note=f"{base} is stored physically as VARIANT (fakesnow/DuckDB has no {base})")
    if base == "VECTOR":
        return TypeInfo("VECTOR", physical="ARRAY", physical_note="VECTOR is stored physically as ARRAY")
    raise DefinitionError(f"unknown Snowflake type {text!r}")


# ---------------------------------------------------------------------------------------------------------------
# Definition loading and generation


def load_definition(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def generate_definition(spec: str) -> dict:
    """`schemas=200,tables=50,columns=20[,databases=1,views=0]`: a large, regular account for benchmarks.
    Each table has a primary key on its first column; every 10th table has a foreign key to the schema's first
    table; views (if asked) select from a table of their schema."""
    opts = {"databases": 1, "schemas": 20, "tables": 50, "columns": 20, "views": 0}
    for part in spec.split(","):
        if part.strip():
            k, _, v = part.partition("=")
            if k.strip() not in opts:
                raise DefinitionError(f"unknown generator option {k!r}")
            opts[k.strip()] = int(v)
    types = ["NUMBER(38,0)", "VARCHAR(256)", "TIMESTAMP_LTZ", "NUMBER(12,2)", "BOOLEAN", "DATE", "FLOAT",
             "VARIANT", "VARCHAR", "BINARY(16)"]
    dbs = []
    for d in range(opts["databases"]):
        schemas = []
        for s in range(opts["schemas"]):
            sname = f"SCHEMA_{s:04d}"
            tables = []
            for t in range(opts["tables"]):
                cols = [{"name": f"COL_{c:04d}", "type": types[c % len(types)], "nullable": c != 0,
                         "comment": f"column {c} of table {t}" if c % 5 == 1 else None}
                        for c in range(opts["columns"])]
                tdef = {"name": f"TABLE_{t:04d}", "kind": "TABLE", "owner": "SYSADMIN", "rows": t * 100,
                        "bytes": t * 4096, "comment": f"table {t} of {sname}", "columns": cols,
                        "primary_key": {"name": f"PK_{t:04d}", "columns": ["COL_0000"]}}
                if t % 10 == 9:
                    tdef["foreign_keys"] = [{"name": f"FK_{t:04d}", "columns": ["COL_0000"],
                                             "references": {"database": f"BENCH_{d:02d}", "schema": sname,
                                                            "table": "TABLE_0000", "columns": ["COL_0000"]}}]
                tables.append(tdef)
            for v in range(opts["views"]):
                tables.append({"name": f"VIEW_{v:04d}", "kind": "VIEW",
                               "definition": f"create view VIEW_{v:04d} as select COL_0000 from TABLE_{v % max(1, opts['tables']):04d}",
                               "columns": [{"name": "COL_0000", "type": "NUMBER(38,0)"}]})
            schemas.append({"name": sname, "owner": "SYSADMIN", "tables": tables})
        dbs.append({"name": f"BENCH_{d:02d}", "owner": "SYSADMIN", "schemas": schemas})
    return {
        "account": "MYORG-MYACCT",
        "warehouses": ["BENCH_WH"],
        "users": {},
        "roles": {"BENCH_ROLE": {"warehouses": ["BENCH_WH"], "databases": {db["name"]: "*" for db in dbs},
                                 "imported_privileges": True}},
        "databases": dbs,
    }


def merge_definitions(a: dict, b: dict) -> dict:
    out = dict(a)
    for key in ("warehouses",):
        out[key] = list(dict.fromkeys((a.get(key) or []) + (b.get(key) or [])))
    for key in ("users", "roles"):
        out[key] = {**(a.get(key) or {}), **(b.get(key) or {})}
    out["databases"] = (a.get("databases") or []) + (b.get("databases") or [])
    out["access_history"] = (a.get("access_history") or []) + (b.get("access_history") or [])
    out["query_history"] = (a.get("query_history") or []) + (b.get("query_history") or [])
    if not out.get("account"):
        out["account"] = b.get("account")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Metadata tables


def _ts(value: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat((value or EPOCH).replace("Z", "+00:00"))


def _tbl_type(kind: str) -> str:
    return {"VIEW": "VIEW", "MATERIALIZED VIEW": "MATERIALIZED VIEW", "TEMPORARY": "TEMPORARY TABLE",
            "EXTERNAL": "EXTERNAL TABLE", "EVENT": "EVENT TABLE"}.get(kind, "BASE TABLE")


S, I, B, T, J = "VARCHAR", "BIGINT", "BOOLEAN", "TIMESTAMPTZ", "JSON"

META_SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "databases": [("DATABASE_ID", I), ("DATABASE_NAME", S), ("DATABASE_OWNER", S), ("IS_TRANSIENT", S),
                  ("COMMENT", S), ("CREATED", T), ("LAST_ALTERED", T), ("RETENTION_TIME", I), ("TYPE", S),
                  ("ORIGIN", S), ("OWNER_ROLE_TYPE", S)],
    "schemata": [("SCHEMA_ID", I), ("CATALOG_ID", I), ("CATALOG_NAME", S), ("SCHEMA_NAME", S), ("SCHEMA_OWNER", S),
                 ("IS_TRANSIENT", S), ("IS_MANAGED_ACCESS", S), ("RETENTION_TIME", I), ("CREATED", T),
                 ("LAST_ALTERED", T), ("COMMENT", S), ("OWNER_ROLE_TYPE", S)],
    "tables": [("TABLE_ID", I), ("TABLE_SCHEMA_ID", I), ("TABLE_CATALOG_ID", I), ("TABLE_CATALOG", S),
               ("TABLE_SCHEMA", S), ("TABLE_NAME", S), ("TABLE_OWNER", S), ("TABLE_TYPE", S), ("KIND", S),
               ("IS_TRANSIENT", S), ("CLUSTERING_KEY", S), ("ROW_COUNT", I), ("BYTES", I), ("RETENTION_TIME", I),
               ("IS_INSERTABLE_INTO", S), ("IS_TYPED", S), ("CREATED", T), ("LAST_ALTERED", T), ("LAST_DDL", T),
               ("LAST_DDL_BY", S), ("AUTO_CLUSTERING_ON", S), ("COMMENT", S), ("IS_TEMPORARY", S),
               ("IS_ICEBERG", S), ("IS_DYNAMIC", S), ("IS_IMMUTABLE", S), ("IS_HYBRID", S), ("IS_EXTERNAL", S),
               ("IS_EVENT", S), ("VIEW_DEFINITION", S), ("IS_SECURE", S), ("OWNER_ROLE_TYPE", S)],
    "columns": [("COLUMN_ID", I), ("TABLE_ID", I), ("TABLE_SCHEMA_ID", I), ("TABLE_CATALOG_ID", I),
                ("TABLE_CATALOG", S), ("TABLE_SCHEMA", S), ("TABLE_NAME", S), ("COLUMN_NAME", S),
                ("ORDINAL_POSITION", I), ("COLUMN_DEFAULT", S), ("IS_NULLABLE", S), ("DATA_TYPE", S),
                ("CHARACTER_MAXIMUM_LENGTH", I), ("CHARACTER_OCTET_LENGTH", I), ("NUMERIC_PRECISION", I),
                ("NUMERIC_PRECISION_RADIX", I), ("NUMERIC_SCALE", I), ("DATETIME_PRECISION", I),
                ("IS_IDENTITY", S), ("IDENTITY_GENERATION", S), ("IDENTITY_START", S), ("IDENTITY_INCREMENT", S),
                ("IDENTITY_MAXIMUM", S), ("IDENTITY_MINIMUM", S), ("IDENTITY_CYCLE", S), ("IDENTITY_ORDERED", S),
                ("COMMENT", S), ("SHOW_DATA_TYPE", S), ("DECLARED_TYPE", S)],
    "constraints": [("CONSTRAINT_ID", I), ("CONSTRAINT_CATALOG_ID", I), ("CONSTRAINT_SCHEMA_ID", I),
                    ("CONSTRAINT_CATALOG", S), ("CONSTRAINT_SCHEMA", S), ("CONSTRAINT_NAME", S), ("TABLE_ID", I),
                    ("TABLE_CATALOG", S), ("TABLE_SCHEMA", S), ("TABLE_NAME", S), ("CONSTRAINT_TYPE", S),
                    ("IS_DEFERRABLE", S), ("INITIALLY_DEFERRED", S), ("ENFORCED", S), ("RELY", S), ("COMMENT", S),
                    ("CREATED", T), ("LAST_ALTERED", T),
                    ("UNIQUE_CONSTRAINT_ID", I), ("UNIQUE_CONSTRAINT_CATALOG_ID", I),
                    ("UNIQUE_CONSTRAINT_SCHEMA_ID", I), ("UNIQUE_CONSTRAINT_CATALOG", S),
                    ("UNIQUE_CONSTRAINT_SCHEMA", S), ("UNIQUE_CONSTRAINT_NAME", S), ("MATCH_OPTION", S),
                    ("UPDATE_RULE", S), ("DELETE_RULE", S)],
    # one row per key column; FOREIGN KEY rows carry the referenced column
    "key_columns": [("CONSTRAINT_ID", I), ("CONSTRAINT_TYPE", S), ("CONSTRAINT_NAME", S), ("TABLE_CATALOG", S),
                    ("TABLE_SCHEMA", S), ("TABLE_NAME", S), ("COLUMN_NAME", S), ("KEY_SEQUENCE", I),
                    ("PK_CATALOG", S), ("PK_SCHEMA", S), ("PK_TABLE", S), ("PK_COLUMN", S), ("PK_NAME", S),
                    ("UPDATE_RULE", S), ("DELETE_RULE", S), ("CREATED", T), ("COMMENT", S)],
    "routines": [("ROUTINE_ID", I), ("KIND", S), ("CATALOG", S), ("SCHEMA", S), ("NAME", S), ("OWNER", S),
                 ("ARGUMENT_SIGNATURE", S), ("DATA_TYPE", S), ("LANGUAGE", S), ("DEFINITION", S),
                 ("IS_SECURE", S), ("CREATED", T), ("LAST_ALTERED", T), ("COMMENT", S)],
    "tag_references": [("TAG_DATABASE", S), ("TAG_SCHEMA", S), ("TAG_ID", I), ("TAG_NAME", S), ("TAG_VALUE", S),
                       ("OBJECT_DATABASE", S), ("OBJECT_SCHEMA", S), ("OBJECT_ID", I), ("OBJECT_NAME", S),
                       ("OBJECT_DELETED", T), ("DOMAIN", S), ("COLUMN_ID", I), ("COLUMN_NAME", S),
                       ("APPLY_METHOD", S)],
    "policy_references": [("POLICY_DB", S), ("POLICY_SCHEMA", S), ("POLICY_ID", I), ("POLICY_NAME", S),
                          ("POLICY_KIND", S), ("REF_DATABASE_NAME", S), ("REF_SCHEMA_NAME", S),
                          ("REF_ENTITY_NAME", S), ("REF_ENTITY_DOMAIN", S), ("REF_COLUMN_NAME", S),
                          ("REF_ARG_COLUMN_NAMES", S), ("TAG_DATABASE", S), ("TAG_SCHEMA", S), ("TAG_NAME", S),
                          ("POLICY_STATUS", S)],
    "object_dependencies": [("REFERENCED_DATABASE", S), ("REFERENCED_SCHEMA", S), ("REFERENCED_OBJECT_NAME", S),
                            ("REFERENCED_OBJECT_ID", I), ("REFERENCED_OBJECT_DOMAIN", S),
                            ("REFERENCING_DATABASE", S), ("REFERENCING_SCHEMA", S),
                            ("REFERENCING_OBJECT_NAME", S), ("REFERENCING_OBJECT_ID", I),
                            ("REFERENCING_OBJECT_DOMAIN", S), ("DEPENDENCY_TYPE", S)],
    "role_schemas": [("ROLE", S), ("CATALOG", S), ("SCHEMA", S)],
    "role_databases": [("ROLE", S), ("CATALOG", S)],
    "query_history": [("QUERY_ID", S), ("QUERY_TEXT", S), ("DATABASE_NAME", S), ("SCHEMA_NAME", S),
                      ("QUERY_TYPE", S), ("USER_NAME", S), ("ROLE_NAME", S), ("WAREHOUSE_NAME", S),
                      ("QUERY_TAG", S), ("EXECUTION_STATUS", S), ("ERROR_CODE", S), ("ERROR_MESSAGE", S),
                      ("START_TIME", T), ("END_TIME", T), ("TOTAL_ELAPSED_TIME", I), ("ROWS_PRODUCED", I)],
    "access_history": [("QUERY_ID", S), ("QUERY_START_TIME", T), ("USER_NAME", S),
                       ("DIRECT_OBJECTS_ACCESSED", J), ("BASE_OBJECTS_ACCESSED", J), ("OBJECTS_MODIFIED", J),
                       ("OBJECT_MODIFIED_BY_DDL", J), ("POLICIES_REFERENCED", J), ("PARENT_QUERY_ID", S),
                       ("ROOT_QUERY_ID", S)],
}

_ARROW = {S: pa.string(), I: pa.int64(), B: pa.bool_(), T: pa.timestamp("us", tz="UTC"), J: pa.string()}


def yn(flag) -> str:
    return "YES" if flag else "NO"


class Catalog:
    """The definition, indexed, and its rows for the metadata tables."""

    def __init__(self, definition: dict):
        self.d = definition
        self.rows: dict[str, list[tuple]] = {k: [] for k in META_SCHEMAS}
        self.databases: dict[str, dict] = {}
        self.schemas: dict[tuple[str, str], dict] = {}
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.warehouses = set(definition.get("warehouses") or [])
        self.users = definition.get("users") or {}
        self.roles = definition.get("roles") or {}
        self.notes: list[str] = []  # what could not be made physical, and why
        self._ids = 0
        self._build_rows()

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    # --- role access, shared with the engine --------------------------------------------------------------
    def role_may_use_database(self, role: str, db: str) -> bool:
        grants = (self.roles.get(role) or {}).get("databases") or {}
        return db in self.databases and db in grants

    def role_may_use_schema(self, role: str, db: str, schema: str) -> bool:
        if not self.role_may_use_database(role, db):
            return False
        if schema == "INFORMATION_SCHEMA":
            return True
        grant = self.roles[role]["databases"][db]
        return (db, schema) in self.schemas and (grant == "*" or schema in grant)

    def role_imported_privileges(self, role: str) -> bool:
        return bool((self.roles.get(role) or {}).get("imported_privileges"))

    def role_may_use_warehouse(self, role: str, wh: str) -> bool:
        return wh in self.warehouses and wh in ((self.roles.get(role) or {}).get("warehouses") or [])

    # --- rows ---------------------------------------------------------------------------------------------
    def _build_rows(self) -> None:
        r = self.rows
        seen_ci: dict[str, str] = {}
        for db in self.d.get("databases") or []:
            name = db["name"]
            if name.upper() in RESERVED_CATALOGS:
                raise DefinitionError(f"database name {name!r} is reserved by the fake (or by DuckDB)")
            if name.upper() in seen_ci:
                raise DefinitionError(
                    f"databases {seen_ci[name.upper()]!r} and {name!r} differ only in case: the fake keeps each "
                    "database as a DuckDB catalog, whose names are case-insensitive (schemas, tables and columns "
                    "may be case twins)")
            seen_ci[name.upper()] = name
            self.databases[name] = db
            db_id = db["_id"] = self._id()
            kind = db.get("kind") or "STANDARD"
            r["databases"].append((db_id, name, db.get("owner", "SYSADMIN"), yn(db.get("transient")),
                                   db.get("comment"), _ts(db.get("created")),
                                   _ts(db.get("last_altered") or db.get("created")), db.get("retention_time", 1),
                                   kind, db.get("origin") or "", "ROLE"))
            is_id = self._id()
            r["schemata"].append((is_id, db_id, name, "INFORMATION_SCHEMA", None, "NO", "NO", 1,
                                  _ts(db.get("created")), _ts(db.get("created")),
                                  "Views describing the contents of schemas in this database", None))
            for sch in db.get("schemas") or []:
                sname = sch["name"]
                if sname == "INFORMATION_SCHEMA":
                    raise DefinitionError("INFORMATION_SCHEMA is provided by the fake")
                if (name, sname) in self.schemas:
                    raise DefinitionError(f"duplicate schema {name}.{sname}")
                self.schemas[(name, sname)] = sch
                s_id = sch["_id"] = self._id()
                r["schemata"].append((s_id, db_id, name, sname, sch.get("owner", "SYSADMIN"),
                                      yn(sch.get("transient")), yn(sch.get("managed_access")),
                                      sch.get("retention_time", 1), _ts(sch.get("created")),
                                      _ts(sch.get("last_altered") or sch.get("created")), sch.get("comment"), "ROLE"))
                self._tag_refs(sch.get("tags"), name, None, sname, s_id, "SCHEMA", None, None)
                for obj in sch.get("tables") or []:
                    self._object_rows(db, sch, obj, db_id, s_id)
                for kind_key, kind in (("functions", "FUNCTION"), ("procedures", "PROCEDURE")):
                    for fn in sch.get(kind_key) or []:
                        r["routines"].append((self._id(), kind, name, sname, fn["name"], fn.get("owner", "SYSADMIN"),
                                              fn.get("arguments", "()"), fn.get("returns", "VARCHAR"),
                                              fn.get("language", "SQL"), fn.get("definition"),
                                              yn(fn.get("secure")), _ts(fn.get("created")),
                                              _ts(fn.get("last_altered") or fn.get("created")), fn.get("comment")))
            self._tag_refs(db.get("tags"), name, None, None, db_id, "DATABASE", None, None)
        self._foreign_keys()
        self._dependencies()
        for role, spec in self.roles.items():
            for dbname, grant in (spec.get("databases") or {}).items():
                if dbname not in self.databases:
                    continue
                r["role_databases"].append((role, dbname))
                r["role_schemas"].append((role, dbname, "INFORMATION_SCHEMA"))
                for (d2, s2) in self.schemas:
                    if d2 == dbname and (grant == "*" or s2 in grant):
                        r["role_schemas"].append((role, dbname, s2))
        for q in self.d.get("query_history") or []:
            r["query_history"].append(tuple(
                _ts(q.get(c)) if t == T else q.get(c) for c, t in META_SCHEMAS["query_history"]))
        for a in self.d.get("access_history") or []:
            r["access_history"].append(tuple(
                _ts(a.get(c.lower(), a.get(c))) if t == T else
                (json.dumps(a.get(c.lower(), a.get(c))) if t == J else a.get(c.lower(), a.get(c)))
                for c, t in META_SCHEMAS["access_history"]))

    def _tag_refs(self, tags, db, schema_for_object, object_schema, object_id, domain, column_id, column_name,
                  object_name=None):
        for tag in tags or []:
            self.rows["tag_references"].append((
                tag["database"], tag["schema"], self._id(), tag["name"], tag.get("value"),
                db if domain != "DATABASE" else None,
                object_schema if domain not in ("DATABASE", "SCHEMA") else None, object_id,
                object_name if object_name is not None else (object_schema if domain == "SCHEMA" else db),
                None, domain, column_id, column_name, "MANUAL"))

    def _policy_ref(self, policy, kind, db, schema, obj, domain, column):
        self.rows["policy_references"].append((
            policy["database"], policy["schema"], self._id(), policy["name"], kind, db, schema, obj, domain, column,
            None, None, None, None, "ACTIVE"))

    def _object_rows(self, db: dict, sch: dict, obj: dict, db_id: int, s_id: int) -> None:
        r = self.rows
        dname, sname, oname = db["name"], sch["name"], obj["name"]
        kind = (obj.get("kind") or "TABLE").upper()
        if kind not in TABLE_KINDS:
            raise DefinitionError(f"{dname}.{sname}.{oname}: unknown kind {kind!r}")
        key = (dname, sname, oname)
        if key in self.objects:
            raise DefinitionError(f"duplicate object {dname}.{sname}.{oname}")
        self.objects[key] = obj
        obj["_kind"] = kind
        t_id = obj["_id"] = self._id()
        is_view = kind in ("VIEW", "MATERIALIZED VIEW")
        definition = obj.get("definition")
        if is_view and not definition:
            raise DefinitionError(f"{dname}.{sname}.{oname}: a view needs a definition")
        if is_view and not re.match(r"\s*create\b", definition, re.I):
            definition = f"create {'materialized ' if kind == 'MATERIALIZED VIEW' else ''}view {qi(oname)} as {definition}"
        obj["_definition"] = definition
        created = _ts(obj.get("created"))
        altered = _ts(obj.get("last_altered") or obj.get("created"))
        r["tables"].append((
            t_id, s_id, db_id, dname, sname, oname, obj.get("owner", "SYSADMIN"), _tbl_type(kind), kind,
            yn(kind == "TRANSIENT"), obj.get("clustering_key"),
            None if kind == "VIEW" else obj.get("rows", 0), None if kind == "VIEW" else obj.get("bytes", 0),
            None if is_view else obj.get("retention_time", 1), yn(not is_view), "YES", created, altered, altered,
            obj.get("owner", "SYSADMIN"), yn(obj.get("auto_clustering")), obj.get("comment"),
            yn(kind == "TEMPORARY"), yn(kind == "ICEBERG"), yn(kind == "DYNAMIC"), "NO", yn(kind == "HYBRID"),
            yn(kind == "EXTERNAL"), yn(kind == "EVENT"), definition if is_view else None, yn(obj.get("secure")),
            "ROLE"))
        self._tag_refs(obj.get("tags"), dname, None, sname, t_id, "TABLE", None, None, oname)
        if obj.get("row_access_policy"):
            self._policy_ref(obj["row_access_policy"], "ROW_ACCESS_POLICY", dname, sname, oname,
                             "VIEW" if is_view else "TABLE", None)
        names = set()
        for pos, col in enumerate(obj.get("columns") or [], start=1):
            if col["name"] in names:
                raise DefinitionError(f"{dname}.{sname}.{oname}: duplicate column {col['name']!r}")
            names.add(col["name"])
            ti = normalize_type(col["type"])
            col["_type"] = ti
            ident = col.get("identity")
            nullable = col.get("nullable", True)
            c_id = self._id()
            default = col.get("default")
            r["columns"].append((
                c_id, t_id, s_id, db_id, dname, sname, oname, col["name"], pos,
                default, yn(nullable), ti.data_type, ti.char_max, ti.char_octets, ti.precision, ti.radix,
                ti.scale, ti.dt_precision, yn(ident), None, str(ident.get("start", 1)) if ident else None,
                str(ident.get("increment", 1)) if ident else None, None, None, "NO" if ident else None,
                yn(ident.get("ordered", False)) if ident else None, col.get("comment"),
                ti.show_json(nullable), col["type"]))
            self._tag_refs(col.get("tags"), dname, None, sname, t_id, "COLUMN", c_id, col["name"], oname)
            if col.get("masking_policy"):
                self._policy_ref(col["masking_policy"], "MASKING_POLICY", dname, sname, oname,
                                 "VIEW" if is_view else "TABLE", col["name"])
        keys = []
        if obj.get("primary_key"):
            keys.append(("PRIMARY KEY", obj["primary_key"]))
        for uk in obj.get("unique_keys") or []:
            keys.append(("UNIQUE", uk))
        for ctype, k in keys:
            cid = self._id()
            cname = k.get("name") or f"SYS_CONSTRAINT_{cid}"
            k["_id"], k["_name"] = cid, cname
            r["constraints"].append((cid, db_id, s_id, dname, sname, cname, t_id, dname, sname, oname, ctype,
                                     "NO", "NO", "NO", yn(k.get("rely")), k.get("comment"), created, altered,
                                     None, None, None, None, None, None, None, None, None))
            for seq, c in enumerate(k["columns"], start=1):
                if c not in names:
                    raise DefinitionError(f"{dname}.{sname}.{oname}: key column {c!r} is not a column")
                r["key_columns"].append((cid, ctype, cname, dname, sname, oname, c, seq, None, None, None, None,
                                         None, None, None, created, k.get("comment")))

    def _foreign_keys(self) -> None:
        r = self.rows
        for (dname, sname, oname), obj in self.objects.items():
            for fk in obj.get("foreign_keys") or []:
                ref = fk["references"]
                target = self.objects.get((ref["database"], ref["schema"], ref["table"]))
                if target is None:
                    raise DefinitionError(f"{dname}.{sname}.{oname}: foreign key to unknown table {ref}")
                ref_cols = ref["columns"]
                # the referenced unique/primary key: the one whose columns are exactly the referenced columns
                uk = None
                for cand in ([target["primary_key"]] if target.get("primary_key") else []) + \
                        (target.get("unique_keys") or []):
                    if list(cand["columns"]) == list(ref_cols):
                        uk = cand
                if uk is None:
                    raise DefinitionError(f"{dname}.{sname}.{oname}: foreign key references columns {ref_cols} "
                                          "that are not a primary or unique key (Snowflake requires one)")
                cid = self._id()
                cname = fk.get("name") or f"SYS_CONSTRAINT_{cid}"
                fk["_name"] = cname
                t_db = self.databases[dname]
                created = _ts(obj.get("created"))
                upd, dele = fk.get("on_update", "NO ACTION"), fk.get("on_delete", "NO ACTION")
                r["constraints"].append((
                    cid, t_db["_id"], self.schemas[(dname, sname)]["_id"], dname, sname, cname, obj["_id"], dname,
                    sname, oname, "FOREIGN KEY", "NO", "NO", "NO", yn(fk.get("rely")), fk.get("comment"), created,
                    created, uk["_id"], self.databases[ref["database"]]["_id"],
                    self.schemas[(ref["database"], ref["schema"])]["_id"], ref["database"], ref["schema"],
                    uk["_name"], "NONE", upd, dele))
                if len(fk["columns"]) != len(ref_cols):
                    raise DefinitionError(f"{dname}.{sname}.{oname}: foreign key column counts differ")
                for seq, (c, pc) in enumerate(zip(fk["columns"], ref_cols), start=1):
                    r["key_columns"].append((cid, "FOREIGN KEY", cname, dname, sname, oname, c, seq,
                                             ref["database"], ref["schema"], ref["table"], pc, uk["_name"], upd,
                                             dele, created, fk.get("comment")))

    def _dependencies(self) -> None:
        from sqlglot import exp

        from fakesnow.dialect import parse_one

        for (dname, sname, oname), obj in self.objects.items():
            if obj["_kind"] not in ("VIEW", "MATERIALIZED VIEW"):
                continue
            deps = obj.get("depends_on")
            if deps is None:
                deps = []
                try:
                    tree = parse_one(obj["_definition"])
                    query = tree.expression if isinstance(tree, exp.Create) else tree
                    ctes = {c.alias_or_name.upper() for c in query.find_all(exp.CTE)} if query else set()
                    for t in (query.find_all(exp.Table) if query else []):
                        parts = {k: t.args.get(k) for k in ("catalog", "db", "this")}
                        if not parts["catalog"] and not parts["db"] and t.name.upper() in ctes:
                            continue

                        def norm(ident, default):
                            if ident is None or not ident.name:
                                return default
                            return ident.name if ident.args.get("quoted") else ident.name.upper()

                        deps.append({"database": norm(parts["catalog"], dname), "schema": norm(parts["db"], sname),
                                     "name": norm(parts["this"], t.name)})
                except Exception as e:  # noqa: BLE001
                    self.notes.append(f"{dname}.{sname}.{oname}: dependencies not derived ({e})")
            for dep in deps:
                target = self.objects.get((dep["database"], dep["schema"], dep["name"]))
                domain = "TABLE"
                if target is not None and target["_kind"] in ("VIEW", "MATERIALIZED VIEW"):
                    domain = target["_kind"]
                self.rows["object_dependencies"].append((
                    dep["database"], dep["schema"], dep["name"], target["_id"] if target else None, domain,
                    dname, sname, oname, obj["_id"], obj["_kind"], "BY_NAME"))

    # --- DuckDB -------------------------------------------------------------------------------------------
    def install(self, fs, physical: bool = True, log=print) -> dict:
        """Create everything inside the fakesnow instance `fs` (fakesnow.instance.FakeSnow)."""
        from fakesnow import info_schema, macros

        duck = fs.duck_conn
        started = time.monotonic()
        duck.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {META}")
        for name, cols in META_SCHEMAS.items():
            duck.execute(f"CREATE OR REPLACE TABLE {META}.main.{name} (" +
                         ", ".join(f"{qi(c)} {t}" for c, t in cols) + ")")
            rows = self.rows[name]
            if rows:
                columns = list(zip(*rows))
                arrow = pa.table({c: pa.array(list(v), type=_ARROW[t]) for (c, t), v in zip(cols, columns)})
                duck.register("_fake_rows", arrow)
                duck.execute(f"INSERT INTO {META}.main.{name} SELECT * FROM _fake_rows")
                duck.unregister("_fake_rows")
        t_meta = time.monotonic()

        # fakesnow's macros, also in the catalog a statement without a database runs in
        duck.execute(macros.creation_sql("memory"))
        conn = fs.connect()
        cur = conn.cursor()
        duck_cur = conn._duck_conn
        ddl_counts = {"fakesnow": 0, "duckdb": 0, "skipped": 0}

        def run(sql: str, fallback: str | None = None, what: str = "", use: tuple | None = None) -> bool:
            try:
                if use is not None:  # objects fakesnow creates alongside (sequences) go to the current schema
                    conn.database, conn._schema = use
                    conn.database_set = conn.schema_set = True
                    duck_cur.execute(f"USE {qi(use[0])}.{qi(use[1])}")
                cur.execute(sql)
                ddl_counts["fakesnow"] += 1
                return True
            except Exception as e:  # noqa: BLE001
                first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                if fallback is not None:
                    try:
                        duck.execute(fallback)
                        ddl_counts["duckdb"] += 1
                        self.notes.append(f"{what}: fakesnow failed ({first}); created directly in DuckDB")
                        return True
                    except Exception as e2:  # noqa: BLE001
                        first += f"; directly in DuckDB: {str(e2).splitlines()[0][:200]}"
                ddl_counts["skipped"] += 1
                self.notes.append(f"{what}: not created physically ({first})")
                return False

        physical_ci: dict[tuple, str] = {}
        for dname, db in self.databases.items():
            ok = run(f"CREATE DATABASE {qi(dname)}",
                     f"ATTACH ':memory:' AS {qi(dname)}", f"database {dname}")
            if not ok:
                raise DefinitionError(f"database {dname!r} could not be created")
            # what fakesnow's CREATE DATABASE adds; repeated with a quoted name in case the fallback ran
            duck.execute(info_schema.per_db_creation_sql(qi(dname)).replace("create view if not exists",
                                                                             "create or replace view"))
            duck.execute(macros.creation_sql(qi(dname)))
            self._install_information_schema(duck, dname)
        if physical:
            for (dname, sname), sch in self.schemas.items():
                k = (dname.upper(), sname.upper())
                if k in physical_ci:
                    self.notes.append(f"schema {dname}.{sname}: not created physically (case twin of "
                                      f"{physical_ci[k]!r}; DuckDB names are case-insensitive)")
                    sch["_physical"] = False
                    continue
                physical_ci[k] = sname
                sch["_physical"] = run(f"CREATE SCHEMA {qi(dname)}.{qi(sname)}",
                                       f"CREATE SCHEMA IF NOT EXISTS {qi(dname)}.{qi(sname)}",
                                       f"schema {dname}.{sname}")
            views = []
            for (dname, sname, oname), obj in self.objects.items():
                if not self.schemas[(dname, sname)].get("_physical"):
                    obj["_physical"] = False
                    continue
                if obj["_kind"] in ("VIEW", "MATERIALIZED VIEW"):
                    views.append((dname, sname, oname, obj))
                    continue
                k = (dname.upper(), sname.upper(), oname.upper())
                if k in physical_ci:
                    self.notes.append(f"table {dname}.{sname}.{oname}: not created physically (case twin of "
                                      f"{physical_ci[k]!r})")
                    obj["_physical"] = False
                    continue
                physical_ci[k] = oname
                obj["_physical"] = self._create_table(run, dname, sname, oname, obj)
            # views in dependency order: retry those whose sources are not there yet
            pending = views
            for _ in range(len(views) + 1):
                retry = []
                for item in pending:
                    dname, sname, oname, obj = item
                    k = (dname.upper(), sname.upper(), oname.upper())
                    if k in physical_ci:
                        self.notes.append(f"view {dname}.{sname}.{oname}: not created physically (case twin)")
                        continue
                    conn2 = fs.connect()
                    conn2.database, conn2._schema = dname, sname
                    conn2.database_set = conn2.schema_set = True
                    conn2._duck_conn.execute(f"USE {qi(dname)}.{qi(sname)}")
                    try:
                        conn2.cursor().execute(obj["_definition"])
                        ddl_counts["fakesnow"] += 1
                        physical_ci[k] = oname
                        obj["_physical"] = True
                    except Exception as e:  # noqa: BLE001
                        obj["_error"] = str(e).splitlines()[0][:200]
                        retry.append(item)
                    finally:
                        conn2.close()
                if not retry or len(retry) == len(pending):
                    for dname, sname, oname, obj in retry:
                        ddl_counts["skipped"] += 1
                        self.notes.append(f"view {dname}.{sname}.{oname}: not created physically by fakesnow "
                                          f"({obj['_error']})")
                    break
                pending = retry
        self._install_account_usage(duck)
        conn.close()
        t_end = time.monotonic()
        report = {"metadata_seconds": round(t_meta - started, 3), "ddl_seconds": round(t_end - t_meta, 3),
                  "ddl": ddl_counts, "databases": len(self.databases), "schemas": len(self.schemas),
                  "objects": len(self.objects), "columns": len(self.rows["columns"]), "notes": self.notes}
        return report

    def _create_table(self, run, dname, sname, oname, obj) -> bool:
        kind = obj["_kind"]
        cols = []
        for col in obj.get("columns") or []:
            ti: TypeInfo = col["_type"]
            if ti.physical_note:
                self.notes.append(f"{dname}.{sname}.{oname}.{col['name']}: {ti.physical_note}")
            c = f"{qi(col['name'])} {ti.physical}"
            if col.get("identity"):
                c += f" IDENTITY({int(col['identity'].get('start', 1))},{int(col['identity'].get('increment', 1))})"
            elif col.get("default") is not None:
                c += f" DEFAULT {col['default']}"
            if not col.get("nullable", True):
                c += " NOT NULL"
            cols.append(c)
        if obj.get("primary_key"):
            cols.append(f"PRIMARY KEY ({', '.join(qi(c) for c in obj['primary_key']['columns'])})")
        for uk in obj.get("unique_keys") or []:
            cols.append(f"UNIQUE ({', '.join(qi(c) for c in uk['columns'])})")
        # Foreign keys are not sent to fakesnow: DuckDB checks them against its case-insensitive names and
        # requires the referenced table to exist first; the metadata tables carry them.
        if not cols:
            cols = ['"_FAKE_NO_COLUMNS" BOOLEAN']
        prefix = {"TRANSIENT": "TRANSIENT "}.get(kind, "")
        target = f"{qi(dname)}.{qi(sname)}.{qi(oname)}"
        sql = f"CREATE {prefix}TABLE {target} ({', '.join(cols)})"
        import sqlglot

        try:
            tree = sqlglot.parse_one(sql, read="snowflake")
            tree.set("exists", True)
            fallback = tree.sql("duckdb")
        except Exception:  # noqa: BLE001
            fallback = None
        return run(sql, fallback, f"table {dname}.{sname}.{oname}", use=(dname, sname))

    def _install_information_schema(self, duck, dname: str) -> None:
        """Replace fakesnow's per-database INFORMATION_SCHEMA views by views over the metadata, filtered by the
        current role (DuckDB variable fake_role, set per statement)."""
        db = qi(dname)
        lit = ql(dname)
        visible = (f"EXISTS (SELECT 1 FROM {META}.main.role_schemas r WHERE r.ROLE = getvariable('fake_role') "
                   "AND r.CATALOG = {c} AND r.SCHEMA = {s})")
        views = {
            "DATABASES": f"""SELECT DATABASE_NAME, DATABASE_OWNER, IS_TRANSIENT, COMMENT, CREATED, LAST_ALTERED,
                    RETENTION_TIME, TYPE, 'ROLE' AS OWNER_ROLE_TYPE FROM {META}.main.databases d
                    WHERE EXISTS (SELECT 1 FROM {META}.main.role_databases r
                                  WHERE r.ROLE = getvariable('fake_role') AND r.CATALOG = d.DATABASE_NAME)""",
            "SCHEMATA": f"""SELECT CATALOG_NAME, SCHEMA_NAME, SCHEMA_OWNER, IS_TRANSIENT, IS_MANAGED_ACCESS,
                    RETENTION_TIME, NULL::VARCHAR AS DEFAULT_CHARACTER_SET_CATALOG,
                    NULL::VARCHAR AS DEFAULT_CHARACTER_SET_SCHEMA, NULL::VARCHAR AS DEFAULT_CHARACTER_SET_NAME,
                    NULL::VARCHAR AS SQL_PATH, CREATED, LAST_ALTERED, COMMENT,
                    'UNSET' AS REPLICABLE_WITH_FAILOVER_GROUPS, OWNER_ROLE_TYPE
                    FROM {META}.main.schemata x WHERE CATALOG_NAME = {lit}
                    AND {visible.format(c='x.CATALOG_NAME', s='x.SCHEMA_NAME')}""",
            "TABLES": f"""SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_OWNER, TABLE_TYPE, IS_TRANSIENT,
                    CLUSTERING_KEY, ROW_COUNT, BYTES, RETENTION_TIME, NULL::VARCHAR AS SELF_REFERENCING_COLUMN_NAME,
                    NULL::VARCHAR AS REFERENCE_GENERATION, NULL::VARCHAR AS USER_DEFINED_TYPE_CATALOG,
                    NULL::VARCHAR AS USER_DEFINED_TYPE_SCHEMA, NULL::VARCHAR AS USER_DEFINED_TYPE_NAME,
                    IS_INSERTABLE_INTO, IS_TYPED, NULL::VARCHAR AS COMMIT_ACTION, CREATED, LAST_ALTERED, LAST_DDL,
                    LAST_DDL_BY, AUTO_CLUSTERING_ON, COMMENT, IS_TEMPORARY, IS_ICEBERG, IS_DYNAMIC, IS_IMMUTABLE,
                    IS_HYBRID
                    FROM {META}.main.tables x WHERE TABLE_CATALOG = {lit}
                    AND {visible.format(c='x.TABLE_CATALOG', s='x.TABLE_SCHEMA')}""",
            "COLUMNS": f"""SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION,
                    COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,
                    NUMERIC_PRECISION, NUMERIC_PRECISION_RADIX, NUMERIC_SCALE, DATETIME_PRECISION,
                    NULL::VARCHAR AS INTERVAL_TYPE, NULL::BIGINT AS INTERVAL_PRECISION,
                    NULL::VARCHAR AS CHARACTER_SET_CATALOG, NULL::VARCHAR AS CHARACTER_SET_SCHEMA,
                    NULL::VARCHAR AS CHARACTER_SET_NAME, NULL::VARCHAR AS COLLATION_CATALOG,
                    NULL::VARCHAR AS COLLATION_SCHEMA, NULL::VARCHAR AS COLLATION_NAME,
                    NULL::VARCHAR AS DOMAIN_CATALOG, NULL::VARCHAR AS DOMAIN_SCHEMA, NULL::VARCHAR AS DOMAIN_NAME,
                    NULL::VARCHAR AS UDT_CATALOG, NULL::VARCHAR AS UDT_SCHEMA, NULL::VARCHAR AS UDT_NAME,
                    NULL::VARCHAR AS SCOPE_CATALOG, NULL::VARCHAR AS SCOPE_SCHEMA, NULL::VARCHAR AS SCOPE_NAME,
                    NULL::BIGINT AS MAXIMUM_CARDINALITY, NULL::VARCHAR AS DTD_IDENTIFIER,
                    'NO' AS IS_SELF_REFERENCING, IS_IDENTITY, IDENTITY_GENERATION, IDENTITY_START,
                    IDENTITY_INCREMENT, IDENTITY_MAXIMUM, IDENTITY_MINIMUM, IDENTITY_CYCLE, IDENTITY_ORDERED,
                    NULL::VARCHAR AS SCHEMA_EVOLUTION_RECORD, COMMENT
                    FROM {META}.main.columns x WHERE TABLE_CATALOG = {lit}
                    AND {visible.format(c='x.TABLE_CATALOG', s='x.TABLE_SCHEMA')}""",
            "VIEWS": f"""SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_OWNER, VIEW_DEFINITION,
                    'NONE' AS CHECK_OPTION, 'NO' AS IS_UPDATABLE, 'NO' AS INSERTABLE_INTO, IS_SECURE, CREATED,
                    LAST_ALTERED, LAST_DDL, LAST_DDL_BY, COMMENT
                    FROM {META}.main.tables x WHERE TABLE_CATALOG = {lit} AND TABLE_TYPE = 'VIEW'
                    AND {visible.format(c='x.TABLE_CATALOG', s='x.TABLE_SCHEMA')}""",
            "TABLE_CONSTRAINTS": f"""SELECT CONSTRAINT_CATALOG, CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_CATALOG,
                    TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_TYPE, IS_DEFERRABLE, INITIALLY_DEFERRED, ENFORCED, COMMENT,
                    CREATED, LAST_ALTERED, RELY
                    FROM {META}.main.constraints x WHERE TABLE_CATALOG = {lit}
                    AND {visible.format(c='x.TABLE_CATALOG', s='x.TABLE_SCHEMA')}""",
            "REFERENTIAL_CONSTRAINTS": f"""SELECT CONSTRAINT_CATALOG, CONSTRAINT_SCHEMA, CONSTRAINT_NAME,
                    UNIQUE_CONSTRAINT_CATALOG, UNIQUE_CONSTRAINT_SCHEMA, UNIQUE_CONSTRAINT_NAME, MATCH_OPTION,
                    UPDATE_RULE, DELETE_RULE, COMMENT, CREATED, LAST_ALTERED
                    FROM {META}.main.constraints x WHERE TABLE_CATALOG = {lit} AND CONSTRAINT_TYPE = 'FOREIGN KEY'
                    AND {visible.format(c='x.TABLE_CATALOG', s='x.TABLE_SCHEMA')}""",
            "FUNCTIONS": f"""SELECT CATALOG AS FUNCTION_CATALOG, SCHEMA AS FUNCTION_SCHEMA, NAME AS FUNCTION_NAME,
                    OWNER AS FUNCTION_OWNER, ARGUMENT_SIGNATURE, DATA_TYPE, LANGUAGE AS FUNCTION_LANGUAGE,
                    DEFINITION AS FUNCTION_DEFINITION, IS_SECURE, CREATED, LAST_ALTERED, COMMENT
                    FROM {META}.main.routines x WHERE CATALOG = {lit} AND KIND = 'FUNCTION'
                    AND {visible.format(c='x.CATALOG', s='x.SCHEMA')}""",
            "PROCEDURES": f"""SELECT CATALOG AS PROCEDURE_CATALOG, SCHEMA AS PROCEDURE_SCHEMA,
                    NAME AS PROCEDURE_NAME, OWNER AS PROCEDURE_OWNER, ARGUMENT_SIGNATURE, DATA_TYPE,
                    LANGUAGE AS PROCEDURE_LANGUAGE, DEFINITION AS PROCEDURE_DEFINITION, CREATED, LAST_ALTERED,
                    COMMENT
                    FROM {META}.main.routines x WHERE CATALOG = {lit} AND KIND = 'PROCEDURE'
                    AND {visible.format(c='x.CATALOG', s='x.SCHEMA')}""",
        }
        for name, body in views.items():
            duck.execute(f"CREATE OR REPLACE VIEW {db}._fs_information_schema._FS_{name} AS {body}")

    def _install_account_usage(self, duck) -> None:
        """SNOWFLAKE.ACCOUNT_USAGE: every object of the account, whatever the role (access to the schema itself
        is checked by the engine against the role's imported privileges)."""
        duck.execute("ATTACH IF NOT EXISTS ':memory:' AS SNOWFLAKE")
        duck.execute("CREATE SCHEMA IF NOT EXISTS SNOWFLAKE.ACCOUNT_USAGE")
        m = f"{META}.main"
        views = {
            "DATABASES": f"""SELECT DATABASE_ID, DATABASE_NAME, DATABASE_OWNER, IS_TRANSIENT, COMMENT, CREATED,
                LAST_ALTERED, NULL::TIMESTAMPTZ AS DELETED, RETENTION_TIME, NULL::VARCHAR AS RESOURCE_GROUP, TYPE,
                OWNER_ROLE_TYPE, NULL::VARCHAR AS OBJECT_VISIBILITY FROM {m}.databases""",
            "SCHEMATA": f"""SELECT SCHEMA_ID, SCHEMA_NAME, CATALOG_ID, CATALOG_NAME, SCHEMA_OWNER, RETENTION_TIME,
                IS_TRANSIENT, IS_MANAGED_ACCESS, NULL::VARCHAR AS DEFAULT_CHARACTER_SET_CATALOG,
                NULL::VARCHAR AS DEFAULT_CHARACTER_SET_SCHEMA, NULL::VARCHAR AS DEFAULT_CHARACTER_SET_NAME,
                NULL::VARCHAR AS SQL_PATH, COMMENT, CREATED, LAST_ALTERED, NULL::TIMESTAMPTZ AS DELETED,
                OWNER_ROLE_TYPE FROM {m}.schemata WHERE SCHEMA_NAME <> 'INFORMATION_SCHEMA'""",
            "TABLES": f"""SELECT TABLE_ID, TABLE_NAME, TABLE_SCHEMA_ID, TABLE_SCHEMA, TABLE_CATALOG_ID,
                TABLE_CATALOG, TABLE_OWNER, TABLE_TYPE, IS_TRANSIENT, CLUSTERING_KEY, ROW_COUNT, BYTES,
                RETENTION_TIME, NULL::VARCHAR AS SELF_REFERENCING_COLUMN_NAME, NULL::VARCHAR AS REFERENCE_GENERATION,
                NULL::VARCHAR AS USER_DEFINED_TYPE_CATALOG, NULL::VARCHAR AS USER_DEFINED_TYPE_SCHEMA,
                NULL::VARCHAR AS USER_DEFINED_TYPE_NAME, IS_INSERTABLE_INTO, IS_TYPED,
                NULL::VARCHAR AS COMMIT_ACTION, CREATED, LAST_ALTERED, LAST_DDL, LAST_DDL_BY,
                NULL::TIMESTAMPTZ AS DELETED, AUTO_CLUSTERING_ON, COMMENT, OWNER_ROLE_TYPE,
                NULL::BIGINT AS INSTANCE_ID, IS_ICEBERG, IS_DYNAMIC, IS_HYBRID FROM {m}.tables""",
            "COLUMNS": f"""SELECT COLUMN_ID, COLUMN_NAME, TABLE_ID, TABLE_NAME, TABLE_SCHEMA_ID, TABLE_SCHEMA,
                TABLE_CATALOG_ID, TABLE_CATALOG, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
                CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_PRECISION_RADIX,
                NUMERIC_SCALE, DATETIME_PRECISION, NULL::VARCHAR AS INTERVAL_TYPE,
                NULL::BIGINT AS INTERVAL_PRECISION, NULL::VARCHAR AS CHARACTER_SET_CATALOG,
                NULL::VARCHAR AS CHARACTER_SET_SCHEMA, NULL::VARCHAR AS CHARACTER_SET_NAME,
                NULL::VARCHAR AS COLLATION_CATALOG, NULL::VARCHAR AS COLLATION_SCHEMA,
                NULL::VARCHAR AS COLLATION_NAME, NULL::VARCHAR AS DOMAIN_CATALOG, NULL::VARCHAR AS DOMAIN_SCHEMA,
                NULL::VARCHAR AS DOMAIN_NAME, NULL::VARCHAR AS UDT_CATALOG, NULL::VARCHAR AS UDT_SCHEMA,
                NULL::VARCHAR AS UDT_NAME, NULL::VARCHAR AS SCOPE_CATALOG, NULL::VARCHAR AS SCOPE_SCHEMA,
                NULL::VARCHAR AS SCOPE_NAME, NULL::BIGINT AS MAXIMUM_CARDINALITY, NULL::VARCHAR AS DTD_IDENTIFIER,
                'NO' AS IS_SELF_REFERENCING, IS_IDENTITY, IDENTITY_GENERATION, IDENTITY_START, IDENTITY_INCREMENT,
                IDENTITY_MAXIMUM, IDENTITY_MINIMUM, IDENTITY_CYCLE, IDENTITY_ORDERED,
                NULL::TIMESTAMPTZ AS DELETED, COMMENT FROM {m}.columns""",
            "VIEWS": f"""SELECT TABLE_ID, TABLE_NAME, TABLE_SCHEMA_ID, TABLE_SCHEMA, TABLE_CATALOG_ID,
                TABLE_CATALOG, TABLE_OWNER, VIEW_DEFINITION, 'NONE' AS CHECK_OPTION, 'NO' AS IS_UPDATABLE,
                'NO' AS INSERTABLE_INTO, IS_SECURE, CREATED, LAST_ALTERED, LAST_DDL, LAST_DDL_BY,
                NULL::TIMESTAMPTZ AS DELETED, COMMENT, OWNER_ROLE_TYPE, NULL::BIGINT AS INSTANCE_ID
                FROM {m}.tables WHERE TABLE_TYPE = 'VIEW'""",
            "TABLE_CONSTRAINTS": f"""SELECT CONSTRAINT_ID, CONSTRAINT_NAME, CONSTRAINT_SCHEMA_ID, CONSTRAINT_SCHEMA,
                CONSTRAINT_CATALOG_ID, CONSTRAINT_CATALOG, TABLE_ID, TABLE_NAME, NULL::BIGINT AS TABLE_SCHEMA_ID,
                TABLE_SCHEMA, NULL::BIGINT AS TABLE_CATALOG_ID, TABLE_CATALOG, CONSTRAINT_TYPE, IS_DEFERRABLE,
                INITIALLY_DEFERRED, ENFORCED, COMMENT, CREATED, LAST_ALTERED, NULL::TIMESTAMPTZ AS DELETED, RELY
                FROM {m}.constraints""",
            "REFERENTIAL_CONSTRAINTS": f"""SELECT CONSTRAINT_ID, CONSTRAINT_NAME, CONSTRAINT_SCHEMA_ID,
                CONSTRAINT_SCHEMA, CONSTRAINT_CATALOG_ID, CONSTRAINT_CATALOG, UNIQUE_CONSTRAINT_ID,
                UNIQUE_CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA_ID, UNIQUE_CONSTRAINT_SCHEMA,
                UNIQUE_CONSTRAINT_CATALOG_ID, UNIQUE_CONSTRAINT_CATALOG, MATCH_OPTION, UPDATE_RULE, DELETE_RULE,
                COMMENT, CREATED, LAST_ALTERED, NULL::TIMESTAMPTZ AS DELETED
                FROM {m}.constraints WHERE CONSTRAINT_TYPE = 'FOREIGN KEY'""",
            "FUNCTIONS": f"""SELECT ROUTINE_ID AS FUNCTION_ID, NAME AS FUNCTION_NAME, SCHEMA AS FUNCTION_SCHEMA,
                CATALOG AS FUNCTION_CATALOG, OWNER AS FUNCTION_OWNER, ARGUMENT_SIGNATURE, DATA_TYPE,
                LANGUAGE AS FUNCTION_LANGUAGE, DEFINITION AS FUNCTION_DEFINITION, IS_SECURE, CREATED, LAST_ALTERED,
                NULL::TIMESTAMPTZ AS DELETED, COMMENT FROM {m}.routines WHERE KIND = 'FUNCTION'""",
            "PROCEDURES": f"""SELECT ROUTINE_ID AS PROCEDURE_ID, NAME AS PROCEDURE_NAME,
                SCHEMA AS PROCEDURE_SCHEMA, CATALOG AS PROCEDURE_CATALOG, OWNER AS PROCEDURE_OWNER,
                ARGUMENT_SIGNATURE, DATA_TYPE, LANGUAGE AS PROCEDURE_LANGUAGE, DEFINITION AS PROCEDURE_DEFINITION,
                CREATED, LAST_ALTERED, NULL::TIMESTAMPTZ AS DELETED, COMMENT
                FROM {m}.routines WHERE KIND = 'PROCEDURE'""",
            "TAG_REFERENCES": f"SELECT * FROM {m}.tag_references",
            "POLICY_REFERENCES": f"SELECT * FROM {m}.policy_references",
            "OBJECT_DEPENDENCIES": f"SELECT * FROM {m}.object_dependencies",
            "QUERY_HISTORY": f"SELECT * FROM {m}.query_history",
            "ACCESS_HISTORY": f"SELECT * FROM {m}.access_history",
        }
        for name, body in views.items():
            duck.execute(f"CREATE OR REPLACE VIEW SNOWFLAKE.ACCOUNT_USAGE.{name} AS {body}")


INFORMATION_SCHEMA_VIEWS = {"DATABASES", "SCHEMATA", "TABLES", "COLUMNS", "VIEWS", "TABLE_CONSTRAINTS",
                            "REFERENTIAL_CONSTRAINTS", "FUNCTIONS", "PROCEDURES", "LOAD_HISTORY"}


def main(argv: list[str]) -> int:
    """`python catalog.py --generate SPEC --out FILE`: write a generated definition as JSON."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--generate", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(generate_definition(a.generate), f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
