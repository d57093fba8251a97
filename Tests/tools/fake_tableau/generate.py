"""A large synthetic site for the benchmark, computed on demand (`--generate workbooks=N,sheets=S,fields=F[,…]`).

Nothing per object is stored: an id encodes its kind and indexes (UUID-shaped, `KKKKKKKK-NNNN-NNNN-AAAA-BBBBBBBBBBBB`, so
ids sort by kind, then index)
and `node(id)` rebuilds the object from them, so memory does not grow with the site and answering a page costs
only the objects on it. Layout:
- P projects ("Generated 000"…), workbook w in project w % P, owned by user w % U.
- Workbook w: S sheets, one dashboard over all its sheets, one embedded data source with F fields.
- Embedded field f: f % 20 == 19 a DatasourceField whose remoteField is field (f % PF) of published data source
  (w % K), which is then also the embedded source's upstream data source; else f % 10 == 9 a CalculatedField over
  field f - 1; else a ColumnField over table (w % T), column (f % C). (F = 100: 90 + 5 + 5.)
- Sheet s shows the fields [s*F/S, (s+1)*F/S).
- K published data sources in project (k % P), each PF = min(F, 50) ColumnFields over table (k % T).
- One PostgreSQL DatabaseServer with T tables of C columns.
"""

from __future__ import annotations

from sitedata import BaseSite, EPOCH, LazySeq, SiteError

KIND_CODES = {"Workbook": 1, "Sheet": 2, "Dashboard": 3, "EmbeddedDatasource": 4, "EField": 5,
              "PublishedDatasource": 6, "PField": 7, "DatabaseServer": 8, "DatabaseTable": 9, "Column": 10,
              "TableauUser": 11}
CODE_KINDS = {v: k for k, v in KIND_CODES.items()}
LUID_BIT = 0x100


def gid(kind: str, n: int, a: int = 0, b: int = 0, luid: bool = False) -> str:
    code = KIND_CODES[kind] | (LUID_BIT if luid else 0)
    return f"{code:08x}-{n >> 16:04x}-{n & 0xFFFF:04x}-{a:04x}-{b:012x}"


def parse_gid(i: str):
    try:
        code, hi, lo, a, b = i.split("-")
        if len(code) != 8 or len(hi) != 4 or len(lo) != 4 or len(a) != 4 or len(b) != 12:
            return None
        return int(code, 16), int(a, 16), int(b, 16), (int(hi, 16) << 16) | int(lo, 16)
    except (ValueError, AttributeError):
        return None


