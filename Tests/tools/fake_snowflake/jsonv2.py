"""Snowflake's jsonv2 result format: rowType from the result's column types, every non-NULL cell a JSON string,
and the split into partitions.

Cell encodings (Snowflake SQL API documentation):
  FIXED          decimal text with the scale applied ("12.50"); integers without a point
  REAL           the number as text
  TEXT           the text
  BINARY         hexadecimal (upper case, Snowflake's default BINARY_OUTPUT_FORMAT=HEX)
  BOOLEAN        "true" / "false"
  DATE           days since 1970-01-01
  TIME           seconds since midnight with 9 fractional digits
  TIMESTAMP_NTZ  seconds since the epoch with 9 fractional digits (wall clock read as UTC)
  TIMESTAMP_LTZ  seconds since the epoch with 9 fractional digits
  TIMESTAMP_TZ   the same, a space, then the offset in minutes plus 1440
  VARIANT/OBJECT/ARRAY  JSON text
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import json
import re
from dataclasses import dataclass, field

_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
              "UBIGINT", "UHUGEINT"}


def rowtype_for(name: str, duck_type: str) -> dict:
    """One rowType entry for a result column, from its DuckDB type as fakesnow ran it."""
    t = duck_type.upper()
    # length/precision/scale that do not apply are 0, as in the published SQL API description's example
    info = {"name": name, "database": "", "schema": "", "table": "", "nullable": True, "type": "text",
            "byteLength": None, "length": 0, "precision": 0, "scale": 0, "collation": None}
    if t.startswith("DECIMAL"):
        m = re.search(r"\((\d+),\s*(\d+)\)", t)
        info.update(type="fixed", precision=int(m[1]) if m else 38, scale=int(m[2]) if m else 0)
    elif t in _INT_TYPES:
        info.update(type="fixed", precision=38, scale=0)
    elif t in ("DOUBLE", "FLOAT", "REAL"):
        info.update(type="real")
    elif t == "BOOLEAN":
        info.update(type="boolean")
    elif t == "DATE":
        info.update(type="date")
    elif t in ("TIME", "TIME_NS"):
        info.update(type="time", precision=0, scale=9)
    elif t in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATETIME"):
        info.update(type="timestamp_ntz", precision=0, scale=9)
    elif t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        # DuckDB keeps an instant without its offset: what Snowflake calls TIMESTAMP_LTZ.
        info.update(type="timestamp_ltz", precision=0, scale=9)
    elif t == "BLOB":
        info.update(type="binary", length=8388608, byteLength=8388608)
    elif t == "JSON":
        info.update(type="variant")
    elif t.endswith("]"):
        info.update(type="array")
    elif t.startswith("STRUCT") or t.startswith("MAP"):
        info.update(type="object")
    else:  # VARCHAR, UUID, INTERVAL, NULL, ...
        info.update(type="text", length=16777216, byteLength=16777216)
    return info


def _fixed(scale: int):
    q = decimal.Decimal(1).scaleb(-scale) if scale else None

    def enc(v):
        if isinstance(v, int):
            return str(v) if not scale else format(decimal.Decimal(v).quantize(q), "f")
        if isinstance(v, decimal.Decimal):
            return format(v.quantize(q) if q is not None else v.quantize(decimal.Decimal(1)), "f")
        return str(v)

    return enc


def _real(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def _seconds(total_ns: int) -> str:
    sign = "-" if total_ns < 0 else ""
    s, ns = divmod(abs(total_ns), 1_000_000_000)
    return f"{sign}{s}.{ns:09d}"


def _instant_ns(v: dt.datetime) -> int:
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    delta = v - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _json_text(v):
    """Snowflake prints semi-structured values as JSON indented by two spaces."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    return json.dumps(v, indent=2, default=str, ensure_ascii=False)


def encoder(row_type: dict):
    t = row_type["type"]
    if t == "fixed":
        return _fixed(row_type.get("scale") or 0)
    if t == "real":
        return _real
    if t == "boolean":
        return lambda v: "true" if v else "false"
    if t == "date":
        return lambda v: str((v - _EPOCH_DATE).days)
    if t == "time":
        return lambda v: _seconds(((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000_000 + v.microsecond * 1000)
    if t in ("timestamp_ntz", "timestamp_ltz"):
        return lambda v: _seconds(_instant_ns(v))
    if t == "timestamp_tz":
        def tz(v):
            off = v.utcoffset() if v.tzinfo is not None else dt.timedelta(0)
            return f"{_seconds(_instant_ns(v))} {int(off.total_seconds() // 60) + 1440}"
        return tz
    if t == "binary":
        return lambda v: bytes(v).hex().upper()
    if t in ("variant", "object", "array"):
        return _json_text
    return lambda v: v if isinstance(v, str) else str(v)


def encode_column(values: list, row_type: dict, null_text: str | None = None) -> list:
    enc = encoder(row_type)
    if row_type["type"] == "text":
        return [null_text if v is None else (v if isinstance(v, str) else str(v)) for v in values]
    return [null_text if v is None else enc(v) for v in values]


@dataclass
class Partition:
    row_count: int
    uncompressed: int  # bytes of the JSON array of rows
    data_json: bytes | None = None  # partition 0: the JSON array text, kept plain for the inline answer
    gzipped: bytes | None = None  # partitions >= 1: gzip of {"data": [...]}


@dataclass
class EncodedResult:
    row_type: list[dict]
    num_rows: int
    partitions: list[Partition] = field(default_factory=list)


def encode_result(arrow_table, row_type: list[dict], partition_rows: int, partition_bytes: int,
                  nullable: bool = True, chunk_rows: int = 4096) -> EncodedResult:
    """Encode an Arrow table into partitions, chunk by chunk (never one string for the whole result).
    Partition boundaries fall where the row or byte limit would be passed; a partition holds at least one row."""
    result = EncodedResult(row_type=row_type, num_rows=arrow_table.num_rows)
    null_text = None if nullable else "null"
    cur_rows: list[str] = []
    cur_bytes = 0

    def flush():
        nonlocal cur_rows, cur_bytes
        body = ("[" + ",".join(cur_rows) + "]").encode("utf-8")
        if not result.partitions:
            result.partitions.append(Partition(len(cur_rows), len(body), data_json=body))
        else:
            payload = b'{"data":' + body + b"}"
            result.partitions.append(Partition(len(cur_rows), len(body), gzipped=gzip.compress(payload, 6)))
        cur_rows, cur_bytes = [], 0

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    n = arrow_table.num_rows
    for start in range(0, n, chunk_rows):
        chunk = arrow_table.slice(start, chunk_rows)
        cols = [encode_column(chunk.column(i).to_pylist(), row_type[i], null_text)
                for i in range(chunk.num_columns)]
        for row in zip(*cols):
            text = dumps(list(row))
            size = len(text.encode("utf-8")) + 1
            if cur_rows and ((partition_rows and len(cur_rows) >= partition_rows) or
                             (partition_bytes and cur_bytes + size > partition_bytes)):
                flush()
            cur_rows.append(text)
            cur_bytes += size
    if cur_rows or not result.partitions:
        flush()
    return result
