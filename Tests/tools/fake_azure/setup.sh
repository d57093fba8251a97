#!/usr/bin/env bash
# Creates or refreshes the fake Azure server's isolated venv (Microsoft's SDKs pinned as reference clients, plus
# cryptography for the server). Idempotent: when the venv already holds exactly the pinned requirements it does
# nothing but print its python's path (stdout, one line).
#   OUTPOST_FAKE_AZURE_VENV  where the venv lives (default <repo>/.build/fake-azure-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${OUTPOST_FAKE_AZURE_VENV:-$repo/.build/fake-azure-venv}"
requirements="$here/requirements.txt"
stamp="$venv/.outpost-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import azure.storage.blob, azure.identity, azure.keyvault.secrets, azure.storage.extensions, cryptography' 2>/dev/null; then
    echo "$venv/bin/python"
    exit 0
fi
echo "fake_azure/setup.sh: installing the fake's venv in $venv…" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
cp "$requirements" "$stamp"
echo "$venv/bin/python"