def parse_spec(spec: str) -> dict:
    out = {"workbooks": 100, "sheets": 5, "fields": 20, "projects": 10, "published": 0, "tables": 50,
           "columns": 100, "users": 5}
    for part in spec.split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        k = k.strip()
        if k not in out:
            raise SiteError(f"--generate: unknown key {k!r} (known: {', '.join(out)})")
        out[k] = int(v)
        if out[k] < 0:
            raise SiteError(f"--generate: {k} must not be negative")
    if out["published"] == 0:
        out["published"] = max(1, out["workbooks"] // 10)
    for k in ("projects", "tables", "columns", "users"):
        out[k] = max(1, out[k])
    if out["sheets"] > 0xFFFF or out["fields"] > 0xFFFF or out["columns"] > 0xFFFF:
        raise SiteError("--generate: sheets, fields and columns are at most 65535")
    return out


class GeneratedSite(BaseSite):
    def __init__(self, spec: str):
        g = parse_spec(spec)
        self.g = g
        self.N, self.S, self.F, self.P = g["workbooks"], g["sheets"], g["fields"], g["projects"]
        self.K, self.T, self.C, self.U = g["published"], g["tables"], g["columns"], g["users"]
        self.PF = min(self.F, 50)
        self.site = {"id": "0000000c-0000-0000-0000-000000000001", "name": "Generated", "contentUrl": "generated"}
        self.site_node = {"kind": "TableauSite", "id": "0000000c-0000-0000-0000-000000000002",
                          "luid": self.site["id"], "name": "Generated", "uri": "sites/generated"}
        self.users = [{"id": gid("TableauUser", u, luid=True), "name": f"user{u:03d}", "fullName": f"User {u:03d}",
                       "email": f"user{u:03d}@example.test", "siteRole": "SiteAdministratorExplorer"}
                      for u in range(self.U)]
        self.pats = [{"name": "bench", "secret": "bench-secret", "user": "user000"}]
        self.projects = [{"id": f"0000000d-0000-0000-0000-{p:012x}", "name": f"Generated {p:03d}",
                          "description": "", "parent": None, "readable": True, "owner": "user000",
                          "contentPermissions": "ManagedByOwner", "createdAt": EPOCH, "updatedAt": EPOCH}
                         for p in range(self.P)]
        self.project_by_id = {p["id"]: p for p in self.projects}
        self.project_index = {p["name"]: i for i, p in enumerate(self.projects)}
        self.user_by_name = {u["name"]: u for u in self.users}
        n, s, f, k, t = self.N, self.S, self.F, self.K, self.T
        self._ids = {
            "Workbook": LazySeq(n, lambda w: gid("Workbook", w)),
            "Sheet": LazySeq(n * s, lambda i: gid("Sheet", i // s, i % s)),
            "Dashboard": LazySeq(n if s else 0, lambda w: gid("Dashboard", w)),
            "EmbeddedDatasource": LazySeq(n, lambda w: gid("EmbeddedDatasource", w)),
            "PublishedDatasource": LazySeq(k, lambda p: gid("PublishedDatasource", p)),
            "DatabaseTable": LazySeq(t, lambda i: gid("DatabaseTable", i)),
            "CustomSQLTable": LazySeq(0, lambda i: None),
            # Field ids sort embedded fields (kind 5) before published ones (kind 7), as the id strings do.
            "Field": LazySeq(n * f + k * self.PF,
                             lambda i: gid("EField", i // f, i % f) if i < n * f
                             else gid("PField", (i - n * f) // self.PF, (i - n * f) % self.PF)),
        }

    # --- store interface ------------------------------------------------------------------------------------------
    def ids(self, kind):
        return self._ids[kind]

    def id_for_luid(self, luid):
        p = parse_gid(luid)
        if p is None or not p[0] & LUID_BIT:
            return None
        code, a, b, n = p
        kind = CODE_KINDS.get(code & ~LUID_BIT)
        return gid(kind, n, a, b) if kind else None

    def ids_in_projects(self, kind, names):
        ps = sorted({self.project_index[nm] for nm in names if nm in self.project_index})
        if kind == "Workbook":
            return sorted(gid("Workbook", w) for p in ps for w in range(p, self.N, self.P))
        if kind == "PublishedDatasource":
            return sorted(gid("PublishedDatasource", k) for p in ps for k in range(p, self.K, self.P))
        return []

    def readable(self, n):
        return True

    def dashboards_of_sheet(self, sid):
        p = parse_gid(sid)
        return [gid("Dashboard", p[3])] if p else []

    def sheets_of_field(self, fid):
        p = parse_gid(fid)
        if not p or CODE_KINDS.get(p[0]) != "EField" or not self.S:
            return []
        w, f = p[3], p[1]
        s = min(f * self.S // self.F, self.S - 1)
        while s > 0 and s * self.F // self.S > f:
            s -= 1
        return [gid("Sheet", w, s)]

    def fields_of_column(self, cid):
        return []

    def workbooks_downstream_of(self, pid):
        p = parse_gid(pid)
        if not p or self.F < 20:
            return []
        return [gid("Workbook", w) for w in range(p[3], self.N, self.K)]

    def workbooks_rest(self):
        return [self.node(gid("Workbook", w)) for w in range(self.N)]

    def datasources_rest(self):
        return [self.node(gid("PublishedDatasource", k)) for k in range(self.K)]

    # --- objects --------------------------------------------------------------------------------------------------
    def node(self, i):
        p = parse_gid(i)
        if p is None or p[0] & LUID_BIT:
            return None
        code, a, b, n = p
        kind = CODE_KINDS.get(code)
        build = getattr(self, f"_n_{kind}", None)
        return build(n, a, b) if build else None

    def _project(self, idx):
        return self.projects[idx % self.P]

    def _user(self, u):
        return gid("TableauUser", u % self.U)

    def _n_TableauUser(self, u, a, b):
        if u >= self.U:
            return None
        usr = self.users[u]
        return {"kind": "TableauUser", "id": gid("TableauUser", u), "luid": usr["id"], "name": usr["fullName"],
                "username": usr["name"], "email": usr["email"], "domain": "local"}

    def _n_Workbook(self, w, a, b):
        if w >= self.N or a or b:
            return None
        pr = self._project(w)
        return {"kind": "Workbook", "id": gid("Workbook", w), "luid": gid("Workbook", w, luid=True),
                "name": f"Workbook {w:06d}", "uri": f"sites/1/workbooks/{w}", "vizportalUrlId": str(w + 1),
                "description": f"Generated workbook {w}", "projectName": pr["name"], "projectLuid": pr["id"],
                "projectVizportalUrlId": str(w % self.P + 1), "containerName": pr["name"],
                "ownerId": self._user(w), "tags": [], "createdAt": EPOCH, "updatedAt": EPOCH,
                "contentUrl": f"Workbook{w:06d}",
                "sheetIds": [gid("Sheet", w, s) for s in range(self.S)],
                "dashboardIds": [gid("Dashboard", w)] if self.S else [],
                "embeddedIds": [gid("EmbeddedDatasource", w)]}

    def _n_Sheet(self, w, s, b):
        if w >= self.N or s >= self.S or b:
            return None
        lo, hi = s * self.F // self.S, (s + 1) * self.F // self.S
        return {"kind": "Sheet", "id": gid("Sheet", w, s), "luid": gid("Sheet", w, s, luid=True),
                "name": f"Sheet {s:03d}", "path": f"Workbook{w:06d}/Sheet{s:03d}", "documentViewId": None,
                "workbookId": gid("Workbook", w), "fieldIds": [gid("EField", w, f) for f in range(lo, hi)],
                "tags": [], "createdAt": EPOCH, "updatedAt": EPOCH}

    def _n_Dashboard(self, w, a, b):
        if w >= self.N or a or b or not self.S:
            return None
        return {"kind": "Dashboard", "id": gid("Dashboard", w), "luid": gid("Dashboard", w, luid=True),
                "name": "Overview", "path": f"Workbook{w:06d}/Overview", "documentViewId": None,
                "workbookId": gid("Workbook", w), "sheetIds": [gid("Sheet", w, s) for s in range(self.S)],
                "tags": [], "createdAt": EPOCH, "updatedAt": EPOCH}

    def _n_EmbeddedDatasource(self, w, a, b):
        if w >= self.N or a or b:
            return None
        return {"kind": "EmbeddedDatasource", "id": gid("EmbeddedDatasource", w), "name": f"Data {w:06d}",
                "workbookId": gid("Workbook", w), "hasExtracts": w % 3 == 0, "extractLastRefreshTime": None,
                "extractLastUpdateTime": None, "tableIds": [], "customSqlIds": [],
                "upstreamDatasourceIds": [gid("PublishedDatasource", w % self.K)] if self.F >= 20 else [],
                "fieldIds": [gid("EField", w, f) for f in range(self.F)]}

    def _field(self, fid, name, ds, kind="ColumnField", **kw):
        base = {"kind": kind, "id": fid, "name": name, "description": None, "isHidden": False,
                "folderName": None, "fullyQualifiedName": None, "dataType": "STRING", "role": "DIMENSION",
                "dataCategory": "NOMINAL", "aggregation": None, "defaultFormat": None, "formula": None,
                "columnIds": [], "fieldIds": [], "remoteFieldId": None, "datasourceId": ds}
        base.update(kw)
        return base

    def _n_EField(self, w, f, b):
        if w >= self.N or f >= self.F or b:
            return None
        fid, ds = gid("EField", w, f), gid("EmbeddedDatasource", w)
        if f % 20 == 19:
            return self._field(fid, f"Remote {f:04d}", ds, "DatasourceField",
                               remoteFieldId=gid("PField", w % self.K, f % self.PF))
        if f % 10 == 9:
            return self._field(fid, f"Calc {f:04d}", ds, "CalculatedField", dataType="REAL", role="MEASURE",
                               dataCategory="QUANTITATIVE", formula=f"[Field {f - 1:04d}] * 2",
                               fieldIds=[gid("EField", w, f - 1)])
        return self._field(fid, f"Field {f:04d}", ds,
                           columnIds=[gid("Column", w % self.T, f % self.C)])

    def _n_PublishedDatasource(self, k, a, b):
        if k >= self.K or a or b:
            return None
        pr = self._project(k)
        return {"kind": "PublishedDatasource", "id": gid("PublishedDatasource", k),
                "luid": gid("PublishedDatasource", k, luid=True), "name": f"Published {k:05d}",
                "uri": f"sites/1/datasources/{k}", "vizportalUrlId": str(k + 1), "description": None,
                "projectName": pr["name"], "projectLuid": pr["id"], "projectVizportalUrlId": str(k % self.P + 1),
                "containerName": pr["name"], "ownerId": self._user(k), "isCertified": k % 2 == 0,
                "certifierId": self._user(0) if k % 2 == 0 else None,
                "certifierDisplayName": "User 000" if k % 2 == 0 else None,
                "certificationNote": "Generated" if k % 2 == 0 else None, "hasExtracts": False,
                "extractLastRefreshTime": None, "extractLastUpdateTime": None, "tags": [],
                "createdAt": EPOCH, "updatedAt": EPOCH, "tableIds": [gid("DatabaseTable", k % self.T)],
                "customSqlIds": [], "upstreamDatasourceIds": [],
                "fieldIds": [gid("PField", k, f) for f in range(self.PF)]}

    def _n_PField(self, k, f, b):
        if k >= self.K or f >= self.PF or b:
            return None
        return self._field(gid("PField", k, f), f"Field {f:04d}", gid("PublishedDatasource", k),
                           columnIds=[gid("Column", k % self.T, f % self.C)])

    def _n_DatabaseServer(self, n, a, b):
        if n or a or b:
            return None
        return {"kind": "DatabaseServer", "id": gid("DatabaseServer", 0), "luid": gid("DatabaseServer", 0, luid=True),
                "name": "bench", "connectionType": "postgres", "extendedConnectionType": "postgres",
                "description": None, "isEmbedded": False, "hostName": "pg.bench.test", "port": 5432,
                "service": None, "tableIds": [gid("DatabaseTable", t) for t in range(self.T)]}

    def _n_DatabaseTable(self, t, a, b):
        if t >= self.T or a or b:
            return None
        return {"kind": "DatabaseTable", "id": gid("DatabaseTable", t), "luid": gid("DatabaseTable", t, luid=True),
                "name": f"table_{t:04d}", "schema": "public", "fullName": f"[public].[table_{t:04d}]",
                "databaseId": gid("DatabaseServer", 0), "description": None, "isEmbedded": False,
                "columnIds": [gid("Column", t, c) for c in range(self.C)]}

    def _n_Column(self, t, c, b):
        if t >= self.T or c >= self.C or b:
            return None
        return {"kind": "Column", "id": gid("Column", t, c), "luid": gid("Column", t, c, luid=True),
                "name": f"col_{c:04d}", "remoteType": "WSTR" if c % 2 else "I8", "description": None,
                "isNullable": True, "tableId": gid("DatabaseTable", t)}
