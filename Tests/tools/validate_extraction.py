#!/usr/bin/env python3
"""Validates an Outpost extraction folder against the metadata format v1 JSON Schemas.

Usage: validate_extraction.py [--max-errors N] [--schema-only] [--no-fast-path] SCHEMA_DIR EXTRACTION_DIR

SCHEMA_DIR holds manifest.schema.json and metadata-record.schema.json (the repository's schemas/ folder);
EXTRACTION_DIR holds manifest.json and the records-NNNNN.jsonl.gz chunks it lists.

Checks, in order:
  * manifest.json parses (no duplicate keys, no NaN) and validates against manifest.schema.json, and its
    totals agree with each other (recordCount = sum of files' records = sum of counts; status = complete
    exactly when every completeness entry is complete; file paths unique);
  * every listed chunk exists and its size and SHA-256 match the manifest; it is one or more complete gzip
    members; its uncompressed size and number of lines match the manifest;
  * every line is UTF-8 JSON terminated by a newline (no blank lines), `kind` is its first key, and it
    validates against metadata-record.schema.json;
  * the records per kind match the manifest's counts;
  * unless --schema-only: names are consistent (every qualified name starts with the manifest's connection,
    parent fields are prefixes of the qualified name, `name` is the unescaped last part — for BI records
    possibly with a ` [id]` suffix —, a lineage edge's last part is its escaped upstream) and no qualified name
    occurs twice; a BI connection's completeness entries name its site and project records.

Versions: the schemas say which format version they describe (`x-formatVersion`). In a file of a later 1.x minor
version, records of kinds the schemas do not know are counted and skipped, as every 1.x reader must skip them; in
a file of the same or an earlier version an unknown kind is an error.

Prints a summary; exits 0 when everything holds, 1 with the first --max-errors (default 20) errors
otherwise, 2 when the arguments or schemas are unusable. Needs only the standard library and `jsonschema`
(pip install jsonschema). Schema patterns are ECMA-262 as JSON Schema specifies: unlike Python's re, `$`
never matches before a trailing newline, so this script evaluates `pattern` with that meaning.

Speed: records are checked by a predicate compiled from the record schema (about 50,000 records/s, against
about 7,000/s for jsonschema alone); jsonschema explains the records it rejects. --no-fast-path checks every
record with jsonschema.
"""

import argparse
import collections
import datetime
import functools
import hashlib
import json
import os
import re
import sys
import time
import zlib

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError, best_match
except ImportError:  # pragma: no cover
    sys.stderr.write("validate_extraction.py needs the jsonschema package: pip install jsonschema\n")
    sys.exit(2)

MANIFEST = "manifest.json"
RECORD_SCHEMA = "metadata-record.schema.json"
MANIFEST_SCHEMA = "manifest.schema.json"
READ_SIZE = 1 << 20
MAX_LINE = 64 * 1024 * 1024  # the Swift reader's limit


# --- JSON Schema with ECMA-262 `$` ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def ecma_regex(pattern):
    """Compiles an ECMA-262 pattern for Python: a `$` outside a character class becomes `\\Z`."""
    out = []
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))


def ecma_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        described = schema.get("description")
        text = f"{instance!r} does not match {pattern!r}"
        if described:
            text = f"{instance!r} is not valid here ({described})"
        yield ValidationError(text)


Validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": ecma_pattern})

format_checker = FormatChecker()


@format_checker.checks("date-time", raises=ValueError)
def is_date_time(instance):
    """RFC 3339 date-time with the standard library only (jsonschema's own check needs an extra package)."""
    if not isinstance(instance, str):
        return True
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", instance)
    if not m:
        raise ValueError("not an RFC 3339 date-time")
    datetime.date.fromisoformat(m.group(1))
    hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time out of range")
    return True


# --- A compiled fast path -------------------------------------------------------------------------------------
#
# jsonschema spends most of its time on bookkeeping (evolving validators, resolving references), which makes
# it do a few thousand records a second. Records are therefore first checked by a predicate compiled from the
# record schema that answers only "valid or not", and jsonschema runs only on records that fail, to explain
# why. The compiler knows the keywords the schema uses, with their exact JSON Schema meaning; given a schema
# with any other keyword it returns None and jsonschema checks every record.

