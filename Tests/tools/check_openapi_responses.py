#!/usr/bin/env python3
"""Checks recorded HTTP exchanges against an OpenAPI 3.1 document.

Usage: check_openapi_responses.py SPEC.yaml [--require-coverage] [--allow-undocumented-fields] < exchanges.jsonl

Each stdin line is one exchange as JSON:
  {"method": "POST", "path": "/v1/runs/run_1/start" (or "template": "/v1/runs/{id}/start"),
   "query": "offset=0" (optional), "status": 200, "headers": {"content-type": "..."},
   "body": "<response body as text>", "requestBody": "<request body as text>" (optional),
   "requestHeaders": {...} (optional)}

For every exchange it checks that the operation and the status are documented; that the response's content type is
one the document names, and its body validates against that media type's schema (JSON bodies with `jsonschema`,
Draft 2020-12, `date-time` formats checked); that a response documented without content has an empty body; and that
the headers a response declares as required are present and valid. For 2xx answers it also validates the request:
the JSON body against the operation's request schema and the query and header parameters against theirs, so a
document stricter than the server is caught too.

Response objects are validated closed: an object schema that lists `properties` and says nothing about
`additionalProperties` is treated as `additionalProperties: false`, so a field the server sends but the document does
not describe is reported (the document itself stays open so clients tolerate new fields). Pass
--allow-undocumented-fields to validate as written.

With --require-coverage, every documented operation must appear with at least one 2xx answer and, when it documents
any 4xx or 5xx answer, with at least one of those too.

Exits 0 when everything matches, 1 listing every mismatch, 2 on unusable input.
"""

import argparse
import copy
import json
import re
import sys
from urllib.parse import parse_qsl

try:
    import yaml
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError as missing:
    sys.exit(
        f"check_openapi_responses: {missing}; install the test tools: "
        "python3 -m pip install -r Tests/tools/requirements.txt"
    )

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
BASE = "urn:outpost:openapi"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def pointer(*parts):
    return "#/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def close_objects(node):
    """Adds `additionalProperties: false` to every object schema that lists properties and leaves it open."""
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and "unevaluatedProperties" not in node
            and "patternProperties" not in node
        ):
            node["additionalProperties"] = False
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


class Document:
    def __init__(self, spec, strict):
        self.spec = spec
        response_spec = copy.deepcopy(spec)
        if strict:
            close_objects(response_spec)
        formats = FormatChecker(formats=())
        formats.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))
        self.formats = formats
        self.request_registry = Registry().with_resource(
            BASE, Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        self.response_registry = Registry().with_resource(
            BASE, Resource.from_contents(response_spec, default_specification=DRAFT202012)
        )
        self.templates = []
        for template in spec.get("paths", {}):
            parts = template.strip("/").split("/")
            pattern = "^/" + "/".join(
                "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part) for part in parts
            ) + "$"
            literal = sum(1 for part in parts if not part.startswith("{"))
            self.templates.append((re.compile(pattern), literal, template))
        # Concrete paths win over templated ones (OpenAPI's matching rule).
        self.templates.sort(key=lambda entry: -entry[1])

    def resolve(self, node, location=None):
        """Follows OpenAPI-level `$ref`s (responses, parameters, headers, request bodies) inside the document;
        returns the object and the JSON pointer it lives at."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            reference = node["$ref"]
            if not reference.startswith("#/"):
                raise ValueError(f"only local references are supported: {reference}")
            node = self.spec
            for part in reference[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            location = reference
            seen += 1
            if seen > 20:
                raise ValueError("reference loop")
        return node, location

    def template_for(self, path):
        for pattern, _, template in self.templates:
            if pattern.match(path):
                return template
        return None

    def validate_text(self, location, schema, text, response):
        """Validates a parameter or header value, given as text, against the schema at `location`."""
        schema, _ = self.resolve(schema)
        target, _ = self.resolve(schema.get("allOf", [{}])[0]) if "type" not in schema else (schema, None)
        return self.validate(location, coerce(text, target), response)

    def validate(self, location, instance, response):
        registry = self.response_registry if response else self.request_registry
        validator = Draft202012Validator(
            {"$ref": BASE + location}, registry=registry, format_checker=self.formats
        )
        return sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))


def coerce(value, schema):
    """Turns a parameter's text into the JSON type its schema names, so the schema can judge it."""
    kind = schema.get("type")
    try:
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    except ValueError:
        pass
    return value


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def describe(errors):
    return "; ".join(
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}" for error in errors[:5]
    )


