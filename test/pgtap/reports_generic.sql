-- create_reports() over hand-made canonical tables: every KPI view checked
-- against plain SQL over the same rows, column names and plain types,
-- security_invoker, empty inputs (the overview keeps its row), re-running,
-- drop_reports(), DROP EXTENSION.
BEGIN;
SELECT plan(28);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_gen;
CREATE TABLE lk_gen.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel varchar(20),
                           converted_at timestamptz, lost_at timestamptz, revenue numeric(12,2));
INSERT INTO lk_gen.leads
SELECT i,
       CASE WHEN i % 97 = 0 THEN NULL ELSE timestamptz '2024-01-01' + (i % 90) * interval '1 day' + (i % 7) * interval '1 hour' END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'c' || (i % 4) END,
       (ARRAY['web', 'mail', 'ads'])[1 + i % 3],
       CASE WHEN i % 50 = 0 THEN timestamptz '2023-12-01'
            WHEN i % 3 = 0 THEN timestamptz '2024-01-01' + (i % 90) * interval '1 day' + (i % 17) * interval '1 day' + (i % 5) * interval '1 hour' END,
       CASE WHEN i % 3 = 1 THEN timestamptz '2024-06-01' END,
       CASE WHEN i % 3 = 0 THEN 100 + i % 13 END
FROM generate_series(1, 400) AS i;
CREATE TABLE lk_gen.spend (campaign text, channel text, day date, amount numeric);
INSERT INTO lk_gen.spend
SELECT 'c' || (d % 5), (ARRAY['web', 'mail', 'ads'])[1 + d % 3], date '2024-01-01' + d, 10.05 + d % 9
FROM generate_series(0, 100) AS d;
CREATE TABLE lk_gen.orders (lead_id bigint, ordered_at timestamptz, amount numeric);
INSERT INTO lk_gen.orders SELECT i, timestamptz '2024-05-01' + i * interval '1 hour', 1000 + i FROM generate_series(5, 400, 25) AS i;
INSERT INTO lk_gen.orders SELECT i, timestamptz '2024-05-03', 1 FROM generate_series(5, 400, 50) AS i;

-- the canonical definition, in plain SQL: orders convert a lead (first
-- order) and replace its revenue
CREATE TEMP VIEW exp_leads AS
SELECT l.lead_id, l.first_contact_at, l.campaign, l.channel::text AS channel,
       coalesce(l.converted_at, o.first_at) AS converted_at, coalesce(o.amount, l.revenue) AS revenue
FROM lk_gen.leads l
LEFT JOIN (SELECT lead_id, min(ordered_at) AS first_at, sum(amount) AS amount FROM lk_gen.orders GROUP BY 1) o USING (lead_id)
WHERE l.first_contact_at IS NOT NULL;

-- KPI figures per key from plain SQL; cost joins on the same key
CREATE TEMP VIEW exp_lead_figs AS
SELECT k, coalesce(key, '(none)') AS key, count(*) AS leads, count(converted_at) AS conversions,
       count(converted_at)::float8 / count(*) AS conversion_rate,
       avg(converted_at - first_contact_at) FILTER (WHERE converted_at >= first_contact_at) AS cycle_avg,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM converted_at - first_contact_at))
           FILTER (WHERE converted_at >= first_contact_at) AS cycle_median_s,
       sum(revenue) FILTER (WHERE converted_at IS NOT NULL) AS revenue
FROM (SELECT 'overview' AS k, NULL::text AS key, * FROM exp_leads
      UNION ALL SELECT 'campaign', campaign, * FROM exp_leads
      UNION ALL SELECT 'channel', channel, * FROM exp_leads
      UNION ALL SELECT 'month', date_trunc('month', first_contact_at)::date::text, * FROM exp_leads) x
GROUP BY 1, 2;
CREATE TEMP VIEW exp_cost AS
SELECT k, coalesce(key, '(none)') AS key, sum(amount) AS cost
FROM (SELECT 'overview' AS k, NULL::text AS key, amount FROM lk_gen.spend
      UNION ALL SELECT 'campaign', campaign, amount FROM lk_gen.spend
      UNION ALL SELECT 'channel', channel, amount FROM lk_gen.spend
      UNION ALL SELECT 'month', date_trunc('month', day)::date::text, amount FROM lk_gen.spend) x
GROUP BY 1, 2;
CREATE TEMP VIEW exp_figs AS
SELECT k, key, coalesce(f.leads, 0) AS leads, coalesce(f.conversions, 0) AS conversions, f.conversion_rate,
       round(extract(epoch FROM f.cycle_avg)) AS cycle_avg_s, f.cycle_median_s, c.cost,
       round(c.cost / nullif(f.leads, 0), 2) AS cost_per_lead, round(c.cost / nullif(f.conversions, 0), 2) AS cost_per_order,
       f.revenue
