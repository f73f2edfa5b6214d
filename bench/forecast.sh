#!/usr/bin/env bash
# bench/forecast.sh: the forecast benchmark.  Runs against an already-running
# cluster (PGHOST, PGPORT, PGUSER exported; a superuser, to read the serving
# backend's CPU time from /proc) whose database $BENCH_DB (default
# leadkpi_bench) has leadkpi and the crm schema of test/data/gen_crm.sql:
#
#   psql -d leadkpi_bench -v scale=2000000 -f test/data/gen_crm.sql
#   bash bench/forecast.sh
#
# Creates reports over crm (schema bench_forecast) and a store of close
# summaries per campaign and channel (bench.forecast_store, on the grid
# forecast_closings uses), then interleaves RUNS times (default 5), each
# query once with the parallel plan PostgreSQL picks (2 workers; wall time)
# and once serially (the serving backend's CPU time, steadier on a shared
# machine, and its wall time), each in a session warmed up by one forecast
# from the store:
#   raw     forecast_closings by campaign, 6 months, from the raw tables
#   stored  the same from the store
#   read    what a forecast from raw tables must read: the leads and the
#           stage events through the canonical views, the columns it uses
#           (a floor for "raw")
#   build   the summaries per campaign and channel from the raw tables, one
#           pass of close_agg_segments (raw without the method)
#   events  the stage events grouped by lead with stage_reach (the first
#           step of the forecast before 0.2.0's one-pass aggregate)
#   scan    every stored summary read and detoasted, sum(leads(summary))
#           (a floor for "stored")
# and prints medians.  It fails unless raw and stored give the same
# forecast.  Then the backtest tables go to $BENCH_OUT/forecast_backtest.txt:
# monthly, 12 cutoffs (overall, by channel, by campaign, and overall with
# stale_after => '90 days'), and weekly, 26 cutoffs (BENCH_NO_BACKTEST=1:
# timings only).
set -euo pipefail
cd "$(dirname "$0")"
DB=${BENCH_DB:-leadkpi_bench}
RUNS=${RUNS:-5}
OUT=${BENCH_OUT:-out}
AS_OF=${FORECAST_AS_OF:-2026-01-01 00:00+00}
WEEK_AS_OF=${FORECAST_WEEK_AS_OF:-2025-12-29 00:00+00}
mkdir -p "$OUT"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"
# the same session settings for every query: JIT off (its compile time is
# noise here), the default plans with up to 2 workers
SETTINGS="SET max_parallel_workers_per_gather = 2; SET jit = off; SET client_min_messages = warning;"
SERIAL="SET max_parallel_workers_per_gather = 0;"
# the CPU time of this backend (nanoseconds on a CPU, from the scheduler:
# /proc/PID/schedstat, finer than /proc/PID/stat's 10 ms ticks), and the clock
MARK="SELECT 'mark ' || split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1) || ' ' || extract(epoch FROM clock_timestamp());"

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
sql[read]="SELECT count(lead_id), count(first_contact_at), count(converted_at), count(lost_at), count(revenue), count(campaign), count(channel) FROM bench_forecast.report_leads; SELECT count(lead_id), count(step), count(occurred_at) FROM bench_forecast.report_stage_events"
sql[build]="SELECT cardinality(close_agg_segments(u.lead_id, u.step, u.occurred_at, u.first_contact_at, u.converted_at, u.lost_at, u.revenue, NULL::numeric, u.campaign, u.channel, NULL::date, (SELECT forecast_grid('bench_forecast', '$AS_OF')))) FROM (SELECT lead_id, NULL::integer AS step, NULL::timestamptz AS occurred_at, first_contact_at, converted_at, lost_at, revenue, campaign, channel FROM bench_forecast.report_leads UNION ALL SELECT lead_id, step, occurred_at, NULL, NULL, NULL, NULL, NULL, NULL FROM bench_forecast.report_stage_events) u"
sql[events]="SELECT count(r) FROM (SELECT lead_id, stage_reach(step, occurred_at) AS r FROM bench_forecast.report_stage_events GROUP BY lead_id) x"
sql[scan]="SELECT sum(leads(summary)) FROM bench.forecast_store"
queries=(raw stored read build events scan)
declare -A wall cpu swall

# run <name> <serial?>: prints "wall_ms cpu_ms" of the query (cpu: the serving
# backend's), saves raw/stored rows.  Each runs in a session warmed up by a
# forecast from the store (as a BI tool's pooled connection is): the
# functions compiled, the catalogs cached.
WARMUP="SELECT count(*) FROM forecast_closings('bench_forecast', by => 'campaign', summaries => 'bench.forecast_store') \\g /dev/null"
run() {
    local q=$1 mode=$2 o=/dev/null
    [ "$mode" = parallel ] && { [ "$q" = raw ] || [ "$q" = stored ]; } && o="$OUT/forecast_$q.out"
    { echo "$SETTINGS"; [ "$mode" = serial ] && echo "$SERIAL"; echo "$WARMUP"; echo "$MARK"; echo "\\o $o"; echo "${sql[$q]};"; echo "\\o"; echo "$MARK"; } \
        | $PSQL -At 2>&1 | awk '/^mark/ { if (n++) printf "%.1f %.1f\n", ($3 - w) * 1000, ($2 - c) / 1e6; c = $2; w = $3 }
                                         /ERROR/ { print > "/dev/stderr"; exit 1 }'
}

