"""Validate response bodies collected by selftest.py against Snowflake's published SQL API description
(`specifications/sqlapi.yaml` of snowflakedb/snowflake-rest-api-specs). The spec is not part of this repository:
pass the path of a copy obtained separately.

    python3 validate_spec.py --spec PATH/sqlapi.yaml --responses responses.json

Uses PyYAML and openapi-schema-validator (OpenAPI 3.0 schema semantics), from Tests/tools/requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml
from openapi_schema_validator import OAS30Validator


def resolve(node, root):
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target, root)
        return {k: resolve(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, root) for v in node]
    return node


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--responses", required=True)
    a = p.parse_args()
    with open(a.spec, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    with open(a.responses, encoding="utf-8") as f:
        responses = json.load(f)
    operations = {}
    for path_item in spec["paths"].values():
        for method in ("get", "post"):
            op = path_item.get(method)
            if op:
                operations[op["operationId"]] = op
    failures = checked = skipped = 0
    for r in responses:
        op = operations[r["operation"]]
        declared = op["responses"].get(str(r["status"]))
        if declared is None:
            print(f"FAIL {r['operation']} {r['status']}: status not declared by the spec")
            failures += 1
            continue
        declared = resolve(declared, spec)
        schema = (declared.get("content") or {}).get("application/json", {}).get("schema")
        if schema is None:
            skipped += 1  # the spec declares the status without a body schema (e.g. 401, 429, 503)
            continue
        errors = list(OAS30Validator(schema).iter_errors(r["body"]))
        checked += 1
        for e in errors[:3]:
            print(f"FAIL {r['operation']} {r['status']}: {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
        failures += bool(errors)
    print(f"validate_spec: {checked} bodies validated against their declared schema, {skipped} statuses without a "
          f"body schema, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
