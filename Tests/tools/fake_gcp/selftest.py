"""Proofs that the fake Google endpoints are honest, run by Tests/tools/test.sh before `swift test` (fails loudly).
Every reference client is Google's own Python SDK, pinned in requirements.txt:

- google-auth: service_account.Credentials (JWT bearer grant) with token_uri on loopback, identity_pool external
  account credentials (file subject token -> STS -> IAM generateAccessToken), compute_engine.Credentials with
  GCE_METADATA_HOST/GCE_METADATA_IP on loopback; refusals (foreign key, bad subject token, expired/tampered JWTs).
- google-cloud-secret-manager (REST transport, http): access latest and by number, CRC32C, NOT_FOUND,
  PERMISSION_DENIED, UNAUTHENTICATED, scope and expiry of bearer tokens, rotation through the control endpoint,
  injected 503 retried by the SDK, a dropped connection.
- google-cloud-storage against fake-gcs-server (the real emulator): small and resumable uploads, download, list,
  CRC32C and MD5; the same through the fake's proxy with bearer tokens from the fake token endpoint.
- google-cloud-storage's V4 signed URLs (RSA, and via IAM signBlob) accepted by the verifier, tampered / other
  object / expired / over-long / unsigned-header / over-size / bad-hash ones refused in Cloud Storage's XML error
  shape; HMAC signed URLs and GOOG4-HMAC-SHA256 headers; the reference vectors verified at their own time.

Nothing leaves loopback: name lookups and connections to anything else raise before any packet is sent.

    .build/fake-gcp-venv/bin/python Tests/tools/fake_gcp/selftest.py
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import io
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore")


# --- loopback only ---------------------------------------------------------------------------------------------------

def _loopback(host) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _guarded_getaddrinfo(host, *a, **k):
    if not _loopback(host if not isinstance(host, bytes) else host.decode()):
        raise OSError(f"selftest: refusing to resolve non-loopback name {host!r}")
    return _getaddrinfo(host, *a, **k)


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        raise OSError(f"selftest: refusing to connect to non-loopback {address!r}")
    return _connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

import signing  # noqa: E402

TMP = tempfile.mkdtemp(prefix="fake-gcp-selftest-")
PROJECT, NUMBER = "outpost-test", "123456789012"
SA_A = "outpost-reader@outpost-test.iam.gserviceaccount.com"
SA_B = "outpost-target@outpost-test.iam.gserviceaccount.com"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/outpost-pool"
AUDIENCE = f"//iam.googleapis.com/{POOL}/providers/outpost-oidc"
ISSUER = "https://issuer.outpost.test"
HMAC_ID, HMAC_SECRET = "GOOG1EOUTPOSTSELFTESTHMAC", "selftest-hmac-secret/abc+def"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
BUCKET = "outpost-selftest"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict, key, header=None) -> str:
    h = b64url(json.dumps(header or {"alg": "RS256", "typ": "JWT"}).encode())
    c = b64url(json.dumps(claims).encode())
    return f"{h}.{c}.{b64url(key.sign(f'{h}.{c}'.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


OIDC_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
STATE = {
    "projects": [{"id": PROJECT, "number": NUMBER}],
    "serviceAccounts": [
        {"email": SA_A, "tokenCreators": [SA_A]},
        {"email": SA_B, "tokenCreators": [f"principalSet://iam.googleapis.com/{POOL}/*"]}],
    "workloadIdentityProviders": [{
        "audience": AUDIENCE, "issuer": ISSUER,
        "issuerPublicKeyPem": OIDC_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()}],
    "metadata": {"serviceAccount": SA_A, "projectId": PROJECT, "numericProjectId": NUMBER},
    "secrets": [
        {"project": PROJECT, "name": "db-password", "accessors": [SA_A, SA_B],
         "versions": [{"data": "one"}, {"data": "two"}]},
        {"project": PROJECT, "name": "locked", "accessors": [], "versions": [{"data": "x"}]}],
}
with open(os.path.join(TMP, "state.json"), "w") as f:
    json.dump(STATE, f)

GCS_BINARY = subprocess.run(["bash", os.path.join(HERE, "setup.sh"), "--gcs-server"], check=True,
                            capture_output=True, text=True).stdout.strip()
PROC = subprocess.Popen(
    [sys.executable, os.path.join(HERE, "server.py"), "--port", "0", "--storage-port", "0", "--gcs-server",
     GCS_BINARY, "--bucket", BUCKET, "--state-file", os.path.join(TMP, "state.json"),
     "--generate-service-account", f"{SA_A}={TMP}/a.json", "--generate-service-account", f"{SA_B}={TMP}/b.json",
     "--hmac-key", f"{HMAC_ID}:{HMAC_SECRET}:{SA_A}", "--endpoints-file", f"{TMP}/endpoints.json",
     "--exit-on-stdin-eof"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
READY = PROC.stdout.readline().strip()
if not READY.startswith("LISTENING http://127.0.0.1:"):
    raise SystemExit(f"fake_gcp did not start: {READY!r}")
EP = json.load(open(f"{TMP}/endpoints.json"))
BASE, STORAGE, GCS = EP["base"], EP["storage"], EP["gcsServer"]
HOSTPORT = BASE.split("://", 1)[1]
os.environ["GCE_METADATA_HOST"] = HOSTPORT
os.environ["GCE_METADATA_IP"] = HOSTPORT
os.environ["GOOGLE_CLOUD_PROJECT"] = PROJECT
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)

import requests  # noqa: E402
from google.api_core import exceptions as gexc  # noqa: E402
from google.auth import compute_engine, exceptions as auth_exc, identity_pool  # noqa: E402
from google.auth.compute_engine import _metadata  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.auth.transport.requests import Request  # noqa: E402
from google.cloud import secretmanager, storage  # noqa: E402
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest import \
    SecretManagerServiceRestTransport  # noqa: E402
from google.cloud.storage import _signing  # noqa: E402
from google.oauth2 import credentials as oauth_credentials, service_account  # noqa: E402
import google_crc32c  # noqa: E402

import reference_signatures  # noqa: E402


def control(path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{BASE}/_fake/{path}", json=body or {}, timeout=10)
    r.raise_for_status()
    return r.json()


def stats() -> dict:
    return requests.get(f"{BASE}/_fake/stats", timeout=10).json()


def sa_creds(path=f"{TMP}/a.json", scopes=(CLOUD,)):
    return service_account.Credentials.from_service_account_file(path, scopes=list(scopes))


def secret_client(credentials):
    transport = SecretManagerServiceRestTransport(host=HOSTPORT, credentials=credentials, url_scheme="http")
    return secretmanager.SecretManagerServiceClient(transport=transport)


def version_name(secret, version="latest", project=PROJECT):
    return f"projects/{project}/secrets/{secret}/versions/{version}"


def xml_code(resp) -> str:
    import xml.etree.ElementTree as ET
    root = ET.fromstring(resp.content)
    assert root.tag == "Error", resp.text
    return root.findtext("Code")


class Tokens(unittest.TestCase):
    def test_service_account_jwt_grant(self):
        creds = sa_creds()
        creds.refresh(Request())
        self.assertTrue(creds.token.startswith("ya29.fake-"))
        self.assertGreater(creds.expiry, dt.datetime.utcnow() + dt.timedelta(minutes=50))
        key_file = json.load(open(f"{TMP}/a.json"))
        self.assertEqual(key_file["token_uri"], f"{BASE}/token")

    def test_foreign_key_refused(self):
        info = json.load(open(f"{TMP}/a.json"))
        info["private_key"] = OTHER_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()).decode()
        creds = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD])
        with self.assertRaises(auth_exc.RefreshError) as e:
            creds.refresh(Request())
        self.assertIn("invalid_grant", str(e.exception))

    def _grant(self, claims, key=None, header=None):
        key = key or serialization.load_pem_private_key(json.load(open(f"{TMP}/a.json"))["private_key"].encode(),
                                                        None)
        return requests.post(f"{BASE}/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                    "assertion": make_jwt(claims, key, header)}, timeout=10)

    def test_jwt_claims_checked(self):
        now = int(time.time())
        good = {"iss": SA_A, "scope": CLOUD, "aud": "https://oauth2.googleapis.com/token", "iat": now,
                "exp": now + 3600}
        self.assertEqual(self._grant(good).status_code, 200)
        for bad in ({"aud": f"{BASE}/token"}, {"exp": now - 10, "iat": now - 100}, {"exp": now + 7200},
                    {"scope": ""}, {"iss": SA_B}):
            r = self._grant({**good, **bad})
            self.assertEqual(r.status_code, 400, bad)
            self.assertIn(r.json()["error"], ("invalid_grant", "invalid_scope"))
        self.assertEqual(self._grant(good, header={"alg": "RS384", "typ": "JWT"}).status_code, 400)

    def _pool_info(self, subject_file, impersonate=True):
        info = {"type": "external_account", "audience": AUDIENCE,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": f"{BASE}/v1/token",
                "credential_source": {"file": subject_file}}
        if impersonate:
            info["service_account_impersonation_url"] = \
                f"{BASE}/v1/projects/-/serviceAccounts/{SA_B}:generateAccessToken"
        return info

    def _subject(self, key=OIDC_KEY, **over) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "system:serviceaccount:outpost:agent", "aud": "https:" + AUDIENCE,
                  "iat": now, "exp": now + 600, **over}
        path = os.path.join(TMP, f"subject-{time.monotonic_ns()}.jwt")
        with open(path, "w") as f:
            f.write(make_jwt(claims, key))
        return path

    def test_workload_identity_with_impersonation(self):
        before = stats()["requests"]
        creds = identity_pool.Credentials.from_info(self._pool_info(self._subject()), scopes=[CLOUD])
        creds.refresh(Request())
        after = stats()["requests"]
        self.assertEqual(after.get("sts", 0) - before.get("sts", 0), 1)
        self.assertEqual(after.get("iam", 0) - before.get("iam", 0), 1)
        got = secret_client(creds).access_secret_version(name=version_name("db-password"))
        self.assertEqual(got.payload.data, b"two")

    def test_workload_identity_federated_token_alone(self):
        creds = identity_pool.Credentials.from_info(self._pool_info(self._subject(), impersonate=False),
                                                    scopes=[CLOUD])
        creds.refresh(Request())
        with self.assertRaises(gexc.Forbidden):  # the pool's principal is no accessor of the secret
            secret_client(creds).access_secret_version(name=version_name("db-password"))

    def test_workload_identity_refusals(self):
        for path in (self._subject(key=OTHER_KEY), self._subject(aud="https://elsewhere"),
                     self._subject(exp=int(time.time()) - 5), self._subject(iss="https://other.issuer")):
            creds = identity_pool.Credentials.from_info(self._pool_info(path), scopes=[CLOUD])
            with self.assertRaises((auth_exc.RefreshError, auth_exc.OAuthError)):
                creds.refresh(Request())
        info = self._pool_info(self._subject())
        info["service_account_impersonation_url"] = \
            f"{BASE}/v1/projects/-/serviceAccounts/{SA_A}:generateAccessToken"  # the pool may not act as SA_A
        with self.assertRaises((auth_exc.RefreshError, auth_exc.OAuthError)):
            identity_pool.Credentials.from_info(info, scopes=[CLOUD]).refresh(Request())

    def test_metadata_server(self):
        self.assertTrue(_metadata.ping(Request()))
        creds = compute_engine.Credentials()
        creds.refresh(Request())
        self.assertTrue(creds.token.startswith("ya29.fake-"))
        self.assertEqual(creds.service_account_email, SA_A)
        self.assertEqual(_metadata.get_project_id(Request()), PROJECT)
        got = secret_client(creds).access_secret_version(name=version_name("db-password", "1"))
        self.assertEqual(got.payload.data, b"one")
        r = requests.get(f"{BASE}/computeMetadata/v1/instance/service-accounts/default/token", timeout=10)
        self.assertEqual(r.status_code, 403)  # no Metadata-Flavor: Google
        self.assertEqual(r.headers["Metadata-Flavor"], "Google")

    def test_sign_blob(self):
        creds = sa_creds()
        creds.refresh(Request())
        r = requests.post(f"{BASE}/v1/projects/-/serviceAccounts/{SA_A}:signBlob",
                          headers={"Authorization": f"Bearer {creds.token}"},
                          json={"payload": base64.b64encode(b"blob").decode()}, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(base64.b64decode(r.json()["signedBlob"]), creds.sign_bytes(b"blob"))
        r = requests.post(f"{BASE}/v1/projects/-/serviceAccounts/{SA_B}:signBlob",
                          headers={"Authorization": f"Bearer {creds.token}"},
                          json={"payload": base64.b64encode(b"blob").decode()}, timeout=10)
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"]["status"], "PERMISSION_DENIED")


def refused_401(test, fn) -> None:
    """The SDK's session answers a 401 by trying to refresh its credentials, which a bare token or anonymous
    credentials cannot: so the SDK raises a refresh error; the fake's count of 401s proves it answered 401."""
    before = stats()["refused"].get("401 UNAUTHENTICATED", 0)
    with test.assertRaises((gexc.Unauthorized, auth_exc.RefreshError, auth_exc.InvalidOperation)):
        fn()
    test.assertGreater(stats()["refused"].get("401 UNAUTHENTICATED", 0), before)


