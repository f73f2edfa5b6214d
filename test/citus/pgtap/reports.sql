-- reports: create_reports over the distributed tables, plain and
-- materialized, against the same reports over the undistributed copy:
-- every view gives the same rows; the KPI views push kpi_agg down; the
-- funnel views over distributed events are written in two levels
-- (funnel_path per lead, funnel_agg over the paths) and push down, the ones
-- over the local copy keep the one-pass funnel_agg; materialized reports
-- watch the distributed tables by change columns (triggers are refused),
-- and their refresh, live views and drop_reports work on the cluster.
-- In a transaction block, with no citus.multi_shard_modify_mode set:
-- create_reports sets it itself.
BEGIN;
SELECT plan(52);
SET client_min_messages = error;   -- Citus warns about objects it keeps local (pg_temp, the local copy)

-- same_view(schema a, schema b, view): equal rows, compared as text
CREATE FUNCTION pg_temp.same_view(a text, b text, v text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I.%I', b, v) INTO n;
    IF n = 0 THEN RETURN fail(format('%s.%s is empty', b, v)); END IF;
    RETURN results_eq(format('SELECT t::text FROM %I.%I t ORDER BY 1', a, v),
                      format('SELECT t::text FROM %I.%I t ORDER BY 1', b, v),
                      format('%s: %s equals %s (%s rows)', v, a, b, n));
END $$;
CREATE FUNCTION pg_temp.all_same(a text, b text, views text[]) RETURNS SETOF text
LANGUAGE sql AS $$ SELECT pg_temp.same_view(a, b, v) FROM unnest(views) v $$;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE line text; result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP result := result || line || E'\n'; END LOOP;
    RETURN result;
END $$;

-- ------------------------------------------------------------ plain reports
SELECT lives_ok($$SELECT create_reports('rep_dist', leads => 'crm.leads', stage_events => 'crm.stage_events',
                        spend => 'crm.spend', orders => 'crm.orders',
                        stages => ARRAY['lead','mql','sql','opportunity','customer'],
                        conversion_window => '90 days', time_zone => 'Europe/Berlin')$$,
                'create_reports accepts distributed tables and a reference table');
SELECT create_reports('rep_local', leads => 'local.leads', stage_events => 'local.stage_events',
                      spend => 'local.spend', orders => 'local.orders',
                      stages => ARRAY['lead','mql','sql','opportunity','customer'],
                      conversion_window => '90 days', time_zone => 'Europe/Berlin') \g /dev/null
SELECT pg_temp.all_same('rep_dist', 'rep_local',
    ARRAY['kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'funnel_report', 'funnel_by_campaign']);

-- ------------------------------------------------------------ materialized reports
SELECT throws_ok($$SELECT create_reports('mat_trig', leads => 'crm.leads', stage_events => 'crm.stage_events',
                        stages => ARRAY['lead','mql','sql','opportunity','customer'], materialized => true)$$,
                 '0A000', 'leadkpi: crm.leads is a Citus distributed or reference table: its changes cannot be watched by triggers',
                 'materialized reports: watching a distributed table by triggers is refused (0A000)');
SELECT throws_ok($$SELECT create_reports('mat_trig', leads => 'crm.leads', spend => 'crm.spend', materialized => true,
                        watch => '[{"table": "crm.spend", "spend": "SELECT campaign, day FROM changed"}]')$$,
                 '0A000', 'leadkpi: crm.spend is a Citus distributed or reference table: its changes cannot be watched by triggers',
                 'and a reference table by triggers too');
SELECT is((SELECT count(*) FROM pg_namespace WHERE nspname = 'mat_trig'), 0::bigint, 'and nothing was created');
-- the sample CRM has no last-modified columns: the leads', events' and
-- orders' time columns stand in for them (inserts only, within the
-- look-back window of an hour); spend has one from setup.sql
CREATE FUNCTION pg_temp.watch(sch text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT format('[{"table": "%1$s.leads", "lead_ids": "SELECT lead_id FROM changed", "change_column": "first_contact_at"},
                    {"table": "%1$s.stage_events", "lead_ids": "SELECT lead_id FROM changed", "events_only": true, "change_column": "occurred_at"},
                    {"table": "%1$s.orders", "lead_ids": "SELECT lead_id FROM changed", "change_column": "ordered_at"},
                    {"table": "%1$s.spend", "spend": "SELECT campaign, day FROM changed", "change_column": "updated_at"}]', sch)::jsonb $$;
SELECT lives_ok($$SELECT create_reports('mat_dist', leads => 'crm.leads', stage_events => 'crm.stage_events',
                        spend => 'crm.spend', orders => 'crm.orders',
                        stages => ARRAY['lead','mql','sql','opportunity','customer'],
                        conversion_window => '90 days', time_zone => 'Europe/Berlin', materialized => true,
                        watch => pg_temp.watch('crm'))$$,
                'create_reports(materialized => true) over distributed tables, watched by change columns');
SELECT create_reports('mat_local', leads => 'local.leads', stage_events => 'local.stage_events',
                      spend => 'local.spend', orders => 'local.orders',
                      stages => ARRAY['lead','mql','sql','opportunity','customer'],
                      conversion_window => '90 days', time_zone => 'Europe/Berlin', materialized => true,
                      watch => pg_temp.watch('local')) \g /dev/null
SELECT lives_ok($$SELECT create_reports('mat_none', leads => 'crm.leads', stage_events => 'crm.stage_events',
                        spend => 'crm.spend', orders => 'crm.orders',
                        stages => ARRAY['lead','mql','sql','opportunity','customer'],
                        conversion_window => '90 days', time_zone => 'Europe/Berlin', materialized => true, watch => '[]')$$,
                'create_reports(materialized => true, watch => []) over distributed tables');
-- the stores are tables on the coordinator: Citus keeps them local
SELECT is((SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'mat_dist.%'), 0::bigint,
          'the stores and materialized reports are local to the coordinator');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'leadkpi%'), 0::bigint, 'no trigger on the distributed tables');
SELECT ok(pg_get_functiondef('mat_dist._lk_events_of'::regproc) ~ 'plpgsql'
          AND pg_get_functiondef('mat_local._lk_events_of'::regproc) !~ 'plpgsql',
          'the lookups of changed leads are PL/pgSQL over Citus tables (Citus cannot plan an SQL function''s parameters), SQL otherwise');
SELECT pg_temp.all_same('mat_dist', 'mat_local',
    ARRAY['kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'funnel_report', 'funnel_by_campaign',
          'kpi_daily', 'funnel_daily', 'spend_daily']);

-- new rows today: the live views must see them, the stores only after a refresh
INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel, converted_at, revenue)
SELECT 10000000 + g, now() - interval '1 minute' * g, 'c001-paid_search', 'paid_search',
       CASE WHEN g % 3 = 0 THEN now() END, CASE WHEN g % 3 = 0 THEN 100 + g END
