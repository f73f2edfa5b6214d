-- The life of a materialized report schema around the CRM tables: its
-- triggers and stores come and go with create_reports, a re-run and
-- drop_reports (two schemas may watch the same tables), writers of the CRM
-- tables may append changes, the watch list is checked, an input view is
-- watched through its tables, and DROP EXTENSION ... CASCADE removes every
-- trigger and store, never CRM data.
BEGIN;
SELECT plan(37);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_rl;
CREATE TABLE lk_rl.leads (lead_id integer PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text,
                          converted_at timestamptz, updated_at timestamptz DEFAULT now());
INSERT INTO lk_rl.leads SELECT i, timestamptz '2024-01-01' + i * interval '1 day', 'c' || (i % 3), 'web',
                               CASE WHEN i % 4 = 0 THEN timestamptz '2024-01-05' + i * interval '1 day' END
FROM generate_series(1, 40) AS i;
CREATE TABLE lk_rl.spend (campaign text, day date, amount numeric);
INSERT INTO lk_rl.spend VALUES ('c0', '2024-01-02', 10), ('c1', '2024-01-03', 20);
CREATE TEMP TABLE crm_before AS SELECT md5(string_agg((lead_id, first_contact_at, campaign, channel, converted_at)::text, ',' ORDER BY lead_id)) AS h FROM lk_rl.leads;

CREATE FUNCTION pg_temp.triggers(schema_name text) RETURNS bigint LANGUAGE sql
RETURN (SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.pronamespace::regnamespace::text = schema_name);
CREATE FUNCTION pg_temp.made(schema_name text) RETURNS text[] LANGUAGE sql
RETURN (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM (
          SELECT relkind::text || ':' || relname AS x FROM pg_class WHERE relnamespace::regnamespace::text = schema_name AND relkind IN ('r', 'v', 'm')
          UNION ALL SELECT 'f:' || proname FROM pg_proc WHERE pronamespace::regnamespace::text = schema_name) AS y);

-- triggers and stores come with create_reports, and go with a re-run and drop_reports
SELECT lives_ok($$SELECT create_reports('lk_rl_m', 'lk_rl.leads', spend => 'lk_rl.spend', materialized => true)$$, 'materialized reports');
SELECT is(pg_temp.triggers('lk_rl_m'), 8::bigint, 'four statement triggers on each input table (insert, update, delete, truncate)');
SELECT is((SELECT array_agg(DISTINCT tgname ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'lk_rl.leads'::regclass),
          '{"leadkpi lk_rl_m delete","leadkpi lk_rl_m insert","leadkpi lk_rl_m truncate","leadkpi lk_rl_m update"}',
          'named after the report schema');
SELECT ok((SELECT bool_and(tgtype & 1 = 0) FROM pg_trigger WHERE tgrelid = 'lk_rl.leads'::regclass AND NOT tgisinternal),
          'statement-level');
SELECT lives_ok($$SELECT create_reports('lk_rl_m', 'lk_rl.leads', spend => 'lk_rl.spend', materialized => true)$$, 're-run');
SELECT is(pg_temp.triggers('lk_rl_m'), 8::bigint, 'a re-run replaces the triggers, it does not add to them');
SELECT lives_ok($$SELECT create_reports('lk_rl_m', 'lk_rl.leads', spend => 'lk_rl.spend')$$, 're-run as plain reports');
SELECT is(pg_temp.triggers('lk_rl_m'), 0::bigint, 'plain reports leave no trigger');
SELECT is(pg_temp.made('lk_rl_m'), '{v:forecast_by_campaign,v:forecast_by_month,v:forecast_by_week,v:funnel_by_campaign,v:funnel_report,v:kpi_by_campaign,v:kpi_by_channel,v:kpi_by_month,v:kpi_by_owner,v:kpi_by_team,v:kpi_overview,v:report_campaigns,v:report_leads,v:report_spend,v:report_stage_events}',
          'and no store, no function');
SELECT lives_ok($$SELECT create_reports('lk_rl_m', 'lk_rl.leads', spend => 'lk_rl.spend', materialized => true);
                  SELECT create_reports('lk_rl_m2', 'lk_rl.leads', materialized => true)$$, 'two materialized schemas on the same table');
SELECT is(pg_temp.triggers('lk_rl_m2'), 4::bigint, 'each with its own triggers');
SELECT lives_ok($$SELECT drop_reports('lk_rl_m2')$$, 'drop_reports');
SELECT is(pg_temp.triggers('lk_rl_m2') + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'leadkpi lk_rl_m2 %'), 0::bigint,
          'drop_reports removes its triggers');
