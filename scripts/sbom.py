#!/usr/bin/env python3
"""Writes a CycloneDX 1.5 JSON SBOM of the outpost binary's Swift package dependencies.

Usage: scripts/sbom.py --output PATH [--package-dir DIR] [--dependencies-json FILE] [--no-validate]

The dependency graph comes from `swift package show-dependencies --format json` (run in --package-dir, the
repository by default; it works offline once the checkouts exist) or from a file holding that output. Every
package becomes a component with its version, a purl (`pkg:swift/github.com/OWNER/NAME@VERSION`), the pinned
git revision from Package.resolved, its repository URL and, where its license file is one of the common ones, an
SPDX license id. The graph itself goes into `dependencies`.

The output is deterministic for a given tree: the timestamp is SOURCE_DATE_EPOCH (else the commit time of HEAD)
and the serial number is derived from the content. Unless --no-validate, the document is validated against the
CycloneDX 1.5 JSON schema bundled with cyclonedx-python-lib (strict), or, if that library is missing, with
structural checks. Exit status: 0 written and valid, 1 otherwise (with the reason on stderr).

The system libraries the binary links (SQLite, zlib, the C and C++ runtimes) are not Swift packages and are not
listed: the container image's SBOM (from the image scanner) covers them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

SPEC_VERSION = "1.5"
ROOT = Path(__file__).resolve().parent.parent


class SBOMError(Exception):
    """A reason the SBOM cannot be produced, printed as is."""


def load_graph(package_dir: Path, dependencies_json: Path | None) -> dict:
    if dependencies_json is not None:
        try:
            return json.loads(dependencies_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise SBOMError(f"cannot read {dependencies_json}: {error}") from error
    try:
        result = subprocess.run(
            ["swift", "package", "--package-path", str(package_dir), "show-dependencies", "--format", "json"],
            check=True, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise SBOMError("swift is not on PATH (or pass --dependencies-json)") from error
    except subprocess.CalledProcessError as error:
        raise SBOMError(f"swift package show-dependencies failed: {error.stderr.strip()}") from error
    # SwiftPM may print progress lines ("Fetching …") before the JSON document.
    text = result.stdout
    start = text.find("{")
    if start < 0:
        raise SBOMError("swift package show-dependencies printed no JSON")
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError as error:
        raise SBOMError(f"swift package show-dependencies printed invalid JSON: {error}") from error


def load_revisions(package_dir: Path) -> dict[str, str]:
    """identity → pinned git revision, from Package.resolved (empty when there is none)."""
    path = package_dir / "Package.resolved"
    if not path.exists():
        return {}
    try:
        pins = json.loads(path.read_text(encoding="utf-8")).get("pins", [])
    except json.JSONDecodeError as error:
        raise SBOMError(f"{path} is not valid JSON: {error}") from error
    return {pin["identity"]: pin["state"].get("revision", "") for pin in pins if "identity" in pin}


def purl_and_repository(url: str, version: str) -> tuple[str, str]:
    """`https://github.com/apple/swift-nio.git` → (`pkg:swift/github.com/apple/swift-nio@V`, cleaned URL)."""
    if url.startswith("git@"):
        host, _, path = url[len("git@"):].partition(":")
    else:
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "http", "ssh", "git") or not parsed.hostname:
            raise SBOMError(f"dependency URL {url!r} is not a remote repository; the SBOM lists remote packages only")
        host, path = parsed.hostname, parsed.path
    path = re.sub(r"\.git$", "", path.strip("/"))
    segments = path.split("/")
    if len(segments) < 2 or not all(segments):
        raise SBOMError(f"dependency URL {url!r} has no OWNER/NAME path")
    namespace = "/".join([host.lower()] + segments[:-1])
    return f"pkg:swift/{namespace}/{segments[-1]}@{version}", f"https://{host}/{path}"


def detect_license(checkout: str | None) -> str | None:
    """An SPDX id for the usual license texts in a checkout's root, else None (never guessed beyond these)."""
    if not checkout or not os.path.isdir(checkout):
        return None
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING"):
        path = Path(checkout, name)
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[:4000]
            if "Apache License" in text and "Version 2.0" in text:
                return "Apache-2.0"
            if "MIT License" in text or "Permission is hereby granted, free of charge" in text:
                return "MIT"
            if "BSD 3-Clause" in text or "Neither the name of" in text:
                return "BSD-3-Clause"
            return None
    return None


def application_version(package_dir: Path) -> str:
    source = package_dir / "Sources/outpost/Outpost.swift"
    if source.is_file():
        match = re.search(r'static let current = "([^"]+)"', source.read_text(encoding="utf-8"))
        if match:
            return match.group(1)
    return "unknown"


