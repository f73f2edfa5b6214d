-- same_figures: every aggregate and accessor gives, on the distributed
-- tables (schema crm), exactly what it gives on an undistributed copy of the
-- same rows (schema local, plain tables on the coordinator).  Summaries are
-- compared through their text form, which prints every field, sketch
-- buckets included, so percentiles are equal too.
BEGIN;
SELECT plan(48);
SET client_min_messages = error;   -- Citus warns that pg_temp functions stay local

-- same(description, query): the query with @ read as crm. and as local.,
-- the rows compared in order; both must be non-empty.
CREATE FUNCTION pg_temp.same(descr text, q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) x', replace(q, '@', 'local.')) INTO n;
    IF n = 0 THEN
        RETURN NEXT fail(descr || ' (the query returns no rows)');
        RETURN;
    END IF;
    RETURN NEXT results_eq(replace(q, '@', 'crm.'), replace(q, '@', 'local.'), descr);
END $$;

-- the set-up really is distributed: three co-located hash tables and a reference table
SELECT results_eq(
    $$SELECT logicalrelid::text, partmethod::text, colocationid = (SELECT colocationid FROM pg_dist_partition
                                                              WHERE logicalrelid = 'crm.leads'::regclass)
      FROM pg_dist_partition WHERE logicalrelid::text LIKE 'crm.%' ORDER BY 1$$,
    $$VALUES ('crm.leads', 'h', true), ('crm.orders', 'h', true), ('crm.spend', 'n', false), ('crm.stage_events', 'h', true)$$,
    'leads, stage_events and orders are hash-distributed and co-located; spend is a reference table');
SELECT cmp_ok((SELECT count(DISTINCT nodename) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid)
               WHERE s.logicalrelid = 'crm.stage_events'::regclass), '=', 2::bigint,
              'the stage events are spread over both workers');

