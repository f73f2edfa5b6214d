-- The phases of create_reports(), each run by itself: the canonical model,
-- the checks, the SQL builders, then the canonical views, stores and KPI and
-- funnel reports built one phase at a time, which must give what
-- create_reports() gives in one call.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_ph;
CREATE TABLE lk_ph.leads (lead_id integer, first_contact_at timestamp, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_ph.leads
SELECT i, timestamp '2024-03-01' + i * interval '7 hours', 'c' || (i % 3), 'web',
       CASE WHEN i % 4 = 0 THEN timestamptz '2024-03-01' + i * interval '9 hours' END
FROM generate_series(1, 60) AS i;
CREATE TABLE lk_ph.spend (campaign text, day date, amount numeric);
INSERT INTO lk_ph.spend SELECT 'c' || (d % 3), date '2024-03-01' + d, 10 + d FROM generate_series(0, 20) AS d;
CREATE TABLE lk_ph.events (lead_id integer, stage text, occurred_at timestamptz);
INSERT INTO lk_ph.events SELECT i, 'lead', timestamptz '2024-03-01' + i * interval '7 hours' FROM generate_series(1, 60) AS i;
INSERT INTO lk_ph.events SELECT i, 'won', timestamptz '2024-03-01' + i * interval '9 hours' FROM generate_series(4, 60, 4) AS i;

-- the canonical model and how an input is read
SELECT is((SELECT array_agg(col || ':' || kind || CASE WHEN required THEN '' ELSE '?' END) FROM _lk_input_columns('leads')),
          '{lead_id:id,first_contact_at:ts,campaign:text,channel:text,converted_at:ts,lost_at:ts?,revenue:numeric?,expected_revenue:numeric?,team:text?,owner:text?}',
          'the canonical leads, in the order they are checked');
SELECT is(_lk_read_input('leads', 'lk_ph.leads', 'Europe/Berlin'),
          jsonb_build_object('lead_id', 'lead_id::bigint', 'first_contact_at', '(first_contact_at AT TIME ZONE ''Europe/Berlin'')',
                             'campaign', 'campaign::text', 'channel', 'channel::text', 'converted_at', 'converted_at::timestamp with time zone',
                             'lost_at', NULL, 'revenue', NULL, 'expected_revenue', NULL, 'team', NULL, 'owner', NULL),
          'an input read as the canonical types, a local timestamp in the time zone, absent optional columns null');

-- the checks raise before anything exists
SELECT throws_ok($$SELECT _lk_check_inputs('lk_ph_x', NULL, NULL, NULL, NULL, NULL, '1 day', NULL, false, 'UTC')$$, '22023', NULL,
                 'the checks refuse a missing leads input');
SELECT throws_ok($$SELECT _lk_check_inputs('lk_ph_x', 'lk_ph.leads', 'lk_ph.events', NULL, NULL, '{lead}', '1 day', NULL, false, 'UTC')$$,
                 '22023', NULL, 'the checks find a stage outside the stages');
SELECT lives_ok($$SELECT _lk_check_inputs('lk_ph_x', 'lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', NULL, '{lead,won}', '1 day', NULL, true, 'UTC')$$,
                'the checks pass good inputs');
SELECT is(to_regnamespace('lk_ph_x'), NULL, 'and create nothing');

-- the SQL builders
SELECT is(_lk_keyed_select(NULL, NULL, 'count(*)', 'lk_ph.leads'),
          'SELECT NULL::date AS cell_month, NULL::text AS cell_campaign, count(*) AS s FROM lk_ph.leads',
          'a part without a key and cell: no key column, no GROUP BY');
SELECT is(_lk_keyed_select('Month', 'date_trunc(''month'', day)', 'count(*)', 'lk_ph.spend'),
          'SELECT date_trunc(''month'', day) AS "Month", NULL::date AS cell_month, NULL::text AS cell_campaign, count(*) AS s FROM lk_ph.spend GROUP BY 1',
          'a part per key: the key quoted as a column name, grouped by it');
SELECT is(_lk_keyed_select(NULL, NULL, 'count(*)', 'lk_ph.spend', 'date_trunc(''month'', day)::date'),
          'SELECT date_trunc(''month'', day)::date AS cell_month, campaign AS cell_campaign, count(*) AS s FROM lk_ph.spend GROUP BY 1, 2',
          'a part per (month, campaign) cell');
SELECT is((SELECT array_agg(name) FROM _lk_kpi_reports('UTC')), '{kpi_overview,kpi_by_campaign,kpi_by_channel,kpi_by_month,kpi_by_team,kpi_by_owner}',
          'the six KPI reports');

-- one phase at a time, against create_reports() in one call
SELECT lives_ok($$SELECT _lk_clear_schema('lk_ph_steps', _lk_report_names());
                  SELECT _lk_create_canonical_views('lk_ph_steps', 'lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', NULL, '{lead,won}', 'UTC')$$,
                'the canonical views alone');
SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class WHERE relnamespace = 'lk_ph_steps'::regnamespace),
          '{report_campaigns,report_leads,report_spend,report_stage_events}', 'are the four canonical views');
SELECT lives_ok($$SELECT _lk_create_stores('lk_ph_steps', 'lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', NULL, '{lead,won}', '30 days', NULL, 'UTC',
                                            _lk_default_watch('lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', NULL, 'UTC'), '1 hour');
                  SELECT _lk_create_watches('lk_ph_steps', _lk_default_watch('lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', NULL, 'UTC'), 'bigint');
                  SELECT _lk_create_live_rows('lk_ph_steps', 'lk_ph.spend', 'lk_ph.events', '{lead,won}', '30 days', NULL, 'UTC');
                  SELECT _lk_create_kpi_reports('lk_ph_steps', 'lk_ph.spend', true, 'UTC', 2, 'lk_ph.leads');
                  SELECT _lk_create_funnel_reports('lk_ph_steps', '{lead,won}', '30 days', NULL, true);
                  SELECT _lk_refresh('lk_ph_steps', true)$$,
                'then the stores, the triggers, the live rows, the KPI and funnel reports, and the first fill');
SELECT create_reports('lk_ph_once', 'lk_ph.leads', 'lk_ph.events', 'lk_ph.spend', stages => '{lead,won}', conversion_window => '30 days',
                      materialized => true, time_zone => 'UTC') \g /dev/null
SELECT is_empty($$
    SELECT c.relname, c.relkind, pg_get_viewdef(c.oid), replace(obj_description(c.oid, 'pg_class'), 'lk_ph_steps', 'S') FROM pg_class c
     WHERE c.relnamespace = 'lk_ph_steps'::regnamespace AND c.relkind IN ('v', 'm', 'r')
    EXCEPT
    SELECT c.relname, c.relkind, replace(pg_get_viewdef(c.oid), 'lk_ph_once.', 'lk_ph_steps.'), replace(obj_description(c.oid, 'pg_class'), 'lk_ph_once', 'S')
      FROM pg_class c WHERE c.relnamespace = 'lk_ph_once'::regnamespace AND c.relkind IN ('v', 'm', 'r')
$$, 'the phases one by one make the views and stores create_reports() makes, with the same definitions and comments');
SELECT set_eq('SELECT * FROM lk_ph_steps.kpi_by_campaign_live UNION ALL SELECT NULL, *, NULL, NULL FROM lk_ph_steps.kpi_overview_live',
              'SELECT * FROM lk_ph_once.kpi_by_campaign_live UNION ALL SELECT NULL, *, NULL, NULL FROM lk_ph_once.kpi_overview_live',
              'and the same figures');

SELECT * FROM finish();
ROLLBACK;
