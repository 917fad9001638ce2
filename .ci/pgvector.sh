#!/usr/bin/env bash
# A throwaway PostgreSQL 16 with pgvector from the `pgserver` wheel (Debian 12 has no pgvector
# package), on a loopback port of its own, for the pgvector tests.
#   .ci/pgvector.sh start PORT   -> prints the server URL (postgresql://postgres@127.0.0.1:PORT/postgres)
#   .ci/pgvector.sh stop PORT
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
set -euo pipefail
cmd="${1:?start|stop}"
port="${2:-5499}"
dir="${TMPDIR:-/tmp}/tonearm-pgvector-$port"
bin="$("${PYTHON:-.venv/bin/python}" -c 'import os, pgserver; print(os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin"))' 2>/dev/null)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/data" -o "-p $port -h 127.0.0.1 -k $dir" -l "$dir/server.log" -w start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop PORT" >&2; exit 2 ;;
esac
