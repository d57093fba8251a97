"""The Metadata API: schema.graphql executed by graphql-core against a site store (sitedata.py/generate.py).

Paging, filters, permission handling, the page-size warning and the node limit follow Tableau's documentation
(README.md says where the fake chooses for itself). Resolvers read node dicts; derived lineage comes from the
store.
"""

from __future__ import annotations

import base64
import os

from graphql import (GraphQLError, GraphQLList, GraphQLNonNull, build_schema, graphql_sync, parse,
                     validate)

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = build_schema(open(os.path.join(HERE, "schema.graphql"), encoding="utf-8").read())

DEFAULT_FIRST = 100  # "Maximum number of objects to be returned in a page. The default is 100"
ROOTS = {  # root field -> (store kind, is connection)
    "workbooks": ("Workbook", False), "workbooksConnection": ("Workbook", True),
    "sheets": ("Sheet", False), "sheetsConnection": ("Sheet", True),
    "dashboards": ("Dashboard", False), "dashboardsConnection": ("Dashboard", True),
    "publishedDatasources": ("PublishedDatasource", False),
    "publishedDatasourcesConnection": ("PublishedDatasource", True),
    "embeddedDatasources": ("EmbeddedDatasource", False),
    "embeddedDatasourcesConnection": ("EmbeddedDatasource", True),
    "databaseTables": ("DatabaseTable", False), "databaseTablesConnection": ("DatabaseTable", True),
    "customSQLTables": ("CustomSQLTable", False), "customSQLTablesConnection": ("CustomSQLTable", True),
    "fields": ("Field", False), "fieldsConnection": ("Field", True),
}
# Filter attributes that are not "sensitive": filtering on anything else over content the token cannot read
# makes Tableau switch to FILTER_OBFUSCATED_RESULTS and say so (PERMISSIONS_MODE_SWITCHED).
NON_SENSITIVE = {"id", "idWithin", "luid", "luidWithin"}
NODE_LIMIT_MESSAGE = ("Showing partial results. The request exceeded the {limit} node limit. Use pagination, "
                      "additional filtering, or both in the query to adjust results.")
PERMISSION_SWITCH_MESSAGE = ("One or more of the attributes used in your filter contain sensitive data so your "
                             "results have been automatically filtered to contain only the results you have "
                             "permissions to see")


def encode_cursor(root: str, index: int) -> str:
    return base64.b64encode(f"fake-tableau:{root}:{index}".encode()).decode()


def decode_cursor(root: str, cursor: str) -> int:
    try:
        tag, r, i = base64.b64decode(cursor.encode(), validate=True).decode().split(":")
        if tag != "fake-tableau" or r != root:
            raise ValueError
        return int(i)
    except (ValueError, UnicodeDecodeError):
        raise GraphQLError(f"Invalid cursor: {cursor}") from None


class Ctx:
    """Per-request state: the store, limits, and the errors/warnings to add beside the data."""

    def __init__(self, store, max_page_size: int):
        self.store = store
        self.max_page_size = max_page_size
        self.extra_errors: list[dict] = []
        self.max_first = 0
        self.root_fields: list[str] = []


def _path_list(path) -> list:
    return list(path.as_list()) if path is not None else []


def _obfuscate(n: dict, path: list, ctx: Ctx) -> dict:
    """A node the token may not read: kept (the list is non-null) with its nullable fields null, and an error with
    its path beside the data."""
    ctx.extra_errors.append({
        "message": "You don't have permission to view this object; its attributes are obfuscated.",
        "locations": [], "path": path,
        "extensions": {"severity": "WARNING", "code": "PERMISSION_DENIED",
                       "properties": {"id": n["id"], "typename": n["kind"]}}})
    return {**n, "__obfuscated": True}


def _guard(value, info, ctx: Ctx):
    """Obfuscate unreadable nodes in a resolved value (one node or a list of nodes)."""
    store = ctx.store
    if not store.has_unreadable or value is None:
        return value
    base = _path_list(info.path)
    if isinstance(value, dict):
        return value if "kind" not in value or store.readable(value) else _obfuscate(value, base, ctx)
    if isinstance(value, list):
        return [v if not isinstance(v, dict) or "kind" not in v or store.readable(v)
                else _obfuscate(v, base + [i], ctx) for i, v in enumerate(value)]
    return value


def _matches(n: dict, key: str, want) -> bool:
    if key.endswith("Within"):
        return n.get(key[:-6]) in (want or [])
    return n.get(key) == want


