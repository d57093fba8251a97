"""Google Cloud Storage V4 signing, written for this project from Google's published description of V4 signing
(signed URLs and GOOG4-HMAC-SHA256 authorization headers), and checked against google-cloud-storage's own signer
(reference_signatures.py, selftest.py). Used by the fake's verifier and by the reference vectors.

One canonicalisation for both algorithms:
  canonical request = METHOD \\n resource \\n canonical query \\n canonical headers (each `name:value\\n`) \\n
                      signed header names (`;`-joined) \\n payload hash (`UNSIGNED-PAYLOAD` unless given)
  string to sign    = ALGORITHM \\n timestamp \\n scope \\n hex(sha256(canonical request))
  scope             = yyyymmdd/location/storage/goog4_request
GOOG4-RSA-SHA256 signs the string with RSASSA-PKCS1-v1_5/SHA-256; GOOG4-HMAC-SHA256 with HMAC-SHA256 under the key
chain "GOOG4"+secret -> date -> location -> "storage" -> "goog4_request". Signatures are lower-case hex.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, unquote

RSA = "GOOG4-RSA-SHA256"
HMAC = "GOOG4-HMAC-SHA256"
MAX_EXPIRES = 604800  # seven days


def quote_param(value) -> str:
    return quote(value if isinstance(value, (str, bytes)) else str(value), safe="~")


def canonical_resource(path: str) -> str:
    """The path as Google canonicalises it: each byte percent-encoded except unreserved characters and '/'."""
    return quote(unquote(path), safe="/~")


def canonical_query(pairs) -> str:
    """pairs: decoded (name, value); X-Goog-Signature must already be left out."""
    return "&".join(sorted(f"{quote_param(k)}={quote_param(v)}" for k, v in pairs))


def canonical_headers(headers) -> tuple[str, str]:
    """headers: (name, value) pairs, names in any case, repeated names allowed. Returns (canonical header block
    including its final newline, signed header names)."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.strip().lower(), []).append(" ".join(str(value).split()))
    names = sorted(grouped)
    block = "".join(f"{n}:{','.join(grouped[n])}\n" for n in names)
    return block, ";".join(names)


def canonical_request(method: str, resource: str, query: str, header_block: str, signed_headers: str,
                      payload: str = "UNSIGNED-PAYLOAD") -> str:
    return "\n".join([method, resource, query, header_block, signed_headers, payload])


def string_to_sign(algorithm: str, timestamp: str, scope: str, creq: str) -> str:
    return "\n".join([algorithm, timestamp, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def hmac_signing_key(secret: str, datestamp: str, location: str = "auto", prefix: str = "GOOG4",
                     service: str = "storage", terminator: str = "goog4_request") -> bytes:
    """The key chain; prefix/service/terminator are parameters only so that the selftest can show the same chain
    with AWS's names ("AWS4", "aws4_request") equals botocore's SigV4."""
    key = (prefix + secret).encode("utf-8")
    for part in (datestamp, location, service, terminator):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def hmac_sign(secret: str, datestamp: str, location: str, sts: str, **names) -> str:
    return hmac.new(hmac_signing_key(secret, datestamp, location, **names), sts.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def rsa_sign(private_key, sts: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    return private_key.sign(sts.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()).hex()


def rsa_verify(public_key, sts: str, signature_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        public_key.verify(bytes.fromhex(signature_hex), sts.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def sign_url(*, algorithm: str, credential_id: str, method: str, endpoint: str, bucket: str, obj: str,
             timestamp: str, expires: int, headers: dict | None = None, query: dict | None = None,
             location: str = "auto", private_key=None, hmac_secret: str | None = None) -> dict:
    """A V4 signed URL, path style (`endpoint/bucket/object`). Returns url, canonicalRequest, stringToSign,
    signature. `endpoint` is scheme://host[:port]; the host header is signed as that host[:port]."""
    host = endpoint.split("://", 1)[1].rstrip("/")
    hdrs = [("host", host)] + list((headers or {}).items())
    block, signed = canonical_headers(hdrs)
    scope = f"{timestamp[:8]}/{location}/storage/goog4_request"
    params = dict(query or {})
    params.update({"X-Goog-Algorithm": algorithm, "X-Goog-Credential": f"{credential_id}/{scope}",
                   "X-Goog-Date": timestamp, "X-Goog-Expires": str(expires), "X-Goog-SignedHeaders": signed})
    cq = canonical_query(params.items())
    resource = canonical_resource(f"/{bucket}/{obj}")
    payload = dict((k.lower(), v) for k, v in hdrs).get("x-goog-content-sha256", "UNSIGNED-PAYLOAD")
    creq = canonical_request(method, resource, cq, block, signed, payload)
    sts = string_to_sign(algorithm, timestamp, scope, creq)
    if algorithm == RSA:
        sig = rsa_sign(private_key, sts)
    else:
        sig = hmac_sign(hmac_secret, timestamp[:8], location, sts)
    return {"url": f"{endpoint.rstrip('/')}{resource}?{cq}&X-Goog-Signature={sig}", "canonicalRequest": creq,
            "stringToSign": sts, "signature": sig}


def sign_header(*, access_id: str, secret: str, method: str, host: str, path: str, query_pairs=(),
                headers: dict, timestamp: str, payload_sha256: str = "UNSIGNED-PAYLOAD",
                location: str = "auto") -> dict:
    """Headers for a GOOG4-HMAC-SHA256 request: returns the headers to send (with x-goog-date,
    x-goog-content-sha256 and Authorization added) and the canonical request / string to sign."""
    out = dict(headers)
    out["x-goog-date"] = timestamp
    out["x-goog-content-sha256"] = payload_sha256
    block, signed = canonical_headers([("host", host)] + list(out.items()))
    scope = f"{timestamp[:8]}/{location}/storage/goog4_request"
    creq = canonical_request(method, canonical_resource(path), canonical_query(query_pairs), block, signed,
                             payload_sha256)
    sts = string_to_sign(HMAC, timestamp, scope, creq)
    sig = hmac_sign(secret, timestamp[:8], location, sts)
    out["Authorization"] = f"{HMAC} Credential={access_id}/{scope}, SignedHeaders={signed}, Signature={sig}"
    return {"headers": out, "canonicalRequest": creq, "stringToSign": sts, "signature": sig}
