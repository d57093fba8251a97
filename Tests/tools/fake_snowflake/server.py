#!/usr/bin/env python3
"""fake_snowflake: a Snowflake SQL API v2 test server whose SQL engine is fakesnow. See README.md."""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The start-up contract both fakes share (Tests/tools/fake_serving.py).
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fake_serving  # noqa: E402

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

from auth import AuthError, Authenticator  # noqa: E402
from catalog import Catalog, DefinitionError, generate_definition, load_definition, merge_definitions  # noqa: E402
from engine import Context, Engine, SqlError  # noqa: E402
from faults import FaultSchedule  # noqa: E402
from jsonv2 import encode_result  # noqa: E402

MAX_TIMEOUT = 604800
DEFAULT_TIMEOUT = 172800  # STATEMENT_TIMEOUT_IN_SECONDS' default


def log(*args) -> None:
    print("fake_snowflake:", *args, file=sys.stderr, flush=True)


class Statement:
    def __init__(self, handle, request_id, text, ctx, token_type, is_async, timeout, nullable, bindings, count):
        self.handle = handle
        self.request_id = request_id
        self.text = text
        self.ctx: Context = ctx
        self.token_type = token_type
        self.is_async = is_async
        self.timeout = timeout
        self.nullable = nullable
        self.bindings = bindings
        self.statement_count = count
        self.created_on = int(time.time() * 1000)
        self.status = "running"  # running | success | failed | timeout | cancelled
        self.error: SqlError | None = None
        self.result = None
        self.runs = 0
        self.submissions = 1
        self.done = threading.Event()
        self.cancel = threading.Event()
        self.timed_out = False
        self.duck = None
        self.needs_warehouse = False
        self.warehouse_seconds = 0.0
        self.databases: set = set()
        self.lock = threading.Lock()

    def status_url(self) -> str:
        url = f"/api/v2/statements/{self.handle}"
        return url + (f"?requestId={self.request_id}" if self.request_id else "")

    def record(self) -> dict:
        return {
            "statementHandle": self.handle, "requestId": self.request_id, "statement": self.text,
            "database": self.ctx.database, "schema": self.ctx.schema, "warehouse": self.ctx.warehouse,
            "role": self.ctx.role, "user": self.ctx.user, "tokenType": self.token_type,
            "queryTag": self.ctx.query_tag, "async": self.is_async, "timeout": self.timeout,
            "status": self.status, "code": self.error.code if self.error else ("090001" if self.status == "success"
                                                                              else None),
            "ran": self.runs > 0, "runs": self.runs, "submissions": self.submissions,
            "neededWarehouse": self.needs_warehouse, "warehouseSeconds": round(self.warehouse_seconds, 6),
            "databases": sorted(self.databases), "createdOn": self.created_on,
            "numRows": self.result.num_rows if self.result else None,
            "partitions": len(self.result.partitions) if self.result else None,
        }


