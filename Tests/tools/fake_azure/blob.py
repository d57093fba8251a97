"""The Blob part of the fake Azure server: block blobs on path-style URLs `/<account>/<container>/<blob>`, with
Shared Key, service SAS, user delegation SAS and bearer-token authorization. See README.md for what it checks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote
from xml.sax.saxutils import escape

import signing

STORAGE_AUDIENCES = ("https://storage.azure.com", "https://storage.azure.com/")
MAX_BLOCKS = 50_000
MAX_UNCOMMITTED = 100_000
MAX_BLOCK = 4000 * 1024 * 1024
CLOCK_SKEW = 15 * 60


class BlobError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers or {}


def auth_failed(detail: str) -> BlobError:
    return BlobError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of "
                     "Authorization header is formed correctly including the signature.", detail)


def permission_mismatch() -> BlobError:
    return BlobError(403, "AuthorizationPermissionMismatch",
                     "This request is not authorized to perform this operation using this permission.")


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int((t % 1) * 1e7):07d}Z"


def parse_iso(text: str) -> float:
    """The ISO 8601 UTC forms SAS fields use: YYYY-MM-DD, YYYY-MM-DDThh:mmZ, …:ssZ, …:ss.fffffffZ."""
    t = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    if t.endswith("Z") and "." in t:
        main, frac = t[:-1].split(".", 1)
        if frac.isdigit():
            return datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() + \
                float("0." + frac)
    raise ValueError(f"not an ISO 8601 UTC time: {text!r}")


class Blob:
    def __init__(self):
        self.blocks: list[tuple[str, bytes]] = []  # committed (block id as sent, base64; data); Put Blob: one block
        self.data = b""
        self.etag = ""
        self.created = self.modified = time.time()
        self.props: dict[str, str] = {}  # content-type, content-md5 (property), content-encoding, …
        self.metadata: dict[str, str] = {}
        self.scope: str | None = None
        self.touch()

    def touch(self):
        self.modified = time.time()
        self.etag = '"0x' + uuid.uuid4().hex[:15].upper() + '"'


class Container:
    def __init__(self):
        self.blobs: dict[str, Blob] = {}
        self.uncommitted: dict[str, dict[str, bytes]] = {}  # blob name -> block id -> data
        self.created = time.time()
        self.etag = '"0x' + uuid.uuid4().hex[:15].upper() + '"'


class Account:
    def __init__(self, name: str, key: str, containers=(), scopes=(), contributors=None):
        base64.b64decode(key, validate=True)
        self.name, self.key = name, key
        self.containers: dict[str, Container] = {c: Container() for c in containers}
        self.scopes = set(scopes)
        self.contributors = contributors  # None: every principal of the tenant; else a list of oids/client ids


class Request:
    """What the Blob fake needs of an HTTP request."""

    def __init__(self, method, raw_path, raw_query, headers, body, scheme, client_ip):
        self.method, self.raw_path, self.headers, self.body = method, raw_path, headers, body
        self.scheme, self.client_ip = scheme, client_ip
        self.query_pairs = []
        for part in raw_query.split("&") if raw_query else []:
            name, _, value = part.partition("=")
            self.query_pairs.append((name, value))
        self.q = {}
        for name, value in self.query_pairs:
            self.q.setdefault(unquote(name.replace("+", " ")), unquote(value.replace("+", " ")))

    def h(self, name: str, default=None):
        return self.headers.get(name, default)


class BlobService:
    def __init__(self, accounts: dict[str, Account], tenant: str, issuer, principal_names=lambda oid: {oid}):
        self.accounts = accounts
        self.principal_names = principal_names
        self.clock = time.time  # selftest.py sets it to check the reference vectors' fixed dates
        self.tenant = tenant
        self.issuer = issuer
        self.lock = threading.RLock()

    # --- authorization ----------------------------------------------------------------------------------------

    def _principal_allowed(self, account: Account, claims: dict) -> bool:
        if account.contributors is None:
            return True
        names = self.principal_names(claims.get("oid")) | ({claims["appid"]} if claims.get("appid") else set())
        return bool(names & set(account.contributors))

    def authorize(self, req: Request, account: Account, container: str | None, blob: str | None, perms: str,
                  base_url: str) -> dict:
        """Checks the request's credentials; returns {"kind": "sharedkey"|"bearer"|"sas", ...} or raises."""
        auth = req.h("authorization")
        if auth:
            scheme, _, cred = auth.partition(" ")
            if scheme == "SharedKey":
                return self._shared_key(req, account, cred)
            if scheme == "Bearer":
                return self._bearer(req, account, cred.strip(), base_url)
            raise BlobError(400, "InvalidAuthenticationInfo", "Authentication information is not given in the "
                            "correct format. Check the value of Authorization header.")
        if "sig" in req.q:
            return self._sas(req, account, container, blob, perms)
        raise BlobError(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please "
                        "refer to the information in the www-authenticate header.",
                        headers={"WWW-Authenticate": self._challenge(base_url)})

    def _challenge(self, base_url: str) -> str:
        return (f"Bearer authorization_uri={base_url}/{self.tenant}/oauth2/authorize "
                f"resource_id=https://storage.azure.com")

    def _shared_key(self, req: Request, account: Account, cred: str) -> dict:
        name, _, sig = cred.partition(":")
        if name != account.name:
            raise auth_failed(f"The account being accessed ('{account.name}') does not match the account in the "
                              f"Authorization header ('{name}').")
        date = req.h("x-ms-date") or req.h("date")
        if not date:
            raise auth_failed("Request date header not specified.")
        try:
            sent = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise auth_failed(f"The Date header in the request is incorrect: {date}") from None
        if abs(self.clock() - sent) > CLOCK_SKEW:
            raise auth_failed(f"Request date header too old: '{date}'")
        sts = signing.shared_key_string_to_sign(req.method, account.name, req.raw_path, req.query_pairs,
                                                list(req.headers.items()))
        want = signing.hmac_b64(account.key, sts)
        if not hmac.compare_digest(want.encode(), sig.encode()):
            raise auth_failed(f"The MAC signature found in the HTTP request '{sig}' is not the same as any computed "
                              f"signature. Server used following string to sign: '{sts}'.")
        return {"kind": "sharedkey"}

    def _bearer(self, req: Request, account: Account, token: str, base_url: str) -> dict:
        from tokens import JwtError
        version = req.h("x-ms-version") or ""
        if version < "2017-11-09":
            raise BlobError(400, "InvalidHeaderValue", "Bearer tokens need x-ms-version 2017-11-09 or later.")
        try:
            claims = self.issuer.verify(token)
        except JwtError as e:
            raise BlobError(401, "InvalidAuthenticationInfo", f"Server failed to authenticate the request. {e}.",
                            headers={"WWW-Authenticate": self._challenge(base_url)}) from None
        if claims.get("aud") not in STORAGE_AUDIENCES:
            raise BlobError(401, "InvalidAuthenticationInfo", "Audience validation failed. Audience did not match.",
                            headers={"WWW-Authenticate": self._challenge(base_url)})
        if claims.get("tid") != self.tenant:
            raise BlobError(401, "InvalidAuthenticationInfo", "Issuer validation failed. Issuer did not match.",
                            headers={"WWW-Authenticate": self._challenge(base_url)})
        if not self._principal_allowed(account, claims):
            raise permission_mismatch()
        return {"kind": "bearer", "claims": claims}

    def _sas(self, req: Request, account: Account, container, blob, perms: str) -> dict:
        q = req.q
        for field in ("sv", "sp", "se", "sr"):
            if not q.get(field):
                raise auth_failed(f"{field} is mandatory. Cannot be empty")
        if "ss" in q or "srt" in q:
            raise auth_failed("An account SAS is not supported by this fake (service and user delegation SAS are).")
        if q["sv"] < signing.MIN_SAS_VERSION:
            raise auth_failed(f"sv={q['sv']} is older than {signing.MIN_SAS_VERSION}, the oldest this fake checks.")
        if q.get("si"):
            raise auth_failed("Stored access policies (si) are not supported by this fake.")
        sr = q["sr"]
        if sr == "b":
            resource = f"/blob/{account.name}/{container}/{blob or ''}"
        elif sr == "c":
            resource = f"/blob/{account.name}/{container}"
        else:
            raise auth_failed(f"sr={sr} is not supported by this fake (b or c).")
        delegation = "skoid" in q
        if delegation:
            sts = signing.user_delegation_sas_string_to_sign(q, resource)
            key = signing.user_delegation_key_value(account.key, q.get("skoid", ""), q.get("sktid", ""),
                                                    q.get("skt", ""), q.get("ske", ""), q.get("skv", ""),
                                                    q.get("skdutid", ""))
        else:
            sts = signing.service_sas_string_to_sign(q, resource)
            key = account.key
        want = signing.hmac_b64(key, sts)
        if not hmac.compare_digest(want.encode(), q["sig"].encode()):
            raise auth_failed(f"Signature did not match. String to sign used was {sts}")
        now = time.time()
        try:
            start = parse_iso(q["st"]) if q.get("st") else None
            expiry = parse_iso(q["se"])
        except ValueError as e:
            raise auth_failed(str(e)) from None
        if (start is not None and now < start) or now >= expiry:
            raise auth_failed(f"Signature not valid in the specified time frame: Start [{q.get('st', '')}] - "
                              f"Expiry [{q['se']}] - Current [{http_date(now)}]")
        if q.get("spr") and req.scheme not in q["spr"].split(","):
            raise BlobError(403, "AuthorizationProtocolMismatch",
                            "This request is not authorized to perform this operation using this protocol.")
        if q.get("sip"):
            lo, _, hi = q["sip"].partition("-")
            ip = ipaddress.ip_address(req.client_ip)
            if not (ipaddress.ip_address(lo) <= ip <= ipaddress.ip_address(hi or lo)):
                raise BlobError(403, "AuthorizationSourceIPMismatch", "This request is not authorized to perform "
                                f"this operation using this source IP {req.client_ip}.")
        if delegation:
            if q.get("sktid") != self.tenant or q.get("sks") != "b":
                raise auth_failed("The user delegation key's tenant or service does not match.")
            try:
                if now >= parse_iso(q.get("ske", "")):
                    raise auth_failed("The user delegation key has expired.")
            except ValueError as e:
                raise auth_failed(str(e)) from None
            if not self._principal_allowed(account, {"oid": q.get("skoid")}):
                raise permission_mismatch()
        if not any(p in q["sp"] for p in perms):
            raise permission_mismatch()
        return {"kind": "sas", "delegation": delegation, "scope": q.get("ses")}

    # --- operations -------------------------------------------------------------------------------------------

    def handle(self, req: Request, segments: list[str], base_url: str):
        """(status, headers, body) for a Blob request; segments = [account, container?, blob path parts…]."""
        account = self.accounts[segments[0]]
        container = segments[1] if len(segments) > 1 and segments[1] else None
        blob = unquote("/".join(segments[2:])) if len(segments) > 2 else None
        if blob == "":
            blob = None
        if container is not None:
            container = unquote(container)
        restype, comp, m = req.q.get("restype"), req.q.get("comp"), req.method
        if m == "PUT" and blob is not None and "content-length" not in req.headers:
            # Azure needs the length up front for uploads (no chunked transfer encoding).
            raise BlobError(411, "MissingContentLengthHeader", "Content-Length header value must be specified.")
        with self.lock:
            if container is None:
                if m == "POST" and restype == "service" and comp == "userdelegationkey":
                    return self.user_delegation_key(req, account, base_url)
                raise BlobError(400, "UnsupportedHttpVerb" if m not in ("GET", "PUT") else "InvalidQueryParameterValue",
                                "This account-level operation is not supported by this fake.")
            if blob is None:
                if restype == "container" and comp == "list" and m == "GET":
                    self.authorize(req, account, container, None, "l", base_url)
                    return self.list_blobs(req, account, container, base_url)
                if restype == "container" and comp is None and m == "PUT":
                    a = self.authorize(req, account, container, None, "", base_url)
                    if a["kind"] == "sas":
                        raise permission_mismatch()
                    if container in account.containers:
                        raise BlobError(409, "ContainerAlreadyExists", "The specified container already exists.")
                    account.containers[container] = Container()
                    c = account.containers[container]
                    return 201, {"ETag": c.etag, "Last-Modified": http_date(c.created)}, b""
                if restype == "container" and comp is None and m == "DELETE":
                    a = self.authorize(req, account, container, None, "", base_url)
                    if a["kind"] == "sas":
                        raise permission_mismatch()
                    if account.containers.pop(container, None) is None:
                        raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
                    return 202, {}, b""
                raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified "
                                "in the request URI is invalid (this fake serves container create/delete and List "
                                "Blobs).")
            if m == "PUT" and comp is None:
                return self.put_blob(req, account, container, blob, base_url)
            if m == "PUT" and comp == "block":
                return self.put_block(req, account, container, blob, base_url)
            if m == "PUT" and comp == "blocklist":
                return self.put_block_list(req, account, container, blob, base_url)
            if m == "GET" and comp == "blocklist":
                return self.get_block_list(req, account, container, blob, base_url)
            if m in ("GET", "HEAD") and comp is None:
                return self.get_blob(req, account, container, blob, base_url, head=m == "HEAD")
            if m == "DELETE" and comp is None:
                return self.delete_blob(req, account, container, blob, base_url)
        raise BlobError(400, "UnsupportedHttpVerb" if m not in ("GET", "PUT", "HEAD", "DELETE") else
                        "InvalidQueryParameterValue", f"{m} with comp={comp} is not served by this fake.")

    def _container(self, account: Account, name: str) -> Container:
        c = account.containers.get(name)
        if c is None:
            raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
        return c

    @staticmethod
    def _conditions(req: Request, blob: Blob | None, write: bool):
        im, inm = req.h("if-match"), req.h("if-none-match")
        if im is not None:
            if blob is None or (im != "*" and blob.etag not in [e.strip() for e in im.split(",")]):
                raise BlobError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) "
                                "is not met.")
        if inm is not None and blob is not None:
            if inm == "*":
                if write:
                    raise BlobError(409, "BlobAlreadyExists", "The specified blob already exists.")
                raise BlobError(304, "ConditionNotMet", "")
            if blob.etag in [e.strip() for e in inm.split(",")]:
                if write:
                    raise BlobError(412, "ConditionNotMet", "The condition specified using HTTP conditional "
                                    "header(s) is not met.")
                raise BlobError(304, "ConditionNotMet", "")

    @staticmethod
    def _verify_content(req: Request, data: bytes) -> dict:
        """Checks Content-MD5 / x-ms-content-crc64 against the body; the echo headers for the answer."""
        out = {}
        md5 = req.h("content-md5")
        crc = req.h("x-ms-content-crc64")
        if md5 is not None:
            try:
                raw = base64.b64decode(md5, validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 16:
                raise BlobError(400, "InvalidMd5", "The MD5 value specified in the request is invalid. The MD5 value "
                                "must be 128 bits and Base64-encoded.")
            if raw != hashlib.md5(data).digest():
                raise BlobError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the "
                                "MD5 value calculated by the server.")
            out["Content-MD5"] = md5
        if crc is not None:
            try:
                raw = base64.b64decode(crc, validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 8:
                raise BlobError(400, "InvalidHeaderValue", "The value for x-ms-content-crc64 must be 64 bits and "
                                "Base64-encoded.")
            if int.from_bytes(raw, "little") != signing.crc64(data):
                raise BlobError(400, "Crc64Mismatch", "The CRC64 value specified in the request did not match with "
                                "the CRC64 value calculated by the server.")
            out["x-ms-content-crc64"] = crc
        return out

    def _scope(self, req: Request, account: Account, auth: dict) -> str | None:
        scope = req.h("x-ms-encryption-scope")
        ses = auth.get("scope") if auth["kind"] == "sas" else None
        if ses and scope and scope != ses:
            raise BlobError(403, "AuthorizationFailure", "The encryption scope of the request does not match the "
                            "signed encryption scope (ses).")
        scope = scope or ses
        if scope is not None and scope not in account.scopes:
            raise BlobError(409, "EncryptionScopeNotFound" if scope else "InvalidHeaderValue",
                            f"The encryption scope '{scope}' is not defined for this account (fake).")
        return scope

    @staticmethod
    def _write_props(req: Request, blob: Blob, put_blob: bool):
        """Blob properties from the request: x-ms-blob-content-* and, on Put Blob, the Content-* headers."""
        props = {}
        for name in ("content-type", "content-encoding", "content-language", "content-disposition",
                     "cache-control", "content-md5"):
            v = req.h("x-ms-blob-" + name)
            if v is None and put_blob and name != "content-md5":
                v = req.h(name)
            if v is not None:
                props[name] = v
        blob.props = props
        blob.metadata = {k[len("x-ms-meta-"):]: v for k, v in req.headers.items() if k.startswith("x-ms-meta-")}

    @staticmethod
    def _written(blob: Blob, extra: dict | None = None) -> dict:
        h = {"ETag": blob.etag, "Last-Modified": http_date(blob.modified), "x-ms-request-server-encrypted": "true"}
        if blob.scope:
            h["x-ms-encryption-scope"] = blob.scope
        h.update(extra or {})
        return h

    @staticmethod
    def _exists(account, container, name) -> bool:
        c = account.containers.get(container)
        return c is not None and name in c.blobs

    def put_blob(self, req, account, container, name, base_url):
        # authorization comes first: an unauthorized caller learns nothing about what exists
        auth = self.authorize(req, account, container, name, "w" if self._exists(account, container, name) else "cw",
                              base_url)
        c = self._container(account, container)
        bt = req.h("x-ms-blob-type")
        if bt is None:
            raise BlobError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                            "specified: x-ms-blob-type.")
        if bt != "BlockBlob":
            raise BlobError(400, "InvalidHeaderValue", f"x-ms-blob-type {bt} is not served by this fake (BlockBlob).")
        self._conditions(req, c.blobs.get(name), write=True)
        echo = self._verify_content(req, req.body)
        scope = self._scope(req, account, auth)
        blob = Blob()
        blob.blocks = [("", req.body)]
        blob.data = req.body
        blob.scope = scope
        self._write_props(req, blob, put_blob=True)
        if "content-md5" not in blob.props:
            blob.props["content-md5"] = signing.md5_b64(req.body)
        c.blobs[name] = blob
        c.uncommitted.pop(name, None)
        echo.setdefault("Content-MD5", blob.props["content-md5"])
        return 201, self._written(blob, echo), b""

    def put_block(self, req, account, container, name, base_url):
        auth = self.authorize(req, account, container, name, "cw", base_url)
        c = self._container(account, container)
        raw_id = req.q.get("blockid")
        try:
            decoded = base64.b64decode(raw_id or "", validate=True)
        except binascii.Error:
            decoded = b""
        if not raw_id or not decoded or len(decoded) > 64:
            raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in "
                            "the request URI is invalid (blockid: base64 of at most 64 bytes).")
        if len(req.body) > MAX_BLOCK:
            raise BlobError(413, "RequestBodyTooLarge", "The request body is too large.")
        pending = c.uncommitted.setdefault(name, {})
        lengths = {len(base64.b64decode(b)) for b in pending} | {len(base64.b64decode(b)) for b, _ in
                                                                   (c.blobs[name].blocks if name in c.blobs else [])
                                                                   if b}
        if lengths and lengths != {len(decoded)}:
            raise BlobError(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid (all block "
                            "ids of a blob must have the same length).")
        if raw_id not in pending and len(pending) >= MAX_UNCOMMITTED:
            raise BlobError(409, "BlockCountExceedsLimit", "The uncommitted block count cannot exceed the maximum "
                            "limit of 100,000 blocks.")
        echo = self._verify_content(req, req.body)
        self._scope(req, account, auth)
        pending[raw_id] = req.body
        h = {"x-ms-request-server-encrypted": "true"}
        if req.h("x-ms-encryption-scope") or auth.get("scope"):
            h["x-ms-encryption-scope"] = req.h("x-ms-encryption-scope") or auth.get("scope")
        h.update(echo)
        return 201, h, b""

    def put_block_list(self, req, account, container, name, base_url):
        auth = self.authorize(req, account, container, name, "w" if self._exists(account, container, name) else "cw",
                              base_url)
        c = self._container(account, container)
        self._conditions(req, c.blobs.get(name), write=True)
        self._verify_content(req, req.body)  # Content-MD5 of a Put Block List is the XML body's
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            raise BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.") from None
        if root.tag != "BlockList":
            raise BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid (BlockList).")
        pending = c.uncommitted.get(name, {})
        committed = {bid: data for bid, data in (c.blobs[name].blocks if name in c.blobs else [])}
        blocks = []
        for el in root:
            bid = (el.text or "").strip()
            if el.tag == "Latest":
                data = pending.get(bid, committed.get(bid))
            elif el.tag == "Uncommitted":
                data = pending.get(bid)
            elif el.tag == "Committed":
                data = committed.get(bid)
            else:
                raise BlobError(400, "InvalidXmlNodeValue", f"The value for one of the XML nodes is not in the "
                                f"correct format ({el.tag}).")
            if data is None:
                raise BlobError(400, "InvalidBlockList", "The specified block list is invalid.")
            blocks.append((bid, data))
        if len(blocks) > MAX_BLOCKS:
            raise BlobError(400, "BlockListTooLong", "The block list may not contain more than 50,000 blocks.")
        scope = self._scope(req, account, auth)
        blob = Blob()
        blob.blocks = blocks
        blob.data = b"".join(d for _, d in blocks)
        blob.scope = scope
        self._write_props(req, blob, put_blob=False)  # x-ms-blob-content-md5 is stored, not checked (as Azure)
        c.blobs[name] = blob
        c.uncommitted.pop(name, None)
        return 201, self._written(blob), b""

    def get_block_list(self, req, account, container, name, base_url):
        self.authorize(req, account, container, name, "r", base_url)
        c = self._container(account, container)
        kind = req.q.get("blocklisttype", "committed").lower()
        if kind not in ("committed", "uncommitted", "all"):
            raise BlobError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in "
                            "the request URI is invalid (blocklisttype).")
        blob = c.blobs.get(name)
        pending = c.uncommitted.get(name)
        if blob is None and not pending:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        out = ['<?xml version="1.0" encoding="utf-8"?><BlockList>']
        if kind in ("committed", "all"):
            out.append("<CommittedBlocks>")
            for bid, data in (blob.blocks if blob else []):
                if bid:
                    out.append(f"<Block><Name>{escape(bid)}</Name><Size>{len(data)}</Size></Block>")
            out.append("</CommittedBlocks>")
        if kind in ("uncommitted", "all"):
            out.append("<UncommittedBlocks>")
            for bid, data in (pending or {}).items():
                out.append(f"<Block><Name>{escape(bid)}</Name><Size>{len(data)}</Size></Block>")
            out.append("</UncommittedBlocks>")
        out.append("</BlockList>")
        h = {"Content-Type": "application/xml", "x-ms-blob-content-length": str(len(blob.data) if blob else 0)}
        if blob:
            h.update({"ETag": blob.etag, "Last-Modified": http_date(blob.modified)})
        return 200, h, "".join(out).encode()

    def get_blob(self, req, account, container, name, base_url, head=False):
        auth = self.authorize(req, account, container, name, "r", base_url)
        blob = self._container(account, container).blobs.get(name)
        if blob is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        self._conditions(req, blob, write=False)
        size = len(blob.data)
        h = {"ETag": blob.etag, "Last-Modified": http_date(blob.modified), "x-ms-blob-type": "BlockBlob",
             "x-ms-creation-time": http_date(blob.created), "Accept-Ranges": "bytes", "x-ms-server-encrypted": "true",
             "x-ms-lease-state": "available", "x-ms-lease-status": "unlocked",
             "Content-Type": blob.props.get("content-type", "application/octet-stream")}
        for prop in ("content-encoding", "content-language", "content-disposition", "cache-control"):
            if prop in blob.props:
                h[prop] = blob.props[prop]
        if blob.scope:
            h["x-ms-encryption-scope"] = blob.scope
        for k, v in blob.metadata.items():
            h["x-ms-meta-" + k] = v
        if auth["kind"] == "sas":  # response header overrides a SAS may carry
            for field, header in (("rscc", "Cache-Control"), ("rscd", "Content-Disposition"),
                                  ("rsce", "Content-Encoding"), ("rscl", "Content-Language"),
                                  ("rsct", "Content-Type")):
                if req.q.get(field):
                    h[header] = req.q[field]
        rng = req.h("x-ms-range") or req.h("range")
        if head or not rng:
            if "content-md5" in blob.props:
                h["Content-MD5"] = blob.props["content-md5"]
            h["Content-Length"] = str(size)
            return 200, h, b"" if head else blob.data
        try:
            unit, _, spec = rng.partition("=")
            lo_s, _, hi_s = spec.partition("-")
            lo = int(lo_s)
            hi = int(hi_s) if hi_s else size - 1
            if unit.strip() != "bytes" or lo < 0 or hi < lo:
                raise ValueError
        except ValueError:
            raise BlobError(400, "InvalidHeaderValue", f"The value for one of the HTTP headers is not in the correct "
                            f"format (range {rng!r}).") from None
        if lo >= size:
            raise BlobError(416, "InvalidRange", "The range specified is invalid for the current size of the "
                            "resource.", headers={"Content-Range": f"bytes */{size}"})
        hi = min(hi, size - 1)
        part = blob.data[lo:hi + 1]
        if req.h("x-ms-range-get-content-md5") == "true":
            if len(part) > 4 * 1024 * 1024:
                raise BlobError(400, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of 4 MiB or less.")
            h["Content-MD5"] = signing.md5_b64(part)
        if "content-md5" in blob.props:
            h["x-ms-blob-content-md5"] = blob.props["content-md5"]
        h["Content-Range"] = f"bytes {lo}-{hi}/{size}"
        h["Content-Length"] = str(len(part))
        return 206, h, part

    def delete_blob(self, req, account, container, name, base_url):
        self.authorize(req, account, container, name, "d", base_url)
        c = self._container(account, container)
        blob = c.blobs.get(name)
        if blob is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        self._conditions(req, blob, write=True)
        del c.blobs[name]
        c.uncommitted.pop(name, None)
        return 202, {"x-ms-delete-type-permanent": "true"}, b""

    def list_blobs(self, req, account, container, base_url):
        c = self._container(account, container)
        prefix = req.q.get("prefix", "")
        delimiter = req.q.get("delimiter", "")
        marker = req.q.get("marker", "")
        include = set(filter(None, req.q.get("include", "").split(",")))
        try:
            maxresults = int(req.q.get("maxresults", "5000"))
            if not 1 <= maxresults <= 5000:
                raise ValueError
        except ValueError:
            raise BlobError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the "
                            "request URI is outside the permissible range (maxresults).") from None
        start = ""
        if marker:
            try:
                start = base64.urlsafe_b64decode(marker.encode()).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise BlobError(400, "OutOfRangeInput", "One of the request inputs is out of range (marker).") \
                    from None
        entries = []  # (sort name, kind, name)
        seen_prefixes = set()
        for name in sorted(c.blobs):
            if not name.startswith(prefix):
                continue
            if delimiter:
                rest = name[len(prefix):]
                i = rest.find(delimiter)
                if i >= 0:
                    p = prefix + rest[:i + len(delimiter)]
                    if p not in seen_prefixes:
                        seen_prefixes.add(p)
                        entries.append((p, "prefix", p))
                    continue
            entries.append((name, "blob", name))
        entries.sort()
        entries = [e for e in entries if e[0] >= start]
        page, rest = entries[:maxresults], entries[maxresults:]
        out = ['<?xml version="1.0" encoding="utf-8"?>',
               f'<EnumerationResults ServiceEndpoint="{escape(base_url)}/{account.name}/" '
               f'ContainerName="{escape(container)}">']
        if prefix:
            out.append(f"<Prefix>{escape(prefix)}</Prefix>")
        if marker:
            out.append(f"<Marker>{escape(marker)}</Marker>")
        if "maxresults" in req.q:
            out.append(f"<MaxResults>{maxresults}</MaxResults>")
        if delimiter:
            out.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        out.append("<Blobs>")
        for _, kind, name in page:
            if kind == "prefix":
                out.append(f"<BlobPrefix><Name>{escape(name)}</Name></BlobPrefix>")
                continue
            b = c.blobs[name]
            p = b.props
            out.append(f"<Blob><Name>{escape(name)}</Name><Properties>"
                       f"<Creation-Time>{http_date(b.created)}</Creation-Time>"
                       f"<Last-Modified>{http_date(b.modified)}</Last-Modified><Etag>{b.etag}</Etag>"
                       f"<Content-Length>{len(b.data)}</Content-Length>"
                       f"<Content-Type>{escape(p.get('content-type', 'application/octet-stream'))}</Content-Type>"
                       f"<Content-Encoding>{escape(p.get('content-encoding', ''))}</Content-Encoding>"
                       f"<Content-Language>{escape(p.get('content-language', ''))}</Content-Language>"
                       f"<Content-CRC64 /><Content-MD5>{escape(p.get('content-md5', ''))}</Content-MD5>"
                       f"<Cache-Control>{escape(p.get('cache-control', ''))}</Cache-Control>"
                       f"<Content-Disposition>{escape(p.get('content-disposition', ''))}</Content-Disposition>"
                       "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
                       "<AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus>"
                       "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
                       + (f"<EncryptionScope>{escape(b.scope)}</EncryptionScope>" if b.scope else "")
                       + "</Properties>")
            if "metadata" in include:
                out.append("<Metadata>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in b.metadata.items())
                           + "</Metadata>")
            out.append("</Blob>")
        out.append("</Blobs>")
        if rest:
            out.append(f"<NextMarker>{base64.urlsafe_b64encode(rest[0][0].encode()).decode()}</NextMarker>")
        else:
            out.append("<NextMarker />")
        out.append("</EnumerationResults>")
        return 200, {"Content-Type": "application/xml"}, "".join(out).encode()

    def user_delegation_key(self, req, account, base_url):
        auth = self.authorize(req, account, None, None, "", base_url)
        if auth["kind"] != "bearer":
            raise auth_failed("Only authentication scheme Bearer is supported for Get User Delegation Key.")
        claims = auth["claims"]
        try:
            root = ET.fromstring(req.body)
            start = (root.findtext("Start") or "").strip()
            expiry = (root.findtext("Expiry") or "").strip()
            delegated_tid = (root.findtext("DelegatedUserTid") or "").strip()
            now = time.time()
            start_t = parse_iso(start) if start else now
            expiry_t = parse_iso(expiry)
        except (ET.ParseError, ValueError):
            raise BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid (KeyInfo with "
                            "Start and Expiry in ISO 8601 UTC).") from None
        if expiry_t <= start_t or expiry_t > now + 7 * 86400 + 60:
            raise BlobError(400, "InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct "
                            "format (Expiry must be after Start and within 7 days of now).")
        if not start:
            start = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        version = req.h("x-ms-version") or ""
        oid = claims.get("oid", "")
        value = signing.user_delegation_key_value(account.key, oid, self.tenant, start, expiry, version,
                                                  delegated_tid)
        body = ('<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>'
                f"<SignedOid>{escape(oid)}</SignedOid><SignedTid>{escape(self.tenant)}</SignedTid>"
                f"<SignedStart>{escape(start)}</SignedStart><SignedExpiry>{escape(expiry)}</SignedExpiry>"
                f"<SignedService>b</SignedService><SignedVersion>{escape(version)}</SignedVersion>"
                + (f"<SignedDelegatedUserTid>{escape(delegated_tid)}</SignedDelegatedUserTid>" if delegated_tid
                   else "")
                + f"<Value>{value}</Value></UserDelegationKey>")
        return 200, {"Content-Type": "application/xml"}, body.encode()

    # --- inspection (control API) -----------------------------------------------------------------------------

    def dump(self) -> dict:
        with self.lock:
            out = {}
            for aname, a in self.accounts.items():
                cs = {}
                for cname, c in a.containers.items():
                    cs[cname] = {
                        "blobs": {n: {"size": len(b.data), "md5": signing.md5_b64(b.data),
                                      "contentMD5Property": b.props.get("content-md5"),
                                      "etag": b.etag, "encryptionScope": b.scope,
                                      "contentType": b.props.get("content-type"), "metadata": b.metadata,
                                      "committedBlocks": [{"id": i, "size": len(d)} for i, d in b.blocks if i]}
                                  for n, b in sorted(c.blobs.items())},
                        "uncommitted": {n: [{"id": i, "size": len(d)} for i, d in p.items()]
                                        for n, p in c.uncommitted.items() if p}}
                out[aname] = {"containers": cs, "encryptionScopes": sorted(a.scopes)}
            return out
