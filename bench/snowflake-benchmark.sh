#!/usr/bin/env bash
# Benchmark of `outpost extract` against the fake Snowflake SQL API (Tests/tools/fake_snowflake) on generated
# accounts: statements, wall time and peak RSS in both modes, for a small and a large account, and the fake's own
# time to answer the same statements when a plain Python client fetches every partition (the floor any client
# pays), measured in the same run. Peak RSS should be flat across sizes (streamed rows), and wall time within about
# 1.5x of the plain fetch.
#
# Usage: bench/snowflake-benchmark.sh [--sizes "20 200"] [--tables 50] [--columns 20]
# Needs the fake's venv (bash Tests/tools/fake_snowflake/setup.sh, or OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON).
# OUTPOST_BENCH_BINARY=PATH measures that outpost binary instead of building the release one.
# Not part of the test suite: numbers are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="20 200"
tables=50
columns=20
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --tables) tables=$2; shift 2 ;;
        --columns) columns=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
python=${OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON:-$(bash Tests/tools/fake_snowflake/setup.sh)}
server=Tests/tools/fake_snowflake/server.py

source bench/lib.sh
if [ -n "${OUTPOST_BENCH_BINARY:-}" ]; then outpost=$OUTPOST_BENCH_BINARY; else bench_build; fi

work=$(mktemp -d /tmp/outpost-snowflake-bench.XXXXXX)
fake=""
cleanup() {
    bench_stop "$fake"
    rm -rf "$work"
}
trap cleanup EXIT
echo '{"users": {"BENCH": {"oauth_tokens": ["bench-token"], "roles": ["BENCH_ROLE"], "default_role": "BENCH_ROLE",
"default_warehouse": "BENCH_WH"}}}' >"$work/users.json"
export OUTPOST_BENCH_SNOWFLAKE_TOKEN=bench-token

# The statements outpost ran, fetched again by a plain client: POST, every partition with gzip, nothing decoded.
cat >"$work/plain_fetch.py" <<'EOF'
import json, sys, time, urllib.request, uuid
base, stats = sys.argv[1], json.load(open(sys.argv[2]))
headers = {"Authorization": "Bearer bench-token", "X-Snowflake-Authorization-Token-Type": "OAUTH",
           "Content-Type": "application/json", "Accept": "application/json", "User-Agent": "bench"}
started = time.monotonic()
for st in stats["statements"]:
    body = {"statement": st["statement"], "warehouse": st["warehouse"], "role": st["role"],
            "database": st["database"], "timeout": 600}
    req = urllib.request.Request(f"{base}/api/v2/statements?requestId={uuid.uuid4()}",
                                 data=json.dumps(body).encode(), headers=headers, method="POST")
    answer = json.load(urllib.request.urlopen(req))
    for n in range(1, len(answer.get("resultSetMetaData", {}).get("partitionInfo", []))):
        part = urllib.request.Request(f"{base}/api/v2/statements/{answer['statementHandle']}?partition={n}",
                                      headers={**headers, "Accept-Encoding": "gzip"})
        urllib.request.urlopen(part).read()
print(f"{time.monotonic() - started:.2f}")
EOF

printf '%-8s %-20s %10s %10s %12s %10s %12s\n' schemas mode statements wall_s peak_rss_mb records plain_fetch_s
for schemas in $sizes; do
    bench_stop "$fake"
    "$python" "$server" --catalog "$work/users.json" --generate "schemas=$schemas,tables=$tables,columns=$columns" \
        --account MYORG-BENCH --port 0 --port-file "$work/port" >"$work/fake.out" \
        2>"$work/fake.err" &
    fake=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    port=$(cat "$work/port")
    rm -f "$work/port"
    for mode in information_schema account_usage; do
        curl -fsS -X POST "http://127.0.0.1:$port/fake/reset" -d '{}' >/dev/null
        /usr/bin/time -f '%e %M' -o "$work/time" "$outpost" extract \
            --source "snowflake://bench@myorg-bench?warehouse=BENCH_WH&authenticator=oauth&mode=$mode&endpoint=http://127.0.0.1:$port" \
            --token-secret env:OUTPOST_BENCH_SNOWFLAKE_TOKEN --output "$work/out" --overwrite --no-progress \
            --log-level warning >"$work/extract.log" 2>&1
        read -r wall rss <"$work/time"
        curl -fsS "http://127.0.0.1:$port/fake/stats" >"$work/stats.json"
        statements=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["statements"]))' "$work/stats.json")
        records=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["recordCount"])' "$work/out/manifest.json")
        plain=$("$python" "$work/plain_fetch.py" "http://127.0.0.1:$port" "$work/stats.json")
        printf '%-8s %-20s %10s %10s %12s %10s %12s\n' "$schemas" "$mode" "$statements" "$wall" \
            "$((rss / 1024))" "$records" "$plain"
    done
done
