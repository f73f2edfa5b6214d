-- kpi_rollup: daily kpi_summary rows merged with rollup() and + must equal
-- the summary built from the raw rows at once, exactly (text and every
-- accessor), in any order and grouping, serial or parallel; spend summaries
-- merge into lead summaries.
BEGIN;
SELECT plan(32);

\ir include/kpi_data.sql

-- Every accessor of a summary in one line (NULL shows as an empty field).
CREATE FUNCTION tap_acc(s kpi_summary) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('leads=%s conv=%s excl=%s cost=%s rev=%s cr=%s cpl=%s cpo=%s rpl=%s roi=%s avg=%s min=%s max=%s med=%s p90=%s',
                  leads(s), conversions(s), cycles_excluded(s), cost(s), revenue(s), conversion_rate(s),
                  cost_per_lead(s), cost_per_order(s), revenue_per_lead(s), roi(s), sales_cycle_avg(s),
                  sales_cycle_min(s), sales_cycle_max(s), sales_cycle_median(s), sales_cycle_percentile(s, 0.9))
$$;

-- Left and right folds with +, and a balanced pairwise tree of + merges.
CREATE AGGREGATE tap_lfold(kpi_summary) (SFUNC = kpi_summary_add, STYPE = kpi_summary);
CREATE FUNCTION tap_radd(acc kpi_summary, x kpi_summary) RETURNS kpi_summary
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT x + acc $$;
CREATE AGGREGATE tap_rfold(kpi_summary) (SFUNC = tap_radd, STYPE = kpi_summary);
CREATE FUNCTION tap_tree(a kpi_summary[]) RETURNS kpi_summary LANGUAGE plpgsql AS $$
DECLARE nxt kpi_summary[];
BEGIN
    WHILE cardinality(a) > 1 LOOP
        nxt := '{}';
        FOR i IN 1 .. cardinality(a) BY 2 LOOP
            nxt := nxt || CASE WHEN i < cardinality(a) THEN a[i] + a[i + 1] ELSE a[i] END;
        END LOOP;
        a := nxt;
    END LOOP;
    RETURN a[1];
END $$;

-- Daily summaries, stored (a regular table, so that it can be scanned in parallel).
CREATE TABLE tap_day AS
SELECT campaign, channel, first_contact::date AS day, kpi_agg(first_contact, converted_at, revenue) AS s
FROM tap_leads GROUP BY campaign, channel, first_contact::date;
CREATE TABLE tap_day_spend AS
SELECT campaign, channel, day, spend_agg(cost) AS s FROM tap_spend GROUP BY campaign, channel, day;

-- The same summaries built at once from the raw rows.
CREATE TABLE tap_raw AS
SELECT 'campaign' AS dim, campaign AS key, kpi_agg(first_contact, converted_at, revenue) AS s
FROM tap_leads GROUP BY campaign
UNION ALL
SELECT 'channel', channel, kpi_agg(first_contact, converted_at, revenue) FROM tap_leads GROUP BY channel
UNION ALL
SELECT 'all', '*', kpi_agg(first_contact, converted_at, revenue) FROM tap_leads;

CREATE TABLE tap_day_spill AS SELECT campaign, day, s FROM tap_day UNION ALL SELECT campaign, day, s FROM tap_day;
ANALYZE tap_day_spill;
CREATE FUNCTION tap_plan2(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; plan text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP plan := plan || r || E'\n'; END LOOP;
    RETURN plan;
END $$;

SELECT cmp_ok((SELECT count(*) FROM tap_day), '>', 5000::bigint, 'thousands of daily summaries to merge');

-- ---------------------------------------------------------------------------
-- rollup() by campaign, by channel, overall = kpi_agg over the raw rows
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT campaign, rollup(s)::text FROM tap_day GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'rollup of daily summaries by campaign has the text of kpi_agg over the raw rows');

SELECT results_eq(
    $$SELECT campaign, tap_acc(rollup(s)) FROM tap_day GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, tap_acc(s) FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'rollup by campaign: every accessor equals kpi_agg over the raw rows');