def _select(store, kind: str, flt: dict) -> list:
    """Ids of `kind` matching the filter, ascending, before permissions. Uses the store's indexes for ids,
    luids and project names; other attributes are matched by scanning."""
    flt = {k: v for k, v in (flt or {}).items() if v is not None}
    if "text" in flt:
        raise GraphQLError("The fake does not implement the 'text' filter.")
    if "idWithin" in flt or "id" in flt:
        ids = flt.pop("idWithin", None) or []
        if "id" in flt:
            ids = [flt.pop("id")] + list(ids)
        seq = sorted({i for i in ids if i is not None})
        nodes = [(i, store.node(i)) for i in seq]
        nodes = [(i, n) for i, n in nodes if n is not None and _root_kind(n["kind"]) == kind]
    elif "luidWithin" in flt or "luid" in flt:
        luids = list(flt.pop("luidWithin", None) or []) + ([flt.pop("luid")] if "luid" in flt else [])
        seq = sorted({store.id_for_luid(x) for x in luids if x is not None} - {None})
        nodes = [(i, store.node(i)) for i in seq]
        nodes = [(i, n) for i, n in nodes if n is not None and _root_kind(n["kind"]) == kind]
    elif ("projectNameWithin" in flt or "projectName" in flt) and kind in ("Workbook", "PublishedDatasource"):
        names = list(flt.pop("projectNameWithin", None) or []) + (
            [flt.pop("projectName")] if "projectName" in flt else [])
        seq = store.ids_in_projects(kind, names)
        if not flt:
            return seq
        nodes = [(i, store.node(i)) for i in seq]
    else:
        seq = store.ids(kind)
        if not flt:
            return seq
        nodes = ((i, store.node(i)) for i in seq)
    return [i for i, n in nodes if all(_matches(n, k, v) for k, v in flt.items())]


def _root_kind(kind: str) -> str:
    return "Field" if kind.endswith("Field") else kind  # ColumnField, CalculatedField, … are Fields


def _order(store, ids, order_by):
    if not order_by:
        return ids
    key = {"ID": "id", "LUID": "luid", "NAME": "name", "PATH": "path"}[order_by["field"]]
    rev = order_by["direction"] == "DESC"
    nodes = [store.node(i) for i in ids]
    nodes.sort(key=lambda n: ((n.get(key) is None), n.get(key) or "", n["id"]), reverse=rev)
    return [n["id"] for n in nodes]


def resolve_root(info, args: dict, ctx: Ctx):
    name = info.field_name
    kind, is_conn = ROOTS[name]
    store = ctx.store
    ctx.root_fields.append(name)
    flt = args.get("filter") or {}
    mode = args.get("permissionMode") or "OBFUSCATE_RESULTS"
    if is_conn:
        if args.get("offset") is not None and args.get("after") is not None:
            raise GraphQLError("Offset can not be set at the same time as after.")
        if args.get("first") is not None and args["first"] < 0:
            raise GraphQLError("first must not be negative.")
        if args.get("offset") is not None and args["offset"] < 0:
            raise GraphQLError("offset must not be negative.")
    ids = _select(store, kind, flt)
    if store.has_unreadable:
        sensitive = sorted(k for k, v in flt.items() if v is not None and k not in NON_SENSITIVE)
        unreadable = [i for i in ids if not store.readable(store.node(i))]
        if unreadable and sensitive and mode == "OBFUSCATE_RESULTS":
            mode = "FILTER_OBFUSCATED_RESULTS"
            ctx.extra_errors.append({"message": PERMISSION_SWITCH_MESSAGE,
                                     "extensions": {"severity": "WARNING", "code": "PERMISSIONS_MODE_SWITCHED",
                                                    "properties": {name: sensitive}}})
        if unreadable and mode == "FILTER_OBFUSCATED_RESULTS":
            drop = set(unreadable)
            ids = [i for i in ids if i not in drop]
    ids = _order(store, ids, args.get("orderBy"))
    if not is_conn:
        return [store.node(i) for i in ids]
    total = len(ids)
    first = args.get("first")
    size = DEFAULT_FIRST if first is None else first
    ctx.max_first = max(ctx.max_first, size)
    if size > ctx.max_page_size:
        ctx.extra_errors.append({
            "message": f"The requested page size ({size}) is larger than the maximum page size "
                       f"({ctx.max_page_size}); the page holds {ctx.max_page_size} objects.",
            "path": _path_list(info.path),
            "extensions": {"severity": "WARNING", "code": "MAX_PAGE_SIZE_EXCEEDED",
                           "properties": {"first": size, "maxPageSize": ctx.max_page_size}}})
        size = ctx.max_page_size
    if args.get("after") is not None:
        start = decode_cursor(name, args["after"]) + 1
    else:
        start = args.get("offset") or 0
    end = min(start + size, total)
    page = list(ids[start:end]) if start < total else []
    nodes = [store.node(i) for i in page]
    return {"nodes": nodes, "totalCount": total,
            "pageInfo": {"hasNextPage": end < total and start < total,
                         "endCursor": encode_cursor(name, end - 1) if page else None}}


