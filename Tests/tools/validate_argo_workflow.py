#!/usr/bin/env python3
"""Validates Argo Workflow manifests (JSON files) against Argo's published JSON Schema, made strict.

usage: validate_argo_workflow.py SCHEMA.json MANIFEST.json...

The published schema types IntOrString and Quantity as plain strings, and lets objects carry any extra key.
Here IntOrString takes integers or strings, Quantity numbers or strings (as the API server does), and every
object definition with properties refuses unknown keys, so a misspelt field fails instead of being ignored.
Prints one line per problem and exits 1 if there is any.
"""
import json
import sys

import jsonschema


def strict(schema):
    definitions = schema["definitions"]
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string"]}
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["number", "string"]}
    for definition in definitions.values():
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    schema["$ref"] = "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"
    schema.pop("oneOf", None)
    return schema


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as handle:
        schema = strict(json.load(handle))
    validator = jsonschema.Draft202012Validator(schema)
    problems = 0
    for path in sys.argv[2:]:
        with open(path) as handle:
            manifest = json.load(handle)
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path)):
            location = "/".join(str(part) for part in error.absolute_path)
            print(f"{path}: /{location}: {error.message}")
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
