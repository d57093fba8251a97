#!/usr/bin/env python3
"""Writes hostile.json (next to this file): the fake Tableau site the self-test and the connector's tests use.

Hostile on purpose: quotes, slashes, backslashes, emoji, dots, leading/trailing spaces; two projects with the
same name under different parents; the same workbook name in two projects; two embedded data sources with the
same name in one workbook; projects nested three deep; a project the PATs cannot read; at least five objects of
every root kind (more than one page at a page size of 2). Ids are fixed UUIDs (uuid5 of a readable key), so the
file is stable. Run it again after editing: `python3 make_hostile.py`.
"""

import json
import os
import uuid

NS = uuid.UUID("1b0e8f55-2f67-4a55-8d3c-6c1a5e3f0b21")


def u(key: str) -> str:
    return str(uuid.uuid5(NS, key))


T0 = "2024-03-01T10:00:00Z"
T1 = "2024-06-15T16:45:30Z"

users = [
    {"id": u("user:outpost"), "name": "outpost_svc", "fullName": "Outpost Service", "email": "svc@example.test",
     "siteRole": "SiteAdministratorExplorer"},
    {"id": u("user:ana"), "name": "ana.o'neil", "fullName": "Ana \"Q\" O'Neil", "email": "ana@example.test",
     "siteRole": "Creator"},
    {"id": u("user:bo"), "name": "bo\\domain", "fullName": " Bø Ünïcode 🚀 ", "email": None, "siteRole": "Viewer"},
]
pats = [
    {"name": "outpost-pat", "secret": "s3cr3t/+=pat", "user": "outpost_svc"},
    {"name": "second pat", "secret": "another-secret", "user": "ana.o'neil"},
]

P = {k: u("project:" + k) for k in ("root", "finance", "fin-reports", "fin-deep", "sales", "sales-reports",
                                     "quoted", "secret", "spaces", "emoji")}
projects = [
    {"id": P["root"], "name": "Default", "description": "The default project", "parent": None,
     "owner": "outpost_svc"},
    {"id": P["finance"], "name": "Finance / \"FY24\"", "description": "slash and quotes", "parent": None,
     "owner": "ana.o'neil"},
    {"id": P["fin-reports"], "name": "Reports", "description": "same name as Sales › Reports",
     "parent": P["finance"], "owner": "ana.o'neil"},
    {"id": P["fin-deep"], "name": "Q1.v2 \\ archive", "description": "three deep", "parent": P["fin-reports"],
     "owner": "ana.o'neil"},
    {"id": P["sales"], "name": "Sales", "description": "", "parent": None, "owner": "outpost_svc"},
    {"id": P["sales-reports"], "name": "Reports", "description": "same name as Finance › Reports",
     "parent": P["sales"], "owner": "outpost_svc"},
    {"id": P["quoted"], "name": "It's \"quoted\"", "description": None, "parent": P["sales"],
     "owner": "outpost_svc"},
    {"id": P["secret"], "name": "Restricted", "description": "the PATs cannot read its content",
     "parent": None, "owner": "bo\\domain", "readable": False, "contentPermissions": "LockedToProject"},
    {"id": P["spaces"], "name": "  padded name  ", "description": "leading and trailing spaces",
     "parent": None, "owner": "outpost_svc"},
    {"id": P["emoji"], "name": "Émoji 📊 project", "description": "unicode", "parent": P["root"],
     "owner": "bo\\domain"},
]

# --- upstream databases -----------------------------------------------------------------------------------------
DB = {k: u("db:" + k) for k in ("pg", "sf", "csv", "gsheet")}
TB = {}


def table(db, schema, name, cols):
    key = f"{db}.{schema}.{name}"
    TB[key] = u("table:" + key)
    return {"id": TB[key], "schema": schema, "name": name,
            "columns": [{"name": c, "remoteType": t, "description": d} for c, t, d in cols]}


