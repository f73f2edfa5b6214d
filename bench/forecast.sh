#!/usr/bin/env bash
# bench/forecast.sh: the forecast benchmark.  Runs against an already-running
# cluster (PGHOST, PGPORT, PGUSER exported) whose database $BENCH_DB (default
# leadkpi_bench) has leadkpi and the crm schema of test/data/gen_crm.sql:
#
#   psql -d leadkpi_bench -v scale=2000000 -f test/data/gen_crm.sql
#   bash bench/forecast.sh
#
# Creates reports over crm (schema bench_forecast) and a store of close
# summaries per campaign and channel (bench.forecast_store, on the grid
# forecast_closings uses), then interleaves RUNS times (default 5):
#   raw     forecast_closings by campaign, 6 months, from the raw tables
#   stored  the same from the store
#   events  the per-lead stage history any raw forecast reads: the stage
#           events grouped by lead (a floor for "raw")
#   scan    count(summary) over the store (a floor for "stored")
# and prints medians.  It fails unless raw and stored give the same
# forecast.  Then the backtest table (12 monthly cutoffs; overall, by channel,
# by campaign) goes to $BENCH_OUT/forecast_backtest.txt.
set -euo pipefail
cd "$(dirname "$0")"
DB=${BENCH_DB:-leadkpi_bench}
RUNS=${RUNS:-5}
OUT=${BENCH_OUT:-out}
AS_OF=${FORECAST_AS_OF:-2026-01-01 00:00+00}
mkdir -p "$OUT"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"
# the same session settings for every query: the parallel plans the planner
# picks by default, JIT off (its compile time is noise here)
SETTINGS="SET max_parallel_workers_per_gather = 2; SET jit = off; SET client_min_messages = warning;"

$PSQL <<SQL
$SETTINGS
CREATE SCHEMA IF NOT EXISTS bench;
SELECT count(*) FROM create_reports('bench_forecast', leads => 'crm.leads', stage_events => 'crm.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'UTC') \g /dev/null
DROP TABLE IF EXISTS bench.forecast_store;
\timing on
CREATE TABLE bench.forecast_store AS
SELECT * FROM close_summaries('bench_forecast', forecast_grid('bench_forecast', '$AS_OF'));
\timing off
VACUUM ANALYZE bench.forecast_store;
SQL

declare -A sql
sql[raw]="SELECT * FROM forecast_closings('bench_forecast', as_of => '$AS_OF', by => 'campaign') ORDER BY segment, h"
sql[stored]="SELECT * FROM forecast_closings('bench_forecast', by => 'campaign', summaries => 'bench.forecast_store') ORDER BY segment, h"
sql[events]="SELECT count(r) FROM (SELECT lead_id, stage_reach(step, occurred_at) AS r FROM bench_forecast.report_stage_events GROUP BY lead_id) x"
sql[scan]="SELECT count(summary) FROM bench.forecast_store"
queries=(raw stored events scan)
declare -A times

run() {   # run <name>: prints milliseconds, saves the result rows
    local q=$1 t
    t=$( { echo "$SETTINGS"; echo '\timing on'; echo "\\o $OUT/forecast_$q.out"; echo "${sql[$q]};"; } \
         | $PSQL -At 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    [ -n "$t" ] || { echo "query $q failed" >&2; exit 1; }
    echo "$t"
}

echo "== forecast benchmark on $DB: $($PSQL -Atc "SELECT count(*) FROM crm.leads") leads, $($PSQL -Atc "SELECT count(*) FROM crm.stage_events") events, $($PSQL -Atc "SELECT count(*) FROM bench.forecast_store") stored summaries ($($PSQL -Atc "SELECT pg_size_pretty(pg_total_relation_size('bench.forecast_store'))")), as_of $AS_OF, $RUNS interleaved runs"
for i in $(seq 1 "$RUNS"); do
    for j in 0 1 2 3; do
        q=${queries[$(( (i + j) % 4 ))]}
        t=$(run "$q")
        times[$q]="${times[$q]:-} $t"
        printf '   run %d %-8s %10.1f ms\n' "$i" "$q" "$t"
    done
done

# raw and stored must agree (up to the order in which float sums add up)
bad=$(paste -d'|' "$OUT/forecast_raw.out" "$OUT/forecast_stored.out" | awk -F'|' '
    { n = NF / 2; for (i = 1; i <= n; i++) { a = $i; b = $(i + n);
        if (a != b && (a + 0 == 0 || (a - b) / a > 1e-9 || (b - a) / a > 1e-9)) { bad++; break } } }
    END { print bad + 0 }')
if [ "$bad" != 0 ] || [ "$(wc -l < "$OUT/forecast_raw.out")" != "$(wc -l < "$OUT/forecast_stored.out")" ]; then
    echo "FAIL: the forecast from raw tables and from the store disagree ($bad rows)" >&2
    exit 1
fi

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A med
for q in "${queries[@]}"; do med[$q]=$(echo "${times[$q]}" | median); done
echo "== medians (ms): raw ${med[raw]}, stored ${med[stored]}; floors: events by lead ${med[events]}, store scan ${med[scan]}"
awk -v r="${med[raw]}" -v s="${med[stored]}" -v e="${med[events]}" 'BEGIN {
    printf "   6-month forecast by campaign from raw tables: %.0f ms (target 2000); of it, grouping the stage events by lead: %.0f ms\n", r, e
    printf "   from the stored summaries: %.0f ms (target 100); %.0fx faster than from raw tables\n", s, r / s }'

echo "== backtest, 12 monthly cutoffs before $AS_OF (from the store built for it)"
$PSQL <<SQL > "$OUT/forecast_backtest.txt"
$SETTINGS
DROP TABLE IF EXISTS bench.forecast_bt_store;
CREATE TABLE bench.forecast_bt_store AS
SELECT * FROM close_summaries('bench_forecast', forecast_grid('bench_forecast', '$AS_OF', backtest_cutoffs => 12));
\pset footer off
\echo overall
SELECT method, measure, h, cutoffs, round(actual) AS actual, round(forecast) AS forecast,
       round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo by channel
SELECT method, measure, h, cutoffs, round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', by => 'channel', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo by campaign
SELECT method, measure, h, cutoffs, round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', by => 'campaign', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
SQL
cat "$OUT/forecast_backtest.txt"
