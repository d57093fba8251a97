#!/usr/bin/env python3
"""Proofs that the fake Azure server behaves as Azure documents, run by Tests/tools/test.sh before `swift test`.

Starts the fake over HTTPS (a self-signed loopback certificate, trusted through REQUESTS_CA_BUNDLE/SSL_CERT_FILE)
and drives it with Microsoft's own Python SDKs as reference clients: azure-storage-blob (Shared Key, service SAS,
user delegation SAS and bearer tokens; small and chunked uploads, per-block MD5 and CRC64, block lists, download,
list, delete, encryption scope), azure-identity (ClientSecretCredential, CertificateCredential,
WorkloadIdentityCredential, ManagedIdentityCredential on IMDS and on the App Service endpoint) and
azure-keyvault-secrets (the 401 challenge flow, versions, rotation, 404, 403, disabled, 429). It also holds the
fake's signer against reference_signatures.py's vectors (the SDK's own signer), byte for byte, and the fake's
x-ms-* header order and CRC-64 against the SDK's. Every connection is checked to stay on loopback.

    .build/fake-azure-venv/bin/python Tests/tools/fake_azure/selftest.py      # the venv from setup.sh
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Nothing leaves loopback: every name resolution the SDKs make must be a loopback address.
_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    infos = _getaddrinfo(host, *args, **kwargs)
    for info in infos:
        if not ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback:
            raise OSError(f"selftest: refusing a connection off loopback ({host})")
    return infos


socket.getaddrinfo = _loopback_only
for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError,  # noqa: E402
                                   ResourceExistsError, ResourceNotFoundError)
from azure.identity import (CertificateCredential, ClientSecretCredential, ManagedIdentityCredential,  # noqa: E402
                            WorkloadIdentityCredential)
from azure.keyvault.secrets import SecretClient  # noqa: E402
from azure.storage.blob import (BlobBlock, BlobClient, BlobSasPermissions, BlobServiceClient,  # noqa: E402
                                ContainerClient, ContainerSasPermissions, ContentSettings, generate_blob_sas,
                                generate_container_sas)
from azure.storage.blob._shared.authentication import compare as sdk_header_compare  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import logging  # noqa: E402

import reference_signatures  # noqa: E402
import signing  # noqa: E402
import tokens  # noqa: E402

TENANT = "7e57e57e-0000-4000-8000-00000000a2e1"
ACCOUNT, KEY = "outpostdev", base64.b64encode(b"outpost-fake-azure-selftest-key-" * 2).decode()
OTHER_ACCOUNT, OTHER_KEY = "outpostother", base64.b64encode(b"another-account-key-for-the-fake" * 2).decode()
SECRET_APP, SECRET_APP_SECRET = "11111111-0000-4000-8000-000000000001", "s3cr3t~value.with/odd+chars"
CERT_APP = "11111111-0000-4000-8000-000000000002"
FED_APP = "11111111-0000-4000-8000-000000000003"
OUTSIDER_APP, OUTSIDER_SECRET = "11111111-0000-4000-8000-000000000004", "outsider"
MI_CLIENT = "22222222-0000-4000-8000-000000000001"
MI_OTHER = "22222222-0000-4000-8000-000000000002"
K8S_ISSUER = "https://oidc.fake-aks.invalid/tenant/issuer"
K8S_SUBJECT = "system:serviceaccount:outpost:agent"
IDENTITY_HEADER = "fake-identity-header-value"
STORAGE_SCOPE = "https://storage.azure.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"
FAST = dict(retry_total=3, initial_backoff=0, increment_base=0, random_jitter_range=0)


def utcnow():
    return datetime.now(timezone.utc)


def self_signed_rsa(cn: str, key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = utcnow()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def rs256(key, claims: dict, header: dict) -> str:
    h = tokens.b64url(json.dumps(header).encode())
    c = tokens.b64url(json.dumps(claims).encode())
    sig = key.sign(f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{h}.{c}.{tokens.b64url(sig)}"


class Env:
    """Sets environment variables for a block and restores them."""

    def __init__(self, **values):
        self.values, self.saved = values, {}

    def __enter__(self):
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *a):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Fake:
    def __init__(self, tmp: str, config: dict):
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.cert = os.path.join(tmp, "tls.pem")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
                                      "--exit-on-stdin-eof", "--config", path, "--tls-self-signed", self.cert],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("LISTENING https://127.0.0.1:"):
            raise RuntimeError(f"fake_azure did not start: {line!r}")
        self.base = line.split(" ", 1)[1]
        self.tls = ssl.create_default_context(cafile=self.cert)

    def call(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) of a raw request."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def control(self, method, path, body=None):
        status, _, out = self.call(method, "/_fake/" + path, body, {"Content-Type": "application/json"})
        assert status == 200, (status, out)
        return json.loads(out)

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


FAKE: Fake = None  # type: ignore[assignment]  # set by setUpModule
TMP: tempfile.TemporaryDirectory = None  # type: ignore[assignment]
CERT_PEM = ""  # CertificateCredential's PEM (key + cert), registered for CERT_APP
ROGUE_PEM = ""  # an unregistered certificate
K8S_KEY = None


def setUpModule():  # noqa: N802
    global FAKE, TMP, CERT_PEM, ROGUE_PEM, K8S_KEY
    logging.getLogger("azure").setLevel(logging.CRITICAL)  # the refusals below are expected; keep test.sh quiet
    TMP = tempfile.TemporaryDirectory(prefix="fake-azure-selftest.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_rsa("outpost-cert-app", key)
    CERT_PEM = os.path.join(TMP.name, "app.pem")
    with open(CERT_PEM, "wb") as f:
        f.write(pem_key(key) + cert.public_bytes(serialization.Encoding.PEM))
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ROGUE_PEM = os.path.join(TMP.name, "rogue.pem")
    with open(ROGUE_PEM, "wb") as f:
        f.write(pem_key(rogue) + self_signed_rsa("outpost-cert-app", rogue).public_bytes(serialization.Encoding.PEM))
    K8S_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k8s_pub = K8S_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    config = {
        "tenant": TENANT,
        "accounts": [{"name": ACCOUNT, "key": KEY, "containers": ["ingest", "other"],
                      "encryptionScopes": ["scope-a"],
                      "dataContributors": [SECRET_APP, CERT_APP, FED_APP, MI_CLIENT]},
                     {"name": OTHER_ACCOUNT, "key": OTHER_KEY, "containers": ["ingest"]}],
        "clients": [{"clientId": SECRET_APP, "secret": SECRET_APP_SECRET},
                    {"clientId": CERT_APP, "certificates": [cert.public_bytes(serialization.Encoding.PEM).decode()]},
                    {"clientId": FED_APP, "federated": [{"issuer": K8S_ISSUER, "subject": K8S_SUBJECT,
                                                         "issuerKey": k8s_pub}]},
                    {"clientId": OUTSIDER_APP, "secret": OUTSIDER_SECRET}],
        "managedIdentities": [{"clientId": MI_CLIENT, "default": True},
                              {"clientId": MI_OTHER, "resourceId": "/subscriptions/x/rg/y/mi/other"}],
        "identityHeader": IDENTITY_HEADER,
        "vault": {"secrets": [{"name": "db-password", "versions": [{"value": "old-pw", "version": "v1" * 16},
                                                                   {"value": "pw-2", "contentType": "text/plain",
                                                                    "tags": {"owner": "outpost"}}]},
                              {"name": "off", "versions": [{"value": "x", "enabled": False}]}],
                  "readers": [SECRET_APP, CERT_APP, FED_APP, MI_CLIENT]},
    }
    signing_key = os.path.join(TMP.name, "token-signing.pem")
    with open(signing_key, "wb") as f:
        f.write(pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    config["tokenSigningKey"] = signing_key  # shared with the plain-http IMDS instance in test_imds_over_http
    FAKE = Fake(TMP.name, config)
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = FAKE.cert


def tearDownModule():  # noqa: N802
    FAKE.stop()
    TMP.cleanup()


def secret_credential(client=SECRET_APP, secret=SECRET_APP_SECRET):
    return ClientSecretCredential(TENANT, client, secret, authority=FAKE.base, disable_instance_discovery=True)


def claims_of(token: str) -> dict:
    return tokens.decode_unverified(token)[1]


def account_url(account=ACCOUNT):
    return f"{FAKE.base}/{account}"


def shared_key_service(**kw):
    return BlobServiceClient(account_url(), credential={"account_name": ACCOUNT, "account_key": KEY}, **FAST, **kw)


def sas(blob_name, permission, container="ingest", **kw):
    start = utcnow() - timedelta(minutes=1)
    return generate_blob_sas(ACCOUNT, container, blob_name, account_key=KEY, permission=permission, start=start,
                             expiry=kw.pop("expiry", utcnow() + timedelta(minutes=30)), **kw)


def sas_blob(blob_name, token, container="ingest", **kw):
    from urllib.parse import quote
    return BlobClient.from_blob_url(f"{account_url()}/{container}/{quote(blob_name)}?{token}", **FAST, **kw)


def fake_signed(method, path, headers, body=b"", account=ACCOUNT, key=KEY):
    """A raw request signed with the fake's own Shared Key signer (held equal to the SDK's by test_00)."""
    h = {"x-ms-date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()), "x-ms-version": "2026-10-06",
         "Content-Type": "application/octet-stream", **headers}
    if body:
        h["Content-Length"] = str(len(body))
    raw_path, _, raw_query = path.partition("?")
    q = [tuple(p.partition("=")[::2]) for p in raw_query.split("&")] if raw_query else []
    sts = signing.shared_key_string_to_sign(method, account, raw_path, q, list(h.items()))
    h["Authorization"] = signing.shared_key_authorization(account, key, sts)
    return FAKE.call(method, path, body or None, h)


class T00Signatures(unittest.TestCase):
    """The fake's signer against Microsoft's own (no server involved)."""

    def test_shared_key_vectors_byte_equal(self):
        vectors = reference_signatures.compute()
        self.assertGreaterEqual(len(vectors["sharedKey"]), 10)
        for v in vectors["sharedKey"]:
            q = [tuple(p.partition("=")[::2]) for p in v["query"].split("&")] if v["query"] else []
            sts = signing.shared_key_string_to_sign(v["method"], vectors["account"], v["path"], q,
                                                    [tuple(h) for h in v["headers"]])
            self.assertEqual(sts, v["stringToSign"], v["name"])
            self.assertEqual(signing.shared_key_authorization(vectors["account"], vectors["key"], sts),
                             v["authorization"], v["name"])

    def test_live_verifier_accepts_vectors(self):
        """The Blob fake's request path (query parsing, header handling, account check) on each captured request,
        its clock set to the vectors' date: every one verifies, and a one-character change of the signature does
        not."""
        import blob as blobmod
        vectors = reference_signatures.compute()
        account = blobmod.Account(vectors["account"], vectors["key"])
        svc = blobmod.BlobService({account.name: account}, TENANT, None)
        svc.clock = lambda: datetime.strptime(vectors["date"], "%a, %d %b %Y %H:%M:%S GMT").replace(
            tzinfo=timezone.utc).timestamp()
        for v in vectors["sharedKey"]:
            headers = {k.lower(): val for k, val in v["headers"]}
            req = blobmod.Request(v["method"], v["path"], v["query"], headers, b"", "http", "127.0.0.1")
            cred = v["authorization"].split(" ", 1)[1]
            self.assertEqual(svc._shared_key(req, account, cred), {"kind": "sharedkey"}, v["name"])
            flipped = cred[:-2] + ("A" if cred[-2] != "A" else "B") + cred[-1]
            with self.assertRaises(blobmod.BlobError, msg=v["name"]) as cm:
                svc._shared_key(req, account, flipped)
            self.assertEqual(cm.exception.code, "AuthenticationFailed")
            self.assertIn(v["stringToSign"], cm.exception.detail)

    def test_sas_vectors_byte_equal(self):
        vectors = reference_signatures.compute()
        self.assertGreaterEqual(len(vectors["sas"]), 6)
        for v in vectors["sas"]:
            f = signing.user_delegation_sas_string_to_sign if v["userDelegation"] else \
                signing.service_sas_string_to_sign
            sts = f(v["fields"], v["canonicalResource"])
            self.assertEqual(sts, v["stringToSign"], v["name"])
            self.assertEqual(signing.hmac_b64(v["key"], sts), v["signature"], v["name"])

    def test_header_order_matches_sdk_collation(self):
        rnd = random.Random(16)
        alphabet = "abz09-_"
        for _ in range(5000):
            a = "x-ms-meta-" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6)))
            b = "x-ms-meta-" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6)))
            if a == b:
                continue
            ka, kb = signing._header_key(a), signing._header_key(b)
            self.assertEqual(sdk_header_compare(a, b), (ka > kb) - (ka < kb), (a, b))

    def test_crc64_matches_sdk(self):
        self.assertEqual(signing.crc64(b"123456789"), 0xAE8B14860A799888)
        try:
            from azure.storage.extensions import checksums
        except ImportError:
            self.skipTest("azure-storage-extensions not installed")
        rnd = random.Random(64)
        for n in (0, 1, 7, 8, 1000, 65537):
            data = rnd.randbytes(n)
            self.assertEqual(signing.crc64(data), checksums.crc64.compute(data, 0), n)

    def test_vectors_are_deterministic_and_committed(self):
        """reference_vectors.json (what the Swift tests may read without Python) is exactly what the pinned SDK
        computes now; after an SDK upgrade, regenerate it and review the diff."""
        vectors = reference_signatures.compute()
        self.assertEqual(json.dumps(vectors), json.dumps(reference_signatures.compute()))
        with open(os.path.join(HERE, "reference_vectors.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), vectors, "regenerate: reference_signatures.py --pretty > "
                                                    "reference_vectors.json")


class T10Blob(unittest.TestCase):
    def test_small_upload_download_properties(self):
        svc = shared_key_service()
        b = svc.get_blob_client("ingest", "runs/one run/ü.json")
        r = b.upload_blob(b'{"a":1}', overwrite=True, content_settings=ContentSettings(content_type="application/json"),
                          metadata={"run": "1"})
        self.assertTrue(r["request_server_encrypted"])
        self.assertEqual(b.download_blob().readall(), b'{"a":1}')
        props = b.get_blob_properties()
        self.assertEqual(props.size, 7)
        self.assertEqual(props.content_settings.content_type, "application/json")
        self.assertEqual(bytes(props.content_settings.content_md5), hashlib.md5(b'{"a":1}').digest())
        self.assertEqual(props.metadata, {"run": "1"})
        with self.assertRaises(ResourceExistsError) as cm:
            b.upload_blob(b"again")  # overwrite=False sends If-None-Match: *
        self.assertEqual(cm.exception.error_code, "BlobAlreadyExists")

    def test_chunked_upload_uses_blocks_and_downloads_in_ranges(self):
        svc = shared_key_service(max_single_put_size=1024, max_block_size=1000, max_chunk_get_size=700,
                                 max_single_get_size=700)
        data = random.Random(1).randbytes(4500)
        b = svc.get_blob_client("ingest", "chunked/data.bin")
        b.upload_blob(data, overwrite=True, validate_content=True)
        state = FAKE.control("GET", "blobs")[ACCOUNT]["containers"]["ingest"]["blobs"]["chunked/data.bin"]
        self.assertEqual(state["size"], 4500)
        self.assertEqual(len(state["committedBlocks"]), 5)
        self.assertEqual(b.download_blob().readall(), data)
        self.assertEqual(b.download_blob(offset=1000, length=10).readall(), data[1000:1010])
        committed = b.get_block_list("committed")[0]
        self.assertEqual([blk.size for blk in committed], [1000, 1000, 1000, 1000, 500])

    def test_stage_commit_resume_with_md5_and_crc64(self):
        b = shared_key_service().get_blob_client("ingest", "resumable.bin")
        ids = [base64.b64encode(f"block-{i:06d}".encode()).decode() for i in range(3)]
        parts = [b"alpha-" * 50, b"beta-" * 40, b"gamma"]
        b.stage_block(ids[0], parts[0], validate_content=True)
        try:
            import azure.storage.extensions  # noqa: F401
            b.stage_block(ids[1], parts[1], validate_content="crc64")
        except ImportError:
            b.stage_block(ids[1], parts[1], validate_content=True)
        # resume: the uploader asks which blocks the service already holds
        committed, uncommitted = b.get_block_list("all")
        self.assertEqual(committed, [])
        self.assertEqual([(u.id, u.size) for u in uncommitted], [(ids[0], 300), (ids[1], 200)])
        self.assertEqual(len(b.get_block_list("uncommitted")[1]), 2)
        b.stage_block(ids[2], parts[2])
        b.commit_block_list([BlobBlock(i) for i in ids],
                            content_settings=ContentSettings(content_md5=hashlib.md5(b"".join(parts)).digest()))
        self.assertEqual(b.download_blob().readall(), b"".join(parts))
        committed, uncommitted = b.get_block_list("all")
        self.assertEqual([c.id for c in committed], ids)
        self.assertEqual(uncommitted, [])
        with self.assertRaises(HttpResponseError) as cm:
            b.commit_block_list([BlobBlock(base64.b64encode(b"block-999999").decode())])
        self.assertEqual(cm.exception.error_code, "InvalidBlockList")

    def test_wrong_content_md5_and_crc64_refused(self):
        body = b"payload"
        path = "/outpostdev/ingest/checked.bin"
        s, h, out = fake_signed("PUT", path, {"x-ms-blob-type": "BlockBlob",
                                              "Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()},
                                body)
        self.assertEqual((s, h.get("x-ms-error-code")), (400, "Md5Mismatch"), out)
        s, h, _ = fake_signed("PUT", path + "?comp=block&blockid=" + "YWFh",
                              {"x-ms-content-crc64": base64.b64encode(b"\0" * 8).decode()}, body)
        self.assertEqual((s, h.get("x-ms-error-code")), (400, "Crc64Mismatch"))
        s, h, _ = fake_signed("PUT", path + "?comp=block&blockid=" + "YWFh",
                              {"x-ms-content-crc64": signing.crc64_b64(body), "Content-MD5": signing.md5_b64(body)},
                              body)
        self.assertEqual(s, 201)
        self.assertEqual(h.get("x-ms-content-crc64"), signing.crc64_b64(body))
        self.assertEqual(h.get("x-ms-request-server-encrypted"), "true")
        s, h, _ = fake_signed("PUT", path + "?comp=block&blockid=" + "YWFhYQ%3D%3D", {}, body)
        self.assertEqual((s, h.get("x-ms-error-code")), (400, "InvalidBlobOrBlock"))  # block ids of unequal length
        # an upload without Content-Length (chunked transfer encoding) is refused, as Azure does
        h = {"x-ms-date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()), "x-ms-version": "2026-10-06",
             "x-ms-blob-type": "BlockBlob", "Transfer-Encoding": "chunked"}
        sts = signing.shared_key_string_to_sign("PUT", ACCOUNT, path, [], list(h.items()))
        h["Authorization"] = signing.shared_key_authorization(ACCOUNT, KEY, sts)
        s, h, _ = FAKE.call("PUT", path, iter([b"chunk"]), h)
        self.assertEqual((s, h.get("x-ms-error-code")), (411, "MissingContentLengthHeader"))

    def test_list_and_delete(self):
        c = shared_key_service().get_container_client("other")
        for name in ("a/1", "a/2", "a/3", "b/1", "c"):
            c.upload_blob(name, b"x" * len(name), overwrite=True, metadata={"k": name.replace("/", "_")})
        self.assertEqual([b.name for b in c.list_blobs(name_starts_with="a/")], ["a/1", "a/2", "a/3"])
        pages = list(c.list_blobs(results_per_page=2).by_page())
        self.assertEqual([[b.name for b in p] for p in pages], [["a/1", "a/2"], ["a/3", "b/1"], ["c"]])
        self.assertEqual([b.name for b in c.walk_blobs(delimiter="/")], ["a/", "b/", "c"])
        listed = {b.name: b for b in c.list_blobs(include=["metadata"])}
        self.assertEqual(listed["a/2"].metadata, {"k": "a_2"})
        self.assertEqual(listed["a/2"].size, 3)
        c.delete_blob("a/2")
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.get_blob_client("a/2").download_blob()
        self.assertEqual(cm.exception.error_code, "BlobNotFound")
        with self.assertRaises(ResourceNotFoundError):
            c.delete_blob("a/2")

    def test_encryption_scope(self):
        b = shared_key_service().get_blob_client("ingest", "scoped.bin")
        r = b.upload_blob(b"s", overwrite=True, encryption_scope="scope-a")
        self.assertEqual(r["encryption_scope"], "scope-a")
        self.assertEqual(b.get_blob_properties().encryption_scope, "scope-a")
        with self.assertRaises(HttpResponseError) as cm:
            b.upload_blob(b"s", overwrite=True, encryption_scope="no-such-scope")
        self.assertEqual(cm.exception.status_code, 409)

    def test_shared_key_refusals(self):
        wrong = BlobServiceClient(account_url(), credential={"account_name": ACCOUNT, "account_key": OTHER_KEY}, **FAST)
        with self.assertRaises(ClientAuthenticationError) as cm:
            wrong.get_blob_client("ingest", "x").upload_blob(b"x", overwrite=True)
        self.assertEqual(cm.exception.error_code, "AuthenticationFailed")
        self.assertIn("Server used following string to sign", str(cm.exception))
        # the other account's key on the other account works: accounts are kept apart
        ok = BlobServiceClient(account_url(OTHER_ACCOUNT),
                               credential={"account_name": OTHER_ACCOUNT, "account_key": OTHER_KEY}, **FAST)
        ok.get_blob_client("ingest", "x").upload_blob(b"x", overwrite=True)
        s, h, _ = FAKE.call("GET", "/outpostdev/ingest/x")
        self.assertEqual((s, h.get("x-ms-error-code")), (401, "NoAuthenticationInformation"))
        self.assertIn("Bearer authorization_uri=", h.get("WWW-Authenticate", ""))
        old = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3600))
        s, h, _ = fake_signed("GET", "/outpostdev/ingest/x", {"x-ms-date": old})
        self.assertEqual((s, h.get("x-ms-error-code")), (403, "AuthenticationFailed"))

    def test_service_sas_write_only_one_blob(self):
        token = sas("sas/upload.bin", BlobSasPermissions(create=True, write=True))
        data = random.Random(2).randbytes(3000)
        b = sas_blob("sas/upload.bin", token, max_single_put_size=1024, max_block_size=1024)
        b.upload_blob(data, overwrite=True)  # chunked: Put Block x3 and Put Block List, all with the SAS
        self.assertEqual(shared_key_service().get_blob_client("ingest", "sas/upload.bin").download_blob().readall(),
                         data)
        with self.assertRaises(HttpResponseError) as cm:  # write-only: no read
            b.download_blob().readall()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "AuthorizationPermissionMismatch"))
        with self.assertRaises(ClientAuthenticationError) as cm:  # restricted to that one blob
            sas_blob("sas/another.bin", token).upload_blob(b"x", overwrite=True)
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "AuthenticationFailed"))
        tampered = token.replace("sp=cw", "sp=rcw")
        with self.assertRaises(ClientAuthenticationError) as cm:
            sas_blob("sas/upload.bin", tampered).download_blob().readall()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "AuthenticationFailed"))
        self.assertIn("Signature did not match", str(cm.exception))
        expired = sas("sas/upload.bin", BlobSasPermissions(create=True, write=True),
                      expiry=utcnow() - timedelta(seconds=5))
        with self.assertRaises(ClientAuthenticationError) as cm:
            sas_blob("sas/upload.bin", expired).upload_blob(b"x", overwrite=True)
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "AuthenticationFailed"))
        self.assertIn("not valid in the specified time frame", str(cm.exception))
        create_only = sas("sas/upload.bin", BlobSasPermissions(create=True))
        with self.assertRaises(HttpResponseError) as cm:  # create (c) may not overwrite an existing blob
            sas_blob("sas/upload.bin", create_only).upload_blob(b"x", overwrite=True)
        self.assertEqual(cm.exception.error_code, "AuthorizationPermissionMismatch")
        sas_blob("sas/created.bin", sas("sas/created.bin", BlobSasPermissions(create=True))).upload_blob(b"new")
        ipsas = sas("sas/upload.bin", BlobSasPermissions(read=True), ip="10.0.0.1")
        with self.assertRaises(HttpResponseError) as cm:
            sas_blob("sas/upload.bin", ipsas).download_blob().readall()
        self.assertEqual(cm.exception.error_code, "AuthorizationSourceIPMismatch")

    def test_service_sas_read_overrides_and_container_list(self):
        shared_key_service().get_blob_client("ingest", "sas/read.txt").upload_blob(b"r", overwrite=True)
        token = sas("sas/read.txt", BlobSasPermissions(read=True), content_type="text/plain", protocol="https")
        b = sas_blob("sas/read.txt", token)
        d = b.download_blob()
        self.assertEqual(d.readall(), b"r")
        self.assertEqual(d.properties.content_settings.content_type, "text/plain")
        ctoken = generate_container_sas(ACCOUNT, "ingest", account_key=KEY, permission=ContainerSasPermissions(
            list=True), expiry=utcnow() + timedelta(minutes=5))
        c = ContainerClient.from_container_url(f"{account_url()}/ingest?{ctoken}", **FAST)
        self.assertIn("sas/read.txt", [x.name for x in c.list_blobs(name_starts_with="sas/")])

    def test_sas_encryption_scope(self):
        token = sas("sas/scoped.bin", BlobSasPermissions(create=True, write=True), encryption_scope="scope-a")
        sas_blob("sas/scoped.bin", token).upload_blob(b"e", overwrite=True)
        self.assertEqual(FAKE.control("GET", "blobs")[ACCOUNT]["containers"]["ingest"]["blobs"]["sas/scoped.bin"][
            "encryptionScope"], "scope-a")

    def test_bearer_and_user_delegation_sas(self):
        svc = BlobServiceClient(account_url(), credential=secret_credential(), **FAST)
        b = svc.get_blob_client("ingest", "oauth/one.bin")
        b.upload_blob(b"via token", overwrite=True)
        self.assertEqual(b.download_blob().readall(), b"via token")
        key = svc.get_user_delegation_key(utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1))
        self.assertEqual(key.signed_tid, TENANT)
        token = generate_blob_sas(ACCOUNT, "ingest", "ud/upload.bin", user_delegation_key=key,
                                  permission=BlobSasPermissions(create=True, write=True),
                                  expiry=utcnow() + timedelta(minutes=10))
        ud = sas_blob("ud/upload.bin", token, max_single_put_size=1024, max_block_size=600)
        ud.upload_blob(b"d" * 2000, overwrite=True)
        self.assertEqual(b.__class__.from_blob_url(f"{account_url()}/ingest/ud/upload.bin", credential=secret_credential(),
                                                   **FAST).download_blob().readall(), b"d" * 2000)
        with self.assertRaises(HttpResponseError) as cm:
            ud.download_blob().readall()
        self.assertEqual(cm.exception.error_code, "AuthorizationPermissionMismatch")
        with self.assertRaises(ClientAuthenticationError) as cm:
            sas_blob("ud/upload.bin", token.replace("skoid=", "skoid=0")).upload_blob(b"x", overwrite=True)
        self.assertEqual(cm.exception.error_code, "AuthenticationFailed")
        with self.assertRaises(ClientAuthenticationError) as cm:
            sas_blob("ud/other.bin", token).upload_blob(b"x", overwrite=True)
        self.assertEqual(cm.exception.error_code, "AuthenticationFailed")
        # Shared Key may not ask for a user delegation key
        with self.assertRaises(HttpResponseError) as cm:
            shared_key_service().get_user_delegation_key(utcnow(), utcnow() + timedelta(hours=1))
        self.assertEqual(cm.exception.status_code, 403)

    def test_bearer_refusals(self):
        out = BlobServiceClient(account_url(), credential=secret_credential(OUTSIDER_APP, OUTSIDER_SECRET), **FAST)
        with self.assertRaises(HttpResponseError) as cm:  # a valid token, no data role on the account
            out.get_blob_client("ingest", "oauth/x").upload_blob(b"x", overwrite=True)
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "AuthorizationPermissionMismatch"))
        path = "/outpostdev/ingest/oauth/one.bin"
        for resource, lifetime, why in (("https://vault.azure.net", 600, "audience"),
                                        ("https://storage.azure.com", -5, "expired")):
            t = FAKE.control("POST", "tokens", {"resource": resource, "clientId": SECRET_APP, "lifetime": lifetime})
            s, h, _ = FAKE.call("GET", path, headers={"Authorization": "Bearer " + t["access_token"],
                                                       "x-ms-version": "2026-10-06"})
            self.assertEqual((s, h.get("x-ms-error-code")), (401, "InvalidAuthenticationInfo"), why)
        t = FAKE.control("POST", "tokens", {"resource": "https://storage.azure.com", "clientId": SECRET_APP,
                                            "objectId": SECRET_APP})
        s, _, _ = FAKE.call("GET", path, headers={"Authorization": "Bearer " + t["access_token"],
                                                  "x-ms-version": "2026-10-06"})
        self.assertEqual(s, 200)

    def test_plain_http_shared_key_and_https_only_sas(self):
        """Without TLS (no --tls-*), Shared Key and SAS work over http, and a SAS with spr=https is refused."""
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
                                 "--exit-on-stdin-eof", "--account", f"{ACCOUNT}={KEY}", "--container", "plain"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().strip()
            self.assertTrue(line.startswith("LISTENING http://127.0.0.1:"), line)
            url = line.split(" ", 1)[1] + "/" + ACCOUNT
            svc = BlobServiceClient(url, credential={"account_name": ACCOUNT, "account_key": KEY}, **FAST)
            svc.get_blob_client("plain", "a.txt").upload_blob(b"plain", overwrite=True)
            token = sas("a.txt", BlobSasPermissions(read=True), container="plain")
            self.assertEqual(BlobClient.from_blob_url(f"{url}/plain/a.txt?{token}", **FAST).download_blob().readall(),
                             b"plain")
            token = sas("a.txt", BlobSasPermissions(read=True), container="plain", protocol="https")
            with self.assertRaises(HttpResponseError) as cm:
                BlobClient.from_blob_url(f"{url}/plain/a.txt?{token}", **FAST).download_blob().readall()
            self.assertEqual(cm.exception.error_code, "AuthorizationProtocolMismatch")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)

    def test_faults_retried_by_sdk(self):
        b = shared_key_service().get_blob_client("ingest", "faulty.bin")
        FAKE.control("POST", "faults", {"faults": ["503x1@blob", "drop@blob", "500@blob"]})
        b.upload_blob(b"survives", overwrite=True)
        snap = FAKE.control("GET", "faults")
        self.assertEqual(len(snap["fired"]), 3)
        self.assertEqual(snap["pending"], [])
        self.assertEqual(b.download_blob().readall(), b"survives")
        FAKE.control("POST", "faults", {"faults": ["429@blob;retry-after=0"]})
        s, h, out = fake_signed("GET", "/outpostdev/ingest/faulty.bin", {})
        self.assertEqual((s, h.get("x-ms-error-code"), h.get("Retry-After")), (429, "ServerBusy", "0"))
        FAKE.control("DELETE", "faults")


class T20Identity(unittest.TestCase):
    def test_openid_configuration(self):
        s, _, out = FAKE.call("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration")
        cfg = json.loads(out)
        self.assertEqual(s, 200)
        self.assertEqual(cfg["token_endpoint"], f"{FAKE.base}/{TENANT}/oauth2/v2.0/token")
        self.assertEqual(cfg["issuer"], f"{FAKE.base}/{TENANT}/v2.0")
        s, _, out = FAKE.call("GET", f"/{TENANT}/discovery/v2.0/keys")
        self.assertEqual(json.loads(out)["keys"][0]["alg"], "RS256")

    def test_client_secret(self):
        t = secret_credential().get_token(STORAGE_SCOPE)
        c = claims_of(t.token)
        self.assertEqual((c["aud"], c["tid"], c["appid"]), ("https://storage.azure.com", TENANT, SECRET_APP))
        self.assertGreater(t.expires_on, time.time() + 3000)
        with self.assertRaises(ClientAuthenticationError) as cm:
            secret_credential(SECRET_APP, "wrong").get_token(STORAGE_SCOPE)
        self.assertIn("AADSTS7000215", str(cm.exception))
        with self.assertRaises(ClientAuthenticationError) as cm:
            secret_credential("99999999-0000-4000-8000-000000000000", "x").get_token(STORAGE_SCOPE)
        self.assertIn("AADSTS700016", str(cm.exception))
        with self.assertRaises(ClientAuthenticationError) as cm:
            secret_credential().get_token("https://unknown.example/.default")
        self.assertIn("AADSTS500011", str(cm.exception))
        other = ClientSecretCredential("0ther000-0000-4000-8000-000000000000", SECRET_APP, SECRET_APP_SECRET,
                                       authority=FAKE.base, disable_instance_discovery=True)
        with self.assertRaises(ClientAuthenticationError) as cm:  # MSAL stops at the tenant's OpenID configuration
            other.get_token(STORAGE_SCOPE)
        self.assertIn("Unable to get authority configuration", str(cm.exception))
        s, _, out = FAKE.call("GET", "/0ther000-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration")
        self.assertEqual((s, json.loads(out)["error_codes"]), (400, [90002]))

    def test_certificate(self):
        cred = CertificateCredential(TENANT, CERT_APP, certificate_path=CERT_PEM, authority=FAKE.base,
                                     disable_instance_discovery=True)
        c = claims_of(cred.get_token(VAULT_SCOPE).token)
        self.assertEqual((c["aud"], c["appid"]), ("https://vault.azure.net", CERT_APP))
        rogue = CertificateCredential(TENANT, CERT_APP, certificate_path=ROGUE_PEM, authority=FAKE.base,
                                      disable_instance_discovery=True)
        with self.assertRaises(ClientAuthenticationError) as cm:
            rogue.get_token(VAULT_SCOPE)
        self.assertIn("AADSTS700027", str(cm.exception))

    def test_assertion_rules(self):
        """What the SDK never gets wrong, checked with hand-made assertions: audience, lifetime, signature."""
        with open(CERT_PEM, "rb") as f:
            pem = f.read()
        key = serialization.load_pem_private_key(pem, None)
        cert = tokens.Certificate(pem[pem.index(b"-----BEGIN CERTIFICATE"):])
        endpoint = f"{FAKE.base}/{TENANT}/oauth2/v2.0/token"
        now = int(time.time())

        def post(assertion):
            from urllib.parse import urlencode
            form = urlencode({"grant_type": "client_credentials", "client_id": CERT_APP, "scope": STORAGE_SCOPE,
                              "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                              "client_assertion": assertion}).encode()
            s, _, out = FAKE.call("POST", f"/{TENANT}/oauth2/v2.0/token", form,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
            return s, json.loads(out)

        good = {"aud": endpoint, "iss": CERT_APP, "sub": CERT_APP, "jti": uuid.uuid4().hex, "nbf": now,
                "exp": now + 600}
        s, out = post(rs256(key, good, {"alg": "RS256", "typ": "JWT", "x5t": cert.x5t}))
        self.assertEqual(s, 200, out)
        s, out = post(rs256(key, good, {"alg": "RS256", "typ": "JWT", "x5t#S256": cert.x5t_s256}))
        self.assertEqual(s, 200, out)
        s, out = post(rs256(key, dict(good, aud=f"{FAKE.base}/{TENANT}/v2.0"), {"alg": "RS256", "x5t": cert.x5t}))
        self.assertEqual((s, out["error_codes"]), (401, [700027]))
        s, out = post(rs256(key, dict(good, exp=now - 3600, nbf=now - 7200), {"alg": "RS256", "x5t": cert.x5t}))
        self.assertEqual((s, out["error_codes"]), (401, [700024]))
        forged = rs256(K8S_KEY, good, {"alg": "RS256", "x5t": cert.x5t})
        s, out = post(forged)
        self.assertEqual((s, out["error_codes"]), (401, [700027]))

    def _projected_token(self, path, subject=K8S_SUBJECT, key=None):
        now = int(time.time())
        token = rs256(key or K8S_KEY, {"iss": K8S_ISSUER, "sub": subject, "aud": ["api://AzureADTokenExchange"],
                                       "iat": now, "nbf": now, "exp": now + 3600},
                      {"alg": "RS256", "kid": "k8s-1", "typ": "JWT"})
        with open(path, "w") as f:
            f.write(token)
        return path

    def test_workload_identity(self):
        path = self._projected_token(os.path.join(TMP.name, "sa-token"))
        cred = WorkloadIdentityCredential(tenant_id=TENANT, client_id=FED_APP, token_file_path=path,
                                          authority=FAKE.base, disable_instance_discovery=True)
        c = claims_of(cred.get_token(STORAGE_SCOPE).token)
        self.assertEqual((c["aud"], c["appid"]), ("https://storage.azure.com", FED_APP))
        bad = self._projected_token(os.path.join(TMP.name, "sa-token-bad"), subject="system:serviceaccount:x:y")
        cred = WorkloadIdentityCredential(tenant_id=TENANT, client_id=FED_APP, token_file_path=bad,
                                          authority=FAKE.base, disable_instance_discovery=True)
        with self.assertRaises(ClientAuthenticationError) as cm:
            cred.get_token(STORAGE_SCOPE)
        self.assertIn("AADSTS700213", str(cm.exception))
        forged = self._projected_token(os.path.join(TMP.name, "sa-token-forged"),
                                       key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        cred = WorkloadIdentityCredential(tenant_id=TENANT, client_id=FED_APP, token_file_path=forged,
                                          authority=FAKE.base, disable_instance_discovery=True)
        with self.assertRaises(ClientAuthenticationError) as cm:
            cred.get_token(STORAGE_SCOPE)
        self.assertIn("AADSTS700027", str(cm.exception))

    def test_imds(self):
        with Env(AZURE_POD_IDENTITY_AUTHORITY_HOST=FAKE.base, IDENTITY_ENDPOINT=None, IDENTITY_HEADER=None,
                 MSI_ENDPOINT=None, AZURE_FEDERATED_TOKEN_FILE=None):
            c = claims_of(ManagedIdentityCredential().get_token(STORAGE_SCOPE).token)
            self.assertEqual((c["aud"], c["appid"]), ("https://storage.azure.com", MI_CLIENT))
            c = claims_of(ManagedIdentityCredential(client_id=MI_OTHER).get_token(VAULT_SCOPE).token)
            self.assertEqual((c["aud"], c["appid"]), ("https://vault.azure.net", MI_OTHER))
        log = FAKE.control("GET", "requests")["requests"]
        imds = [r for r in log if r["service"] == "imds" and r["status"] == 200]
        self.assertTrue(imds and all(r["headers"].get("metadata") == "true" for r in imds))
        self.assertTrue(all("api-version=2018-02-01" in r["query"] for r in imds))
        s, _, out = FAKE.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                                     "https://storage.azure.com")
        self.assertEqual((s, json.loads(out)["error"]), (400, "invalid_request"))
        s, _, out = FAKE.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                                     "https://storage.azure.com&client_id=nobody", headers={"Metadata": "true"})
        self.assertEqual(s, 400)

    def test_imds_over_plain_http_from_a_second_instance(self):
        """IMDS is plain http in Azure. A second fake without TLS, started with the same tenant and token signing key,
        serves it; its tokens open the TLS instance's vault."""
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
                                 "--exit-on-stdin-eof", "--tenant", TENANT, "--managed-identity", MI_CLIENT,
                                 "--token-signing-key", os.path.join(TMP.name, "token-signing.pem")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().strip()
            self.assertTrue(line.startswith("LISTENING http://127.0.0.1:"), line)
            with Env(AZURE_POD_IDENTITY_AUTHORITY_HOST=line.split(" ", 1)[1], IDENTITY_ENDPOINT=None,
                     MSI_ENDPOINT=None):
                kv = SecretClient(FAKE.base, ManagedIdentityCredential(), verify_challenge_resource=False)
                self.assertEqual(kv.get_secret("db-password", version="v1" * 16).value, "old-pw")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)

    def test_app_service(self):
        with Env(IDENTITY_ENDPOINT=FAKE.base + "/msi/token", IDENTITY_HEADER=IDENTITY_HEADER,
                 AZURE_POD_IDENTITY_AUTHORITY_HOST=None, MSI_ENDPOINT=None, IDENTITY_SERVER_THUMBPRINT=None):
            c = claims_of(ManagedIdentityCredential().get_token(VAULT_SCOPE).token)
            self.assertEqual((c["aud"], c["appid"]), ("https://vault.azure.net", MI_CLIENT))
        with Env(IDENTITY_ENDPOINT=FAKE.base + "/msi/token", IDENTITY_HEADER="wrong",
                 AZURE_POD_IDENTITY_AUTHORITY_HOST=None, MSI_ENDPOINT=None, IDENTITY_SERVER_THUMBPRINT=None):
            with self.assertRaises(ClientAuthenticationError):
                ManagedIdentityCredential().get_token(VAULT_SCOPE)
        log = FAKE.control("GET", "requests")["requests"]
        ok = [r for r in log if r["service"] == "identity" and r["status"] == 200]
        self.assertTrue(ok and "api-version=2019-08-01" in ok[-1]["query"])


