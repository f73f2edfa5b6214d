#!/usr/bin/env bash
# bench/run.sh: times leadkpi's aggregates against the plain SQL a user would
# write for the same figure, and against count(*) over the same rows (the
# scan floor).  Run by `make bench` (test/harness.sh starts the cluster and
# exports PGHOST, PGPORT, PGUSER and PSQL); see bench/README.md.
#
# Environment: BENCH_SCALE leads (2000000), BENCH_ROUNDS timed rounds (7),
# BENCH_DB (leadkpi_bench), BENCH_ONLY (regex on case names), BENCH_JIT (off).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
scale=${BENCH_SCALE:-2000000}
rounds=${BENCH_ROUNDS:-7}
db=${BENCH_DB:-leadkpi_bench}
only=${BENCH_ONLY:-.}
jit=${BENCH_JIT:-off}
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}
out="$here/out"
mkdir -p "$out"

log() { printf '== %s\n' "$*" >&2; }
psql_db() { $PSQL -d "$db" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- data --------------------------------------------------------------------
log "generating $scale leads"
t0=$(date +%s.%N)
psql_db -v scale="$scale" -f "$top/test/data/gen_crm.sql"
t1=$(date +%s.%N)
gen_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "generated in ${gen_s} s"
psql_db -f "$here/setup.sql"
psql_db -c "VACUUM ANALYZE"

# --- cases -------------------------------------------------------------------
# One line per benchmark:
#   bench_case NAME "leadkpi sql" "plain sql" "floor sql" [relative tolerance]
# Each query names its value column v; any other column is a key (e.g.
# campaign) used to compare leadkpi's rows with plain SQL's.  The floor is
# count(*) over the table plain SQL reads, grouped the same way.  The
# tolerance (default 1e-12, i.e. exact but for float rounding) is for figures
# approximate by design, like sketch percentiles.  A case whose leadkpi query
# does not plan yet (function missing) is skipped with a note.
#
# Then, for most cases, a second floor:
#   col_floor NAME "sql"
# count(col) over the furthest column the leadkpi query reads (or the stored
# summary column, for rollups): the cheapest built-in aggregate that has to
# read and deform the same rows.  count(*) reads no column at all, so the gap
# between the two floors is PostgreSQL's own per-row cost of reading a
# value, which no aggregate can avoid.
names=() lk=() plain=() floor=() tol=()
declare -A colfloor=()
bench_case() {
    [[ "$1" =~ $only ]] || return 0
    names+=("$1") lk+=("$2") plain+=("$3") floor+=("$4") tol+=("${5:-1e-12}")
}
col_floor() { colfloor[$1]=$2; }

L=crm.leads
PL=bench.per_lead
CD=bench.campaign_days

# conversion rate, one boolean per lead; count/count is the fastest plain form
bench_case conv_rate_bool \
    "SELECT conversion_rate(converted_at IS NOT NULL) AS v FROM $L" \
    "SELECT count(converted_at)::float8 / count(*) AS v FROM $L" \
    "SELECT count(*) AS v FROM $L"
col_floor conv_rate_bool "SELECT count(converted_at) AS v FROM $L"
# conversion rate from pre-aggregated counts: per campaign-day, and per lead
bench_case conv_rate_counts:days \
    "SELECT conversion_rate(converted, total) AS v FROM $CD" \
    "SELECT sum(converted)::float8 / sum(total) AS v FROM $CD" \
    "SELECT count(*) AS v FROM $CD"
col_floor conv_rate_counts:days "SELECT count(total) AS v FROM $CD"
bench_case conv_rate_counts:leads \
    "SELECT conversion_rate(converted, total) AS v FROM $PL" \
    "SELECT sum(converted)::float8 / sum(total) AS v FROM $PL" \
    "SELECT count(*) AS v FROM $PL"
col_floor conv_rate_counts:leads "SELECT count(total) AS v FROM $PL"
# sales cycle: leadkpi skips NULLs and closes before first contact.  Plain SQL
# filters in WHERE, not FILTER: same figure, up to 2x faster when grouped,
# because only the 10% converted rows reach the hash table.  The grouped
# leadkpi queries filter the same way (WHERE converted_at IS NOT NULL), as a
# user would, so both sides do the same grouping work.  (A group left empty
# is then missing rather than NULL; the check treats both alike.)
bench_case sales_cycle_avg \
    "SELECT sales_cycle_avg(first_contact_at, converted_at) AS v FROM $L" \
    "SELECT avg(converted_at - first_contact_at) AS v FROM $L WHERE converted_at >= first_contact_at" \
    "SELECT count(*) AS v FROM $L"
col_floor sales_cycle_avg "SELECT count(converted_at) AS v FROM $L"
# cost per lead / per order: campaign-day grain, and one row per lead (large enough to time)
bench_case cost_per_lead:days \
    "SELECT cost_per_lead(cost, leads) AS v FROM $CD" \
    "SELECT sum(cost) / sum(leads) AS v FROM $CD" \
    "SELECT count(*) AS v FROM $CD"
col_floor cost_per_lead:days "SELECT count(leads) AS v FROM $CD"
bench_case cost_per_lead:leads \
    "SELECT cost_per_lead(cost, leads) AS v FROM $PL" \
    "SELECT sum(cost) / sum(leads) AS v FROM $PL" \
    "SELECT count(*) AS v FROM $PL"
col_floor cost_per_lead:leads "SELECT count(leads) AS v FROM $PL"
bench_case cost_per_order:days \
    "SELECT cost_per_order(cost, orders) AS v FROM $CD" \
    "SELECT sum(cost) / sum(orders) AS v FROM $CD" \
    "SELECT count(*) AS v FROM $CD"
col_floor cost_per_order:days "SELECT count(orders) AS v FROM $CD"
bench_case cost_per_order:leads \
    "SELECT cost_per_order(cost, orders) AS v FROM $PL" \
    "SELECT sum(cost) / sum(orders) AS v FROM $PL" \
    "SELECT count(*) AS v FROM $PL"
col_floor cost_per_order:leads "SELECT count(orders) AS v FROM $PL"
# grouped by campaign (200 groups)
bench_case conv_rate_by_campaign \
    "SELECT campaign, conversion_rate(converted_at IS NOT NULL) AS v FROM $L GROUP BY campaign" \
    "SELECT campaign, count(converted_at)::float8 / count(*) AS v FROM $L GROUP BY campaign" \
    "SELECT campaign, count(*) AS v FROM $L GROUP BY campaign"
col_floor conv_rate_by_campaign "SELECT campaign, count(converted_at) AS v FROM $L GROUP BY campaign"
bench_case sales_cycle_by_campaign \
    "SELECT campaign, sales_cycle_avg(first_contact_at, converted_at) AS v FROM $L WHERE converted_at IS NOT NULL GROUP BY campaign" \
    "SELECT campaign, avg(converted_at - first_contact_at) AS v FROM $L WHERE converted_at >= first_contact_at GROUP BY campaign" \
    "SELECT campaign, count(*) AS v FROM $L GROUP BY campaign"
col_floor sales_cycle_by_campaign "SELECT campaign, count(converted_at) AS v FROM $L WHERE converted_at IS NOT NULL GROUP BY campaign"
bench_case cost_per_lead_by_campaign \
    "SELECT campaign, cost_per_lead(cost, leads) AS v FROM $PL GROUP BY campaign" \
    "SELECT campaign, sum(cost) / sum(leads) AS v FROM $PL GROUP BY campaign" \
    "SELECT campaign, count(*) AS v FROM $PL GROUP BY campaign"
col_floor cost_per_lead_by_campaign "SELECT campaign, count(leads) AS v FROM $PL GROUP BY campaign"
# Two-step API: kpi_agg builds a summary, accessors read it.  The median is a
# sketch within 1% of percentile_cont, hence the tolerance.
bench_case sales_cycle_median \
    "SELECT sales_cycle_median(kpi_agg(first_contact_at, converted_at)) AS v FROM $L" \
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY converted_at - first_contact_at) AS v FROM $L WHERE converted_at >= first_contact_at" \
    "SELECT count(*) AS v FROM $L" 0.01
