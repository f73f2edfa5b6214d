#!/usr/bin/env bash
# test/hardening/callgrind.sh: instruction counts of leadkpi's hot paths, for
# A/B comparisons of a change on a shared, noisy machine (wall time is not
# comparable there; instructions are, to a fraction of a percent).
#
# Builds this tree into a private install (test/lib/cluster.sh), makes the
# data below, stops the server, then runs each query in a single-user
# backend under `valgrind --tool=callgrind`, counting only the executor
# (standard_ExecutorRun and what it calls: no parsing, planning or start-up).
# Prints one line per query: instructions, and instructions per input row.
#
#   bash test/hardening/callgrind.sh            # every query
#   CG_ONLY=rollup bash test/hardening/callgrind.sh   # names matching a regex
# In another tree (e.g. `git worktree add /tmp/base main`), the same script
# gives the figures to compare with.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/hardening/callgrind_lib.sh"
cg_start

# ~130k stored daily kpi_summaries (200 campaigns, 650 days, a few leads and
# cycles of hours to weeks each), 1M funnel events of 250k entities and
# their ~130k daily funnel_summaries (200 campaigns, 650 cohorts).
lk_log "making the data"
"${psql[@]}" <<'SQL'
CREATE EXTENSION leadkpi;
CREATE TABLE leads AS
SELECT g % 200 AS campaign, date '2023-01-01' + (g / 200) % 650 AS day,
       timestamptz '2023-01-01' + (g / 200) % 650 * interval '1 day' + g % 86400 * interval '1 second' AS first_contact,
       CASE WHEN g % 3 = 0 THEN timestamptz '2023-01-01' + (g / 200) % 650 * interval '1 day'
                                + (g::bigint * 7919 % 2000000) * interval '1 second' END AS converted_at,
       CASE WHEN g % 6 = 0 THEN (g % 1000) * 1.25 END AS revenue
FROM generate_series(1, 520000) g;
CREATE TABLE kpi_daily AS
SELECT campaign, day, kpi_agg(first_contact, converted_at, revenue) AS s FROM leads GROUP BY 1, 2;
CREATE TABLE events AS
SELECT g / 4 AS entity, (g / 4) % 200 AS campaign, (g / 4 / 200) % 650 AS cohort,
       timestamptz '2023-01-01' + (g / 4 / 200) % 650 * interval '1 day' + (g % 4) * interval '2 days'
           + (g::bigint * 7919 % 86400) * interval '1 second' AS ts,
       g % 4 + 1 AS step
FROM generate_series(1, 1000000) g;
CREATE TABLE funnel_daily AS
SELECT campaign, cohort, funnel_agg(entity, ts, step, interval '7 days', NULL::text, 4) AS f
FROM events GROUP BY 1, 2;
VACUUM ANALYZE;
SQL
"${psql[@]}" -Atc "SELECT 'kpi_daily ' || count(*) || ' rows, ' || round(avg(pg_column_size(s))) || ' bytes each' FROM kpi_daily
                   UNION ALL SELECT 'funnel_daily ' || count(*) || ' rows, ' || round(avg(pg_column_size(f))) || ' bytes each' FROM funnel_daily" >&2
cg_stop

# name|rows read|query
queries=(
    "rollup_kpi|kpi_daily|SELECT rollup(s) FROM kpi_daily"
    "rollup_kpi_by_campaign|kpi_daily|SELECT campaign, rollup(s) FROM kpi_daily GROUP BY campaign"
    "kpi_accessors|kpi_daily|SELECT sum(leads(s)), sum(cost(s)), count(sales_cycle_median(s)) FROM kpi_daily"
    "kpi_agg|leads|SELECT kpi_agg(first_contact, converted_at, revenue) FROM leads"
    "kpi_agg_by_day|leads|SELECT day, kpi_agg(first_contact, converted_at, revenue) FROM leads GROUP BY day"
    "kpi_agg_by_campaign_day|leads|SELECT sum(pg_column_size(s)) FROM (SELECT campaign, day, kpi_agg(first_contact, converted_at, revenue) AS s FROM leads GROUP BY 1, 2) x"
    "kpi_text_out|kpi_daily|SELECT sum(length(s::text)) FROM kpi_daily"
    "kpi_eq|kpi_daily|SELECT count(*) FROM kpi_daily WHERE s = s"
    "rollup_funnel|funnel_daily|SELECT rollup(f) FROM funnel_daily"
    "rollup_funnel_by_campaign|funnel_daily|SELECT campaign, rollup(f) FROM funnel_daily GROUP BY campaign"
    "funnel_accessors|funnel_daily|SELECT sum(reached(f, 2)), count(time_to_convert_median(f, 2)) FROM funnel_daily"
    "funnel_agg|events|SELECT funnel_agg(entity, ts, step, interval '7 days') FROM events"
)
cg_queries "${queries[@]}"
