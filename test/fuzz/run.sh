#!/usr/bin/env bash
# test/fuzz/run.sh: `make fuzz`.  On a throwaway cluster (test/lib/cluster.sh)
# with a database that holds every leadkpi type, aggregate input, report
# schema and preset (test/fuzz/fixture.sh):
#   1. the byte- and text-level fuzzer of every input path (test/fuzz/fuzz.py),
#   2. sqlsmith, a fixed number of random queries with a fixed seed,
# then the server log is read for crashes and assertion failures.
#
# Environment:
#   FUZZ_N      inputs per fuzz target (default 500; FUZZ_LONG=1: 20000)
#   SMITH_N     sqlsmith queries (default 500; FUZZ_LONG=1: 30000)
#   FUZZ_LONG=1 the long sizes; CI_FULL=1 sets it and CASSERT=1
#   FUZZ_SEED   seed of both (default 1)
#   FUZZ_TARGETS  comma-separated fuzz targets to run (default all), e.g.
#               close_in,close_recv,close_from_bytes
#   CASSERT=1   run against the assertion-enabled server of make check-memory
#               (built and cached by test/hardening/pg15_valgrind.sh; CI_FULL=1
#               sets it)
#   FUZZ_OUT    where failing inputs are written (default fuzz-out/)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if [ "${CI_FULL:-0}" = 1 ]; then
    FUZZ_LONG=1; CASSERT=${CASSERT:-1}
fi
if [ "${FUZZ_LONG:-0}" = 1 ]; then
    FUZZ_N=${FUZZ_N:-20000}; SMITH_N=${SMITH_N:-30000}
fi
FUZZ_N=${FUZZ_N:-500}
SMITH_N=${SMITH_N:-500}
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_OUT=$(realpath -m "${FUZZ_OUT:-fuzz-out}")
t0=$(date +%s)

. "$top/test/lib/cluster.sh"
lk_packages 15
need=()
command -v sqlsmith >/dev/null || need+=(sqlsmith)
# Debian's python3 (the one python3-psycopg2 serves), whatever PATH says
py=/usr/bin/python3
[ -x $py ] && $py -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
if [ ${#need[@]} -gt 0 ]; then
    lk_log "installing ${need[*]}"
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

if [ "${CASSERT:-0}" = 1 ]; then
    PG_CONFIG=$(bash "$top/test/hardening/pg15_valgrind.sh")
    export PG_CONFIG
    # objects built against the assertion-enabled headers stay out of the tree
    mkdir -p "$LK_TMP/src"
    cp -a Makefile leadkpi.control src sql test expected "$LK_TMP/src/"
    cd "$LK_TMP/src"
    make -s clean >/dev/null 2>&1 || true
    make -s -C test/fuzz clean >/dev/null 2>&1 || true
    lk_log "fuzzing against the assertion-enabled server ($PG_CONFIG)"
fi
lk_build
lk_private_tree
make -s -C test/fuzz PG_CONFIG="$PG_CONFIG" install DESTDIR="$LK_TMP/pg" >/dev/null
lk_start fuzz 5432 -c max_parallel_workers_per_gather=2 -c log_min_messages=warning -c log_min_error_statement=panic
export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
export PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
$PSQL -d postgres -c "CREATE DATABASE leadkpi_fuzz"
lk_log "fixture database"
bash "$top/test/fuzz/fixture.sh" leadkpi_fuzz
t_fix=$(date +%s)

fail=0
lk_log "fuzzing every input path: $FUZZ_N inputs per target, seed $FUZZ_SEED"
$py "$top/test/fuzz/fuzz.py" --dsn "host=$PGHOST port=$PGPORT user=postgres dbname=leadkpi_fuzz" \
    --n "$FUZZ_N" --seed "$FUZZ_SEED" --out "$FUZZ_OUT" --targets "${FUZZ_TARGETS:-}" || fail=1
t_fuzz=$(date +%s)

# sqlsmith as a role that can read everything and change nothing; a short
# statement timeout keeps one slow random query from eating the budget
lk_log "sqlsmith: $SMITH_N queries, seed $FUZZ_SEED"
$PSQL -d leadkpi_fuzz <<'SQL'
CREATE ROLE smith LOGIN;
GRANT pg_read_all_data TO smith;
ALTER ROLE smith SET statement_timeout = '2s';
ALTER ROLE smith SET max_parallel_workers_per_gather = 2;
SQL
mkdir -p "$FUZZ_OUT"
smith_log="$FUZZ_OUT/sqlsmith.log"
queries="$FUZZ_OUT/sqlsmith-queries.sql"
set +e
timeout $(( 600 + SMITH_N / 5 )) sqlsmith --target="host=$PGHOST port=$PGPORT user=smith dbname=leadkpi_fuzz" \
    --seed="$FUZZ_SEED" --max-queries="$SMITH_N" --exclude-catalog --verbose --dump-all-queries \
    >"$queries" 2>"$smith_log"
smith_rc=$?
set -e
t_smith=$(date +%s)
# the queries that reach leadkpi: those naming one of its functions or relations
$PSQL -d leadkpi_fuzz -Atc "
    SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'leadkpi'" > "$FUZZ_OUT/leadkpi-functions.txt"
# and the relations whose reading runs leadkpi code: report and canonical
# views (every view of the fixture is one) and tables of summaries
$PSQL -d leadkpi_fuzz -Atc "
    SELECT DISTINCT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      AND (c.relkind IN ('v', 'm') OR EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
           AND a.atttypid IN ('kpi_summary'::regtype, 'funnel_summary'::regtype, 'close_summary'::regtype)))" > "$FUZZ_OUT/leadkpi-relations.txt"
nq=$(sed -n 's/^queries: \([0-9]*\).*/\1/p' "$smith_log" | tail -1)
read -r nlk nrel < <($py - "$FUZZ_OUT/leadkpi-functions.txt" "$FUZZ_OUT/leadkpi-relations.txt" "$queries" <<'PY'
import re, sys
funcs = set(open(sys.argv[1]).read().split())
rels = set(open(sys.argv[2]).read().split())
qs = re.split(r'(?m)^\s*;\s*$', open(sys.argv[3], errors='replace').read())
f = [q for q in qs if funcs & set(re.findall(r'(\w+)\s*\(', q))]
r = [q for q in qs if rels & set(re.findall(r'\.(\w+)', q))]
print(len(f), len(r))
PY
)
lk_log "sqlsmith exit $smith_rc; $nq queries: $nlk call a leadkpi function, $nrel read a report view or stored summaries"
tail -n 25 "$smith_log" | sed 's/^/   /' >&2

log="$LK_TMP/fuzz.log"
crashes=$(grep -cE 'terminated by signal|TRAP:|was terminated by exception' "$log" || true)
if [ "$crashes" -gt 0 ]; then
    lk_log "server log: $crashes crashes or assertion failures"
    grep -B2 -A8 -E 'terminated by signal|TRAP:' "$log" | head -60 >&2
    cp "$log" "$FUZZ_OUT/server.log"
    fail=1
fi
t1=$(date +%s)
lk_log "fuzz: sqlsmith $nq queries ($nlk call leadkpi, $nrel read its views), $crashes server crashes;" \
       "times: build+fixture $((t_fix - t0)) s, fuzzer $((t_fuzz - t_fix)) s, sqlsmith $((t_smith - t_fuzz)) s, total $((t1 - t0)) s"
if [ "$fail" = 0 ]; then
    echo "fuzz: 1 passed, 0 failed"
else
    echo "fuzz: 0 passed, 1 failed"
fi
exit "$fail"
