#!/usr/bin/env bash
# Benchmark of `outpost extract` against the fake Tableau server (Tests/tools/fake_tableau) on generated sites:
# GraphQL requests, wall time and peak RSS for a small and a large site (default 200 and 2,000 workbooks of 10 sheets
# each, one embedded data source of 100 fields per workbook: 200,000 fields at the large size), and the fake's own
# time executing those queries (the floor any client pays), measured in the same run. Peak RSS should be flat across
# sizes (one page of workbooks at a time), and wall time a small multiple of the fake's own time.
#
# Usage: bench/tableau-benchmark.sh [--sizes "200 2000"] [--sheets 10] [--fields 100] [--page-size 10]
# OUTPOST_BENCH_BINARY=PATH measures that outpost binary instead of building the release one.
# Not part of the test suite: numbers are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="200 2000"
sheets=10
fields=100
page_size=10
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --sheets) sheets=$2; shift 2 ;;
        --fields) fields=$2; shift 2 ;;
        --page-size) page_size=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
python=${OUTPOST_TEST_FAKE_TABLEAU_PYTHON:-python3}
server=Tests/tools/fake_tableau/server.py

source bench/lib.sh
if [ -n "${OUTPOST_BENCH_BINARY:-}" ]; then outpost=$OUTPOST_BENCH_BINARY; else bench_build; fi

work=$(mktemp -d /tmp/outpost-tableau-bench.XXXXXX)
fake=""
cleanup() {
    bench_stop "$fake"
    rm -rf "$work"
}
trap cleanup EXIT
printf 'bench-secret' >"$work/pat"

printf '%-10s %10s %10s %10s %12s %10s %14s %8s\n' workbooks records graphql rest wall_s peak_rss_mb fake_graphql_s ratio
for workbooks in $sizes; do
    bench_stop "$fake"
    "$python" "$server" --generate "workbooks=$workbooks,sheets=$sheets,fields=$fields" --port 0 \
        --port-file "$work/port" >"$work/fake.out" 2>"$work/fake.err" &
    fake=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    port=$(cat "$work/port")
    rm -f "$work/port"
    curl -fsS -X POST "http://127.0.0.1:$port/_fake/stats/reset" -d '{}' >/dev/null
    /usr/bin/time -f '%e %M' -o "$work/time" "$outpost" extract \
        --source "tableau://tableau.bench.example/generated?endpoint=http://127.0.0.1:$port&page_size=$page_size" \
        --pat-name bench --pat-secret-file "$work/pat" --output "$work/out" --overwrite --no-progress \
        --log-level warning >"$work/extract.log" 2>&1 || { cat "$work/extract.log" >&2; exit 1; }
    read -r wall rss <"$work/time"
    curl -fsS "http://127.0.0.1:$port/_fake/stats" >"$work/stats.json"
    read -r graphql rest fake_seconds < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["graphqlRequests"], s["restRequests"], s["graphqlSeconds"])' "$work/stats.json")
    records=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(f["records"] for f in m["files"]))' \
        "$work/out/manifest.json")
    ratio=$(python3 -c "print(f'{$wall / max($fake_seconds, 0.001):.2f}')")
    printf '%-10s %10s %10s %10s %12s %10s %14s %8s\n' "$workbooks" "$records" "$graphql" "$rest" "$wall" \
        "$((rss / 1024))" "$fake_seconds" "$ratio"
done
