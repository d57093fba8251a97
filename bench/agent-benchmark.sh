#!/usr/bin/env bash
# Benchmark of `outpost agent` against a release `outpost server` (SQLite) on loopback, both built as the container
# image ships them (release, Swift runtime linked statically):
#   1. idle cost: the agent's RSS and CPU% over a window in which it only long-polls for work and heartbeats,
#      with the server process's own RSS and CPU% over the same window, and the peak RSS of `outpost --version`
#      (the same binary loaded and nothing done) as the same-run references. RSS is split into anonymous memory
#      (the process's own) and file pages (the executable and libraries, shared with every process that maps them);
#      USS is what the process alone holds, PSS its share of the shared pages;
#   2. claim-to-start latency: runs of the sample SQLite database queued one at a time with the admin API while
#      the agent waits in its long poll; latency is the run's `createdAt` → `startedAt` as the admin API reports
#      them (both stamped by the server's clock), with the admin API's own `GET /v1/admin/runs/{id}` round trip
#      measured in the same run as the reference for what one HTTP call costs on this machine.
# Numbers are printed, never asserted. Both programs are the release build in .build-release.
#
# Usage: bench/agent-benchmark.sh [--idle SECONDS] [--runs N]
# Needs curl and python3. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
idle=30
runs=20
while [ $# -gt 0 ]; do
    case "$1" in
        --idle) idle=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done

# The Swift runtime linked statically, as deploy/container/Containerfile builds it (a dynamically linked
# build maps the whole of Foundation and ICU).
source bench/lib.sh
bench_build --static-swift-stdlib

work=$(mktemp -d /tmp/outpost-agent-bench.XXXXXX)
server_pid=""
agent_pid=""
cleanup() {
    bench_stop "$agent_pid" "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT

port=$(bench_free_port)
server=http://127.0.0.1:$port
"$outpost" server --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warning \
    >"$work/server.log" 2>&1 &
server_pid=$!
bench_wait_healthy "$server" "$work/server.log"

# Keys stay in files of this script's scratch directory.
export OUTPOST_SERVER=$server
(umask 077 && "$outpost" admin keys create --role agent --name bench --key-file "$work/data/admin.key" \
    >"$work/agent.key" 2>/dev/null)
cat >"$work/agent.yaml" <<YAML
controlPlane:
  url: $server
  apiKey: file:$work/agent.key
agent:
  name: bench-agent
  dataDir: $work/agent
  concurrency: 1
policy:
  allowedSources: ["sqlite:$PWD/Samples/*"]
jobs:
  executable: $outpost
observability:
  logLevel: info
YAML
"$outpost" agent --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
sleep 3
kill -0 "$agent_pid" 2>/dev/null || { echo "bench: the agent did not start:" >&2; cat "$work/agent.log" >&2; exit 1; }

version_kib=$( { /usr/bin/time -f "%M" "$outpost" --version >/dev/null; } 2>&1 | tail -n 1)
echo "bench: idle window $idle s, $runs runs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
OUTPOST_BENCH_SERVER=$server OUTPOST_BENCH_ADMIN_KEY_FILE=$work/data/admin.key OUTPOST_BENCH_AGENT=$agent_pid \
    OUTPOST_BENCH_SERVER_PID=$server_pid OUTPOST_BENCH_IDLE=$idle OUTPOST_BENCH_RUNS=$runs \
    OUTPOST_BENCH_VERSION_KIB=$version_kib OUTPOST_BENCH_WORK=$work \
    OUTPOST_BENCH_SOURCE="sqlite:$PWD/Samples/shop.db" PYTHONPATH=bench python3 - <<'PY'
import os, sys, time
from benchlib import API, instant

server = os.environ["OUTPOST_BENCH_SERVER"]
with open(os.environ["OUTPOST_BENCH_ADMIN_KEY_FILE"]) as f:
    admin_key = f.read().strip()
agent, server_pid = os.environ["OUTPOST_BENCH_AGENT"], os.environ["OUTPOST_BENCH_SERVER_PID"]
idle, runs = float(os.environ["OUTPOST_BENCH_IDLE"]), int(os.environ["OUTPOST_BENCH_RUNS"])
ticks = os.sysconf("SC_CLK_TCK")

def cpu_seconds(pid):
    # utime + stime of the process and its waited-for children (fields 14-17 of /proc/PID/stat).
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / ticks

def memory_mib(pid):
    # VmRSS, its anonymous and file parts (/proc/PID/status), USS and PSS (/proc/PID/smaps_rollup).
    values = {}
    for name in (f"/proc/{pid}/status", f"/proc/{pid}/smaps_rollup"):
        for line in open(name):
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0]) / 1024
    return (values["VmRSS"], values["RssAnon"], values["RssFile"],
            values["Private_Clean"] + values["Private_Dirty"], values["Pss"])