col_floor sales_cycle_median "SELECT count(converted_at) AS v FROM $L"
# time to close, won or lost: 1.25M cycles out of 2M leads, where
# percentile_cont has a real sort to do
bench_case time_to_close_median \
    "SELECT sales_cycle_median(kpi_agg(first_contact_at, coalesce(converted_at, lost_at))) AS v FROM $L" \
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(converted_at, lost_at) - first_contact_at) AS v FROM $L WHERE coalesce(converted_at, lost_at) >= first_contact_at" \
    "SELECT count(*) AS v FROM $L" 0.01
col_floor time_to_close_median "SELECT count(lost_at) AS v FROM $L"
bench_case time_to_close_median_by_campaign \
    "SELECT campaign, sales_cycle_median(kpi_agg(first_contact_at, coalesce(converted_at, lost_at))) AS v FROM $L GROUP BY campaign" \
    "SELECT campaign, percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(converted_at, lost_at) - first_contact_at) AS v FROM $L WHERE coalesce(converted_at, lost_at) >= first_contact_at GROUP BY campaign" \
    "SELECT campaign, count(*) AS v FROM $L GROUP BY campaign" 0.01
col_floor time_to_close_median_by_campaign "SELECT campaign, count(lost_at) AS v FROM $L GROUP BY campaign"
bench_case sales_cycle_median_by_campaign \
    "SELECT campaign, sales_cycle_median(kpi_agg(first_contact_at, converted_at)) AS v FROM $L WHERE converted_at IS NOT NULL GROUP BY campaign" \
    "SELECT campaign, percentile_cont(0.5) WITHIN GROUP (ORDER BY converted_at - first_contact_at) AS v FROM $L WHERE converted_at >= first_contact_at GROUP BY campaign" \
    "SELECT campaign, count(*) AS v FROM $L GROUP BY campaign" 0.01
