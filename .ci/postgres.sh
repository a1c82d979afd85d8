#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 cluster on a free loopback port, as an unprivileged user.
#   .ci/postgres.sh start DIR   -> prints the SQLAlchemy URL of a fresh database
#   .ci/postgres.sh stop DIR
set -euo pipefail
action=$1
dir=$2
bin=/usr/lib/postgresql/15/bin
# PostgreSQL refuses to run as root; the Debian package creates the `postgres` user.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$action" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres rounds_test
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/rounds_test"
    ;;
stop)
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
