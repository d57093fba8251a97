#!/usr/bin/env bash
# End-to-end benchmark of direct ingestion: a release `outpost agent` extracts a synthetic catalog of
# ../shared/bench/gen_catalog.py (default: "large", 200 schemas, seed 42) from PostgreSQL, uploads it to a release
# `outpost server` through its pre-signed URLs, and the server verifies and publishes it into its catalog.
#
# Reported, per control-plane store (SQLite by default; --stores "sqlite postgres" adds PostgreSQL), per run
# (the first publishes a new catalog; later runs of the same connection republish it unchanged):
#   - the run's phases from the agent's log (millisecond timestamps) and the admin API's run timestamps:
#     queued -> started, extraction (the job process), delivery (from the job's end to `run.delivered`: the
#     run's bookkeeping, then the uploads from `delivery.uploading` on), and ingestion: the agent's
#     `run.completed` line (written when the server accepted `complete`) -> the run's `finishedAt`, which the
#     server stamps when the delivery is published;
#   - the server's peak RSS (VmHWM, whole process lifetime) and its RSS before the first run, and the records in
#     its catalog after the first run;
#   - the agent API's latency while the server ingests (issue #20: SQLite must keep it under 100 ms at p99): a
#     prober sends heartbeats for --probe-agents agents of their own (20 a second, round robin) for the whole
#     benchmark; reported per run for the requests sent during its ingestion window, against the same prober's
#     figures over 5 s of an idle server measured just before the first run;
#   - upload throughput: the agent's uploads (`delivery.uploading` -> `run.delivered`: grant requests, uploads and
#     the spool recording each delivered file; bytes from its audit ledger) against `curl` uploading the
#     files of the reference extraction below to fresh upload grants of the same server, one connection, one
#     file after another like the agent (`Expect:` off: the server does not answer `100 Continue`, and curl would
#     wait a second per file for it); the median of --curl-repeats rounds.
# Reference measured in the same run on the same machine: `outpost extract` of the same catalog into a folder
# (wall time, peak RSS). Targets (issues #3 and #4): ingestion <= 10 s and server peak RSS <= 256 MB for the large
# catalog; the agent's upload throughput >= 80 % of curl's. Numbers are printed with ratios, never asserted.
#
# Usage: bench/ingest-benchmark.sh [--scale small|large] [--stores "sqlite postgres"] [--runs N] [--curl-repeats N]
#        [--probe-agents N]
# Uses OUTPOST_BENCH_POSTGRES_URL if set (the catalog is built once and reused, as bench/extract-benchmark.sh
# does), otherwise starts a throwaway PostgreSQL. OUTPOST_BENCH_KEEP=1 keeps the scratch folder (logs, extraction)
# and names it at the end. Needs curl and python3. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=large
stores=sqlite
runs=2
repeats=3
probe_agents=10
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --stores) stores=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --curl-repeats) repeats=$2; shift 2 ;;
        --probe-agents) probe_agents=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
