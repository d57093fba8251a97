#!/usr/bin/env bash
# Load benchmark of `outpost server` (SQLite store) on loopback with wrk: agent heartbeats and empty claims
# (`waitSeconds: 0`, nothing queued, so each answers 204 at once) against the targets (>= 5,000 requests/s,
# p99 < 20 ms), with `GET /healthz` measured in the same run as the reference for what the HTTP stack alone
# costs on this machine. Prints requests/s and latency percentiles; numbers are printed, never asserted.
#
# Usage: bench/server-benchmark.sh [--duration SECONDS] [--connections N] [--threads N]
# Needs wrk (apt-get install -y wrk). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
connections=32
threads=1
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

source bench/lib.sh
bench_build

work=$(mktemp -d /tmp/outpost-server-bench.XXXXXX)
server_pid=""
cleanup() {
    bench_stop "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT

port=$(bench_free_port)
server=http://127.0.0.1:$port
"$outpost" server --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warning \
    >"$work/server.log" 2>&1 &
server_pid=$!
bench_wait_healthy "$server" "$work/server.log"

# The bootstrap admin key mints the agent key; both stay in files/variables of this script only.
export OUTPOST_SERVER=$server
agent_key=$("$outpost" admin keys create --role agent --name bench --key-file "$work/data/admin.key" 2>/dev/null)
export OUTPOST_BENCH_KEY=$agent_key

heartbeat='{"agentId":"bench-1","agentName":"bench","version":"0.1.0","state":"idle","runningLeases":[],"freeSlots":1}'
claim='{"agentId":"bench-1","agentName":"bench","version":"0.1.0","freeSlots":1,"pools":["default"],"waitSeconds":0}'

# POST with a JSON body and the bearer key from the environment; `done` prints one parseable line.
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("OUTPOST_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("OUTPOST_BENCH_KEY")
LUA
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d %d\n", summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        e.connect + e.read + e.write + e.timeout + e.status, summary.requests))
end
LUA
cat "$work/post.lua" "$work/report.lua" >"$work/post-report.lua"

# Runs wrk and prints "name rps p50 p99 max errors requests".
measure() {
    local name=$1 script=$2 path=$3
    local line
    line=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$script" "$server$path" | grep '^RESULT')
    echo "$name ${line#RESULT }"
}

echo "bench: $duration s per endpoint, $connections connections, $threads wrk thread(s), $(nproc) cores" >&2
results=()
# A short warm-up so the first measurement does not pay for cold caches.
OUTPOST_BENCH_BODY=$heartbeat wrk -t1 -c4 -d2s -s "$work/post.lua" "$server/v1/agent/heartbeat" >/dev/null
results+=("$(measure healthz "$work/report.lua" /healthz)")
results+=("$(OUTPOST_BENCH_BODY=$heartbeat measure heartbeat "$work/post-report.lua" /v1/agent/heartbeat)")
results+=("$(OUTPOST_BENCH_BODY=$claim measure claim "$work/post-report.lua" /v1/agent/claim)")

reference=$(printf '%s\n' "${results[@]}" | awk '$1 == "healthz" { print $2 }')
printf '%-10s %10s %9s %9s %9s %7s %10s  %s\n' endpoint "req/s" "p50 ms" "p99 ms" "max ms" errors requests \
    "vs healthz / targets (>= 5000 req/s, p99 < 20 ms)"
for row in "${results[@]}"; do
    read -r name rps p50 p99 max errors requests <<<"$row"
    verdict=$(awk -v r="$rps" -v p="$p99" -v ref="$reference" -v n="$name" 'BEGIN {
        ratio = sprintf("%.2fx", r / ref)
        if (n == "healthz") { print "reference"; exit }
        print ratio ", " (r >= 5000 ? "rate ok" : "RATE BELOW TARGET") ", " (p < 20 ? "p99 ok" : "P99 ABOVE TARGET")
    }')
    printf '%-10s %10s %9s %9s %9s %7s %10s  %s\n' "$name" "$rps" "$p50" "$p99" "$max" "$errors" "$requests" "$verdict"
done