SELECT is(pg_temp.made('lk_rl_m2'), '{}', 'and its stores and functions');
UPDATE lk_rl.leads SET converted_at = now() WHERE lead_id = 1;
SELECT is((SELECT pending_leads FROM lk_rl_m.report_status), 1::bigint, 'the other schema still records changes');
UPDATE lk_rl.leads SET converted_at = NULL WHERE lead_id = 1;

-- writers of the CRM tables run the triggers: they may append changes
CREATE ROLE lk_rl_writer NOLOGIN;
GRANT USAGE ON SCHEMA lk_rl TO lk_rl_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON lk_rl.leads TO lk_rl_writer;
SELECT create_reports('lk_rl_m', 'lk_rl.leads', spend => 'lk_rl.spend', materialized => true) \g /dev/null
SELECT ok(has_table_privilege('lk_rl_writer', 'lk_rl_m.pending_changes', 'INSERT') AND has_schema_privilege('lk_rl_writer', 'lk_rl_m', 'USAGE'),
          'a role that may write the leads may append to pending_changes');
SELECT ok(NOT has_table_privilege('lk_rl_writer', 'lk_rl_m.pending_changes', 'SELECT') AND NOT has_table_privilege('lk_rl_writer', 'lk_rl_m.kpi_daily', 'SELECT'),
          'and nothing more');
SET LOCAL ROLE lk_rl_writer;
SELECT lives_ok($$INSERT INTO lk_rl.leads (lead_id, first_contact_at, campaign, channel) VALUES (100, now(), 'c9', 'web')$$,
                'its writes go through');
RESET ROLE;
SELECT is((SELECT leads FROM lk_rl_m.kpi_by_campaign_live WHERE campaign = 'c9'), 1::bigint, 'and show in the live views');
DELETE FROM lk_rl.leads WHERE lead_id = 100;

-- the watch list is checked before anything is dropped or created
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', materialized => true, watch => '{"table": "lk_rl.leads"}')$$,
                 '22023', NULL, 'a watch list is a jsonb array');
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', materialized => true, watch => '[{"table": "lk_rl.nope", "rebuild": true}]')$$,
                 '42P01', NULL, 'a watched table must exist');
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', materialized => true,
                                         watch => '[{"table": "lk_rl.leads", "lead_ids": "SELECT nope FROM changed"}]')$$,
                 '22023', NULL, 'a mapping that does not run is refused, naming the table');
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', materialized => true,
                                         watch => '[{"table": "lk_rl.leads", "lead_ids": "SELECT lead_id FROM changed", "change_column": "nope"}]')$$,
                 '42703', NULL, 'a change column must exist');
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', watch => '[]')$$, '22023', NULL, 'watch is for materialized reports');
SELECT throws_ok($$SELECT create_reports('lk_rl_x', 'lk_rl.leads', materialized => true, look_back => '-1 hour')$$, '22023', NULL,
                 'a negative look-back is refused');
CREATE ROLE lk_rl_reader NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA lk_rl TO lk_rl_reader;
GRANT SELECT ON lk_rl.leads TO lk_rl_reader;
SET LOCAL ROLE lk_rl_reader;
SELECT throws_ok($$SELECT create_reports('lk_rl', 'lk_rl.leads', materialized => true)$$, '42501', NULL,
                 'without the TRIGGER privilege on a watched table: 42501, with a hint');