databases = [
    {"id": DB["pg"], "type": "DatabaseServer", "name": "analytics", "connectionType": "postgres",
     "hostName": "pg.internal.example", "port": 5432, "service": None,
     "tables": [
         table("pg", "public", "orders", [("id", "I8", "order key"), ("customer_id", "I8", None),
                                          ("amount", "R8", "in EUR"), ("status", "WSTR", None),
                                          ("created_at", "DBTIMESTAMP", None)]),
         table("pg", "public", "customers", [("id", "I8", None), ("name", "WSTR", "full name"),
                                             ("email", "WSTR", None), ("region", "WSTR", None)]),
         table("pg", "sales \"eu\"", "weird.table name", [("col \"q\"", "WSTR", None), ("a\\b", "I4", None),
                                                          (" spaced ", "WSTR", None), ("émoji_🚀", "WSTR", None)]),
     ]},
    {"id": DB["sf"], "type": "DatabaseServer", "name": "PROD_DB", "connectionType": "snowflake",
     "hostName": "myorg-myacct.snowflakecomputing.com", "port": 443, "service": "COMPUTE_WH",
     "tables": [
         table("sf", "PUBLIC", "EVENTS", [("EVENT_ID", "STR", None), ("TS", "DBTIMESTAMP", None),
                                          ("USER_ID", "STR", None)]),
         table("sf", "PUBLIC", "Users", [("ID", "STR", None), ("NAME", "STR", None)]),
     ]},
    {"id": DB["csv"], "type": "File", "name": "targets.csv", "connectionType": "textscan",
     "filePath": "C:\\data\\targets.csv",
     "tables": [table("csv", None, "targets.csv", [("region", "WSTR", None), ("target", "R8", None)])]},
    {"id": DB["gsheet"], "type": "CloudFile", "name": "Budget 2024", "connectionType": "google-sheets",
     "provider": "gsheets", "fileExtension": "gsheet", "mimeType": "application/vnd.google-apps.spreadsheet",
     "requestUrl": "https://docs.example.test/sheet/1",
     "tables": [table("gsheet", None, "Budget", [("line", "WSTR", None), ("eur", "R8", None)])]},
]

CS = {k: u("csql:" + k) for k in ("ok", "join", "bad")}
custom_sql = [
    {"id": CS["ok"], "name": "Custom SQL Query", "database": DB["pg"],
     "query": "SELECT o.id, o.amount FROM public.orders o WHERE o.status <> 'void'",
     "tables": [TB["pg.public.orders"]], "columns": [{"name": "id", "remoteType": "I8"},
                                                     {"name": "amount", "remoteType": "R8"}]},
    {"id": CS["join"], "name": "Custom SQL Query", "database": DB["sf"],
     "query": "select e.EVENT_ID, u.NAME from PUBLIC.EVENTS e join PUBLIC.\"Users\" u on u.ID = e.USER_ID",
     "tables": [TB["sf.PUBLIC.EVENTS"], TB["sf.PUBLIC.Users"]],
     "columns": [{"name": "EVENT_ID", "remoteType": "STR"}, {"name": "NAME", "remoteType": "STR"}]},
    {"id": CS["bad"], "name": "Custom SQL Query", "database": DB["pg"], "isUnsupportedCustomSql": True,
     "query": "EXEC dbo.[weird proc] @p = N'x'; -- Tableau could not parse this", "tables": [],
     "columns": [{"name": "x", "remoteType": "WSTR"}]},
]


def col(db_table, name):
    return {"table": TB[db_table], "column": name}


def csql_col(key, name):
    return {"table": CS[key], "column": name}


# --- published data sources ------------------------------------------------------------------------------------------
F = {}


def fid(key):
    F[key] = u("field:" + key)
    return F[key]


published = []


def pds(key, name, project, fields, **kw):
    d = {"id": u("pds:" + key), "luid": u("pds-luid:" + key), "name": name, "project": P[project],
         "createdAt": T0, "updatedAt": T1, "fields": fields, **kw}
    published.append(d)
    return d["id"]


