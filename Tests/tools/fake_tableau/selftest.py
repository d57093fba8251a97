"""Proofs that the fake Tableau server behaves as documented, run by Tests/tools/test.sh before `swift test`.

Starts the fake on sites/hostile.json and drives it with tableauserverclient (Tableau's own Python client): PAT
sign-in (XML), version negotiation, Pager over projects/workbooks/data sources, metadata.query and
metadata.paginated_query, an invalid query, sign-out. Then plain urllib checks: JSON sign-in, one session per PAT,
401s, REST page-size rules, the connector's six queries (validated and shaped), paging, offset, the page-size
warning, the node limit, permissions, every fault, the generated site, and statistics.

    python3 Tests/tools/fake_tableau/selftest.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tableauserverclient as TSC  # noqa: E402
from graphql import parse, validate  # noqa: E402

from metadata import SCHEMA  # noqa: E402

SITE = os.path.join(HERE, "sites", "hostile.json")
PAT, SECRET, CONTENT_URL = "outpost-pat", "s3cr3t/+=pat", "outpost-hostile"

# The connector's queries (README.md, "The connector's queries"), in the form that is valid on Tableau.
DB = "__typename id name connectionType ... on DatabaseServer { hostName port service }"
TABLE = f"id name schema fullName connectionType database {{ {DB} }}"
PAGE = "pageInfo { hasNextPage endCursor }"
Q_WORKBOOKS = f"""query Workbooks($first: Int, $after: String, $project: String) {{
  workbooksConnection(first: $first, after: $after, filter: {{projectNameWithin: [$project]}}) {{
    nodes {{ id luid name uri projectLuid projectName createdAt updatedAt description owner {{ username name }}
      tags {{ name }} sheets {{ id luid name path }} dashboards {{ id luid name path sheets {{ id }} }}
      embeddedDatasources {{ id }} }}
    {PAGE} totalCount }} }}"""
Q_SHEETS = f"""query Sheets($first: Int, $after: String, $ids: [ID]) {{
  sheetsConnection(first: $first, after: $after, filter: {{idWithin: $ids}}) {{
    nodes {{ id datasourceFields {{ id }} }} {PAGE} }} }}"""
Q_EMBEDDED = f"""query Embedded($first: Int, $after: String, $ids: [ID]) {{
  embeddedDatasourcesConnection(first: $first, after: $after, filter: {{idWithin: $ids}}) {{
    nodes {{ id name hasExtracts workbook {{ id }}
      upstreamDatasources {{ id luid name projectName projectVizportalUrlId }}
      upstreamTables {{ {TABLE} }} fields {{ id name }} }} {PAGE} }} }}"""
Q_PUBLISHED = f"""query Published($first: Int, $after: String, $project: String) {{
  publishedDatasourcesConnection(first: $first, after: $after, filter: {{projectNameWithin: [$project]}}) {{
    nodes {{ id luid name uri projectName projectVizportalUrlId description isCertified certifier {{ username }}
      certificationNote hasExtracts owner {{ username }} tags {{ name }} createdAt updatedAt
      upstreamDatasources {{ id luid name projectName }} upstreamTables {{ {TABLE} }} fields {{ id name }} }}
    {PAGE} }} }}"""
DS = "datasource { __typename id name ... on PublishedDatasource { luid projectName } }"
Q_FIELDS = f"""query Fields($first: Int, $after: String, $ids: [ID]) {{
  fieldsConnection(first: $first, after: $after, filter: {{idWithin: $ids}}) {{
    nodes {{ __typename id name description isHidden {DS}
      upstreamFields {{ id name {DS} }}
      upstreamColumns {{ name table {{ __typename id ... on DatabaseTable {{ {TABLE} }} ... on CustomSQLTable {{ name }} }} }}
      ... on ColumnField {{ dataType role dataCategory }}
      ... on CalculatedField {{ dataType role formula }}
      ... on DatasourceField {{ remoteField {{ id name {DS} }} }} }} {PAGE} }} }}"""
Q_CUSTOM_SQL = f"""query CustomSql($first: Int, $after: String, $ids: [ID]) {{
  customSQLTablesConnection(first: $first, after: $after, filter: {{idWithin: $ids}}) {{
    nodes {{ id name query connectionType isUnsupportedCustomSql database {{ {DB} }} tables {{ {TABLE} }} }}
    {PAGE} }} }}"""
# As the brief first had them: projectLuid on PublishedDatasource is not in Tableau's schema.
Q_PUBLISHED_PROJECT_LUID = Q_PUBLISHED.replace("projectName projectVizportalUrlId description",
                                               "projectLuid projectName description")


class Fake:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
                                      "--exit-on-stdin-eof", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("LISTENING http://127.0.0.1:"):
            raise RuntimeError(f"fake did not start: {line!r}")
        self.base = line.split()[1]

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()

    def call(self, method, path, body=None, headers=None):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def signin_json(self, name=PAT, secret=SECRET, site=CONTENT_URL):
        body = {"credentials": {"personalAccessTokenName": name, "personalAccessTokenSecret": secret,
                                "site": {"contentUrl": site}}}
        st, _, b = self.call("POST", "/api/3.23/auth/signin", body,
                             {"Content-Type": "application/json", "Accept": "application/json"})
        return st, json.loads(b)

    def token(self, name=PAT, secret=SECRET):
        st, b = self.signin_json(name, secret)
        assert st == 200, b
        return b["credentials"]["token"]

    def gql(self, token, query, variables=None):
        st, h, b = self.call("POST", "/api/metadata/graphql", {"query": query, "variables": variables or {}},
                             {"Content-Type": "application/json", "X-Tableau-Auth": token})
        return st, h, (json.loads(b) if b else None)

    def stats(self):
        return json.loads(self.call("GET", "/_fake/stats")[2])


class TSCTests(unittest.TestCase):
    """tableauserverclient, Tableau's own client, against the fake."""

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake("--site-file", SITE)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def test_tsc_end_to_end(self):
        server = TSC.Server(self.fake.base, use_server_version=True)
        server.auth.sign_in(TSC.PersonalAccessTokenAuth(PAT, SECRET, site_id=CONTENT_URL))
        self.assertEqual(server.version, "3.23")  # negotiated through serverInfo at sign-in
        self.assertTrue(server.auth_token and server.site_id and server.user_id)
        opts = TSC.RequestOptions(pagesize=2)
        projects = list(TSC.Pager(server.projects, opts))
        self.assertEqual(len(projects), 10)
        self.assertEqual(sorted(p.name for p in projects).count("Reports"), 2)
        self.assertIn("Restricted", [p.name for p in projects])  # REST lists the project the PAT cannot read
        deep = next(p for p in projects if p.name == "Q1.v2 \\ archive")
        parent = next(p for p in projects if p.id == deep.parent_id)
        self.assertEqual(parent.name, "Reports")
        workbooks = list(TSC.Pager(server.workbooks, opts))
        self.assertEqual(len(workbooks), 6)  # not the restricted project's
        self.assertEqual([w.name for w in workbooks].count('Sales "Overview" / 2024'), 2)
        self.assertTrue(all(w.project_id for w in workbooks))
        datasources = list(TSC.Pager(server.datasources, opts))
        self.assertEqual(len(datasources), 6)
        certified = next(d for d in datasources if d.name == "Orders (certified)")
        self.assertTrue(certified.certified)
        r = server.metadata.query("{ workbooksConnection(first: 3) { nodes { id name } "
                                  "pageInfo { hasNextPage endCursor } totalCount } }")
        self.assertEqual(r["data"]["workbooksConnection"]["totalCount"], 7)
        q = ("query($first: Int, $afterToken: String) { fieldsConnection(first: $first, after: $afterToken) "
             "{ nodes { id name } pageInfo { hasNextPage endCursor } } }")
        pages = server.metadata.paginated_query(q, variables={"first": 7})["pages"]
        self.assertGreater(len(pages), 3)
        ids = [n["id"] for p in pages for n in p["data"]["fieldsConnection"]["nodes"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(len(ids), 40)
        with self.assertRaises(Exception):
            server.metadata.query("{ workbooksConnection { nodes { nope } } }", abort_on_error=True)
        server.auth.sign_out()
        st = self.fake.stats()
        self.assertEqual(st["signOuts"], 1)
        self.assertEqual(st["activeSessions"], 0)


class HTTPTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake("--site-file", SITE)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.call("DELETE", "/_fake/faults")
        self.fake.call("POST", "/_fake/config", {"max_page_size": 1000, "node_limit": 20000})

    # --- REST ---------------------------------------------------------------------------------------------------
    def test_json_signin_and_errors(self):
        st, b = self.fake.signin_json()
        self.assertEqual(st, 200)
        c = b["credentials"]
        self.assertTrue(c["token"] and c["estimatedTimeToExpiration"] and c["site"]["id"] and c["user"]["id"])
        self.assertEqual(c["site"]["contentUrl"], CONTENT_URL)
        st, b = self.fake.signin_json(secret="wrong")
        self.assertEqual((st, b["error"]["code"]), (401, "401001"))
        st, b = self.fake.signin_json(site="no-such-site")
        self.assertEqual((st, b["error"]["code"]), (401, "401001"))
        st, _, body = self.fake.call("POST", "/api/3.23/auth/signin",
                                     b'<tsRequest><credentials personalAccessTokenName="x" '
                                     b'personalAccessTokenSecret="y"><site contentUrl=""/></credentials></tsRequest>')
        self.assertEqual(st, 401)
        self.assertIn(b'<error code="401001">', body)

    def test_one_session_per_pat(self):
        t1 = self.fake.token()
        self.assertEqual(self.fake.gql(t1, "{ workbooks { id } }")[0], 200)
        t2 = self.fake.token()
        st, _, b = self.fake.gql(t1, "{ workbooks { id } }")
        self.assertEqual(st, 401)
        self.assertEqual(b["error"]["code"], "401002")
        self.assertEqual(self.fake.gql(t2, "{ workbooks { id } }")[0], 200)
        t3 = self.fake.token("second pat", "another-secret")  # another PAT: its own session
        self.assertEqual(self.fake.gql(t2, "{ workbooks { id } }")[0], 200)
        self.assertEqual(self.fake.gql(t3, "{ workbooks { id } }")[0], 200)

    def test_rest_requires_token_and_pages(self):
        st, b = self.fake.signin_json()
        token, site = b["credentials"]["token"], b["credentials"]["site"]["id"]
        st, _, body = self.fake.call("GET", f"/api/3.23/sites/{site}/projects")
        self.assertEqual(st, 401)
        self.assertIn(b"401002", body)
        h = {"X-Tableau-Auth": token, "Accept": "application/json"}
        st, _, body = self.fake.call("GET", f"/api/3.23/sites/{site}/projects?pageSize=3&pageNumber=2", headers=h)
        doc = json.loads(body)
        self.assertEqual(doc["pagination"], {"pageNumber": "2", "pageSize": "3", "totalAvailable": "10"})
        self.assertEqual(len(doc["projects"]["project"]), 3)
        self.assertIn("parentProjectId", doc["projects"]["project"][0])
        st, _, body = self.fake.call("GET", f"/api/3.23/sites/{site}/workbooks?pageSize=1001", headers=h)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "400006")
        st, _, body = self.fake.call("GET", f"/api/3.23/sites/{site}", headers=h)
        self.assertEqual(json.loads(body)["site"]["name"], 'Outpost "hostile" site')
        st, _, body = self.fake.call("GET", f"/api/3.23/sites/{site}/users?pageSize=2",
                                     headers={"X-Tableau-Auth": token})
        self.assertIn(b'totalAvailable="3"', body)

    # --- the connector's queries -------------------------------------------------------------------------------
    def test_connector_queries_validate(self):
        for q in (Q_WORKBOOKS, Q_SHEETS, Q_EMBEDDED, Q_PUBLISHED, Q_FIELDS, Q_CUSTOM_SQL):
            self.assertEqual(validate(SCHEMA, parse(q)), [], q)
        errs = validate(SCHEMA, parse(Q_PUBLISHED_PROJECT_LUID))
        self.assertTrue(any("projectLuid" in e.message for e in errs))
        for bad in ("{ workbooksConnection(last: 2) { nodes { id } } }",
                    "{ workbooksConnection { pageInfo { hasPreviousPage startCursor } } }",
                    "{ sheetsConnection(filter: {projectNameWithin: [\"x\"]}) { nodes { id } } }"):
            self.assertNotEqual(validate(SCHEMA, parse(bad)), [], bad)

    def walk(self, token, query, root, variables, first=2):
        nodes, after, pages = [], None, 0
        while True:
            st, _, b = self.fake.gql(token, query, {**variables, "first": first, "after": after})
            self.assertEqual(st, 200)
            conn = b["data"][root]
            nodes += conn["nodes"]
            pages += 1
            if not conn["pageInfo"]["hasNextPage"]:
                return nodes, pages, b
            after = conn["pageInfo"]["endCursor"]

    def test_connector_flow_on_hostile_site(self):
        token = self.fake.token()
        wbs, _, _ = self.walk(token, Q_WORKBOOKS, "workbooksConnection", {"project": "Reports"}, first=1)
        self.assertEqual(len(wbs), 1)  # "Reports" exists twice (Finance and Sales); only Finance's has one
        self.assertEqual(wbs[0]["projectName"], "Reports")
        wbs, _, _ = self.walk(token, Q_WORKBOOKS, "workbooksConnection", {"project": "Sales"})
        wb = wbs[0]
        self.assertEqual(wb["owner"]["username"], "outpost_svc")
        self.assertEqual(len(wb["sheets"]), 3)
        self.assertEqual(len(wb["dashboards"][0]["sheets"]), 2)
        sheet_ids = [s["id"] for s in wb["sheets"]]
        sheets, pages, _ = self.walk(token, Q_SHEETS, "sheetsConnection", {"ids": sheet_ids})
        self.assertEqual((len(sheets), pages), (3, 2))
        field_ids = sorted({f["id"] for s in sheets for f in s["datasourceFields"]})
        eds_ids = [e["id"] for e in wb["embeddedDatasources"]]
        eds, _, _ = self.walk(token, Q_EMBEDDED, "embeddedDatasourcesConnection", {"ids": eds_ids})
        by_name = {e["name"]: e for e in eds}
        direct = by_name["orders (analytics)"]
        self.assertEqual([t["fullName"] for t in direct["upstreamTables"]], ["[public].[orders]"])
        self.assertEqual(direct["upstreamTables"][0]["database"]["hostName"], "pg.internal.example")
        self.assertEqual(direct["upstreamTables"][0]["database"]["port"], 5432)
        viapub = by_name["Orders (certified)"]
        self.assertEqual(sorted(d["name"] for d in viapub["upstreamDatasources"]), ["Customers", "Orders (certified)"])
        self.assertIn("[public].[orders]", [t["fullName"] for t in viapub["upstreamTables"]])
        fields, _, _ = self.walk(token, Q_FIELDS, "fieldsConnection", {"ids": field_ids}, first=3)
        self.assertEqual(len(fields), len(field_ids))
        kinds = {f["__typename"] for f in fields}
        self.assertTrue({"ColumnField", "CalculatedField", "DatasourceField"} <= kinds)
        label = next(f for f in fields if f["name"] == "Label 🚀")
        self.assertTrue(label["isHidden"])
        self.assertEqual(label["upstreamFields"][0]["name"], "Big order?")  # calculated over calculated
        self.assertEqual([c["name"] for c in label["upstreamColumns"]], ["amount"])  # transitively
        remote = next(f for f in fields if f["__typename"] == "DatasourceField" and f["name"] == "Amount")
        self.assertEqual(remote["remoteField"]["datasource"]["__typename"], "PublishedDatasource")
        self.assertEqual(remote["remoteField"]["datasource"]["projectName"], "Sales")
        self.assertEqual(remote["upstreamFields"][0]["id"], remote["remoteField"]["id"])
        pub, _, _ = self.walk(token, Q_PUBLISHED, "publishedDatasourcesConnection", {"project": "Sales"})
        orders = next(p for p in pub if p["name"] == "Orders (certified)")
        self.assertTrue(orders["isCertified"])
        self.assertEqual(orders["certifier"]["username"], "ana.o'neil")
        self.assertEqual([t["name"] for t in orders["tags"]], ["certified", "sales/eu", "émoji 🚀"])
        st, _, b = self.fake.gql(token, "{ customSQLTables { id isUnsupportedCustomSql } }")
        csql_ids = [c["id"] for c in b["data"]["customSQLTables"]]
        csql, _, _ = self.walk(token, Q_CUSTOM_SQL, "customSQLTablesConnection", {"ids": csql_ids})
        bad = [c for c in csql if c["isUnsupportedCustomSql"]]
        self.assertEqual(len(bad), 1)
        self.assertEqual(bad[0]["tables"], [])
        join = next(c for c in csql if "join" in c["query"])
        self.assertEqual(join["connectionType"], "snowflake")
        self.assertEqual(sorted(t["name"] for t in join["tables"]), ["EVENTS", "Users"])

    def test_paging_offset_and_page_size(self):
        token = self.fake.token()
        q = "query($first: Int, $after: String, $offset: Int) { fieldsConnection(first: $first, after: $after, " \
            "offset: $offset) { nodes { id } pageInfo { hasNextPage endCursor } totalCount } }"
        _, _, b = self.fake.gql(token, q, {"first": 5, "offset": 35})
        conn = b["data"]["fieldsConnection"]
        self.assertEqual((len(conn["nodes"]), conn["pageInfo"]["hasNextPage"], conn["totalCount"]), (5, False, 40))
        _, _, b = self.fake.gql(token, q, {"first": 5, "offset": 1, "after": conn["pageInfo"]["endCursor"]})
        self.assertIsNone(b["data"])
        self.assertIn("Offset", b["errors"][0]["message"])
        _, _, b = self.fake.gql(token, q, {"first": 5, "offset": 40})
        self.assertEqual(b["data"]["fieldsConnection"]["pageInfo"], {"hasNextPage": False, "endCursor": None})
        self.fake.call("POST", "/_fake/config", {"max_page_size": 10})
        _, _, b = self.fake.gql(token, q, {"first": 25})
        self.assertEqual(len(b["data"]["fieldsConnection"]["nodes"]), 10)
        warn = b["errors"][0]["extensions"]
        self.assertEqual((warn["code"], warn["severity"]), ("MAX_PAGE_SIZE_EXCEEDED", "WARNING"))

    def test_node_limit(self):
        token = self.fake.token()
        self.fake.call("POST", "/_fake/config", {"node_limit": 30})
        _, _, b = self.fake.gql(token, "{ fieldsConnection(first: 40) { nodes { id datasource { id } } } }")
        self.assertIsNone(b["data"])
        self.assertEqual(b["errors"][0]["extensions"]["code"], "NODE_LIMIT_EXCEEDED")
        self.assertIn("30 node limit", b["errors"][0]["message"])
        _, _, b = self.fake.gql(token, "{ fieldsConnection(first: 5) { nodes { id } } }")
        self.assertNotIn("errors", b)

    def test_permissions(self):
        token = self.fake.token()
        _, _, b = self.fake.gql(token, "{ workbooksConnection(first: 10) { nodes { id name projectName owner "
                                       "{ username } sheets { id } } totalCount } }")
        nodes = b["data"]["workbooksConnection"]["nodes"]
        hidden = [i for i, n in enumerate(nodes) if n["name"] is None]
        self.assertEqual(len(hidden), 1)
        self.assertEqual(nodes[hidden[0]]["sheets"], [])
        err = b["errors"][0]
        self.assertEqual(err["path"], ["workbooksConnection", "nodes", hidden[0]])
        self.assertEqual(err["extensions"]["code"], "PERMISSION_DENIED")
        _, _, b = self.fake.gql(token, '{ workbooksConnection(filter: {projectNameWithin: ["Restricted", "Sales"]}) '
                                       "{ nodes { name } totalCount } }")
        self.assertEqual(b["data"]["workbooksConnection"]["totalCount"], 1)
        self.assertEqual(b["errors"][0]["extensions"]["code"], "PERMISSIONS_MODE_SWITCHED")
        _, _, b = self.fake.gql(token, "{ workbooksConnection(permissionMode: FILTER_OBFUSCATED_RESULTS) "
                                       "{ totalCount } }")
        self.assertEqual(b["data"]["workbooksConnection"]["totalCount"], 6)
        self.assertNotIn("errors", b)

    # --- faults -----------------------------------------------------------------------------------------------
    def test_status_faults(self):
        token = self.fake.token()
        self.fake.call("POST", "/_fake/faults", {"faults": ["429@2x2;retry-after=3", "503@5"]})
        codes = []
        for _ in range(6):
            st, h, _ = self.fake.gql(token, "{ workbooks { id } }")
            codes.append((st, h.get("Retry-After")))
        self.assertEqual(codes, [(200, None), (429, "3"), (429, "3"), (200, None), (503, "1"), (200, None)])

    def test_partial_error_and_node_limit_faults(self):
        token = self.fake.token()
        self.fake.call("POST", "/_fake/faults", {"faults": ["partial-error@1", "node-limit@2"]})
        _, _, b = self.fake.gql(token, "{ workbooks { id } }")
        self.assertTrue(b["data"]["workbooks"])
        self.assertEqual(b["errors"][-1]["extensions"]["code"], "INTERNAL_SERVER_ERROR")
        _, _, b = self.fake.gql(token, "{ workbooks { id } }")
        self.assertIsNone(b["data"])
        self.assertEqual(b["errors"][0]["extensions"]["code"], "NODE_LIMIT_EXCEEDED")

    def test_expire_session_fault(self):
        self.fake.call("POST", "/_fake/faults", {"faults": ["expire-session-after=2"]})
        token = self.fake.token()
        self.assertEqual(self.fake.gql(token, "{ workbooks { id } }")[0], 200)
        self.assertEqual(self.fake.gql(token, "{ workbooks { id } }")[0], 200)
        st, _, b = self.fake.gql(token, "{ workbooks { id } }")
        self.assertEqual((st, b["error"]["code"]), (401, "401002"))
        self.assertEqual(self.fake.gql(token, "{ workbooks { id } }")[0], 401)  # the session is gone
        self.fake.call("DELETE", "/_fake/faults")
        token = self.fake.token()  # sign in again: works
        self.assertEqual(self.fake.gql(token, "{ workbooks { id } }")[0], 200)

    def test_stats(self):
        self.fake.call("POST", "/_fake/stats/reset")
        token = self.fake.token()
        self.fake.gql(token, "{ workbooksConnection(first: 3) { totalCount } sheets { id } }")
        self.fake.gql("bogus", "{ workbooks { id } }")
        st = self.fake.stats()
        self.assertEqual(st["signIns"], 1)
        self.assertEqual(st["graphqlRequests"], 1)
        self.assertEqual(st["graphqlByRootField"], {"workbooksConnection": 1, "sheets": 1})
        self.assertEqual(st["maxPageSizeAsked"], 3)
        self.assertEqual(st["unauthorized"], 1)


class GeneratedSiteTests(unittest.TestCase):
    def test_generated_site(self):
        t0 = time.monotonic()
        fake = Fake("--generate", "workbooks=2000,sheets=10,fields=100")
        try:
            self.assertLess(time.monotonic() - t0, 10)
            st, b = fake.signin_json("bench", "bench-secret", "generated")
            token = b["credentials"]["token"]
            _, _, b = fake.gql(token, "{ fieldsConnection(first: 1000) { totalCount nodes { id } "
                                      "pageInfo { endCursor } } }")
            conn = b["data"]["fieldsConnection"]
            self.assertEqual(conn["totalCount"], 200000 + 200 * 50)
            _, _, b = fake.gql(token, Q_WORKBOOKS, {"first": 50, "project": "Generated 003"})
            self.assertEqual(b["data"]["workbooksConnection"]["totalCount"], 200)
            wb = b["data"]["workbooksConnection"]["nodes"][0]
            self.assertEqual(len(wb["sheets"]), 10)
            _, _, b = fake.gql(token, Q_SHEETS, {"first": 10, "ids": [s["id"] for s in wb["sheets"]]})
            fids = [f["id"] for s in b["data"]["sheetsConnection"]["nodes"] for f in s["datasourceFields"]]
            self.assertEqual(len(fids), 100)
            _, _, b = fake.gql(token, Q_FIELDS, {"first": 100, "ids": fids})
            kinds = [n["__typename"] for n in b["data"]["fieldsConnection"]["nodes"]]
            self.assertEqual((kinds.count("ColumnField"), kinds.count("CalculatedField"),
                              kinds.count("DatasourceField")), (90, 5, 5))
        finally:
            fake.stop()


if __name__ == "__main__":
    res = unittest.main(argv=[sys.argv[0], "-q"] + sys.argv[1:], exit=False, verbosity=1).result
    sys.exit(0 if res.wasSuccessful() else 1)