SELECT results_eq(
    $$SELECT channel, rollup(s)::text FROM tap_day GROUP BY channel ORDER BY channel$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'channel' ORDER BY key$$,
    'rollup of daily per-campaign summaries by channel has the text of kpi_agg by channel');

SELECT results_eq(
    $$SELECT channel, tap_acc(rollup(s)) FROM tap_day GROUP BY channel ORDER BY channel$$,
    $$SELECT key, tap_acc(s) FROM tap_raw WHERE dim = 'channel' ORDER BY key$$,
    'rollup by channel: every accessor equals kpi_agg over the raw rows');

SELECT is(
    (SELECT rollup(s)::text FROM tap_day),
    (SELECT s::text FROM tap_raw WHERE dim = 'all'),
    'rollup of every daily summary has the text of kpi_agg over all rows');

SELECT is(
    (SELECT tap_acc(rollup(s)) FROM tap_day),
    (SELECT tap_acc(s) FROM tap_raw WHERE dim = 'all'),
    'overall rollup: every accessor equals kpi_agg over all rows');

SELECT is(
    (SELECT rollup(s)::text FROM (SELECT rollup(s) AS s FROM tap_day GROUP BY campaign) x),
    (SELECT s::text FROM tap_raw WHERE dim = 'all'),
    'rollup of per-campaign rollups (two levels) equals kpi_agg over all rows');

SELECT is(
    (SELECT rollup(s)::text FROM (SELECT date_trunc('month', day) m, rollup(s) AS s FROM tap_day GROUP BY 1) x),
    (SELECT s::text FROM tap_raw WHERE dim = 'all'),
    'rollup of monthly rollups equals kpi_agg over all rows');

-- ---------------------------------------------------------------------------
-- Order and grouping do not matter
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT DISTINCT t FROM (SELECT rep, rollup(s ORDER BY random())::text AS t
                             FROM tap_day CROSS JOIN generate_series(1, 4) rep GROUP BY rep) x$$,
    $$SELECT s::text FROM tap_raw WHERE dim = 'all'$$,
    'rollup(s ORDER BY random()) four times gives one text, that of kpi_agg');

SELECT is(
    (SELECT rollup(s)::text FROM (SELECT s FROM tap_day ORDER BY random()) x),
    (SELECT rollup(s)::text FROM (SELECT s FROM tap_day ORDER BY day DESC, channel DESC, campaign DESC) x),
    'rollup over a randomly ordered subquery equals rollup over a reverse-sorted one');

SELECT results_eq(
    $$SELECT campaign, tap_lfold(s ORDER BY day)::text FROM tap_day GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'a left fold with + over the days of each campaign equals kpi_agg');

SELECT results_eq(
    $$SELECT campaign, tap_rfold(s ORDER BY day DESC)::text FROM tap_day GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'a right-nested fold with + (s1 + (s2 + (...))) per campaign equals kpi_agg');

SELECT results_eq(
    $$SELECT campaign, tap_tree(array_agg(s ORDER BY random()))::text FROM tap_day GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'a balanced tree of + merges over shuffled days per campaign equals kpi_agg');

SELECT is_empty(
    $$SELECT a.key, b.key FROM tap_raw a, tap_raw b
      WHERE a.dim = 'campaign' AND b.dim IN ('campaign', 'channel')
        AND (a.s + b.s)::text <> (b.s + a.s)::text$$,
    '+ is commutative: a + b and b + a have the same text for every pair');

SELECT is_empty(
    $$SELECT a.key, b.key, c.key FROM tap_raw a, tap_raw b, tap_raw c
      WHERE a.dim = 'campaign' AND b.dim = 'campaign' AND c.dim IN ('campaign', 'channel')
        AND ((a.s + b.s) + c.s)::text <> (a.s + (b.s + c.s))::text$$,
    '+ is associative: (a + b) + c and a + (b + c) have the same text for every triple');

