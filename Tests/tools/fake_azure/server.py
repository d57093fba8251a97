#!/usr/bin/env python3
"""fake_azure: a loopback test server that answers like Azure Blob Storage (block blobs, path-style), Azure Key
Vault (get secret), Entra ID (client-credentials token endpoint, OpenID configuration) and the managed-identity
endpoints (IMDS, App Service) on one port. A fake; not Azure. See README.md."""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The start-up contract the fakes share (Tests/tools/fake_serving.py).
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fake_serving  # noqa: E402

import blob as blobmod  # noqa: E402
import faults as faultmod  # noqa: E402
import tokens  # noqa: E402

DEFAULT_TENANT = "00000000-0000-4000-8000-00000000a2e1"
# The well-known development account key Azure's storage emulators use (public; never a real secret).
DEV_ACCOUNT = ("devstoreaccount1",
               "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
KNOWN_RESOURCES = ("https://storage.azure.com", "https://vault.azure.net")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
KV_RESOURCE = "https://vault.azure.net"
KV_API_VERSIONS = ("7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01")
IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"
RESERVED = {"metadata", "msi", "secrets"}


def log(*args) -> None:
    print("fake_azure:", *args, file=sys.stderr, flush=True)


def now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


class EntraError(Exception):
    def __init__(self, status, error, code, description):
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


class KvError(Exception):
    def __init__(self, status, code, message, inner=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.inner, self.headers = status, code, message, inner, headers or {}


def pem_or_path(value: str) -> bytes:
    """PEM text given inline, or the contents of the file it names."""
    if "-----BEGIN" in value:
        return value.encode()
    with open(value, "rb") as f:
        return f.read()


def resource_of(audience: str) -> str:
    return audience[:-1] if audience.endswith("/") else audience


class Secret:
    def __init__(self, name):
        self.name = name
        self.versions: list[dict] = []  # oldest first; the last one is current (if disabled, reads are refused)

    def add(self, value: str, content_type=None, tags=None, enabled=True, version=None) -> dict:
        t = int(time.time())
        v = {"version": version or uuid.uuid4().hex, "value": value, "contentType": content_type,
             "tags": tags or {}, "enabled": enabled, "created": t, "updated": t}
        self.versions.append(v)
        return v


class FakeAzure:
    def __init__(self, args, cfg: dict):
        self.args = args
        self.tenant = cfg.get("tenant") or DEFAULT_TENANT
        self.token_lifetime = int(cfg.get("tokenLifetime", 3600))
        self.resources = tuple(resource_of(r) for r in cfg.get("resources", [])) + KNOWN_RESOURCES
        key = cfg.get("tokenSigningKey")
        self.issuer = tokens.Issuer(pem_or_path(key) if key else None)
        accounts = {}
        for a in cfg.get("accounts") or [{"name": DEV_ACCOUNT[0], "key": DEV_ACCOUNT[1]}]:
            name = a["name"]
            if not re.fullmatch(r"[a-z0-9]{3,24}", name) or name in RESERVED:
                raise ValueError(f"account name {name!r}: 3-24 lower-case letters and digits, not "
                                 f"{', '.join(sorted(RESERVED))}")
            accounts[name] = blobmod.Account(name, a["key"], a.get("containers", []), a.get("encryptionScopes", []),
                                             a.get("dataContributors"))
        self.blob = blobmod.BlobService(accounts, self.tenant, self.issuer, self.principal_names)
        self.clients = {}
        for c in cfg.get("clients", []):
            certs = []
            for pem in c.get("certificates", []):
                certs.append(tokens.Certificate(pem_or_path(pem)))
            feds = []
            for f in c.get("federated", []):
                key = f.get("issuerKey")
                if key:
                    key = tokens.load_public_key(pem_or_path(key))
                feds.append({"issuer": f["issuer"], "subject": f["subject"],
                             "audiences": f.get("audiences", [FEDERATED_AUDIENCE]), "key": key})
            self.clients[c["clientId"]] = {"clientId": c["clientId"], "secret": c.get("secret"), "certs": certs,
                                           "federated": feds,
                                           "objectId": c.get("objectId") or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                                           c["clientId"]))}
        self.identities = []
        for i in cfg.get("managedIdentities", []):
            cid = i["clientId"]
            self.identities.append({"clientId": cid,
                                    "objectId": i.get("objectId") or str(uuid.uuid5(uuid.NAMESPACE_URL, cid)),
                                    "resourceId": i.get("resourceId", ""), "default": bool(i.get("default"))})
        self.identity_header = cfg.get("identityHeader")
        vault = cfg.get("vault", {})
        self.secrets: dict[str, Secret] = {}
        for s in vault.get("secrets", []):
            sec = self.secrets.setdefault(s["name"], Secret(s["name"]))
            for v in s.get("versions") or [{"value": s.get("value", "")}]:
                sec.add(v["value"], v.get("contentType"), v.get("tags"), v.get("enabled", True), v.get("version"))
        self.vault_readers = vault.get("readers")  # None: every principal of the tenant
        self.faults = faultmod.Faults(args.fault or [])
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.stats: dict[str, int] = {}

    def principal_names(self, oid: str) -> set:
        """The names a principal may be listed under (dataContributors, vault readers): its object id and the
        client id of the app registration or managed identity it belongs to."""
        names = {oid}
        for c in self.clients.values():
            if c["objectId"] == oid:
                names.add(c["clientId"])
        for i in self.identities:
            if i["objectId"] == oid:
                names.add(i["clientId"])
        return names

    # --- bookkeeping ------------------------------------------------------------------------------------------

    def record(self, entry: dict) -> None:
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-1000]
            key = f"{entry['service']}:{entry['status']}"
            self.stats[key] = self.stats.get(key, 0) + 1

    # --- Entra ID ---------------------------------------------------------------------------------------------

    def openid_configuration(self, base: str, v2: bool) -> dict:
        t = f"{base}/{self.tenant}"
        return {
            "token_endpoint": f"{t}/oauth2/v2.0/token" if v2 else f"{t}/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{t}/discovery/v2.0/keys" if v2 else f"{t}/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{t}/v2.0" if v2 else f"{base}/{self.tenant}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{t}/oauth2/v2.0/authorize" if v2 else f"{t}/oauth2/authorize",
            "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{t}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
            "tenant_region_scope": None, "cloud_instance_name": "fake.invalid", "cloud_graph_host_name": "",
            "msgraph_host": "", "rbac_url": "",
        }

    def issue(self, resource: str, oid: str, appid: str, lifetime: int | None = None, tenant: str | None = None):
        now = int(time.time())
        life = self.token_lifetime if lifetime is None else lifetime
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{tenant or self.tenant}/",
                  "iat": now, "nbf": now, "exp": now + life, "tid": tenant or self.tenant, "oid": oid,
                  "sub": oid, "appid": appid, "azp": appid, "idtyp": "app", "ver": "1.0",
                  "uti": uuid.uuid4().hex}
        return self.issuer.sign(claims), now + life, life

    def token(self, form: dict, base: str, token_endpoint: str) -> dict:
        grant = form.get("grant_type")
        if grant != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003,
                             f"AADSTS70003: The app requested an unsupported grant type '{grant}' (this fake serves "
                             "client_credentials).")
        cid = form.get("client_id", "")
        client = self.clients.get(cid)
        if client is None:
            raise EntraError(400, "unauthorized_client", 700016,
                             f"AADSTS700016: Application with identifier '{cid}' was not found in the directory "
                             f"'{self.tenant}'.")
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(400, "invalid_scope", 1002012,
                             f"AADSTS1002012: The provided value for scope {form.get('scope', '')} is not valid. "
                             "Client credential flows must have a scope value with /.default suffixed to the "
                             "resource identifier (application ID URI).")
        resource = scopes[0][: -len("/.default")]
        if resource_of(resource) not in self.resources:
            raise EntraError(400, "invalid_resource", 500011,
                             f"AADSTS500011: The resource principal named {resource} was not found in the tenant "
                             f"named {self.tenant}.")
        if "client_secret" in form:
            if client["secret"] is None or form["client_secret"] != client["secret"]:
                raise EntraError(401, "invalid_client", 7000215,
                                 "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                                 f"the request is the client secret value, not the client secret ID, for a secret "
                                 f"added to app '{cid}'.")
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise EntraError(400, "invalid_request", 900023,
                                 f"AADSTS900023: client_assertion_type must be {JWT_BEARER}.")
            self.check_assertion(client, form["client_assertion"], token_endpoint)
        else:
            raise EntraError(401, "invalid_client", 7000218,
                             "AADSTS7000218: The request body must contain the following parameter: "
                             "'client_assertion' or 'client_secret'.")
        token, expires_on, life = self.issue(resource, client["objectId"], cid)
        return {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}

    def check_assertion(self, client: dict, assertion: str, token_endpoint: str) -> None:
        try:
            header, claims, signing_input, sig = tokens.decode_unverified(assertion)
        except tokens.JwtError as e:
            raise EntraError(400, "invalid_request", 50027, f"AADSTS50027: JWT token is invalid or malformed. {e}.") \
                from None
        cid = client["clientId"]
        cert = None
        # Thumbprints are base64url; MSAL keeps the `=` padding, so compare without it.
        x5t = str(header.get("x5t") or "").rstrip("=")
        x5t_s256 = str(header.get("x5t#S256") or "").rstrip("=")
        for c in client["certs"]:
            if (x5t_s256 and x5t_s256 == c.x5t_s256) or (x5t and x5t == c.x5t):
                cert = c
        if cert is not None:
            try:
                tokens.verify_rsa(cert.public_key, header.get("alg"), signing_input, sig)
            except tokens.JwtError as e:
                raise EntraError(401, "invalid_client", 700027,
                                 f"AADSTS700027: Client assertion failed signature validation ({e}).") from None
            if claims.get("aud") != token_endpoint:
                raise EntraError(401, "invalid_client", 700027,
                                 f"AADSTS700027: The audience {claims.get('aud')!r} of the client assertion is not "
                                 f"the token endpoint {token_endpoint!r}.")
            if claims.get("iss") != cid or claims.get("sub") != cid:
                raise EntraError(401, "invalid_client", 700023,
                                 "AADSTS700023: Client assertion issuer and subject must be the client id.")
            if not claims.get("jti"):
                raise EntraError(401, "invalid_client", 700027, "AADSTS700027: The client assertion has no jti.")
            try:
                tokens.check_times(claims, time.time())
            except tokens.JwtError as e:
                raise EntraError(401, "invalid_client", 700024,
                                 f"AADSTS700024: Client assertion is not within its valid time range ({e}).") \
                    from None
            return
        if header.get("x5t") or header.get("x5t#S256"):
            raise EntraError(401, "invalid_client", 700027,
                             f"AADSTS700027: The certificate with identifier used to sign the client assertion is "
                             f"not registered on application {cid}.")
        # A federated credential (workload identity): trusted by issuer, subject and audience.
        matches = [f for f in client["federated"] if f["issuer"] == claims.get("iss")]
        if not matches:
            raise EntraError(400, "invalid_request", 700211,
                             f"AADSTS700211: No matching federated identity record found for presented assertion "
                             f"issuer '{claims.get('iss')}'.")
        matches = [f for f in matches if f["subject"] == claims.get("sub")]
        if not matches:
            raise EntraError(400, "invalid_request", 700213,
                             f"AADSTS700213: No matching federated identity record found for presented assertion "
                             f"subject '{claims.get('sub')}'.")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        matches = [f for f in matches if set(auds) & set(f["audiences"])]
        if not matches:
            raise EntraError(400, "invalid_request", 700212,
                             f"AADSTS700212: No matching federated identity record found for presented assertion "
                             f"audience '{aud}'.")
        fed = matches[0]
        if fed["key"] is not None:
            try:
                tokens.verify_rsa(fed["key"], header.get("alg"), signing_input, sig)
            except tokens.JwtError as e:
                raise EntraError(400, "invalid_client", 700027,
                                 f"AADSTS700027: Client assertion failed signature validation ({e}).") from None
        try:
            tokens.check_times(claims, time.time(), skew=0)
        except tokens.JwtError as e:
            raise EntraError(400, "invalid_client", 700024,
                             f"AADSTS700024: Client assertion is not within its valid time range ({e}).") from None

    # --- managed identity -------------------------------------------------------------------------------------

    def find_identity(self, client_id=None, object_id=None, resource_id=None):
        for i in self.identities:
            if (client_id and i["clientId"] == client_id) or (object_id and i["objectId"] == object_id) or \
                    (resource_id and i["resourceId"] == resource_id):
                return i
        if client_id or object_id or resource_id:
            return None
        defaults = [i for i in self.identities if i["default"]] or self.identities[:1]  # else the first one
        return defaults[0] if defaults else None

    # --- Key Vault --------------------------------------------------------------------------------------------

    def kv_challenge(self, base: str) -> str:
        return f'Bearer authorization="{base}/{self.tenant}", resource="{KV_RESOURCE}"'

    def kv_get(self, base: str, name: str, version: str | None, query: dict, auth: str | None) -> dict:
        if query.get("api-version") not in KV_API_VERSIONS:
            raise KvError(400, "BadParameter", f"The specified version ({query.get('api-version')}) is not "
                          f"recognized. Consider using the latest supported version ({KV_API_VERSIONS[-1]}).")
        challenge = {"WWW-Authenticate": self.kv_challenge(base)}
        if not auth or not auth.startswith("Bearer "):
            raise KvError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                          headers=challenge)
        try:
            claims = self.issuer.verify(auth[len("Bearer "):].strip())
        except tokens.JwtError as e:
            raise KvError(401, "Unauthorized", f"AKV10032: Invalid token ({e}).", headers=challenge) from None
        if resource_of(str(claims.get("aud"))) != KV_RESOURCE:
            raise KvError(401, "Unauthorized", f"AKV10022: Invalid audience. Expected {KV_RESOURCE}, found: "
                          f"{claims.get('aud')}.", headers=challenge)
        if claims.get("tid") != self.tenant:
            raise KvError(401, "Unauthorized", "AKV10032: Invalid issuer. Expected one of the vault's tenant.",
                          headers=challenge)
        readers = self.vault_readers
        names = self.principal_names(claims.get("oid")) | {claims.get("appid")}
        if readers is not None and not names & set(readers):
            raise KvError(403, "Forbidden", f"The user, group or application 'appid={claims.get('appid')};"
                          f"oid={claims.get('oid')};iss={claims.get('iss')}' does not have secrets get permission "
                          f"on key vault 'fake'.", inner={"code": "AccessDenied"})
        with self.lock:
            sec = self.secrets.get(name)
            v = None
            if sec is not None:
                if version:
                    v = next((x for x in sec.versions if x["version"] == version), None)
                else:
                    v = sec.versions[-1] if sec.versions else None
            if v is None:
                shown = f"{name}/{version}" if version else name
                raise KvError(404, "SecretNotFound", f"A secret with (name/id) {shown} was not found in this key "
                              "vault. If you recently deleted this secret you may be able to recover it using the "
                              "correct recovery command.")
            if not v["enabled"]:
                raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                              inner={"code": "SecretDisabled"})
            out = {"value": v["value"], "id": f"{base}/secrets/{name}/{v['version']}",
                   "attributes": {"enabled": True, "created": v["created"], "updated": v["updated"],
                                  "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                   "tags": v["tags"]}
            if v["contentType"]:
                out["contentType"] = v["contentType"]
            return out

    # --- control ----------------------------------------------------------------------------------------------

    def config_view(self, base: str) -> dict:
        return {"tenant": self.tenant, "authority": base, "tokenEndpoint": f"{base}/{self.tenant}/oauth2/v2.0/token",
                "openidConfiguration": f"{base}/{self.tenant}/v2.0/.well-known/openid-configuration",
                "vaultUrl": base, "imdsEndpoint": base + IMDS_PATH, "identityEndpoint": base + APP_SERVICE_PATH,
                "blobEndpoints": {a: f"{base}/{a}" for a in self.blob.accounts},
                "clients": sorted(self.clients), "managedIdentities": [i["clientId"] for i in self.identities]}


def make_handler(fake: FakeAzure, scheme: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-azure"
        sys_version = ""

        def log_message(self, fmt, *args):
            if fake.args.verbose:
                log(self.address_string(), fmt % args)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _send(self, status, headers: dict, body: bytes, service: str, extra=None):
            rid = str(uuid.uuid4())
            self.send_response(status)
            sent = {k.lower() for k in headers}
            for k, v in headers.items():
                self.send_header(k, v)
            if service == "blob":
                self.send_header("x-ms-request-id", rid)
                self.send_header("x-ms-version", self.headers.get("x-ms-version") or "2026-10-06")
                if self.headers.get("x-ms-client-request-id"):
                    self.send_header("x-ms-client-request-id", self.headers["x-ms-client-request-id"])
            elif service == "vault":
                self.send_header("x-ms-request-id", rid)
                self.send_header("x-ms-keyvault-service-version", "1.9.0.0")
            if "content-length" not in sent:
                self.send_header("Content-Length", str(len(body)))
            url = urlsplit(self.path)
            entry = {"service": service, "method": self.command, "path": url.path, "query": url.query,
                     "status": status, "authorization": (self.headers.get("Authorization") or "").split(" ")[0],
                     "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}}
            entry.update(extra or {})
            if service != "control":
                fake.record(entry)  # before the answer leaves, so the log keeps the order the client saw
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _base(self) -> str:
            return f"{scheme}://{self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]}"

        def do_GET(self):  # noqa: N802
            self._dispatch()

        def do_HEAD(self):  # noqa: N802
            self._dispatch()

        def do_PUT(self):  # noqa: N802
            self._dispatch()

        def do_POST(self):  # noqa: N802
            self._dispatch()

        def do_DELETE(self):  # noqa: N802
            self._dispatch()

        def do_PATCH(self):  # noqa: N802
            self._dispatch()

        def _service(self, path: str) -> str:
            if path == IMDS_PATH:
                return "imds"
            if path == APP_SERVICE_PATH:
                return "identity"
            first = path.lstrip("/").split("/", 1)[0]
            if first == "secrets":
                return "vault"
            if first == fake.tenant:
                return "entra"
            if first in fake.blob.accounts:
                return "blob"
            if re.fullmatch(r"/[^/]+(/oauth2/v2\.0/token|/v2\.0/\.well-known/openid-configuration|"
                            r"/\.well-known/openid-configuration)", path):
                return "entra"  # another tenant: refused as Entra refuses an unknown tenant
            return "unknown"

        def _dispatch(self):
            body = self._body()
            url = urlsplit(self.path)
            if url.path.startswith("/_fake/"):
                return self._control(url, body)
            service = self._service(url.path)
            fault = fake.faults.take(service) if service != "unknown" else None
            if fault is not None:
                return self._fault(fault, service)
            try:
                if service == "blob":
                    return self._blob(url, body)
                if service == "vault":
                    return self._vault(url)
                if service == "entra":
                    return self._entra(url, body)
                if service == "imds":
                    return self._imds(url)
                if service == "identity":
                    return self._app_service(url)
                self._json(404, {"error": {"code": "NotFound", "message": f"fake_azure serves no {url.path}"}},
                           "unknown")
            except Exception as e:  # a bug in the fake: answer 500 and say so
                log("internal error:", repr(e))
                import traceback
                traceback.print_exc()
                self._json(500, {"error": {"code": "FakeInternalError", "message": repr(e)}}, service)

        def _fault(self, f: dict, service: str):
            kind = f["kind"]
            if kind == "drop":
                fake.record({"service": service, "method": self.command, "path": self.path, "status": "dropped"})
                self.close_connection = True
                try:
                    import socket
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            status = int(kind)
            h = {}
            if status in (429, 503):
                h["Retry-After"] = str(f["retry_after"])
            if service == "blob":
                code = {500: "InternalError", 503: "ServerBusy", 429: "ServerBusy"}[status]
                msg = {500: "Server encountered an internal error. Please try again after some time.",
                       503: "The server is currently unable to receive requests. Please retry your request.",
                       429: "Operations per second is over the account limit."}[status]
                return self._blob_error(blobmod.BlobError(status, code, msg, headers=h))
            if service == "vault":
                code = {500: "InternalServerError", 503: "ServiceUnavailable", 429: "Throttled"}[status]
                return self._json(status, {"error": {"code": code, "message": f"Injected fault ({f['spec']})."}},
                                  service, h)
            return self._json(status, {"error": "temporarily_unavailable" if status != 500 else "server_error",
                                       "error_description": f"Injected fault ({f['spec']})."}, service, h)

        # Blob ------------------------------------------------------------------------------------------------

        def _blob(self, url, body):
            raw_path = self.path.split("?", 1)[0]
            segments = raw_path.lstrip("/").split("/")
            req = blobmod.Request(self.command, raw_path, url.query, {k.lower(): v for k, v in self.headers.items()},
                                  body, scheme, self.client_address[0])
            try:
                status, headers, out = fake.blob.handle(req, segments, self._base())
            except blobmod.BlobError as e:
                return self._blob_error(e)
            headers.setdefault("Date", blobmod.http_date(time.time()))
            self._send(status, headers, out, "blob")

        def _blob_error(self, e: blobmod.BlobError):
            rid = str(uuid.uuid4())
            h = {"x-ms-error-code": e.code, "Content-Type": "application/xml"}
            h.update(e.headers)
            if e.status == 304 or self.command == "HEAD":
                return self._send(e.status, h, b"", "blob", {"error": e.code})
            msg = f"{e.message}\nRequestId:{rid}\nTime:{blobmod.iso(time.time())}"
            xml = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{e.code}</Code><Message>' + \
                blobmod.escape(msg) + "</Message>"
            if e.detail:
                xml += f"<AuthenticationErrorDetail>{blobmod.escape(e.detail)}</AuthenticationErrorDetail>"
            xml += "</Error>"
            self._send(e.status, h, xml.encode(), "blob", {"error": e.code})

        # Key Vault -------------------------------------------------------------------------------------------

        def _vault(self, url):
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            try:
                if self.command != "GET" or len(parts) not in (2, 3) or not parts[1]:
                    raise KvError(405 if self.command != "GET" else 404, "NotSupportedByFake",
                                  f"{self.command} {url.path}: this fake serves GET /secrets/{{name}}[/{{version}}].")
                out = fake.kv_get(self._base(), parts[1], parts[2] if len(parts) == 3 and parts[2] else None, query,
                                  self.headers.get("Authorization"))
            except KvError as e:
                err = {"code": e.code, "message": e.message}
                if e.inner:
                    err["innererror"] = e.inner
                return self._json(e.status, {"error": err}, "vault", e.headers)
            self._json(200, out, "vault")

        # Entra ID --------------------------------------------------------------------------------------------

        def _entra(self, url, body):
            base = self._base()
            tenant = url.path.lstrip("/").split("/", 1)[0]
            if tenant != fake.tenant:
                return self._json(400, {"error": "invalid_tenant",
                                        "error_description": f"AADSTS90002: Tenant '{tenant}' not found. Check to "
                                                             "make sure you have the correct tenant ID and are "
                                                             "signing into the correct cloud.",
                                        "error_codes": [90002], "timestamp": now_iso(),
                                        "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}, "entra")
            rest = url.path[len(fake.tenant) + 1:]
            if self.command == "GET" and rest in ("/v2.0/.well-known/openid-configuration",
                                                  "/.well-known/openid-configuration"):
                return self._json(200, fake.openid_configuration(base, rest.startswith("/v2.0")), "entra")
            if self.command == "GET" and rest in ("/discovery/v2.0/keys", "/discovery/keys"):
                return self._json(200, fake.issuer.jwks(), "entra")
            if self.command == "POST" and rest == "/oauth2/v2.0/token":
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):  # client_secret_basic
                    cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    form.setdefault("client_id", unquote(cid))
                    form.setdefault("client_secret", unquote(secret))
                try:
                    out = fake.token(form, base, f"{base}{url.path}")
                except EntraError as e:
                    return self._json(e.status, {"error": e.error, "error_description": e.description,
                                                 "error_codes": [e.code], "timestamp": now_iso(),
                                                 "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
                                                 "error_uri": f"{base}/error?code={e.code}"}, "entra",
                                      extra_log={"client": form.get("client_id")})
                return self._json(200, out, "entra")
            self._json(404, {"error": "not_found", "error_description": f"fake_azure serves no {url.path}"}, "entra")

        def _json(self, status, obj, service, headers=None, extra_log=None):
            h = {"Content-Type": "application/json; charset=utf-8"}
            h.update(headers or {})
            self._send(status, h, json.dumps(obj).encode(), service, extra_log)

        # Managed identity ------------------------------------------------------------------------------------

        def _mi_token(self, q: dict, identity, service):
            resource = q.get("resource", "")
            if resource_of(resource) not in fake.resources:
                return self._json(400, {"error": "invalid_resource",
                                        "error_description": f"AADSTS500011: The resource principal named "
                                                             f"{resource} was not found in the tenant."}, service)
            token, expires_on, life = fake.issue(resource, identity["objectId"], identity["clientId"])
            return token, expires_on, life

        def _imds(self, url):
            q = dict(parse_qsl(url.query, keep_blank_values=True))
            if self.command != "GET":
                return self._json(405, {"error": "invalid_request", "error_description": "GET only"}, "imds")
            if self.headers.get("Metadata", "").lower() != "true":
                return self._json(400, {"error": "invalid_request",
                                        "error_description": "Required metadata header not specified"}, "imds")
            if not q.get("api-version"):
                return self._json(400, {"error": "invalid_request",
                                        "error_description": "Required query variable 'api-version' is missing"},
                                  "imds")
            if not q.get("resource"):
                return self._json(400, {"error": "invalid_request",
                                        "error_description": "Required query variable 'resource' is missing"},
                                  "imds")
            ident = fake.find_identity(q.get("client_id"), q.get("object_id"), q.get("msi_res_id"))
            if ident is None:
                return self._json(400, {"error": "invalid_request", "error_description": "Identity not found"},
                                  "imds")
            r = self._mi_token(q, ident, "imds")
            if r is None:
                return
            token, expires_on, life = r
            now = int(time.time())
            self._json(200, {"access_token": token, "client_id": ident["clientId"], "expires_in": str(life),
                             "expires_on": str(expires_on), "ext_expires_in": str(life), "not_before": str(now),
                             "resource": q["resource"], "token_type": "Bearer"}, "imds")

        def _app_service(self, url):
            q = dict(parse_qsl(url.query, keep_blank_values=True))
            if fake.identity_header is None or self.headers.get("X-IDENTITY-HEADER") != fake.identity_header:
                return self._json(401, {"statusCode": 401, "message": "X-IDENTITY-HEADER missing or wrong"},
                                  "identity")
            if q.get("api-version") != "2019-08-01":
                return self._json(400, {"statusCode": 400, "message": "api-version 2019-08-01 expected"},
                                  "identity")
            if not q.get("resource"):
                return self._json(400, {"statusCode": 400, "message": "resource is required"}, "identity")
            ident = fake.find_identity(q.get("client_id"), q.get("principal_id") or q.get("object_id"),
                                       q.get("mi_res_id") or q.get("msi_res_id"))
            if ident is None:
                return self._json(400, {"statusCode": 400, "message": "No managed identity found"}, "identity")
            r = self._mi_token(q, ident, "identity")
            if r is None:
                return
            token, expires_on, life = r
            self._json(200, {"access_token": token, "expires_on": str(expires_on), "resource": q["resource"],
                             "token_type": "Bearer", "client_id": ident["clientId"]}, "identity")

        # Control ---------------------------------------------------------------------------------------------

        def _control(self, url, body):
            path, m = url.path, self.command
            try:
                data = json.loads(body) if body else {}
            except json.JSONDecodeError as e:
                return self._json(400, {"error": f"invalid JSON: {e}"}, "control")
            try:
                if path == "/_fake/health":
                    return self._json(200, {"ok": True}, "control")
                if path == "/_fake/config" and m == "GET":
                    return self._json(200, fake.config_view(self._base()), "control")
                if path == "/_fake/stats" and m == "GET":
                    with fake.lock:
                        stats = dict(fake.stats)
                    return self._json(200, {"requests": stats, "faults": fake.faults.snapshot()}, "control")
                if path == "/_fake/requests":
                    with fake.lock:
                        if m == "DELETE":
                            fake.requests.clear()
                            fake.stats.clear()
                        out = list(fake.requests)
                    return self._json(200, {"requests": out}, "control")
                if path == "/_fake/faults":
                    if m == "POST":
                        fake.faults.set(data.get("faults", []))
                    elif m == "DELETE":
                        fake.faults.set([])
                    return self._json(200, fake.faults.snapshot(), "control")
                if path == "/_fake/blobs" and m == "GET":
                    return self._json(200, fake.blob.dump(), "control")
                if path == "/_fake/tokens" and m == "POST":
                    token, expires_on, _ = fake.issue(data["resource"], data.get("objectId", str(uuid.uuid4())),
                                                      data.get("clientId", ""), data.get("lifetime"),
                                                      data.get("tenant"))
                    return self._json(200, {"access_token": token, "expires_on": expires_on}, "control")
                if path == "/_fake/vault/readers" and m == "POST":
                    fake.vault_readers = data.get("readers")
                    return self._json(200, {"readers": fake.vault_readers}, "control")
                if path.startswith("/_fake/vault/secrets/") and m == "POST":
                    parts = [unquote(p) for p in path[len("/_fake/vault/secrets/"):].split("/")]
                    with fake.lock:
                        if len(parts) == 1:  # a new version (rotation)
                            sec = fake.secrets.setdefault(parts[0], Secret(parts[0]))
                            v = sec.add(data["value"], data.get("contentType"), data.get("tags"),
                                        data.get("enabled", True), data.get("version"))
                        else:  # update a version's attributes
                            sec = fake.secrets.get(parts[0])
                            v = next((x for x in (sec.versions if sec else []) if x["version"] == parts[1]), None)
                            if v is None:
                                return self._json(404, {"error": "no such secret version"}, "control")
                            if "enabled" in data:
                                v["enabled"] = bool(data["enabled"])
                            v["updated"] = int(time.time())
                    return self._json(200, {"name": parts[0], "version": v["version"], "enabled": v["enabled"],
                                            "id": f"{self._base()}/secrets/{parts[0]}/{v['version']}"}, "control")
                if path.startswith("/_fake/vault/secrets/") and m == "DELETE":
                    name = unquote(path[len("/_fake/vault/secrets/"):])
                    with fake.lock:
                        fake.secrets.pop(name, None)
                    return self._json(200, {"deleted": name}, "control")
            except (ValueError, KeyError, TypeError) as e:
                return self._json(400, {"error": str(e)}, "control")
            self._json(404, {"error": f"no control endpoint {m} {path}"}, "control")

    return Handler


def self_signed(cert_path: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, ::1 and localhost (the PEM at cert_path, its key beside it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake_azure loopback")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.IPAddress(ipaddress.ip_address("::1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    key_path = cert_path + ".key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    tmp = cert_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, cert_path)
    return cert_path, key_path


def build_config(args) -> dict:
    cfg = {}
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
    if args.tenant:
        cfg["tenant"] = args.tenant
    for spec in args.account or []:
        name, _, key = spec.partition("=")
        cfg.setdefault("accounts", []).append({"name": name, "key": key, "containers": args.container or []})
    if not cfg.get("accounts") and args.container:
        cfg["accounts"] = [{"name": DEV_ACCOUNT[0], "key": DEV_ACCOUNT[1], "containers": args.container}]
    for spec in args.client or []:
        cid, _, secret = spec.partition("=")
        cfg.setdefault("clients", []).append({"clientId": cid, "secret": secret})
    clients = {c["clientId"]: c for c in cfg.setdefault("clients", [])}
    for spec in args.client_cert or []:
        cid, _, pem = spec.partition("=")
        clients.setdefault(cid, {"clientId": cid})
        if clients[cid] not in cfg["clients"]:
            cfg["clients"].append(clients[cid])
        clients[cid].setdefault("certificates", []).append(pem)
    for spec in args.federated or []:
        cid, _, rest = spec.partition("=")
        fields = rest.split(",")
        if len(fields) not in (2, 3):
            raise ValueError(f"--federated {spec!r}: CLIENT_ID=ISSUER,SUBJECT[,ISSUER_KEY_PEM]")
        clients.setdefault(cid, {"clientId": cid})
        if clients[cid] not in cfg["clients"]:
            cfg["clients"].append(clients[cid])
        fed = {"issuer": fields[0], "subject": fields[1]}
        if len(fields) == 3:
            fed["issuerKey"] = fields[2]
        clients[cid].setdefault("federated", []).append(fed)
    for spec in args.managed_identity or []:
        cfg.setdefault("managedIdentities", []).append({"clientId": spec})
    if args.identity_header:
        cfg["identityHeader"] = args.identity_header
    for spec in args.secret or []:
        name, _, value = spec.partition("=")
        cfg.setdefault("vault", {}).setdefault("secrets", []).append({"name": name, "value": value})
    if args.token_signing_key:
        cfg["tokenSigningKey"] = args.token_signing_key
    if args.token_lifetime is not None:
        cfg["tokenLifetime"] = args.token_lifetime
    return cfg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="fake Azure Blob / Key Vault / Entra ID / IMDS on loopback (a fake)")
    fake_serving.add_arguments(p)
    p.add_argument("--config", help="JSON config (README.md): tenant, accounts, clients, identities, vault")
    p.add_argument("--tenant", help=f"tenant id (default {DEFAULT_TENANT})")
    p.add_argument("--account", action="append", help="NAME=BASE64KEY (repeatable; default the dev account)")
    p.add_argument("--container", action="append", help="a container to create in each --account (repeatable)")
    p.add_argument("--client", action="append", help="CLIENT_ID=SECRET, an app registration (repeatable)")
    p.add_argument("--client-cert", action="append",
                   help="CLIENT_ID=CERT_PEM_PATH, a certificate registered on an app (repeatable)")
    p.add_argument("--federated", action="append",
                   help="CLIENT_ID=ISSUER,SUBJECT[,ISSUER_KEY_PEM_PATH], a federated credential (repeatable)")
    p.add_argument("--managed-identity", action="append", help="CLIENT_ID of a managed identity (repeatable)")
    p.add_argument("--identity-header", help="the App Service X-IDENTITY-HEADER value")
    p.add_argument("--secret", action="append", help="NAME=VALUE, a Key Vault secret (repeatable)")
    p.add_argument("--token-lifetime", type=int, help="seconds an issued token lives (default 3600)")
    p.add_argument("--token-signing-key", metavar="PEM",
                   help="RSA private key signing the issued tokens (default: a fresh one); fakes started with the "
                        "same key and tenant accept each other's tokens")
    p.add_argument("--tls-self-signed", metavar="CERT_PEM",
                   help="serve https with a fresh self-signed cert written to CERT_PEM (key at CERT_PEM.key)")
    p.add_argument("--fault", action="append", help="a fault, repeatable (faults.py)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    try:
        ok = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        ok = args.host == "localhost"
    if not ok:
        p.error("--host must be a loopback address")
    if args.tls_self_signed:
        args.tls_cert, args.tls_key = self_signed(args.tls_self_signed)
    try:
        fake = FakeAzure(args, build_config(args))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"fake_azure: invalid configuration: {e}", file=sys.stderr)
        return 2
    return fake_serving.serve(make_handler(fake, "https" if args.tls_cert else "http"), args)


if __name__ == "__main__":
    sys.exit(main())