def check(document, exchange, number):
    problems = []
    method = str(exchange.get("method", "")).lower()
    template = exchange.get("template") or document.template_for(exchange.get("path", ""))
    label = f"#{number} {method.upper()} {exchange.get('path') or template} → {exchange.get('status')}"
    if template is None or template not in document.spec["paths"]:
        return None, [f"{label}: no documented path matches"]
    path_item = document.spec["paths"][template]
    operation = path_item.get(method)
    if operation is None:
        return None, [f"{label}: {method.upper()} {template} is not documented"]
    key = f"{method.upper()} {template}"
    status = str(exchange.get("status"))
    responses = operation.get("responses", {})
    response_key = next((k for k in (status, status[0] + "XX", "default") if k in responses), None)
    if response_key is None:
        return (key, status), [f"{label}: status {status} is not documented for {key}"]
    response, response_location = document.resolve(
        responses[response_key], pointer("paths", template, method, "responses", response_key)
    )

    headers = {name.lower(): value for name, value in (exchange.get("headers") or {}).items()}
    body = exchange.get("body") or ""
    content = response.get("content") or {}
    if not content:
        if body:
            problems.append(f"{label}: documented without a body, but the answer has {len(body)} characters")
    else:
        received = media_type(headers.get("content-type"))
        if received not in content:
            problems.append(
                f"{label}: content type '{received or '(none)'}' is not one of {', '.join(sorted(content))}"
            )
        elif "schema" in content[received]:
            location = response_location + "/" + pointer("content", received, "schema")[2:]
            instance = body
            if received == "application/json" or received.endswith("+json"):
                try:
                    instance = json.loads(body)
                except ValueError:
                    problems.append(f"{label}: the body is not JSON: {body[:200]!r}")
                    instance = None
            if instance is not None:
                errors = document.validate(location, instance, response=True)
                if errors:
                    problems.append(f"{label}: the body does not match the schema: {describe(errors)}")
    for name, header in (response.get("headers") or {}).items():
        header, header_location = document.resolve(header, response_location + "/" + pointer("headers", name)[2:])
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"{label}: the required header {name} is missing")
            continue
        errors = document.validate_text(header_location + "/schema", header.get("schema", {}), value, response=True)
        if errors:
            problems.append(f"{label}: header {name}: {value!r} does not match: {describe(errors)}")

    if status.startswith("2"):
        problems += check_request(document, exchange, template, method, path_item, operation, label)
    return (key, status), problems


def check_request(document, exchange, template, method, path_item, operation, label):
    """A request the server accepted must be one the document allows."""
    problems = []
    parameters = [
        document.resolve(parameter, pointer("paths", template, "parameters", index))
        for index, parameter in enumerate(path_item.get("parameters", []))
    ] + [
        document.resolve(parameter, pointer("paths", template, method, "parameters", index))
        for index, parameter in enumerate(operation.get("parameters", []))
    ]
    query = dict(parse_qsl(exchange.get("query") or "", keep_blank_values=True))
    request_headers = {name.lower(): value for name, value in (exchange.get("requestHeaders") or {}).items()}
    for parameter, location in parameters:
        where = parameter.get("in")
        if where == "query":
            value = query.get(parameter["name"])
        elif where == "header" and "requestHeaders" in exchange:
            value = request_headers.get(parameter["name"].lower())
        else:
            continue
        if value is None:
            if parameter.get("required"):
                problems.append(f"{label}: accepted without the required {where} parameter {parameter['name']}")
            continue
        errors = document.validate_text(location + "/schema", parameter.get("schema", {}), value, response=False)
        if errors:
            problems.append(
                f"{label}: accepted the {where} parameter {parameter['name']}={value!r}, which the document "
                f"forbids: {describe(errors)}"
            )
    if "requestBody" not in exchange:
        return problems  # The request body was not recorded.
    request_body = exchange.get("requestBody") or ""
    body_spec, body_location = (
        document.resolve(operation["requestBody"], pointer("paths", template, method, "requestBody"))
        if "requestBody" in operation
        else (None, None)
    )
    if request_body:
        content = (body_spec or {}).get("content", {})
        sent = media_type(request_headers.get("content-type"))
        if body_spec is None:
            problems.append(f"{label}: accepted a request body, but the operation documents none")
        elif sent not in content:
            problems.append(
                f"{label}: accepted a body of type '{sent or '(none)'}', not one of {', '.join(sorted(content))}"
            )
        elif "application/json" in content and "schema" in content["application/json"]:
            location = body_location + "/" + pointer("content", "application/json", "schema")[2:]
            try:
                instance = json.loads(request_body)
            except ValueError:
                problems.append(f"{label}: accepted a request body that is not JSON")
            else:
                errors = document.validate(location, instance, response=False)
                if errors:
                    problems.append(f"{label}: accepted a request body the document forbids: {describe(errors)}")
    elif body_spec is not None and body_spec.get("required"):
        problems.append(f"{label}: accepted without the required request body")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec")
    parser.add_argument("--require-coverage", action="store_true")
    parser.add_argument("--allow-undocumented-fields", action="store_true")
    arguments = parser.parse_args()

    try:
        with open(arguments.spec, encoding="utf-8") as file:
            spec = yaml.safe_load(file)
        document = Document(spec, strict=not arguments.allow_undocumented_fields)
    except (OSError, yaml.YAMLError, ValueError) as error:
        print(f"check_openapi_responses: cannot read {arguments.spec}: {error}", file=sys.stderr)
        return 2

    problems = []
    seen = {}
    count = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            exchange = json.loads(line)
        except ValueError as error:
            print(f"check_openapi_responses: line {number} is not JSON: {error}", file=sys.stderr)
            return 2
        count += 1
        key, found = check(document, exchange, number)
        problems += found
        if key is not None:
            seen.setdefault(key[0], set()).add(key[1])

    if arguments.require_coverage:
        for template, path_item in spec["paths"].items():
            for method in METHODS:
                operation = path_item.get(method)
                if operation is None:
                    continue
                key = f"{method.upper()} {template}"
                statuses = seen.get(key, set())
                if not any(status.startswith("2") for status in statuses):
                    problems.append(f"coverage: {key} was never answered with a 2xx status")
                documents_errors = any(code[0] in "45" for code in operation.get("responses", {}))
                if documents_errors and not any(status[0] in "45" for status in statuses):
                    problems.append(f"coverage: {key} was never answered with a 4xx or 5xx status")

    if problems:
        print(f"{len(problems)} mismatch(es) between the server and {arguments.spec}:")
        for problem in problems:
            print("  " + problem)
        return 1
    print(f"{count} exchange(s) match {arguments.spec}" + (", every operation covered" if arguments.require_coverage else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