FROM generate_series(1, 50) g;
INSERT INTO crm.stage_events SELECT lead_id, 'lead', first_contact_at FROM crm.leads WHERE lead_id > 10000000;
INSERT INTO crm.stage_events SELECT lead_id, 'customer', converted_at FROM crm.leads WHERE lead_id > 10000000 AND converted_at IS NOT NULL;
INSERT INTO crm.spend VALUES ('c001-paid_search', (now() AT TIME ZONE 'Europe/Berlin')::date, 123.45, now());
INSERT INTO local.leads SELECT * FROM crm.leads WHERE lead_id > 10000000;
INSERT INTO local.stage_events SELECT * FROM crm.stage_events WHERE lead_id > 10000000;
INSERT INTO local.spend VALUES ('c001-paid_search', (now() AT TIME ZONE 'Europe/Berlin')::date, 123.45, now());

SELECT pg_temp.all_same('mat_dist', 'mat_local',
    ARRAY['kpi_overview_live', 'kpi_by_campaign_live', 'kpi_by_channel_live', 'kpi_by_month_live',
          'funnel_report_live', 'funnel_by_campaign_live']);
-- the live views equal the plain reports over the same distributed tables
SELECT results_eq(format('SELECT t::text FROM mat_dist.%I t ORDER BY 1', v || '_live'),
                  format('SELECT t::text FROM rep_dist.%I t ORDER BY 1', v),
                  v || '_live over the distributed tables equals the plain ' || v)