col_floor sales_cycle_median_by_campaign "SELECT campaign, count(converted_at) AS v FROM $L WHERE converted_at IS NOT NULL GROUP BY campaign"
# rollup: merge stored per-campaign-month summaries (bench.campaign_months)
# instead of rescanning the leads; plain SQL and the floor must read the leads.
bench_case rollup_conv_rate_by_channel \
    "SELECT channel, conversion_rate(rollup(s)) AS v FROM bench.campaign_months GROUP BY channel" \
    "SELECT channel, count(converted_at)::float8 / count(*) AS v FROM $L GROUP BY channel" \
    "SELECT channel, count(*) AS v FROM $L GROUP BY channel"
col_floor rollup_conv_rate_by_channel "SELECT channel, count(s) AS v FROM bench.campaign_months GROUP BY channel"
bench_case rollup_cycle_median_by_channel \
    "SELECT channel, sales_cycle_median(rollup(s)) AS v FROM bench.campaign_months GROUP BY channel" \
    "SELECT channel, percentile_cont(0.5) WITHIN GROUP (ORDER BY converted_at - first_contact_at) AS v FROM $L WHERE converted_at >= first_contact_at GROUP BY channel" \
    "SELECT channel, count(*) AS v FROM $L GROUP BY channel" 0.01
