#!/usr/bin/env bash
# `make test-citus`: leadkpi on a real Citus cluster.
#   1. packages, build, private PostgreSQL tree (test/lib/cluster.sh);
#   2. Citus in that tree: the installed one, or built from CITUS_SRC into a
#      cache (test/citus/citus.sh);
#   3. a coordinator and 2 workers on unix sockets in a temp dir;
#   4. the sample CRM (test/data/gen_crm.sql) distributed by lead_id, plus an
#      undistributed copy of the same rows on the coordinator (schema local);
#   5. pgTAP files test/citus/pgtap/*.sql with pg_prove, then the TAP scripts
#      test/citus/t/*.sh (the fault test stops and restarts a worker).
# Every server is stopped and the temp dir removed on every exit path.
#
# Environment: CITUS_SRC (a Citus source tarball), CITUS_CACHE, CITUS_SCALE
# (leads, default 10000), KEEP=1 keeps the temp dir.
# `bash test/citus/run.sh shell` gives the loaded cluster in a shell instead;
# `bash test/citus/run.sh fail-after-start` fails on purpose once the servers
# are up (test/citus/t/cleanup.sh checks that nothing is left behind).
set -euo pipefail

mode=${1:-test}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

. "$top/test/lib/cluster.sh"
. "$top/test/citus/citus.sh"

t_start=$(date +%s)
lk_packages 15
lk_build
lk_private_tree
lk_citus_install
t_ready=$(date +%s)

# pg_stat_statements on every node: the workers' rows are what the
# coordinator received (test/citus/pgtap/traffic.sql, bench/citus.sh).
# default_statistics_target=10: kpi_summary's = operator leaks two send()
# copies per call, and ANALYZE of a summary column (refresh_reports'
# REFRESH CONCURRENTLY analyzes its diff table; autovacuum analyzes the
# stores) calls it up to 200 times per sampled row in one memory context:
# 7.8 GB for spend_daily at 10,000 leads with the default target of 100.
# A smaller target bounds it until that is fixed in src/.
lk_citus_start 2 -c shared_preload_libraries=citus,pg_stat_statements -c default_statistics_target=10
echo "LK_TMP=$LK_TMP"
if [ "$mode" = fail-after-start ]; then
    lk_log "failing on purpose with the servers up"
    false
fi

db=leadkpi_citus
lk_citus_createdb "$db" pg_stat_statements
export PGHOST=$(lk_citus_host coord) PGPORT=$LK_CITUS_PORT PGUSER=postgres PGDATABASE=$db
export LK_TMP PGBIN LK_CITUS_PORT
export PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"

lk_log "loading the sample CRM (${CITUS_SCALE:-10000} leads) and distributing it"
# CREATE EXTENSION on the coordinator creates it on the workers too
$PSQL -c "CREATE EXTENSION leadkpi" -c "CREATE EXTENSION pgtap"
# (Citus warns that gen_crm.sql's pg_temp helpers stay on the coordinator)
sed 's/^SET client_min_messages = warning;/SET client_min_messages = error;/' test/data/gen_crm.sql \
    | $PSQL -v scale="${CITUS_SCALE:-10000}" >/dev/null
$PSQL -f test/citus/setup.sql >/dev/null
t_loaded=$(date +%s)

case "$mode" in
test)
    lk_log "pgTAP on the cluster"
    pg_prove --failures test/citus/pgtap/*.sql
    lk_log "TAP scripts"
    prove --exec bash test/citus/t/*.sh
    for c in "${LK_CITUS_NODES[@]}"; do
        if grep -E 'TRAP|terminated by signal' "$LK_TMP/$c.log"; then lk_log "a server of $c crashed"; exit 1; fi
    done
    t_end=$(date +%s)
    lk_log "citus tests passed: $(ls test/citus/pgtap/*.sql | wc -l) pgTAP files, $(ls test/citus/t/*.sh | wc -l) TAP scripts;" \
           "set-up $((t_ready - t_start)) s, cluster and data $((t_loaded - t_ready)) s, tests $((t_end - t_loaded)) s"
    ;;
shell)
    lk_log "coordinator at PGHOST=$PGHOST PGPORT=$PGPORT, database $db; exit the shell to stop the cluster"
    bash -i || true
    ;;
run)
    shift; bash "$@"
    ;;
*)
    lk_log "unknown mode $mode (test, shell, run, fail-after-start)"; exit 2 ;;
esac
