#!/usr/bin/env python3
"""fake_gcp: loopback test servers that answer like Google's OAuth token endpoint, STS, IAM Credentials, the GCE
metadata server and Secret Manager, plus a verifying proxy for Cloud Storage's XML API (V4 signatures) in front of
fake-gcs-server. A fake, not Google. See README.md."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, quote, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fake_serving  # noqa: E402

import faults as faultmod  # noqa: E402
import signing  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
STORAGE_SCOPES = {CLOUD_PLATFORM, "https://www.googleapis.com/auth/devstorage.read_only",
                  "https://www.googleapis.com/auth/devstorage.read_write",
                  "https://www.googleapis.com/auth/devstorage.full_control"}
# google-auth 2.62.2 sends this aud even when token_uri points elsewhere (INTEGRATIONS.md); Google documents it.
JWT_AUDIENCES = {"https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token"}
STS_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TYPES = {"urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"}
CLOCK_SKEW = 300
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
       "proxy-connection", "host", "content-length"}


def log(*args) -> None:
    print("fake_gcp:", *args, file=sys.stderr, flush=True)


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class ApiError(Exception):
    """Google's JSON error: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class OAuthError(Exception):
    """The token endpoints' error: {"error", "error_description"}."""

    def __init__(self, code: int, error: str, description: str):
        super().__init__(description)
        self.code, self.error, self.description = code, error, description


class XmlError(Exception):
    """Cloud Storage's XML error: <Error><Code/><Message/><Details/>…</Error>."""

    def __init__(self, code: int, xml_code: str, message: str, **extra):
        super().__init__(message)
        self.code, self.xml_code, self.message, self.extra = code, xml_code, message, extra


class DropConnection(Exception):
    pass


# --- state ----------------------------------------------------------------------------------------------------------

class ServiceAccount:
    def __init__(self, email, key_id, private_key=None, public_key=None, token_creators=(), project=None):
        self.email, self.key_id = email, key_id
        self.private_key = private_key
        self.public_key = public_key or (private_key.public_key() if private_key else None)
        self.token_creators = list(token_creators)
        self.project = project or email.split("@", 1)[1].split(".", 1)[0]