class Secrets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = secret_client(sa_creds())

    def test_latest_and_number(self):
        got = self.client.access_secret_version(name=version_name("db-password"))
        self.assertEqual(got.payload.data, b"two")
        self.assertEqual(got.name, f"projects/{NUMBER}/secrets/db-password/versions/2")
        self.assertEqual(got.payload.data_crc32c, google_crc32c.value(b"two"))
        self.assertEqual(self.client.access_secret_version(name=version_name("db-password", "1")).payload.data,
                         b"one")

    def test_wire_format(self):
        creds = sa_creds()
        creds.refresh(Request())
        r = requests.get(f"{BASE}/v1/{version_name('db-password')}:access",
                         headers={"Authorization": f"Bearer {creds.token}"}, timeout=10)
        body = r.json()
        self.assertEqual(base64.b64decode(body["payload"]["data"]), b"two")
        self.assertIsInstance(body["payload"]["dataCrc32c"], str)
        r = requests.get(f"{BASE}/v1/{version_name('nope')}:access",
                         headers={"Authorization": f"Bearer {creds.token}"}, timeout=10)
        self.assertEqual(r.status_code, 404)
        self.assertEqual(set(r.json()["error"]), {"code", "message", "status"})
        self.assertEqual(r.json()["error"]["status"], "NOT_FOUND")
        r = requests.get(f"{BASE}/v1/{version_name('locked')}:access",
                         headers={"Authorization": f"Bearer {creds.token}"}, timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]["status"]), (403, "PERMISSION_DENIED"))
        r = requests.get(f"{BASE}/v1/{version_name('db-password')}:access", timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]["status"]), (401, "UNAUTHENTICATED"))

    def test_refusals(self):
        with self.assertRaises(gexc.NotFound):
            self.client.access_secret_version(name=version_name("nope"))
        with self.assertRaises(gexc.NotFound):
            self.client.access_secret_version(name=version_name("db-password", "9"))
        with self.assertRaises(gexc.Forbidden):
            self.client.access_secret_version(name=version_name("locked"))
        refused_401(self, lambda: secret_client(AnonymousCredentials()).access_secret_version(
            name=version_name("db-password")))
        refused_401(self, lambda: secret_client(oauth_credentials.Credentials("ya29.made-up")).access_secret_version(
            name=version_name("db-password")))

    def test_token_scope_and_expiry(self):
        narrow = control("tokens", {"principal": SA_A,
                                    "scopes": ["https://www.googleapis.com/auth/devstorage.read_only"]})
        with self.assertRaises(gexc.Forbidden):
            secret_client(oauth_credentials.Credentials(narrow["access_token"])).access_secret_version(
                name=version_name("db-password"))
        short = control("tokens", {"principal": SA_A, "lifetimeSeconds": 60})
        client = secret_client(oauth_credentials.Credentials(short["access_token"]))
        self.assertEqual(client.access_secret_version(name=version_name("db-password")).payload.data, b"two")
        control("clock", {"advanceSeconds": 61})
        try:
            refused_401(self, lambda: client.access_secret_version(name=version_name("db-password")))
        finally:
            control("clock", {"offsetSeconds": 0})

    def test_rotation(self):
        control("secrets/versions", {"project": PROJECT, "secret": "rotating", "data": "v1",
                                     "accessors": [SA_A]})
        self.assertEqual(self.client.access_secret_version(name=version_name("rotating")).payload.data, b"v1")
        self.assertEqual(control("secrets/versions", {"project": PROJECT, "secret": "rotating",
                                                      "dataBase64": base64.b64encode(b"\x00v2\xff").decode()}),
                         {"version": 2})
        got = self.client.access_secret_version(name=version_name("rotating"))
        self.assertEqual((got.payload.data, got.payload.data_crc32c), (b"\x00v2\xff",
                                                                        google_crc32c.value(b"\x00v2\xff")))
        control("secrets/state", {"project": PROJECT, "secret": "rotating", "version": 2, "state": "DISABLED"})
        with self.assertRaises(gexc.BadRequest) as e:  # FAILED_PRECONDITION is HTTP 400
            self.client.access_secret_version(name=version_name("rotating"))
        self.assertIn("DISABLED", str(e.exception))
        self.assertEqual(self.client.access_secret_version(name=version_name("rotating", "1")).payload.data, b"v1")

    def setUp(self):
        requests.delete(f"{BASE}/_fake/faults", timeout=10)

    def test_faults(self):
        try:
            self._faults()
        finally:
            requests.delete(f"{BASE}/_fake/faults", timeout=10)

    def _faults(self):
        control("faults", {"faults": ["503@secrets"]})
        got = self.client.access_secret_version(name=version_name("db-password"))  # the SDK retries UNAVAILABLE
        self.assertEqual(got.payload.data, b"two")
        self.assertEqual([f["spec"] for f in stats()["faults"]["fired"]], ["503@secrets"])
        control("faults", {"faults": ["429x2@secrets", "500@token"]})
        creds = sa_creds()
        creds.refresh(Request())  # google-auth retries a 500 from the token endpoint
        self.assertIn("500@token", [f["spec"] for f in stats()["faults"]["fired"]])
        for _ in range(2):
            r = requests.get(f"{BASE}/v1/{version_name('db-password')}:access", timeout=10)
            self.assertEqual(r.status_code, 429)
            self.assertEqual(r.json()["error"]["status"], "RESOURCE_EXHAUSTED")
        control("faults", {"faults": ["drop@secrets"]})
        conn = http.client.HTTPConnection(HOSTPORT.split(":")[0], int(HOSTPORT.split(":")[1]), timeout=10)
        conn.request("GET", f"/v1/{version_name('db-password')}:access")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            conn.getresponse()
        conn.close()
        self.assertEqual(stats()["faults"]["pending"], [])
        requests.delete(f"{BASE}/_fake/faults", timeout=10)