SELECT is(
    (SELECT rollup(s)::text FROM tap_raw WHERE dim = 'campaign'),
    (SELECT rollup(s)::text FROM tap_raw WHERE dim = 'channel'),
    'merging the campaign partition or the channel partition gives the same summary');

-- ---------------------------------------------------------------------------
-- Spend and leads merged together
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT campaign, cost(s)::text, cost_per_lead(s)::text, cost_per_order(s)::text, roi(s)::text, leads(s)
      FROM (SELECT campaign, rollup(s) s
            FROM (SELECT campaign, s FROM tap_day UNION ALL SELECT campaign, s FROM tap_day_spend) u
            GROUP BY campaign) x ORDER BY campaign$$,
    $$SELECT l.campaign, c.cost::text, (c.cost / l.leads)::text, (c.cost / l.conv)::text,
             ((l.rev - c.cost) / c.cost)::text, l.leads
      FROM (SELECT campaign, count(first_contact) leads,
                   count(*) FILTER (WHERE first_contact IS NOT NULL AND converted_at IS NOT NULL) conv,
                   sum(revenue) FILTER (WHERE first_contact IS NOT NULL AND converted_at IS NOT NULL) rev
            FROM tap_leads GROUP BY campaign) l
      JOIN (SELECT campaign, sum(cost) cost FROM tap_spend GROUP BY campaign) c USING (campaign)
      ORDER BY campaign$$,
    'rollup over UNION ALL of daily lead and spend summaries gives the cost KPIs of the combined data');

SELECT results_eq(
    $$SELECT campaign, rollup(s)::text
      FROM (SELECT campaign, s FROM tap_day UNION ALL SELECT campaign, s FROM tap_day_spend) u
      GROUP BY campaign ORDER BY campaign$$,
    $$SELECT r.key, (r.s + sp.s)::text FROM tap_raw r
      JOIN (SELECT campaign, spend_agg(cost) s FROM tap_spend GROUP BY campaign) sp ON sp.campaign = r.key
      WHERE r.dim = 'campaign' ORDER BY r.key$$,
    'mixed rollup per campaign has the text of kpi_agg(raw) + spend_agg(raw)');

SELECT is(
    (SELECT rollup(s ORDER BY random())::text
     FROM (SELECT s FROM tap_day UNION ALL SELECT s FROM tap_day_spend) u),
    (SELECT ((SELECT spend_agg(cost) FROM tap_spend) + s)::text FROM tap_raw WHERE dim = 'all'),
    'mixed rollup overall, shuffled, has the text of spend_agg(raw) + kpi_agg(raw)');

-- ---------------------------------------------------------------------------
-- NULLs
-- ---------------------------------------------------------------------------
SELECT ok((SELECT rollup(s) FROM tap_day WHERE false) IS NULL, 'rollup over no rows is NULL');

SELECT is(
    (SELECT rollup(s)::text FROM (SELECT s FROM tap_day UNION ALL SELECT NULL FROM generate_series(1, 3)) u),
    (SELECT s::text FROM tap_raw WHERE dim = 'all'),
    'rollup skips NULL summaries');

SELECT ok((SELECT s + NULL FROM tap_raw WHERE dim = 'all') IS NULL, 'summary + NULL is NULL');

-- ---------------------------------------------------------------------------
-- Window frames and spilling hash aggregation reuse and copy the state
-- ---------------------------------------------------------------------------
CREATE TABLE tap_c1 AS SELECT * FROM tap_leads WHERE campaign = 'c1' AND first_contact IS NOT NULL;
SELECT is_empty(
    $$SELECT day FROM (
          SELECT d.day, (rollup(s) OVER (ORDER BY day))::text AS w,
                 (SELECT kpi_agg(first_contact, converted_at, revenue)::text FROM tap_c1 l
                  WHERE l.first_contact::date <= d.day) AS r
          FROM (SELECT day, rollup(s) s FROM tap_day WHERE campaign = 'c1' AND day IS NOT NULL GROUP BY day) d) x
      WHERE w IS DISTINCT FROM r$$,
    'running rollup(s) OVER (ORDER BY day) equals kpi_agg over all rows up to that day');