class FakeSnowflake:
    def __init__(self, args):
        self.args = args
        definition: dict = {}
        if args.catalog:
            definition = load_definition(args.catalog)
        if args.generate:
            gen = generate_definition(args.generate)
            definition = merge_definitions(definition, gen) if definition else gen
        if not definition:
            raise DefinitionError("give --catalog FILE and/or --generate SPEC")
        self.account = args.account or definition.get("account") or "MYORG-MYACCT"
        import fakesnow.instance

        self.fs = fakesnow.instance.FakeSnow()
        t0 = time.monotonic()
        self.catalog = Catalog(definition)
        physical = args.physical == "all" or (args.physical == "auto" and not args.generate)
        self.load_report = self.catalog.install(self.fs, physical=physical)
        self.load_report["physical"] = physical
        self.load_report["total_seconds"] = round(time.monotonic() - t0, 3)
        self.engine = Engine(self.fs, self.catalog, args.info_schema_max_rows)
        self.auth = Authenticator(self.account, self.catalog.users, leeway_seconds=args.jwt_leeway_seconds)
        self.faults = FaultSchedule(args.fault or [])
        self.slow_ms = args.slow_ms
        self.slow_rules = [(re.compile(p, re.I | re.S), int(ms)) for p, _, ms in
                           (r.rpartition("=") for r in args.slow or [])]
        self.partition_rows = args.partition_rows
        self.partition_bytes = args.partition_bytes
        self.sync_wait_ms = args.sync_wait_ms
        self.lock = threading.Lock()
        self.statements: dict[str, Statement] = {}
        self.order: list[str] = []
        self.by_request_id: dict[tuple[str, str], str] = {}
        self.rejected: list[dict] = []
        self.warehouse_seconds = 0.0

    # --- statements ---------------------------------------------------------------------------------
    def delay_for(self, text: str) -> float:
        ms = self.slow_ms
        for rx, extra in self.slow_rules:
            if rx.search(text):
                ms += extra
        return ms / 1000.0

    def start(self, st: Statement) -> None:
        with self.lock:
            self.statements[st.handle] = st
            self.order.append(st.handle)
            if st.request_id:
                self.by_request_id[(st.ctx.user, st.request_id)] = st.handle
        threading.Thread(target=self._run, args=(st,), daemon=True, name=f"stmt-{st.handle[:8]}").start()

    def _on_timeout(self, st: Statement) -> None:
        if not st.done.is_set():
            st.timed_out = True
            st.cancel.set()
            if st.duck is not None:
                try:
                    st.duck.interrupt()
                except Exception:  # noqa: BLE001
                    pass

    def _run(self, st: Statement) -> None:
        timer = threading.Timer(st.timeout, self._on_timeout, args=(st,))
        timer.daemon = True
        timer.start()
        started = time.monotonic()
        try:
            delay = self.delay_for(st.text)
            if delay and st.cancel.wait(delay):
                raise SqlError("000604", "57014", "SQL execution canceled")

            def on_conn(duck):
                st.duck = duck
            st.runs += 1
            outcome = self.engine.execute(st.text, st.ctx, st.bindings, st.statement_count, on_connection=on_conn)
            st.needs_warehouse = outcome.needs_warehouse
            st.databases = set(outcome.databases) | ({st.ctx.database} if st.ctx.database else set())
            if st.cancel.is_set():
                raise SqlError("000604", "57014", "SQL execution canceled")
            st.result = encode_result(outcome.arrow_table, outcome.row_type, self.partition_rows,
                                      self.partition_bytes, nullable=st.nullable)
            st.status = "success"
        except SqlError as e:
            st.error = e
            st.status = "failed"
            if e.code == "000604" and st.timed_out:
                st.status = "timeout"
            elif e.code == "000604":
                st.status = "cancelled"
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            st.error = SqlError("000603", "XX000", f"SQL execution internal error: {type(e).__name__}: {e}")
            st.status = "failed"
        finally:
            timer.cancel()
            if st.timed_out and st.status != "success":
                st.status = "timeout"
                st.error = SqlError("000630", "57014", f"Statement reached its statement or warehouse timeout of "
                                    f"{st.timeout} second(s) and was canceled.")
            elapsed = time.monotonic() - started
            if st.needs_warehouse:
                st.warehouse_seconds = elapsed
                with self.lock:
                    self.warehouse_seconds += elapsed
            st.done.set()

    # --- answers --------------------------------------------------------------------------------------
    def answer(self, st: Statement) -> tuple[int, dict | bytes]:
        """The status code and body for a statement's current state (without partition)."""
        base = {"statementHandle": st.handle, "createdOn": st.created_on, "statementStatusUrl": st.status_url()}
        if st.status == "running":
            return 202, {"code": "333334", "message": "Asynchronous execution in progress. Use provided query id "
                         "to perform query monitoring and management.", **base}
        if st.status == "timeout":
            return 408, {"code": st.error.code, "sqlState": st.error.sql_state, "message": st.error.message, **base}
        if st.status in ("failed", "cancelled"):
            return 422, {"code": st.error.code, "sqlState": st.error.sql_state, "message": st.error.message, **base}
        r = st.result
        meta = {"numRows": r.num_rows, "format": "jsonv2",
                "partitionInfo": [{"rowCount": p.row_count, "uncompressedSize": p.uncompressed,
                                   **({"compressedSize": len(p.gzipped)} if p.gzipped is not None else {})}
                                  for p in r.partitions],
                "rowType": r.row_type, "nullable": st.nullable}
        head = {"resultSetMetaData": meta, "code": "090001", "statementStatusUrl": st.status_url(),
                "requestId": st.request_id, "sqlState": "00000", "statementHandle": st.handle,
                "message": "Statement executed successfully.", "createdOn": st.created_on}
        text = json.dumps(head, ensure_ascii=False).encode("utf-8")
        return 200, text[:-1] + b',"data":' + r.partitions[0].data_json + b"}"

    def stats(self) -> dict:
        with self.lock:
            sts = [self.statements[h] for h in self.order]
            per_db: dict[str, int] = {}
            for st in sts:
                if st.runs:
                    for d in st.databases:
                        per_db[d] = per_db.get(d, 0) + 1
            return {"statements": [s.record() for s in sts], "perDatabase": per_db,
                    "warehouseSeconds": round(self.warehouse_seconds, 6),
                    "statementsRun": sum(1 for s in sts if s.runs),
                    "statementsNeedingWarehouse": sum(1 for s in sts if s.needs_warehouse),
                    "rejected": list(self.rejected), "faults": self.faults.snapshot(),
                    "load": self.load_report}

    def reset(self) -> None:
        with self.lock:
            self.statements.clear()
            self.order.clear()
            self.by_request_id.clear()
            self.rejected.clear()
            self.warehouse_seconds = 0.0
        self.faults.reset()