def key_file_json(email: str, key_id: str, private_key, token_uri: str, project: str | None = None) -> dict:
    """A key file in the shape Google issues for service accounts (type service_account)."""
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": project or email.split("@", 1)[1].split(".", 1)[0],
            "private_key_id": key_id, "private_key": pem, "client_email": email,
            "client_id": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri}


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class FakeGcp:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.clock_offset = 0.0
        self.token_lifetime = args.token_lifetime
        self.faults = faultmod.Faults(args.fault or [])
        self.upload_sessions: dict[str, dict] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.hmac_keys: dict[str, dict] = {}
        self.providers: dict[str, dict] = {}
        self.secrets: dict[tuple[str, str], dict] = {}
        self.project_numbers: dict[str, str] = {}
        self.tokens: dict[str, dict] = {}
        self.metadata = {"serviceAccount": None, "projectId": "outpost-test", "numericProjectId": "123456789012",
                         "scopes": [CLOUD_PLATFORM]}
        self.endpoints: dict[str, str] = {}
        self.stats: dict = {"requests": {}, "refused": {}, "tokensIssued": 0}
        self.generated: list[tuple[str, str, ServiceAccount]] = []
        for path in args.service_account or []:
            self.add_key_file(json.load(open(path)), path)
        for spec in args.generate_service_account or []:
            email, _, path = spec.partition("=")
            if not email or not path:
                raise SystemExit(f"--generate-service-account {spec!r}: expected EMAIL=PATH")
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            sa = ServiceAccount(email, secrets.token_hex(20), key)
            self.service_accounts[email] = sa
            self.generated.append((email, path, sa))
        for spec in args.hmac_key or []:
            parts = spec.split(":", 2)
            if len(parts) != 3:
                raise SystemExit(f"--hmac-key {spec!r}: expected ACCESS_ID:SECRET:SERVICE_ACCOUNT_EMAIL")
            self.hmac_keys[parts[0]] = {"accessId": parts[0], "secret": parts[1], "serviceAccount": parts[2],
                                        "state": "ACTIVE"}
        if args.state_file:
            self.load_state(json.load(open(args.state_file)), os.path.dirname(os.path.abspath(args.state_file)))
        if args.metadata_service_account:
            self.metadata["serviceAccount"] = args.metadata_service_account

    # --- configuration ------------------------------------------------------------------------------------------
    def add_key_file(self, data: dict, where: str = "key file", token_creators=()) -> ServiceAccount:
        if data.get("type") != "service_account":
            raise SystemExit(f"{where}: not a service account key file (type service_account)")
        key = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
        sa = ServiceAccount(data["client_email"], data["private_key_id"], key, token_creators=token_creators,
                            project=data.get("project_id"))
        self.service_accounts[sa.email] = sa
        return sa

    def load_state(self, state: dict, base: str) -> None:
        for p in state.get("projects", []):
            self.project_numbers[p["id"]] = str(p["number"])
        for s in state.get("serviceAccounts", []):
            if "keyFile" in s:
                path = os.path.join(base, s["keyFile"])
                self.add_key_file(json.load(open(path)), path, s.get("tokenCreators", []))
            elif "publicKeyPem" in s:
                pub = serialization.load_pem_public_key(s["publicKeyPem"].encode())
                self.service_accounts[s["email"]] = ServiceAccount(s["email"], s.get("privateKeyId", ""),
                                                                   public_key=pub,
                                                                   token_creators=s.get("tokenCreators", []))
            elif s["email"] in self.service_accounts:
                self.service_accounts[s["email"]].token_creators += s.get("tokenCreators", [])
            else:
                raise SystemExit(f"state file: service account {s['email']}: give keyFile or publicKeyPem")
        for h in state.get("hmacKeys", []):
            self.hmac_keys[h["accessId"]] = {"accessId": h["accessId"], "secret": h["secret"],
                                             "serviceAccount": h["serviceAccount"],
                                             "state": h.get("state", "ACTIVE")}
        for p in state.get("workloadIdentityProviders", []):
            self.add_provider(p)
        md = state.get("metadata") or {}
        self.metadata.update({k: v for k, v in md.items() if v is not None})
        for s in state.get("secrets", []):
            for v in s.get("versions", []):
                self.add_secret_version(s["project"], s["name"], self.version_bytes(v), v.get("state", "ENABLED"),
                                        accessors=s.get("accessors"))
            if not s.get("versions"):
                self.ensure_secret(s["project"], s["name"], s.get("accessors"))

    def add_provider(self, p: dict) -> None:
        audience = p["audience"]
        if not audience.startswith("//iam.googleapis.com/"):
            raise SystemExit(f"provider {audience!r}: the audience is //iam.googleapis.com/projects/N/locations/"
                             "global/workloadIdentityPools/POOL/providers/PROVIDER")
        pub = serialization.load_pem_public_key(p["issuerPublicKeyPem"].encode())
        self.providers[audience] = {
            "audience": audience, "issuer": p["issuer"], "publicKey": pub,
            "allowedAudiences": p.get("allowedAudiences") or ["https:" + audience],
            "pool": audience.split("/providers/", 1)[0].removeprefix("//iam.googleapis.com/")}

    @staticmethod
    def version_bytes(v: dict) -> bytes:
        if "dataBase64" in v:
            return base64.b64decode(v["dataBase64"])
        return str(v.get("data", "")).encode("utf-8")

    def ensure_secret(self, project, name, accessors=None) -> dict:
        with self.lock:
            s = self.secrets.setdefault((project, name), {"accessors": [], "versions": []})
            if accessors is not None:
                s["accessors"] = list(accessors)
            return s

    def add_secret_version(self, project, name, data: bytes, state="ENABLED", accessors=None) -> int:
        s = self.ensure_secret(project, name, accessors)
        with self.lock:
            n = len(s["versions"]) + 1
            s["versions"].append({"n": n, "data": data, "state": state, "created": self.now()})
            return n

    # --- clock and tokens ---------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def issue_token(self, principal: str, scopes, kind: str, lifetime: int | None = None) -> dict:
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        lifetime = int(lifetime or self.token_lifetime)
        exp = self.now() + lifetime
        with self.lock:
            self.tokens[token] = {"principal": principal, "scopes": sorted(set(scopes)), "exp": exp, "kind": kind}
            self.stats["tokensIssued"] += 1
        return {"token": token, "expiresIn": lifetime, "exp": exp}

    def check_bearer(self, header: str | None, wanted_scopes) -> dict:
        if not header or not header.lower().startswith("bearer "):
            raise ApiError(401, "UNAUTHENTICATED", "Request is missing required authentication credential. "
                           "Expected OAuth 2 access token, login cookie or other valid authentication credential.")
        token = header[7:].strip()
        with self.lock:
            t = self.tokens.get(token)
        if t is None or t["exp"] <= self.now():
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication credential.")
        if not set(t["scopes"]) & set(wanted_scopes):
            raise ApiError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        return t

    def bump(self, kind: str, key: str) -> None:
        with self.lock:
            d = self.stats[kind]
            d[key] = d.get(key, 0) + 1

    def snapshot(self) -> dict:
        with self.lock:
            out = json.loads(json.dumps(self.stats))
            out["activeTokens"] = sum(1 for t in self.tokens.values() if t["exp"] > self.now())
            out["clockOffsetSeconds"] = self.clock_offset
        out["faults"] = self.faults.snapshot()
        return out

    # --- the token endpoint (service-account JWT bearer grant) --------------------------------------------------
    def jwt_grant(self, form: dict) -> dict:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        assertion = form.get("assertion", "")
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a "
                             "reasonable timeframe.")
        try:
            header, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except ValueError:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: could not decode.")
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: alg must be RS256.")
        sa = self.service_accounts.get(claims.get("iss", ""))
        if sa is None or sa.public_key is None:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        if header.get("kid") and sa.key_id and header["kid"] != sa.key_id:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            sa.public_key.verify(sig, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in JWT_AUDIENCES:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: aud must be https://oauth2.googleapis.com/token.")
        now = self.now()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or exp <= iat \
                or exp - iat > 3600 or iat > now + CLOCK_SKEW or exp <= now:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and "
                             "in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        scopes = (claims.get("scope") or "").split()
        if not scopes:
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        t = self.issue_token(sa.email, scopes, "service-account")
        return {"access_token": t["token"], "expires_in": t["expiresIn"], "token_type": "Bearer"}

    # --- STS token exchange (workload identity federation) ------------------------------------------------------
    def sts_exchange(self, form: dict) -> dict:
        if form.get("grant_type") != STS_GRANT:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type.")
        if form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", "Invalid requested_token_type.")
        if form.get("subject_token_type") not in SUBJECT_TYPES:
            raise OAuthError(400, "invalid_request", "Invalid subject_token_type: only OIDC JWTs are faked.")
        provider = self.providers.get(form.get("audience", ""))
        if provider is None:
            raise OAuthError(400, "invalid_target", "The target service indicated by the \"audience\" parameters "
                             "is invalid.")
        parts = (form.get("subject_token") or "").split(".")
        try:
            header, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
            provider["publicKey"].verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
            if header.get("alg") != "RS256":
                raise ValueError
        except (ValueError, IndexError, InvalidSignature):
            raise OAuthError(400, "invalid_grant", "Invalid value for \"subject_token\": the signature could not "
                             "be verified.")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if claims.get("iss") != provider["issuer"]:
            raise OAuthError(400, "invalid_grant", "The issuer in ID Token does not match the provider's issuer.")
        if not set(auds) & set(provider["allowedAudiences"]):
            raise OAuthError(400, "invalid_grant", "The audience in ID Token does not match the expected audience.")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= self.now():
            raise OAuthError(400, "invalid_grant", "ID Token expired.")
        if not claims.get("sub"):
            raise OAuthError(400, "invalid_grant", "The subject claim is missing.")
        scopes = (form.get("scope") or "").split() or [CLOUD_PLATFORM]
        principal = f"principal://iam.googleapis.com/{provider['pool']}/subject/{claims['sub']}"
        t = self.issue_token(principal, scopes, "federated")
        return {"access_token": t["token"], "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer",
                "expires_in": t["expiresIn"]}

    # --- IAM Credentials ----------------------------------------------------------------------------------------
    def may_act_as(self, principal: str, sa: ServiceAccount) -> bool:
        """tokenCreators entries: an exact principal (a service-account email or principal://…/subject/SUB), or a
        prefix ending in /* (principalSet://…/workloadIdentityPools/POOL/* takes every subject of the pool)."""
        as_set = principal.replace("principal://", "principalSet://", 1)
        for who in sa.token_creators:
            if who == principal or (who.endswith("/*") and (principal.startswith(who[:-1])
                                                            or as_set.startswith(who[:-1]))):
                return True
        return False

    def iam_target(self, authz, email: str) -> ServiceAccount:
        t = self.check_bearer(authz, {CLOUD_PLATFORM, "https://www.googleapis.com/auth/iam"})
        sa = self.service_accounts.get(email)
        if sa is None or not self.may_act_as(t["principal"], sa):
            raise ApiError(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on "
                           f"resource (or it may not exist): projects/-/serviceAccounts/{email}")
        return sa

    def generate_access_token(self, authz, email: str, body: dict) -> dict:
        sa = self.iam_target(authz, email)
        scopes = body.get("scope") or []
        if not scopes:
            raise ApiError(400, "INVALID_ARGUMENT", "Scope required.")
        lifetime = body.get("lifetime") or "3600s"
        m = re.fullmatch(r"(\d+)(?:\.\d+)?s", lifetime)
        if not m or not 1 <= int(m.group(1)) <= 3600:
            raise ApiError(400, "INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s.")
        t = self.issue_token(sa.email, scopes, "impersonated", int(m.group(1)))
        expire = dt.datetime.fromtimestamp(int(t["exp"]), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"accessToken": t["token"], "expireTime": expire}

    def sign_blob(self, authz, email: str, body: dict) -> dict:
        sa = self.iam_target(authz, email)
        if sa.private_key is None:
            raise ApiError(400, "FAILED_PRECONDITION", "The fake holds no private key for this service account.")
        try:
            payload = base64.b64decode(body.get("payload") or "", validate=True)
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid value at 'payload' (TYPE_BYTES).")
        sig = sa.private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return {"keyId": sa.key_id, "signedBlob": base64.b64encode(sig).decode()}

    # --- Secret Manager -----------------------------------------------------------------------------------------
    def access_secret(self, authz, project: str, secret: str, version: str) -> dict:
        t = self.check_bearer(authz, {CLOUD_PLATFORM})
        with self.lock:
            s = self.secrets.get((project, secret))
            if s is None:
                number = self.project_numbers.get(project)
                alias = next((p for p, n in self.project_numbers.items() if n == project), None)
                s = self.secrets.get((number, secret)) or self.secrets.get((alias, secret))
            if s is None:
                raise ApiError(404, "NOT_FOUND", f"Secret [projects/{project}/secrets/{secret}] not found or has "
                               "no versions.")
            if t["principal"] not in s["accessors"] and "*" not in s["accessors"]:
                raise ApiError(403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied for "
                               f"resource 'projects/{project}/secrets/{secret}/versions/{version}' (or it may not "
                               "exist).")
            if version == "latest":
                if not s["versions"]:
                    raise ApiError(404, "NOT_FOUND", f"Secret [projects/{project}/secrets/{secret}] not found or "
                                   "has no versions.")
                v = s["versions"][-1]
            elif version.isdigit() and 1 <= int(version) <= len(s["versions"]):
                v = s["versions"][int(version) - 1]
            else:
                raise ApiError(404, "NOT_FOUND", f"Secret Version [projects/{project}/secrets/{secret}/versions/"
                               f"{version}] not found.")
        number = self.project_numbers.get(project, project)
        name = f"projects/{number}/secrets/{secret}/versions/{v['n']}"
        if v["state"] != "ENABLED":
            raise ApiError(400, "FAILED_PRECONDITION", f"{name} is in {v['state']} state.")
        return {"name": name, "payload": {"data": base64.b64encode(v["data"]).decode(),
                                          "dataCrc32c": str(crc32c(v["data"]))}}


# --- the main port: token, STS, IAM Credentials, metadata, Secret Manager, control ---------------------------------

class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeGcp

    def log_message(self, fmt, *args):
        if self.fake.args.verbose:
            log(self.address_string(), fmt % args)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError, DropConnection):
            self.close_connection = True

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, ctype: str | None, headers=None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items() if isinstance(headers, dict) else (headers or []):
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers=None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=UTF-8", headers)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise DropConnection()

    def _fault(self, target: str, also: str | None = None):
        self.fake.bump("requests", target)
        action = self.fake.faults.take(target, f"{self.command} {urlsplit(self.path).path}", also)
        if action == "drop":
            self._drop()
        return action


