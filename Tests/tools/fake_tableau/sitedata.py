"""The content a fake Tableau site serves: loaded from a site file (StaticSite) or generated (GeneratedSite).

Both stores answer the same small interface the resolvers and the REST handlers use:

- `node(id)`: the Metadata API object with that id, as a dict whose keys are the GraphQL field names plus
  `kind` (the GraphQL type name) and references by id (`sheetIds`, `fieldIds`, `datasourceId`, …), or None.
- `ids(kind)`: every id of a root kind, ascending (a sequence: `len()` and slicing; GeneratedSite computes it).
- `ids_in_projects(kind, names)`: ids of workbooks/published data sources in projects with those names.
- `readable(node)`: whether the site's token may read the node (content of a `"readable": false` project not).
- Derived relations (`sheets_of_dashboard`, `dashboards_of_sheet`, `sheets_of_field`, …) used by resolvers.
- REST: `site`, `users`, `pats`, `projects`, `workbooks_rest()`, `datasources_rest()`.

Ids are opaque strings. Missing ids in a site file are made deterministic (uuid5 of the object's path), so a
site file may give ids only where it refers to them.
"""

from __future__ import annotations

import json
import uuid

ROOT_KINDS = ("Workbook", "Sheet", "Dashboard", "PublishedDatasource", "EmbeddedDatasource", "DatabaseTable",
              "CustomSQLTable", "Field")
FIELD_KINDS = ("ColumnField", "CalculatedField", "DatasourceField", "GroupField", "BinField", "HierarchyField",
               "SetField", "CombinedField")
DATABASE_KINDS = ("DatabaseServer", "CloudFile", "File", "WebDataConnector")
NS = uuid.UUID("6f2b9a0e-54b1-4c53-9a37-0d3c1f5e7a11")
EPOCH = "2024-01-15T09:30:00Z"


class SiteError(ValueError):
    pass


def det_id(*parts) -> str:
    """A deterministic UUID-shaped id for an object that the site file gives none."""
    return str(uuid.uuid5(NS, "\x1f".join(str(p) for p in parts)))


class LazySeq:
    """A read-only sequence of n items computed by fn(i): the generated site's id lists without storing them."""

    def __init__(self, n: int, fn):
        self.n, self.fn = n, fn

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(k) for k in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.fn(i)

    def __iter__(self):
        return (self.fn(k) for k in range(self.n))


class BaseSite:
    """What both stores share: derived lineage computed from node() alone."""

    has_unreadable = False

    # --- derived lineage ------------------------------------------------------------------------------------------
    def field_upstream_field_ids(self, f: dict) -> list:
        if f["kind"] == "DatasourceField":
            return [f["remoteFieldId"]] if f.get("remoteFieldId") else []
        if f["kind"] == "ColumnField":
            return []
        return list(f.get("fieldIds") or [])

    def field_upstream_columns(self, f: dict) -> list:
        """Column ids: a ColumnField's own; other fields' through their upstream fields (transitively)."""
        out, seen, stack = [], set(), [f]
        while stack:
            cur = stack.pop()
            if cur["id"] in seen:
                continue
            seen.add(cur["id"])
            for c in cur.get("columnIds") or []:
                if c not in out:
                    out.append(c)
            for fid in self.field_upstream_field_ids(cur):
                nxt = self.node(fid)
                if nxt is not None:
                    stack.append(nxt)
        return out

    def datasource_table_ids(self, ds: dict, _depth: int = 0) -> list:
        """Upstream DatabaseTables of a data source: its own tables, its custom SQL's tables, tables its fields'
        columns live in, and (for embedded sources) the upstream published sources' tables."""
        out: list = []

        def add(tid):
            if tid not in out:
                out.append(tid)
        for tid in ds.get("tableIds") or []:
            add(tid)
        for cid in ds.get("customSqlIds") or []:
            c = self.node(cid)
            for tid in (c or {}).get("tableIds") or []:
                add(tid)
        for fid in ds.get("fieldIds") or []:
            f = self.node(fid)
            for col in (f or {}).get("columnIds") or []:
                cn = self.node(col)
                if cn and (self.node(cn["tableId"]) or {}).get("kind") == "DatabaseTable":
                    add(cn["tableId"])
        if _depth < 4:
            for pid in ds.get("upstreamDatasourceIds") or []:
                p = self.node(pid)
                if p is not None:
                    for tid in self.datasource_table_ids(p, _depth + 1):
                        add(tid)
        return out

    def contains_unsupported_sql(self, ds: dict) -> bool:
        return any((self.node(c) or {}).get("isUnsupportedCustomSql") for c in ds.get("customSqlIds") or [])