ORDERS = pds("orders", "Orders (certified)", "sales", [
    {"id": fid("o.id"), "name": "Order Id", "type": "ColumnField", "dataType": "INTEGER", "role": "DIMENSION",
     "dataCategory": "ORDINAL", "columns": [col("pg.public.orders", "id")], "description": "primary key"},
    {"id": fid("o.amount"), "name": "Amount", "type": "ColumnField", "dataType": "REAL", "role": "MEASURE",
     "dataCategory": "QUANTITATIVE", "columns": [col("pg.public.orders", "amount")]},
    {"id": fid("o.status"), "name": "Status", "type": "ColumnField", "dataType": "STRING", "role": "DIMENSION",
     "dataCategory": "NOMINAL", "columns": [col("pg.public.orders", "status")], "isHidden": True},
    {"id": fid("o.net"), "name": "Net \"Amount\"", "type": "CalculatedField", "dataType": "REAL",
     "role": "MEASURE", "dataCategory": "QUANTITATIVE", "formula": "[Amount] / 1.19", "fields": [F["o.amount"]],
     "description": "without VAT"},
    {"id": fid("o.net2"), "name": "Net x2", "type": "CalculatedField", "dataType": "REAL", "role": "MEASURE",
     "dataCategory": "QUANTITATIVE", "formula": "[Net \"Amount\"] * 2 // calc over calc",
     "fields": [F["o.net"]]},
    {"id": fid("o.status.group"), "name": "Status (group)", "type": "GroupField", "dataType": "STRING",
     "role": "DIMENSION", "dataCategory": "NOMINAL", "fields": [F["o.status"]]},
    {"id": fid("o.amount.bin"), "name": "Amount (bin)", "type": "BinField", "dataType": "INTEGER",
     "role": "DIMENSION", "dataCategory": "ORDINAL", "fields": [F["o.amount"]]},
], description="Orders, certified", isCertified=True, certifier="ana.o'neil",
    certificationNote="Checked by finance 'Q1'", hasExtracts=True, owner="outpost_svc",
    tags=["certified", "sales/eu", "émoji 🚀"], tables=[TB["pg.public.orders"]])

CUSTOMERS = pds("customers", "Customers", "sales", [
    {"id": fid("c.id"), "name": "Customer Id", "type": "ColumnField", "dataType": "INTEGER", "role": "DIMENSION",
     "columns": [col("pg.public.customers", "id")]},
    {"id": fid("c.name"), "name": "Name", "type": "ColumnField", "dataType": "STRING", "role": "DIMENSION",
     "columns": [col("pg.public.customers", "name")], "description": "display name"},
    {"id": fid("c.region"), "name": "Region", "type": "ColumnField", "dataType": "STRING", "role": "DIMENSION",
     "columns": [col("pg.public.customers", "region")]},
    {"id": fid("c.geo"), "name": "Geography", "type": "HierarchyField", "fields": [F["c.region"], F["c.name"]]},
    {"id": fid("c.top"), "name": "Top customers", "type": "SetField", "fields": [F["c.name"]]},
    {"id": fid("c.combined"), "name": "Region & Name", "type": "CombinedField",
     "fields": [F["c.region"], F["c.name"]]},
], owner="ana.o'neil", tables=[TB["pg.public.customers"]])

pds("events", "Events.v2 \\ raw", "fin-deep", [
    {"id": fid("e.id"), "name": "EVENT_ID", "type": "ColumnField", "dataType": "STRING",
     "columns": [csql_col("join", "EVENT_ID")]},
    {"id": fid("e.name"), "name": "NAME", "type": "ColumnField", "dataType": "STRING",
     "columns": [csql_col("join", "NAME")]},
], customSql=[CS["join"]], description=" spaces around ", tags=[" padded tag "])

pds("weird", "weird/\"name\" 📊", "quoted", [
    {"id": fid("w.q"), "name": "col \"q\"", "type": "ColumnField", "dataType": "STRING",
     "columns": [col("pg.sales \"eu\".weird.table name", "col \"q\"")]},
    {"id": fid("w.bs"), "name": "a\\b", "type": "ColumnField", "dataType": "INTEGER",
     "columns": [col("pg.sales \"eu\".weird.table name", "a\\b")]},
], tables=[TB["pg.sales \"eu\".weird.table name"]])

pds("unsupported", "Unparsed SQL", "finance", [
    {"id": fid("u.x"), "name": "x", "type": "ColumnField", "dataType": "STRING", "columns": [csql_col("bad", "x")]},
], customSql=[CS["bad"]])

SECRET_PDS = pds("secret", "Restricted source", "secret", [
    {"id": fid("s.id"), "name": "Secret Id", "type": "ColumnField", "dataType": "STRING",
     "columns": [col("sf.PUBLIC.Users", "ID")]},
], tables=[TB["sf.PUBLIC.Users"]])

pds("budget", "Budget (Google Sheets)", "emoji", [
    {"id": fid("b.line"), "name": "line", "type": "ColumnField", "columns": [col("gsheet.None.Budget", "line")]},
    {"id": fid("b.eur"), "name": "eur", "type": "ColumnField", "dataType": "REAL", "role": "MEASURE",
     "columns": [col("gsheet.None.Budget", "eur")]},
])