# --- nested resolvers ------------------------------------------------------------------------------------------------

def _nodes(store, ids):
    out = []
    for i in ids or []:
        n = store.node(i)
        if n is not None:
            out.append(n)
    return out


def _one(store, i):
    return store.node(i) if i else None


def _ds_tables(s, n):
    return _nodes(s, s.datasource_table_ids(n))


def _ds_databases(s, n):
    seen = []
    for t in _ds_tables(s, n):
        if t["databaseId"] and t["databaseId"] not in seen:
            seen.append(t["databaseId"])
    return _nodes(s, seen)


def _ds_downstream_sheets(s, n):
    out = []
    for f in n.get("fieldIds") or []:
        for sh in s.sheets_of_field(f):
            if sh not in out:
                out.append(sh)
    return _nodes(s, out)


def _wb_upstream_ds(s, n):
    out = []
    for e in _nodes(s, n["embeddedIds"]):
        for p in e["upstreamDatasourceIds"]:
            if p not in out:
                out.append(p)
    return _nodes(s, out)


def _wb_upstream_tables(s, n):
    out = []
    for e in _nodes(s, n["embeddedIds"]):
        for t in s.datasource_table_ids(e):
            if t not in out:
                out.append(t)
    return _nodes(s, out)


def _table_connection_type(s, n):
    db = _one(s, n.get("databaseId"))
    return db.get("connectionType") if db else None


def _columns_connection(s, n, args):
    ids = n.get("columnIds") or []
    if args.get("offset") is not None and args.get("after") is not None:
        raise GraphQLError("Offset can not be set at the same time as after.")
    start = decode_cursor("columnsConnection", args["after"]) + 1 if args.get("after") else (args.get("offset") or 0)
    size = DEFAULT_FIRST if args.get("first") is None else args["first"]
    end = min(start + size, len(ids))
    page = ids[start:end] if start < len(ids) else []
    return {"nodes": _nodes(s, page), "totalCount": len(ids),
            "pageInfo": {"hasNextPage": end < len(ids),
                         "endCursor": encode_cursor("columnsConnection", end - 1) if page else None}}


FIELD_RESOLVERS = {
    "datasource": lambda s, n, a: _one(s, n["datasourceId"]),
    "upstreamFields": lambda s, n, a: _nodes(s, s.field_upstream_field_ids(n)),
    "upstreamColumns": lambda s, n, a: _nodes(s, s.field_upstream_columns(n)),
    "downstreamSheets": lambda s, n, a: _nodes(s, s.sheets_of_field(n["id"])),
    "remoteField": lambda s, n, a: _one(s, n.get("remoteFieldId")),
    "fields": lambda s, n, a: _nodes(s, n.get("fieldIds")),
    "columns": lambda s, n, a: _nodes(s, n.get("columnIds")),
}
DATASOURCE_RESOLVERS = {
    "fields": lambda s, n, a: _nodes(s, n["fieldIds"]),
    "upstreamTables": lambda s, n, a: _ds_tables(s, n),
    "upstreamDatabases": lambda s, n, a: _ds_databases(s, n),
    "upstreamDatasources": lambda s, n, a: _nodes(s, n["upstreamDatasourceIds"]),
    "downstreamSheets": lambda s, n, a: _ds_downstream_sheets(s, n),
    "containsUnsupportedCustomSql": lambda s, n, a: s.contains_unsupported_sql(n),
    "workbook": lambda s, n, a: _one(s, n.get("workbookId")),
    "owner": lambda s, n, a: _one(s, n.get("ownerId")),
    "certifier": lambda s, n, a: _one(s, n.get("certifierId")),
    "downstreamWorkbooks": lambda s, n, a: _nodes(s, s.workbooks_downstream_of(n["id"])),
    "site": lambda s, n, a: s.site_node,
}
TABLE_RESOLVERS = {
    "columns": lambda s, n, a: _nodes(s, n.get("columnIds")),
    "columnsConnection": lambda s, n, a: _columns_connection(s, n, a),
    "database": lambda s, n, a: _one(s, n.get("databaseId")),
    "connectionType": lambda s, n, a: _table_connection_type(s, n),
    "tables": lambda s, n, a: _nodes(s, n.get("tableIds")),
}
RESOLVERS = {
    "Workbook": {
        "owner": lambda s, n, a: _one(s, n["ownerId"]),
        "sheets": lambda s, n, a: _nodes(s, n["sheetIds"]),
        "dashboards": lambda s, n, a: _nodes(s, n["dashboardIds"]),
        "embeddedDatasources": lambda s, n, a: _nodes(s, n["embeddedIds"]),
        "upstreamDatasources": lambda s, n, a: _wb_upstream_ds(s, n),
        "upstreamTables": lambda s, n, a: _wb_upstream_tables(s, n),
        "site": lambda s, n, a: s.site_node,
    },
    "Sheet": {
        "workbook": lambda s, n, a: _one(s, n["workbookId"]),
        "datasourceFields": lambda s, n, a: _nodes(s, n["fieldIds"]),
        "upstreamFields": lambda s, n, a: _nodes(s, n["fieldIds"]),
        "containedInDashboards": lambda s, n, a: _nodes(s, s.dashboards_of_sheet(n["id"])),
    },
    "Dashboard": {
        "workbook": lambda s, n, a: _one(s, n["workbookId"]),
        "sheets": lambda s, n, a: _nodes(s, n["sheetIds"]),
    },
    "PublishedDatasource": DATASOURCE_RESOLVERS,
    "EmbeddedDatasource": DATASOURCE_RESOLVERS,
    "DatabaseTable": TABLE_RESOLVERS,
    "CustomSQLTable": TABLE_RESOLVERS,
    "Column": {
        "table": lambda s, n, a: _one(s, n["tableId"]),
        "referencedByFields": lambda s, n, a: _nodes(s, s.fields_of_column(n["id"])),
    },
}
for _k in ("ColumnField", "CalculatedField", "DatasourceField", "GroupField", "BinField", "HierarchyField",
           "SetField", "CombinedField"):
    RESOLVERS[_k] = FIELD_RESOLVERS