# `format` is an annotation too: records are validated without a format checker, as jsonschema does by default.
ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default", "deprecated",
               "readOnly", "writeOnly", "format", "x-formatVersion"}
COMPILED = ANNOTATIONS | {"type", "enum", "const", "required", "properties", "additionalProperties", "propertyNames",
                          "items", "pattern", "minimum", "maximum", "minLength", "maxLength", "$ref", "allOf", "if",
                          "then", "else"}


class Unsupported(Exception):
    pass


def _is_type(instance, name):
    if name == "string":
        return isinstance(instance, str)
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, (int, float))
    raise Unsupported(name)


def _all(checks):
    """One predicate that holds when every check holds, with as little call overhead as possible."""
    checks = tuple(checks)
    if not checks:
        return lambda instance: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda instance: first(instance) and second(instance)

    def every(instance):
        for check in checks:
            if not check(instance):
                return False
        return True

    return every


def compile_schema(root):
    """Returns a predicate equivalent to validating against `root`, or None if `root` uses other keywords."""
    defs = {}

    def ref(target):
        if not target.startswith("#/$defs/") or "/" in target[8:] or "~" in target[8:] or "%" in target[8:]:
            raise Unsupported(target)
        name = target[8:]
        if name not in defs:
            defs[name] = None  # placeholder while building, for recursive references
            defs[name] = build(root["$defs"][name], nested=True)
        if defs[name] is None:
            return lambda instance: defs[name](instance)
        return defs[name]

    def build(schema, nested):
        if schema is True:
            return lambda instance: True
        if schema is False:
            return lambda instance: False
        if not isinstance(schema, dict) or set(schema) - COMPILED or (nested and "$id" in schema):
            raise Unsupported(schema)
        checks = []
        keywords = set(schema)
        if schema.get("type") == "string":
            # Strings: one closure for type, enum/const, pattern and lengths.
            keywords -= {"type", "enum", "const", "pattern", "minLength", "maxLength"}
            allowed = None
            for keyword in ("enum", "const"):
                if keyword in schema:
                    values = schema[keyword] if keyword == "enum" else [schema[keyword]]
                    if not all(isinstance(v, str) for v in values):
                        raise Unsupported(keyword)
                    allowed = frozenset(values) if allowed is None else allowed & frozenset(values)
            search = ecma_regex(schema["pattern"]).search if "pattern" in schema else None
            low = schema.get("minLength", 0)
            high = schema.get("maxLength")

            def string_check(i, allowed=allowed, search=search, low=low, high=high):
                if not isinstance(i, str):
                    return False
                if allowed is not None and i not in allowed:
                    return False
                if low and len(i) < low:
                    return False
                if high is not None and len(i) > high:
                    return False
                return search is None or search(i) is not None

            checks.append(string_check)
        elif schema.get("type") == "integer":
            keywords -= {"type", "minimum", "maximum"}
            low, high = schema.get("minimum"), schema.get("maximum")

            def integer_check(i, low=low, high=high):
                if isinstance(i, bool) or not (isinstance(i, int) or (isinstance(i, float) and i.is_integer())):
                    return False
                return (low is None or i >= low) and (high is None or i <= high)

            checks.append(integer_check)
        elif schema.get("type") == "boolean":
            keywords.discard("type")
            checks.append(lambda i: i is True or i is False)
        if "type" in keywords:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            for t in types:
                _is_type(None, t)  # rejects unknown type names now
            if len(types) == 1 and types[0] == "object":
                checks.append(lambda i: isinstance(i, dict))
            else:
                checks.append(lambda i, types=types: any(_is_type(i, t) for t in types))
        for keyword in ("enum", "const"):
            if keyword in keywords:
                values = schema[keyword] if keyword == "enum" else [schema[keyword]]
                if not all(isinstance(v, str) for v in values):
                    raise Unsupported(keyword)
                allowed = frozenset(values)
                checks.append(lambda i, allowed=allowed: isinstance(i, str) and i in allowed)
        if "pattern" in keywords:
            regex = ecma_regex(schema["pattern"])
            checks.append(lambda i, search=regex.search: not isinstance(i, str) or search(i) is not None)
        if "minLength" in keywords:
            checks.append(lambda i, n=schema["minLength"]: not isinstance(i, str) or len(i) >= n)
        if "maxLength" in keywords:
            checks.append(lambda i, n=schema["maxLength"]: not isinstance(i, str) or len(i) <= n)
        if "minimum" in keywords:
            checks.append(lambda i, n=schema["minimum"]: not _is_type(i, "number") or i >= n)
        if "maximum" in keywords:
            checks.append(lambda i, n=schema["maximum"]: not _is_type(i, "number") or i <= n)
        if "required" in keywords:
            checks.append(lambda i, req=tuple(schema["required"]): not isinstance(i, dict) or all(k in i for k in req))
        properties = {k: build(v, True) for k, v in schema.get("properties", {}).items()}
        extra = build(schema["additionalProperties"], True) if "additionalProperties" in schema else None
        if properties or extra is not None:
            def check_properties(i, properties=properties, extra=extra):
                if not isinstance(i, dict):
                    return True
                for key, value in i.items():
                    check = properties.get(key, extra)
                    if check is not None and not check(value):
                        return False
                return True
            checks.append(check_properties)
        if "propertyNames" in keywords:
            names = build(schema["propertyNames"], True)
            checks.append(lambda i, names=names: not isinstance(i, dict) or all(names(k) for k in i))
        if "items" in keywords:
            item = build(schema["items"], True)

            def check_items(i, item=item):
                if not isinstance(i, list):
                    return True
                for value in i:
                    if not item(value):
                        return False
                return True

            checks.append(check_items)
        if "$ref" in keywords:
            checks.append(ref(schema["$ref"]))
        if "allOf" in keywords:
            checks.extend(build(s, True) for s in schema["allOf"])
        if "if" in keywords:
            condition = build(schema["if"], True)
            then = build(schema.get("then", True), True)
            otherwise = build(schema.get("else", True), True)
            checks.append(lambda i, c=condition, t=then, o=otherwise: t(i) if c(i) else o(i))
        # Without `if`, `then` and `else` have no effect.
        return _all(checks)

    try:
        return build(root, nested=False)
    except (Unsupported, KeyError, TypeError):
        return None