declare -A schemas=([small]=20 [large]=200)
[ -n "${schemas[$scale]:-}" ] || { echo "bench: --scale is small or large" >&2; exit 64; }
shared=${OUTPOST_SHARED_DIR:-../shared}
[ -f "$shared/bench/gen_catalog.py" ] || { echo "bench: $shared/bench/gen_catalog.py not found" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: curl is not installed" >&2; exit 1; }

# The Swift runtime linked statically, as deploy/container/Containerfile builds it (a dynamically linked
# build maps the whole of Foundation and ICU).
source bench/lib.sh
bench_build --static-swift-stdlib

work=$(mktemp -d /tmp/outpost-ingest-bench.XXXXXX)
server_pid=""
agent_pid=""
stop_components() {
    bench_stop "$agent_pid" "$server_pid"
    agent_pid=""
    server_pid=""
}
cleanup() {
    stop_components
    bench_postgres_stop
    if [ -n "${OUTPOST_BENCH_KEEP:-}" ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
bench_postgres_catalog "$work" "$scale"
# The source password reaches the job as a secret reference to $work/pgpass, never in a URL or the connection.

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench: $scale catalog, stores: $stores, $runs run(s), $(nproc) cores, load average $(load)" >&2

# Reference: `outpost extract` of the same catalog into a folder (no control plane); curl uploads this folder.
/usr/bin/time -f "%e %M" -o "$work/extract.time" "$outpost" extract --source "$source_url" \
    --password-file "$work/pgpass" --output "$work/extract" --no-progress >"$work/extract.summary" \
    2>"$work/extract.log" || { echo "bench: outpost extract failed:" >&2; cat "$work/extract.log" >&2; exit 1; }
echo "$(load)" >"$work/extract.load"

start_server() {
    local store=$1 listen
    listen=$(bench_free_port)
    server=http://127.0.0.1:$listen
    store_db=""
    rm -rf "$work/data"
    if [ "$store" = postgres ]; then
        store_db="outpost_bench_store_$(date +%s)"
        psql -d postgres -qc "create database $store_db"
        OUTPOST_DATABASE_URL="postgres://$user:$password@$host:$port/$store_db" \
            "$outpost" server --listen "127.0.0.1:$listen" --data-dir "$work/data" --log-level info \
            >"$work/server-$store.log" 2>&1 &
    else
        "$outpost" server --listen "127.0.0.1:$listen" --data-dir "$work/data" --log-level info \
            >"$work/server-$store.log" 2>&1 &
    fi
    server_pid=$!
    bench_wait_healthy "$server" "$work/server-$store.log"
}

start_agent() {
    local store=$1
    export OUTPOST_SERVER=$server
    (umask 077 && "$outpost" admin keys create --role agent --name bench-agent --key-file "$work/data/admin.key" \
        >"$work/agent.key" 2>/dev/null)
    (umask 077 && "$outpost" admin keys create --role agent --name bench-curl --key-file "$work/data/admin.key" \
        >"$work/curl-agent.key" 2>/dev/null)
    for index in $(seq 1 "$probe_agents"); do
        (umask 077 && "$outpost" admin keys create --role agent --name "bench-probe-$index" \
            --key-file "$work/data/admin.key" >"$work/probe-$index.key" 2>/dev/null)
    done
    rm -rf "$work/agent"
    cat >"$work/agent.yaml" <<YAML
controlPlane:
  url: $server
  apiKey: file:$work/agent.key
agent:
  name: bench-agent
  dataDir: $work/agent
  pools: [default]
  concurrency: 1
policy:
  allowedSources: ["postgres://$host:$port/*"]
  allowedSecrets: ["file:$work/pgpass"]
  unverifiedSources: ["postgres://$host:$port/*"]
jobs:
  executable: $outpost
observability:
  logLevel: info
YAML
    "$outpost" agent --config "$work/agent.yaml" >"$work/agent-$store.log" 2>&1 &
    agent_pid=$!
    sleep 2
    kill -0 "$agent_pid" 2>/dev/null \
        || { echo "bench: the agent did not start:" >&2; cat "$work/agent-$store.log" >&2; exit 1; }
}

: >"$work/results"
for store in $stores; do
    echo "bench: store $store: starting server and agent (load average $(load))" >&2
    start_server "$store"
    start_agent "$store"
    OUTPOST_BENCH_SERVER=$server OUTPOST_BENCH_SERVER_PID=$server_pid OUTPOST_BENCH_STORE=$store \
        OUTPOST_BENCH_STORE_DB=$store_db OUTPOST_BENCH_WORK=$work OUTPOST_BENCH_SOURCE=$source_url \
        OUTPOST_BENCH_SCALE=$scale OUTPOST_BENCH_RUNS=$runs OUTPOST_BENCH_REPEATS=$repeats \
        OUTPOST_BENCH_PROBE_AGENTS=$probe_agents PYTHONPATH=bench \
        python3 - >>"$work/results" <<'PY'
import hashlib, json, os, sqlite3, statistics, subprocess, sys, threading, time
from benchlib import API, agent_events, instant

server, store = os.environ["OUTPOST_BENCH_SERVER"], os.environ["OUTPOST_BENCH_STORE"]
server_pid, work = os.environ["OUTPOST_BENCH_SERVER_PID"], os.environ["OUTPOST_BENCH_WORK"]
runs, repeats = int(os.environ["OUTPOST_BENCH_RUNS"]), int(os.environ["OUTPOST_BENCH_REPEATS"])
admin_key = open(f"{work}/data/admin.key").read().strip()
curl_key = open(f"{work}/curl-agent.key").read().strip()

def load():
    return "/".join(open("/proc/loadavg").read().split()[:3])

def status_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0

call = API(server, admin_key).call

def run_events(run_id):
    # The first of each message the agent's log wrote for the run, with its time.
    return {message: at for message, (at, _) in agent_events(f"{work}/agent-{store}.log", run_id).items()}

def delivered_files(run_id):
    # The agent's audit ledger names every file that left it for the run, with its size.
    files = []
    for line in open(f"{work}/agent/audit.jsonl"):
        event = json.loads(line)["event"]
        if event.get("runId") == run_id:
            files = event.get("files") or []
    return files

def emit(*fields):
    print(store, *fields)

# 0. The prober: heartbeats of agents of its own, 20 a second, each timed (wall clock at sending, seconds taken).
probe_keys = [open(f"{work}/probe-{i}.key").read().strip()
              for i in range(1, int(os.environ["OUTPOST_BENCH_PROBE_AGENTS"]) + 1)]
probes, probing = [], threading.Event()

def probe():
    index = 0
    while not probing.is_set():
        key = probe_keys[index % len(probe_keys)]
        body = {"agentId": f"bench-probe-{index % len(probe_keys)}", "agentName": "bench-probe", "version": "0.1.0",
                "state": "idle", "runningLeases": [], "freeSlots": 0}
        sent, began = time.time(), time.monotonic()
        try:
            call("POST", "/v1/agent/heartbeat", body, key=key)
            ok = True
        except Exception:
            ok = False
        probes.append((sent, time.monotonic() - began, ok))
        index += 1
        time.sleep(max(0.0, 0.05 - (time.monotonic() - began)))

def percentiles(start, end):
    window = [latency for sent, latency, ok in probes if start <= sent <= end]
    failed = sum(1 for sent, _, ok in probes if start <= sent <= end and not ok)
    if not window:
        return [0, "0", "0", "0", failed]
    window.sort()
    def at(q):
        return window[min(len(window) - 1, int(q * len(window)))] * 1000
    return [len(window), f"{at(0.5):.1f}", f"{at(0.99):.1f}", f"{window[-1] * 1000:.1f}", failed]

prober = threading.Thread(target=probe, daemon=True)
prober.start()
idle_start = time.time()
time.sleep(5)
emit("latency", "idle", *percentiles(idle_start, time.time()))

# 1. The agent's runs: extraction, delivery, completion, ingestion.
emit("server_rss_before_kib", status_kib(server_pid, "VmRSS"))
connection = call("POST", "/v1/admin/connections", {
    "name": "bench-" + os.environ["OUTPOST_BENCH_SCALE"], "sourceKind": "postgresql",
    "sourceURL": os.environ["OUTPOST_BENCH_SOURCE"], "secrets": {"password": f"file:{work}/pgpass"}})
for number in range(1, runs + 1):
    run = call("POST", f"/v1/admin/connections/{connection['id']}/runs")
    state = API(server, admin_key).finished(run["id"])
    if state["status"] not in ("succeeded", "partial"):
        sys.exit(f"bench: run {number} ended {state['status']}: {state.get('error')}")
    events = run_events(run["id"])
    missing = [m for m in ("run.started", "job.process_ended", "delivery.uploading", "run.delivered",
                           "run.completed") if m not in events]
    if missing:
        sys.exit(f"bench: the agent log lacks {missing} for run {run['id']}")
    files = delivered_files(run["id"])
    created, started, finished = (instant(state[k]) for k in ("createdAt", "startedAt", "finishedAt"))
    emit("run", number, f"{started - created:.3f}", f"{events['job.process_ended'] - events['run.started']:.3f}",
         f"{events['run.delivered'] - events['job.process_ended']:.3f}",
         f"{events['run.delivered'] - events['delivery.uploading']:.3f}", f"{finished - events['run.completed']:.3f}", f"{finished - created:.3f}", len(files),
         sum(f["bytes"] for f in files), load())
    emit("latency", number, *percentiles(events["run.completed"], finished))
    if number == 1:
        if store == "sqlite":
            database = sqlite3.connect(f"file:{work}/data/outpost.sqlite?mode=ro", uri=True)
            published = database.execute("SELECT count(*) FROM catalog_assets").fetchone()[0]
            database.close()
        else:
            published = subprocess.run(
                ["psql", "-d", os.environ["OUTPOST_BENCH_STORE_DB"], "-Atc", "select count(*) from catalog_assets"],
                check=True, capture_output=True, text=True).stdout.strip()
        emit("published", published)
emit("server_peak_kib", status_kib(server_pid, "VmHWM"))
probing.set()
prober.join()
with open(f"{work}/probes-{store}.tsv", "w") as raw:
    for sent, latency, ok in probes:
        raw.write(f"{sent:.3f}\t{latency * 1000:.1f}\t{'ok' if ok else 'failed'}\n")

# 2. Reference: curl uploads the `outpost extract` folder to fresh grants on the same server, as a second agent
#    would: its own connection and pool, claimed, started, granted, then uploaded one file after another over one
#    connection (`next` in the config); the run is completed as failed so that nothing of it is ingested.
folder = f"{work}/extract"
names = sorted(n for n in os.listdir(folder) if n.startswith("records-")) + ["manifest.json"]
files = []
for name in names:
    data = open(f"{folder}/{name}", "rb").read()
    files.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
reference = call("POST", "/v1/admin/connections", {
    "name": "bench-curl", "sourceKind": "postgresql", "sourceURL": os.environ["OUTPOST_BENCH_SOURCE"],
    "pool": "bench-curl"})
queued = call("POST", f"/v1/admin/connections/{reference['id']}/runs")
assignment = call("POST", "/v1/agent/claim", {
    "agentId": "bench-curl", "agentName": "bench-curl", "version": "0.1.0", "freeSlots": 1,
    "pools": ["bench-curl"], "waitSeconds": 5}, key=curl_key)["run"]
if assignment["runId"] != queued["id"]:
    sys.exit("bench: the reference claim took another run")
call("POST", f"/v1/runs/{assignment['runId']}/start",
     {"leaseId": assignment["leaseId"], "agentId": "bench-curl"}, key=curl_key, agent="bench-curl")
for _ in range(repeats):
    grants = call("POST", f"/v1/runs/{assignment['runId']}/uploads",
                  {"leaseId": assignment["leaseId"], "files": files}, key=curl_key, agent="bench-curl")["grants"]
    with open(f"{work}/curl.config", "w") as config:
        for index, grant in enumerate(grants):
            if index:
                config.write("next\n")
            config.write(f'url = "{grant["url"]}"\nupload-file = "{folder}/{grant["path"]}"\n')
            for name, value in grant["headers"].items():
                if name.lower() != "content-length":
                    config.write(f'header = "{name}: {value}"\n')
            config.write('header = "Expect:"\noutput = "/dev/null"\nsilent\nshow-error\nfail\n'
                         'write-out = "%{http_code}\\n"\n')
    began = time.monotonic()
    result = subprocess.run(["curl", "-K", f"{work}/curl.config"], capture_output=True, text=True)
    seconds = time.monotonic() - began
    codes = result.stdout.split()
    if result.returncode != 0 or codes != ["200"] * len(grants):
        sys.exit(f"bench: curl uploads failed ({result.returncode}): {result.stderr.strip()[:500]} {codes[:5]}")
    emit("curl", f"{seconds:.3f}", len(files), sum(f["bytes"] for f in files), load())
call("POST", f"/v1/runs/{assignment['runId']}/complete", {
    "leaseId": assignment["leaseId"], "status": "failed", "error": "benchmark upload reference",
    "logs": {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest(), "droppedBytes": 0}}, key=curl_key,
    agent="bench-curl")
PY
    stop_components
done

read -r extract_s extract_kib <"$work/extract.time"
extracted=$(grep -o '[0-9,]* records' "$work/extract.summary" | head -n 1 | tr -d ', records' || true)
python3 - "$work/results" "$scale" "$extract_s" "$extract_kib" "$(cat "$work/extract.load")" "${extracted:-?}" <<'PY'
import statistics, sys
results, scale, extract_s, extract_kib, extract_load, extracted = sys.argv[1:]
extract_s, extract_mib = float(extract_s), int(extract_kib) / 1024
stores = {}
for line in open(results):
    store, name, *values = line.split()
    row = stores.setdefault(store, {"runs": [], "curl": [], "latency": []})
    if name == "run":
        row["runs"].append(values)
    elif name == "latency":
        row["latency"].append(values)
    elif name == "curl":
        row["curl"].append(values)
    else:
        row[name] = values[0]
print(f"{scale} catalog. Reference `outpost extract` to a folder: {extract_s:.2f} s, peak RSS {extract_mib:.1f} MiB, "
      f"{extracted} records (load average {extract_load})")
for store, row in stores.items():
    print()
    print(f"store {store}: {row['published']} records in the catalog after run 1")
    print(f"  {'run':<15}{'queued->started':>16}{'extraction':>11}{'delivery':>9}{'uploads':>8}{'ingestion':>10}"
          f"{'total':>8}{'ingestion/extract':>18}  load average")
    for number, claim, extraction, delivery, uploads, ingestion, total, _, _, load in row["runs"]:
        label = f"{number} ({'first' if number == '1' else 'unchanged'})"
        verdict = "ok" if float(ingestion) <= 10 else "ABOVE 10 s"
        print(f"  {label:<15}{float(claim):>15.2f}s{float(extraction):>10.2f}s{float(delivery):>8.2f}s"
              f"{float(uploads):>7.3f}s{float(ingestion):>9.2f}s{float(total):>7.2f}s"
              f"{float(ingestion) / extract_s:>17.2f}x  {load.replace('/', ' ')}  target <= 10 s: {verdict}")
    idle = next(values for values in row["latency"] if values[0] == "idle")
    print(f"  agent API latency (heartbeats of {len(row['latency'])} windows): idle server {idle[1]} requests, "
          f"p50 {idle[2]} ms, p99 {idle[3]} ms, max {idle[4]} ms, {idle[5]} failed")
    for number, count, p50, p99, most, failed in (values for values in row["latency"] if values[0] != "idle"):
        ratio = float(p99) / max(float(idle[3]), 0.1)
        verdict = "ok" if float(p99) < 100 else "ABOVE 100 ms"
        print(f"    during run {number}'s ingestion: {count} requests, p50 {p50} ms, p99 {p99} ms ({ratio:.1f}x idle), "
              f"max {most} ms, {failed} failed; target p99 < 100 ms: {verdict}")
    peak_mib = int(row["server_peak_kib"]) / 1024
    print(f"  server RSS: {int(row['server_rss_before_kib']) / 1024:.1f} MiB before run 1, peak {peak_mib:.1f} MiB "
          f"= {peak_mib * 1.048576:.1f} MB ({peak_mib / extract_mib:.2f}x outpost extract's peak); target <= 256 MB: "
          f"{'ok' if peak_mib * 1.048576 <= 256 else 'ABOVE TARGET'}")
    agent = [(int(bytes_) / float(uploads), int(files), int(bytes_), float(uploads))
             for _, _, _, _, uploads, _, _, files, bytes_, _ in row["runs"]]
    curl = [(int(bytes_) / float(seconds), int(files), int(bytes_), float(seconds), load)
            for seconds, files, bytes_, load in row["curl"]]
    agent_rate = statistics.median(a[0] for a in agent) / 1e6
    curl_rate = statistics.median(c[0] for c in curl) / 1e6
    print(f"  upload, agent: median {agent_rate:.1f} MB/s over {len(agent)} run(s) ("
          + ", ".join(f"{a[1]} files {a[2] / 1e6:.2f} MB in {a[3]:.3f} s" for a in agent) + ")")
    print(f"  upload, curl:  median {curl_rate:.1f} MB/s over {len(curl)} round(s) ("
          + ", ".join(f"{c[1]} files {c[2] / 1e6:.2f} MB in {c[3]:.3f} s" for c in curl)
          + f"; load average {curl[-1][4].replace('/', ' ')})")
    ratio = agent_rate / curl_rate
    print(f"  agent / curl throughput: {ratio:.2f}x; target >= 0.80: {'ok' if ratio >= 0.8 else 'BELOW TARGET'}")
PY
