#!/usr/bin/env bash
# Benchmark of bucket relay uploads (issues #16 and #17): a release `outpost agent` extracts a synthetic catalog of
# ../shared/bench/gen_catalog.py (default: "large", 200 schemas, seed 42) from PostgreSQL and relays its files
# into a Cloud Storage bucket and an Azure Blob Storage container; a release `outpost server` reads and ingests
# each relay. The reference, measured in the same run on the same machine against the same endpoints: the vendor's
# own Python SDK (google-cloud-storage, azure-storage-blob) uploading the files of an `outpost extract` of the same
# catalog, one file after another as the agent sends them, with the SDK's default settings and the same identity
# as the agent's (a service account key; App Service's managed identity through azure-identity), whose token each
# side fetches inside its measured time.
#
# Endpoints: fake-gcs-server (a real Cloud Storage emulator, over plain HTTP on loopback; the token endpoint is the
# project's fake Google endpoints) and the project's fake Azure server (HTTPS with a self-signed CA, which the agent
# and the server trust from a bundle). Both fakes are the test suite's (Tests/tools/fake_gcp, fake_azure). The
# Azure fake is Python and verifies every request's signature or token, so its own speed bounds both sides' figures.
#
# Reported per cloud: the agent's relay upload time (`delivery.relaying` -> `run.delivered` in its log: the
# listing of the run's prefix, reading and decrypting the spool, hashing, the uploads with their checksums, and the
# spool's bookkeeping), the SDK's time per round, both as MB/s and their ratio (target >= 0.80); the agent's peak
# RSS against its RSS before the first run, the SDK process's peak RSS, and `outpost extract`'s peak RSS.
# Numbers are printed with ratios, never asserted.
#
# Usage: bench/relay-benchmark.sh [--scale small|large] [--clouds "gcs azure"] [--runs N] [--sdk-rounds N]
# Uses OUTPOST_BENCH_POSTGRES_URL if set (the catalog is built once and reused), otherwise starts a throwaway
# PostgreSQL. OUTPOST_BENCH_KEEP=1 keeps the scratch folder. Needs curl and python3. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=large
clouds="gcs azure"
runs=2
rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --clouds) clouds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --sdk-rounds) rounds=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
for cloud in $clouds; do
    case "$cloud" in gcs | azure) ;; *) echo "bench: --clouds takes gcs and azure" >&2; exit 64 ;; esac
done

source bench/lib.sh
bench_build --static-swift-stdlib
gcp_python=$(bash Tests/tools/fake_gcp/setup.sh)
gcs_server=$(bash Tests/tools/fake_gcp/setup.sh --gcs-server)
azure_python=$(bash Tests/tools/fake_azure/setup.sh)

