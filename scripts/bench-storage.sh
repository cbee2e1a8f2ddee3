#!/usr/bin/env bash
# The storage backends side by side (release build, in process, same run): SQLite in a temporary
# directory and PostgreSQL 15 started on loopback by this script. Each run commits `samples`
# samples of 1,000 machines x 10 tags reporting once a second, 10,000 samples per commit, one
# commit after the other as the ingest pipeline makes them; then the history of a 1 Hz tag over
# 24 h as 720 buckets, and the database bytes per sample. See `gemba bench storage --help`.
# Usage: scripts/bench-storage.sh [samples] [runs]   (defaults 3000000 and 3). Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-3000000}
RUNS=${2:-3}
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
has_file "$PG_BIN/initdb" || apt_install postgresql-15
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
GEMBA=${GEMBA_BIN:-.build/release/gemba}
PGDIR=$(mktemp -d /tmp/gemba-bench-postgres.XXXXXX)
trap 'stop_postgres "$PGDIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
# A server set up as for an ingest workload: a buffer cache that holds the recent indexes, and
# checkpoints far enough apart that full-page images do not dominate the WAL. fsync stays on.
URL=$(start_postgres "$PGDIR" "$PORT" "bench-$$" \
    "-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_compression=lz4")
psql "${URL%%\?*}" -qc "SELECT version()" -At
for run in $(seq "$RUNS"); do
    psql "${URL%%\?*}" -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    "$GEMBA" bench storage --storage "${URL/\/postgres\?//bench?}" --samples "$SAMPLES"
    "$GEMBA" bench storage --samples "$SAMPLES"
done