col_floor rollup_cycle_median_by_channel "SELECT channel, count(s) AS v FROM bench.campaign_months GROUP BY channel"
# The issue's headline rollup case: every KPI by campaign over two years,
# answered from the daily materialized summary, against the same figures from
# the raw tables in plain SQL (leads and spend).
bench_case kpi_report_by_campaign:rollup \
    "SELECT campaign, leads(s) AS v_leads, conversions(s) AS v_conversions, conversion_rate(s) AS v_rate,
            sales_cycle_avg(s) AS v_cycle_avg, sales_cycle_median(s) AS v_approx_cycle_median,
            cost(s) AS v_cost, cost_per_lead(s) AS v_cpl, cost_per_order(s) AS v_cpo, revenue(s) AS v_revenue
     FROM (SELECT campaign, rollup(s) AS s FROM bench.kpi_daily
           WHERE day >= date '2024-01-01' AND day < date '2026-01-01' GROUP BY campaign) r" \
    "SELECT campaign, l.leads AS v_leads, l.conversions AS v_conversions,
            l.conversions::float8 / l.leads AS v_rate, l.cycle_avg AS v_cycle_avg, l.cycle_median AS v_approx_cycle_median,
            s.cost AS v_cost, s.cost / l.leads AS v_cpl, s.cost / nullif(l.conversions, 0) AS v_cpo, l.revenue AS v_revenue
     FROM (SELECT campaign, count(*) AS leads, count(converted_at) AS conversions,
                  avg(converted_at - first_contact_at) FILTER (WHERE converted_at >= first_contact_at) AS cycle_avg,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY converted_at - first_contact_at)
                      FILTER (WHERE converted_at >= first_contact_at) AS cycle_median,
                  sum(revenue) FILTER (WHERE converted_at IS NOT NULL) AS revenue
           FROM $L WHERE first_contact_at >= timestamptz '2024-01-01 00:00+00'
                     AND first_contact_at < timestamptz '2026-01-01 00:00+00' GROUP BY campaign) l
     LEFT JOIN (SELECT campaign, sum(amount) AS cost FROM crm.spend
                WHERE day >= date '2024-01-01' AND day < date '2026-01-01' GROUP BY campaign) s USING (campaign)" \
    "SELECT campaign, count(*) AS v FROM $L GROUP BY campaign" 0.01
col_floor kpi_report_by_campaign:rollup "SELECT campaign, count(s) AS v FROM bench.kpi_daily
     WHERE day >= date '2024-01-01' AND day < date '2026-01-01' GROUP BY campaign"

# Hook, to enable when sql/funnel.sql exists on main: funnel_agg(...) /
# window_funnel(...) over crm.stage_events, against the self-join per stage a
# user would write, floor count(*) over crm.stage_events:
# bench_case funnel_by_campaign "SELECT ... funnel_agg(...) ..." "SELECT ... joins ..." \
#     "SELECT count(*) AS v FROM crm.stage_events"

# --- which cases can run ---------------------------------------------------------
run=()
for i in "${!names[@]}"; do
    if err=$(psql_db -c "EXPLAIN ${lk[$i]}" 2>&1 >/dev/null); then
        run+=("$i")
    else
        log "skipping ${names[$i]}: ${err##*ERROR:  }"
    fi
