#!/usr/bin/env bash
# Creates or refreshes the fake Snowflake server's isolated venv (fakesnow needs snowflake-connector-python<5,
# which must not meet the system Python's test tools). Idempotent: when the venv already holds exactly the
# pinned requirements it does nothing but print its python's path (stdout, one line).
#   OUTPOST_FAKE_SNOWFLAKE_VENV  where the venv lives (default <repo>/.build/fake-snowflake-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${OUTPOST_FAKE_SNOWFLAKE_VENV:-$repo/.build/fake-snowflake-venv}"
. "$here/../venv.sh"
outpost_venv fake_snowflake/setup.sh "$venv" "$here/requirements.txt" \
    'import fakesnow, snowflake.connector, jwt, cryptography'
echo "$venv/bin/python"
