#!/usr/bin/env bash
# Benchmark of `outpost extract` against `pg_dump --schema-only` (and, with --datahub, DataHub's postgres
# source) on the synthetic catalogs of ../shared/bench/gen_catalog.py, measured in the same run on the same
# machine. Prints wall time (median of N runs), peak RSS, and ratios against the references.
#
# Usage: bench/extract-benchmark.sh [--runs N] [--scales "small large"] [--datahub]
# Uses OUTPOST_BENCH_POSTGRES_URL if set (the catalogs are built once and reused), otherwise starts a
# throwaway PostgreSQL. Not part of the test suite: numbers are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
scales="small large"
datahub=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --scales) scales=$2; shift 2 ;;
        --datahub) datahub=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
shared=${OUTPOST_SHARED_DIR:-../shared}
[ -f "$shared/bench/gen_catalog.py" ] || { echo "bench: $shared/bench/gen_catalog.py not found" >&2; exit 1; }

source bench/lib.sh
bench_build

work=$(mktemp -d /tmp/outpost-bench.XXXXXX)
cleanup() {
    bench_postgres_stop
    rm -rf "$work"
}
trap cleanup EXIT
for scale in $scales; do
    bench_postgres_catalog "$work" "$scale"
done

# measure NAME COMMAND...: runs the command $runs times; prints "NAME median_seconds peak_rss_kib".
measure() {
    local name=$1; shift
    local times=() rss=0
    for _ in $(seq "$runs"); do
        rm -rf "$work/out"
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" \
            || { echo "bench: $name failed:" >&2; cat "$work/stderr" >&2; return 1; }
        read -r seconds kib < "$work/time"
        times+=("$seconds")
        [ "$kib" -gt "$rss" ] && rss=$kib
    done
    printf '%s %s %s\n' "$name" "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "$rss"
}

results=$work/results
: > "$results"
for scale in $scales; do
    db="outpost_bench_$scale"
    url="postgres://$user@$host:$port/$db"
    measure "outpost-$scale" "$outpost" extract --source "$url" --output "$work/out" --no-progress >> "$results"
    measure "pg_dump-$scale" pg_dump --schema-only -d "$db" -f "$work/dump.sql" >> "$results"
    if [ "$datahub" = 1 ]; then
        cat > "$work/recipe.yml" <<YAML
source:
  type: postgres
  config:
    host_port: "$host:$port"
    database: "$db"
    username: "$user"
    password: "\${PGPASSWORD}"
    profiling: {enabled: false}
sink:
  type: file
  config: {filename: "$work/datahub.json"}
YAML
        measure "datahub-$scale" datahub ingest -c "$work/recipe.yml" >> "$results"
    fi
    rm -rf "$work/out"
    "$outpost" extract --source "$url" --output "$work/out" --no-progress > "$work/summary-$scale"
    grep '^extracted' "$work/summary-$scale" | sed "s/^/outpost-$scale: /" >&2
done

python3 - "$results" "$runs" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, seconds, kib = line.split()
    rows[name] = (float(seconds), int(kib))
print(f"median of {sys.argv[2]} runs; peak RSS is the largest of the runs")
print(f"{'extractor':<16}{'wall s':>10}{'peak RSS MB':>14}{'vs pg_dump':>12}{'DataHub/x':>11}")
for name, (seconds, kib) in rows.items():
    tool, scale = name.rsplit("-", 1)
    dump = rows.get(f"pg_dump-{scale}")
    hub = rows.get(f"datahub-{scale}")
    ratio = f"{seconds / dump[0]:.2f}" if dump else "-"
    speedup = f"{hub[0] / seconds:.1f}" if hub and tool == "outpost" else "-"
    print(f"{name:<16}{seconds:>10.2f}{kib / 1024:>14.1f}{ratio:>12}{speedup:>11}")
small, large = rows.get("outpost-small"), rows.get("outpost-large")
if small and large:
    print(f"outpost peak RSS large/small: {large[1] / small[1]:.2f}")
PY
