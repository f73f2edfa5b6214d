-- kpi_aggs_vs_sql: the one-step aggregates (conversion_rate, sales_cycle_avg,
-- cost_per_lead, cost_per_order) against their plain-SQL definitions on
-- deterministic generated data, ungrouped and per campaign, plus the empty,
-- all-NULL, zero-denominator and error cases, and a forced parallel plan.
BEGIN;
SELECT plan(41);

\ir include/kpi_data.sql

-- ---------------------------------------------------------------------------
-- conversion_rate(boolean)
-- ---------------------------------------------------------------------------
SELECT is(
    (SELECT conversion_rate(converted) FROM tap_leads),
    (SELECT count(*) FILTER (WHERE converted)::float8 / nullif(count(converted), 0) FROM tap_leads),
    'conversion_rate(bool) ungrouped equals count(true)/count(non-null), exactly');

SELECT results_eq(
    $$SELECT campaign, conversion_rate(converted) FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, count(*) FILTER (WHERE converted)::float8 / nullif(count(converted), 0)
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'conversion_rate(bool) GROUP BY campaign equals count(true)/count(non-null), exactly');

SELECT results_eq(
    $$SELECT channel, conversion_rate(converted) FROM tap_leads WHERE campaign = 'c3' AND id % 3 = 0
      GROUP BY channel ORDER BY channel$$,
    $$SELECT channel, count(*) FILTER (WHERE converted)::float8 / nullif(count(converted), 0)
      FROM tap_leads WHERE campaign = 'c3' AND id % 3 = 0 GROUP BY channel ORDER BY channel$$,
    'conversion_rate(bool) on small groups (one campaign, per channel) equals the SQL ratio');

-- ---------------------------------------------------------------------------
-- conversion_rate(bigint, bigint)
-- ---------------------------------------------------------------------------
SELECT is(
    (SELECT conversion_rate(converted, total) FROM tap_daily),
    (SELECT sum(converted)::float8 / nullif(sum(total), 0) FROM tap_daily
     WHERE converted IS NOT NULL AND total IS NOT NULL),
    'conversion_rate(bigint,bigint) ungrouped equals sum(c)/sum(t) over complete pairs');

SELECT results_eq(
    $$SELECT campaign, conversion_rate(converted, total) FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, sum(converted) FILTER (WHERE converted IS NOT NULL AND total IS NOT NULL)::float8
                     / nullif(sum(total) FILTER (WHERE converted IS NOT NULL AND total IS NOT NULL), 0)
      FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    'conversion_rate(bigint,bigint) GROUP BY campaign equals sum(c)/sum(t) over complete pairs');

-- ---------------------------------------------------------------------------
-- sales_cycle_avg: timestamptz, timestamp, date
-- ---------------------------------------------------------------------------
SELECT is(
    (SELECT extract(epoch FROM sales_cycle_avg(first_contact, converted_at)) * 1000000 FROM tap_leads),
    (SELECT round(avg(extract(epoch FROM converted_at - first_contact) * 1000000)) FROM tap_leads
     WHERE converted_at >= first_contact),
    'sales_cycle_avg(timestamptz) ungrouped is the exact mean in microseconds, rounded');