class DropConnection(Exception):
    pass


def make_handler(fake: FakeSnowflake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-snowflake/1"
        timeout = 600

        def log_message(self, fmt, *args):  # quiet; statements are observable through /fake/stats
            if fake.args.verbose:
                log(self.address_string(), fmt % args)

        # --- plumbing ---------------------------------------------------------------------------------
        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else b""
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                data = gzip.decompress(data)
            return data

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise DropConnection()

        def _send(self, status: int, body, headers: dict | None = None, precompressed: bool = False) -> None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
            encoding = None
            if precompressed:
                if accepts_gzip:
                    encoding = "gzip"
                else:
                    body = gzip.decompress(body)
            elif accepts_gzip and len(body) > 8192:
                body = gzip.compress(body, 6)
                encoding = "gzip"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if encoding:
                self.send_header("Content-Encoding", encoding)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            view = memoryview(body)
            for i in range(0, len(body), 1 << 20):
                self.wfile.write(view[i:i + (1 << 20)])

        def _fault(self, target: str) -> str | None:
            action = fake.faults.next(target)
            if action == "drop":
                self._drop()
            if action in ("429", "500", "503", "504"):
                code = int(action)
                msgs = {429: "Too many requests.", 500: "Internal error.", 503: "Service unavailable.",
                        504: "Gateway timeout."}
                self._send(code, {"code": None, "message": msgs[code]},
                           {"Retry-After": "1"} if code in (429, 503) else None)
                return "answered"
            return action  # None or "lost"

        def _authenticate(self):
            if not self.headers.get("User-Agent"):
                fake.rejected.append({"path": self.path, "reason": "no User-Agent"})
                self._send(400, {"code": "391903", "message": "The User-Agent header is missing or empty."})
                return None
            try:
                return fake.auth.authenticate(self.headers.get("Authorization"),
                                              self.headers.get("X-Snowflake-Authorization-Token-Type"))
            except AuthError as e:
                fake.rejected.append({"path": self.path, "reason": e.reason, "code": e.code})
                self._send(401, {"code": e.code, "message": e.message})
                return None

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except DropConnection:
                self.close_connection = True
            except (ConnectionError, ssl.SSLError, TimeoutError):
                self.close_connection = True

        # --- routes -----------------------------------------------------------------------------------
        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            if url.path == "/fake/health":
                return self._send(200, {"ok": True})
            if url.path == "/fake/stats":
                return self._send(200, fake.stats())
            if url.path == "/fake/faults":
                return self._send(200, fake.faults.snapshot())
            m = re.fullmatch(r"/api/v2/statements/([^/]+)", url.path)
            if not m:
                return self._send(404, {"code": None, "message": f"Not found: {url.path}"})
            partition = q.get("partition", [None])[0]
            target = "partition" if partition is not None and partition != "0" else "poll"
            fault = self._fault(target)
            if fault == "answered":
                return
            principal = self._authenticate()
            if principal is None:
                return
            st = fake.statements.get(m.group(1))
            if st is None or st.ctx.user != principal.user:
                return self._send(404, {"code": "000709", "message": f"Statement {m.group(1)} not found."})
            if partition is None or st.status != "success":
                status, body = fake.answer(st)
                if fault == "lost":
                    self._drop()
                return self._send(status, body)
            try:
                n = int(partition)
            except ValueError:
                n = -1
            parts = st.result.partitions
            if not 0 <= n < len(parts):
                return self._send(422, {"code": "000002", "sqlState": "0A000", "statementHandle": st.handle,
                                        "message": f"Invalid partition {partition}: the result has partitions "
                                                   f"0 to {len(parts) - 1}."})
            if fault == "lost":
                self._drop()
            p = parts[n]
            if p.gzipped is not None:
                return self._send(200, p.gzipped, precompressed=True)
            return self._send(200, b'{"data":' + p.data_json + b"}")

        def do_POST(self):  # noqa: N802
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self._body()
            if url.path.startswith("/fake/"):
                return self._control(url.path, body)
            m = re.fullmatch(r"/api/v2/statements/([^/]+)/cancel", url.path)
            if m:
                return self._cancel(m.group(1))
            if url.path != "/api/v2/statements":
                return self._send(404, {"code": None, "message": f"Not found: {url.path}"})
            fault = self._fault("statement")
            if fault == "answered":
                return
            principal = self._authenticate()
            if principal is None:
                return
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
            if ctype != "application/json":
                return self._send(415, {"code": None, "message": f"Unsupported media type {ctype}."})
            try:
                req = json.loads(body or b"{}")
                if not isinstance(req, dict) or not isinstance(req.get("statement"), str):
                    raise ValueError("the body must be a JSON object with a string 'statement'")
                timeout = req.get("timeout", DEFAULT_TIMEOUT)
                if not isinstance(timeout, int) or timeout < 0:
                    raise ValueError("timeout must be a non-negative integer")
                params = req.get("parameters") or {}
                count = int(params.get("multi_statement_count", 1))
                if count < 0:
                    raise ValueError("multi_statement_count must not be negative")
                bindings = req.get("bindings")
                if bindings is not None and not isinstance(bindings, dict):
                    raise ValueError("bindings must be an object")
            except (ValueError, TypeError) as e:
                return self._send(400, {"code": None, "message": f"Invalid request body: {e}"})
            request_id = q.get("requestId") or None
            retry = q.get("retry", "").lower() == "true"
            if request_id and retry:
                with fake.lock:
                    previous = fake.by_request_id.get((principal.user, request_id))
                if previous is not None:
                    st = fake.statements[previous]
                    with st.lock:
                        st.submissions += 1
                    if not st.is_async:
                        st.done.wait(fake.sync_wait_ms / 1000.0)
                    status, answer = fake.answer(st)
                    if fault == "lost":
                        self._drop()
                    return self._send(status, answer)
            user = fake.catalog.users.get(principal.user) or {}

            def ctx_value(key):
                v = req.get(key)
                return v if isinstance(v, str) and v != "" else None
            ctx = Context(user=principal.user, role=ctx_value("role") or user.get("default_role") or "PUBLIC",
                          database=ctx_value("database"), schema=ctx_value("schema"),
                          warehouse=ctx_value("warehouse") or user.get("default_warehouse"),
                          query_tag=params.get("query_tag"))
            st = Statement(str(uuid.uuid4()), request_id or str(uuid.uuid4()), req["statement"], ctx, principal.token_type,
                           q.get("async", "").lower() == "true", MAX_TIMEOUT if timeout == 0 else timeout,
                           q.get("nullable", "true").lower() != "false", bindings, count)
            fake.start(st)
            if fault == "lost":
                st.done.wait(fake.sync_wait_ms / 1000.0)
                self._drop()
            if not st.is_async:
                st.done.wait(fake.sync_wait_ms / 1000.0)
            status, answer = fake.answer(st)
            return self._send(status, answer)

        def _cancel(self, handle: str):
            fault = self._fault("cancel")
            if fault == "answered":
                return
            principal = self._authenticate()
            if principal is None:
                return
            st = fake.statements.get(handle)
            if st is None or st.ctx.user != principal.user:
                return self._send(404, {"code": "000709", "message": f"Statement {handle} not found."})
            if st.done.is_set():
                status, body = 422, {"code": "000605", "sqlState": "01000", "statementHandle": handle,
                                     "message": "Identified SQL statement is not currently executing.",
                                     "statementStatusUrl": st.status_url()}
            else:
                st.cancel.set()
                if st.duck is not None:
                    try:
                        st.duck.interrupt()
                    except Exception:  # noqa: BLE001
                        pass
                status, body = 200, {"code": "000000", "sqlState": "00000", "message": "successfully canceled",
                                     "statementHandle": handle, "statementStatusUrl": st.status_url()}
            if fault == "lost":
                self._drop()
            return self._send(status, body)

        def _control(self, path: str, body: bytes):
            try:
                req = json.loads(body or b"{}")
                if path == "/fake/reset":
                    fake.reset()
                elif path == "/fake/faults":
                    fake.faults.set(req.get("faults") or [])
                elif path == "/fake/slow":
                    fake.slow_ms = int(req.get("slow_ms", 0))
                    fake.slow_rules = [(re.compile(r["pattern"], re.I | re.S), int(r["ms"]))
                                       for r in req.get("rules") or []]
                elif path == "/fake/config":
                    for key in ("partition_rows", "partition_bytes", "sync_wait_ms"):
                        if key in req:
                            setattr(fake, key, int(req[key]))
                    if "info_schema_max_rows" in req:
                        fake.engine.info_schema_max_rows = int(req["info_schema_max_rows"])
                else:
                    return self._send(404, {"message": f"Not found: {path}"})
            except (ValueError, KeyError, TypeError, re.error) as e:
                return self._send(400, {"message": str(e)})
            return self._send(200, {"ok": True})

    return Handler


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Snowflake SQL API v2 fake (fakesnow inside). See README.md.")
    p.add_argument("--catalog")
    p.add_argument("--generate")
    p.add_argument("--account")
    fake_serving.add_arguments(p)
    p.add_argument("--partition-rows", type=int, default=0)
    p.add_argument("--partition-bytes", type=int, default=1048576)
    p.add_argument("--info-schema-max-rows", type=int, default=0)
    p.add_argument("--sync-wait-ms", type=int, default=45000)
    p.add_argument("--slow-ms", type=int, default=0)
    p.add_argument("--slow", action="append")
    p.add_argument("--fault", action="append")
    p.add_argument("--jwt-leeway-seconds", type=int, default=60)
    p.add_argument("--physical", choices=["auto", "all", "none"], default="auto")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)

    host_ok = args.host == "localhost"
    try:
        host_ok = host_ok or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        pass
    if not host_ok:
        p.error("--host must be a loopback address")
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")

    try:
        fake = FakeSnowflake(args)
    except (DefinitionError, OSError, ValueError) as e:
        log(f"cannot load the catalog: {e}")
        return 2
    rep = fake.load_report
    log(f"loaded {rep['databases']} databases, {rep['schemas']} schemas, {rep['objects']} objects, "
        f"{rep['columns']} columns in {rep['total_seconds']} s (metadata {rep['metadata_seconds']} s, DDL "
        f"{rep['ddl_seconds']} s: {rep['ddl']}); {len(rep['notes'])} notes in /fake/stats")
    return fake_serving.serve(make_handler(fake), args)


if __name__ == "__main__":
    sys.exit(main())
