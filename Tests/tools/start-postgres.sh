#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 and prints `export OUTPOST_TEST_POSTGRES_URL=…` for the tests.
# Usage: start-postgres.sh DIR   (stop with: runuser -u postgres -- pg_ctl -D DIR/data stop)
set -euo pipefail
dir=${1:?usage: start-postgres.sh DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
    bin=/usr/lib/postgresql/15/bin
fi
mkdir -p "$dir"
password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
echo "$password" > "$dir/pwfile"
chown -R postgres:postgres "$dir"
chmod 700 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U app --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log"
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
echo "export OUTPOST_TEST_POSTGRES_URL='postgres://app:$password@127.0.0.1:$port/postgres'"