class Storage(unittest.TestCase):
    def _roundtrip(self, client):
        bucket = client.bucket(BUCKET)
        small = bucket.blob("dir/small.txt")
        small.upload_from_string(b"hello outpost", content_type="text/plain")
        big_data = os.urandom(600 * 1024)
        big = bucket.blob("dir/big.bin", chunk_size=256 * 1024)
        big.upload_from_file(io.BytesIO(big_data))  # size unknown: resumable, in three chunks
        self.assertEqual(bucket.blob("dir/small.txt").download_as_bytes(checksum="crc32c"), b"hello outpost")
        self.assertEqual(bucket.blob("dir/big.bin").download_as_bytes(checksum="md5"), big_data)
        got = bucket.get_blob("dir/big.bin")
        self.assertEqual(got.size, len(big_data))
        self.assertEqual(got.md5_hash, base64.b64encode(hashlib.md5(big_data).digest()).decode())
        self.assertEqual(got.crc32c, base64.b64encode(google_crc32c.Checksum(big_data).digest()).decode())
        self.assertEqual(sorted(b.name for b in client.list_blobs(BUCKET, prefix="dir/")),
                         ["dir/big.bin", "dir/small.txt"])

    def test_fake_gcs_server_direct(self):
        self._roundtrip(storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                       client_options={"api_endpoint": GCS}))

    def test_through_proxy_with_bearer(self):
        before = stats()["requests"].get("storage", 0)
        self._roundtrip(storage.Client(project=PROJECT, credentials=sa_creds(),
                                       client_options={"api_endpoint": STORAGE}))
        # the SDK's bucket read, a multipart upload, a resumable one (a start and 3 chunks answered 308, 308, 200,
        # which reach the proxy only because it rewrote the session's Location), 2 downloads, 1 metadata read and
        # 1 listing (seen in --verbose)
        self.assertEqual(stats()["requests"].get("storage", 0) - before, 10)
        r = requests.get(f"{STORAGE}/storage/v1/b/{BUCKET}/o", timeout=10)  # no token
        self.assertEqual((r.status_code, r.json()["error"]["code"]), (401, 401))
        r = requests.get(f"{STORAGE}/storage/v1/b/{BUCKET}/o", headers={"Authorization": "Bearer ya29.made-up"},
                         timeout=10)
        self.assertEqual(r.status_code, 401)


