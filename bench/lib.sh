# Shared by the bench scripts (sourced, not run): the release build they measure, and starting and stopping the
# processes they drive.

# Builds the release `outpost` into $OUTPOST_BENCH_SCRATCH (default .build-release: a scratch path of its own, so a
# benchmark never waits on or invalidates the debug build) and sets $outpost to it. Extra arguments go to both
# `swift build` calls (`--static-swift-stdlib` builds as the container image ships it).
bench_build() {
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
