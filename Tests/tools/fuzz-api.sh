#!/usr/bin/env bash
# Fuzzes the control plane's HTTP API against the OpenAPI document it serves (GET /openapi.yaml) with schemathesis:
# starts `outpost server` on a free loopback port with a fresh data dir (SQLite), a failed-authentication limit
# high enough for a fuzzer and claims held open for 1 s at most (so a long poll is no timeout), mints an agent key with the bootstrap admin key, then runs schemathesis twice — the
# admin API with the admin key, the agent API with the agent key — and fails on any 5xx or any response that does
# not conform to the document (status code, content type, headers, body schema).
#
# Usage: Tests/tools/fuzz-api.sh [OUTPOST_BINARY]   (default: .build/debug/outpost)
# Environment: FUZZ_MAX_EXAMPLES (default 20 per operation), FUZZ_SEED (default 1, so runs are reproducible).
set -euo pipefail
cd "$(dirname "$0")/../.."

outpost=$(realpath "${1:-.build/debug/outpost}")
examples=${FUZZ_MAX_EXAMPLES:-20}
seed=${FUZZ_SEED:-1}
if [ ! -x "$outpost" ]; then
    echo "fuzz-api.sh: $outpost is not an executable; build first (swift build)" >&2
    exit 1
fi
if ! command -v schemathesis >/dev/null 2>&1; then
    echo "fuzz-api.sh: schemathesis is not installed: python3 -m pip install -r Tests/tools/requirements.txt" >&2
    exit 1
fi

work=$(mktemp -d /tmp/outpost-fuzz.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$outpost" server --listen "127.0.0.1:$port" --data-dir "$work/data" --failed-auth-limit 1000000 \
    --claim-max-wait-seconds 1 --log-level error >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "fuzz-api.sh: outpost server exited:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
admin_key=$(cat "$work/data/admin.key")
agent_key=$(curl -fsS -X POST "$base/v1/admin/keys" -H "Authorization: Bearer $admin_key" \
    -H 'Content-Type: application/json' -d '{"name":"fuzz agent","role":"agent"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')

# Checks: every response must be documented and match its schema; no 5xx. (The checks that need data the fuzzer
# cannot make up — valid leases, existing ids — would only report the fuzzer's own invalid requests.)
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks=$checks,response_schema_conformance
run_schemathesis() {
    local key=$1
    shift
    # From the scratch directory: schemathesis keeps a cache folder in its working directory.
    (cd "$work" && schemathesis run "$base/openapi.yaml" --url "$base" -H "Authorization: Bearer $key" \
        --checks "$checks" --max-examples "$examples" --seed "$seed" --phases examples,coverage,fuzzing \
        --workers 1 --request-timeout 10 --no-shrink --suppress-health-check all --warnings off "$@")
}
status=0
echo "== admin API (admin key)"
run_schemathesis "$admin_key" --include-path-regex '^/v1/admin/' || status=1
echo "== agent API (agent key)"
run_schemathesis "$agent_key" --include-path-regex '^/v1/(agent|runs)/' || status=1
echo "== unauthenticated endpoints"
run_schemathesis "none" --exclude-path-regex '^/v1/(admin|agent|runs)/' || status=1
if grep -qiE 'fatal|panic|crash' "$work/server.log"; then
    echo "fuzz-api.sh: the server log shows a crash:" >&2
    cat "$work/server.log" >&2
    status=1
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz-api.sh: outpost server died during fuzzing" >&2
    status=1
fi
exit $status
