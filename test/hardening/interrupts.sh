#!/usr/bin/env bash
# test/hardening/interrupts.sh: `make check-interrupts` (via test/harness.sh
# run).  Long aggregate queries are cancelled with pg_cancel_backend; each
# must end within 2 s.  For the phases where the time goes (transition,
# deserialize and combine in a parallel plan, the final functions' sort and
# partitioning) the cancel is sent after 1 s and, where a phase starts later,
# after the time the input alone takes plus a margin, so it lands there.
# TAP output; the latencies are printed.
#
# Environment: INTERRUPT_ROWS (events of the final-phase cases, default 30M),
# PARALLEL_ROWS (rows of the table of the parallel cases, default 10M).
set -euo pipefail
bindir=$(dirname "$(head -1 "$($PSQL -d postgres -Atc 'SHOW data_directory')/postmaster.opts" | awk '{print $1}' | tr -d "'\"")")
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
rows=${INTERRUPT_ROWS:-30000000}
prows=${PARALLEL_ROWS:-10000000}
db=leadkpi_interrupts
limit=2.0
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db -c "CREATE EXTENSION leadkpi"

now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic and comparisons (1/0), with awk
calc() { awk "BEGIN {print ($*)}"; }   # parenthesised: a bare > is awk output redirection
n=0
results=()

# cancel_case NAME DELAY SQL [SETUP]: runs SQL, cancels it after DELAY s,
# and reports how long the backend took to stop.
cancel_case() {
    local name=$1 delay=$2 sql=$3 setup=${4:-}
    local app="lk_cancel_$$_$n" err t0 t1 lat pid
    n=$((n + 1))
    err=$(mktemp)
    PGAPPNAME=$app "$bindir/psql" -X -q -d $db -c "SET max_parallel_workers_per_gather = 0; $setup" -c "$sql" \
        >/dev/null 2>"$err" &
    pid=$!
    sleep "$delay"
    t0=$(now)
    psql -d $db -Atc "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'" >/dev/null
    while kill -0 $pid 2>/dev/null; do
        sleep 0.02
        if [ "$(calc "$(now) - $t0 > 60")" = 1 ]; then
            kill $pid 2>/dev/null; psql -d $db -Atc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'" >/dev/null
            break
        fi
    done
    wait $pid 2>/dev/null || true
    t1=$(now)
    lat=$(printf '%.2f' "$(calc "$t1 - $t0")")
    if ! grep -q ERROR "$err"; then
        # timing on a busy machine: nothing was measured
        echo "ok $n - $name # SKIP the query ended before the cancel at ${delay}s"
    elif ! grep -q 'canceling statement due to user request' "$err"; then
        echo "not ok $n - $name: cancelled after ${delay}s, but the query failed: $(head -1 "$err")"
    elif [ "$(calc "$lat <= $limit")" = 1 ]; then
        echo "ok $n - $name: cancelled after ${delay}s, stopped in ${lat}s"
    else
        echo "not ok $n - $name: cancelled after ${delay}s, stopped in ${lat}s (limit ${limit}s)"
    fi
    results+=("$name@${delay}s=${lat}s")
    rm -f "$err"
}

# how long the input alone takes: the later cancels land after it
input_time() {
    local t0
    t0=$(now)
    psql -d $db -c "SET max_parallel_workers_per_gather = 0; ${2:-}" -c "$1" >/dev/null
    printf '%.1f' "$(calc "$(now) - $t0")"
}

echo "1..21"
endless="generate_series(1, 4000000000)"
ev="SELECT g, timestamptz '2024-01-01' + ((g * 7919) % 100000000) * interval '1 second' AS ts, (g % 5)::int + 1 AS step
    FROM (SELECT $endless g) s"
ksum=$(psql -d $db -Atc "SELECT kpi_agg(timestamptz '2024-01-01' + g * interval '1 hour',
                                        timestamptz '2024-01-01' + g * interval '1 hour' + (g % 997) * interval '17 minutes', g)
                         FROM generate_series(1, 20000) g")
fsum=$(psql -d $db -Atc "SELECT funnel_agg(g % 3000, timestamptz '2024-01-01' + (g % 3000) * interval '1 hour' + (g % 5) * interval '7 hours',
                                           (g % 5) + 1, '30 days'::interval) FROM generate_series(1, 30000) g")

# transitions over an endless input
cancel_case "kpi_agg transition" 1 "SELECT kpi_agg(ts, ts + interval '1 day') FROM ($ev) e"
cancel_case "funnel_agg transition" 1 "SELECT funnel_agg(g % 1000000, ts, step, '1 day') FROM ($ev) e"
cancel_case "window_funnel transition" 1 "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3) FROM ($ev) e"
cancel_case "rollup(kpi_summary)" 1 "SELECT rollup(s) FROM (SELECT $endless, '$ksum'::kpi_summary s) x"
cancel_case "rollup(funnel_summary)" 1 "SELECT rollup(f) FROM (SELECT $endless, '$fsum'::funnel_summary f) x"

# final functions: a finite input, cancelled once it has been read
fin="SELECT g, timestamptz '2024-01-01' + ((g * 7919) % 100000000) * interval '1 second' AS ts, (g % 5)::int + 1 AS step
     FROM generate_series(1, $rows::bigint) g"
tin=$(input_time "SELECT count(*), max(ts) FROM ($fin) e")
echo "# reading $rows events takes ${tin}s"
# final_case NAME SQL: the query's full time T is measured first; after the
# input (tin) the rest is transition work then the final function, so the
# cancels at tin + 30%, 50%, 70% and 85% of (T - tin) sweep the transition
# work and the final phase, wherever its long steps are.  One group of 30M events needs more than the
# default leadkpi.funnel_memory_limit (2GB: 54000), so it is raised here.
big="SET leadkpi.funnel_memory_limit = '8GB';"
final_case() {
    local t d
    t=$(input_time "$2" "$big")
    for f in 0.3 0.5 0.7 0.85; do
        d=$(calc "$tin + $f * ($t - $tin)")
        cancel_case "$1 (full run ${t}s)" "$(printf '%.1f' "$d")" "$2" "$big"
    done
}
final_case "funnel_agg final: sort of one entity's $rows events" "SELECT funnel_agg(1::bigint, ts, step, '1 day') FROM ($fin) e"
final_case "funnel_agg final: partitioning $rows events of 10M entities" \
    "SELECT funnel_agg(g % 10000000, ts, step, '1 day') FROM ($fin) e"
final_case "window_funnel final: sort of $rows events" \
    "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3) FROM ($fin) e"

# parallel plans: workers' states are serialized, and the leader
# deserializes and combines them before the final function
psql -d $db -c "CREATE UNLOGGED TABLE ev AS SELECT g % 2000000 AS e, ts, step FROM ($fin LIMIT $prows) x" \
     -c "ALTER TABLE ev SET (parallel_workers = 2)" -c "VACUUM ANALYZE ev"
par="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"
tpar=$(input_time "SELECT count(*), max(ts) FROM ev" "$par")
echo "# a parallel scan of $prows rows takes ${tpar}s"
for extra in 1 2.5; do
    cancel_case "funnel_agg, parallel: combine and final (scan + ${extra}s)" "$(calc "$tpar + $extra")" \
        "SELECT funnel_agg(e, ts, step, '1 day') FROM ev" "$par"
done
cancel_case "window_funnel, parallel (scan + 1s)" "$(calc "$tpar + 1")" \
    "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3) FROM ev" "$par"
cancel_case "kpi_agg, parallel, 1s" 1 "SELECT kpi_agg(ts, ts + interval '1 day') FROM ev" "$par"

psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "# latencies: ${results[*]}"
