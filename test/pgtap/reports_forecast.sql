-- The forecast reports of create_reports (forecast_by_month,
-- forecast_by_campaign, forecast_by_week): each equals forecast_closings
-- called directly with the reports' defaults; materialized ones read the
-- forecast stores and equal the plain ones, before and after a refresh that
-- follows data changes; the stores equal close_summaries on the forecast's
-- grid; security_invoker; without stage events they exist, empty, with the
-- same columns.
BEGIN;
SELECT plan(40);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

\set scale 2000
\unset cutoff
\ir ../data/gen_crm.sql
ALTER SCHEMA crm RENAME TO fv_crm;
-- the CRM as it stands now (it ends at 2026-01-01): a forecast as of now()
-- then has a pipeline and recent arrivals
UPDATE fv_crm.leads SET first_contact_at = first_contact_at + (now() - '2026-01-01 00:00+00'),
                        converted_at = converted_at + (now() - '2026-01-01 00:00+00'),
                        lost_at = lost_at + (now() - '2026-01-01 00:00+00');
UPDATE fv_crm.stage_events SET occurred_at = occurred_at + (now() - '2026-01-01 00:00+00');

SELECT count(*) FROM create_reports('fv_p', leads => 'fv_crm.leads', stage_events => 'fv_crm.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'Europe/Berlin') \g /dev/null
SELECT count(*) FROM create_reports('fv_m', leads => 'fv_crm.leads', stage_events => 'fv_crm.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'Europe/Berlin',
    materialized => true) \g /dev/null

-- the columns of forecast_closings but segment (campaign in forecast_by_campaign)
\set cols 'period_start, h, window_start, window_end, closings, closings_low, closings_high, from_pipeline, from_new_leads, revenue, revenue_low, revenue_high, revenue_from_pipeline, open_leads, stale_leads, leads_with_amount, min_cell_observations, amount_basis, dispersion'

-- ---------------------------------------------------------------------------
-- plain: the views are forecast_closings with the defaults, as of now()
-- ---------------------------------------------------------------------------
SELECT results_eq(format('SELECT %s FROM fv_p.forecast_by_month ORDER BY h', :'cols'),
    format('SELECT %s FROM forecast_closings(''fv_p'', period => ''month'', horizon => 6, level => 0.8) ORDER BY h', :'cols'),
    'plain forecast_by_month = forecast_closings(period => month, horizon => 6, level => 0.8)');
SELECT results_eq(format('SELECT campaign, %s FROM fv_p.forecast_by_campaign ORDER BY campaign NULLS FIRST, h', :'cols'),
    format('SELECT segment, %s FROM forecast_closings(''fv_p'', by => ''campaign'') ORDER BY segment NULLS FIRST, h', :'cols'),
    'plain forecast_by_campaign = forecast_closings(by => campaign), segment as campaign');
SELECT results_eq(format('SELECT %s FROM fv_p.forecast_by_week ORDER BY h', :'cols'),
    format('SELECT %s FROM forecast_closings(''fv_p'', period => ''week'') ORDER BY h', :'cols'),
    'plain forecast_by_week = forecast_closings(period => week)');
SELECT is((SELECT count(*) FROM fv_p.forecast_by_month), 6::bigint, 'forecast_by_month: 6 months');
SELECT is((SELECT count(*) FROM fv_p.forecast_by_week), 6::bigint, 'forecast_by_week: 6 weeks');
SELECT is((SELECT count(DISTINCT campaign) FROM fv_p.forecast_by_campaign),
          (SELECT count(DISTINCT campaign) FROM fv_crm.leads WHERE campaign IS NOT NULL), 'forecast_by_campaign: every campaign of the leads');
SELECT is((SELECT sum(closings) FROM fv_p.forecast_by_month WHERE h = 1) > 0, true, 'the forecast is not all zeros');

-- ---------------------------------------------------------------------------
-- materialized: the stores and the views over them
-- ---------------------------------------------------------------------------
SELECT results_eq($$SELECT campaign, channel, summary::text FROM fv_m.forecast_month_summaries ORDER BY 1, 2$$,
    $$SELECT campaign, channel, summary::text FROM close_summaries('fv_m', forecast_grid('fv_m', now(), 'month', 6)) ORDER BY 1, 2$$,
    'forecast_month_summaries = close_summaries on the grid of the 6-month forecast as of the refresh');
SELECT results_eq($$SELECT campaign, channel, summary::text FROM fv_m.forecast_week_summaries ORDER BY 1, 2$$,
    $$SELECT campaign, channel, summary::text FROM close_summaries('fv_m', forecast_grid('fv_m', now(), 'week', 6)) ORDER BY 1, 2$$,
    'forecast_week_summaries = close_summaries on the grid of the 6-week forecast');
SELECT results_eq(format('SELECT %s FROM fv_m.forecast_by_month ORDER BY h', :'cols'),
                  format('SELECT %s FROM fv_p.forecast_by_month ORDER BY h', :'cols'),
                  'materialized forecast_by_month = plain');
SELECT results_eq(format('SELECT campaign, %s FROM fv_m.forecast_by_campaign ORDER BY campaign NULLS FIRST, h', :'cols'),
                  format('SELECT campaign, %s FROM fv_p.forecast_by_campaign ORDER BY campaign NULLS FIRST, h', :'cols'),
                  'materialized forecast_by_campaign = plain');
SELECT results_eq(format('SELECT %s FROM fv_m.forecast_by_week ORDER BY h', :'cols'),
                  format('SELECT %s FROM fv_p.forecast_by_week ORDER BY h', :'cols'),
                  'materialized forecast_by_week = plain');
SELECT ok(pg_get_viewdef('fv_m.forecast_by_month') LIKE '%forecast_month_summaries%'
          AND pg_get_viewdef('fv_m.forecast_by_week') LIKE '%forecast_week_summaries%'
          AND pg_get_viewdef('fv_p.forecast_by_month') NOT LIKE '%summaries%',
          'materialized views read the stores, plain ones the canonical views');

-- after data changes and a refresh: a lead won last month, a new open one
CREATE TEMP TABLE fv_before AS SELECT * FROM fv_m.forecast_month_summaries;
INSERT INTO fv_crm.leads (lead_id, first_contact_at, campaign, channel, converted_at, lost_at, revenue, expected_revenue)
VALUES (990001, now() - interval '40 days', 'fv_new_campaign', 'email', NULL, NULL, NULL, 5000),
       (990002, now() - interval '70 days', 'fv_new_campaign', 'email', now() - interval '10 days', NULL, 800, 800);
INSERT INTO fv_crm.stage_events (lead_id, stage, occurred_at)
VALUES (990001, 'lead', now() - interval '40 days'), (990001, 'sql', now() - interval '20 days'),
       (990002, 'lead', now() - interval '70 days'), (990002, 'customer', now() - interval '10 days');
SELECT is((SELECT count(*) FROM fv_m.forecast_month_summaries WHERE campaign = 'fv_new_campaign'), 0::bigint,
          'before the refresh, the store has not the new campaign');
SELECT count(*) FROM refresh_reports('fv_m') \g /dev/null
SELECT is((SELECT count(*) FROM fv_m.forecast_month_summaries WHERE campaign = 'fv_new_campaign'), 0::bigint,
          'a refresh within leadkpi.forecast_refresh_interval (1 hour by default) keeps the forecast stores');
SELECT is((SELECT last_refresh ->> 'forecast_rows' FROM fv_m.report_state)::bigint, 0::bigint,
          'and writes no forecast rows');
SET LOCAL leadkpi.forecast_refresh_interval = 0;
SELECT count(*) FROM refresh_reports('fv_m') \g /dev/null
SELECT is((SELECT sum(leads(summary)) FROM fv_m.forecast_month_summaries),
          (SELECT sum(leads(summary)) FROM fv_before) + 2, 'after the refresh, the store counts the two new leads');
SELECT results_eq($$SELECT campaign, channel, summary::text FROM fv_m.forecast_month_summaries ORDER BY 1, 2$$,
    $$SELECT campaign, channel, summary::text FROM close_summaries('fv_m', forecast_grid('fv_m', now(), 'month', 6)) ORDER BY 1, 2$$,
    'after the refresh, forecast_month_summaries = close_summaries of the changed data');
SELECT results_eq(format('SELECT campaign, %s FROM fv_m.forecast_by_campaign ORDER BY campaign NULLS FIRST, h', :'cols'),
                  format('SELECT campaign, %s FROM fv_p.forecast_by_campaign ORDER BY campaign NULLS FIRST, h', :'cols'),
                  'after the refresh, materialized forecast_by_campaign = plain');
SELECT is((SELECT max(open_leads) FROM fv_m.forecast_by_campaign WHERE campaign = 'fv_new_campaign'), 1::bigint,
          'the new campaign forecasts from its one open lead');
SELECT is((SELECT last_refresh ->> 'forecast_rows' FROM fv_m.report_state)::bigint,
          (SELECT count(*) FROM fv_m.forecast_month_summaries) + (SELECT count(*) FROM fv_m.forecast_week_summaries),
          'report_state.last_refresh counts the forecast rows rewritten');
SET LOCAL leadkpi.forecast_refresh_interval = '1h';
CREATE TEMP TABLE fv_kept AS SELECT sum(leads(summary)) AS n FROM fv_m.forecast_month_summaries;
DELETE FROM fv_crm.stage_events WHERE lead_id = 990001;
DELETE FROM fv_crm.leads WHERE lead_id = 990001;
SELECT count(*) FROM refresh_reports('fv_m', full => true) \g /dev/null
SELECT is((SELECT last_refresh ->> 'forecast_rows' FROM fv_m.report_state)::bigint, 0::bigint,
          'a full rebuild of the stores within the interval writes no forecast rows');
SELECT is((SELECT sum(leads(summary)) FROM fv_m.forecast_month_summaries), (SELECT n FROM fv_kept),
          'and leaves the forecast stores as they were (they still count the deleted lead)');
SELECT is(refresh_forecast('fv_m'),
          (SELECT count(*) FROM fv_m.forecast_month_summaries) + (SELECT count(*) FROM fv_m.forecast_week_summaries),
          'refresh_forecast rebuilds the forecast stores whatever their age, and returns the rows written');
SELECT results_eq($$SELECT campaign, channel, summary::text FROM fv_m.forecast_month_summaries ORDER BY 1, 2$$,
    $$SELECT campaign, channel, summary::text FROM close_summaries('fv_m', forecast_grid('fv_m', now(), 'month', 6)) ORDER BY 1, 2$$,
    'after refresh_forecast, forecast_month_summaries = close_summaries of the current data');
SELECT is((SELECT (last_refresh ->> 'forecast_rows')::bigint FROM fv_m.report_state),
          (SELECT count(*) FROM fv_m.forecast_month_summaries) + (SELECT count(*) FROM fv_m.forecast_week_summaries),
          'and records them in report_state');
SELECT throws_ok($$SELECT refresh_forecast('fv_p')$$, '42P01', NULL,
                 'refresh_forecast of a plain report schema: 42P01');
SELECT throws_ok($$SELECT refresh_forecast(NULL)$$, '22004', NULL, 'refresh_forecast(NULL): 22004');
SET LOCAL leadkpi.forecast_refresh_interval = '1d';
SELECT count(*) FROM refresh_reports('fv_m') \g /dev/null
SELECT is((SELECT last_refresh ->> 'forecast_rows' FROM fv_m.report_state)::bigint, 0::bigint,
          'an interval in days (1d, as SHOW prints it) keeps the fresh forecast stores');
SET LOCAL leadkpi.forecast_refresh_interval = 0;

-- ---------------------------------------------------------------------------
-- security_invoker, comments
-- ---------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('fv_p', 'fv_m') AND c.relname LIKE 'forecast\_by\_%'
              AND c.reloptions @> ARRAY['security_invoker=true']
              AND obj_description(c.oid, 'pg_class') LIKE 'leadkpi report: %'), 6::bigint,
          'the six forecast views are security_invoker, with a leadkpi comment');