FROM exp_lead_figs f FULL JOIN exp_cost c USING (k, key);

SELECT is(
    (SELECT array_agg(r::text ORDER BY r::text) FROM create_reports('lk_rep', 'lk_gen.leads', spend => 'lk_gen.spend', orders => 'lk_gen.orders') AS r),
    ARRAY['lk_rep.forecast_by_campaign', 'lk_rep.forecast_by_month', 'lk_rep.forecast_by_week', 'lk_rep.funnel_by_campaign', 'lk_rep.funnel_report',
          'lk_rep.kpi_by_campaign', 'lk_rep.kpi_by_channel', 'lk_rep.kpi_by_month', 'lk_rep.kpi_by_owner', 'lk_rep.kpi_by_team',
          'lk_rep.kpi_overview', 'lk_rep.report_campaigns', 'lk_rep.report_leads', 'lk_rep.report_spend', 'lk_rep.report_stage_events'],
    'create_reports returns the relations it created (the funnel views empty without stage_events)');

-- the same figures, read from a report view and rounded like exp_figs
CREATE TEMP VIEW got_figs AS
SELECT k, coalesce(key, '(none)') AS key, leads, conversions, conversion_rate, round(extract(epoch FROM sales_cycle_avg)) AS cycle_avg_s,
       extract(epoch FROM sales_cycle_median) AS cycle_median_s, cost,
       cost_per_lead, cost_per_order, revenue
FROM (SELECT 'overview' AS k, NULL::text AS key, leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue FROM lk_rep.kpi_overview
      UNION ALL SELECT 'campaign', campaign, leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue FROM lk_rep.kpi_by_campaign
      UNION ALL SELECT 'channel', channel, leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue FROM lk_rep.kpi_by_channel
      UNION ALL SELECT 'month', month::text, leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue FROM lk_rep.kpi_by_month) x;

SELECT set_eq('SELECT k, key, leads, conversions FROM got_figs', 'SELECT k, key, leads, conversions FROM exp_figs',
              'leads and conversions per overview/campaign/channel/month match plain SQL');
SELECT set_eq('SELECT k, key, round(conversion_rate::numeric, 12) FROM got_figs', 'SELECT k, key, round(conversion_rate::numeric, 12) FROM exp_figs',
              'conversion_rate matches plain SQL');
SELECT set_eq('SELECT k, key, cycle_avg_s FROM got_figs', 'SELECT k, key, cycle_avg_s FROM exp_figs',
              'sales_cycle_avg matches avg(converted_at - first_contact_at) over non-negative cycles');
SELECT is_empty($$
    SELECT k, key FROM got_figs g JOIN exp_figs e USING (k, key)
    WHERE (g.cycle_median_s IS NULL) <> (e.cycle_median_s IS NULL) OR abs(g.cycle_median_s - e.cycle_median_s) > 0.011 * e.cycle_median_s
$$, 'sales_cycle_median is within the sketch''s 1% of percentile_cont(0.5)');
-- (the overview's and the months' ratios count only the (month, campaign)
-- cells with both spend and leads: test/pgtap/reports_columns.sql)
SELECT set_eq('SELECT k, key, cost, cost_per_lead, cost_per_order FROM got_figs WHERE k = ''campaign'' UNION ALL SELECT k, key, cost, NULL, NULL FROM got_figs WHERE k IN (''overview'', ''month'')',
              'SELECT k, key, cost, cost_per_lead, cost_per_order FROM exp_figs WHERE k = ''campaign'' UNION ALL SELECT k, key, cost, NULL, NULL FROM exp_figs WHERE k IN (''overview'', ''month'')',
              'cost, cost_per_lead and cost_per_order match plain SQL (campaign; cost of the overview and the months)');
SELECT set_eq('SELECT k, key, cost, cost_per_lead, cost_per_order FROM got_figs WHERE k = ''channel''',
              'SELECT k, key, cost, cost_per_lead, cost_per_order FROM exp_figs WHERE k = ''channel''',
              'cost per channel comes from the spend input''s optional channel column');
SELECT set_eq('SELECT k, key, revenue FROM got_figs', 'SELECT k, key, revenue FROM exp_figs',
              'revenue (orders replacing leads.revenue) matches plain SQL');
SELECT is((SELECT cost FROM lk_rep.kpi_overview), (SELECT sum(amount) FROM lk_gen.spend), 'overview cost is the exact sum of spend');

-- stable column names and plain SQL types
SELECT is(
    (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
      WHERE attrelid = 'lk_rep.kpi_by_campaign'::regclass AND attnum > 0),
    'campaign text, leads bigint, conversions bigint, conversion_rate double precision, sales_cycle_avg interval, '
    'sales_cycle_median interval, cost numeric, cost_per_lead numeric, cost_per_order numeric, revenue numeric, '
    'sales_cycle_avg_days numeric, sales_cycle_median_days numeric, cost_matched numeric, leads_matched bigint, conversions_matched bigint, '
    'channel text, roi numeric',
    'kpi_by_campaign columns and types');