CREATE TABLE tap_c4 AS SELECT row_number() OVER (ORDER BY id) AS rn, * FROM tap_leads WHERE campaign = 'c4' AND id < 6000;
SELECT is_empty(
    $$SELECT rn FROM (
          SELECT rn, (kpi_agg(first_contact, converted_at, revenue) OVER w)::text AS k,
                 conversion_rate(converted) OVER w AS cr, sales_cycle_avg(first_contact, converted_at) OVER w AS sca,
                 (SELECT kpi_agg(first_contact, converted_at, revenue)::text FROM tap_c4 b WHERE b.rn BETWEEN a.rn - 20 AND a.rn) AS rk,
                 (SELECT conversion_rate(converted) FROM tap_c4 b WHERE b.rn BETWEEN a.rn - 20 AND a.rn) AS rcr,
                 (SELECT sales_cycle_avg(first_contact, converted_at) FROM tap_c4 b WHERE b.rn BETWEEN a.rn - 20 AND a.rn) AS rsca
          FROM tap_c4 a WINDOW w AS (ORDER BY rn ROWS BETWEEN 20 PRECEDING AND CURRENT ROW)) x
      WHERE k IS DISTINCT FROM rk OR cr IS DISTINCT FROM rcr OR sca IS DISTINCT FROM rsca$$,
    'sliding 21-row windows of kpi_agg, conversion_rate and sales_cycle_avg equal the same aggregates per frame');

SET LOCAL work_mem = '64kB';
SET LOCAL enable_sort = off;
SELECT matches(tap_plan2('SELECT campaign, day, rollup(s) FROM tap_day_spill GROUP BY campaign, day'),
               'HashAggregate', 'the per-day rollup below is planned as a hash aggregate');
SELECT is(
    (SELECT rollup(s)::text FROM (SELECT campaign, day, rollup(s) s FROM tap_day_spill GROUP BY campaign, day) x),
    (SELECT (s + s)::text FROM tap_raw WHERE dim = 'all'),
    'a hash aggregate spilling to disk (work_mem 64kB) merges two copies of every day exactly');
RESET work_mem;
RESET enable_sort;

-- ---------------------------------------------------------------------------
-- Parallel rollup (combine in worker order) gives the same exact result
-- ---------------------------------------------------------------------------
CREATE TABLE tap_day_big AS SELECT d.* FROM tap_day d, generate_series(1, 3);
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;

CREATE FUNCTION tap_plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; plan text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP plan := plan || r || E'\n'; END LOOP;
    RETURN plan;
END $$;

SELECT matches(tap_plan('SELECT rollup(s) FROM tap_day_big'), 'Partial Aggregate',
               'rollup gets a parallel plan (Partial Aggregate)');

SELECT is(
    (SELECT rollup(s)::text FROM tap_day_big),
    (SELECT (s + s + s)::text FROM tap_raw WHERE dim = 'all'),
    'parallel rollup over three copies of the daily summaries = s + s + s');

SELECT results_eq(
    $$SELECT campaign, rollup(s)::text FROM tap_day_big GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, (s + s + s)::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'parallel grouped rollup by campaign = s + s + s per campaign');

SELECT matches(tap_plan('SELECT campaign, kpi_agg(first_contact, converted_at, revenue) FROM tap_leads GROUP BY campaign'),
               'Partial (Hash|Group)?Aggregate', 'grouped kpi_agg gets a parallel plan');

SELECT results_eq(
    $$SELECT campaign, kpi_agg(first_contact, converted_at, revenue)::text FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT key, s::text FROM tap_raw WHERE dim = 'campaign' ORDER BY key$$,
    'parallel kpi_agg GROUP BY campaign (partial sketches combined) equals the serial summaries');

SELECT * FROM finish();
ROLLBACK;