CREATE ROLE fv_reader;
GRANT USAGE ON SCHEMA fv_p TO fv_reader;
GRANT SELECT ON fv_p.forecast_by_month TO fv_reader;
SET LOCAL ROLE fv_reader;
SELECT throws_ok('SELECT * FROM fv_p.forecast_by_month', '42501', NULL,
                 'a role that may read the view but not the leads gets no forecast');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- without stage events: the views exist, empty, with the same columns
-- ---------------------------------------------------------------------------
SELECT count(*) FROM create_reports('fv_none', leads => 'fv_crm.leads') \g /dev/null
SELECT count(*) FROM create_reports('fv_none_m', leads => 'fv_crm.leads', materialized => true) \g /dev/null
SELECT is((SELECT count(*) FROM fv_none.forecast_by_month) + (SELECT count(*) FROM fv_none.forecast_by_campaign)
          + (SELECT count(*) FROM fv_none.forecast_by_week) + (SELECT count(*) FROM fv_none_m.forecast_by_month)
          + (SELECT count(*) FROM fv_none_m.forecast_by_campaign) + (SELECT count(*) FROM fv_none_m.forecast_by_week),
          0::bigint, 'without stage events the forecast views are empty');
SELECT results_eq($$SELECT c.relname::text, array_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'fv_none_m' AND c.relname LIKE 'forecast\_by\_%' AND a.attnum > 0 GROUP BY 1 ORDER BY 1$$,
                  $$SELECT c.relname::text, array_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'fv_p' AND c.relname LIKE 'forecast\_by\_%' AND a.attnum > 0 GROUP BY 1 ORDER BY 1$$,
                  'the empty views have the columns of the others');