class SignedUrls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.creds = sa_creds()
        cls.client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": GCS})

    def _sdk_url(self, name, method="PUT", headers=None, minutes=15, **kw):
        return self.client.bucket(BUCKET).blob(name).generate_signed_url(
            version="v4", expiration=dt.timedelta(minutes=minutes), method=method, headers=headers,
            api_access_endpoint=STORAGE, credentials=self.creds, **kw)

    def test_rsa_put_and_get(self):
        headers = {"Content-Type": "application/json", "x-goog-content-length-range": "0,1024",
                   "x-goog-hash": "md5=" + base64.b64encode(hashlib.md5(b'{"a": 1}').digest()).decode()}
        url = self._sdk_url("signed/one.json", headers=headers)
        r = requests.put(url, data=b'{"a": 1}', headers=headers, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["ETag"], '"' + hashlib.md5(b'{"a": 1}').hexdigest() + '"')
        self.assertEqual(self.client.bucket(BUCKET).blob("signed/one.json").download_as_bytes(), b'{"a": 1}')
        r = requests.get(self._sdk_url("signed/one.json", method="GET"), timeout=10)
        self.assertEqual((r.status_code, r.content), (200, b'{"a": 1}'))
        # refusals, each in Cloud Storage's XML error shape
        tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
        r = requests.put(tampered, data=b'{"a": 1}', headers=headers, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        other = url.replace("/signed/one.json?", "/signed/two.json?")
        r = requests.put(other, data=b'{"a": 1}', headers=headers, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        r = requests.put(url, data=b'{"a": 1}', headers={**headers, "Content-Type": "text/plain"}, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        r = requests.put(url, data=b'{"a": 1}', headers={"Content-Type": "application/json",
                                                          "x-goog-hash": headers["x-goog-hash"]}, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))  # signed header missing
        r = requests.put(url, data=b'{"a": 2}', headers=headers, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (400, "BadDigest"))
        big = b"x" * 2000
        url2 = self._sdk_url("signed/big", headers={"x-goog-content-length-range": "0,1024"})
        r = requests.put(url2, data=big, headers={"x-goog-content-length-range": "0,1024"}, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (400, "EntityTooLarge"))
        r = requests.get(self._sdk_url("signed/one.json", method="GET").replace("X-Goog-Expires=900",
                                                                                 "X-Goog-Expires=901"), timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        r = requests.get(f"{STORAGE}/{BUCKET}/signed/one.json", timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "AccessDenied"))
        control("faults", {"faults": ["503@storage", "drop@storage"]})
        try:
            r = requests.get(self._sdk_url("signed/one.json", method="GET"), timeout=10)
            self.assertEqual((r.status_code, xml_code(r)), (503, "ServiceUnavailable"))
            with self.assertRaises(requests.exceptions.ConnectionError):
                requests.get(self._sdk_url("signed/one.json", method="GET"), timeout=10)
            r = requests.get(self._sdk_url("signed/one.json", method="GET"), timeout=10)
            self.assertEqual(r.status_code, 200)
        finally:
            requests.delete(f"{BASE}/_fake/faults", timeout=10)

    def test_expiry(self):
        resource = f"/{BUCKET}/signed/old"
        old = _signing.generate_signed_url_v4(self.creds, resource, expiration=60, api_access_endpoint=STORAGE,
                                              method="GET", _request_timestamp="20200101T000000Z")
        r = requests.get(old, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (400, "ExpiredToken"))
        key = serialization.load_pem_private_key(json.load(open(f"{TMP}/a.json"))["private_key"].encode(), None)
        now = dt.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
        too_long = signing.sign_url(algorithm=signing.RSA, credential_id=SA_A, method="GET", endpoint=STORAGE,
                                    bucket=BUCKET, obj="signed/one.json", timestamp=now, expires=604801,
                                    private_key=key)["url"]
        r = requests.get(too_long, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (400, "MalformedSecurityHeader"))
        url = self._sdk_url("signed/one.json", method="GET", minutes=1)
        control("clock", {"advanceSeconds": 61})
        try:
            r = requests.get(url, timeout=10)
            self.assertEqual((r.status_code, xml_code(r)), (400, "ExpiredToken"))
        finally:
            control("clock", {"offsetSeconds": 0})

    def test_sign_blob_path_matches_local_key(self):
        """The SDK's IAM signBlob path (what a workload identity uses) yields the same URL as signing with the key:
        the fake signs with the key it holds. The SDK calls iamcredentials.googleapis.com; the test reroutes
        that one URL to the fake (and the loopback guard would stop it otherwise)."""
        token = control("tokens", {"principal": SA_A})["access_token"]
        real_send = requests.adapters.HTTPAdapter.send

        def reroute(adapter, request, **kw):
            prefix = "https://iamcredentials.googleapis.com/"
            if request.url.startswith(prefix):
                request.url = BASE + "/" + request.url[len(prefix):]
            return real_send(adapter, request, **kw)
        requests.adapters.HTTPAdapter.send = reroute
        try:
            via_iam = _signing.generate_signed_url_v4(None, f"/{BUCKET}/signed/one.json", expiration=600,
                                                      api_access_endpoint=STORAGE, method="GET",
                                                      service_account_email=SA_A, access_token=token,
                                                      _request_timestamp="20260301T120000Z",
                                                      universe_domain="googleapis.com")
        finally:
            requests.adapters.HTTPAdapter.send = real_send
        local = _signing.generate_signed_url_v4(self.creds, f"/{BUCKET}/signed/one.json", expiration=600,
                                                api_access_endpoint=STORAGE, method="GET",
                                                _request_timestamp="20260301T120000Z")
        self.assertEqual(via_iam, local)

    def test_hmac_signed_url_and_header(self):
        now = dt.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
        put = signing.sign_url(algorithm=signing.HMAC, credential_id=HMAC_ID, method="PUT", endpoint=STORAGE,
                               bucket=BUCKET, obj="hmac/a b.txt", timestamp=now, expires=300,
                               headers={"x-goog-content-length-range": "1,100"}, hmac_secret=HMAC_SECRET)["url"]
        r = requests.put(put, data=b"hmac body", headers={"x-goog-content-length-range": "1,100"}, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.client.bucket(BUCKET).blob("hmac/a b.txt").download_as_bytes(), b"hmac body")
        r = requests.put(put.replace("a%20b", "a%20c"), data=b"hmac body",
                         headers={"x-goog-content-length-range": "1,100"}, timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        host = STORAGE.split("://", 1)[1]
        signed = signing.sign_header(access_id=HMAC_ID, secret=HMAC_SECRET, method="PUT", host=host,
                                     path=f"/{BUCKET}/hmac/header.txt",
                                     headers={"Content-Type": "text/plain"}, timestamp=now,
                                     payload_sha256=hashlib.sha256(b"via header").hexdigest())
        r = requests.put(f"{STORAGE}/{BUCKET}/hmac/header.txt", data=b"via header", headers=signed["headers"],
                         timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        get = signing.sign_header(access_id=HMAC_ID, secret=HMAC_SECRET, method="GET", host=host,
                                  path=f"/{BUCKET}/hmac/header.txt", headers={}, timestamp=now)
        r = requests.get(f"{STORAGE}/{BUCKET}/hmac/header.txt", headers=get["headers"], timeout=10)
        self.assertEqual((r.status_code, r.content), (200, b"via header"))
        wrong = signing.sign_header(access_id=HMAC_ID, secret="not-the-secret", method="GET", host=host,
                                    path=f"/{BUCKET}/hmac/header.txt", headers={}, timestamp=now)
        r = requests.get(f"{STORAGE}/{BUCKET}/hmac/header.txt", headers=wrong["headers"], timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"))
        r = requests.put(f"{STORAGE}/{BUCKET}/hmac/header.txt", data=b"other body", headers=signed["headers"],
                         timeout=10)
        self.assertEqual((r.status_code, xml_code(r)), (400, "BadDigest"))
        control("hmac", {"accessId": HMAC_ID, "state": "INACTIVE"})
        try:
            r = requests.get(f"{STORAGE}/{BUCKET}/hmac/header.txt", headers=get["headers"], timeout=10)
            self.assertEqual((r.status_code, xml_code(r)), (403, "InvalidAccessKeyId"))
        finally:
            control("hmac", {"accessId": HMAC_ID, "state": "ACTIVE"})

    def test_hmac_chain_is_sigv4_renamed(self):
        """google-cloud-storage has no HMAC signer, so the HMAC chain is checked against botocore's SigV4 instead:
        with AWS's names in place of GOOG4's, signing.py's chain gives botocore's signature over the same string."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        for secret, stamp, location in ((HMAC_SECRET, "20260301T120000Z", "auto"),
                                        ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20191231T235959Z", "us-east1")):
            request = AWSRequest(method="GET", url="https://storage.googleapis.com/b/o")
            request.context["timestamp"] = stamp
            sts = "\n".join(["AWS4-HMAC-SHA256", stamp, f"{stamp[:8]}/{location}/storage/aws4_request",
                             hashlib.sha256(b"canonical request").hexdigest()])
            theirs = SigV4Auth(Credentials("GOOG1ID", secret), "storage", location).signature(sts, request)
            ours = signing.hmac_sign(secret, stamp[:8], location, sts, prefix="AWS4", terminator="aws4_request")
            self.assertEqual(ours, theirs)

    def test_reference_vectors_verify_at_their_time(self):
        """reference_signatures.py's vectors (RSA by the SDK, HMAC by signing.py), for the fake's own key and HMAC
        key, are accepted by the verifier with its clock set inside their window and the Host they were signed
        for; one byte off and they are refused."""
        out = reference_signatures.vectors(json.load(open(f"{TMP}/a.json")), HMAC_ID, HMAC_SECRET)
        self.assertEqual(len(out["vectors"]), 2 * len(reference_signatures.CASES))
        control("hmac", {"accessId": HMAC_ID, "secret": HMAC_SECRET, "serviceAccount": SA_A, "state": "ACTIVE"})
        requests.post(f"{GCS}/storage/v1/b", json={"name": out["bucket"]}, timeout=10)
        start = dt.datetime.strptime(out["timestamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        control("clock", {"offsetSeconds": start.timestamp() + 30 - time.time()})
        try:
            for v in out["vectors"]:
                path_and_query = v["url"][len(out["endpoint"]):]
                # requests refuses leading whitespace in a value; the canonical form collapses it anyway
                headers = {"Host": out["endpoint"].split("://", 1)[1],
                           **{k: " ".join(x.split()) for k, x in v["headers"].items()}}
                body = b"hello" if v["method"] == "PUT" else None  # md5 of b"hello" is the vector's x-goog-hash
                r = requests.request(v["method"], STORAGE + path_and_query, data=body, headers=headers, timeout=10)
                if v["method"] == "GET":
                    self.assertIn(r.status_code, (200, 404), (v["name"], v["algorithm"], r.text))
                else:
                    self.assertEqual(r.status_code, 200, (v["name"], v["algorithm"], r.text))
                bad = STORAGE + path_and_query[:-1] + ("0" if path_and_query[-1] != "0" else "1")
                r = requests.request(v["method"], bad, data=body, headers=headers, timeout=10)
                self.assertEqual((r.status_code, xml_code(r)), (403, "SignatureDoesNotMatch"), v["name"])
        finally:
            control("clock", {"offsetSeconds": 0})


def main() -> int:
    try:
        result = unittest.main(exit=False, verbosity=1).result
    finally:
        PROC.stdin.close()
        try:
            PROC.wait(10)
        except subprocess.TimeoutExpired:
            PROC.kill()
    ok = result.wasSuccessful()
    print(f"fake_gcp selftest: {result.testsRun - len(result.failures) - len(result.errors)} passed, "
          f"{len(result.failures) + len(result.errors)} failed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