class StaticSite(BaseSite):
    """A site loaded from a JSON site file (format in README.md)."""

    def __init__(self, doc: dict):
        self.nodes: dict[str, dict] = {}
        self.by_kind: dict[str, list] = {k: [] for k in ROOT_KINDS}
        self.site = dict(doc.get("site") or {})
        self.site.setdefault("name", "Default")
        self.site.setdefault("contentUrl", "")
        self.site.setdefault("id", det_id("site", self.site["contentUrl"]))
        self.site_node = {"kind": "TableauSite", "id": det_id("site-node", self.site["id"]), "luid": self.site["id"],
                          "name": self.site["name"], "uri": f"sites/{self.site['contentUrl']}"}
        self.users = []
        self.user_by_name: dict[str, dict] = {}
        for u in doc.get("users") or []:
            u = {"siteRole": "SiteAdministratorExplorer", "fullName": u.get("name"), "email": None, **u}
            u.setdefault("id", det_id("user", u["name"]))
            self.users.append(u)
            self.user_by_name[u["name"]] = u
            self._add({"kind": "TableauUser", "id": det_id("user-node", u["id"]), "luid": u["id"],
                       "name": u.get("fullName"), "username": u["name"], "email": u.get("email"), "domain": "local"})
        self.pats = list(doc.get("pats") or [])
        for p in self.pats:
            if p.get("user") not in self.user_by_name:
                raise SiteError(f"PAT {p.get('name')!r}: unknown user {p.get('user')!r}")
        self.projects = []
        self.project_by_id: dict[str, dict] = {}
        for p in doc.get("projects") or []:
            p = {"description": "", "parent": None, "readable": True, "contentPermissions": "ManagedByOwner",
                 "createdAt": EPOCH, "updatedAt": EPOCH, **p}
            p.setdefault("id", det_id("project", p.get("parent"), p["name"]))
            p.setdefault("owner", self.users[0]["name"] if self.users else None)
            self.projects.append(p)
            self.project_by_id[p["id"]] = p
        for p in self.projects:
            if p["parent"] and p["parent"] not in self.project_by_id:
                raise SiteError(f"project {p['name']!r}: unknown parent {p['parent']!r}")
        self.has_unreadable = any(not p["readable"] for p in self.projects)
        self.project_of: dict[str, str] = {}   # node id -> project id (content that lives in a project)
        self.rest_workbooks: list = []
        self.rest_datasources: list = []
        self._load_databases(doc.get("databases") or [])
        for c in doc.get("customSql") or []:
            self._load_custom_sql(c)
        for d in doc.get("publishedDatasources") or []:
            self._load_published(d)
        for w in doc.get("workbooks") or []:
            self._load_workbook(w)
        self._check_refs()
        self._index()

    # --- loading ------------------------------------------------------------------------------------------------
    def _add(self, n: dict) -> dict:
        if n["id"] in self.nodes:
            raise SiteError(f"duplicate id {n['id']!r} ({n['kind']})")
        self.nodes[n["id"]] = n
        root = "Field" if n["kind"] in FIELD_KINDS else n["kind"]
        if root in self.by_kind:
            self.by_kind[root].append(n["id"])
        return n

    def _user_node_id(self, username):
        if username is None:
            return None
        u = self.user_by_name.get(username)
        if u is None:
            raise SiteError(f"unknown user {username!r}")
        return det_id("user-node", u["id"])

    def _tags(self, names):
        return [{"id": det_id("tag", t), "name": t} for t in names or []]

    def _columns(self, table_id: str, cols: list) -> list:
        ids = []
        for c in cols or []:
            cid = c.get("id") or det_id("column", table_id, c["name"])
            self._add({"kind": "Column", "id": cid, "luid": c.get("luid") or det_id("column-luid", cid),
                       "name": c["name"], "remoteType": c.get("remoteType", "WSTR"),
                       "description": c.get("description"), "isNullable": c.get("isNullable", True),
                       "tableId": table_id})
            ids.append(cid)
        return ids

    def _load_databases(self, dbs):
        for db in dbs:
            kind = db.get("type", "DatabaseServer")
            if kind not in DATABASE_KINDS:
                raise SiteError(f"database {db.get('name')!r}: type must be one of {DATABASE_KINDS}")
            dbid = db.get("id") or det_id("database", db.get("connectionType"), db.get("hostName"), db["name"])
            node = {"kind": kind, "id": dbid, "luid": db.get("luid") or det_id("database-luid", dbid),
                    "name": db["name"], "connectionType": db.get("connectionType"),
                    "description": db.get("description"), "isEmbedded": db.get("isEmbedded", False),
                    "hostName": db.get("hostName"), "port": db.get("port"), "service": db.get("service"),
                    "extendedConnectionType": db.get("extendedConnectionType", db.get("connectionType")),
                    "filePath": db.get("filePath"), "connectorUrl": db.get("connectorUrl"),
                    "provider": db.get("provider"), "fileExtension": db.get("fileExtension"),
                    "mimeType": db.get("mimeType"), "requestUrl": db.get("requestUrl"), "tableIds": []}
            self._add(node)
            for t in db.get("tables") or []:
                tid = t.get("id") or det_id("table", dbid, t.get("schema"), t["name"])
                schema = t.get("schema")
                full = t.get("fullName") or (f"[{schema}].[{t['name']}]" if schema else f"[{t['name']}]")
                tnode = {"kind": "DatabaseTable", "id": tid, "luid": t.get("luid") or det_id("table-luid", tid),
                         "name": t["name"], "schema": schema, "fullName": full, "databaseId": dbid,
                         "description": t.get("description"), "isEmbedded": t.get("isEmbedded", False)}
                self._add(tnode)
                tnode["columnIds"] = self._columns(tid, t.get("columns"))
                node["tableIds"].append(tid)

    def _load_custom_sql(self, c):
        cid = c.get("id") or det_id("customsql", c.get("query"))
        node = {"kind": "CustomSQLTable", "id": cid, "name": c.get("name", "Custom SQL Query"),
                "query": c.get("query"), "databaseId": c.get("database"), "tableIds": list(c.get("tables") or []),
                "isUnsupportedCustomSql": bool(c.get("isUnsupportedCustomSql", False)),
                "description": c.get("description")}
        if node["isUnsupportedCustomSql"] and node["tableIds"]:
            raise SiteError(f"custom SQL {cid!r}: an unsupported query has no tables (Tableau could not parse it)")
        self._add(node)
        node["columnIds"] = self._columns(cid, c.get("columns"))

    def _load_fields(self, ds_id: str, fields: list, project_id: str | None) -> list:
        ids = []
        for f in fields or []:
            kind = f.get("type", "ColumnField")
            if kind not in FIELD_KINDS:
                raise SiteError(f"field {f.get('name')!r}: type must be one of {FIELD_KINDS}")
            fid = f.get("id") or det_id("field", ds_id, f["name"])
            cols = []
            for ref in f.get("columns") or []:
                cols.append(ref.get("id") or det_id("column", ref["table"], ref["column"]))
            node = {"kind": kind, "id": fid, "name": f["name"], "description": f.get("description"),
                    "isHidden": bool(f.get("isHidden", False)), "folderName": f.get("folderName"),
                    "fullyQualifiedName": f.get("fullyQualifiedName"),
                    "dataType": f.get("dataType"), "role": f.get("role"), "dataCategory": f.get("dataCategory"),
                    "aggregation": f.get("aggregation"), "defaultFormat": f.get("defaultFormat"),
                    "formula": f.get("formula"), "columnIds": cols, "fieldIds": list(f.get("fields") or []),
                    "remoteFieldId": f.get("remoteField"), "datasourceId": ds_id}
            self._add(node)
            if project_id:
                self.project_of[fid] = project_id
            ids.append(fid)
        return ids

    def _project(self, pid, what):
        if pid not in self.project_by_id:
            raise SiteError(f"{what}: unknown project {pid!r}")
        return self.project_by_id[pid]

    def _load_published(self, d):
        proj = self._project(d.get("project"), f"published data source {d.get('name')!r}")
        did = d.get("id") or det_id("pds", proj["id"], d["name"])
        node = {"kind": "PublishedDatasource", "id": did, "luid": d.get("luid") or det_id("pds-luid", did),
                "name": d["name"], "uri": f"sites/1/datasources/{did[:8]}", "vizportalUrlId": None,
                "description": d.get("description"), "projectName": proj["name"], "projectLuid": proj["id"],
                "projectVizportalUrlId": None, "containerName": proj["name"],
                "ownerId": self._user_node_id(d.get("owner") or proj["owner"]),
                "isCertified": bool(d.get("isCertified", False)),
                "certifierId": self._user_node_id(d.get("certifier")) if d.get("certifier") else None,
                "certificationNote": d.get("certificationNote"), "hasExtracts": bool(d.get("hasExtracts", False)),
                "extractLastRefreshTime": d.get("extractLastRefreshTime"),
                "extractLastUpdateTime": d.get("extractLastUpdateTime"),
                "tags": self._tags(d.get("tags")), "createdAt": d.get("createdAt", EPOCH),
                "updatedAt": d.get("updatedAt", EPOCH), "tableIds": list(d.get("tables") or []),
                "customSqlIds": list(d.get("customSql") or []),
                "upstreamDatasourceIds": list(d.get("upstreamDatasources") or [])}
        node["certifierDisplayName"] = (self.nodes[node["certifierId"]]["name"] if node["certifierId"] else None)
        self._add(node)
        self.project_of[did] = proj["id"]
        node["fieldIds"] = self._load_fields(did, d.get("fields"), proj["id"])
        self.rest_datasources.append(node)

    def _load_workbook(self, w):
        proj = self._project(w.get("project"), f"workbook {w.get('name')!r}")
        wid = w.get("id") or det_id("workbook", proj["id"], w["name"])
        node = {"kind": "Workbook", "id": wid, "luid": w.get("luid") or det_id("workbook-luid", wid),
                "name": w["name"], "uri": f"sites/1/workbooks/{wid[:8]}", "vizportalUrlId": None,
                "description": w.get("description"), "projectName": proj["name"], "projectLuid": proj["id"],
                "projectVizportalUrlId": None, "containerName": proj["name"],
                "ownerId": self._user_node_id(w.get("owner") or proj["owner"]), "tags": self._tags(w.get("tags")),
                "createdAt": w.get("createdAt", EPOCH), "updatedAt": w.get("updatedAt", EPOCH),
                "contentUrl": w.get("contentUrl") or det_id("wb-url", wid)[:12]}
        self._add(node)
        self.project_of[wid] = proj["id"]
        node["embeddedIds"] = []
        for e in w.get("embeddedDatasources") or []:
            eid = e.get("id") or det_id("eds", wid, e["name"])
            en = {"kind": "EmbeddedDatasource", "id": eid, "name": e["name"], "workbookId": wid,
                  "hasExtracts": bool(e.get("hasExtracts", False)),
                  "extractLastRefreshTime": e.get("extractLastRefreshTime"),
                  "extractLastUpdateTime": e.get("extractLastUpdateTime"),
                  "tableIds": list(e.get("tables") or []), "customSqlIds": list(e.get("customSql") or []),
                  "upstreamDatasourceIds": list(e.get("upstreamDatasources") or [])}
            self._add(en)
            self.project_of[eid] = proj["id"]
            en["fieldIds"] = self._load_fields(eid, e.get("fields"), proj["id"])
            node["embeddedIds"].append(eid)
        node["sheetIds"] = []
        for s in w.get("sheets") or []:
            sid = s.get("id") or det_id("sheet", wid, s["name"])
            self._add({"kind": "Sheet", "id": sid, "luid": s.get("luid") or det_id("sheet-luid", sid),
                       "name": s["name"], "path": s.get("path") or f"{node['contentUrl']}/{s['name']}",
                       "documentViewId": s.get("documentViewId"), "workbookId": wid,
                       "fieldIds": list(s.get("fields") or []), "tags": self._tags(s.get("tags")),
                       "createdAt": w.get("createdAt", EPOCH), "updatedAt": w.get("updatedAt", EPOCH)})
            self.project_of[sid] = proj["id"]
            node["sheetIds"].append(sid)
        node["dashboardIds"] = []
        for d in w.get("dashboards") or []:
            did = d.get("id") or det_id("dashboard", wid, d["name"])
            self._add({"kind": "Dashboard", "id": did, "luid": d.get("luid") or det_id("dashboard-luid", did),
                       "name": d["name"], "path": d.get("path") or f"{node['contentUrl']}/{d['name']}",
                       "documentViewId": d.get("documentViewId"), "workbookId": wid,
                       "sheetIds": list(d.get("sheets") or []), "tags": self._tags(d.get("tags")),
                       "createdAt": w.get("createdAt", EPOCH), "updatedAt": w.get("updatedAt", EPOCH)})
            self.project_of[did] = proj["id"]
            node["dashboardIds"].append(did)
        self.rest_workbooks.append(node)

    def _check_refs(self):
        def need(ref, kinds, what):
            n = self.nodes.get(ref)
            if n is None or n["kind"] not in kinds:
                raise SiteError(f"{what}: {ref!r} is not a {'/'.join(kinds)}")
        for n in list(self.nodes.values()):
            k = n["kind"]
            if k in FIELD_KINDS:
                for r in n["fieldIds"]:
                    need(r, FIELD_KINDS, f"field {n['name']!r} fields")
                if n["remoteFieldId"]:
                    need(n["remoteFieldId"], FIELD_KINDS, f"field {n['name']!r} remoteField")
                for c in n["columnIds"]:
                    need(c, ("Column",), f"field {n['name']!r} columns")
            elif k in ("PublishedDatasource", "EmbeddedDatasource"):
                for t in n["tableIds"]:
                    need(t, ("DatabaseTable",), f"data source {n['name']!r} tables")
                for c in n["customSqlIds"]:
                    need(c, ("CustomSQLTable",), f"data source {n['name']!r} customSql")
                for p in n["upstreamDatasourceIds"]:
                    need(p, ("PublishedDatasource",), f"data source {n['name']!r} upstreamDatasources")
            elif k == "Sheet":
                for f in n["fieldIds"]:
                    need(f, FIELD_KINDS, f"sheet {n['name']!r} fields")
            elif k == "Dashboard":
                for s in n["sheetIds"]:
                    need(s, ("Sheet",), f"dashboard {n['name']!r} sheets")
            elif k == "CustomSQLTable":
                if n["databaseId"]:
                    need(n["databaseId"], DATABASE_KINDS, f"custom SQL {n['id']!r} database")
                for t in n["tableIds"]:
                    need(t, ("DatabaseTable",), f"custom SQL {n['id']!r} tables")

    def _index(self):
        """Sorted root lists and the reverse relations resolvers need."""
        for k in self.by_kind:
            self.by_kind[k].sort()
        self.luid_index = {n["luid"]: n["id"] for n in self.nodes.values() if n.get("luid")}
        self.dashboards_by_sheet: dict[str, list] = {}
        self.sheets_by_field: dict[str, list] = {}
        self.fields_by_column: dict[str, list] = {}
        self.downstream_workbooks: dict[str, list] = {}
        self.projects_by_name: dict[str, list] = {}
        for n in self.nodes.values():
            if n["kind"] == "Dashboard":
                for s in n["sheetIds"]:
                    self.dashboards_by_sheet.setdefault(s, []).append(n["id"])
            elif n["kind"] == "Sheet":
                for f in n["fieldIds"]:
                    self.sheets_by_field.setdefault(f, []).append(n["id"])
            elif n["kind"] == "ColumnField":
                for c in n["columnIds"]:
                    self.fields_by_column.setdefault(c, []).append(n["id"])
            elif n["kind"] == "EmbeddedDatasource":
                for p in n["upstreamDatasourceIds"]:
                    lst = self.downstream_workbooks.setdefault(p, [])
                    if n["workbookId"] not in lst:
                        lst.append(n["workbookId"])
        for p in self.projects:
            self.projects_by_name.setdefault(p["name"], []).append(p["id"])
        self.in_project: dict[tuple, list] = {}
        for kind in ("Workbook", "PublishedDatasource"):
            for i in self.by_kind[kind]:
                self.in_project.setdefault((kind, self.nodes[i]["projectName"]), []).append(i)

    # --- the store interface ------------------------------------------------------------------------------------
    def node(self, i):
        return self.nodes.get(i)

    def ids(self, kind):
        return self.by_kind[kind]

    def id_for_luid(self, luid):
        return self.luid_index.get(luid)

    def ids_in_projects(self, kind, names):
        out = []
        for name in dict.fromkeys(names):
            out.extend(self.in_project.get((kind, name), []))
        return sorted(out)

    def readable(self, n: dict) -> bool:
        pid = self.project_of.get(n["id"])
        return pid is None or self.project_by_id[pid]["readable"]

    def dashboards_of_sheet(self, sid):
        return self.dashboards_by_sheet.get(sid, [])

    def sheets_of_field(self, fid):
        return self.sheets_by_field.get(fid, [])

    def fields_of_column(self, cid):
        return self.fields_by_column.get(cid, [])

    def workbooks_downstream_of(self, pid):
        return self.downstream_workbooks.get(pid, [])

    def workbooks_rest(self):
        return [w for w in self.rest_workbooks if self.project_by_id[w["projectLuid"]]["readable"]]

    def datasources_rest(self):
        return [d for d in self.rest_datasources if self.project_by_id[d["projectLuid"]]["readable"]]


def load_site_file(path: str) -> StaticSite:
    with open(path, encoding="utf-8") as f:
        return StaticSite(json.load(f))