SELECT is((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'fv_none_m' AND c.relname LIKE 'forecast\_%\_summaries'), 0::bigint,
          'without stage events there is no forecast store');
SELECT ok(obj_description('fv_none.forecast_by_month'::regclass, 'pg_class') LIKE '%empty: no stage_events%',
          'the empty views say why in their comment');
-- an empty CRM: the views have no rows (forecast_closings raises there)
CREATE TABLE fv_empty_leads (LIKE fv_crm.leads);
CREATE TABLE fv_empty_events (LIKE fv_crm.stage_events);
SELECT count(*) FROM create_reports('fv_e', leads => 'fv_empty_leads', stage_events => 'fv_empty_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer']) \g /dev/null
SELECT count(*) FROM create_reports('fv_e_m', leads => 'fv_empty_leads', stage_events => 'fv_empty_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], materialized => true) \g /dev/null
SELECT throws_ok($$SELECT * FROM forecast_closings('fv_e')$$, '22023', NULL, 'forecast_closings on an empty CRM raises');
SELECT is((SELECT count(*) FROM fv_e.forecast_by_month) + (SELECT count(*) FROM fv_e.forecast_by_campaign)
          + (SELECT count(*) FROM fv_e.forecast_by_week) + (SELECT count(*) FROM fv_e_m.forecast_by_month)
          + (SELECT count(*) FROM fv_e_m.forecast_by_campaign) + (SELECT count(*) FROM fv_e_m.forecast_by_week),
          0::bigint, 'on an empty CRM the forecast views have no rows, plain and materialized');
-- the first leads arrive: the materialized views forecast after a refresh
INSERT INTO fv_empty_leads SELECT * FROM fv_crm.leads;
INSERT INTO fv_empty_events SELECT * FROM fv_crm.stage_events;
SELECT count(*) FROM refresh_reports('fv_e_m') \g /dev/null
SELECT results_eq(format('SELECT %s FROM fv_e_m.forecast_by_month ORDER BY h', :'cols'),
                  format('SELECT %s FROM fv_e.forecast_by_month ORDER BY h', :'cols'),
                  'after the first leads and a refresh, materialized = plain');

-- drop_reports drops the views and the stores
SELECT lives_ok($$SELECT drop_reports('fv_m')$$, 'drop_reports of materialized reports with forecast stores');
SELECT is((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'fv_m'), 0::bigint, 'nothing is left in the schema');

SELECT * FROM finish();
ROLLBACK;