def log_tail(name, lines=15):
    try:
        return "".join(open(f"{os.environ['OUTPOST_BENCH_WORK']}/{name}").readlines()[-lines:])
    except OSError as error:
        return str(error)

call = API(server, admin_key, timeout=30).call

def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

# 1. Idle: the agent holds a long-poll claim open and heartbeats; nothing is queued.
start = {pid: cpu_seconds(pid) for pid in (agent, server_pid)}
began = time.monotonic()
time.sleep(idle)
elapsed = time.monotonic() - began
cpu = {pid: 100 * (cpu_seconds(pid) - start[pid]) / elapsed for pid in (agent, server_pid)}
load = " ".join(open("/proc/loadavg").read().split()[:3])
print(f"idle window {elapsed:.0f} s, load average at its end {load}; MiB")
print(f"{'process':<30} {'RSS':>6} {'anon':>6} {'file':>6} {'USS':>6} {'PSS':>6} {'CPU %':>6}  RSS vs --version")
version = int(os.environ["OUTPOST_BENCH_VERSION_KIB"]) / 1024
for label, pid in (("agent (idle)", agent), ("server (reference)", server_pid)):
    rss, anon, file, uss, pss = memory_mib(pid)
    print(f"{label:<30} {rss:>6.1f} {anon:>6.1f} {file:>6.1f} {uss:>6.1f} {pss:>6.1f} {cpu[pid]:>6.2f}  "
          f"{rss / version:.2f}x")
print(f"{'outpost --version (reference)':<30} {version:>6.1f} {'':>6} {'':>6} {'':>6} {'':>6} {'':>6}  1.00x (peak RSS)")

# 2. Claim-to-start: one run at a time, each queued while the agent waits in its long poll.
connection = call("POST", "/v1/admin/connections",
                  {"name": "bench-shop", "sourceKind": "sqlite", "sourceURL": os.environ["OUTPOST_BENCH_SOURCE"]})
latencies, round_trips, failed = [], [], 0
for _ in range(runs):
    time.sleep(0.5)  # the agent is back in its long poll
    run = call("POST", f"/v1/admin/connections/{connection['id']}/runs")
    deadline = time.monotonic() + 120
    while True:
        sent = time.monotonic()
        state = call("GET", f"/v1/admin/runs/{run['id']}")
        round_trips.append(1000 * (time.monotonic() - sent))
        if state["status"] in ("succeeded", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            sys.exit(f"bench: run {run['id']} did not finish within 120 s (status {state['status']}); agent log:\n"
                     f"{log_tail('agent.log')}server log:\n{log_tail('server.log')}")
        time.sleep(0.05)
    if state["status"] != "succeeded":
        failed += 1
    if state.get("startedAt"):
        latencies.append(1000 * (instant(state["startedAt"]) - instant(state["createdAt"])))
print()
print(f"{'measure':<36} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99 vs ref':>10}")
ref_p99 = percentile(round_trips, 99)
print(f"{'GET /v1/admin/runs/{id} (reference)':<36} {len(round_trips):>4} {percentile(round_trips, 50):>8.1f} "
      f"{ref_p99:>8.1f} {max(round_trips):>8.1f} {'1.00x':>10}")
if latencies:
    p99 = percentile(latencies, 99)
    print(f"{'run createdAt -> startedAt':<36} {len(latencies):>4} {percentile(latencies, 50):>8.1f} "
          f"{p99:>8.1f} {max(latencies):>8.1f} {p99 / ref_p99:>9.1f}x")
print(f"runs not succeeded: {failed} of {runs}")
PY