SELECT results_eq(
    $$SELECT campaign, extract(epoch FROM sales_cycle_avg(first_contact, converted_at)) * 1000000
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, round(avg(extract(epoch FROM converted_at - first_contact) * 1000000)
                             FILTER (WHERE converted_at >= first_contact))
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(timestamptz) GROUP BY campaign is the exact rounded mean in microseconds');

SELECT results_eq(
    $$SELECT campaign, abs(extract(epoch FROM sales_cycle_avg(first_contact, converted_at)
                                   - avg(converted_at - first_contact) FILTER (WHERE converted_at >= first_contact)))
                       <= 0.000001
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, true FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(timestamptz) GROUP BY campaign is within 1 us of avg(b - a) FILTER (b >= a)');

SELECT is(
    (SELECT extract(epoch FROM sales_cycle_avg(first_ts, conv_ts)) * 1000000 FROM tap_leads),
    (SELECT round(avg(extract(epoch FROM conv_ts - first_ts) * 1000000)) FROM tap_leads
     WHERE conv_ts >= first_ts),
    'sales_cycle_avg(timestamp) ungrouped is the exact mean of wall-clock differences, rounded');

SELECT results_eq(
    $$SELECT campaign, extract(epoch FROM sales_cycle_avg(first_ts, conv_ts)) * 1000000
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, round(avg(extract(epoch FROM conv_ts - first_ts) * 1000000)
                             FILTER (WHERE conv_ts >= first_ts))
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(timestamp) GROUP BY campaign is the exact rounded mean in microseconds');

SELECT results_eq(
    $$SELECT campaign, abs(extract(epoch FROM sales_cycle_avg(first_ts, conv_ts)
                                   - avg(conv_ts - first_ts) FILTER (WHERE conv_ts >= first_ts)))
                       <= 0.000001
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, true FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(timestamp) GROUP BY campaign is within 1 us of avg(b - a) FILTER (b >= a)');

SELECT isnt(
    (SELECT sales_cycle_avg(first_ts, conv_ts) FROM tap_leads),
    (SELECT sales_cycle_avg(first_contact, converted_at) FROM tap_leads),
    'the data crosses DST: wall-clock (timestamp) and elapsed (timestamptz) averages differ');

SELECT is(
    (SELECT extract(epoch FROM sales_cycle_avg(first_d, conv_d)) * 1000000 FROM tap_leads),
    (SELECT round(avg((conv_d - first_d)::numeric * 86400000000)) FROM tap_leads WHERE conv_d >= first_d),
    'sales_cycle_avg(date) ungrouped is the exact mean in days, rounded to the microsecond');

SELECT results_eq(
    $$SELECT campaign, extract(epoch FROM sales_cycle_avg(first_d, conv_d)) * 1000000
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, round(avg((conv_d - first_d)::numeric * 86400000000) FILTER (WHERE conv_d >= first_d))
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(date) GROUP BY campaign is the exact rounded mean in microseconds');

SELECT results_eq(
    $$SELECT campaign, abs(extract(epoch FROM sales_cycle_avg(first_d, conv_d)
                                   - avg((conv_d - first_d) * interval '1 day') FILTER (WHERE conv_d >= first_d)))
                       <= 0.000001
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, true FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'sales_cycle_avg(date) GROUP BY campaign is within 1 us of avg of day intervals');

SELECT is(
    (SELECT sales_cycle_avg(a, b)::text FROM (VALUES
        (timestamptz '2025-03-01 00:00:00+00', timestamptz '2025-03-04 06:00:00.000001+00'),
        (timestamptz '2025-03-01 00:00:00+00', timestamptz '2025-03-01 00:00:00+00')) v(a, b)),
    '1 day 15:00:00.000001'::interval::text,
    'sales_cycle_avg rounds half away from zero and shows 24-hour days, no months');

-- ---------------------------------------------------------------------------
-- cost_per_lead / cost_per_order: exact numeric, same value and same text
-- ---------------------------------------------------------------------------
SELECT is(
    (SELECT cost_per_lead(cost, total)::text FROM tap_daily),
    (SELECT (sum(cost) / sum(total))::text FROM tap_daily),
    'cost_per_lead ungrouped has the same text (value and scale) as sum(cost)/sum(n)');

SELECT results_eq(
    $$SELECT campaign, cost_per_lead(cost, total), cost_per_lead(cost, total)::text
      FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, sum(cost) / nullif(sum(total), 0), (sum(cost) / nullif(sum(total), 0))::text
      FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    'cost_per_lead GROUP BY campaign equals sum(cost)/sum(n) in value and text');

SELECT results_eq(
    $$SELECT date_trunc('month', day), cost_per_lead(cost, total)::text
      FROM tap_daily GROUP BY 1 ORDER BY 1$$,
    $$SELECT date_trunc('month', day), (sum(cost) / nullif(sum(total), 0))::text
      FROM tap_daily GROUP BY 1 ORDER BY 1$$,
    'cost_per_lead GROUP BY month (mixed 2- and 3-decimal costs, credits) equals sum(cost)/sum(n) as text');

SELECT is(
    (SELECT cost_per_order(cost, converted)::text FROM tap_daily),
    (SELECT (sum(cost) / sum(converted))::text FROM tap_daily),
    'cost_per_order ungrouped has the same text (value and scale) as sum(cost)/sum(n)');

SELECT results_eq(
    $$SELECT campaign, cost_per_order(cost, converted), cost_per_order(cost, converted)::text
      FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, sum(cost) / nullif(sum(converted), 0), (sum(cost) / nullif(sum(converted), 0))::text
      FROM tap_daily GROUP BY campaign ORDER BY campaign$$,
    'cost_per_order GROUP BY campaign equals sum(cost)/sum(n) in value and text');

SELECT is(
    (SELECT cost_per_lead(c, n)::text FROM (VALUES (1.5, 1::bigint), (0.001, 2), (-0.2, NULL), (NULL, 4)) v(c, n)),
    (SELECT (sum(c) / sum(n))::text FROM (VALUES (1.5, 1::bigint), (0.001, 2), (-0.2, NULL), (NULL, 4)) v(c, n)),
    'cost_per_lead sums cost and count each skipping its own NULLs, as sum() does');

SELECT is(
    (SELECT cost_per_lead(c, 3)::text FROM (VALUES (1000000000000000.10), (-0.10), (2e-20)) v(c)),
    (SELECT (sum(c) / sum(3))::text FROM (VALUES (1000000000000000.10), (-0.10), (2e-20)) v(c)),
    'cost_per_lead is exact for large amounts with a small-scale part');

-- Amounts of every sign, scale (0..7) and magnitude (1e-4 .. 1e13), plus
-- integers stored with trailing zero digit groups: the exact sums must not
-- depend on the order in which scales arrive.
CREATE TABLE tap_amt AS
SELECT g, g % 499 AS grp,
       (CASE WHEN random() < 0.3 THEN -1 ELSE 1 END)
       * round((random() * 10 ^ floor(random() * 17 - 4))::numeric, floor(random() * 8)::int) AS a
FROM generate_series(1, 40000) g
UNION ALL
SELECT g, g % 499, (ARRAY[10000, 100000000, 0.10, 5.00, 0.00005, 1e12, 123456789012.3456, -0.000, 1e20])[1 + g % 9]::numeric
FROM generate_series(1, 3000) g;

SELECT is_empty(
    $$SELECT grp FROM (SELECT grp, sum(a)::text AS s,
                              cost_per_lead(a, 1::bigint ORDER BY a)::text AS x,
                              cost_per_lead(a, 1::bigint ORDER BY scale(a))::text AS y,
                              cost_per_lead(a, 1::bigint ORDER BY scale(a) DESC)::text AS z,
                              (sum(a) / count(*))::text AS r
                       FROM tap_amt GROUP BY grp) q
      WHERE x IS DISTINCT FROM r OR y IS DISTINCT FROM r OR z IS DISTINCT FROM r$$,
    'cost_per_lead over mixed-scale amounts in three orders has the text of sum(a)/sum(n) in 499 groups');

SELECT is_empty(
    $$SELECT grp FROM (SELECT grp, sum(a)::text AS s, cost(spend_agg(a ORDER BY g))::text AS x,
                              cost(spend_agg(a ORDER BY scale(a)))::text AS y, cost(spend_agg(a ORDER BY scale(a) DESC))::text AS z
                       FROM tap_amt GROUP BY grp) q
      WHERE x IS DISTINCT FROM s OR y IS DISTINCT FROM s OR z IS DISTINCT FROM s$$,
    'spend_agg cost over mixed-scale amounts in three orders has the text of sum(a) in 499 groups');

-- ---------------------------------------------------------------------------
-- Empty input, all-NULL input, zero denominators
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT conversion_rate(converted), conversion_rate(id, id), sales_cycle_avg(first_contact, converted_at),
             sales_cycle_avg(first_ts, conv_ts), sales_cycle_avg(first_d, conv_d),
             cost_per_lead(revenue, id), cost_per_order(revenue, id)
      FROM (SELECT *, id::bigint AS idb FROM tap_leads) t WHERE false$$,
    $$VALUES (NULL::float8, NULL::float8, NULL::interval, NULL::interval, NULL::interval, NULL::numeric, NULL::numeric)$$,
    'every one-step aggregate is NULL over no rows');

SELECT results_eq(
    $$SELECT conversion_rate(b), conversion_rate(n, n), sales_cycle_avg(t, t), sales_cycle_avg(d, d),
             cost_per_lead(c, n), cost_per_order(c, n)
      FROM (SELECT NULL::boolean b, NULL::bigint n, NULL::timestamptz t, NULL::date d, NULL::numeric c
            FROM generate_series(1, 5)) x$$,
    $$VALUES (NULL::float8, NULL::float8, NULL::interval, NULL::interval, NULL::numeric, NULL::numeric)$$,
    'every one-step aggregate is NULL over all-NULL rows');

SELECT is(
    (SELECT conversion_rate(c, t) FROM (VALUES (0::bigint, 0::bigint), (NULL, 5), (3, NULL)) v(c, t)),
    NULL::float8,
    'conversion_rate(bigint,bigint) is NULL when the total of complete pairs is 0');

SELECT results_eq(
    $$SELECT cost_per_lead(c, n), cost_per_order(c, n) FROM (VALUES (10.00, 0::bigint), (5.25, 0)) v(c, n)$$,
    $$VALUES (NULL::numeric, NULL::numeric)$$,
    'cost_per_lead and cost_per_order are NULL when the count sum is 0');

SELECT is(
    (SELECT cost_per_lead(c, n) FROM (VALUES (NULL::numeric, 7::bigint)) v(c, n)),
    NULL::numeric,
    'cost_per_lead is NULL without any cost');

SELECT is(
    (SELECT sales_cycle_avg(a, b) FROM (VALUES (timestamptz '2025-02-02', timestamptz '2025-02-01'),
                                               (timestamptz '2025-02-03', NULL)) v(a, b)),
    NULL::interval,
    'sales_cycle_avg is NULL when every close precedes its first contact');

SELECT is(
    (SELECT conversion_rate(b) FROM (VALUES (NULL::boolean), (false), (NULL)) v(b)),
    0::float8,
    'conversion_rate(bool) is 0, not NULL, with non-NULL rows and no true');

-- ---------------------------------------------------------------------------
-- Documented errors
-- ---------------------------------------------------------------------------
SELECT throws_ok(
    $$SELECT conversion_rate(c, t) FROM (VALUES (5::bigint, 4::bigint)) v(c, t)$$,
    '22023', NULL, 'conversion_rate(bigint,bigint) rejects converted > total');
SELECT throws_ok(
    $$SELECT conversion_rate(c, t) FROM (VALUES (-1::bigint, 4::bigint)) v(c, t)$$,
    '22023', NULL, 'conversion_rate(bigint,bigint) rejects a negative count');
SELECT throws_ok(
    $$SELECT cost_per_lead(c, n) FROM (VALUES (1.00, -1::bigint)) v(c, n)$$,
    '22023', NULL, 'cost_per_lead rejects a negative lead count');
SELECT throws_ok(
    $$SELECT cost_per_order(c, n) FROM (VALUES ('NaN'::numeric, 1::bigint)) v(c, n)$$,
    '22023', NULL, 'cost_per_order rejects a NaN cost');
SELECT throws_ok(
    $$SELECT sales_cycle_avg(a, b) FROM (VALUES (timestamptz '2025-01-01', timestamptz 'infinity')) v(a, b)$$,
    '22008', NULL, 'sales_cycle_avg rejects an infinite timestamp');
SELECT throws_ok(
    $$SELECT sales_cycle_avg(a, b) FROM (VALUES (date '-infinity', date '2025-01-01')) v(a, b)$$,
    '22008', NULL, 'sales_cycle_avg(date) rejects an infinite date');

-- ---------------------------------------------------------------------------
-- A forced parallel plan (combine function) gives the serial results
-- ---------------------------------------------------------------------------
CREATE TABLE tap_serial AS
SELECT campaign, conversion_rate(converted) AS cr, sales_cycle_avg(first_contact, converted_at) AS sca,
       cost_per_lead(revenue, id::bigint)::text AS cpl, cost_per_order(revenue, (id % 3)::bigint)::text AS cpo
FROM tap_leads GROUP BY campaign;
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

SELECT matches(
    tap_plan($$SELECT conversion_rate(converted), sales_cycle_avg(first_contact, converted_at),
                      cost_per_lead(revenue, id::bigint) FROM tap_leads$$),
    'Partial Aggregate',
    'the one-step aggregates get a parallel plan (Partial Aggregate)');

SELECT results_eq(
    $$SELECT conversion_rate(converted), sales_cycle_avg(first_contact, converted_at),
             cost_per_lead(revenue, id::bigint)::text, cost_per_order(revenue, (id % 3)::bigint)::text
      FROM tap_leads$$,
    $$SELECT count(*) FILTER (WHERE converted)::float8 / count(converted),
             make_interval(secs => round(avg(extract(epoch FROM converted_at - first_contact) * 1000000)
                                         FILTER (WHERE converted_at >= first_contact)) / 1000000),
             (sum(revenue) / sum(id))::text, (sum(revenue) / sum(id % 3))::text
      FROM tap_leads$$,
    'parallel ungrouped one-step aggregates equal the plain-SQL results');

SELECT results_eq(
    $$SELECT campaign, conversion_rate(converted), sales_cycle_avg(first_contact, converted_at),
             cost_per_lead(revenue, id::bigint)::text, cost_per_order(revenue, (id % 3)::bigint)::text
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    $$SELECT campaign, cr, sca, cpl, cpo FROM tap_serial ORDER BY campaign$$,
    'parallel GROUP BY campaign one-step aggregates equal the serial results');

SELECT * FROM finish();
ROLLBACK;
