"""Proofs that the fake is honest, run by Tests/tools/test.sh before `swift test` (fails loudly, < 30 s).

- JWTs made by snowflake-connector-python's own key-pair code are accepted; tampered, wrong-fingerprint,
  wrong-case, suffixed-account, expired, over-long, empty-sub and future JWTs are rejected; jwt_reference.py
  prints exactly what the connector makes.
- jsonv2 cell encodings.
- Over HTTPS with a private CA, with plain HTTP requests: auth, User-Agent, partitions and gzip, 202 polling,
  requestId de-duplication, faults (503, dropped connections, lost responses), 408, 422, cancel, role denial,
  warehouse rule, too-much-data, hostile identifiers, every type family, SHOW keys, ACCOUNT_USAGE, statistics.
- If OUTPOST_SNOWFLAKE_SQLAPI_SPEC names Snowflake's sqlapi.yaml, every collected response body is validated
  against it (validate_spec.py, with the system Python's openapi-schema-validator).

    .build/fake-snowflake-venv/bin/python Tests/tools/fake_snowflake/selftest.py
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from auth import AuthError, Authenticator, fingerprint  # noqa: E402
from jwt_reference import connector_jwt  # noqa: E402

TMP = tempfile.mkdtemp(prefix="fake-snowflake-selftest-")
RESPONSES: list[dict] = []  # (operation, status, body) for spec validation


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


KEY1, KEY2, KEY3 = new_key(), new_key(), new_key()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims: dict, key, header=None) -> str:
    from cryptography.hazmat.primitives.asymmetric import padding

    h = b64url(json.dumps(header or {"alg": "RS256", "typ": "JWT"}).encode())
    c = b64url(json.dumps(claims).encode())
    sig = key.sign(f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{h}.{c}.{b64url(sig)}"


class JWTTests(unittest.TestCase):
    def setUp(self):
        self.now = 1_700_000_000
        self.auth = Authenticator("myorg-myacct.us-east-1", {
            "OUTPOST_SVC": {"rsa_public_key": pem_public(KEY1), "rsa_public_key_2": pem_public(KEY2)}},
            leeway_seconds=60, clock=lambda: self.now + 10)

    def ok(self, token):
        return self.auth.authenticate(f"Bearer {token}", "KEYPAIR_JWT")

    def bad(self, token, reason_part):
        with self.assertRaises(AuthError) as cm:
            self.ok(token)
        self.assertEqual(cm.exception.code, "390144")
        self.assertIn(reason_part, cm.exception.reason)

    def test_connector_made_jwts_accepted(self):
        for account in ("myorg-myacct.us-east-1", "MYORG-MYACCT", "myorg-myacct.us-east-1.aws"):
            token = connector_jwt(pem_private(KEY1), account, "outpost_svc", self.now, 60)
            p = self.ok(token)
            self.assertEqual((p.user, p.key_slot), ("OUTPOST_SVC", "RSA_PUBLIC_KEY"))
        # rotation: the second registered key is accepted too
        p = self.ok(connector_jwt(pem_private(KEY2), "myorg-myacct", "outpost_svc", self.now, 3600))
        self.assertEqual(p.key_slot, "RSA_PUBLIC_KEY_2")

    def test_connector_claims_shape(self):
        token = connector_jwt(pem_private(KEY1), "myorg-myacct.us-east-1", "outpost_svc", self.now, 60)
        h, c, _ = token.split(".")
        self.assertEqual(json.loads(base64.urlsafe_b64decode(h + "==")), {"alg": "RS256", "typ": "JWT"})
        claims = json.loads(base64.urlsafe_b64decode(c + "=="))
        fp = fingerprint(KEY1.public_key())
        self.assertEqual(claims, {"iss": f"MYORG-MYACCT.OUTPOST_SVC.{fp}", "sub": "MYORG-MYACCT.OUTPOST_SVC",
                                  "iat": self.now, "exp": self.now + 60})
        self.assertTrue(fp.startswith("SHA256:") and len(fp) == 7 + 44 and fp.endswith("="))

    def test_reference_cli_matches_connector(self):
        path = os.path.join(TMP, "k1.pem")
        with open(path, "wb") as f:
            f.write(pem_private(KEY1))
        out = subprocess.run([sys.executable, os.path.join(HERE, "jwt_reference.py"), "--key", path,
                              "--account", "myorg-myacct.us-east-1", "--user", "outpost_svc",
                              "--iat", str(self.now), "--exp", str(self.now + 120)],
                             check=True, capture_output=True, text=True).stdout.strip()
        self.assertEqual(out, connector_jwt(pem_private(KEY1), "myorg-myacct.us-east-1", "outpost_svc",
                                            self.now, 120))
        self.ok(out)

    def test_rejections(self):
        fp1 = fingerprint(KEY1.public_key())
        base = {"iss": f"MYORG-MYACCT.OUTPOST_SVC.{fp1}", "sub": "MYORG-MYACCT.OUTPOST_SVC",
                "iat": self.now, "exp": self.now + 60}
        self.ok(forge(base, KEY1))
        good = forge(base, KEY1)
        h, c, s = good.split(".")
        tampered_sig = f"{h}.{c}.{s[:-4]}{'AAAA' if s[-4:] != 'AAAA' else 'BBBB'}"
        self.bad(tampered_sig, "signature")
        tampered_claims = f"{h}.{b64url(json.dumps({**base, 'exp': self.now + 61}).encode())}.{s}"
        self.bad(tampered_claims, "signature")
        self.bad(forge(base, KEY3), "signature")  # right fingerprint, wrong private key
        self.bad(forge({**base, "iss": f"MYORG-MYACCT.OUTPOST_SVC.{fingerprint(KEY3.public_key())}"}, KEY3),
                 "fingerprint")
        self.bad(forge({**base, "iss": f"MYORG-MYACCT.OUTPOST_SVC.{fp1[7:]}"}, KEY1), "SHA256")
        self.bad(forge({**base, "sub": "myorg-myacct.OUTPOST_SVC", "iss": f"myorg-myacct.OUTPOST_SVC.{fp1}"}, KEY1),
                 "account")
        self.bad(forge({**base, "sub": "MYORG-MYACCT.outpost_svc", "iss": f"MYORG-MYACCT.outpost_svc.{fp1}"}, KEY1),
                 "upper case")
        self.bad(forge({**base, "sub": "MYORG-MYACCT.US-EAST-1.OUTPOST_SVC",
                        "iss": f"MYORG-MYACCT.US-EAST-1.OUTPOST_SVC.{fp1}"}, KEY1), "no user")
        self.bad(forge({**base, "sub": "MYORG-MYACCT.US-EAST-1.OUTPOST_SVC"}, KEY1), "no user")
        self.bad(forge({**base, "sub": ""}, KEY1), "empty")
        self.bad(forge({k: v for k, v in base.items() if k != "sub"}, KEY1), "empty")
        self.bad(forge({**base, "exp": self.now + 3601}, KEY1), "one hour")
        self.ok(forge({**base, "exp": self.now + 3600}, KEY1))
        self.now += 200
        self.bad(forge(base, KEY1), "expired")
        self.now -= 400
        self.bad(forge(base, KEY1), "future")
        self.now += 200
        self.bad(forge(base, KEY1, {"alg": "HS256", "typ": "JWT"}), "RS256")
        self.bad("not-a-jwt", "three")
        with self.assertRaises(AuthError) as cm:
            self.auth.authenticate(f"Bearer {good}", None)  # no header: OAuth is assumed
        self.assertEqual(cm.exception.code, "390303")


class JsonV2Tests(unittest.TestCase):
    def test_cells(self):
        import decimal

        from jsonv2 import encoder

        tz = dt.timezone(dt.timedelta(hours=2))
        cases = [
            ({"type": "fixed", "scale": 2}, decimal.Decimal("12.5"), "12.50"),
            ({"type": "fixed", "scale": 0}, 42, "42"),
            ({"type": "fixed", "scale": 3}, decimal.Decimal("-0.5"), "-0.500"),
            ({"type": "real"}, 2.5, "2.5"),
            ({"type": "boolean"}, False, "false"),
            ({"type": "date"}, dt.date(2024, 1, 2), "19724"),
            ({"type": "date"}, dt.date(1969, 12, 31), "-1"),
            ({"type": "time"}, dt.time(12, 0, 1, 500000), "43201.500000000"),
            ({"type": "timestamp_ntz"}, dt.datetime(2024, 1, 2, 3, 4, 5, 123456), "1704164645.123456000"),
            ({"type": "timestamp_ntz"}, dt.datetime(1969, 12, 31, 23, 59, 58, 500000), "-1.500000000"),
            ({"type": "timestamp_ltz"}, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "1704164645.000000000"),
            ({"type": "timestamp_tz"}, dt.datetime(2024, 1, 2, 5, 4, 5, tzinfo=tz), "1704164645.000000000 1560"),
            ({"type": "binary"}, b"\xab\x01", "AB01"),
            ({"type": "variant"}, '{"a":[1]}', '{\n  "a": [\n    1\n  ]\n}'),
        ]
        for rt, value, want in cases:
            self.assertEqual(encoder(rt)(value), want, (rt, value))


# ---------------------------------------------------------------------------------------------------------
# HTTP tests against a running server (HTTPS with a private CA)


def make_ca_and_cert():
    ca_key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-snowflake test CA")])
    now = dt.datetime.now(dt.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = new_key()
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {n: os.path.join(TMP, n) for n in ("ca.pem", "cert.pem", "key.pem")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key.pem"], "wb") as f:
        f.write(pem_private(key))
    return paths


class Server:
    proc = None
    port = None
    tls = None

    @classmethod
    def start(cls):
        with open(os.path.join(HERE, "sample_catalog.json"), encoding="utf-8") as f:
            cat = json.load(f)
        cat["users"]["OUTPOST_SVC"]["rsa_public_key"] = pem_public(KEY1)
        cat["users"]["OUTPOST_SVC"]["rsa_public_key_2"] = pem_public(KEY2)
        path = os.path.join(TMP, "catalog.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cat, f)
        paths = make_ca_and_cert()
        cls.tls = ssl.create_default_context(cafile=paths["ca.pem"])
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "server.py"), "--catalog", path, "--account", "myorg-myacct.us-east-1",
             "--port", "0", "--partition-rows", "5", "--tls-cert", paths["cert.pem"], "--tls-key", paths["key.pem"],
             "--slow", "FAKE_SLOW_5S=5000", "--slow", "FAKE_SLOW_1S=1000", "--sync-wait-ms", "10000",
             "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline().strip()
        if not line.startswith("LISTENING https://127.0.0.1:"):
            raise RuntimeError(f"no readiness line: {line!r}; stderr: {cls.proc.stderr.read()[-3000:]}")
        cls.port = int(line.rsplit(":", 1)[1])

    @classmethod
    def stop(cls):
        if cls.proc:
            cls.proc.stdin.close()
            try:
                cls.proc.wait(10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()


def jwt_now(key=KEY1):
    return connector_jwt(pem_private(key), "myorg-myacct.us-east-1", "outpost_svc", int(time.time()), 60)


def request(method, path, body=None, headers=None, token_type="KEYPAIR_JWT", token=None, gzip_ok=True,
            operation=None, raw=False):
    conn = http.client.HTTPSConnection("127.0.0.1", Server.port, context=Server.tls, timeout=30)
    h = {"User-Agent": "outpost-selftest/1.0", "Accept": "application/json"}
    if token_type is not None:
        h["Authorization"] = f"Bearer {token or jwt_now()}"
        h["X-Snowflake-Authorization-Token-Type"] = token_type
    if gzip_ok:
        h["Accept-Encoding"] = "gzip"
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        encoding = resp.getheader("Content-Encoding")
        if encoding == "gzip":
            data = gzip.decompress(data)
        parsed = json.loads(data) if data else None
        if operation:
            RESPONSES.append({"operation": operation, "status": resp.status, "body": parsed})
        return (resp.status, parsed, encoding) if raw else (resp.status, parsed)
    finally:
        conn.close()


def submit(statement, query="", **body):
    payload = {"statement": statement, "timeout": 60, "warehouse": "OUTPOST_WH", "role": "OUTPOST_RO", **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    return request("POST", f"/api/v2/statements{query}", payload, operation="SubmitStatement")


def poll(handle, deadline=20):
    end = time.time() + deadline
    while True:
        status, body = request("GET", f"/api/v2/statements/{handle}", operation="GetStatementStatus")
        if status != 202 or time.time() > end:
            return status, body
        time.sleep(0.1)


def all_rows(first):
    rows = list(first["data"])
    handle = first["statementHandle"]
    for n in range(1, len(first["resultSetMetaData"]["partitionInfo"])):
        status, body, enc = request("GET", f"/api/v2/statements/{handle}?partition={n}", raw=True,
                                    operation="GetStatementStatus")
        assert status == 200 and enc == "gzip", (status, enc)
        assert set(body) == {"data"}, body.keys()
        rows.extend(body["data"])
    return rows


def stats():
    return request("GET", "/fake/stats", token_type=None)[1]


def control(path, body):
    status, answer = request("POST", path, body, token_type=None)
    assert status == 200, answer


class HttpTests(unittest.TestCase):
    def setUp(self):
        control("/fake/reset", {})
        control("/fake/config", {"info_schema_max_rows": 0})

    def test_user_agent_required_and_auth(self):
        status, body = request("POST", "/api/v2/statements", {"statement": "select 1"},
                               headers={"User-Agent": None})
        self.assertEqual((status, body["code"]), (400, "391903"))
        status, body = request("POST", "/api/v2/statements", {"statement": "select 1"},
                               token=jwt_now(KEY3))
        self.assertEqual((status, body["code"]), (401, "390144"))
        for tt, token in (("OAUTH", "sample-oauth-token"), ("PROGRAMMATIC_ACCESS_TOKEN", "sample-pat")):
            status, body = request("POST", "/api/v2/statements", {"statement": "select 1 as ONE"},
                                   token_type=tt, token=token)
            self.assertEqual((status, body["data"]), (200, [["1"]]))
        status, body = request("POST", "/api/v2/statements", {"statement": "select 1"}, token_type="OAUTH",
                               token="sample-pat")
        self.assertEqual((status, body["code"]), (401, "390303"))
        kinds = {s["tokenType"] for s in stats()["statements"]}
        self.assertEqual(kinds, {"OAUTH", "PROGRAMMATIC_ACCESS_TOKEN"})

    def test_partitions_gzip_and_hostile_identifiers(self):
        status, body = submit("select TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COMMENT from INFORMATION_SCHEMA.TABLES "
                              "where TABLE_SCHEMA <> 'INFORMATION_SCHEMA' order by TABLE_SCHEMA, TABLE_NAME",
                              database="SALES", query_tag=None, parameters={"query_tag": "outpost run 1"})
        self.assertEqual(status, 200, body)
        meta = body["resultSetMetaData"]
        self.assertEqual(meta["format"], "jsonv2")
        self.assertGreater(len(meta["partitionInfo"]), 2)
        self.assertEqual(len(body["data"]), meta["partitionInfo"][0]["rowCount"])
        rows = all_rows(body)
        self.assertEqual(len(rows), meta["numRows"])
        self.assertEqual(sum(p["rowCount"] for p in meta["partitionInfo"]), meta["numRows"])
        names = {(r[0], r[1]) for r in rows}
        for want in [("sales", "a"), ("sales", "A"), ("sales", "order lines"), ("we ird.schema/1", "🎉 party"),
                     ("we ird.schema/1", 'it\'s "quoted"'), ("we ird.schema/1", "L" * 255),
                     ("we ird.schema/1", "dots.in.name"), ("PUBLIC", "ORDER_TOTALS_MV")]:
            self.assertIn(want, names)
        types = {r[1]: r[2] for r in rows}
        self.assertEqual((types["ORDERS_V"], types["ORDER_TOTALS_MV"], types["EXT_EVENTS"], types["APP_EVENTS"]),
                         ("VIEW", "MATERIALIZED VIEW", "EXTERNAL TABLE", "EVENT TABLE"))
        # quoted identifiers and bindings over the information schema
        status, body = submit('select "COLUMN_NAME", DATA_TYPE from "SALES".INFORMATION_SCHEMA."COLUMNS" '
                              "where TABLE_SCHEMA = ? and TABLE_NAME = ? order by ORDINAL_POSITION",
                              bindings={"1": {"type": "TEXT", "value": "sales"}, "2": {"type": "TEXT", "value": "a"}})
        self.assertEqual((status, body["data"]), (200, [["v", "TEXT"], ["V", "NUMBER"]]))
        s = stats()["statements"][0]
        self.assertEqual((s["queryTag"], s["database"], s["runs"], s["tokenType"]),
                         ("outpost run 1", "SALES", 1, "KEYPAIR_JWT"))

    def test_columns_comments_and_types(self):
        status, body = submit("select COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, "
                              "NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT, IS_IDENTITY, COMMENT "
                              "from SALES.INFORMATION_SCHEMA.COLUMNS where TABLE_SCHEMA = 'PUBLIC' and "
                              "TABLE_NAME = 'CUSTOMERS' order by ORDINAL_POSITION")
        self.assertEqual(status, 200, body)
        rows = all_rows(body)
        by = {r[0]: r for r in rows}
        self.assertEqual(by["ID"][1:], ["NUMBER", None, "38", "0", "NO", None, "YES", "surrogate key"])
        self.assertEqual(by["EMAIL"][1:3], ["TEXT", "320"])
        self.assertEqual(by["BALANCE"][1:7], ["NUMBER", None, "12", "2", "YES", "0"])
        self.assertEqual({r[1] for r in rows}, {"NUMBER", "TEXT", "FLOAT", "BINARY", "BOOLEAN", "DATE", "TIME",
                                                "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "VARIANT",
                                                "OBJECT", "ARRAY", "GEOGRAPHY"})

    def test_type_family_cells_and_nullable(self):
        status, body = submit("select 1.5::number(10,2) A, 'x' B, true C, '2024-01-02'::date D, "
                              "'12:00:01.5'::time E, '2024-01-02 03:04:05.123456'::timestamp_ntz F, "
                              "'2024-01-02 03:04:05'::timestamp_ltz G, parse_json('{\"a\": [1,2]}') H, "
                              "to_binary('abcd', 'hex') I, 2.5::float J, null::varchar K, 7 L")
        self.assertEqual(status, 200, body)
        types = [c["type"] for c in body["resultSetMetaData"]["rowType"]]
        self.assertEqual(types, ["fixed", "text", "boolean", "date", "time", "timestamp_ntz", "timestamp_ltz",
                                 "variant", "binary", "real", "text", "fixed"])
        self.assertEqual(body["data"], [["1.50", "x", "true", "19724", "43201.500000000", "1704164645.123456000",
                                          "1704164645.000000000", '{\n  "a": [\n    1,\n    2\n  ]\n}', "ABCD",
                                          "2.5", None, "7"]])
        status, body = submit("select null::varchar K", query="?nullable=false")
        self.assertEqual(body["data"], [["null"]])

    def test_async_polling_and_slow_statements(self):
        status, body = submit("select 1 as ONE", query="?async=true")
        self.assertEqual((status, body["code"]), (202, "333334"))
        status, body = poll(body["statementHandle"])
        self.assertEqual((status, body["data"]), (200, [["1"]]))
        control("/fake/config", {"sync_wait_ms": 200})
        try:
            status, body = submit("select 'FAKE_SLOW_1S' as S")
            self.assertEqual(status, 202)
            self.assertTrue(body["statementStatusUrl"].startswith(f"/api/v2/statements/{body['statementHandle']}"))
            status, body = poll(body["statementHandle"])
            self.assertEqual((status, body["data"]), (200, [["FAKE_SLOW_1S"]]))
        finally:
            control("/fake/config", {"sync_wait_ms": 10000})

    def test_timeout_and_cancel(self):
        status, body = submit("select 'FAKE_SLOW_5S' as S", timeout=1)
        self.assertEqual((status, body["code"]), (408, "000630"), body)
        status, body = submit("select 'FAKE_SLOW_5S' as S", query="?async=true")
        handle = body["statementHandle"]
        status, body = request("POST", f"/api/v2/statements/{handle}/cancel", {}, operation="CancelStatement")
        self.assertEqual(status, 200, body)
        status, body = poll(handle)
        self.assertEqual((status, body["code"]), (422, "000604"))

    def test_request_id_dedupe_and_lost_response(self):
        rid = str(uuid.uuid4())
        status, first = submit("select 42 as X", query=f"?requestId={rid}")
        status, again = submit("select 42 as X", query=f"?requestId={rid}&retry=true")
        self.assertEqual((status, again["statementHandle"], again["data"]), (200, first["statementHandle"], [["42"]]))
        s = stats()["statements"]
        self.assertEqual((len(s), s[0]["runs"], s[0]["submissions"]), (1, 1, 2))
        # a lost response: the statement runs, the connection closes unanswered, the retry is not run again
        control("/fake/faults", {"faults": ["statement:nth=1:lost"]})
        rid = str(uuid.uuid4())
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            submit("select 43 as X", query=f"?requestId={rid}")
        status, body = submit("select 43 as X", query=f"?requestId={rid}&retry=true")
        self.assertEqual((status, body["data"]), (200, [["43"]]))
        st = [x for x in stats()["statements"] if x["requestId"] == rid]
        self.assertEqual((len(st), st[0]["runs"], st[0]["submissions"]), (1, 1, 2))

    def test_faults(self):
        control("/fake/faults", {"faults": ["statement:nth=1,3:503", "partition:every=2:drop"]})
        status, body = submit("select 1 as ONE")
        self.assertEqual(status, 503)
        self.assertEqual(submit("select 1 as ONE")[0], 200)
        self.assertEqual(submit("select 1 as ONE")[0], 503)
        status, body = submit("select TABLE_NAME from SALES.INFORMATION_SCHEMA.TABLES order by 1")
        self.assertEqual(status, 200)
        handle = body["statementHandle"]
        self.assertEqual(request("GET", f"/api/v2/statements/{handle}?partition=1")[0], 200)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            request("GET", f"/api/v2/statements/{handle}?partition=2")
        self.assertEqual(request("GET", f"/api/v2/statements/{handle}?partition=2")[0], 200)
        injected = stats()["faults"]["injected"]
        self.assertEqual([(i["target"], i["action"]) for i in injected],
                         [("statement", "503"), ("statement", "503"), ("partition", "drop")])

    def test_sql_errors_roles_and_warehouse(self):
        status, body = submit("selec 1")
        self.assertEqual((status, body["code"], body["sqlState"]), (422, "001003", "42000"))
        self.assertIn("statementHandle", body)
        status, body = submit("select * from INFORMATION_SCHEMA.TABLES", database="FORBIDDEN")
        self.assertEqual((status, body["code"]), (422, "002003"))
        self.assertIn("Database 'FORBIDDEN' does not exist or not authorized.", body["message"])
        status, body = submit('select * from "hr".SECRET.SALARIES')
        self.assertEqual((status, body["code"]), (422, "002003"))
        self.assertIn("""Schema '"hr".SECRET' does not exist or not authorized.""", body["message"])
        status, body = submit("select count(*) from SNOWFLAKE.ACCOUNT_USAGE.TABLES", role="NO_ACCOUNT_USAGE")
        self.assertEqual((status, body["code"]), (422, "002003"))
        status, body = submit("select count(*) from SALES.INFORMATION_SCHEMA.TABLES", warehouse=None)
        self.assertEqual((status, body["code"]), (422, "000606"))
        status, body = submit("show primary keys in database SALES", warehouse=None)
        self.assertEqual(status, 200, body)
        status, body = submit("use database SALES")
        self.assertEqual(status, 422)
        # INFORMATION_SCHEMA is filtered by the role: hr shows PUBLIC only
        status, body = submit('select SCHEMA_NAME from "hr".INFORMATION_SCHEMA.SCHEMATA order by 1')
        self.assertEqual(body["data"], [["INFORMATION_SCHEMA"], ["PUBLIC"]])
        st = stats()
        self.assertGreater(st["warehouseSeconds"], 0)
        self.assertEqual(st["perDatabase"].get("hr"), 1)

    def test_too_much_data(self):
        control("/fake/config", {"info_schema_max_rows": 20})
        status, body = submit("select * from SALES.INFORMATION_SCHEMA.COLUMNS")
        self.assertEqual((status, body["code"]), (422, "090030"))
        self.assertIn("Information schema query returned too much data", body["message"])
        status, body = submit("select * from SALES.INFORMATION_SCHEMA.COLUMNS where TABLE_SCHEMA = 'PUBLIC'")
        self.assertEqual(status, 200)

    def test_show_keys_and_account_usage(self):
        status, body = submit("show imported keys in schema SALES.PUBLIC", warehouse=None)
        self.assertEqual(status, 200)
        cols = [c["name"] for c in body["resultSetMetaData"]["rowType"]]
        row = dict(zip(cols, body["data"][0]))
        self.assertEqual((row["pk_table_name"], row["pk_column_name"], row["fk_table_name"], row["fk_column_name"],
                          row["pk_name"]), ("CUSTOMERS", "ID", "ORDERS", "CUSTOMER_ID", "PK_CUSTOMERS"))
        status, body = submit("show databases", warehouse=None)
        kinds = {r[1]: r[9] for r in body["data"]}
        self.assertEqual((kinds["SHARED_DB"], kinds["SALES"]), ("IMPORTED DATABASE", "STANDARD"))
        self.assertNotIn("FORBIDDEN", kinds)
        status, body = submit("select d.REFERENCING_OBJECT_NAME, d.REFERENCED_OBJECT_NAME, t.TABLE_TYPE "
                              "from SNOWFLAKE.ACCOUNT_USAGE.OBJECT_DEPENDENCIES d join SNOWFLAKE.ACCOUNT_USAGE.TABLES t "
                              "on t.TABLE_ID = d.REFERENCED_OBJECT_ID order by 1, 2")
        self.assertEqual(body["data"], [["ORDERS_V", "CUSTOMERS", "BASE TABLE"], ["ORDERS_V", "ORDERS", "BASE TABLE"],
                                        ["ORDER_TOTALS_MV", "ORDERS", "BASE TABLE"],
                                        ["dots.in.name", "🎉 party", "BASE TABLE"]])
        status, body = submit("select POLICY_NAME, POLICY_KIND, REF_ENTITY_NAME, REF_COLUMN_NAME from "
                              "SNOWFLAKE.ACCOUNT_USAGE.POLICY_REFERENCES order by 1")
        self.assertEqual(body["data"], [["BY_REGION", "ROW_ACCESS_POLICY", "CUSTOMERS", None],
                                        ["MASK_EMAIL", "MASKING_POLICY", "CUSTOMERS", "EMAIL"]])
        # ACCOUNT_USAGE is not filtered by the role: FORBIDDEN's table is there
        status, body = submit("select count(*) from SNOWFLAKE.ACCOUNT_USAGE.TABLES where TABLE_CATALOG = 'FORBIDDEN'")
        self.assertEqual(body["data"], [["1"]])


def main() -> int:
    started = time.time()
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    suite.addTests(loader.loadTestsFromTestCase(JWTTests))
    suite.addTests(loader.loadTestsFromTestCase(JsonV2Tests))
    Server.start()
    try:
        suite.addTests(loader.loadTestsFromTestCase(HttpTests))
        result = unittest.TextTestRunner(verbosity=1).run(suite)
    finally:
        Server.stop()
    ok = result.wasSuccessful()
    spec = os.environ.get("OUTPOST_SNOWFLAKE_SQLAPI_SPEC")
    if spec:
        path = os.path.join(TMP, "responses.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(RESPONSES, f)
        rc = subprocess.run([os.environ.get("OUTPOST_SYSTEM_PYTHON", "python3"),
                             os.path.join(HERE, "validate_spec.py"), "--spec", spec, "--responses", path]).returncode
        ok = ok and rc == 0
    else:
        print("fake_snowflake selftest: OUTPOST_SNOWFLAKE_SQLAPI_SPEC not set; responses not validated against "
              "Snowflake's sqlapi.yaml (see README)")
    print(f"fake_snowflake selftest: {'passed' if ok else 'FAILED'} in {time.time() - started:.1f} s "
          f"({result.testsRun} tests, {len(RESPONSES)} API responses collected)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