# --- workbooks -------------------------------------------------------------------------------------------------------
workbooks = []


def wb(key, name, project, embedded, sheets, dashboards, **kw):
    w = {"id": u("wb:" + key), "luid": u("wb-luid:" + key), "name": name, "project": P[project],
         "createdAt": T0, "updatedAt": T1, "embeddedDatasources": embedded, "sheets": sheets,
         "dashboards": dashboards, **kw}
    workbooks.append(w)
    return w


def sheet(key, name, fields):
    return {"id": u("sheet:" + key), "luid": u("sheet-luid:" + key), "name": name, "fields": [F[f] for f in fields]}


def dash(key, name, sheet_keys):
    return {"id": u("dash:" + key), "luid": u("dash-luid:" + key), "name": name,
            "sheets": [u("sheet:" + s) for s in sheet_keys]}


# 1. Sales overview: an embedded source over the same table as the published Orders source, and one that uses the
#    published sources (DatasourceFields whose remoteField is a published field).
wb("sales", "Sales \"Overview\" / 2024", "sales", [
    {"id": u("eds:sales.direct"), "name": "orders (analytics)", "hasExtracts": False,
     "tables": [TB["pg.public.orders"]], "fields": [
         {"id": fid("sd.id"), "name": "id", "type": "ColumnField", "dataType": "INTEGER", "role": "DIMENSION",
          "columns": [col("pg.public.orders", "id")]},
         {"id": fid("sd.amount"), "name": "amount", "type": "ColumnField", "dataType": "REAL", "role": "MEASURE",
          "dataCategory": "QUANTITATIVE", "columns": [col("pg.public.orders", "amount")]},
         {"id": fid("sd.big"), "name": "Big order?", "type": "CalculatedField", "dataType": "BOOLEAN",
          "role": "DIMENSION", "formula": "[amount] > 1000", "fields": [F["sd.amount"]]},
         {"id": fid("sd.label"), "name": "Label 🚀", "type": "CalculatedField", "dataType": "STRING",
          "role": "DIMENSION", "formula": "IF [Big order?] THEN 'big' ELSE \"small\" END",
          "fields": [F["sd.big"]], "description": "calc over calc", "isHidden": True},
     ]},
    {"id": u("eds:sales.published"), "name": "Orders (certified)", "hasExtracts": True,
     "upstreamDatasources": [ORDERS, CUSTOMERS], "fields": [
         {"id": fid("sp.amount"), "name": "Amount", "type": "DatasourceField", "remoteField": F["o.amount"]},
         {"id": fid("sp.net2"), "name": "Net x2", "type": "DatasourceField", "remoteField": F["o.net2"]},
         {"id": fid("sp.region"), "name": "Region", "type": "DatasourceField", "remoteField": F["c.region"]},
         {"id": fid("sp.ratio"), "name": "Net share", "type": "CalculatedField", "dataType": "REAL",
          "role": "MEASURE", "formula": "[Net x2] / SUM([Amount])", "fields": [F["sp.net2"], F["sp.amount"]]},
     ]},
], [sheet("sales.s1", "Revenue by region", ["sp.amount", "sp.region", "sp.ratio"]),
    sheet("sales.s2", "Big orders", ["sd.big", "sd.label", "sd.id"]),
    sheet("sales.s3", "Sheet 3", ["sd.amount"])],
    [dash("sales.d1", "Overview", ["sales.s1", "sales.s2"]), dash("sales.d2", "Detail", ["sales.s3"])],
    description="Sales dashboard with \"quotes\"", owner="outpost_svc", tags=["sales", "q'1"])