SELECT is((SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'lk_rep.kpi_by_month'::regclass AND attname = 'month'),
          'date', 'kpi_by_month.month is a date');
SELECT is_empty($$
    SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    WHERE n.nspname = 'lk_rep' AND a.atttypid NOT IN ('bigint'::regtype, 'integer'::regtype, 'double precision'::regtype,
          'numeric'::regtype, 'interval'::regtype, 'text'::regtype, 'date'::regtype, 'timestamptz'::regtype, 'boolean'::regtype)
$$, 'no custom types in report columns');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'lk_rep' AND c.relkind = 'v' AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)
$$, 'every report view is security_invoker');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'lk_rep' AND c.relkind IN ('v', 'm') AND obj_description(c.oid, 'pg_class') IS NULL
$$, 'every report view has a COMMENT');

-- an empty slice: NULL leads, no division errors
CREATE TABLE lk_gen.no_leads (LIKE lk_gen.leads);
SELECT lives_ok($$SELECT create_reports('lk_empty', 'lk_gen.no_leads')$$, 'reports over an empty leads table');
SELECT is((SELECT count(*) FROM lk_empty.kpi_by_campaign), 0::bigint, 'no campaign rows without leads');
-- the overview always has its one row
CREATE TABLE lk_gen.nobody (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
SELECT lives_ok($$SELECT create_reports('lk_nobody', 'lk_gen.nobody')$$, 'reports over an empty table');
SELECT results_eq('SELECT leads, conversions, conversion_rate FROM lk_nobody.kpi_overview', $$VALUES (0::bigint, 0::bigint, NULL::float8)$$,
                  'the overview has its row, with zero counts');

-- re-running replaces cleanly, also switching to materialized and back
DROP VIEW got_figs;
SELECT lives_ok($$SELECT create_reports('lk_rep', 'lk_gen.leads', spend => 'lk_gen.spend', orders => 'lk_gen.orders', materialized => true)$$,
                're-run as materialized');
SELECT lives_ok($$SELECT create_reports('lk_rep', 'lk_gen.leads')$$, 're-run without spend and orders');
SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'lk_rep' AND c.relkind IN ('v', 'm')),
          ARRAY['forecast_by_campaign', 'forecast_by_month', 'forecast_by_week', 'funnel_by_campaign', 'funnel_report',
                'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'kpi_by_owner', 'kpi_by_team',
                'kpi_overview', 'report_campaigns', 'report_leads', 'report_spend', 'report_stage_events'],
          'the re-run left only its own views (no stale stores or live views; every schema has the same views)');
SELECT is((SELECT cost FROM lk_rep.kpi_overview), NULL, 'without spend, cost is NULL');

-- a user object with a report's name is never dropped
CREATE TABLE lk_rep.kpi_by_month_user (x int);
CREATE VIEW lk_rep.mine AS SELECT * FROM lk_rep.kpi_overview;
SELECT lives_ok($$SELECT create_reports('lk_rep', 'lk_gen.leads', materialized => true)$$,
                'a user view on a report: plain to materialized replaces it in place (both are views)');
CREATE VIEW lk_rep.mine_live AS SELECT * FROM lk_rep.kpi_overview_live;
SELECT throws_ok($$SELECT create_reports('lk_rep', 'lk_gen.leads')$$, '2BP01', NULL,
                 'a user view on a live view blocks a replace that cannot keep it: plain reports have none (no silent CASCADE)');
DROP VIEW lk_rep.mine, lk_rep.mine_live;
CREATE SCHEMA lk_own;
CREATE TABLE lk_own.kpi_overview (x int);
SELECT throws_ok($$SELECT create_reports('lk_own', 'lk_gen.leads')$$, '42P07', NULL,
                 'a user table named like a report is refused');
SELECT has_table('lk_own', 'kpi_overview', 'and kept');

-- drop_reports, and DROP EXTENSION: fails without CASCADE; CASCADE drops
-- only the report views, never the user's tables (the last test: the final
-- ROLLBACK brings the extension back)
SELECT lives_ok($$SELECT drop_reports('lk_empty')$$, 'drop_reports');
DO $$ BEGIN DROP EXTENSION leadkpi; RAISE 'dropped'; EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$;
SET LOCAL client_min_messages = warning;
DROP EXTENSION leadkpi CASCADE;
SELECT ok(to_regclass('lk_rep.kpi_overview') IS NULL AND to_regclass('lk_gen.leads') IS NOT NULL
          AND (SELECT count(*) FROM lk_gen.leads) = 400,
          'DROP EXTENSION fails without CASCADE; with CASCADE it drops the report views and keeps the CRM data');

SELECT * FROM finish();
ROLLBACK;
