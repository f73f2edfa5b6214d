-- Reports that never mislead: every report schema has the same views (empty
-- and typed when an input is missing); a stage that never occurs in the
-- events is never the bottleneck; a re-run keeps users' views on the
-- reports working, or fails with leadkpi's own error naming them.  (The
-- NOTICE and WARNING texts are in test/sql/reports_messages.sql.)
BEGIN;
SELECT plan(20);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

CREATE SCHEMA lk_nm;
CREATE TABLE lk_nm.leads (lead_id integer, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_nm.leads SELECT i, timestamptz '2024-03-01' + i * interval '1 hour', 'c' || (i % 2), 'web', NULL FROM generate_series(1, 20) AS i;

-- the same relations in every schema, whatever the inputs
CREATE TEMP VIEW rels AS
SELECT n.nspname::text COLLATE "default" AS schema, array_agg(c.relname::text COLLATE "default" ORDER BY c.relname::text COLLATE "default") AS names
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname LIKE 'lk_nm_%' AND c.relkind IN ('v', 'm') GROUP BY 1;
SELECT create_reports('lk_nm_leads', 'lk_nm.leads');
CREATE TABLE lk_nm.events (lead_id integer, stage text, occurred_at timestamptz);
SELECT create_reports('lk_nm_funnel', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,b}');
SELECT results_eq($$SELECT names FROM rels WHERE schema = 'lk_nm_leads'$$, $$SELECT names FROM rels WHERE schema = 'lk_nm_funnel'$$,
                  'leads only, or with (empty) stage events: the same views');
SELECT results_eq($$SELECT names FROM rels WHERE schema = 'lk_nm_leads'$$,
    $$VALUES (ARRAY['forecast_by_campaign', 'forecast_by_month', 'forecast_by_week', 'funnel_by_campaign', 'funnel_report', 'kpi_by_campaign',
                    'kpi_by_channel', 'kpi_by_month', 'kpi_by_owner', 'kpi_by_team', 'kpi_overview', 'report_campaigns', 'report_leads', 'report_spend', 'report_stage_events'])$$, 'funnel views and empty canonical views without their inputs');
SELECT is_empty('SELECT * FROM lk_nm_leads.funnel_report', 'the funnel without stage events has no rows');
-- typed like the real ones, so that a dashboard query works on either
SELECT results_eq($$SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_nm_leads.funnel_by_campaign'::regclass AND attnum > 0$$,
                  $$SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_nm_funnel.funnel_by_campaign'::regclass AND attnum > 0$$,
                  'the empty funnel has the real one''s column types');
SELECT results_eq($$SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'lk_nm_leads.report_stage_events'::regclass AND attname = 'lead_id'$$,
                  $$SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'lk_nm_leads.report_leads'::regclass AND attname = 'lead_id'$$,
                  'the empty stage events have the canonical leads'' lead_id type');
SELECT create_reports('lk_nm_mat', 'lk_nm.leads', materialized => true);
SELECT ok((SELECT names FROM rels WHERE schema = 'lk_nm_mat') @> ARRAY['funnel_report', 'funnel_report_live', 'funnel_by_campaign', 'funnel_by_campaign_live'],
          'materialized: the funnel views and their _live views too');

-- stages that never occur: 'b' has no event.  Strict chain: nobody reaches
-- b or c; with crm_backfill, b is "reached" through c.  Either way b is no
-- bottleneck, c is (it occurs, and converts worst).
INSERT INTO lk_nm.events SELECT i, 'a', timestamptz '2024-03-01' + i * interval '1 hour' FROM generate_series(1, 20) AS i;
INSERT INTO lk_nm.events SELECT i, 'c', timestamptz '2024-03-05' + i * interval '1 hour' FROM generate_series(1, 5) AS i;
INSERT INTO lk_nm.events SELECT i, 'd', timestamptz '2024-03-09' + i * interval '1 hour' FROM generate_series(1, 4) AS i;
SELECT create_reports('lk_nm_bn', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,b,c,d}', funnel_modes => 'crm_backfill');
-- b's conversion from a (5/20) is the lowest, but nobody was ever in b: the
-- leads lost between a and c count for c, measured from a
SELECT results_eq('SELECT stage, reached, is_bottleneck FROM lk_nm_bn.funnel_report ORDER BY step',
                  $$VALUES ('a', 20::bigint, false), ('b', 5, false), ('c', 5, true), ('d', 4, false)$$,
                  'crm_backfill: a step without events is not the bottleneck; the next step with events, measured from a, is');
SELECT is(bottleneck((SELECT funnel_agg(lead_id, occurred_at, step, '365 days', 'crm_backfill', 4) FROM lk_nm_bn.report_stage_events)), 2,
          '(bottleneck() on the bare summary would say b)');
SELECT create_reports('lk_nm_bn', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,b,c,d}');
SELECT results_eq('SELECT stage, reached, is_bottleneck FROM lk_nm_bn.funnel_report ORDER BY step',
                  $$VALUES ('a', 20::bigint, false), ('b', 0, false), ('c', 0, true), ('d', 0, false)$$,
                  'strict chain: nobody gets past the missing b; c (0 of a) is flagged, never b');
-- every stage occurs: the same as bottleneck()
SELECT create_reports('lk_nm_bn', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,c,d}');
SELECT results_eq('SELECT step FROM lk_nm_bn.funnel_report WHERE is_bottleneck',
                  $$SELECT bottleneck(funnel_agg(lead_id, occurred_at, step, '365 days', '', 3)) FROM lk_nm_bn.report_stage_events$$,
                  'with every stage in the events, is_bottleneck is bottleneck()');
SELECT create_reports('lk_nm_bnm', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,b,c,d}', funnel_modes => 'crm_backfill', materialized => true);
SELECT results_eq('SELECT campaign, stage, is_bottleneck FROM lk_nm_bnm.funnel_by_campaign WHERE is_bottleneck ORDER BY campaign',
                  'SELECT campaign, stage, is_bottleneck FROM lk_nm_bnm.funnel_by_campaign_live WHERE is_bottleneck ORDER BY campaign',
                  'materialized and live funnels flag the same steps');

-- a user's view on a report: a re-run of the same kind replaces the reports
-- in place, and the view keeps working with the new data
CREATE VIEW lk_nm.my_tile AS SELECT leads, conversion_rate FROM lk_nm_leads.kpi_overview;
CREATE VIEW lk_nm.my_funnel AS SELECT stage, reached FROM lk_nm_funnel.funnel_report;
INSERT INTO lk_nm.leads VALUES (21, '2024-03-02', 'c1', 'web', '2024-03-03');
SELECT lives_ok($$SELECT create_reports('lk_nm_leads', 'lk_nm.leads', spend => NULL)$$, 're-run with a user''s view on kpi_overview');
SELECT results_eq('SELECT leads, conversion_rate FROM lk_nm.my_tile', $$VALUES (21::bigint, (1.0 / 21)::float8)$$, 'the user''s view reads the new reports');
SELECT lives_ok($$SELECT create_reports('lk_nm_funnel', 'lk_nm.leads', stage_events => 'lk_nm.events', stages => '{a,c,d}')$$,
                're-run with other stages, a user''s view on funnel_report');
SELECT results_eq('SELECT stage, reached FROM lk_nm.my_funnel ORDER BY stage', $$VALUES ('a', 20::bigint), ('c', 5), ('d', 4)$$,
                  'the user''s view reads the new funnel');
-- materialized reports are views too (over the stores): replaced in place
SELECT lives_ok($$SELECT create_reports('lk_nm_leads', 'lk_nm.leads', materialized => true)$$, 'to materialized, in place');
SELECT results_eq('SELECT leads, conversion_rate FROM lk_nm.my_tile', $$VALUES (21::bigint, (1.0 / 21)::float8)$$,
                  'the user''s view reads the stored reports');
-- what cannot be replaced in place is leadkpi's error naming the view, with no CASCADE in it
CREATE VIEW lk_nm.my_store AS SELECT month FROM lk_nm_leads.kpi_monthly;
SELECT throws_like($$SELECT create_reports('lk_nm_leads', 'lk_nm.leads', materialized => true)$$,
                   '%objects of yours depend on the reports in schema lk_nm_leads: lk_nm.my_store (on lk_nm_leads.kpi_monthly)%',
                   'a view on a store (made anew by a re-run): 2BP01 naming the view');
DROP VIEW lk_nm.my_store;
SELECT throws_like($$SELECT drop_reports('lk_nm_leads')$$, '%lk_nm.my_tile (on lk_nm_leads.kpi_overview)%', 'drop_reports: the same');
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE h text; c text;
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT, c = RETURNED_SQLSTATE;
    RETURN c || ' ' || h;
END $f$;
SELECT ok((SELECT h LIKE '2BP01 %' AND h NOT ILIKE '%cascade%' FROM pg_temp.hint_of($$SELECT drop_reports('lk_nm_leads')$$) AS h),
          'its hint never suggests CASCADE');

SELECT * FROM finish();
ROLLBACK;
