"""The fake Azure server's signature rules, written from Azure's documentation ("Authorize with Shared Key",
"Create a service SAS", "Create a user delegation SAS") and the measured notes in /work/shared/INTEGRATIONS.md.
Pure functions over plain values so that selftest.py can hold them against the vectors reference_signatures.py
computes with the SDK's own signer (byte-equal), and the Swift tests later against the same vectors.

Also the checksums the Blob fake verifies: Content-MD5 (base64 of the MD5) and x-ms-content-crc64 (base64 of the
8-byte little-endian CRC-64/NVME, the CRC Azure Storage uses: reflected polynomial 0x9A6C9329AC4BC9B5, initial
and final XOR all ones; check value of b"123456789" is 0xAE8B14860A799888)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote

# The eleven standard headers of a Shared Key string-to-sign (after the verb), in order.
STANDARD_HEADERS = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
                    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")


def hmac_b64(key_b64: str, text: str) -> str:
    return base64.b64encode(hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()).decode()


def _header_key(name: str):
    """Azure sorts canonicalized x-ms-* headers with the service's culture-aware collation, not by code point: a
    hyphen is ignored at the first level (so `x-ms-meta-ab` and `x-ms-meta-a-b` compare on `ab`), letters compare
    case-insensitively, and `_` sorts before digits, which sort before letters. Among names equal at that
    level, the one whose hyphen comes earlier sorts later. Names here are lower-case letters, digits, `-` and `_`
    (other characters are not modelled); selftest.py holds this order against the SDK's comparator on random names."""
    primary = []
    for ch in name:
        if ch == "-":
            continue
        if "a" <= ch <= "z":
            primary.append((2, ch))
        elif "0" <= ch <= "9":
            primary.append((1, ch))
        else:
            primary.append((0, ch))
    hyphens = tuple(-i for i, ch in enumerate(name) if ch == "-")
    return (primary, hyphens)


def canonicalized_headers(headers: list[tuple[str, str]]) -> str:
    """`name:value\n` for each x-ms-* header (name lower-cased), in the service's order. Values as sent."""
    xms = {}
    for name, value in headers:
        n = name.lower()
        if n.startswith("x-ms-") and value is not None:
            xms[n] = value if n not in xms else xms[n] + "," + value
    return "".join(f"{n}:{xms[n]}\n" for n in sorted(xms, key=_header_key))


def canonicalized_resource(account: str, raw_path: str, query: list[tuple[str, str]]) -> str:
    """`/<account><path as sent>` and, per query parameter sorted by lower-cased name, `\n name:value` with the
    value URL-decoded (several values of one name sorted and comma-joined). `query` holds raw (encoded) pairs."""
    out = "/" + account + raw_path
    params: dict[str, list[str]] = {}
    for name, value in query:
        params.setdefault(unquote(name).lower(), []).append(unquote(value))
    for name in sorted(params):
        out += "\n" + name + ":" + ",".join(sorted(params[name]))
    return out


def shared_key_string_to_sign(method: str, account: str, raw_path: str, query: list[tuple[str, str]],
                              headers: list[tuple[str, str]]) -> str:
    """The Shared Key string-to-sign (version 2009-09-19 and later) for a request as received."""
    h: dict[str, str] = {}
    for name, value in headers:
        h.setdefault(name.lower(), value)
    std = []
    for name in STANDARD_HEADERS:
        v = h.get(name, "")
        if name == "content-length" and v == "0":
            v = ""
        if name == "date" and "x-ms-date" in h:
            v = ""
        std.append(v + "\n")
    return method.upper() + "\n" + "".join(std) + canonicalized_headers(headers) + \
        canonicalized_resource(account, raw_path, query)


def shared_key_authorization(account: str, key_b64: str, string_to_sign: str) -> str:
    return f"SharedKey {account}:{hmac_b64(key_b64, string_to_sign)}"


# SAS ------------------------------------------------------------------------------------------------------------

# Versions from which a user delegation SAS signs the delegated-user fields (skdutid, sduoid) and the signed
# request headers/query (srh, srq). Measured against azure-storage-blob 12.31.1 at sv=2026-10-06; the fake gates
# them on this version (an assumption for versions between 2020-12-06 and this one; see README.md).
UD_DELEGATED_FIELDS_FROM = "2025-07-05"
MIN_SAS_VERSION = "2020-12-06"


def service_sas_string_to_sign(q: dict[str, str], canonical_resource: str) -> str:
    """Service SAS (account key) string-to-sign, sv >= 2020-12-06: 16 newline-joined fields. `q` holds the SAS
    query fields URL-decoded; `canonical_resource` is `/blob/<account>/<container>[/<blob>]`."""
    g = lambda k: q.get(k, "")  # noqa: E731
    fields = [g("sp"), g("st"), g("se"), canonical_resource, g("si"), g("sip"), g("spr"), g("sv"), g("sr"),
              g("snapshot"), g("ses"), g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct")]
    return "\n".join(fields)


def user_delegation_sas_string_to_sign(q: dict[str, str], canonical_resource: str) -> str:
    """User delegation SAS string-to-sign (sv >= 2020-12-06; the delegated-user fields and srh/srq from
    UD_DELEGATED_FIELDS_FROM on)."""
    g = lambda k: q.get(k, "")  # noqa: E731
    fields = [g("sp"), g("st"), g("se"), canonical_resource, g("skoid"), g("sktid"), g("skt"), g("ske"), g("sks"),
              g("skv"), g("saoid"), g("suoid"), g("scid")]
    newer = g("sv") >= UD_DELEGATED_FIELDS_FROM
    if newer:
        fields += [g("skdutid"), g("sduoid")]
    fields += [g("sip"), g("spr"), g("sv"), g("sr"), g("snapshot"), g("ses")]
    if newer:
        fields += [g("srh"), g("srq")]
    fields += [g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct")]
    return "\n".join(fields)


def user_delegation_key_value(account_key_b64: str, oid: str, tid: str, start: str, expiry: str, version: str,
                              delegated_tid: str = "") -> str:
    """The fake derives a user delegation key from the account key and the key's fields, so it needs no state to
    check a user delegation SAS later (Azure's derivation is not documented; only the key's use is)."""
    text = "\n".join(["outpost-fake-user-delegation-key", oid, tid, start, expiry, "b", version, delegated_tid])
    return hmac_b64(account_key_b64, text)


# Checksums -------------------------------------------------------------------------------------------------------

def _crc64_table():
    poly = 0x9A6C9329AC4BC9B5
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC64 = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    c = crc ^ 0xFFFFFFFFFFFFFFFF
    t = _CRC64
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


def crc64_b64(data: bytes) -> str:
    return base64.b64encode(crc64(data).to_bytes(8, "little")).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