-- ---------------------------------------------------------------- one-step
SELECT pg_temp.same('conversion_rate(boolean), by campaign',
    $$SELECT campaign, conversion_rate(converted_at IS NOT NULL) FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('conversion_rate(boolean) by channel',
    $$SELECT channel, conversion_rate(converted_at IS NOT NULL) FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('conversion_rate(bigint, bigint) over per-lead counts, by campaign',
    $$SELECT campaign, conversion_rate((converted_at IS NOT NULL)::int::bigint, 1::bigint) FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('conversion_rate(bigint, bigint) over per-day counts (a subquery grouped off the distribution column)',
    $$SELECT campaign, conversion_rate(c, n)
      FROM (SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS d, count(converted_at) AS c, count(*) AS n
            FROM @leads GROUP BY 1, 2) x GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('sales_cycle_avg(timestamptz), by campaign',
    $$SELECT campaign, sales_cycle_avg(first_contact_at, converted_at) FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('sales_cycle_avg(timestamp) by channel',
    $$SELECT channel, sales_cycle_avg(first_contact_at AT TIME ZONE 'Europe/Berlin', converted_at AT TIME ZONE 'Europe/Berlin')
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('sales_cycle_avg(date) by campaign',
    $$SELECT campaign, sales_cycle_avg((first_contact_at AT TIME ZONE 'UTC')::date, (converted_at AT TIME ZONE 'UTC')::date)
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('cost_per_lead and cost_per_order over rows of the distributed leads (revenue as the amount)',
    $$SELECT campaign, cost_per_lead(revenue, 1::bigint), cost_per_order(revenue, (converted_at IS NOT NULL)::int::bigint)
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('cost_per_lead and cost_per_order over campaign_days (reference spend joined to lead and order counts)',
    $$SELECT campaign, cost_per_lead(cost, leads), cost_per_order(cost, orders)
      FROM @campaign_days GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('cost_per_order over the distributed orders (amount per order)',
    $$SELECT date_trunc('month', ordered_at AT TIME ZONE 'UTC') AS m, cost_per_order(amount, 1::bigint)
      FROM @orders GROUP BY 1 ORDER BY 1$$);

SELECT pg_temp.same('every one-step aggregate over all rows (no GROUP BY)',
    $$SELECT conversion_rate(converted_at IS NOT NULL), conversion_rate((converted_at IS NOT NULL)::int::bigint, 1::bigint),
             sales_cycle_avg(first_contact_at, converted_at),
             sales_cycle_avg(first_contact_at AT TIME ZONE 'Europe/Berlin', converted_at AT TIME ZONE 'Europe/Berlin'),
             sales_cycle_avg((first_contact_at AT TIME ZONE 'UTC')::date, (converted_at AT TIME ZONE 'UTC')::date),
             cost_per_lead(revenue, 1::bigint), cost_per_order(revenue, (converted_at IS NOT NULL)::int::bigint)
      FROM @leads$$);
SELECT pg_temp.same('cost_per_lead and cost_per_order over all campaign days',
    $$SELECT cost_per_lead(cost, leads), cost_per_order(cost, orders) FROM @campaign_days$$);

-- ---------------------------------------------------------------- kpi_summary
SELECT pg_temp.same('kpi_agg, every signature, over all rows',
    $$SELECT kpi_agg(first_contact_at, converted_at)::text, kpi_agg(first_contact_at, converted_at, revenue)::text,
             kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC')::text,
             kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC', revenue)::text,
             kpi_agg(first_contact_at::date, converted_at::date)::text, kpi_agg(first_contact_at::date, converted_at::date, revenue)::text
      FROM @leads$$);
SELECT pg_temp.same('spend_agg and rollup over all rows of the reference spend',
    $$SELECT a.s::text, b.s::text FROM (SELECT spend_agg(amount) AS s FROM @spend) a,
                                       (SELECT rollup(s) AS s FROM (SELECT spend_agg(amount) AS s FROM @spend GROUP BY campaign) x) b$$);
SELECT pg_temp.same('kpi_agg(timestamptz, timestamptz) by campaign, the whole summary',
    $$SELECT campaign, kpi_agg(first_contact_at, converted_at)::text FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('kpi_agg(timestamp, timestamp) by channel',
    $$SELECT channel, kpi_agg(first_contact_at AT TIME ZONE 'America/New_York', converted_at AT TIME ZONE 'America/New_York')::text
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('kpi_agg(date, date) by campaign',
    $$SELECT campaign, kpi_agg((first_contact_at AT TIME ZONE 'UTC')::date, (converted_at AT TIME ZONE 'UTC')::date)::text
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('kpi_agg(timestamptz, timestamptz, numeric) by campaign',
    $$SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue)::text FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('kpi_agg(timestamp, timestamp, numeric) by month',
    $$SELECT date_trunc('month', first_contact_at AT TIME ZONE 'UTC') AS m,
             kpi_agg(first_contact_at AT TIME ZONE 'UTC', converted_at AT TIME ZONE 'UTC', revenue)::text
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('kpi_agg(date, date, numeric) by channel',
    $$SELECT channel, kpi_agg(first_contact_at::date, converted_at::date, revenue)::text FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('spend_agg over the reference spend, by campaign',
    $$SELECT campaign, spend_agg(amount)::text FROM @spend GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('rollup of lead and spend summaries by campaign (UNION ALL of a distributed and a reference part)',
    $$SELECT campaign, rollup(s)::text FROM (
          SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue) AS s FROM @leads GROUP BY 1
          UNION ALL SELECT campaign, spend_agg(amount) FROM @spend GROUP BY 1) u
      GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('rollup() straight over a distributed table (rollup is itself pushed down)',
    $$SELECT channel, rollup(kpi_agg)::text FROM (SELECT channel, lead_id, kpi_agg(first_contact_at, converted_at, revenue)
                                                  FROM @leads GROUP BY 1, 2) per_lead
      GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('every kpi_summary accessor by campaign',
    $$SELECT campaign, leads(s), conversions(s), cycles_excluded(s), cost(s), revenue(s), conversion_rate(s),
             cost_per_lead(s), cost_per_order(s), revenue_per_lead(s), roi(s),
             sales_cycle_avg(s), sales_cycle_min(s), sales_cycle_max(s), sales_cycle_median(s),
             sales_cycle_percentile(s, 0), sales_cycle_percentile(s, 0.1), sales_cycle_percentile(s, 0.9),
             sales_cycle_percentile(s, 0.99), sales_cycle_percentile(s, 1)
      FROM (SELECT campaign, rollup(s) AS s FROM (
                SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue) AS s FROM @leads GROUP BY 1
                UNION ALL SELECT campaign, spend_agg(amount) FROM @spend GROUP BY 1) u GROUP BY 1) r
      ORDER BY 1$$);
SELECT pg_temp.same('accessors applied to the aggregate directly (final step on the coordinator)',
    $$SELECT channel, sales_cycle_median(kpi_agg(first_contact_at, converted_at)),
             sales_cycle_percentile(kpi_agg(first_contact_at, converted_at), 0.9),
             revenue_per_lead(kpi_agg(first_contact_at, converted_at, revenue))
      FROM @leads GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('summaries per lead and per day, merged with + and rollup',
    $$SELECT campaign, (rollup(s) + rollup(s))::text FROM (
          SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS d,
                 kpi_agg(first_contact_at, converted_at, revenue) AS s FROM @leads GROUP BY 1, 2) x
      GROUP BY 1 ORDER BY 1$$);

-- ---------------------------------------------------------------- funnels
SELECT pg_temp.same('funnel_agg with stage names, by campaign (events joined to their leads)',
    $$SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                    ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')::text
      FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('funnel_agg over all events',
    $$SELECT funnel_agg(lead_id, occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '30 days')::text
      FROM @stage_events$$);
SELECT pg_temp.same('funnel_agg with modes (strict_order, crm_backfill), by channel',
    $$SELECT l.channel,
             funnel_agg(e.lead_id, e.occurred_at, e.stage, ARRAY['lead','mql','sql','opportunity','customer'],
                        interval '90 days', 'strict_order')::text,
             funnel_agg(e.lead_id, e.occurred_at, e.stage, ARRAY['lead','mql','sql','opportunity','customer'],
                        interval '90 days', 'crm_backfill')::text
      FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('funnel_agg with step indexes and nsteps, text and uuid entities',
    $$SELECT funnel_agg(lead_id, occurred_at, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                        interval '60 days', '', 5)::text,
             funnel_agg(lead_id::text, occurred_at, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                        interval '60 days')::text,
             funnel_agg(md5(lead_id::text)::uuid, occurred_at, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                        interval '60 days', 'strict_increase')::text
      FROM @stage_events$$);
SELECT pg_temp.same('window_funnel per lead (grouped by the distribution column), every lead',
    $$SELECT lead_id, window_funnel(interval '90 days', occurred_at, stage = 'lead', stage = 'mql', stage = 'sql',
                                    stage = 'opportunity', stage = 'customer')
      FROM @stage_events GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('window_funnel with modes, by campaign (not the distribution column), level counts',
    $$SELECT campaign, level, count(*) FROM (
          SELECT l.campaign, e.lead_id,
                 window_funnel(interval '90 days', 'strict_deduplication', e.occurred_at, e.stage = 'lead', e.stage = 'mql',
                               e.stage = 'sql', e.stage = 'opportunity', e.stage = 'customer') AS level
          FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1, 2) x
      GROUP BY 1, 2 ORDER BY 1, 2$$);
SELECT pg_temp.same('two levels: window_funnel per lead, then funnel_agg(level, nsteps) by campaign',
    $$SELECT campaign, funnel_agg(level, 5)::text FROM (
          SELECT e.lead_id, l.campaign,
                 window_funnel(interval '90 days', e.occurred_at, e.stage = 'lead', e.stage = 'mql', e.stage = 'sql',
                               e.stage = 'opportunity', e.stage = 'customer') AS level
          FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1, 2) per_lead
      GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('two levels: funnel_agg per lead, then rollup() by campaign (times to convert kept)',
    $$SELECT campaign, rollup(fs)::text FROM (
          SELECT e.lead_id, l.campaign,
                 funnel_agg(e.lead_id, e.occurred_at, e.stage, ARRAY['lead','mql','sql','opportunity','customer'],
                            interval '90 days') AS fs
          FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1, 2) per_lead
      GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('every funnel_summary accessor by campaign',
    $$SELECT campaign, funnel_nsteps(f), funnel_entities(f), bottleneck(f),
             reached(f, 1), reached(f, 3), reached(f, 5), drop_off(f, 1), drop_off(f, 2), drop_off(f, 5),
             conversion_rate(f, 1, 5), conversion_rate(f, 2, 3), time_to_convert_median(f, 2), time_to_convert_median(f, 5)
      FROM (SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                          ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS f
            FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1) s ORDER BY 1$$);
SELECT pg_temp.same('funnel_steps of the rollup of per-campaign summaries',
    $$SELECT (funnel_steps(rollup(f))).* FROM (
          SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                                        ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS f
          FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1) s$$);

-- ---------------------------------------------------------------- stored summaries on the cluster
-- daily summaries kept in a distributed table (by campaign), rolled up
-- there: the materialized-store pattern of the README on the cluster
CREATE TABLE crm.kpi_daily (campaign text, channel text, day date, s kpi_summary);
SELECT create_distributed_table('crm.kpi_daily', 'campaign');
INSERT INTO crm.kpi_daily
SELECT campaign, channel, (first_contact_at AT TIME ZONE 'UTC')::date, kpi_agg(first_contact_at, converted_at, revenue)
FROM crm.leads GROUP BY 1, 2, 3;
INSERT INTO crm.kpi_daily SELECT campaign, NULL, day, spend_agg(amount) FROM crm.spend GROUP BY 1, 3;
CREATE TABLE local.kpi_daily AS
SELECT campaign, channel, (first_contact_at AT TIME ZONE 'UTC')::date AS day, kpi_agg(first_contact_at, converted_at, revenue) AS s
FROM local.leads GROUP BY 1, 2, 3;
INSERT INTO local.kpi_daily SELECT campaign, NULL, day, spend_agg(amount) FROM local.spend GROUP BY 1, 3;
SELECT is((SELECT count(*) FROM crm.kpi_daily), (SELECT count(*) FROM local.kpi_daily),
          'INSERT .. SELECT of summaries into a distributed table stores every row');
SELECT pg_temp.same('rollup of the stored summaries by campaign (grouped by the distribution column)',
    $$SELECT campaign, rollup(s)::text FROM @kpi_daily GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('rollup of the stored summaries by month (partial rollups on the workers)',
    $$SELECT date_trunc('month', day) AS m, rollup(s)::text, cost_per_lead(rollup(s)), sales_cycle_median(rollup(s))
      FROM @kpi_daily GROUP BY 1 ORDER BY 1$$);
SELECT pg_temp.same('rollup of the stored summaries, one row',
    $$SELECT rollup(s)::text FROM @kpi_daily WHERE day >= date '2025-01-01'$$);

-- ---------------------------------------------------------------- empty and NULL inputs
SELECT pg_temp.same('aggregates over no rows (a filter that matches nothing) give NULL or the empty value as on one node',
    $$SELECT 1 AS k, conversion_rate(converted_at IS NOT NULL), sales_cycle_avg(first_contact_at, converted_at),
             cost_per_lead(revenue, 1::bigint), kpi_agg(first_contact_at, converted_at)::text,
             funnel_agg(lead_id, first_contact_at, 1, interval '1 day')::text
      FROM @leads WHERE lead_id < 0$$);
SELECT pg_temp.same('aggregates over only NULLs',
    $$SELECT campaign, conversion_rate(NULL::boolean), sales_cycle_avg(converted_at, NULL::timestamptz),
             cost_per_order(NULL::numeric, NULL::bigint), kpi_agg(NULL::timestamptz, converted_at)::text
      FROM @leads GROUP BY 1 ORDER BY 1$$);

-- ---------------------------------------------------------------- errors pass through
SELECT throws_ok($$SELECT sales_cycle_percentile(kpi_agg(first_contact_at, converted_at), 1.5) FROM crm.leads$$,
                 '22003', NULL, 'an accessor error on the coordinator keeps its SQLSTATE');
SELECT throws_ok($$SELECT conversion_rate(2::bigint, 1::bigint) FROM crm.leads$$,
                 '22023', NULL, 'a transition-function error on a worker reaches the client with its SQLSTATE');
SELECT throws_ok($$SELECT funnel_agg(lead_id, occurred_at, stage, ARRAY['lead','lead'], interval '1 day') FROM crm.stage_events$$,
                 '22023', NULL, 'a funnel_agg argument error on the cluster keeps its SQLSTATE');
SELECT throws_ok($$SELECT campaign, kpi_agg(first_contact_at, 'infinity'::timestamptz) FROM crm.leads GROUP BY 1$$,
                 '22008', NULL, 'infinite timestamps are 22008 on the workers too');

SELECT * FROM finish();
ROLLBACK;