# --- Qualified names --------------------------------------------------------------------------------------------

MARKERS = {"~constraint", "~index", "~type", "~function", "~lineage", "~workbook", "~sheet", "~dashboard", "~dataSource",
           "~sql"}
BI_KINDS = {"site", "project", "workbook", "sheet", "dashboard", "dataSource", "field", "customSQL"}
# The parent fields of BI records: each names a prefix of the record's qualified name.
BI_PARENTS = ("site", "project", "parentProject", "workbook", "dataSource")


def minor_version(version):
    """The minor version of a `1.N` version string, or None."""
    if not isinstance(version, str):
        return None
    m = re.fullmatch(r"1\.(0|[1-9][0-9]*)", version)
    return int(m.group(1)) if m else None


def escape_part(part):
    """The escaped form of one qualified-name part (QualifiedName.escape)."""
    out = []
    for ch in part:
        o = ord(ch)
        if ch in "%/~" or o < 0x20 or o == 0x7F:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def unescape_part(piece):
    if "%" not in piece:
        return piece
    data = bytearray()
    i = 0
    raw = piece.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25:
            data.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            data.append(raw[i])
            i += 1
    return data.decode("utf-8")


# --- Reporting --------------------------------------------------------------------------------------------------


class Errors:
    def __init__(self, limit):
        self.limit = limit
        self.items = []
        self.count = 0

    def add(self, where, message):
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(f"{where}: {message}")


