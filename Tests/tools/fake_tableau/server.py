#!/usr/bin/env python3
"""fake_tableau: a loopback test server that answers like Tableau's REST sign-in and Metadata API (a fake;
not Tableau). See README.md."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The start-up contract both fakes share (Tests/tools/fake_serving.py).
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fake_serving  # noqa: E402

import faults as faultmod  # noqa: E402
import metadata  # noqa: E402
import rest  # noqa: E402
from generate import GeneratedSite  # noqa: E402
from sitedata import SiteError, load_site_file  # noqa: E402

SESSION_SECONDS = 240 * 60  # estimatedTimeToExpiration Tableau reports for a fresh session (HH:MM:SS)


def log(*args) -> None:
    print("fake_tableau:", *args, file=sys.stderr, flush=True)


class Session:
    def __init__(self, token, pat, user):
        self.token, self.pat, self.user = token, pat, user
        self.requests = 0
        self.expire_after = None


class FakeTableau:
    def __init__(self, args):
        self.args = args
        if args.generate:
            self.store = GeneratedSite(args.generate)
        elif args.site_file:
            self.store = load_site_file(args.site_file)
        else:
            raise SiteError("give --site-file FILE or --generate SPEC")
        self.max_page_size = args.max_page_size
        self.node_limit = args.node_limit
        self.faults = faultmod.Faults(args.fault or [])
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.session_of_pat: dict[str, str] = {}
        self.users_by_name = {u["name"]: u for u in self.store.users}
        self.reset_stats()

    def reset_stats(self) -> None:
        with self.lock:
            self.stats = {"signIns": 0, "signInFailures": 0, "signOuts": 0, "restRequests": 0,
                          "graphqlRequests": 0, "graphqlByRootField": {}, "maxPageSizeAsked": 0,
                          "unauthorized": 0, "nodeLimitExceeded": 0, "maxNodesInResponse": 0,
                          "invalidQueries": 0, "expiredSessions": 0, "graphqlSeconds": 0.0}
        self.faults.reset_counts()

    def bump(self, key, n=1) -> None:
        with self.lock:
            self.stats[key] += n

    def stats_snapshot(self) -> dict:
        with self.lock:
            out = json.loads(json.dumps(self.stats))
            out["activeSessions"] = len(self.sessions)
        out["faults"] = self.faults.snapshot()
        out["faultsFired"] = len(out["faults"]["fired"])
        return out

    # --- sessions -----------------------------------------------------------------------------------------------
    def sign_in(self, name, secret, content_url) -> Session:
        pat = next((p for p in self.store.pats if p["name"] == name), None)
        if (pat is None or not secrets.compare_digest(pat["secret"].encode(), secret.encode())
                or content_url != self.store.site["contentUrl"]):
            self.bump("signInFailures")
            raise rest.RestError(401, "401001", "Signin Error",
                                 "Error signing in to Tableau Server")
        token = secrets.token_urlsafe(24) + "|" + secrets.token_hex(8) + "|" + self.store.site["id"]
        s = Session(token, name, self.users_by_name[pat["user"]])
        s.expire_after = self.faults.expire_after()
        with self.lock:
            old = self.session_of_pat.pop(name, None)  # one session per PAT: the new one ends the old
            if old:
                self.sessions.pop(old, None)
            self.sessions[token] = s
            self.session_of_pat[name] = token
            self.stats["signIns"] += 1
        return s

    def sign_out(self, token) -> None:
        with self.lock:
            s = self.sessions.pop(token, None)
            if s and self.session_of_pat.get(s.pat) == token:
                del self.session_of_pat[s.pat]
            self.stats["signOuts"] += 1

    def authenticate(self, token) -> Session:
        unauthorized = rest.RestError(401, "401002", "Unauthorized Access",
                                      "Invalid authentication credentials were provided.")
        with self.lock:
            s = self.sessions.get(token or "")
            if s is None:
                self.stats["unauthorized"] += 1
                raise unauthorized
            if s.expire_after is not None and s.requests >= s.expire_after:
                self.sessions.pop(token, None)
                if self.session_of_pat.get(s.pat) == token:
                    del self.session_of_pat[s.pat]
                self.stats["unauthorized"] += 1
                self.stats["expiredSessions"] += 1
                expired = True
            else:
                s.requests += 1
                expired = False
        if expired:
            self.faults.record(f"expire-session-after={s.expire_after}")
            raise unauthorized
        return s


class DropConnection(Exception):
    pass


def make_handler(fake: FakeTableau):
    store = fake.store

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-tableau/1"

        def log_message(self, fmt, *args):
            if fake.args.verbose:
                log(self.address_string(), fmt % args)

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (ConnectionError, ssl.SSLError, TimeoutError, DropConnection):
                self.close_connection = True

        # --- plumbing -------------------------------------------------------------------------------------------
        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj, headers=None) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json", headers)

        def _rest(self, status: int, body: dict) -> None:
            data, ctype = rest.render(rest.wants_json(self.headers), body)
            self._send(status, data, ctype)

        def _rest_error(self, e: rest.RestError) -> None:
            # The Metadata API endpoint speaks JSON; REST endpoints answer in the format the request accepts.
            as_json = rest.wants_json(self.headers) or self.path.startswith("/api/metadata/")
            data, ctype = rest.render_error(as_json, e)
            self._send(e.status, data, ctype)

        def _session(self) -> Session:
            return fake.authenticate(self.headers.get("X-Tableau-Auth"))

        # --- routes ---------------------------------------------------------------------------------------------
        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/_fake/stats":
                return self._json(200, fake.stats_snapshot())
            if url.path == "/_fake/health":
                return self._json(200, {"ok": True})
            if url.path == "/_fake/faults":
                return self._json(200, fake.faults.snapshot())
            try:
                m = re.fullmatch(r"/api/([0-9.]+)/serverInfo", url.path)
                if m:
                    return self._server_info()
                m = re.fullmatch(r"/api/([0-9.]+)/sites/([^/]+)(/[a-z]+)?", url.path)
                if not m:
                    raise rest.RestError(404, "404000", "Resource Not Found", f"Unknown resource '{url.path}'")
                self._session()
                fake.bump("restRequests")
                if m.group(2) != store.site["id"]:
                    raise rest.RestError(403, "403069", "Forbidden",
                                         "The site in the URI does not match the site of the credentials.")
                what = m.group(3)
                if what is None:
                    return self._rest(200, {"site": {"id": store.site["id"], "name": store.site["name"],
                                                     "contentUrl": store.site["contentUrl"],
                                                     "adminMode": "ContentAndUsers", "state": "Active"}})
                size, number = rest.page_args(q)
                users = {u["name"]: u for u in store.users}
                if what == "/projects":
                    items = [rest.project_item(p, users) for p in store.projects]
                elif what == "/workbooks":
                    items = [rest.workbook_item(w, store) for w in store.workbooks_rest()]
                elif what == "/datasources":
                    items = [rest.datasource_item(d, store) for d in store.datasources_rest()]
                elif what == "/users":
                    items = [rest.user_item(u) for u in store.users]
                else:
                    raise rest.RestError(404, "404000", "Resource Not Found", f"Unknown resource '{url.path}'")
                page, pagination = rest.paginate(items, size, number)
                return self._rest(200, {"pagination": pagination, what[1:]: page})
            except rest.RestError as e:
                return self._rest_error(e)

        def _server_info(self):
            # <serverInfo><productVersion build="…">2024.2.0</productVersion><restApiVersion>3.23</…></serverInfo>
            if rest.wants_json(self.headers):
                body = json.dumps({"serverInfo": {"productVersion": {"value": rest.PRODUCT_VERSION,
                                                                     "build": rest.PRODUCT_BUILD},
                                                  "prepConductorVersion": "20242.24.0807",
                                                  "restApiVersion": rest.REST_API_VERSION}}).encode()
                return self._send(200, body, "application/json;charset=UTF-8")
            xml = (f"<?xml version='1.0' encoding='UTF-8'?><tsResponse xmlns=\"{rest.API_NS}\"><serverInfo>"
                   f"<productVersion build=\"{rest.PRODUCT_BUILD}\">{rest.PRODUCT_VERSION}</productVersion>"
                   f"<prepConductorVersion>20242.24.0807</prepConductorVersion>"
                   f"<restApiVersion>{rest.REST_API_VERSION}</restApiVersion></serverInfo></tsResponse>")
            return self._send(200, xml.encode(), "application/xml;charset=UTF-8")

        def do_DELETE(self):  # noqa: N802
            if urlsplit(self.path).path == "/_fake/faults":
                fake.faults.clear()
                return self._json(200, {"ok": True})
            return self._json(404, {"message": "not found"})

        def do_POST(self):  # noqa: N802
            url = urlsplit(self.path)
            body = self._body()
            if url.path.startswith("/_fake/"):
                return self._control(url.path, body)
            try:
                if re.fullmatch(r"/api/([0-9.]+)/auth/signin", url.path):
                    name, secret, content_url = rest.parse_signin(body, self.headers.get("Content-Type"))
                    s = fake.sign_in(name, secret, content_url)
                    hh, mm = divmod(SESSION_SECONDS // 60, 60)
                    return self._rest(200, {"credentials": {
                        "token": s.token, "estimatedTimeToExpiration": f"{hh:03d}:{mm:02d}:00",
                        "site": {"id": store.site["id"], "contentUrl": store.site["contentUrl"]},
                        "user": {"id": s.user["id"]}}})
                if re.fullmatch(r"/api/([0-9.]+)/auth/signout", url.path):
                    token = self.headers.get("X-Tableau-Auth")
                    if token not in fake.sessions:
                        fake.bump("unauthorized")
                        raise rest.RestError(401, "401002", "Unauthorized Access",
                                             "Invalid authentication credentials were provided.")
                    fake.sign_out(token)
                    return self._send(204, b"", "text/plain")
                if url.path == "/api/metadata/graphql":
                    return self._graphql(body)
                raise rest.RestError(404, "404000", "Resource Not Found", f"Unknown resource '{url.path}'")
            except rest.RestError as e:
                return self._rest_error(e)

        def _graphql(self, body: bytes):
            self._session()
            fake.bump("graphqlRequests")
            fault = fake.faults.next_graphql()
            if fault and fault["action"] in ("429", "503"):
                status = int(fault["action"])
                msg = "Too Many Requests" if status == 429 else "Service Unavailable"
                return self._json(status, {"message": msg}, {"Retry-After": str(fault["retry_after"])})
            try:
                req = json.loads(body or b"{}")
                query = req.get("query")
                if not isinstance(query, str):
                    raise ValueError("the body needs a string 'query'")
                variables = req.get("variables") or {}
                if not isinstance(variables, dict):
                    raise ValueError("'variables' must be an object")
            except (ValueError, UnicodeDecodeError) as e:
                return self._json(400, {"errors": [{"message": f"Invalid request body: {e}"}]})
            op = req.get("operationName")
            t0 = time.monotonic()
            result, ctx = metadata.execute(store, query, variables, op, max_page_size=fake.max_page_size,
                                           node_limit=fake.node_limit)
            with fake.lock:
                st = fake.stats
                # The server's own time answering queries: the floor any client pays (benchmarks compare with it).
                st["graphqlSeconds"] = round(st["graphqlSeconds"] + time.monotonic() - t0, 6)
                for rf in metadata.root_fields_of(query, op):
                    st["graphqlByRootField"][rf] = st["graphqlByRootField"].get(rf, 0) + 1
                st["maxPageSizeAsked"] = max(st["maxPageSizeAsked"], ctx.max_first)
                if result.get("data") is None and result.get("errors") and not ctx.root_fields:
                    st["invalidQueries"] += 1
                if getattr(ctx, "node_limit_hit", False):
                    st["nodeLimitExceeded"] += 1
                elif result.get("data") is not None:
                    st["maxNodesInResponse"] = max(st["maxNodesInResponse"], metadata.count_nodes(result["data"]))
            if fault and fault["action"] == "node-limit":
                result = {"data": None, "errors": [{
                    "message": metadata.NODE_LIMIT_MESSAGE.format(limit=fake.node_limit),
                    "extensions": {"severity": "ERROR", "code": "NODE_LIMIT_EXCEEDED",
                                   "properties": {"nodeLimit": fake.node_limit}}}]}
                fake.bump("nodeLimitExceeded")
            elif fault and fault["action"] == "partial-error" and result.get("data") is not None:
                result.setdefault("errors", []).append({
                    "message": "An internal error occurred while resolving part of the query (injected by the "
                               "fake).", "extensions": {"severity": "ERROR", "code": "INTERNAL_SERVER_ERROR"}})
            if fake.args.verbose:
                log(f"graphql {ctx.root_fields} in {time.monotonic() - t0:.3f} s")
            return self._json(200, result)

        def _control(self, path: str, body: bytes):
            try:
                req = json.loads(body or b"{}")
                if path == "/_fake/faults":
                    fake.faults.set(req.get("faults") or [])
                elif path == "/_fake/stats/reset":
                    fake.reset_stats()
                elif path == "/_fake/config":
                    if "max_page_size" in req:
                        fake.max_page_size = int(req["max_page_size"])
                    if "node_limit" in req:
                        fake.node_limit = int(req["node_limit"])
                else:
                    return self._json(404, {"message": f"Not found: {path}"})
            except (ValueError, TypeError, AttributeError) as e:
                return self._json(400, {"message": str(e)})
            return self._json(200, {"ok": True})

    return Handler


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="A fake Tableau server (REST sign-in + Metadata API). Not Tableau.")
    p.add_argument("--site-file")
    p.add_argument("--generate")
    fake_serving.add_arguments(p)
    p.add_argument("--max-page-size", type=int, default=1000)
    p.add_argument("--node-limit", type=int, default=20000)
    p.add_argument("--fault", action="append")
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
        fake = FakeTableau(args)
    except (SiteError, OSError, ValueError, KeyError) as e:
        log(f"cannot load the site: {e}")
        return 2
    return fake_serving.serve(make_handler(fake), args)


if __name__ == "__main__":
    sys.exit(main())
