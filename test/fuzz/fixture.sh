#!/usr/bin/env bash
# test/fuzz/fixture.sh DB: fills DB (which must exist) with every leadkpi
# type, aggregate input, report schema (plain and materialized) and preset,
# for sqlsmith and the fuzzers.  Needs PGHOST/PGPORT/PGUSER and $PSQL.
#
# The presets' fixtures are the pgTAP files' own hand-made tables: each
# test/pgtap/reports_*.sql runs with its closing ROLLBACK turned into COMMIT
# (and cut before a DROP EXTENSION), so what it created (source tables,
# canonical views, report views, stores) stays.  Their TAP output is discarded; `make test` judges those files.
set -euo pipefail
db=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
q() { $PSQL -d "$db" "$@"; }

q -c "CREATE EXTENSION IF NOT EXISTS pgtap; CREATE EXTENSION IF NOT EXISTS leadkpi;"
for f in "$top"/test/pgtap/reports_*.sql; do
    awk '/DROP EXTENSION/ {exit} /^ROLLBACK;$/ {next} {print} END {print "COMMIT;"}' "$f" | $PSQL -d "$db" -v ON_ERROR_STOP=0 >/dev/null 2>&1 || true
done

# the generated CRM, with reports over it in both forms
PGOPTIONS="-c client_min_messages=warning" q -v scale="${FIXTURE_SCALE:-2000}" -f "$top/test/data/gen_crm.sql" >/dev/null
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT count(*) FROM create_reports('rep_plain', leads => 'crm.leads', stage_events => 'crm.stage_events',
    spend => 'crm.spend', orders => 'crm.orders', stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'],
    conversion_window => '180 days', funnel_modes => 'crm_backfill');
SELECT count(*) FROM create_reports('rep_mat', leads => 'crm.leads', stage_events => 'crm.stage_events',
    spend => 'crm.spend', orders => 'crm.orders', stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'],
    conversion_window => '30 days', materialized => true);
SELECT count(*) FROM refresh_reports('rep_mat');

-- every aggregate's argument types as columns, and stored summaries of both
-- types, so that random queries find leadkpi's functions applicable
CREATE SCHEMA fz;
CREATE TABLE fz.events AS
SELECT (g % 300)::bigint AS entity_id, (g % 97)::text AS entity_text,
       md5((g % 97)::text)::uuid AS entity_uuid,
       timestamptz '2024-01-01 00:00+00' + (g % 300) * interval '1 hour' + ((g * 31 % 5) + 1) * interval '7 hours'
           + (g / 300) * interval '1 minute' AS ts,
       (timestamp '2024-01-01 00:00' + (g * 104729 % 100000) * interval '1 minute') AS ts_local,
       (g * 31 % 5) + 1 AS step, (ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'])[g % 6] AS stage,
       ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'] AS stages,
       interval '3 days' AS win, 'strict_order'::text AS modes, 5 AS nsteps,
       ARRAY[g % 2 = 0, g % 3 = 0, g % 5 = 0] AS flags, (g * 7) % 100 AS tick,
       CASE WHEN g % 3 = 0 THEN timestamptz '2024-01-01 00:00+00' + (g % 300) * interval '1 hour'
                                 + (g % 40) * interval '1 day 3 hours' END AS converted_at,
       date '2024-01-01' + g % 300 AS day, date '2024-01-01' + g % 300 + g % 30 AS close_day,
       round((g % 1000) / 7.0, 2) AS amount, (g % 11)::bigint AS cnt, g % 2 = 0 AS won
FROM generate_series(1, 3000) g;
CREATE TABLE fz.kpi AS
SELECT entity_id % 10 AS grp, kpi_agg(ts, converted_at, amount) AS s FROM fz.events GROUP BY 1
UNION ALL SELECT -1, spend_agg(amount) FROM fz.events
UNION ALL SELECT -2, kpi_agg(day, close_day) FROM fz.events
UNION ALL SELECT -3, kpi_agg(ts_local, ts_local + interval '1 hour') FROM fz.events;
CREATE TABLE fz.funnel AS
SELECT entity_id % 10 AS grp, funnel_agg(entity_id, ts, step, win) AS f FROM fz.events GROUP BY 1
UNION ALL SELECT -1, funnel_agg(entity_text, ts, stage, stages, win, modes) FROM fz.events
UNION ALL SELECT -2, funnel_agg(entity_uuid, ts, step, win, 'crm_backfill', 5) FROM fz.events
UNION ALL SELECT -3, funnel_agg(step % 4, 3) FROM fz.events;
-- close summaries (the forecast's history) over small generated leads:
-- by campaign on a monthly grid, all leads on a weekly grid with its own
-- age buckets, and an empty grid; seeds of the close_* fuzz targets
CREATE TABLE fz.close_leads AS
SELECT g AS id, 'c' || (g % 3) AS campaign,
       timestamptz '2024-01-01' + g * interval '9 hours' AS fc,
       CASE WHEN g % 4 = 0 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 40) * interval '1 day 3 hours' END AS won,
       CASE WHEN g % 4 = 1 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 30) * interval '1 day' END AS lost,
       CASE WHEN g % 4 = 0 THEN round((g * 37 % 1000) / 7.0, 2) END AS revenue,
       CASE WHEN g % 5 < 3 THEN ARRAY[timestamptz '2024-01-01' + g * interval '9 hours' + interval '1 hour',
                                      CASE WHEN g % 5 < 2 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 9) * interval '1 day' END] END AS reached,
       CASE WHEN g % 3 = 0 THEN round((g * 13 % 500)::numeric, 1) END AS amount
FROM generate_series(1, 400) g;
UPDATE fz.close_leads SET won = fc - interval '1 day', revenue = 5 WHERE id = 8;
CREATE TABLE fz.close AS
SELECT row_number() OVER (ORDER BY campaign)::int AS grp, close_agg(fc, won, lost, revenue, reached, amount,
       close_grid('2024-06-01', 'month', 3, 5, 'UTC')) AS c
FROM fz.close_leads GROUP BY campaign
UNION ALL SELECT -1, close_agg(fc, won, lost, revenue, reached, amount,
       close_grid('2024-05-15', 'week', 2, 6, 'Europe/Berlin', '{1 day,10 days}')) FROM fz.close_leads
UNION ALL SELECT -2, close_grid('2024-03-01', 'month', 2, 2, 'UTC');
CREATE MATERIALIZED VIEW fz.kpi_daily AS
SELECT day, kpi_agg(ts, converted_at, amount) AS s, funnel_agg(entity_id, ts, step, win) AS f
FROM fz.events GROUP BY day;
CREATE VIEW fz.levels AS
SELECT entity_id % 50 AS e, window_funnel(interval '2 days', ts, VARIADIC flags) AS level,
       window_funnel(100::bigint, 'strict_order', tick::bigint, VARIADIC flags) AS level_ticks
FROM fz.events GROUP BY 1;
ANALYZE;
SQL
