#!/usr/bin/env python3
"""Reference V4 signed-URL vectors for the Swift signer to compare byte for byte, printed as JSON on stdout.

RSA (GOOG4-RSA-SHA256) vectors are computed by google-cloud-storage 3.17.1's own signer
(google.cloud.storage._signing.generate_signed_url_v4 with its testing hook `_request_timestamp`, the same one its
conformance tests use) over a service-account key; signing.py must reproduce each URL exactly, and its canonical
request and string to sign are printed beside it (checked: the SDK's signature verifies over that string).
google-cloud-storage has no HMAC signer, so the GOOG4-HMAC-SHA256 vectors come from signing.py alone (the same
canonicalisation proven against the SDK, plus the documented GOOG4 key chain) and say so (`signer`).

    python reference_signatures.py [--key-file SA.json] [--hmac-access-id ID --hmac-secret S] [--timestamp T]

Without --key-file a fresh test-only RSA key is generated; the key file used is part of the output, so the
vectors are self-contained. Nothing here talks to the network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import signing  # noqa: E402

DEFAULT_TIMESTAMP = "20260301T120000Z"
ENDPOINT = "https://storage.googleapis.com"
BUCKET = "outpost-test-bucket"

CASES = [
    {"name": "put-with-length-range-and-hash", "method": "PUT", "object": "exports/run 1/part-0001.json",
     "expires": 900,
     "headers": {"Content-Type": "application/json", "x-goog-content-length-range": "0,1048576",
                 "x-goog-hash": "md5=XUFAKrxLKna5cZ2REBfFkg=="}},
    {"name": "put-plain", "method": "PUT", "object": "a.txt", "expires": 3600, "headers": {}},
    # What the control plane's Cloud Storage blob store grants: the exact size and the body's SHA-256 (the payload),
    # here of b"hello", the body the self-test sends.
    {"name": "put-exact-size-and-sha256", "method": "PUT", "object": "outpost/ten_1/run_1/chunk 0001.jsonl",
     "expires": 900,
     "headers": {"x-goog-content-length-range": "5,5",
                 "x-goog-content-sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}},
    {"name": "get-unicode-and-query", "method": "GET", "object": "dir/naïve ~&=+.bin", "expires": 604800,
     "headers": {}, "query": {"generation": "1712345678901234"}},
    {"name": "put-whitespace-header", "method": "PUT", "object": "ws", "expires": 60,
     "headers": {"x-goog-meta-note": "  two   spaces\tand tab  "}},
]


def generated_key_file() -> dict:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from server import key_file_json
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key_file_json("outpost-test-signer@outpost-test.iam.gserviceaccount.com", "0" * 40, key,
                         "https://oauth2.googleapis.com/token", "outpost-test")


def sdk_url(credentials, case: dict, timestamp: str, endpoint: str) -> str:
    from google.cloud.storage import _signing
    from google.cloud.storage.blob import _quote
    resource = f"/{BUCKET}/{_quote(case['object'], safe=b'/~')}"
    return _signing.generate_signed_url_v4(credentials, resource, expiration=case["expires"],
                                           api_access_endpoint=endpoint, method=case["method"],
                                           headers=dict(case["headers"]) or None,
                                           query_parameters=dict(case.get("query") or {}) or None,
                                           _request_timestamp=timestamp)


def vectors(key_info: dict, hmac_access_id: str, hmac_secret: str, timestamp: str = DEFAULT_TIMESTAMP,
            endpoint: str = ENDPOINT) -> dict:
    from cryptography.hazmat.primitives import serialization
    from google.oauth2 import service_account
    credentials = service_account.Credentials.from_service_account_info(key_info)
    private_key = serialization.load_pem_private_key(key_info["private_key"].encode(), password=None)
    out = {"timestamp": timestamp, "endpoint": endpoint, "bucket": BUCKET, "keyFile": key_info,
           "hmac": {"accessId": hmac_access_id, "secret": hmac_secret}, "vectors": []}
    for case in CASES:
        url = sdk_url(credentials, case, timestamp, endpoint)
        ours = signing.sign_url(algorithm=signing.RSA, credential_id=key_info["client_email"], method=case["method"],
                                endpoint=endpoint, bucket=BUCKET, obj=case["object"], timestamp=timestamp,
                                expires=case["expires"], headers=case["headers"], query=case.get("query"),
                                private_key=private_key)
        if ours["url"] != url:
            raise SystemExit(f"signing.py disagrees with google-cloud-storage on {case['name']}:\n sdk  {url}\n "
                             f"ours {ours['url']}")
        if not signing.rsa_verify(private_key.public_key(), ours["stringToSign"], url.rsplit("=", 1)[1]):
            raise SystemExit(f"{case['name']}: the SDK's signature does not verify over our string to sign")
        out["vectors"].append({"name": case["name"], "algorithm": signing.RSA, "signer": "google-cloud-storage 3.17.1",
                               "method": case["method"], "object": case["object"], "expires": case["expires"],
                               "headers": case["headers"], "query": case.get("query") or {}, "url": url,
                               "canonicalRequest": ours["canonicalRequest"], "stringToSign": ours["stringToSign"],
                               "signature": ours["signature"]})
        h = signing.sign_url(algorithm=signing.HMAC, credential_id=hmac_access_id, method=case["method"],
                             endpoint=endpoint, bucket=BUCKET, obj=case["object"], timestamp=timestamp,
                             expires=case["expires"], headers=case["headers"], query=case.get("query"),
                             hmac_secret=hmac_secret)
        out["vectors"].append({"name": case["name"], "algorithm": signing.HMAC,
                               "signer": "signing.py (google-cloud-storage has no HMAC signer)",
                               "method": case["method"], "object": case["object"], "expires": case["expires"],
                               "headers": case["headers"], "query": case.get("query") or {}, "url": h["url"],
                               "canonicalRequest": h["canonicalRequest"], "stringToSign": h["stringToSign"],
                               "signature": h["signature"]})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--key-file")
    p.add_argument("--hmac-access-id", default="GOOG1EOUTPOSTTESTONLYACCESSID0000000000000000000000000000")
    p.add_argument("--hmac-secret", default="outpost-test-only-hmac-secret/0123456789+abcdefghij")
    p.add_argument("--timestamp", default=DEFAULT_TIMESTAMP)
    p.add_argument("--endpoint", default=ENDPOINT)
    args = p.parse_args()
    key_info = json.load(open(args.key_file)) if args.key_file else generated_key_file()
    json.dump(vectors(key_info, args.hmac_access_id, args.hmac_secret, args.timestamp, args.endpoint), sys.stdout,
              indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