for _k in ("DatabaseServer", "CloudFile", "File", "WebDataConnector"):
    RESOLVERS[_k] = {"tables": lambda s, n, a: _nodes(s, n.get("tableIds"))}


def field_resolver(parent, info, **args):
    ctx: Ctx = info.context
    if parent is None:  # the root
        return resolve_root(info, args, ctx)
    name = info.field_name
    if parent.get("__obfuscated") and name not in ("id", "__typename"):
        # Nullable attributes of an obfuscated node read null; non-null ones keep a value (lists empty).
        rt = info.return_type
        if not isinstance(rt, GraphQLNonNull):
            return None
        if isinstance(rt.of_type, GraphQLList):
            return []
    fn = RESOLVERS.get(parent.get("kind"), {}).get(name)
    value = fn(ctx.store, parent, args) if fn else parent.get(name)
    return _guard(value, info, ctx)


def type_resolver(value, info, abstract_type):
    return value.get("kind")


def count_nodes(data) -> int:
    """Objects in a response's data (each JSON object counts once), the fake's measure for the node limit."""
    n, stack = 0, [data]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            n += 1
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def _error_dict(e: GraphQLError) -> dict:
    return e.formatted


def execute(store, query: str, variables: dict | None, operation_name: str | None, *, max_page_size: int,
            node_limit: int) -> tuple[dict, Ctx]:
    """Run one GraphQL request. Returns the response body and the request's context (for statistics)."""
    ctx = Ctx(store, max_page_size)
    try:
        document = parse(query)
    except GraphQLError as e:
        return {"errors": [_error_dict(e)]}, ctx
    errors = validate(SCHEMA, document)
    if errors:
        return {"errors": [_error_dict(e) for e in errors]}, ctx
    result = graphql_sync(SCHEMA, query, variable_values=variables, operation_name=operation_name,
                          context_value=ctx, field_resolver=field_resolver, type_resolver=type_resolver)
    body: dict = {}
    errors = [_error_dict(e) for e in result.errors or []] + ctx.extra_errors
    for e in errors:  # graphql-core gives [] locations for errors raised outside the document; drop them
        if not e.get("locations"):
            e.pop("locations", None)
    if result.data is not None and count_nodes(result.data) > node_limit:
        body["data"] = None
        errors = [{"message": NODE_LIMIT_MESSAGE.format(limit=node_limit),
                   "extensions": {"severity": "ERROR", "code": "NODE_LIMIT_EXCEEDED",
                                  "properties": {"nodeLimit": node_limit}}}]
        ctx.node_limit_hit = True
    else:
        body["data"] = result.data
    if errors:
        body["errors"] = errors
    return body, ctx


def root_fields_of(query: str, operation_name: str | None) -> list[str]:
    """The root fields a request asks for (for statistics), or [] if it does not parse."""
    try:
        doc = parse(query)
    except GraphQLError:
        return []
    out = []
    for d in doc.definitions:
        if getattr(d, "operation", None) is not None and (operation_name is None or
                                                           (d.name and d.name.value == operation_name)):
            for s in d.selection_set.selections:
                if getattr(s, "name", None) is not None:
                    out.append(s.name.value)
    return out
