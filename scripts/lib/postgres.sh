# Sourced by the scripts: a throwaway PostgreSQL 15 server on loopback, from Debian's
# postgresql-15 (initdb in a directory of its own, pg_ctl; no Docker, no system cluster).
# Run as root, the server runs as the `postgres` user, as PostgreSQL requires.

PG_BIN=/usr/lib/postgresql/15/bin

# start_postgres DIR PORT PASSWORD [SERVER OPTIONS]: makes a cluster in DIR whose user `gemba` logs
# in over TCP with PASSWORD (SCRAM-SHA-256), and starts it on 127.0.0.1:PORT with the options
# (`-c name=value ...`). Prints the URL of its `postgres` database.
start_postgres() {
    local dir=$1 port=$2 password=$3 options=${4:-} as=()
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
    printf '%s\n' "$password" > "$dir/pwfile"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir/pwfile"
    "${as[@]}" "$PG_BIN/initdb" -D "$dir/data" -U gemba --pwfile="$dir/pwfile" --auth-host=scram-sha-256 \
        --auth-local=trust -E UTF8 --no-sync > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    rm -f "$dir/pwfile"
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 $options" start > /dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
    echo "postgres://gemba:$password@127.0.0.1:$port/postgres?sslmode=disable"
}

# stop_postgres DIR: stops the server start_postgres made in DIR (if it runs) and removes DIR.
stop_postgres() {
    local dir=$1 as=()
    [ "$(id -u)" -ne 0 ] || as=(runuser -u postgres --)
    [ -f "$dir/data/postmaster.pid" ] && "${as[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1
    rm -rf "$dir"
}

# postgres_pids DIR: the processes of the server start_postgres made in DIR (postmaster first).
postgres_pids() {
    local main; main=$(head -1 "$1/data/postmaster.pid")
    echo "$main"; ps --ppid "$main" -o pid=
}

# cpu_seconds PID...: CPU seconds (user + system) the processes have used so far.
cpu_seconds() {
    for pid in "$@"; do cat "/proc/$pid/stat" 2>/dev/null; done \
        | awk -v hz="$(getconf CLK_TCK)" '{ s += $14 + $15 } END { printf "%.2f", s / hz }'
}

# postgres_workspace NAME: makes $WORK (/tmp/NAME.XXXXXX) for a run, $PGDIR for start_postgres
# (apart from $WORK: the server's user must reach it) and $PIDS for the processes the run starts;
# on exit those processes are stopped, the server too, and both directories removed.
postgres_workspace() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PGDIR=$(mktemp -d /tmp/gemba-postgres.XXXXXX)
    PIDS=()
    trap remove_postgres_workspace EXIT
}

remove_postgres_workspace() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    stop_postgres "$PGDIR"
    rm -rf "$WORK"
}

# postgres_bench NAME: what a benchmark on PostgreSQL needs first (after sourcing packages.sh):
# Debian's postgresql-15, installed when missing; gemba's release build as $GEMBA ($GEMBA_BIN when
# set); and a workspace (postgres_workspace NAME).
postgres_bench() {
    has_file "$PG_BIN/initdb" || apt_install postgresql-15
    if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
    GEMBA=${GEMBA_BIN:-.build/release/gemba}
    postgres_workspace "$1"
}

# postgres_cpu: CPU seconds (user + system) the server in $PGDIR has used so far: its processes
# running now, and those that ended (autovacuum workers, closed connections), which the postmaster
# has reaped.
# shellcheck disable=SC2046  # one PID per word
postgres_cpu() {
    local main; main=$(head -1 "$PGDIR/data/postmaster.pid")
    awk -v hz="$(getconf CLK_TCK)" -v live="$(cpu_seconds $(postgres_pids "$PGDIR"))" \
        '{ printf "%.2f", live + ($16 + $17) / hz }' "/proc/$main/stat"
}