def make_main_handler(fake: FakeGcp):
    class Handler(BaseHandler):
        server_version = "fake-gcp/1"

        def _api_error(self, e: ApiError) -> None:
            self.fake.bump("refused", f"{e.code} {e.status}")
            self._json(e.code, {"error": {"code": e.code, "message": e.message, "status": e.status}})

        def _oauth_error(self, e: OAuthError) -> None:
            self.fake.bump("refused", f"{e.code} {e.error}")
            self._json(e.code, {"error": e.error, "error_description": e.description})

        def _injected(self, action: str, oauth: bool) -> None:
            code = int(action)
            status = {500: "INTERNAL", 503: "UNAVAILABLE", 429: "RESOURCE_EXHAUSTED"}[code]
            headers = {"Retry-After": "1"} if code in (429, 503) else None
            if oauth:
                return self._json(code, {"error": "temporarily_unavailable" if code != 500 else "internal_failure",
                                         "error_description": f"Injected fault ({code})."}, headers)
            self._json(code, {"error": {"code": code, "message": f"Injected fault ({code}).", "status": status}},
                       headers)

        def _form(self, body: bytes) -> dict:
            return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            path = url.path
            if path.startswith("/_fake/"):
                return self._control_get(path)
            if path == "/" or path.startswith("/computeMetadata/"):
                return self._metadata(url)
            m = re.fullmatch(r"/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access", path)
            if m:
                action = self._fault("secrets")
                if action:
                    return self._injected(action, False)
                try:
                    return self._json(200, fake.access_secret(self.headers.get("Authorization"),
                                                              *[unquote(g) for g in m.groups()]))
                except ApiError as e:
                    return self._api_error(e)
            self._api_error(ApiError(404, "NOT_FOUND", f"The fake has no route GET {path}."))

        def do_POST(self):  # noqa: N802
            url = urlsplit(self.path)
            path = url.path
            body = self._body()
            if path.startswith("/_fake/"):
                return self._control_post(path, body)
            if path == "/token":
                action = self._fault("token")
                if action:
                    return self._injected(action, True)
                try:
                    return self._json(200, fake.jwt_grant(self._form(body)))
                except OAuthError as e:
                    return self._oauth_error(e)
            if path == "/v1/token":
                action = self._fault("sts")
                if action:
                    return self._injected(action, True)
                try:
                    return self._json(200, fake.sts_exchange(self._form(body)))
                except OAuthError as e:
                    return self._oauth_error(e)
            m = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):(generateAccessToken|signBlob)", path)
            if m:
                action = self._fault("iam")
                if action:
                    return self._injected(action, False)
                try:
                    req = json.loads(body or b"{}")
                    fn = fake.generate_access_token if m.group(2) == "generateAccessToken" else fake.sign_blob
                    return self._json(200, fn(self.headers.get("Authorization"), unquote(m.group(1)), req))
                except ValueError:
                    return self._api_error(ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
                except ApiError as e:
                    return self._api_error(e)
            self._api_error(ApiError(404, "NOT_FOUND", f"The fake has no route POST {path}."))

        def do_DELETE(self):  # noqa: N802
            path = urlsplit(self.path).path
            if path == "/_fake/faults":
                fake.faults.clear()
                return self._json(200, fake.faults.snapshot())
            self._api_error(ApiError(404, "NOT_FOUND", f"The fake has no route DELETE {path}."))

        # --- metadata server --------------------------------------------------------------------------------
        def _metadata(self, url) -> None:
            hdr = {"Metadata-Flavor": "Google", "Server": "Metadata Server for VM"}
            action = self._fault("metadata")
            if action:
                return self._send(int(action), b"Injected fault.\n", "text/plain", hdr)
            if self.headers.get("Metadata-Flavor") != "Google" or self.headers.get("X-Forwarded-For"):
                fake.bump("refused", "403 metadata-flavor")
                return self._send(403, b"Missing required header: Metadata-Flavor\n", "text/html", hdr)
            path = url.path
            q = dict(parse_qsl(url.query))
            md = fake.metadata
            email = md.get("serviceAccount")
            if path == "/":
                return self._send(200, b"computeMetadata/\n", "application/text", hdr)
            if path in ("/computeMetadata/v1/project/project-id",):
                return self._send(200, md["projectId"].encode(), "application/text", hdr)
            if path == "/computeMetadata/v1/project/numeric-project-id":
                return self._send(200, str(md["numericProjectId"]).encode(), "application/text", hdr)
            m = re.fullmatch(r"/computeMetadata/v1/instance/service-accounts/([^/]+)(/.*)?", path)
            if m and email and m.group(1) in ("default", email):
                rest = m.group(2) or "/"
                if rest == "/token":
                    scopes = md["scopes"]
                    t = fake.issue_token(email, scopes, "metadata")
                    return self._send(200, json.dumps({"access_token": t["token"], "expires_in": t["expiresIn"],
                                                       "token_type": "Bearer"}).encode(), "application/json", hdr)
                if rest == "/email":
                    return self._send(200, email.encode(), "application/text", hdr)
                if rest == "/scopes":
                    return self._send(200, ("\n".join(md["scopes"]) + "\n").encode(), "application/text", hdr)
                if rest == "/" and q.get("recursive") == "true":
                    return self._send(200, json.dumps({"aliases": ["default"], "email": email,
                                                       "scopes": md["scopes"]}).encode(), "application/json", hdr)
                if rest == "/":
                    return self._send(200, b"aliases\nemail\nidentity\nscopes\ntoken\n", "application/text", hdr)
            self._send(404, b"Not Found\n", "text/html", hdr)

        # --- control ----------------------------------------------------------------------------------------
        def _control_get(self, path: str) -> None:
            if path == "/_fake/health":
                return self._json(200, {"ok": True})
            if path == "/_fake/stats":
                return self._json(200, fake.snapshot())
            if path == "/_fake/faults":
                return self._json(200, fake.faults.snapshot())
            if path == "/_fake/endpoints":
                return self._json(200, fake.endpoints)
            self._json(404, {"error": "no such control endpoint"})

        def _control_post(self, path: str, body: bytes) -> None:
            try:
                req = json.loads(body or b"{}")
                if path == "/_fake/faults":
                    fake.faults.add(req.get("faults") or []) if req.get("append") else \
                        fake.faults.set(req.get("faults") or [])
                    return self._json(200, fake.faults.snapshot())
                if path == "/_fake/clock":
                    with fake.lock:
                        if "offsetSeconds" in req:
                            fake.clock_offset = float(req["offsetSeconds"])
                        fake.clock_offset += float(req.get("advanceSeconds", 0))
                        return self._json(200, {"offsetSeconds": fake.clock_offset, "now": fake.now()})
                if path == "/_fake/secrets/versions":
                    data = base64.b64decode(req["dataBase64"]) if "dataBase64" in req else \
                        str(req.get("data", "")).encode()
                    n = fake.add_secret_version(req["project"], req["secret"], data, req.get("state", "ENABLED"),
                                                req.get("accessors"))
                    return self._json(200, {"version": n})
                if path == "/_fake/secrets/state":
                    with fake.lock:
                        s = fake.secrets[(req["project"], req["secret"])]
                        v = s["versions"][int(req["version"]) - 1]
                        if req["state"] not in ("ENABLED", "DISABLED", "DESTROYED"):
                            raise ValueError("state is ENABLED, DISABLED or DESTROYED")
                        v["state"] = req["state"]
                        if req["state"] == "DESTROYED":
                            v["data"] = b""
                    return self._json(200, {"version": v["n"], "state": v["state"]})
                if path == "/_fake/secrets/accessors":
                    fake.ensure_secret(req["project"], req["secret"], req["accessors"])
                    return self._json(200, {"ok": True})
                if path == "/_fake/tokens":
                    t = fake.issue_token(req["principal"], req.get("scopes") or [CLOUD_PLATFORM], "control",
                                         req.get("lifetimeSeconds"))
                    return self._json(200, {"access_token": t["token"], "expires_in": t["expiresIn"]})
                if path == "/_fake/tokens/revoke":
                    with fake.lock:
                        fake.tokens.pop(req["token"], None)
                    return self._json(200, {"ok": True})
                if path == "/_fake/hmac":
                    with fake.lock:
                        h = fake.hmac_keys.setdefault(req["accessId"], {"accessId": req["accessId"]})
                        for k in ("secret", "serviceAccount", "state"):
                            if k in req:
                                h[k] = req[k]
                        h.setdefault("state", "ACTIVE")
                    return self._json(200, {"accessId": h["accessId"], "state": h["state"]})
                if path == "/_fake/providers":
                    fake.add_provider(req)
                    return self._json(200, {"ok": True})
                if path == "/_fake/service-accounts/token-creators":
                    with fake.lock:
                        fake.service_accounts[req["email"]].token_creators = list(req["tokenCreators"])
                    return self._json(200, {"ok": True})
                if path == "/_fake/stats/reset":
                    with fake.lock:
                        fake.stats = {"requests": {}, "refused": {}, "tokensIssued": 0}
                    fake.faults.clear()
                    return self._json(200, {"ok": True})
            except (ValueError, KeyError, IndexError, SystemExit) as e:
                return self._json(400, {"error": f"bad control request: {e!r}"})
            self._json(404, {"error": "no such control endpoint"})

    Handler.fake = fake
    return Handler


# --- the storage port: a verifying proxy in front of fake-gcs-server -------------------------------------------------

SIGNED_URL_PARAMS = {"x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-expires",
                     "x-goog-signedheaders", "x-goog-signature"}


def parse_goog_time(s: str) -> float:
    return dt.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def make_storage_handler(fake: FakeGcp, upstream: str):
    up = urlsplit(upstream)

    class Handler(BaseHandler):
        server_version = "fake-gcp-storage/1"

        def _xml_error(self, e: XmlError) -> None:
            fake.bump("refused", f"{e.code} {e.xml_code}")
            parts = [f"<Code>{e.xml_code}</Code>", f"<Message>{xml_escape(e.message)}</Message>"]
            for k, v in e.extra.items():
                parts.append(f"<{k}>{xml_escape(str(v))}</{k}>")
            body = ("<?xml version='1.0' encoding='UTF-8'?><Error>" + "".join(parts) + "</Error>").encode()
            self._send(e.code, body, "application/xml; charset=UTF-8")

        def _dispatch(self):
            url = urlsplit(self.path)
            body = self._body() if self.command in ("PUT", "POST", "PATCH") else b""
            json_api = url.path.startswith(("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/"))
            upload_id = dict(parse_qsl(url.query)).get("upload_id") if self.command == "PUT" and \
                url.path.startswith("/upload/storage/v1/") else None
            action = self._fault("storage", "upload" if upload_id and body else None)
            if action:
                code = int(action)
                if json_api:
                    status = {500: "INTERNAL", 503: "UNAVAILABLE", 429: "RESOURCE_EXHAUSTED"}[code]
                    return self._json(code, {"error": {"code": code, "message": "Injected fault.",
                                                       "status": status}})
                xml = {500: "InternalError", 503: "ServiceUnavailable", 429: "SlowDown"}[code]
                return self._xml_error(XmlError(code, xml, "Injected fault."))
            if json_api:
                try:
                    fake.check_bearer(self.headers.get("Authorization"), STORAGE_SCOPES)
                except ApiError as e:
                    fake.bump("refused", f"{e.code} {e.status}")
                    return self._json(e.code, {"error": {"code": e.code, "message": e.message,
                                                         "errors": [{"message": e.message, "domain": "global",
                                                                     "reason": "required"}]}})
                if upload_id:
                    return self._resumable_put(upload_id, body)
                m = re.fullmatch(r"/storage/v1/b/([^/]+)/iam/testPermissions", url.path)
                if m and self.command == "GET":
                    return self._test_permissions(unquote(m.group(1)), url)
                return self._forward(self.command, self.path, body, list(self.headers.items()), rewrite=True)
            try:
                pairs = parse_qsl(url.query, keep_blank_values=True)
                self._authenticate(url, pairs, body)
                self._xml_api(url, pairs, body)
            except XmlError as e:
                self._xml_error(e)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _dispatch  # noqa: N815

        # --- authentication ---------------------------------------------------------------------------------
        def _authenticate(self, url, pairs, body: bytes) -> None:
            lower = {k.lower(): v for k, v in pairs}
            authz = self.headers.get("Authorization") or ""
            if "x-goog-signature" in lower or "x-goog-algorithm" in lower:
                return self._verify_signed_url(url, pairs, lower, body)
            if authz.startswith(signing.HMAC + " "):
                return self._verify_hmac_header(url, pairs, authz, body)
            if authz.lower().startswith("bearer "):
                try:
                    fake.check_bearer(authz, STORAGE_SCOPES)
                    return
                except ApiError as e:
                    raise XmlError(401 if e.code == 401 else 403,
                                   "AuthenticationRequired" if e.code == 401 else "AccessDenied", e.message)
            if authz:
                raise XmlError(400, "InvalidArgument", "The fake verifies only GOOG4-HMAC-SHA256 headers, V4 "
                               "signed URLs and bearer tokens.")
            raise XmlError(403, "AccessDenied", "Anonymous caller does not have storage.objects access to the "
                           "Google Cloud Storage object.")

        def _key_for(self, algorithm: str, credential_id: str):
            if algorithm == signing.HMAC:
                h = fake.hmac_keys.get(credential_id)
                if h is None:
                    raise XmlError(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in "
                                   "our records.")
                if h.get("state") != "ACTIVE":
                    raise XmlError(403, "InvalidAccessKeyId", "The Access Key Id you provided is not active.")
                return h
            sa = fake.service_accounts.get(credential_id)
            if sa is None or sa.public_key is None:
                raise XmlError(400, "InvalidArgument", "Unknown service account in X-Goog-Credential.")
            return sa

        def _canonical_headers_from_request(self, signed: str) -> tuple[str, str]:
            names = [n for n in signed.split(";") if n]
            if "host" not in names:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="X-Goog-SignedHeaders", Details="host must be signed")
            hdrs = []
            for n in names:
                values = self.headers.get_all(n)
                if not values:
                    raise XmlError(403, "SignatureDoesNotMatch", f"Signed header {n} missing from the request.")
                hdrs += [(n, v) for v in values]
            block, signed_out = signing.canonical_headers(hdrs)
            if signed_out != ";".join(sorted(names)) or signed != signed_out:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="SignedHeaders", Details="not lower-case, sorted and unique")
            return block, signed_out

        def _check_body_headers(self, signed_names, body: bytes) -> None:
            if self.command not in ("PUT", "POST"):
                return
            if "x-goog-content-length-range" in signed_names:
                rng = self.headers.get("x-goog-content-length-range") or ""
                m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", rng)
                if not m:
                    raise XmlError(400, "InvalidArgument", "Invalid x-goog-content-length-range.")
                if len(body) < int(m.group(1)):
                    raise XmlError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                   "object size specified in your Policy Document.")
                if len(body) > int(m.group(2)):
                    raise XmlError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                                   "object size.")
            for part in (self.headers.get("x-goog-hash") or "").split(","):
                kind, _, value = part.strip().partition("=")
                if kind == "md5" and base64.b64encode(hashlib.md5(body).digest()).decode() != value:
                    raise XmlError(400, "BadDigest", "The MD5 you specified did not match what we received.")
                if kind == "crc32c" and base64.b64encode(crc32c(body).to_bytes(4, "big")).decode() != value:
                    raise XmlError(400, "BadDigest", "The CRC32C you specified did not match what we received.")

        def _verify_signed_url(self, url, pairs, lower, body: bytes) -> None:
            for p in ("x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-expires",
                      "x-goog-signedheaders", "x-goog-signature"):
                if p not in lower:
                    raise XmlError(400, "MalformedSecurityHeader", "Your request is missing a required parameter.",
                                   ParameterName=p)
            algorithm = lower["x-goog-algorithm"]
            if algorithm not in (signing.RSA, signing.HMAC):
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="X-Goog-Algorithm")
            stamp = lower["x-goog-date"]
            try:
                start = parse_goog_time(stamp)
            except ValueError:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="X-Goog-Date")
            if not re.fullmatch(r"\d+", lower["x-goog-expires"]) or not \
                    1 <= int(lower["x-goog-expires"]) <= signing.MAX_EXPIRES:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="X-Goog-Expires",
                               Details=f"X-Goog-Expires must be between 1 and {signing.MAX_EXPIRES}")
            cred = lower["x-goog-credential"]
            m = re.fullmatch(r"(.+)/(\d{8})/([^/]+)/storage/goog4_request", cred)
            if not m or m.group(2) != stamp[:8]:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="X-Goog-Credential")
            key = self._key_for(algorithm, m.group(1))
            now = fake.now()
            if now < start - CLOCK_SKEW:
                raise XmlError(400, "RequestNotYetValid", "The request is not yet valid.",
                               Details=f"Request date {stamp} is in the future")
            if now > start + int(lower["x-goog-expires"]):
                raise XmlError(400, "ExpiredToken", "Invalid argument.",
                               Details=f"Request has expired: {stamp} + {lower['x-goog-expires']}s")
            block, signed = self._canonical_headers_from_request(lower["x-goog-signedheaders"])
            cq = signing.canonical_query([(k, v) for k, v in pairs if k.lower() != "x-goog-signature"])
            payload = self.headers.get("x-goog-content-sha256") if "x-goog-content-sha256" in signed.split(";") \
                else "UNSIGNED-PAYLOAD"
            creq = signing.canonical_request(self.command, signing.canonical_resource(url.path), cq, block, signed,
                                             payload)
            scope = f"{stamp[:8]}/{m.group(3)}/storage/goog4_request"
            sts = signing.string_to_sign(algorithm, stamp, scope, creq)
            sig = lower["x-goog-signature"]
            if algorithm == signing.HMAC:
                ok = secrets.compare_digest(signing.hmac_sign(key["secret"], stamp[:8], m.group(3), sts), sig)
            else:
                ok = signing.rsa_verify(key.public_key, sts, sig)
            if not ok:
                raise XmlError(403, "SignatureDoesNotMatch", "Access denied.",
                               Details="The request signature we calculated does not match the signature you "
                               "provided. Check your Google secret key and signing method.",
                               StringToSign=sts, CanonicalRequest=creq)
            self._check_body_headers(signed.split(";"), body)
            if payload not in ("UNSIGNED-PAYLOAD", None) and hashlib.sha256(body).hexdigest() != payload:
                raise XmlError(400, "BadDigest", "The x-goog-content-sha256 you specified did not match what we "
                               "received.")

        def _verify_hmac_header(self, url, pairs, authz: str, body: bytes) -> None:
            m = re.fullmatch(r"GOOG4-HMAC-SHA256 Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*"
                             r"Signature=([0-9a-f]+)\s*", authz)
            if not m:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="Authorization")
            cred, signed_in, sig = m.groups()
            cm = re.fullmatch(r"([^/]+)/(\d{8})/([^/]+)/storage/goog4_request", cred)
            stamp = self.headers.get("x-goog-date") or ""
            try:
                when = parse_goog_time(stamp)
            except ValueError:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="x-goog-date")
            if not cm or cm.group(2) != stamp[:8]:
                raise XmlError(400, "MalformedSecurityHeader", "Your request has a malformed header.",
                               ParameterName="Credential")
            key = self._key_for(signing.HMAC, cm.group(1))
            if abs(fake.now() - when) > 900:
                raise XmlError(403, "RequestTimeTooSkewed", "The difference between the request time and the "
                               "server's time is too large.")
            payload = self.headers.get("x-goog-content-sha256")
            if not payload:
                raise XmlError(400, "MissingSecurityHeader", "Your request was missing a required header.",
                               Details="x-goog-content-sha256")
            block, signed = self._canonical_headers_from_request(signed_in)
            if "x-goog-date" not in signed.split(";"):
                raise XmlError(400, "MalformedSecurityHeader", "x-goog-date must be signed.")
            cq = signing.canonical_query(pairs)
            creq = signing.canonical_request(self.command, signing.canonical_resource(url.path), cq, block, signed,
                                             payload)
            sts = signing.string_to_sign(signing.HMAC, stamp, f"{stamp[:8]}/{cm.group(3)}/storage/goog4_request",
                                         creq)
            if not secrets.compare_digest(signing.hmac_sign(key["secret"], stamp[:8], cm.group(3), sts), sig):
                raise XmlError(403, "SignatureDoesNotMatch", "Access denied.",
                               Details="The request signature we calculated does not match the signature you "
                               "provided. Check your Google secret key and signing method.",
                               StringToSign=sts, CanonicalRequest=creq)
            if payload != "UNSIGNED-PAYLOAD" and hashlib.sha256(body).hexdigest() != payload:
                raise XmlError(400, "BadDigest", "The x-goog-content-sha256 you specified did not match what we "
                               "received.")
            self._check_body_headers(signed.split(";"), body)

        # --- the XML API over fake-gcs-server ----------------------------------------------------------------
        def _xml_api(self, url, pairs, body: bytes) -> None:
            parts = url.path.lstrip("/").split("/", 1)
            bucket = unquote(parts[0])
            obj = unquote(parts[1]) if len(parts) > 1 else ""
            passthrough = [(k, v) for k, v in pairs if k.lower() not in SIGNED_URL_PARAMS]
            if not bucket:
                raise XmlError(501, "NotImplemented", "Listing buckets is not faked.")
            if not obj:
                if self.command == "GET":
                    q = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in passthrough)
                    return self._forward("GET", f"/{quote(bucket)}" + (f"?{q}" if q else ""), b"", [])
                raise XmlError(501, "NotImplemented", f"{self.command} on a bucket is not faked.")
            if self.command in ("GET", "HEAD"):
                fwd = [(k, v) for k, v in self.headers.items() if k.lower() in ("range", "if-none-match",
                                                                                    "if-match")]
                return self._forward(self.command, signing.canonical_resource(f"/{bucket}/{obj}"), b"", fwd)
            if self.command == "PUT" and not any(k.lower() in ("partnumber", "uploadid") for k, _ in pairs):
                return self._put_object(bucket, obj, body)
            if self.command == "DELETE" and not passthrough:
                status, headers, data = self._upstream(
                    "DELETE", f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(obj, safe='')}", b"", [])
                if status == 404:
                    raise XmlError(404, "NoSuchKey", "The specified key does not exist.")
                if status >= 300:
                    raise XmlError(status, "InternalError", data.decode("utf-8", "replace"))
                return self._send(204, b"", None)
            raise XmlError(501, "NotImplemented", f"{self.command} with {[k for k, _ in passthrough]} is not "
                           "faked (XML multipart and resumable uploads are not).")

        def _put_object(self, bucket: str, obj: str, body: bytes) -> None:
            ctype = self.headers.get("Content-Type") or "application/octet-stream"
            meta = {"name": obj, "contentType": ctype,
                    "metadata": {k[len("x-goog-meta-"):]: v for k, v in self.headers.items()
                                 if k.lower().startswith("x-goog-meta-")}}
            for h, field in (("Cache-Control", "cacheControl"), ("Content-Disposition", "contentDisposition"),
                             ("Content-Encoding", "contentEncoding"), ("Content-Language", "contentLanguage")):
                if self.headers.get(h):
                    meta[field] = self.headers[h]
            boundary = "fake-gcp-" + uuid.uuid4().hex
            multipart = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                         f"{json.dumps(meta)}\r\n--{boundary}\r\nContent-Type: {ctype}\r\n\r\n").encode() + body + \
                f"\r\n--{boundary}--\r\n".encode()
            status, _, data = self._upstream(
                "POST", f"/upload/storage/v1/b/{quote(bucket, safe='')}/o?uploadType=multipart", multipart,
                [("Content-Type", f"multipart/related; boundary={boundary}")])
            if status == 404:
                raise XmlError(404, "NoSuchBucket", "The specified bucket does not exist.")
            if status >= 300:
                raise XmlError(500 if status >= 500 else status, "InternalError", data.decode("utf-8", "replace"))
            o = json.loads(data)
            md5 = base64.b64decode(o.get("md5Hash", "")).hex()
            self._send(200, b"", None, {"ETag": f'"{md5}"', "x-goog-generation": o.get("generation", ""),
                                        "x-goog-metageneration": o.get("metageneration", "1"),
                                        "x-goog-hash": f"crc32c={o.get('crc32c', '')},md5={o.get('md5Hash', '')}",
                                        "x-goog-stored-content-length": str(len(body))})

        def _upstream(self, method, path, body: bytes, headers):
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            try:
                hdrs = {k: v for k, v in headers if k.lower() not in HOP and k.lower() != "authorization"}
                hdrs["Host"] = up.netloc
                hdrs["Content-Length"] = str(len(body))
                conn.request(method, path, body=body if method not in ("GET", "HEAD") or body else None,
                             headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            finally:
                conn.close()

        def _test_permissions(self, bucket: str, url) -> None:
            """`buckets.testIamPermissions`, which fake-gcs-server does not serve. The fake models no IAM on
            buckets (README: any registered account may touch any bucket), so every storage permission asked for is
            held; a missing bucket is 404 as in Cloud Storage."""
            status, _, _ = self._upstream("GET", f"/storage/v1/b/{quote(bucket, safe='')}", b"", [])
            if status == 404:
                return self._json(404, {"error": {"code": 404, "message": "The specified bucket does not exist.",
                                                  "errors": [{"reason": "notFound"}]}})
            asked = [v for k, v in parse_qsl(url.query) if k == "permissions"]
            held = [p for p in asked if p.startswith("storage.")]
            return self._json(200, {"kind": "storage#testIamPermissionsResponse", "permissions": held})

        def _resumable_put(self, upload_id: str, body: bytes) -> None:
            """A PUT to a resumable session. fake-gcs-server finalises the object on a status query (an empty PUT
            with `Content-Range: bytes */TOTAL`) instead of reporting what it holds, so the proxy answers those
            itself from what it saw the upstream accept: 308 with `Range: bytes=0-LAST` (none when nothing is held),
            200 with the object once the upload is complete, 404 for a session it never started — as Cloud Storage
            does."""
            with fake.lock:
                state = fake.upload_sessions.get(upload_id)
            if not body and re.fullmatch(r"bytes \*/(\d+|\*)", (self.headers.get("Content-Range") or "").strip()):
                if state is None:
                    # A session this proxy never started (or one Cloud Storage let expire): 404, as Google documents.
                    return self._json(404, {"error": {"code": 404, "message": "No such upload session.",
                                                      "errors": [{"reason": "notFound"}]}})
                if state["object"] is not None:
                    return self._send(200, state["object"], "application/json; charset=UTF-8")
                held = [("Range", f"bytes=0-{state['persisted'] - 1}")] if state["persisted"] else []
                return self._send(308, b"", None, held)
            answer = self._upstream("PUT", self.path, body, list(self.headers.items()))
            status, rheaders, data = answer
            with fake.lock:
                state = fake.upload_sessions.setdefault(upload_id, {"persisted": 0, "object": None})
                if status == 308:
                    held = next((v for k, v in rheaders if k.lower() == "range"), "")
                    m = re.fullmatch(r"bytes=0-(\d+)", held)
                    state["persisted"] = int(m.group(1)) + 1 if m else 0
                elif status in (200, 201):
                    state["object"] = data
            self._forward("PUT", self.path, body, [], rewrite=True, answer=answer)

        def _forward(self, method, path, body: bytes, headers, rewrite=False, answer=None) -> None:
            status, rheaders, data = answer or self._upstream(method, path, body, headers)
            own = f"{'https' if fake.args.tls_cert else 'http'}://{self.headers.get('Host')}"
            out = []
            for k, v in rheaders:
                if k.lower() in HOP or k.lower() == "date":
                    continue
                if rewrite and k.lower() == "location":
                    v = v.replace(upstream.rstrip("/"), own)
                    started = dict(parse_qsl(urlsplit(v).query)).get("upload_id")
                    if started:
                        with fake.lock:
                            fake.upload_sessions.setdefault(started, {"persisted": 0, "object": None})
                out.append((k, v))
            ctype = next((v for k, v in out if k.lower() == "content-type"), None)
            out = [(k, v) for k, v in out if k.lower() != "content-type"]
            if method == "HEAD":
                length = next((v for k, v in rheaders if k.lower() == "content-length"), "0")
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", length)
                for k, v in out:
                    self.send_header(k, v)
                self.end_headers()
                return
            self._send(status, data, ctype, out)

    Handler.fake = fake
    return Handler


def xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- fake-gcs-server as a child -----------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """The child gets SIGTERM when this process dies, however it dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 15)
    except OSError:
        pass


def start_gcs_server(binary: str, host: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "-scheme", "http", "-host", host, "-port", str(port), "-backend", "memory",
                             "-public-host", f"{host}:{port}", "-external-url", f"http://{host}:{port}",
                             "-log-level", "warn"], stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
                            preexec_fn=_die_with_parent)
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fake-gcs-server exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return proc, f"http://{host}:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fake-gcs-server did not start listening within 20 s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    fake_serving.add_arguments(p)
    p.add_argument("--storage-port", type=int, default=None,
                   help="also serve the Cloud Storage verifying proxy on this port (0: a free one)")
    p.add_argument("--gcs-upstream", help="fake-gcs-server's URL (http://127.0.0.1:P) for the storage proxy")
    p.add_argument("--gcs-server", help="start this fake-gcs-server binary on a free loopback port and use it")
    p.add_argument("--bucket", action="append", help="create this bucket in fake-gcs-server at start (repeatable)")
    p.add_argument("--service-account", action="append", help="a service-account key file (JSON) to register")
    p.add_argument("--generate-service-account", action="append", metavar="EMAIL=PATH",
                   help="generate a test key for EMAIL, register it and write its key file (token_uri = this fake)")
    p.add_argument("--hmac-key", action="append", metavar="ACCESS_ID:SECRET:SA_EMAIL")
    p.add_argument("--metadata-service-account", help="the metadata server's default service account")
    p.add_argument("--state-file", help="JSON: projects, serviceAccounts, hmacKeys, workloadIdentityProviders, "
                   "metadata, secrets (README.md)")
    p.add_argument("--endpoints-file", help="write the URLs of every endpoint here (JSON) before the ready line")
    p.add_argument("--token-lifetime", type=int, default=3600)
    p.add_argument("--fault", action="append", help="ACTION[xN][@TARGET] (faults.py)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    for h in [args.host] + ([urlsplit(args.gcs_upstream).hostname] if args.gcs_upstream else []):
        try:
            if not ipaddress.ip_address(h).is_loopback:
                raise ValueError
        except ValueError:
            if h != "localhost":
                log(f"refusing non-loopback address {h}")
                return 2
    try:
        fake = FakeGcp(args)
    except (OSError, ValueError, KeyError) as e:
        log(f"bad configuration: {e!r}")
        return 2
    child = None
    extra = []
    upstream = args.gcs_upstream
    if args.gcs_server:
        child, upstream = start_gcs_server(args.gcs_server, args.host)
    if upstream:
        for b in args.bucket or []:
            conn = http.client.HTTPConnection(urlsplit(upstream).hostname, urlsplit(upstream).port, timeout=10)
            conn.request("POST", "/storage/v1/b?project=" + fake.metadata["projectId"], json.dumps({"name": b}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            conn.close()
            if r.status >= 300 and r.status != 409:
                log(f"could not create bucket {b}: HTTP {r.status}")
                return 2
    scheme = "https" if args.tls_cert else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    if args.storage_port is not None:
        if not upstream:
            log("--storage-port needs --gcs-upstream or --gcs-server")
            return 2
        storage, _ = fake_serving.bind(make_storage_handler(fake, upstream), args.host, args.storage_port,
                                       args.tls_cert, args.tls_key)
        extra.append(storage)
        fake.endpoints["storage"] = f"{scheme}://{host}:{storage.server_address[1]}"
    if upstream:
        fake.endpoints["gcsServer"] = upstream

    def ready(port: int) -> None:
        base = f"{scheme}://{host}:{port}"
        fake.endpoints.update({"base": base, "token": f"{base}/token", "sts": f"{base}/v1/token",
                               "iamCredentials": base, "metadataHost": f"{host}:{port}", "secretManager": base})
        for email, path, sa in fake.generated:
            write_atomic(path, json.dumps(key_file_json(email, sa.key_id, sa.private_key, f"{base}/token"),
                                          indent=2) + "\n")
        if args.endpoints_file:
            write_atomic(args.endpoints_file, json.dumps(fake.endpoints, indent=2) + "\n")
        log("endpoints", json.dumps(fake.endpoints))

    def stop_child() -> None:
        if child and child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()

    try:
        return fake_serving.serve(make_main_handler(fake), args, extra, ready, stop_child)
    finally:
        stop_child()


if __name__ == "__main__":
    sys.exit(main())