done
[ ${#run[@]} -gt 0 ] || { log "no case can run (is leadkpi installed in $db?)"; exit 1; }

# --- one SQL script: check, then warm-up and interleaved rounds ------------------
# Rounds interleave leadkpi, plain and the floors (A,B,C,D,A,B,C,D,...) so drift in the
# machine's speed hits them all alike.  JIT is off by default: its compile
# time depends on the expression, not on the aggregate, and adds noise.
q() { printf '$bq$%s$bq$' "$1"; }
{
    echo "SET jit = $jit;"
    for mode in serial parallel2; do
        if [ "$mode" = serial ]; then
            echo "SET max_parallel_workers_per_gather = 0;"
        else
            echo "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;"
            echo "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"
        fi
        for i in "${run[@]}"; do
            n=${names[$i]}
            echo "SELECT bench.check('$mode', '$n', $(q "${lk[$i]}"), $(q "${plain[$i]}"), ${tol[$i]});"
            for r in $(seq 0 "$rounds"); do
                echo "SELECT bench.record('$mode', '$n', $r, 'leadkpi', $(q "${lk[$i]}"));"
                echo "SELECT bench.record('$mode', '$n', $r, 'plain', $(q "${plain[$i]}"));"
                echo "SELECT bench.record('$mode', '$n', $r, 'floor', $(q "${floor[$i]}"));"
                if [ -n "${colfloor[$n]:-}" ]; then
                    echo "SELECT bench.record('$mode', '$n', $r, 'colfloor', $(q "${colfloor[$n]}"));"
                fi
            done
        done
    done
} > "$work/run.sql"

log "timing ${#run[@]} cases x 2 modes x $rounds rounds (+1 warm-up)"
psql_db -o /dev/null -f "$work/run.sql"

# --- report ----------------------------------------------------------------------
summary="$out/summary.txt"
{
    echo "leadkpi benchmark: $scale leads, $rounds rounds after 1 warm-up, jit=$jit"
    echo "commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'), $($PSQL -d "$db" -Atc 'SHOW server_version'), $(nproc) CPUs, generator ${gen_s} s"
    echo "times: median server-side Execution Time of EXPLAIN (ANALYZE, TIMING OFF), ms"
    echo "floor = count(*) over the rows plain SQL reads; colfloor = count(col) over the furthest column leadkpi reads"
    echo
    $PSQL -d "$db" -P footer=off <<'SQL'
SELECT r.mode, r.name,
       round(m.leadkpi::numeric, 1) AS leadkpi_ms,
       round(m.plain::numeric, 1)   AS plain_ms,
       round(m.floor::numeric, 1)   AS floor_ms,
       round(m.colfloor::numeric, 1) AS colfloor_ms,
       round((m.leadkpi / nullif(m.plain, 0))::numeric, 2) AS "leadkpi/plain",
       round((m.leadkpi / nullif(m.floor, 0))::numeric, 2) AS "leadkpi/count",
       round((m.colfloor / nullif(m.floor, 0))::numeric, 2) AS "count(col)/count",
       round((m.leadkpi / nullif(m.colfloor, 0))::numeric, 2) AS "leadkpi/count(col)",
       m.workers,
       round(100 * n.spread) AS "noise %",
       CASE WHEN c.bad > 0 THEN 'MISMATCH'
            WHEN c.inexact > 0 THEN 'equal (last digits)'
            ELSE 'equal' END AS result
FROM (SELECT DISTINCT mode, name FROM bench.results) r
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'leadkpi') AS leadkpi,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'plain') AS plain,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'floor') AS floor,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'colfloor') AS colfloor,
           max(workers) AS workers
    FROM bench.results x
    WHERE x.mode = r.mode AND x.name = r.name AND x.round > 0) m
-- the widest (max - min) / median of the three queries over the rounds:
-- a shared machine shows here, and ratios below it are not a difference
CROSS JOIN LATERAL (
    SELECT max(sp) AS spread FROM (
        SELECT (max(ms) - min(ms)) / nullif(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 0) AS sp
        FROM bench.results x
        WHERE x.mode = r.mode AND x.name = r.name AND x.round > 0
        GROUP BY kind) k) n
LEFT JOIN bench.checks c USING (mode, name)
ORDER BY r.mode DESC, r.name;
SQL
    # what "equal (last digits)" hid, so a reader can judge it
    $PSQL -d "$db" -Atc "SELECT 'note: ' || mode || ' ' || name || ': ' || inexact || ' row(s) equal within tolerance, e.g. ' || left(sample, 160) FROM bench.checks WHERE bad = 0 AND inexact > 0 ORDER BY mode DESC, name"
} | tee "$summary"
psql_db -c "\\copy bench.results TO '$out/raw.csv' CSV HEADER"

bad=$(psql_db -Atc "SELECT count(*) FROM bench.checks WHERE bad > 0")
if [ "$bad" != 0 ]; then
    {
        echo
        echo "!!!!!! MISMATCH: leadkpi and plain SQL disagree !!!!!!"
        psql_db -Atc "SELECT mode || ' ' || name || ': ' || bad || ' row(s); ' || sample FROM bench.checks WHERE bad > 0"
    } | tee -a "$summary" >&2
    exit 1
fi
log "results in $out/"

# The funnel benchmark has its own script (its plain SQL needs work_mem for
# in-memory sorts); it reads the same generated data.
if [[ funnel =~ $only ]]; then
    log "funnel benchmark"
    BENCH_DB="$db" BENCH_OUT="$out" bash "$here/funnel.sh" | tee "$out/funnel_summary.txt"
fi

# The forecast benchmark (bench/forecast.sh): a 6-month forecast by campaign
# from the raw tables and from stored close summaries, and the backtest table.
if [[ forecast =~ $only ]]; then
    log "forecast benchmark"
    BENCH_DB="$db" BENCH_OUT="$out" bash "$here/forecast.sh" | tee "$out/forecast_summary.txt"
fi