# 2. The same workbook name in another project (Finance / "FY24" › Reports), with two embedded data sources of the
#    same name, custom SQL, a CSV file and a hidden field.
wb("fin", "Sales \"Overview\" / 2024", "fin-reports", [
    {"id": u("eds:fin.a"), "name": "Data", "customSql": [CS["ok"]], "fields": [
        {"id": fid("fa.id"), "name": "id", "type": "ColumnField", "dataType": "INTEGER",
         "columns": [csql_col("ok", "id")]},
        {"id": fid("fa.amount"), "name": "amount", "type": "ColumnField", "dataType": "REAL", "role": "MEASURE",
         "columns": [csql_col("ok", "amount")], "isHidden": True, "description": "hidden"},
    ]},
    {"id": u("eds:fin.b"), "name": "Data", "tables": [TB["csv.None.targets.csv"]], "fields": [
        {"id": fid("fb.region"), "name": "region", "type": "ColumnField", "dataType": "STRING",
         "columns": [col("csv.None.targets.csv", "region")]},
        {"id": fid("fb.target"), "name": "target", "type": "ColumnField", "dataType": "REAL", "role": "MEASURE",
         "columns": [col("csv.None.targets.csv", "target")]},
    ]},
], [sheet("fin.s1", "Targets", ["fb.region", "fb.target"]), sheet("fin.s2", "Actuals", ["fa.id"])],
    [dash("fin.d1", "Targets vs actuals", ["fin.s1", "fin.s2"])], owner="ana.o'neil")

# 3. Deep project, Snowflake custom SQL through a published source, unsupported SQL.
wb("deep", "Q1.v2 report", "fin-deep", [
    {"id": u("eds:deep.a"), "name": "events", "upstreamDatasources": [u("pds:events")], "fields": [
        {"id": fid("da.id"), "name": "EVENT_ID", "type": "DatasourceField", "remoteField": F["e.id"]},
    ]},
    {"id": u("eds:deep.b"), "name": "unparsed", "customSql": [CS["bad"]], "fields": [
        {"id": fid("db.x"), "name": "x", "type": "ColumnField", "columns": [csql_col("bad", "x")]},
    ]},
], [sheet("deep.s1", "Events", ["da.id"]), sheet("deep.s2", "Unparsed", ["db.x"])], [], owner="ana.o'neil")

# 4. The restricted project's workbook (the PATs cannot read it).
wb("secret", "Restricted workbook", "secret", [
    {"id": u("eds:secret"), "name": "secret data", "upstreamDatasources": [SECRET_PDS], "fields": [
        {"id": fid("x.id"), "name": "Secret Id", "type": "DatasourceField", "remoteField": F["s.id"]},
    ]},
], [sheet("secret.s1", "Secret sheet", ["x.id"])], [dash("secret.d1", "Secret", ["secret.s1"])],
    owner="bo\\domain")

# 5.–7. More workbooks for paging, with hostile names.
wb("spaces", "  padded workbook  ", "spaces", [
    {"id": u("eds:spaces"), "name": " orders ", "tables": [TB["pg.public.orders"]], "fields": [
        {"id": fid("sp2.status"), "name": " status ", "type": "ColumnField", "dataType": "STRING",
         "columns": [col("pg.public.orders", "status")]},
    ]},
], [sheet("spaces.s1", " sheet ", ["sp2.status"])], [], owner="outpost_svc")
wb("emoji", "📊 Émoji workbook", "emoji", [
    {"id": u("eds:emoji"), "name": "budget", "upstreamDatasources": [u("pds:budget")], "fields": [
        {"id": fid("em.eur"), "name": "eur", "type": "DatasourceField", "remoteField": F["b.eur"]},
        {"id": fid("em.k"), "name": "€ thousands", "type": "CalculatedField", "dataType": "REAL",
         "role": "MEASURE", "formula": "[eur] / 1000", "fields": [F["em.eur"]]},
    ]},
], [sheet("emoji.s1", "Budget 🚀", ["em.eur", "em.k"])], [dash("emoji.d1", "Budget", ["emoji.s1"])])
wb("default", "back\\slash.workbook", "root", [
    {"id": u("eds:default"), "name": "events", "tables": [TB["sf.PUBLIC.EVENTS"]], "fields": [
        {"id": fid("df.ts"), "name": "TS", "type": "ColumnField", "dataType": "DATETIME",
         "columns": [col("sf.PUBLIC.EVENTS", "TS")]},
    ]},
], [sheet("default.s1", "Timeline", ["df.ts"])], [dash("default.d1", "Timeline", ["default.s1"])],
    owner="outpost_svc")

site = {
    "site": {"id": u("site"), "name": "Outpost \"hostile\" site", "contentUrl": "outpost-hostile"},
    "users": users, "pats": pats, "projects": projects, "databases": databases, "customSql": custom_sql,
    "publishedDatasources": published, "workbooks": workbooks,
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(site, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(out)