class T30KeyVault(unittest.TestCase):
    def client(self, cred=None, **kw):
        return SecretClient(FAKE.base, cred or secret_credential(), verify_challenge_resource=False, **kw)

    def test_challenge_flow_and_versions(self):
        # The SDK caches a vault's challenge process-wide; forget it so this client starts without a token.
        from azure.keyvault.secrets._shared import http_challenge_cache
        http_challenge_cache.clear()
        FAKE.control("DELETE", "requests")
        kv = self.client()
        s = kv.get_secret("db-password")
        self.assertEqual((s.value, s.properties.content_type, s.properties.tags), ("pw-2", "text/plain",
                                                                                   {"owner": "outpost"}))
        flow = [(r["service"], r["method"], r["status"]) for r in FAKE.control("GET", "requests")["requests"]]
        self.assertEqual(flow[0], ("vault", "GET", 401), flow)
        self.assertIn(("entra", "POST", 200), flow)
        self.assertEqual(flow[-1], ("vault", "GET", 200))
        first = [r for r in FAKE.control("GET", "requests")["requests"] if r["service"] == "vault"][0]
        self.assertEqual(first["authorization"], "")
        old = kv.get_secret("db-password", version="v1" * 16)
        self.assertEqual(old.value, "old-pw")
        self.assertEqual(old.properties.version, "v1" * 16)
        # rotation mid-test: a new version becomes current
        new = FAKE.control("POST", "vault/secrets/db-password", {"value": "pw-3"})
        got = kv.get_secret("db-password")
        self.assertEqual((got.value, got.properties.version), ("pw-3", new["version"]))
        self.assertEqual(got.id, f"{FAKE.base}/secrets/db-password/{new['version']}")

    def test_challenge_header_shape(self):
        s, h, out = FAKE.call("GET", "/secrets/db-password?api-version=7.5")
        self.assertEqual(s, 401)
        self.assertEqual(h["WWW-Authenticate"], f'Bearer authorization="{FAKE.base}/{TENANT}", '
                                                 'resource="https://vault.azure.net"')
        t = FAKE.control("POST", "tokens", {"resource": "https://storage.azure.com", "clientId": SECRET_APP,
                                            "objectId": SECRET_APP})
        s, h, _ = FAKE.call("GET", "/secrets/db-password?api-version=7.5",
                            headers={"Authorization": "Bearer " + t["access_token"]})
        self.assertEqual(s, 401)  # a storage token is refused by the vault
        t = FAKE.control("POST", "tokens", {"resource": "https://vault.azure.net", "clientId": SECRET_APP,
                                            "lifetime": -1})
        s, _, _ = FAKE.call("GET", "/secrets/db-password?api-version=7.5",
                            headers={"Authorization": "Bearer " + t["access_token"]})
        self.assertEqual(s, 401)  # expired

    def test_errors(self):
        kv = self.client()
        with self.assertRaises(ResourceNotFoundError) as cm:
            kv.get_secret("missing")
        self.assertEqual(cm.exception.error.code, "SecretNotFound")
        with self.assertRaises(HttpResponseError) as cm:
            kv.get_secret("off")
        self.assertEqual((cm.exception.status_code, cm.exception.error.code), (403, "Forbidden"))
        self.assertIn("disabled", cm.exception.message)
        with self.assertRaises(HttpResponseError) as cm:
            self.client(secret_credential(OUTSIDER_APP, OUTSIDER_SECRET)).get_secret("db-password")
        self.assertEqual(cm.exception.status_code, 403)
        # disabling a version mid-test
        v = FAKE.control("POST", "vault/secrets/temp", {"value": "t"})
        self.assertEqual(kv.get_secret("temp").value, "t")
        FAKE.control("POST", f"vault/secrets/temp/{v['version']}", {"enabled": False})
        with self.assertRaises(HttpResponseError) as cm:
            kv.get_secret("temp")
        self.assertEqual(cm.exception.status_code, 403)

    def test_other_credentials_and_throttling(self):
        cred = CertificateCredential(TENANT, CERT_APP, certificate_path=CERT_PEM, authority=FAKE.base,
                                     disable_instance_discovery=True)
        kv = self.client(cred, retry_backoff_factor=0)
        FAKE.control("POST", "faults", {"faults": ["429x2@vault;retry-after=1"]})
        started = time.monotonic()
        self.assertEqual(kv.get_secret("db-password", version="v1" * 16).value, "old-pw")
        self.assertGreaterEqual(time.monotonic() - started, 1.5)  # Retry-After honoured twice
        self.assertEqual(len(FAKE.control("GET", "faults")["fired"]) >= 2, True)
        FAKE.control("DELETE", "faults")
        with Env(AZURE_POD_IDENTITY_AUTHORITY_HOST=FAKE.base, IDENTITY_ENDPOINT=None, MSI_ENDPOINT=None):
            self.assertEqual(self.client(ManagedIdentityCredential()).get_secret("db-password",
                                                                                 version="v1" * 16).value, "old-pw")


if __name__ == "__main__":
    started = time.monotonic()
    result = unittest.main(exit=False, verbosity=1).result
    print(f"fake_azure selftest: {result.testsRun} tests, {len(result.failures)} failures, {len(result.errors)} "
          f"errors, {len(result.skipped)} skipped in {time.monotonic() - started:.1f}s", file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() else 1)