work=$(mktemp -d /tmp/outpost-relay-bench.XXXXXX)
pids=()
cleanup() {
    bench_stop "${pids[@]}"
    bench_postgres_stop
    if [ -n "${OUTPOST_BENCH_KEEP:-}" ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
bench_postgres_catalog "$work" "$scale"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench: $scale catalog, clouds: $clouds, $runs run(s), $rounds SDK round(s), $(nproc) cores" >&2

# The reference extraction: what the SDKs upload.
/usr/bin/time -f "%e %M" -o "$work/extract.time" "$outpost" extract --source "$source_url" \
    --password-file "$work/pgpass" --output "$work/extract" --no-progress >/dev/null 2>"$work/extract.log" \
    || { echo "bench: outpost extract failed:" >&2; cat "$work/extract.log" >&2; exit 1; }

# wait_for_file PATH LOG: the fakes write their endpoints once they listen.
wait_for_file() {
    for _ in $(seq 1 200); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "bench: $1 was not written:" >&2
    cat "$2" >&2
    exit 1
}

# Google: the token endpoint (fake) and fake-gcs-server, which the agent, the server and the SDK all use directly.
"$gcp_python" Tests/tools/fake_gcp/server.py --port 0 --gcs-server "$gcs_server" --bucket relay-bench \
    --generate-service-account "relay@outpost-bench.iam.gserviceaccount.com=$work/google-key.json" \
    --endpoints-file "$work/google.json" </dev/null >/dev/null 2>"$work/fake-gcp.log" &
pids+=($!)
wait_for_file "$work/google.json" "$work/fake-gcp.log"
gcs=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["gcsServer"])' "$work/google.json")

# Azure: one storage account with the container, and an App Service managed identity for the agent and the server.
account=outpostbench
account_key=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
identity_header=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
python3 - "$work/azure.json" "$account" "$account_key" "$identity_header" <<'PY'
import json, sys
path, account, key, header = sys.argv[1:]
json.dump({"managedIdentities": [{"clientId": "outpost-bench", "default": True}], "identityHeader": header,
           "accounts": [{"name": account, "key": key, "containers": ["relay-bench"]}]}, open(path, "w"))
PY
"$azure_python" Tests/tools/fake_azure/server.py --config "$work/azure.json" --tls-self-signed "$work/azure-tls.pem" \
    --port 0 --port-file "$work/azure.port" </dev/null >/dev/null 2>"$work/fake-azure.log" &
pids+=($!)
wait_for_file "$work/azure.port" "$work/fake-azure.log"
azure=https://127.0.0.1:$(cat "$work/azure.port")
blob=$azure/$account

listen=$(bench_free_port)
server=http://127.0.0.1:$listen
cloud_environment=(GOOGLE_APPLICATION_CREDENTIALS="$work/google-key.json" IDENTITY_ENDPOINT="$azure/msi/token"
    IDENTITY_HEADER="$identity_header")
env "${cloud_environment[@]}" "$outpost" server --listen "127.0.0.1:$listen" --data-dir "$work/data" \
    --log-level info --relay-endpoint "$gcs" --relay-endpoint "$blob" --ca-bundle "$work/azure-tls.pem" \
    >"$work/server.log" 2>&1 &
pids+=($!)
bench_wait_healthy "$server" "$work/server.log"

export OUTPOST_SERVER=$server
(umask 077 && "$outpost" admin keys create --role agent --name bench-relay --key-file "$work/data/admin.key" \
    >"$work/agent.key" 2>/dev/null)
cat >"$work/agent.yaml" <<YAML
controlPlane:
  url: $server
  apiKey: file:$work/agent.key
agent:
  name: bench-relay
  dataDir: $work/agent
  concurrency: 1
policy:
  allowedSources: ["postgres://$host:$port/*"]
  allowedSecrets: ["file:$work/pgpass"]
  unverifiedSources: ["postgres://$host:$port/*"]
  allowedHosts: ["127.0.0.1"]
network:
  caBundle: $work/azure-tls.pem
jobs:
  executable: $outpost
observability:
  logLevel: info
YAML
env "${cloud_environment[@]}" "$outpost" agent --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
sleep 2
kill -0 "$agent_pid" 2>/dev/null || { echo "bench: the agent did not start:" >&2; cat "$work/agent.log" >&2; exit 1; }

OUTPOST_BENCH_SERVER=$server OUTPOST_BENCH_WORK=$work OUTPOST_BENCH_SOURCE=$source_url \
    OUTPOST_BENCH_CLOUDS=$clouds OUTPOST_BENCH_RUNS=$runs OUTPOST_BENCH_AGENT=$agent_pid \
    OUTPOST_BENCH_GCS=$gcs OUTPOST_BENCH_BLOB=$blob OUTPOST_BENCH_ACCOUNT=$account PYTHONPATH=bench \
    python3 - >"$work/results" <<'PY'
import os, sys
from benchlib import API, agent_events

work = os.environ["OUTPOST_BENCH_WORK"]
api = API(os.environ["OUTPOST_BENCH_SERVER"], open(f"{work}/data/admin.key").read().strip())
agent = os.environ["OUTPOST_BENCH_AGENT"]

def status_kib(field):
    for line in open(f"/proc/{agent}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0

relays = {
    "gcs": {"kind": "gcs", "bucket": "relay-bench", "prefix": "agent", "endpoint": os.environ["OUTPOST_BENCH_GCS"]},
    "azure": {"kind": "azure-blob", "account": os.environ["OUTPOST_BENCH_ACCOUNT"], "bucket": "relay-bench",
              "prefix": "agent", "endpoint": os.environ["OUTPOST_BENCH_BLOB"]},
}
print("agent_rss_before_kib", status_kib("VmRSS"))
for cloud in os.environ["OUTPOST_BENCH_CLOUDS"].split():
    connection = api.call("POST", "/v1/admin/connections", {
        "name": f"bench-{cloud}", "sourceKind": "postgresql", "sourceURL": os.environ["OUTPOST_BENCH_SOURCE"],
        "secrets": {"password": f"file:{work}/pgpass"}, "delivery": {"mode": "relay", "relay": relays[cloud]}})
    for number in range(1, int(os.environ["OUTPOST_BENCH_RUNS"]) + 1):
        run = api.call("POST", f"/v1/admin/connections/{connection['id']}/runs")
        state = api.finished(run["id"])
        if state["status"] not in ("succeeded", "partial"):
            sys.exit(f"bench: {cloud} run {number} ended {state['status']}: {state.get('error')}")
        events = agent_events(f"{work}/agent.log", run["id"])
        missing = [m for m in ("delivery.relaying", "run.delivered") if m not in events]
        if missing:
            sys.exit(f"bench: the agent log lacks {missing} for run {run['id']}")
        began, fields = events["delivery.relaying"]
        seconds = events["run.delivered"][0] - began
        print("agent", cloud, number, f"{seconds:.3f}", fields["delivery.files"], fields["delivery.bytes"],
              "/".join(open("/proc/loadavg").read().split()[:3]))
        sys.stdout.flush()
print("agent_peak_kib", status_kib("VmHWM"))
PY

# The SDKs upload the reference extraction's files, records first and the manifest last, one after another.
sdk_round() {
    local cloud=$1 round=$2
    if [ "$cloud" = gcs ]; then
        "$gcp_python" - "$work/extract" "$round" "$work/google-key.json" "$gcs" <<'PY'
import os, resource, sys, time
from google.cloud import storage
from google.oauth2 import service_account
folder, round_, key, endpoint = sys.argv[1:]
names = sorted(n for n in os.listdir(folder) if n != "manifest.json") + ["manifest.json"]
credentials = service_account.Credentials.from_service_account_file(
    key, scopes=["https://www.googleapis.com/auth/devstorage.read_write"])
bucket = storage.Client(project="outpost-bench", credentials=credentials,
                        client_options={"api_endpoint": endpoint}).bucket("relay-bench")
began = time.monotonic()
for name in names:
    bucket.blob(f"sdk/{round_}/{name}").upload_from_filename(f"{folder}/{name}")
seconds = time.monotonic() - began
print("sdk gcs", round_, f"{seconds:.3f}", len(names), sum(os.path.getsize(f"{folder}/{n}") for n in names),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "/".join(open("/proc/loadavg").read().split()[:3]))
PY
    else
        # The same App Service managed identity as the agent's (azure-identity), its token fetched in the round.
        env "${cloud_environment[@]}" REQUESTS_CA_BUNDLE="$work/azure-tls.pem" \
            "$azure_python" - "$work/extract" "$round" "$blob" "$work/azure-tls.pem" <<'PY'
import os, resource, sys, time
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobServiceClient
folder, round_, endpoint, ca = sys.argv[1:]
names = sorted(n for n in os.listdir(folder) if n != "manifest.json") + ["manifest.json"]
container = BlobServiceClient(account_url=endpoint, credential=ManagedIdentityCredential(connection_verify=ca),
                              connection_verify=ca).get_container_client("relay-bench")
began = time.monotonic()
for name in names:
    with open(f"{folder}/{name}", "rb") as data:
        container.upload_blob(f"sdk/{round_}/{name}", data, overwrite=True)
seconds = time.monotonic() - began
print("sdk azure", round_, f"{seconds:.3f}", len(names), sum(os.path.getsize(f"{folder}/{n}") for n in names),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "/".join(open("/proc/loadavg").read().split()[:3]))
PY
    fi
}
for cloud in $clouds; do
    for round in $(seq 1 "$rounds"); do
        sdk_round "$cloud" "$round" >>"$work/results" \
            || { echo "bench: the $cloud SDK upload failed" >&2; exit 1; }
    done
done

read -r extract_s extract_kib <"$work/extract.time"
python3 - "$work/results" "$scale" "$extract_s" "$extract_kib" <<'PY'
import statistics, sys
results, scale, extract_s, extract_kib = sys.argv[1:]
agent, sdk, values = {}, {}, {}
for line in open(results):
    fields = line.split()
    if fields[0] == "agent":
        _, cloud, number, seconds, files, bytes_, load = fields
        agent.setdefault(cloud, []).append((float(seconds), int(files), int(bytes_), load))
    elif fields[0] == "sdk":
        _, cloud, number, seconds, files, bytes_, peak, load = fields
        sdk.setdefault(cloud, []).append((float(seconds), int(files), int(bytes_), int(peak), load))
    else:
        values[fields[0]] = int(fields[1])
sdks = {"gcs": "google-cloud-storage", "azure": "azure-storage-blob"}
print(f"{scale} catalog; reference `outpost extract` to a folder: {float(extract_s):.2f} s, peak RSS "
      f"{int(extract_kib) / 1024:.1f} MiB")
for cloud in agent:
    print()
    print(f"{cloud}:")
    for seconds, files, bytes_, load in agent[cloud]:
        print(f"  agent relay: {files} files {bytes_ / 1e6:.2f} MB in {seconds:.3f} s = {bytes_ / seconds / 1e6:.1f} MB/s"
              f"  (load {load.replace('/', ' ')})")
    for seconds, files, bytes_, peak, load in sdk.get(cloud, []):
        print(f"  {sdks[cloud]}: {files} files {bytes_ / 1e6:.2f} MB in {seconds:.3f} s = "
              f"{bytes_ / seconds / 1e6:.1f} MB/s, process peak RSS {peak / 1024:.1f} MiB  (load {load.replace('/', ' ')})")
    if cloud in sdk:
        ours = statistics.median(b / s for s, _, b, _ in agent[cloud])
        theirs = statistics.median(b / s for s, _, b, _, _ in sdk[cloud])
        ratio = ours / theirs
        print(f"  agent / {sdks[cloud]} throughput (medians): {ours / 1e6:.1f} / {theirs / 1e6:.1f} MB/s = {ratio:.2f}x;"
              f" target >= 0.80: {'ok' if ratio >= 0.8 else 'BELOW TARGET'}")
before, peak = values["agent_rss_before_kib"] / 1024, values["agent_peak_kib"] / 1024
print()
print(f"agent RSS: {before:.1f} MiB before the first run, peak {peak:.1f} MiB over every relay "
      f"({peak / (int(extract_kib) / 1024):.2f}x outpost extract's peak)")
PY
