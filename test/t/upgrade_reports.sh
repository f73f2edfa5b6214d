#!/usr/bin/env bash
# TAP: reports made by 0.1.0 across ALTER EXTENSION leadkpi UPDATE.  An 0.1.0
# install with plain and materialized reports and a user's view on them is
# updated; the old reports keep their figures, the materialized ones refresh,
# report_html() reads them, and a re-run of create_reports gives 0.2.0's
# reports with the user's view kept.  (The catalog of an updated install
# against a fresh one is test/t/upgrade.sh's.)
# Runs against the cluster test/harness.sh started (PGHOST etc. exported).
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=leadkpi_upgrade_reports
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

echo "1..7"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db -c "CREATE EXTENSION leadkpi VERSION '0.1.0'"
psql -d $db -v scale=600 -f "$top/test/data/gen_crm.sql"
# the crm.leads revenue is numeric(12,2): 0.1.0 kept the typmod in report_leads
psql -d $db <<'SQL' >/dev/null
SET client_min_messages = warning;
SELECT create_reports('up_r', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], funnel_modes => 'crm_backfill', time_zone => 'UTC');
SELECT create_reports('up_m', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], funnel_modes => 'crm_backfill', time_zone => 'UTC',
    materialized => true);
CREATE VIEW public.my_tile AS SELECT leads, conversions, cost FROM up_r.kpi_overview;
CREATE VIEW public.my_funnel AS SELECT stage, reached FROM up_r.funnel_report;
SQL
figures="SELECT (SELECT row(t.*)::text FROM public.my_tile t), (SELECT string_agg(row(f.*)::text, ',' ORDER BY f.reached DESC) FROM public.my_funnel f),
                (SELECT row(leads, conversions, cost)::text FROM up_m.kpi_overview)"
before=$(psql -d $db -At -c "$figures")

if psql -d $db -c "ALTER EXTENSION leadkpi UPDATE" && [ "$(psql -d $db -At -c "SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'")" = 0.2.0 ]; then
    ok 0 "ALTER EXTENSION leadkpi UPDATE moves 0.1.0 to 0.2.0"
else
    ok 1 "ALTER EXTENSION leadkpi UPDATE moves 0.1.0 to 0.2.0"
fi
after=$(psql -d $db -At -c "$figures")
[ -n "$before" ] && [ "$before" = "$after" ]; ok $? "0.1.0's reports and the user's views give the same figures after the update"
psql -d $db -c "SELECT refresh_reports('up_m')" >/dev/null && [ "$(psql -d $db -At -c "$figures")" = "$before" ]
ok $? "0.1.0's materialized reports refresh under 0.2.0"
err=$(psql -d $db -At -c "SELECT report_html('up_r')" 2>&1 || true)
grep -q "ERROR:  leadkpi: the reports in schema up_r were made by an earlier leadkpi" <<<"$err" && grep -q "HINT:  Re-run create_reports" <<<"$err"
ok $? "report_html() on 0.1.0's reports says to re-run create_reports"

# a re-run: 0.1.0's report_leads kept revenue as numeric(12,2), 0.2.0 reads
# it as numeric, so the views under my_tile cannot be replaced in place;
# leadkpi's error names the view, without CASCADE
err=$(psql -d $db -c "SELECT create_reports('up_r', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], funnel_modes => 'crm_backfill', time_zone => 'UTC')" 2>&1 || true)
grep -q 'objects of yours depend on the reports in schema up_r: public.my_funnel (on up_r.funnel_report), public.my_tile (on up_r.kpi_overview)' <<<"$err" \
    && ! grep -qi cascade <<<"$err"
ok $? "a re-run over 0.1.0's reports with users' views names them (2BP01), never suggesting CASCADE"
# the way out the hint gives: save the views, drop them, re-run, re-create
psql -d $db <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE TEMP TABLE saved AS SELECT c.oid::regclass::text AS v, pg_get_viewdef(c.oid) AS def FROM pg_class c
 WHERE c.oid IN ('public.my_tile'::regclass, 'public.my_funnel'::regclass);
DROP VIEW public.my_tile, public.my_funnel;
SELECT create_reports('up_r', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], funnel_modes => 'crm_backfill', time_zone => 'UTC');
DO $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM saved LOOP EXECUTE format('CREATE VIEW %s AS %s', r.v, r.def); END LOOP; END $$;
SQL
[ "$(psql -d $db -At -c "$figures")" = "$before" ] \
    && [ "$(psql -d $db -At -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'up_r.kpi_overview'::regclass AND attname = 'cost_matched'")" = 1 ]
ok $? "saved, dropped, re-run and re-created: 0.2.0's reports (cost_matched) under the user's views, same figures"
# the re-runs add the forecast views; the materialized schema (0.1.0's
# materialized views) gets the forecast stores; each agrees with
# forecast_closings, the materialized one as of its refresh
psql -d $db -c "SET client_min_messages = warning; SELECT count(*) FROM create_reports('up_m', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], funnel_modes => 'crm_backfill', time_zone => 'UTC', materialized => true)" >/dev/null
cols="period_start, h, closings, closings_low, closings_high, revenue, open_leads, stale_leads"
[ "$(psql -d $db -At -c "SET client_min_messages = warning;
    SELECT (SELECT count(*) FROM up_r.forecast_by_month) = 6
       AND NOT EXISTS (SELECT $cols FROM up_r.forecast_by_month EXCEPT SELECT $cols FROM forecast_closings('up_r'))
       AND NOT EXISTS (SELECT $cols FROM up_m.forecast_by_month EXCEPT SELECT $cols FROM forecast_closings('up_r',
                       as_of => (SELECT max(w.snapshot) FROM close_windows((SELECT summary FROM up_m.forecast_month_summaries LIMIT 1)) AS w)))
       AND (SELECT count(*) FROM up_m.forecast_month_summaries) > 0
       AND (SELECT count(*) FROM up_m.forecast_by_campaign) = (SELECT count(*) FROM up_r.forecast_by_campaign)")" = t ]
ok $? "after the update, re-run reports have the forecast views (materialized: over the forecast stores), equal to forecast_closings"
psql -d postgres -c "DROP DATABASE $db"
