#!/usr/bin/env python3
"""Reference vectors for Azure Storage Shared Key and SAS signatures, computed by Microsoft's own SDK
(azure-storage-blob), for the fake's verifier (selftest.py) and the Swift signer's tests to compare byte for byte.

Shared Key: real SDK client calls (Put Blob, Put Block, Put Block List, Get Blob with a range, Get Block List, List
Blobs, Delete Blob, Create Container, a Put Blob with an encryption scope and unusual metadata names) run against a
transport that captures the signed request instead of sending it (nothing leaves the process). The date is fixed by
replacing the SDK's clock for x-ms-date, the client request id is given, so the output is deterministic. Each
vector holds the request as sent (method, raw path, raw query, headers), the SDK's string-to-sign (from its own
SharedKeyCredentialPolicy methods) and the Authorization header it sent.

SAS: `generate_blob_sas` / `generate_container_sas` with fixed start and expiry; the SDK's string-to-sign comes from
its `sts_hook`, the signature from the token.

    python3 Tests/tools/fake_azure/reference_signatures.py [--pretty]    # JSON on stdout
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.storage.blob
import azure.storage.blob._shared.policies as storage_policies
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import (BlobBlock, BlobSasPermissions, BlobServiceClient, ContainerSasPermissions,
                                ContentSettings, UserDelegationKey, generate_blob_sas, generate_container_sas)
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

ACCOUNT = "outpostref"
# A fixed, made-up key (base64 of 64 bytes): only for the vectors, never a real account's.
KEY = "b3V0cG9zdC1yZWZlcmVuY2UtdmVjdG9yLWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="
DATE = "Mon, 07 Dec 2026 15:00:00 GMT"
ENDPOINT = f"http://127.0.0.1:10000/{ACCOUNT}"  # path-style, as the fake serves; never contacted
START = datetime(2026, 12, 7, 15, 0, 0, tzinfo=timezone.utc)
EXPIRY = datetime(2026, 12, 7, 16, 30, 0, tzinfo=timezone.utc)


class Captured(Exception):
    def __init__(self, request):
        super().__init__("captured")
        self.request = request


class CaptureTransport(HttpTransport):
    """Refuses to send: hands the signed request back to the caller."""

    def send(self, request, **kwargs):
        raise Captured(request)

    def open(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass


def capture(name: str, call) -> dict:
    try:
        call()
    except Captured as c:
        req = c.request
    else:
        raise RuntimeError(f"{name}: the SDK sent nothing")
    url = urlsplit(req.url)
    policy = SharedKeyCredentialPolicy(ACCOUNT, KEY)
    preq = PipelineRequest(req, PipelineContext(None))
    sts = (policy._get_verb(preq)
           + policy._get_headers(preq, ["content-encoding", "content-language", "content-length", "content-md5",
                                        "content-type", "date", "if-modified-since", "if-match", "if-none-match",
                                        "if-unmodified-since", "byte_range"])
           + policy._get_canonicalized_headers(preq)
           + policy._get_canonicalized_resource(preq)
           + policy._get_canonicalized_resource_query(preq))
    headers = [[k, v] for k, v in req.headers.items() if k.lower() not in ("authorization", "user-agent")]
    body = req.data if isinstance(req.data, (bytes, str)) else None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return {"name": name, "method": req.method, "url": req.url, "path": url.path, "query": url.query,
            "headers": headers, "body": body, "stringToSign": sts, "authorization": req.headers["Authorization"]}


def shared_key_vectors() -> list[dict]:
    clock = storage_policies.format_date_time
    storage_policies.format_date_time = lambda _t: DATE  # the SDK's clock for x-ms-date, fixed for these calls
    try:
        return _shared_key_vectors()
    finally:
        storage_policies.format_date_time = clock


def _shared_key_vectors() -> list[dict]:
    cred = {"account_name": ACCOUNT, "account_key": KEY}
    opts = dict(credential=cred, transport=CaptureTransport(), retry_total=0)
    svc = BlobServiceClient(ENDPOINT, **opts)
    cont = svc.get_container_client("ingest")
    blob = cont.get_blob_client("runs/2026-12-07/part 1.json")
    odd = cont.get_blob_client("odd name/ü é+%.bin")
    rid = "00000000-0000-0000-0000-000000000001"
    out = [
        capture("create container", lambda: cont.create_container(client_request_id=rid)),
        capture("put blob", lambda: blob.upload_blob(b'{"a": 1}\n', overwrite=True, client_request_id=rid,
                                                     content_settings=ContentSettings(content_type="application/json"),
                                                     metadata={"run": "42", "source": "outpost"})),
        capture("put blob if-none-match", lambda: blob.upload_blob(b"x", client_request_id=rid)),
        capture("put blob encryption scope and odd metadata names",
                lambda: odd.upload_blob(b"", overwrite=True, encryption_scope="scope-a", client_request_id=rid,
                                        metadata={"a_b": "1", "a-b": "2", "ab": "3", "a0": "4", "Zed": "5"})),
        capture("put block md5", lambda: blob.stage_block("YmxvY2stMDAwMDAx", b"hello block",
                                                           validate_content=True, client_request_id=rid)),
        capture("put block list", lambda: blob.commit_block_list(
            [BlobBlock("YmxvY2stMDAwMDAx"), BlobBlock("YmxvY2stMDAwMDAy")], client_request_id=rid,
            content_settings=ContentSettings(content_type="application/json",
                                             content_md5=bytearray(b"0123456789abcdef")))),
        capture("get blob range", lambda: blob.download_blob(offset=0, length=1024, client_request_id=rid).readall()),
        capture("get block list all", lambda: blob.get_block_list("all", client_request_id=rid)),
        capture("list blobs", lambda: next(iter(cont.list_blobs(name_starts_with="runs/", include=["metadata"],
                                                                 results_per_page=2, client_request_id=rid)))),
        capture("delete blob", lambda: odd.delete_blob(client_request_id=rid)),
        capture("get blob properties", lambda: blob.get_blob_properties(client_request_id=rid)),
    ]
    return out


def sas_vectors() -> list[dict]:
    out = []

    def blob_sas(name, blob_name, permission, **kw):
        sts = []
        token = generate_blob_sas(ACCOUNT, "ingest", blob_name, account_key=kw.pop("account_key", None),
                                  permission=permission, start=START, expiry=EXPIRY, sts_hook=sts.append, **kw)
        out.append(vector(name, "b", f"/blob/{ACCOUNT}/ingest/{blob_name}", token, sts[0], kw))

    def vector(name, sr, resource, token, sts, kw):
        q = dict(parse_qsl(token, keep_blank_values=True))
        ud = kw.get("user_delegation_key")
        return {"name": name, "account": ACCOUNT, "key": ud.value if ud else KEY, "userDelegation": ud is not None,
                "canonicalResource": resource, "token": token, "fields": q, "stringToSign": sts,
                "signature": unquote(q["sig"])}

    blob_sas("service sas write-only one blob", "runs/2026-12-07/part 1.json",
             BlobSasPermissions(create=True, write=True), account_key=KEY)
    blob_sas("service sas read with https, ip range, response overrides", "odd name/ü é+%.bin",
             BlobSasPermissions(read=True), account_key=KEY, protocol="https", ip="127.0.0.1-127.0.0.2",
             content_type="text/plain", content_disposition="attachment", cache_control="no-cache",
             content_encoding="identity", content_language="en")
    blob_sas("service sas with encryption scope", "a.bin", BlobSasPermissions(create=True, write=True),
             account_key=KEY, encryption_scope="scope-a")
    key = UserDelegationKey()
    key.signed_oid = "11111111-2222-3333-4444-555555555555"
    key.signed_tid = "00000000-0000-4000-8000-00000000a2e1"
    key.signed_start = "2026-12-07T14:55:00Z"
    key.signed_expiry = "2026-12-08T14:55:00Z"
    key.signed_service = "b"
    key.signed_version = "2026-10-06"
    key.value = "dXNlci1kZWxlZ2F0aW9uLWtleS1yZWZlcmVuY2UtMDAwMDAwMDAwMDAwMDAwMDA="
    blob_sas("user delegation sas write-only one blob", "runs/2026-12-07/part 1.json",
             BlobSasPermissions(create=True, write=True), user_delegation_key=key)
    blob_sas("user delegation sas with correlation id and encryption scope", "a.bin",
             BlobSasPermissions(read=True, write=True), user_delegation_key=key, correlation_id="corr-1",
             encryption_scope="scope-a")
    sts = []
    token = generate_container_sas(ACCOUNT, "ingest", account_key=KEY, permission=ContainerSasPermissions(list=True),
                                   start=START, expiry=EXPIRY, sts_hook=sts.append)
    out.append(vector("service sas container list", "c", f"/blob/{ACCOUNT}/ingest", token, sts[0], {}))
    return out


def compute() -> dict:
    return {"sdk": {"azure-storage-blob": azure.storage.blob.__version__},
            "xMsVersion": azure.storage.blob._shared.constants.X_MS_VERSION, "account": ACCOUNT, "key": KEY,
            "date": DATE, "sharedKey": shared_key_vectors(), "sas": sas_vectors()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pretty", action="store_true")
    args = p.parse_args()
    json.dump(compute(), sys.stdout, indent=2 if args.pretty else None, ensure_ascii=False, sort_keys=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
