#!/usr/bin/env bash
# One harness for `make test`, `make demo` and `make bench`:
#   1. install missing Debian packages (as root),
#   2. build,
#   3. install into a private copy of PostgreSQL's install tree in a temp dir
#      (PostgreSQL is relocatable, so nothing is written to system directories
#      and two checkouts can test side by side),
#   4. start a throwaway cluster there on a private socket,
#   5. run the mode, and stop and remove everything on every exit path.
#
# Environment: PG_CFLAGS (e.g. -Werror, as CI sets), BENCH_SCALE (bench mode),
# KEEP=1 leaves the temp dir for inspection.
set -euo pipefail

mode=${1:-test}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

log() { printf '== %s\n' "$*" >&2; }

# --- 1. packages -----------------------------------------------------------
need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_pkgs+=(postgresql-15)
# pg_config and pgxs.mk ship without the server headers on Debian
# (postgresql-common, postgresql-client-15): only postgres.h proves them.
command -v pg_config >/dev/null 2>&1 && [ -f "$(pg_config --includedir-server 2>/dev/null)/postgres.h" ] || need_pkgs+=(postgresql-server-dev-15)
ls /usr/share/postgresql/15/extension/pgtap.control >/dev/null 2>&1 || need_pkgs+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null 2>&1 || need_pkgs+=(libtap-parser-sourcehandler-pgtap-perl)
ls /usr/share/postgresql/15/extension/pg_cron.control >/dev/null 2>&1 || need_pkgs+=(postgresql-15-cron)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${need_pkgs[*]}; install them as root (apt-get install ${need_pkgs[*]})"
        exit 1
    fi
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$($PG_CONFIG --bindir)
pkglibdir=$($PG_CONFIG --pkglibdir)
sharedir=$($PG_CONFIG --sharedir)
libroot=$(dirname "$pkglibdir")      # e.g. /usr/lib/postgresql/15

# --- 2. build ----------------------------------------------------------------
log "building"
make -s PG_CONFIG="$PG_CONFIG" ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"} >/dev/null

# --- 3. private install ------------------------------------------------------
T=$(mktemp -d /tmp/leadkpi.XXXXXX)
PGBIN=""
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    if [ -n "$PGBIN" ] && [ -f "$T/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

log "installing into $T/pg"
mkdir -p "$T/pg$(dirname "$libroot")" "$T/pg$(dirname "$sharedir")"
cp -a "$libroot" "$T/pg$(dirname "$libroot")/"
cp -a "$sharedir" "$T/pg$(dirname "$sharedir")/"
make -s install DESTDIR="$T/pg" PG_CONFIG="$PG_CONFIG" >/dev/null
PGBIN="$T/pg$bindir"

# --- 4. cluster --------------------------------------------------------------
port=${PGPORT_TEST:-54$(( RANDOM % 90 + 10 ))}
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$T"
as_pg "$PGBIN/initdb" -D "$T/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$T/data" -l "$T/server.log" -w \
    -o "-c listen_addresses='' -k $T -p $port -c fsync=off -c max_parallel_workers_per_gather=2 -c shared_buffers=1GB -c work_mem=64MB \
        -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on -c max_worker_processes=16" \
    start >/dev/null
export PGHOST=$T PGPORT=$port PGUSER=postgres
export PSQL="$bindir/psql -X -q -v ON_ERROR_STOP=1"

# --- 5. the mode -------------------------------------------------------------
case "$mode" in
test)
    log "pg_regress"
    rm -rf results regression.diffs regression.out
    if ! make -s installcheck PG_CONFIG="$PG_CONFIG"; then
        [ -f regression.diffs ] && head -200 regression.diffs
        exit 1
    fi
    log "pgTAP"
    $PSQL -d postgres -c "CREATE DATABASE leadkpi_tap"
    $PSQL -d leadkpi_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION leadkpi;"
    if ! pg_prove -d leadkpi_tap --failures test/pgtap/*.sql; then
        exit 1
    fi
    log "TAP scripts"
    if ! prove --exec bash test/t/*.sh; then
        exit 1
    fi
    tail -n 5 "$T/server.log" | grep -E 'TRAP|terminated by signal' && { log "server crashed"; exit 1; }
    nreg=$(ls results/*.out | wc -l)
    ntap=$(ls test/pgtap/*.sql | wc -l)
    nsh=$(ls test/t/*.sh | wc -l)
    log "all tests passed: $nreg pg_regress files, $ntap pgTAP files, $nsh TAP scripts"
    ;;
demo)
    $PSQL -d postgres -c "CREATE DATABASE leadkpi_demo"
    $PSQL -d leadkpi_demo -c "CREATE EXTENSION leadkpi"
    $PSQL -d leadkpi_demo -v scale="${DEMO_SCALE:-3000}" -f test/data/gen_crm.sql
    # the four KPIs with one aggregate call each, then the report views
    $bindir/psql -X -d leadkpi_demo -v ON_ERROR_STOP=1 -f test/data/demo.sql
    $bindir/psql -X -q -d leadkpi_demo -v ON_ERROR_STOP=1 -f test/data/demo_reports.sql
    ;;
bench)
    $PSQL -d postgres -c "CREATE DATABASE leadkpi_bench"
    $PSQL -d leadkpi_bench -c "CREATE EXTENSION leadkpi"
    bash bench/run.sh
    ;;
run)
    # bash test/harness.sh run script.sh [args]: a script against the cluster
    shift; bash "$@"
    ;;
shell)
    log "cluster at PGHOST=$PGHOST PGPORT=$PGPORT; exit the shell to stop it"
    bash -i || true
    ;;
*)
    log "unknown mode $mode (test, demo, bench, run, shell)"; exit 2 ;;
esac
