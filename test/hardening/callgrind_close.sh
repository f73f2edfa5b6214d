#!/usr/bin/env bash
# test/hardening/callgrind_close.sh: instruction counts of the close
# forecast's per-row paths (close_agg's transition, close_agg_segments'
# transition and final), for A/B comparisons the way callgrind.sh does it:
# a single-user backend under callgrind, counting only the executor.
#
# Data: test/data/gen_crm.sql at CG_SCALE leads (default 100000), through
# create_reports, copied into plain tables so that the counts are the
# aggregates' and not the canonical views'.
#
#   bash test/hardening/callgrind_close.sh
# Run the same script in another tree (e.g. `git archive main | tar -x -C
# /tmp/base`) for the figures to compare with.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/hardening/callgrind_lib.sh"
cg_start

lk_log "making the data"
"${psql[@]}" -v scale="${CG_SCALE:-100000}" -f test/data/gen_crm.sql >/dev/null
"${psql[@]}" <<'SQL'
CREATE EXTENSION IF NOT EXISTS leadkpi;
SET client_min_messages = warning;
SELECT count(*) FROM create_reports('r', leads => 'crm.leads', stage_events => 'crm.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'UTC') \g /dev/null
CREATE TABLE grid AS SELECT forecast_grid('r', '2025-12-01') AS g;
CREATE TABLE cl AS
SELECT l.lead_id, l.first_contact_at, l.converted_at, l.lost_at, l.revenue, l.campaign, l.channel,
       c.expected_revenue::numeric AS amount, x.reached
  FROM r.report_leads l JOIN crm.leads c USING (lead_id)
  LEFT JOIN (SELECT lead_id, stage_reach(step, occurred_at) AS reached FROM r.report_stage_events GROUP BY lead_id) x
    USING (lead_id);
CREATE TABLE cu AS
SELECT lead_id, NULL::integer AS step, NULL::timestamptz AS occurred_at, first_contact_at, converted_at, lost_at,
       revenue, amount, campaign, channel FROM cl
UNION ALL
SELECT lead_id, step, occurred_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM r.report_stage_events;
VACUUM ANALYZE;
SQL
cg_stop

# name|rows read|query
queries=(
    "close_agg|cl|SELECT leads(close_agg(first_contact_at, converted_at, lost_at, revenue, reached, amount, (SELECT g FROM grid))) FROM cl"
    "close_agg_by_campaign|cl|SELECT sum(leads(s)) FROM (SELECT campaign, close_agg(first_contact_at, converted_at, lost_at, revenue, reached, amount, (SELECT g FROM grid)) AS s FROM cl GROUP BY 1) x"
    "close_agg_segments|cu|SELECT cardinality(close_agg_segments(lead_id, step, occurred_at, first_contact_at, converted_at, lost_at, revenue, amount, campaign, channel, NULL::date, (SELECT g FROM grid))) FROM cu"
)
cg_queries "${queries[@]}"