def timestamp(package_dir: Path) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        try:
            epoch = subprocess.run(
                ["git", "-C", str(package_dir), "log", "-1", "--format=%ct"],
                check=True, capture_output=True, text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            epoch = None
    if epoch:
        if not epoch.isdigit():
            raise SBOMError(f"SOURCE_DATE_EPOCH must be a number of seconds, not {epoch!r}")
        moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
    else:
        moment = datetime.datetime.now(tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(graph: dict, revisions: dict[str, str], package_dir: Path) -> dict:
    version = application_version(package_dir)
    root_ref = f"pkg:swift/outpost@{version}"
    components: dict[str, dict] = {}
    edges: dict[str, set[str]] = {root_ref: set()}

    def visit(node: dict, parent: str) -> None:
        identity = node.get("identity") or node.get("name")
        url, node_version = node.get("url", ""), node.get("version", "")
        if not identity or not url:
            raise SBOMError(f"a dependency lacks identity or url: {json.dumps(node)[:200]}")
        revision = revisions.get(identity, "")
        if not node_version or node_version == "unspecified":
            # A branch or revision pin: the revision is the version.
            if not revision:
                raise SBOMError(f"{identity} has neither a version nor a pinned revision in Package.resolved")
            node_version = revision
        purl, repository = purl_and_repository(url, node_version)
        edges[parent].add(purl)
        if purl not in components:
            component = {
                "type": "library",
                "bom-ref": purl,
                "name": node.get("name") or identity,
                "version": node_version,
                "purl": purl,
                "externalReferences": [{"type": "vcs", "url": repository}],
            }
            license_id = detect_license(node.get("path"))
            if license_id:
                component["licenses"] = [{"license": {"id": license_id}}]
            if revision:
                component["properties"] = [{"name": "swiftpm:revision", "value": revision}]
            components[purl] = component
            edges[purl] = set()
        for child in node.get("dependencies", []):
            visit(child, purl)

    for dependency in graph.get("dependencies", []):
        visit(dependency, root_ref)
    if not components:
        raise SBOMError("the package has no dependencies: wrong --package-dir?")

    ordered = [components[key] for key in sorted(components)]
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": timestamp(package_dir),
            "tools": {"components": [{"type": "application", "name": "outpost-sbom", "version": "1"}]},
            "component": {
                "type": "application",
                "bom-ref": root_ref,
                "name": "outpost",
                "version": version,
                "purl": root_ref,
            },
        },
        "components": ordered,
        "dependencies": [
            {"ref": ref, "dependsOn": sorted(children)} for ref, children in sorted(edges.items())
        ],
    }
    content = json.dumps(document, sort_keys=True)
    document = {"serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, content)}", **document}
    return document


def validate(document: dict) -> str:
    """Returns how it was validated; raises SBOMError when invalid."""
    text = json.dumps(document)
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    except ImportError:
        structural_checks(document)
        return "structural checks (cyclonedx-python-lib is not installed)"
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    if error is not None:
        raise SBOMError(f"the SBOM does not validate against the CycloneDX 1.5 schema: {error}")
    structural_checks(document)
    return "the CycloneDX 1.5 JSON schema (strict) and structural checks"


def structural_checks(document: dict) -> None:
    if document.get("bomFormat") != "CycloneDX" or document.get("specVersion") != SPEC_VERSION:
        raise SBOMError("bomFormat/specVersion are wrong")
    refs = {document["metadata"]["component"]["bom-ref"]}
    for component in document.get("components", []):
        for key in ("name", "version", "purl", "bom-ref"):
            if not component.get(key):
                raise SBOMError(f"component {component.get('name')} lacks {key}")
        if not re.fullmatch(r"pkg:swift/[^/@]+(/[^/@]+)+@[^@]+", component["purl"]):
            raise SBOMError(f"malformed purl {component['purl']}")
        if component["bom-ref"] in refs:
            raise SBOMError(f"duplicate bom-ref {component['bom-ref']}")
        refs.add(component["bom-ref"])
    for entry in document.get("dependencies", []):
        for ref in [entry["ref"], *entry.get("dependsOn", [])]:
            if ref not in refs:
                raise SBOMError(f"dependencies name an unknown bom-ref {ref}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path, help="where to write the SBOM (JSON)")
    parser.add_argument("--package-dir", type=Path, default=ROOT, help="the Swift package (default: this repository)")
    parser.add_argument("--dependencies-json", type=Path, help="saved `swift package show-dependencies --format json`")
    parser.add_argument("--no-validate", action="store_true", help="skip the schema validation")
    arguments = parser.parse_args(argv)
    try:
        package_dir = arguments.package_dir.resolve()
        document = build(
            load_graph(package_dir, arguments.dependencies_json), load_revisions(package_dir), package_dir)
        how = "not validated" if arguments.no_validate else validate(document)
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    except SBOMError as error:
        print(f"sbom: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"sbom: cannot write {arguments.output}: {error}", file=sys.stderr)
        return 1
    print(f"sbom: {len(document['components'])} components written to {arguments.output}; validated with {how}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