def schema_error_text(validator, instance):
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = error.json_path if hasattr(error, "json_path") else "$" + "".join(f"[{p!r}]" for p in error.path)
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{path}: {message}"


def reject_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(text):
    return json.loads(text, object_pairs_hook=reject_duplicates, parse_constant=reject_constant)


# --- Chunks -----------------------------------------------------------------------------------------------------


class HashingReader:
    """A raw file wrapper that hashes and counts every byte read through it."""

    def __init__(self, f):
        self.f = f
        self.hasher = hashlib.sha256()
        self.bytes = 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.hasher.update(data)
        self.bytes += len(data)
        return data

    def drain(self):
        while self.read(READ_SIZE):
            pass


def gunzip_lines(raw):
    """Yields the lines (bytes, newline included) of a stream of gzip members; raises ValueError if corrupt."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    started = False
    at_boundary = True
    while True:
        data = raw.read(READ_SIZE)
        if not data:
            break
        while data:
            started = True
            at_boundary = False
            try:
                out = decompressor.decompress(data)
            except zlib.error as e:
                raise ValueError(f"gzip data is corrupt ({e})") from None
            if out:
                pending += out
                lines = pending.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    yield line + b"\n"
                if len(pending) > MAX_LINE:
                    raise ValueError("a line is longer than 64 MiB")
            if decompressor.eof:
                at_boundary = True
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = b""
    if not started:
        raise ValueError("the file is empty")
    if not at_boundary:
        raise ValueError("truncated: the gzip stream does not end")
    if pending:
        yield pending


class RecordChecker:
    def __init__(self, record_schema, errors, connection, consistency, fast, skip_unknown_kinds=False):
        self.errors = errors
        # A file of a later minor version than the schema may hold kinds the schema does not know: readers of 1.x
        # skip them (docs/metadata-format.md, Versioning), so this validator counts them and checks nothing else.
        self.skip_unknown_kinds = skip_unknown_kinds
        self.known_kinds = set(record_schema.get("$defs", {}).get("recordKind", {}).get("enum", []))
        self.skipped = collections.Counter()
        # BI projects seen: qualified name -> (path, site), for the completeness entries that name them.
        self.projects = {}
        self.site_names = {}
        self.fast = compile_schema(record_schema) if fast else None
        self.consistency = consistency
        self.connection_part = escape_part(connection) if isinstance(connection, str) else None
        self.full = Validator(record_schema)
        # One validator per kind, so a record is checked against its kind's definition only.
        self.by_kind = {}
        for clause in record_schema.get("allOf", []):
            cond = clause["if"]["properties"]["kind"]
            kinds = [cond["const"]] if "const" in cond else cond["enum"]
            target = clause["then"]
            for kind in kinds:
                self.by_kind[kind] = self.full.evolve(schema=target)
        self.counts = collections.Counter()
        self.names = set()
        self.records = 0

    def check(self, where, line):
        self.records += 1
        if line == b"\n" or line == b"":
            self.errors.add(where, "blank line (writers never write one)")
            return
        if not line.endswith(b"\n"):
            self.errors.add(where, "the last line does not end with a newline")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            self.errors.add(where, f"not UTF-8: {e}")
            return
        try:
            record = parse_json(text)
        except ValueError as e:
            self.errors.add(where, f"not valid JSON: {e}")
            return
        if not isinstance(record, dict):
            self.errors.add(where, "not a JSON object")
            return
        kind = record.get("kind")
        if self.skip_unknown_kinds and isinstance(kind, str) and kind not in self.known_kinds:
            self.skipped[kind] += 1
            self.counts[kind] += 1
            return
        if self.fast is not None and self.fast(record):
            self.counts[kind] += 1
        else:
            validator = self.by_kind.get(kind) if isinstance(kind, str) else None
            if validator is None:
                self.errors.add(where, schema_error_text(self.full, record) or f"unknown kind {kind!r}")
                return
            self.counts[kind] += 1
            text = schema_error_text(validator, record)
            if text is None and self.fast is not None:  # cannot happen unless the compiled predicate is wrong
                text = "rejected by the compiled check but not by jsonschema; rerun with --no-fast-path"
            if text is not None:
                self.errors.add(where, f"{kind} record: {text}")
                return
        if next(iter(record)) != "kind":
            self.errors.add(where, "`kind` is not the first key")
        if self.consistency:
            try:
                self.check_names(where, kind, record)
            except ValueError as e:
                self.errors.add(where, f"a qualified name does not decode to UTF-8 ({e})")

    def check_names(self, where, kind, record):
        qn = record["qualifiedName"]
        if qn in self.names:
            self.errors.add(where, f"qualifiedName {qn!r} occurs more than once")
        else:
            self.names.add(qn)
        parts = qn.split("/")

        def prefix(n):
            return "/".join(parts[:n])

        problems = []
        if self.connection_part is not None and parts[0] != self.connection_part:
            problems.append(f"qualifiedName does not start with the manifest's connection {self.connection_part!r}")
        if "database" in record and kind != "database" and record["database"] != prefix(2):
            problems.append(f"database {record['database']!r} is not the prefix {prefix(2)!r} of qualifiedName")
        if "schema" in record and kind != "schema" and record["schema"] != prefix(3):
            problems.append(f"schema {record['schema']!r} is not the prefix {prefix(3)!r} of qualifiedName")
        if "table" in record and record["table"] != prefix(4):
            problems.append(f"table {record['table']!r} is not the prefix {prefix(4)!r} of qualifiedName")
        last = unescape_part(parts[-1])
        if kind in BI_KINDS:
            self.check_bi_names(qn, kind, record, last, problems)
        elif kind == "function":
            if last != record["signature"]:
                problems.append(f"the last part of qualifiedName is {last!r}, not the signature {record['signature']!r}")
        elif kind == "lineageEdge":
            if record["downstream"] != prefix(4):
                problems.append(f"downstream {record['downstream']!r} is not the prefix {prefix(4)!r} of qualifiedName")
            if last != record["upstream"]:
                problems.append(f"the last part of qualifiedName names {last!r}, not the upstream {record['upstream']!r}")
            upstream_name = unescape_part(record["upstream"].split("/")[-1])
            if record["name"] != upstream_name:
                problems.append(f"name {record['name']!r} is not the upstream's name {upstream_name!r}")
        elif last != record["name"]:
            problems.append(f"name {record['name']!r} is not the unescaped last part {last!r} of qualifiedName")
        for problem in problems:
            self.errors.add(where, problem)

    def check_bi_names(self, qn, kind, record, last, problems):
        """BI records: parents are prefixes of the qualified name; the last part is the name, or the name with
        ` [id]` appended when siblings share it."""
        for field in BI_PARENTS:
            parent = record.get(field)
            if isinstance(parent, str) and not qn.startswith(parent + "/"):
                problems.append(f"{field} {parent!r} is not a prefix of qualifiedName")
        if kind == "site" and isinstance(record.get("name"), str):
            self.site_names[qn] = record["name"]
        if kind == "project":
            self.projects[qn] = (record.get("path"), record.get("site"))
        name = record["name"]
        if last != name and not (last.startswith(name + " [") and last.endswith("]")):
            problems.append(f"name {name!r} is neither the unescaped last part {last!r} of qualifiedName "
                            "nor that part without a ' [id]' suffix")


# --- Main -------------------------------------------------------------------------------------------------------


def load_schema(path):
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        sys.stderr.write(f"cannot use schema {path}: {e}\n")
        sys.exit(2)
    return schema


def main(argv):
    parser = argparse.ArgumentParser(
        description="Validate an Outpost extraction folder (manifest.json + chunks) against the v1 schemas.")
    parser.add_argument("schema_dir", metavar="SCHEMA_DIR")
    parser.add_argument("extraction_dir", metavar="EXTRACTION_DIR")
    parser.add_argument("--max-errors", type=int, default=20, help="errors to print (default 20)")
    parser.add_argument("--schema-only", action="store_true",
                        help="skip the name consistency and uniqueness checks")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="check every record with jsonschema itself (slower; same verdicts)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    record_schema = load_schema(os.path.join(args.schema_dir, RECORD_SCHEMA))
    manifest_schema = load_schema(os.path.join(args.schema_dir, MANIFEST_SCHEMA))
    errors = Errors(max(1, args.max_errors))
    folder = args.extraction_dir

    # Manifest.
    manifest_path = os.path.join(folder, MANIFEST)
    try:
        with open(manifest_path, "rb") as f:
            manifest = parse_json(f.read().decode("utf-8"))
    except OSError as e:
        print(f"FAIL {folder}: no readable {MANIFEST} ({e.strerror}); without it the folder is not an extraction")
        return 1
    except ValueError as e:
        print(f"FAIL {manifest_path}: not valid JSON: {e}")
        return 1
    if isinstance(manifest, dict):
        file_minor = minor_version(manifest.get("formatVersion"))
        schema_minor = minor_version(record_schema.get("x-formatVersion"))
        if file_minor is not None and schema_minor is not None and file_minor > schema_minor:
            # A later minor version may count kinds these schemas do not know.
            manifest_schema["$defs"]["recordKind"] = {"type": "string", "minLength": 1}
    manifest_validator = Validator(manifest_schema, format_checker=format_checker)
    text = schema_error_text(manifest_validator, manifest)
    if text:
        errors.add(MANIFEST, text)
    if not isinstance(manifest, dict):
        print(f"FAIL {manifest_path}: not a JSON object")
        return 1
    version = manifest.get("formatVersion")
    if isinstance(version, str) and version.split(".")[0] != "1":
        print(f"FAIL {manifest_path}: format version {version}; this validator knows 1.x")
        return 1
    schema_minor = minor_version(record_schema.get("x-formatVersion"))
    file_minor = minor_version(version)
    later = schema_minor is not None and file_minor is not None and file_minor > schema_minor

    files = [f for f in manifest.get("files") or [] if isinstance(f, dict)]
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    completeness = [c for c in manifest.get("completeness") or [] if isinstance(c, dict)]

    def ints(values):
        return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]

    file_records = sum(ints(f.get("records") for f in files))
    if manifest.get("recordCount") != file_records:
        errors.add(MANIFEST, f"recordCount is {manifest.get('recordCount')!r}; the files hold {file_records}")
    if sum(ints(counts.values())) != file_records:
        errors.add(MANIFEST, f"counts add up to {sum(ints(counts.values()))}; the files hold {file_records}")
    expected_status = "complete" if all(c.get("complete") is True for c in completeness) else "partial"
    if manifest.get("status") != expected_status:
        errors.add(MANIFEST, f"status is {manifest.get('status')!r} but the completeness entries say {expected_status!r}")
    bi_entries = []
    if not args.schema_only and isinstance(manifest.get("connection"), str):
        bi_source = manifest.get("source", {}).get("kind") == "tableau" if isinstance(manifest.get("source"), dict) else False
        for i, entry in enumerate(completeness):
            if not isinstance(entry.get("database"), str):
                continue
            if bi_source:
                bi_entries.append((i, entry))  # checked against the project records once they are read
                continue
            expected = escape_part(manifest["connection"]) + "/" + escape_part(entry["database"])
            if isinstance(entry.get("schema"), str):
                expected += "/" + escape_part(entry["schema"])
            if entry.get("qualifiedName") != expected:
                errors.add(MANIFEST, f"completeness[{i}].qualifiedName is {entry.get('qualifiedName')!r}, "
                           f"expected {expected!r} from connection, database and schema")
    paths = [f.get("path") for f in files]
    for path, n in collections.Counter(paths).items():
        if n > 1:
            errors.add(MANIFEST, f"file {path!r} is listed {n} times")

    # Chunks.
    checker = RecordChecker(
        record_schema, errors, manifest.get("connection"), not args.schema_only, not args.no_fast_path, later)
    total_bytes = 0
    total_uncompressed = 0
    for entry in files:
        path = entry.get("path")
        if not isinstance(path, str) or "/" in path or "\\" in path or path.startswith(".") or not path:
            continue  # already reported by the schema; never open it
        full = os.path.join(folder, path)
        records_before = checker.records
        uncompressed = 0
        line_number = 0
        try:
            with open(full, "rb") as f:
                raw = HashingReader(f)
                try:
                    for line in gunzip_lines(raw):
                        line_number += 1
                        uncompressed += len(line)
                        checker.check(f"{path}:{line_number}", line)
                except ValueError as e:
                    errors.add(path, str(e))
                raw.drain()
        except OSError as e:
            errors.add(path, f"cannot read: {e.strerror}")
            continue
        total_bytes += raw.bytes
        total_uncompressed += uncompressed
        records = checker.records - records_before
        for field, actual in (("bytes", raw.bytes), ("uncompressedBytes", uncompressed), ("records", records)):
            if entry.get(field) != actual:
                errors.add(path, f"{field} is {actual}; the manifest says {entry.get(field)!r}")
        if entry.get("sha256") != raw.hasher.hexdigest():
            errors.add(path, f"SHA-256 is {raw.hasher.hexdigest()}; the manifest says {entry.get('sha256')!r}")

    # A BI connection's completeness entries name the site (without `schema`) or a project (`schema` is its path).
    sites_by_name = {name: qn for qn, name in checker.site_names.items()}
    for i, entry in bi_entries:
        qn = entry.get("qualifiedName")
        if "schema" not in entry:
            if sites_by_name.get(entry["database"]) not in (None, qn):
                errors.add(MANIFEST, f"completeness[{i}] names site {entry['database']!r} but not its qualified name")
            continue
        project = checker.projects.get(qn)
        if project is None:
            errors.add(MANIFEST, f"completeness[{i}].qualifiedName {qn!r} names no project record")
            continue
        path, site = project
        if entry.get("schema") != path:
            errors.add(MANIFEST, f"completeness[{i}].schema is {entry.get('schema')!r}; the project's path is {path!r}")
        if site in checker.site_names and checker.site_names[site] != entry["database"]:
            errors.add(MANIFEST, f"completeness[{i}].database is {entry['database']!r}; the project's site is "
                       f"{checker.site_names[site]!r}")

    for kind in sorted(set(counts) | set(checker.counts)):
        if counts.get(kind, 0) != checker.counts.get(kind, 0):
            errors.add(MANIFEST, f"counts[{kind!r}] is {counts.get(kind, 0)!r}; the files hold {checker.counts.get(kind, 0)}")

    listed = set(p for p in paths if isinstance(p, str))
    try:
        strays = sorted(n for n in os.listdir(folder) if n != MANIFEST and n not in listed)
    except OSError:
        strays = []

    elapsed = time.monotonic() - started
    rate = checker.records / elapsed if elapsed > 0 else 0
    print(f"{folder}: format {manifest.get('formatVersion')}, connection {manifest.get('connection')!r}, "
          f"status {manifest.get('status')}")
    print(f"  {len(files)} files, {total_bytes} bytes ({total_uncompressed} uncompressed), "
          f"{checker.records} records in {elapsed:.2f} s ({rate:,.0f} records/s)")
    if checker.counts:
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(checker.counts.items())))
    if checker.skipped:
        print(f"  note: format {version} is later than the schemas' {record_schema.get('x-formatVersion')}; skipped "
              "records of kinds they do not know: " + ", ".join(f"{k} {v}" for k, v in sorted(checker.skipped.items())))
    incomplete = [c.get("qualifiedName") for c in completeness if c.get("complete") is not True]
    if incomplete:
        print(f"  incomplete: {', '.join(map(str, incomplete))}")
    if strays:
        print(f"  note: files not listed in the manifest: {', '.join(strays[:10])}" + (" ..." if len(strays) > 10 else ""))
    if errors.count:
        print(f"FAIL: {errors.count} error(s)" + (f", first {len(errors.items)}:" if errors.count > len(errors.items) else ":"))
        for item in errors.items:
            print(f"  {item}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
