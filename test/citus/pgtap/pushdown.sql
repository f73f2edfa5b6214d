-- pushdown: what Citus sends to the workers for each leadkpi aggregate.
-- Evidence from the plans (EXPLAIN VERBOSE shows each task's SQL; EXPLAIN
-- ANALYZE is not used, it fails on pushed-down custom aggregates in Citus
-- 13.2, citusdata/citus#4043) and from citus.coordinator_aggregation_strategy
-- = 'disabled', under which an aggregate Citus cannot push down is an error
-- instead of a silent pull of every row.
BEGIN;
SELECT plan(41);
SET client_min_messages = error;   -- Citus warns that pg_temp functions stay local

-- the whole EXPLAIN VERBOSE output of a query, as one text
CREATE FUNCTION pg_temp.plan(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE line text; result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END $$;

-- partial(aggregate signature, query): the workers run the real transition
-- function through Citus's worker_partial_agg and the coordinator combines
-- with coord_combine_agg (the aggregate's combine function) and finalizes.
CREATE FUNCTION pg_temp.partial(sig text, q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE p text := pg_temp.plan(q);
BEGIN
    RETURN NEXT ok(strpos(p, format('worker_partial_agg(%L::regprocedure', 'public.' || sig)) > 0
                   AND strpos(p, 'coord_combine_agg(') > 0
                   AND p ~ 'Task Count: 32',
                   sig || ': partial aggregate on the workers, combined on the coordinator');
END $$;

SELECT pg_temp.partial('conversion_rate(boolean)',
    $$SELECT campaign, conversion_rate(converted_at IS NOT NULL) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('conversion_rate(bigint,bigint)',
    $$SELECT conversion_rate((converted_at IS NOT NULL)::int::bigint, 1::bigint) FROM crm.leads$$);
SELECT pg_temp.partial('sales_cycle_avg(timestamp with time zone,timestamp with time zone)',
    $$SELECT channel, sales_cycle_avg(first_contact_at, converted_at) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('sales_cycle_avg(timestamp without time zone,timestamp without time zone)',
    $$SELECT sales_cycle_avg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC') FROM crm.leads$$);
SELECT pg_temp.partial('sales_cycle_avg(date,date)',
    $$SELECT campaign, sales_cycle_avg(first_contact_at::date, converted_at::date) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('cost_per_lead(numeric,bigint)',
    $$SELECT campaign, cost_per_lead(revenue, 1::bigint) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('cost_per_order(numeric,bigint)',
    $$SELECT cost_per_order(amount, 1::bigint) FROM crm.orders$$);
SELECT pg_temp.partial('kpi_agg(timestamp with time zone,timestamp with time zone)',
    $$SELECT campaign, kpi_agg(first_contact_at, converted_at) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('kpi_agg(timestamp without time zone,timestamp without time zone)',
    $$SELECT kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC') FROM crm.leads$$);
SELECT pg_temp.partial('kpi_agg(date,date)',
    $$SELECT channel, kpi_agg(first_contact_at::date, converted_at::date) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('kpi_agg(timestamp with time zone,timestamp with time zone,numeric)',
    $$SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('kpi_agg(timestamp without time zone,timestamp without time zone,numeric)',
    $$SELECT kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC', revenue) FROM crm.leads$$);
SELECT pg_temp.partial('kpi_agg(date,date,numeric)',
    $$SELECT campaign, kpi_agg(first_contact_at::date, converted_at::date, revenue) FROM crm.leads GROUP BY 1$$);
SELECT pg_temp.partial('rollup(public.kpi_summary)',
    $$SELECT channel, rollup(s) FROM (SELECT lead_id, channel, kpi_agg(first_contact_at, converted_at) AS s
                                      FROM crm.leads GROUP BY 1, 2) x GROUP BY 1$$);
SELECT pg_temp.partial('funnel_agg(integer,integer)',
    $$SELECT campaign, funnel_agg(level, 5) FROM (
          SELECT e.lead_id, l.campaign, window_funnel(interval '90 days', e.occurred_at, e.stage = 'lead', e.stage = 'mql',
                 e.stage = 'sql', e.stage = 'opportunity', e.stage = 'customer') AS level
          FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$);
SELECT pg_temp.partial('rollup(public.funnel_summary)',
    $$SELECT campaign, rollup(fs) FROM (
          SELECT e.lead_id, l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                 ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
          FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$);
SELECT pg_temp.partial('funnel_agg(timestamp with time zone[],integer,interval)',
    $$SELECT campaign, funnel_agg(path, 5, interval '90 days')
      FROM (SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                        interval '90 days') AS path
            FROM crm.stage_events GROUP BY lead_id) p JOIN crm.leads USING (lead_id) GROUP BY campaign$$);
SELECT ok(pg_temp.plan($$SELECT campaign, funnel_agg(path, 5, interval '90 days')
                         FROM (SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql'], interval '90 days') AS path
                               FROM crm.stage_events GROUP BY lead_id) p JOIN crm.leads USING (lead_id) GROUP BY campaign$$)
          ~ 'Query: SELECT .*public\.funnel_path\(',
          'two levels with funnel_path: the workers run funnel_path per lead themselves');

-- the accessors of a pushed-down summary run on the coordinator, after the combine
SELECT ok(pg_temp.plan($$SELECT campaign, sales_cycle_median(kpi_agg(first_contact_at, converted_at)) FROM crm.leads GROUP BY 1$$)
          ~ 'sales_cycle_median\(coord_combine_agg\(',
          'an accessor over kpi_agg is applied on the coordinator to the combined summary');

-- a multi-argument aggregate reaches worker_partial_agg as one ROW(...) per
-- input row, which the worker unpacks before calling the transition function
SELECT ok(pg_temp.plan($$SELECT kpi_agg(first_contact_at, converted_at, revenue) FROM crm.leads$$)
          ~ 'worker_partial_agg\([^)]*ROW\(first_contact_at, converted_at, revenue\)\)',
          'multi-argument aggregates are shipped as ROW(args) to worker_partial_agg');

-- grouped by the distribution column, the whole aggregate (final step
-- included) runs on the workers: no combine on the coordinator
SELECT ok(pg_temp.plan($$SELECT lead_id, window_funnel(interval '90 days', occurred_at, stage = 'lead', stage = 'mql')
                         FROM crm.stage_events GROUP BY 1$$)
          !~ 'coord_combine_agg|worker_partial_agg',
          'window_funnel grouped by lead_id runs whole on the workers');
SELECT ok(pg_temp.plan($$SELECT lead_id, window_funnel(interval '90 days', occurred_at, stage = 'lead', stage = 'mql')
                         FROM crm.stage_events GROUP BY 1$$)
          ~ 'Query: SELECT lead_id, public\.window_funnel\(',
          'the worker query of window_funnel by lead_id calls window_funnel itself');
SELECT ok(pg_temp.plan($$SELECT e.lead_id, funnel_agg(e.lead_id, e.occurred_at, e.stage, ARRAY['lead','mql'], interval '9 days')
                         FROM crm.stage_events e GROUP BY 1$$)
          !~ 'coord_combine_agg|worker_partial_agg',
          'funnel_agg grouped by lead_id runs whole on the workers');
SELECT ok(pg_temp.plan($$SELECT lead_id, kpi_agg(first_contact_at, converted_at) FROM crm.leads GROUP BY 1$$)
          !~ 'coord_combine_agg|worker_partial_agg',
          'kpi_agg grouped by lead_id runs whole on the workers');
CREATE TABLE crm.kpi_by_day (campaign text, day date, s kpi_summary);
SELECT create_distributed_table('crm.kpi_by_day', 'campaign');
SELECT ok(pg_temp.plan($$SELECT campaign, rollup(s) FROM crm.kpi_by_day GROUP BY 1$$)
          !~ 'coord_combine_agg|worker_partial_agg',
          'rollup grouped by the distribution column of a summary table runs whole on the workers');

-- funnel_agg and window_funnel by anything else: their state is internal,
-- so Citus gathers their argument rows, one per event, on the coordinator
SELECT ok(pg_temp.plan($$SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                                       ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')
                         FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1$$)
          ~ 'Query: SELECT l\.campaign, e\.lead_id AS funnel_agg, e\.occurred_at AS funnel_agg, e\.stage AS funnel_agg',
          'funnel_agg by campaign: the workers ship every event''s arguments (row gather)');
SELECT ok(pg_temp.plan($$SELECT funnel_agg(lead_id, occurred_at, 1, interval '1 day') FROM crm.stage_events$$)
          ~ 'Output: funnel_agg\(remote_scan',
          'funnel_agg over all events: aggregated on the coordinator only');
SELECT ok(pg_temp.plan($$SELECT l.channel, window_funnel(interval '9 days', e.occurred_at, e.stage = 'lead')
                         FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1$$)
          ~ 'Output: remote_scan\.channel, window_funnel\(remote_scan',
          'window_funnel by channel: aggregated on the coordinator only');

-- citus.coordinator_aggregation_strategy = 'disabled': every aggregate that
-- runs must have been pushed down
SET citus.coordinator_aggregation_strategy = 'disabled';
SELECT lives_ok($$SELECT campaign, conversion_rate(converted_at IS NOT NULL), conversion_rate(1::bigint, 1::bigint),
                         sales_cycle_avg(first_contact_at, converted_at),
                         sales_cycle_avg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC'),
                         sales_cycle_avg(first_contact_at::date, converted_at::date),
                         cost_per_lead(revenue, 1::bigint), cost_per_order(revenue, 1::bigint)
                  FROM crm.leads GROUP BY 1$$,
                'with coordinator aggregation disabled, every one-step aggregate runs');
SELECT lives_ok($$SELECT channel, kpi_agg(first_contact_at, converted_at), kpi_agg(first_contact_at, converted_at, revenue),
                         kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC'),
                         kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC', revenue),
                         kpi_agg(first_contact_at::date, converted_at::date), kpi_agg(first_contact_at::date, converted_at::date, revenue),
                         spend_agg(revenue)
                  FROM crm.leads GROUP BY 1$$,
                'with coordinator aggregation disabled, kpi_agg and spend_agg run');
SELECT lives_ok($$SELECT channel, rollup(s), rollup(s) FILTER (WHERE channel <> 'x')
                  FROM (SELECT lead_id, channel, kpi_agg(first_contact_at, converted_at) AS s FROM crm.leads GROUP BY 1, 2) x GROUP BY 1$$,
                'with coordinator aggregation disabled, rollup(kpi_summary) runs');
SELECT lives_ok($$SELECT campaign, funnel_agg(level, 5) FROM (
                      SELECT e.lead_id, l.campaign, window_funnel(interval '90 days', e.occurred_at, e.stage = 'lead', e.stage = 'mql',
                             e.stage = 'sql', e.stage = 'opportunity', e.stage = 'customer') AS level
                      FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$,
                'with coordinator aggregation disabled, the two-level funnel (window_funnel per lead, funnel_agg of levels) runs');
SELECT lives_ok($$SELECT campaign, rollup(fs) FROM (
                      SELECT e.lead_id, l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                             ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
                      FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1$$,
                'with coordinator aggregation disabled, the two-level funnel (funnel_agg per lead, rollup) runs');
SELECT lives_ok($$SELECT campaign, funnel_agg(path, 5, interval '90 days', 'strict_order')
                  FROM (SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                                    interval '90 days', 'strict_order') AS path
                        FROM crm.stage_events GROUP BY lead_id) p JOIN crm.leads USING (lead_id) GROUP BY campaign$$,
                'with coordinator aggregation disabled, the two-level funnel (funnel_path per lead, funnel_agg of paths) runs');
SELECT throws_ok($$SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage, ARRAY['lead','mql'], interval '9 days')
                   FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1$$,
                 'XX000', 'unsupported aggregate function funnel_agg',
                 'with coordinator aggregation disabled, funnel_agg by campaign is refused (it would gather every event)');
SELECT throws_ok($$SELECT l.campaign, window_funnel(interval '9 days', e.occurred_at, e.stage = 'lead')
                   FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1$$,
                 'XX000', 'unsupported aggregate function window_funnel',
                 'with coordinator aggregation disabled, window_funnel by campaign is refused');
SELECT lives_ok($$SELECT lead_id, window_funnel(interval '9 days', occurred_at, stage = 'lead'),
                         funnel_agg(lead_id, occurred_at, stage, ARRAY['lead','mql'], interval '9 days')
                  FROM crm.stage_events GROUP BY 1$$,
                'with coordinator aggregation disabled, funnels grouped by lead_id run');
RESET citus.coordinator_aggregation_strategy;

-- nothing to declare: the aggregates are not distributed functions
-- (create_distributed_function); Citus pushes them down because the
-- extension exists on every node and each aggregate has a combine function
-- and a state type that is not a pseudo-type
SELECT is((SELECT count(*) FROM pg_dist_object o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
           WHERE p.proname IN ('kpi_agg', 'conversion_rate', 'rollup', 'funnel_agg')), 0::bigint,
          'no leadkpi aggregate is a distributed function');
SELECT is((SELECT count(*) FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
           JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
           JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'leadkpi'
           WHERE a.aggcombinefn <> 0 AND a.aggtranstype NOT IN ('internal'::regtype)), 22::bigint,
          '22 leadkpi aggregates have a combine function and a non-internal state (what Citus needs)');
SELECT set_eq($$SELECT DISTINCT p.proname::text FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'leadkpi'
                WHERE a.aggtranstype = 'internal'::regtype$$,
              ARRAY['window_funnel', 'funnel_agg', 'funnel_path', 'close_agg_segments'],
              'the aggregates with an internal state, which Citus cannot push down, are window_funnel, funnel_agg (with events), funnel_path (run per lead) and the forecast''s close_agg_segments');
SELECT is((SELECT result FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'$$) LIMIT 1),
          (SELECT extversion::text FROM pg_extension WHERE extname = 'leadkpi'),
          'CREATE EXTENSION leadkpi on the coordinator created it on the workers, same version');

SELECT * FROM finish();
ROLLBACK;