FROM unnest(ARRAY['kpi_overview', 'kpi_by_campaign', 'funnel_report', 'funnel_by_campaign']) v;
SELECT cmp_ok((SELECT leads FROM mat_dist.kpi_overview_live), '=', (SELECT leads FROM mat_dist.kpi_overview) + 50,
              'the live overview counts the 50 new distributed leads before any refresh');

SELECT set_eq($$SELECT * FROM refresh_reports('mat_dist')$$,
              $$SELECT ('mat_dist.' || n)::regclass FROM unnest(ARRAY['lead_facts', 'kpi_daily', 'spend_daily', 'funnel_daily',
                    'kpi_monthly', 'spend_monthly', 'funnel_monthly']) n$$,
              'refresh_reports writes the stores from the distributed tables');
SELECT refresh_reports('mat_local') \g /dev/null
SELECT pg_temp.all_same('mat_dist', 'mat_local',
    ARRAY['kpi_daily', 'funnel_daily', 'kpi_by_campaign', 'funnel_by_campaign', 'funnel_report']);
SELECT results_eq(format('SELECT t::text FROM mat_dist.%I t ORDER BY 1', v),
                  format('SELECT t::text FROM rep_dist.%I t ORDER BY 1', v),
                  v || ' after the refresh equals the plain ' || v)
FROM unnest(ARRAY['kpi_by_campaign', 'funnel_by_campaign']) v;
SELECT refresh_reports('mat_none', full => true) \g /dev/null
SELECT pg_temp.all_same('mat_none', 'mat_local', ARRAY['kpi_by_campaign', 'funnel_by_campaign']);

-- ------------------------------------------------------------ plans
-- (after the materialized part: an EXPLAIN that plans a task on the
-- coordinator's own placement of the reference table makes Citus use a
-- connection to itself for the rest of the transaction, which cannot see
-- the stores this transaction created)
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.kpi_by_campaign')
          ~ 'worker_partial_agg\(''public\.kpi_agg\(timestamp with time zone,timestamp with time zone,numeric\)''',
          'kpi_by_campaign: kpi_agg runs partially on the workers (orders joined there, co-located)');
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.kpi_by_month') ~ 'worker_partial_agg\(''public\.kpi_agg',
          'kpi_by_month: kpi_agg runs partially on the workers');
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.funnel_by_campaign')
          ~ 'worker_partial_agg\(''public\.funnel_agg\(timestamp with time zone\[\],integer,interval,text\)''',
          'funnel_by_campaign over distributed events: funnel_agg over the paths runs partially on the workers');
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.funnel_by_campaign') ~ 'funnel_path\(stage_events\.occurred_at'
          AND pg_temp.plan('SELECT * FROM rep_dist.funnel_by_campaign') !~ 'funnel_agg\(remote_scan',
          'funnel_by_campaign: the workers compute the paths per lead; no event is aggregated on the coordinator');
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.funnel_report')
          ~ 'worker_partial_agg\(''public\.funnel_agg\(timestamp with time zone\[\],integer,interval,text\)''',
          'funnel_report over distributed events: pushed down the same way');
SELECT ok(pg_get_viewdef('rep_dist.funnel_by_campaign') ~ 'funnel_path' AND pg_get_viewdef('rep_local.funnel_by_campaign') !~ 'funnel_path'
          AND pg_get_viewdef('rep_local.funnel_report') !~ 'funnel_path',
          'the two-level form only over distributed events; the local copy keeps the one-pass funnel_agg');
-- ------------------------------------------------------------ drop
SELECT lives_ok($$SELECT drop_reports('rep_dist'); SELECT drop_reports('mat_dist'); SELECT drop_reports('mat_none')$$,
                'drop_reports over distributed inputs, after queries over them in the same transaction');
SELECT * FROM finish();
ROLLBACK;
