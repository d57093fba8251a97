# Shared by the bench scripts (sourced, not run): the release build they measure, and starting and stopping the
# processes they drive.

# Builds the release `outpost` into $OUTPOST_BENCH_SCRATCH (default .build-release: a scratch path of its own, so a
# benchmark never waits on or invalidates the debug build) and sets $outpost to it. Extra arguments go to both
# `swift build` calls (`--static-swift-stdlib` builds as the container image ships it).
# OUTPOST_BENCH_BINARY=PATH uses that binary instead, unbuilt: for trying a script out (a debug build's figures
# are not the product's).
bench_build() {
    if [ -n "${OUTPOST_BENCH_BINARY:-}" ]; then
        outpost=$OUTPOST_BENCH_BINARY
        echo "bench: using $outpost as given (OUTPOST_BENCH_BINARY), not a release build" >&2
        return
    fi
    local scratch=${OUTPOST_BENCH_SCRATCH:-.build-release}
    echo "bench: building outpost (release $*, $scratch)" >&2
    swift build -c release --scratch-path "$scratch" --product outpost "$@" >&2
    outpost=$(swift build -c release --scratch-path "$scratch" "$@" --show-bin-path)/outpost
}

# A free TCP port on 127.0.0.1.
bench_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for URL/healthz to answer; otherwise prints LOG and exits.
bench_wait_healthy() {
    local url=$1 log=$2
    for _ in $(seq 1 100); do
        curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: the server did not start:" >&2
    cat "$log" >&2
    exit 1
}

# Sends SIGTERM to each non-empty PID and waits for it to end.
bench_stop() {
    local pid
    for pid in "$@"; do
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}

# The synthetic catalog of ../shared/bench/gen_catalog.py at SCALE (small: 20 schemas, large: 200; seed 42) in
# the PostgreSQL of OUTPOST_BENCH_POSTGRES_URL, or in a throwaway server started under WORK (stopped by
# bench_postgres_stop). Built once per server and reused. Sets user, password, host, port and source_url (no
# password), exports the PG* variables for psql, and writes the password to WORK/pgpass (mode 0600) for secret
# references.
bench_postgres_catalog() {
    local work=$1 scale=$2 shared=${OUTPOST_SHARED_DIR:-../shared} db count
    case "$scale" in
        small) count=20 ;;
        large) count=200 ;;
        *) echo "bench: --scale is small or large" >&2; exit 64 ;;
    esac
    [ -f "$shared/bench/gen_catalog.py" ] || { echo "bench: $shared/bench/gen_catalog.py not found" >&2; exit 1; }
    bench_postgres_started=""
    if [ -z "${OUTPOST_BENCH_POSTGRES_URL:-}" ]; then
        # PostgreSQL runs as its own user, which must reach its data folder inside the private scratch folder.
        chmod 711 "$work"
        eval "$(bash Tests/tools/start-postgres.sh "$work/pg")"
        OUTPOST_BENCH_POSTGRES_URL=$OUTPOST_TEST_POSTGRES_URL
        bench_postgres_started=$work/pg
    fi
    read -r user password host port < <(python3 -c '
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1]); print(p.username, u.unquote(p.password or ""), p.hostname, p.port or 5432)' \
        "$OUTPOST_BENCH_POSTGRES_URL")
    export PGPASSWORD=$password PGHOST=$host PGPORT=$port PGUSER=$user
    db="outpost_bench_$scale"
    if [ "$(psql -d postgres -Atc "select count(*) from pg_database where datname = '$db'")" = "0" ]; then
        echo "bench: building the $scale catalog ($count schemas)" >&2
        psql -d postgres -qc "create database $db"
        python3 "$shared/bench/gen_catalog.py" --schemas "$count" --seed 42 \
            | psql -v ON_ERROR_STOP=1 -q -d "$db" >/dev/null
    fi
    source_url="postgres://$user@$host:$port/$db"
    (umask 077 && printf '%s' "$password" >"$work/pgpass")
}

# Stops the PostgreSQL bench_postgres_catalog started, if it started one.
bench_postgres_stop() {
    if [ -n "${bench_postgres_started:-}" ]; then
        local bin
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
        runuser -u postgres -- "$bin/pg_ctl" -D "$bench_postgres_started/data" -m immediate stop >/dev/null 2>&1 || true
        bench_postgres_started=""
    fi
}

# The peak RSS (VmHWM) of PID in KiB, 0 once it is gone.
bench_peak_kib() {
    awk '/^VmHWM:/ {print $2; found = 1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}