echo "== forecast benchmark on $DB: $($PSQL -Atc "SELECT count(*) FROM crm.leads") leads, $($PSQL -Atc "SELECT count(*) FROM crm.stage_events") events, $($PSQL -Atc "SELECT count(*) FROM bench.forecast_store") stored summaries ($($PSQL -Atc "SELECT pg_size_pretty(pg_total_relation_size('bench.forecast_store'))") on disk, $($PSQL -Atc "SELECT pg_size_pretty(sum(octet_length(close_summary_send(summary)))) FROM bench.forecast_store") unpacked), as_of $AS_OF, $RUNS interleaved runs"
for i in $(seq 1 "$RUNS"); do
    for j in $(seq 0 $(( ${#queries[@]} - 1 ))); do
        q=${queries[$(( (i + j) % ${#queries[@]} ))]}
        read -r w _ < <(run "$q" parallel) || { echo "query $q failed" >&2; exit 1; }
        read -r sw c < <(run "$q" serial) || { echo "query $q failed" >&2; exit 1; }
        wall[$q]="${wall[$q]:-} $w"; swall[$q]="${swall[$q]:-} $sw"; cpu[$q]="${cpu[$q]:-} $c"
        printf '   run %d %-7s parallel %9.1f ms wall; serial %9.1f ms wall, %9.1f ms CPU\n' "$i" "$q" "$w" "$sw" "$c"
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
echo "== medians (ms)        parallel wall   serial wall   serial CPU"
for q in "${queries[@]}"; do
    printf '   %-8s %18.0f %13.0f %12.0f\n' "$q" "$(echo "${wall[$q]}" | median)" "$(echo "${swall[$q]}" | median)" "$(echo "${cpu[$q]}" | median)"
done
awk -v r="$(echo "${wall[raw]}" | median)" -v s="$(echo "${wall[stored]}" | median)" \
    -v rc="$(echo "${cpu[raw]}" | median)" -v sc="$(echo "${cpu[stored]}" | median)" -v fc="$(echo "${cpu[read]}" | median)" 'BEGIN {
    printf "   6-month forecast by campaign from raw tables: %.0f ms wall (target 2000), %.0f ms CPU serially, %.1fx reading its inputs\n", r, rc, rc / fc
    printf "   from the stored summaries: %.0f ms wall (target 100), %.0f ms CPU; %.0fx faster than from raw tables\n", s, sc, r / s }'

[ -n "${BENCH_NO_BACKTEST:-}" ] && exit 0
echo "== backtests"
$PSQL <<SQL > "$OUT/forecast_backtest.txt"
$SETTINGS
DROP TABLE IF EXISTS bench.forecast_bt_store, bench.forecast_wk_store;
CREATE TABLE bench.forecast_bt_store AS
SELECT * FROM close_summaries('bench_forecast', forecast_grid('bench_forecast', '$AS_OF', backtest_cutoffs => 12));
CREATE TABLE bench.forecast_wk_store AS
SELECT * FROM close_summaries('bench_forecast', forecast_grid('bench_forecast', '$WEEK_AS_OF', period => 'week', horizon => 4,
                                                              backtest_cutoffs => 26));
\pset footer off
\echo monthly, 12 cutoffs before $AS_OF, overall
SELECT method, measure, h, cutoffs, round(actual) AS actual, round(forecast) AS forecast,
       round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo by channel
SELECT method, measure, h, cutoffs, round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', by => 'channel', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo by campaign
SELECT method, measure, h, cutoffs, round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', by => 'campaign', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo overall, stale_after => '90 days'
SELECT method, measure, h, cutoffs, round(actual) AS actual, round(forecast) AS forecast,
       round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', stale_after => '90 days', summaries => 'bench.forecast_bt_store') ORDER BY measure, h, method;
\echo weekly, 26 cutoffs before $WEEK_AS_OF, overall
SELECT method, measure, h, cutoffs, round(actual) AS actual, round(forecast) AS forecast,
       round(wape::numeric, 3) AS wape, round(bias::numeric, 3) AS bias, round(coverage::numeric, 2) AS coverage
FROM forecast_backtest('bench_forecast', period => 'week', horizon => 4, cutoffs => 26, summaries => 'bench.forecast_wk_store')
ORDER BY measure, h, method;
\echo weekly, the windows that ended by 2025-12-01 (before the December slip)
SELECT method, measure, h, count(DISTINCT cutoff) AS cutoffs, round(sum(actual)) AS actual, round(sum(forecast)) AS forecast,
       round((sum(abs(actual - forecast)) / sum(actual))::numeric, 3) AS wape,
       round((sum(forecast - actual) / sum(actual))::numeric, 3) AS bias
FROM forecast_backtest_detail('bench_forecast', period => 'week', horizon => 4, cutoffs => 26, summaries => 'bench.forecast_wk_store')
WHERE cutoff + h * interval '1 week' <= '2025-12-01' AND measure = 'closings'
GROUP BY 1, 2, 3 ORDER BY measure, h, method;
SQL
cat "$OUT/forecast_backtest.txt"
