-- reports: create_reports over the distributed tables, plain and
-- materialized, against the same reports over the undistributed copy:
-- every view gives the same rows; the KPI views push kpi_agg down; the
-- funnel views (funnel_agg by campaign) still gather every event; refresh,
-- live views over new rows and drop_reports work on the cluster.
BEGIN;
-- In a transaction block, Citus refuses to propagate CREATE SCHEMA (and the
-- views) after a parallel query on a distributed table, and create_reports
-- reads the stage events before it creates anything: run the transaction's
-- multi-shard commands over one connection per worker (see doc/citus.md;
-- t/reports_transaction.sh shows the error without it).
SET LOCAL citus.multi_shard_modify_mode = 'sequential';
SELECT plan(26);
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
SELECT lives_ok($$SELECT create_reports('mat_dist', leads => 'crm.leads', stage_events => 'crm.stage_events',
                        spend => 'crm.spend', orders => 'crm.orders',
                        stages => ARRAY['lead','mql','sql','opportunity','customer'],
                        conversion_window => '90 days', time_zone => 'Europe/Berlin', materialized => true)$$,
                'create_reports(materialized => true) over distributed tables');
SELECT create_reports('mat_local', leads => 'local.leads', stage_events => 'local.stage_events',
                      spend => 'local.spend', orders => 'local.orders',
                      stages => ARRAY['lead','mql','sql','opportunity','customer'],
                      conversion_window => '90 days', time_zone => 'Europe/Berlin', materialized => true) \g /dev/null
-- the stores are materialized views on the coordinator: Citus keeps them local
SELECT is((SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'mat_dist.%'), 0::bigint,
          'the stores and materialized reports are local to the coordinator');

-- new rows today: the live views must see them, the stores only after a refresh
INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel, converted_at, revenue)
SELECT 10000000 + g, now() - interval '1 minute' * g, 'c001-paid_search', 'paid_search',
       CASE WHEN g % 3 = 0 THEN now() END, CASE WHEN g % 3 = 0 THEN 100 + g END
FROM generate_series(1, 50) g;
INSERT INTO crm.stage_events SELECT lead_id, 'lead', first_contact_at FROM crm.leads WHERE lead_id > 10000000;
INSERT INTO crm.stage_events SELECT lead_id, 'customer', converted_at FROM crm.leads WHERE lead_id > 10000000 AND converted_at IS NOT NULL;
INSERT INTO crm.spend VALUES ('c001-paid_search', (now() AT TIME ZONE 'Europe/Berlin')::date, 123.45);
INSERT INTO local.leads SELECT * FROM crm.leads WHERE lead_id > 10000000;
INSERT INTO local.stage_events SELECT * FROM crm.stage_events WHERE lead_id > 10000000;
INSERT INTO local.spend VALUES ('c001-paid_search', (now() AT TIME ZONE 'Europe/Berlin')::date, 123.45);

SELECT pg_temp.all_same('mat_dist', 'mat_local',
    ARRAY['kpi_overview_live', 'kpi_by_campaign_live', 'kpi_by_channel_live', 'kpi_by_month_live',
          'funnel_report_live', 'funnel_by_campaign_live']);
SELECT cmp_ok((SELECT leads FROM mat_dist.kpi_overview_live), '=', (SELECT leads FROM mat_dist.kpi_overview) + 50,
              'the live overview counts the 50 new distributed leads before any refresh');

SELECT set_eq($$SELECT * FROM refresh_reports('mat_dist')$$,
              $$SELECT ('mat_dist.' || n)::regclass FROM unnest(ARRAY['kpi_watermark', 'kpi_daily', 'spend_daily', 'funnel_store',
                    'kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'funnel_report', 'funnel_by_campaign']) n$$,
              'refresh_reports refreshes every store and report over the distributed tables (concurrently)');
SELECT refresh_reports('mat_local') \g /dev/null
SELECT pg_temp.all_same('mat_dist', 'mat_local',
    ARRAY['kpi_daily', 'funnel_store', 'kpi_by_campaign', 'funnel_by_campaign']);
SELECT lives_ok($$SELECT refresh_reports('mat_dist', concurrently => false)$$, 'a refresh that is not concurrent works too');

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
SELECT ok(pg_temp.plan('SELECT * FROM rep_dist.funnel_by_campaign') ~ 'Output: remote_scan\.campaign, funnel_agg\(remote_scan',
          'funnel_by_campaign: funnel_agg gathers the events on the coordinator (no push-down yet)');
-- ------------------------------------------------------------ drop
SELECT lives_ok($$SELECT drop_reports('rep_dist'); SELECT drop_reports('mat_dist')$$, 'drop_reports over distributed inputs');
SELECT * FROM finish();
ROLLBACK;
