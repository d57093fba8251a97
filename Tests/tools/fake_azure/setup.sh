#!/usr/bin/env bash
# Creates or refreshes the fake Azure server's isolated venv (Microsoft's SDKs pinned as reference clients, plus
# cryptography for the server). Idempotent: when the venv already holds exactly the pinned requirements it does
# nothing but print its python's path (stdout, one line).
#   OUTPOST_FAKE_AZURE_VENV  where the venv lives (default <repo>/.build/fake-azure-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${OUTPOST_FAKE_AZURE_VENV:-$repo/.build/fake-azure-venv}"
. "$here/../venv.sh"
outpost_venv fake_azure/setup.sh "$venv" "$here/requirements.txt" \
    'import azure.storage.blob, azure.identity, azure.keyvault.secrets, azure.storage.extensions, cryptography'
echo "$venv/bin/python"
