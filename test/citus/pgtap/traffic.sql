-- traffic: how many rows the workers send the coordinator, read from the
-- workers' pg_stat_statements (rows returned by the shard queries), against
-- the exact count a push-down must give: one row per shard and group for a
-- partial aggregate, one row per event for a gathered one.
-- Not in a transaction block: there a worker keeps the last portal of each
-- connection open until the transaction ends, and pg_stat_statements counts
-- a query only when its portal closes.
SELECT plan(14);
SET client_min_messages = error;   -- Citus warns that pg_temp functions stay local

-- rows the workers returned for the shard queries of q
CREATE FUNCTION pg_temp.received(q text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    PERFORM run_command_on_workers('SELECT pg_stat_statements_reset()');
    EXECUTE q;
    SELECT sum(result::bigint) INTO n
    FROM run_command_on_workers($w$SELECT coalesce(sum(rows), 0) FROM pg_stat_statements
                                   WHERE query ~ '(leads|stage_events|orders)_[0-9]+'$w$);
    RETURN n;
END $$;

-- (shard, key) groups of the same rows, from the undistributed copy
CREATE FUNCTION pg_temp.groups(key text, rel text DEFAULT 'local.leads') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT get_shard_id_for_distribution_column(''crm.leads'', lead_id), %s FROM %s) g',
                   key, rel) INTO n;
    RETURN n;
END $$;

SELECT is(pg_temp.received($$SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue) FROM crm.leads GROUP BY 1$$),
          pg_temp.groups('campaign'),
          'kpi_agg by campaign: one row per shard and campaign');
SELECT is(pg_temp.received($$SELECT conversion_rate(converted_at IS NOT NULL), sales_cycle_avg(first_contact_at, converted_at),
                                    cost_per_lead(revenue, 1::bigint) FROM crm.leads$$),
          32::bigint,
          'one-step aggregates over all leads: one row per shard');
SELECT is(pg_temp.received($$SELECT channel, sales_cycle_median(kpi_agg(first_contact_at, converted_at)) FROM crm.leads GROUP BY 1$$),
          pg_temp.groups('channel'),
          'sales_cycle_median(kpi_agg) by channel: one row per shard and channel, whatever the number of leads');
SELECT is(pg_temp.received($$SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                    ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')
                             FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1$$),
          (SELECT count(*) FROM local.stage_events e JOIN local.leads l USING (lead_id)),
          'funnel_agg by campaign: one row per event (the baseline a funnel push-down must beat)');
SELECT is(pg_temp.received($$SELECT funnel_agg(lead_id, occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                               interval '90 days') FROM crm.stage_events$$),
          (SELECT count(*) FROM local.stage_events),
          'funnel_agg over all events: one row per event');
SELECT is(pg_temp.received($$SELECT lead_id, window_funnel(interval '90 days', occurred_at, stage = 'lead', stage = 'mql')
                             FROM crm.stage_events GROUP BY 1$$),
          (SELECT count(DISTINCT lead_id) FROM local.stage_events),
          'window_funnel by lead_id: one row per lead');
SELECT is(pg_temp.received($$SELECT campaign, funnel_agg(level, 5) FROM (
                                 SELECT e.lead_id, l.campaign, window_funnel(interval '90 days', e.occurred_at, e.stage = 'lead',
                                        e.stage = 'mql', e.stage = 'sql', e.stage = 'opportunity', e.stage = 'customer') AS level
                                 FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$),
          pg_temp.groups('campaign', '(SELECT DISTINCT l.lead_id, l.campaign FROM local.leads l JOIN local.stage_events USING (lead_id)) x'),
          'two levels, window_funnel per lead then funnel_agg(level, 5) by campaign: one row per shard and campaign');
SELECT is(pg_temp.received($$SELECT campaign, rollup(fs) FROM (
                                 SELECT e.lead_id, l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                        ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
                                 FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$),
          pg_temp.groups('campaign', '(SELECT DISTINCT l.lead_id, l.campaign FROM local.leads l JOIN local.stage_events USING (lead_id)) x'),
          'two levels, funnel_agg per lead then rollup by campaign: one row per shard and campaign');
SELECT is(pg_temp.received($$SELECT campaign, funnel_agg(path, 5, '90 days')
                             FROM (SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                                               '90 days') AS path
                                   FROM crm.stage_events GROUP BY lead_id) p JOIN crm.leads USING (lead_id) GROUP BY campaign$$),
          pg_temp.groups('campaign', '(SELECT DISTINCT l.lead_id, l.campaign FROM local.leads l JOIN local.stage_events USING (lead_id)) x'),
          'two levels, funnel_path per lead then funnel_agg(path, 5, window) by campaign: one row per shard and campaign');
SELECT is(pg_temp.received($$SELECT funnel_agg(path, 5, '90 days')
                             FROM (SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                                               '90 days') AS path
                                   FROM crm.stage_events GROUP BY lead_id) p$$),
          32::bigint,
          'two levels over all leads: one row per shard');
-- create_reports' funnel views over the distributed events: two levels
SELECT count(*) FROM create_reports('rep_traffic', leads => 'crm.leads', stage_events => 'crm.stage_events',
                                    orders => 'crm.orders', stages => ARRAY['lead','mql','sql','opportunity','customer'],
                                    conversion_window => '90 days') \g /dev/null
-- (the views have subplans: a worker counts a query when the coordinator's
-- transaction ends, so run each view in its own transaction and read after)
CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$ SELECT run_command_on_workers('SELECT pg_stat_statements_reset()') $$;
CREATE FUNCTION pg_temp.read() RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(result::bigint) FROM run_command_on_workers($w$SELECT coalesce(sum(rows), 0) FROM pg_stat_statements
                                                              WHERE query ~ '(leads|stage_events|orders)_[0-9]+'$w$) $$;
SELECT pg_temp.reset() \g /dev/null
SELECT count(*) FROM rep_traffic.funnel_by_campaign \g /dev/null
SELECT is(pg_temp.read(),
          pg_temp.groups('campaign', '(SELECT DISTINCT l.lead_id, l.campaign FROM local.leads l JOIN local.stage_events USING (lead_id)) x'),
          'create_reports'' funnel_by_campaign over distributed events: one row per shard and campaign');
SELECT pg_temp.reset() \g /dev/null
SELECT count(*) FROM rep_traffic.funnel_report \g /dev/null
SELECT is(pg_temp.read(), 32::bigint, 'create_reports'' funnel_report over distributed events: one row per shard');
SELECT pg_temp.reset() \g /dev/null
SELECT count(*) FROM rep_traffic.kpi_by_campaign \g /dev/null
-- (twice: the KPIs, and the campaign's channel inferred from its leads, the
-- rule when neither spend nor a campaigns input gives one)
SELECT is(pg_temp.read(), 2 * pg_temp.groups('campaign'),
          'create_reports'' kpi_by_campaign: two rows per shard and campaign (its KPIs and its inferred channel), whatever the leads');
SELECT drop_reports('rep_traffic') \g /dev/null
DROP SCHEMA rep_traffic;
SELECT cmp_ok(pg_temp.groups('campaign'), '<', (SELECT count(*) FROM local.stage_events) / 4,
              'shards x campaigns is well below the event count here, so the counts above tell the plans apart');

SELECT * FROM finish();