RESET ROLE;
SELECT is(to_regnamespace('lk_rl_x'), NULL, 'none of these created anything');

-- an input view: watched through the tables behind it
CREATE VIEW lk_rl.leads_v AS SELECT lead_id, first_contact_at, campaign, channel, converted_at, updated_at FROM lk_rl.leads WHERE lead_id > 2;
SELECT create_reports('lk_rl_p', 'lk_rl.leads_v', spend => 'lk_rl.spend') \g /dev/null
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$SELECT create_reports('lk_rl_v', 'lk_rl.leads_v', spend => 'lk_rl.spend', materialized => true)$$,
                'materialized reports over a view (a NOTICE says how to watch it better)');
RESET client_min_messages;
UPDATE lk_rl.leads SET campaign = 'c2' WHERE lead_id = 7;
SELECT ok((SELECT rebuild_pending FROM lk_rl_v.report_status), 'a change of its table asks for a full rebuild');
SELECT set_eq('SELECT * FROM lk_rl_v.kpi_by_campaign_live', 'SELECT * FROM lk_rl_p.kpi_by_campaign', 'the live view is right meanwhile');
SELECT lives_ok($$SELECT create_reports('lk_rl_v', 'lk_rl.leads_v', spend => 'lk_rl.spend', materialized => true,
                                        watch => '[{"table": "lk_rl.leads", "lead_ids": "SELECT lead_id FROM changed", "change_column": "updated_at"},
                                                   {"table": "lk_rl.spend", "spend": "SELECT campaign, day FROM changed"}]')$$,
                'or by a watch list: a change column on its table');
UPDATE lk_rl.leads SET campaign = 'c0', updated_at = now() WHERE lead_id = 8;
SELECT set_eq('SELECT * FROM lk_rl_v.kpi_by_campaign_live', 'SELECT * FROM lk_rl_p.kpi_by_campaign', 'then the change is read by its column');

-- DROP EXTENSION: refused while reports exist; CASCADE removes triggers and stores, never CRM data
SELECT throws_ok('DROP EXTENSION leadkpi', '2BP01', NULL, 'DROP EXTENSION without CASCADE is refused while reports exist');
SET LOCAL client_min_messages = warning;
DROP EXTENSION leadkpi CASCADE;
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'leadkpi %'), 0::bigint, 'DROP EXTENSION ... CASCADE leaves no trigger');
SELECT is((SELECT array_agg(DISTINCT relkind::text || ':' || relname ORDER BY relkind::text || ':' || relname) FROM pg_class
            WHERE relnamespace::regnamespace::text LIKE 'lk_rl_%' AND relkind IN ('r', 'v', 'm')
              OR relnamespace::regnamespace::text LIKE 'lk_rl_%' AND relkind = 'r'),
          '{v:funnel_by_campaign,v:funnel_by_campaign_live,v:funnel_report,v:funnel_report_live,v:report_campaigns,v:report_leads,v:report_spend,v:report_stage_events}',
          'no store or report view: only the canonical views and the empty funnel views (no stage events), which use nothing of leadkpi''s');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace::regnamespace::text LIKE 'lk_rl_%'), 0::bigint, 'and no function');
UPDATE lk_rl.leads SET campaign = 'c1', updated_at = '2024-01-01' WHERE lead_id = 7;
UPDATE lk_rl.leads SET campaign = 'c2', updated_at = '2024-01-01' WHERE lead_id = 8;
SELECT is((SELECT md5(string_agg((lead_id, first_contact_at, campaign, channel, converted_at)::text, ',' ORDER BY lead_id)) FROM lk_rl.leads), (SELECT h FROM crm_before),
          'the CRM table is untouched and writable');

SELECT * FROM finish();
ROLLBACK;
