-- edge_cases: limits and corner cases found in review, each once wrong or a
-- crash: a NULL step array as a group's first row under a parallel plan,
-- windows and date cycles beyond int64 microseconds, a money total of
-- exactly -2^127, the top sketch bucket, and summaries whose cycle figures
-- contradict each other.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

-- window_funnel: rows whose step array is NULL are ignored, also when a
-- parallel worker sees nothing else (its partial state must stay NULL)
CREATE TABLE wf AS
SELECT timestamptz '2020-01-01' + g * interval '1 second' AS ts,
       CASE WHEN g > 199990 THEN ARRAY[g % 2 = 0, true] END AS steps
FROM generate_series(1, 200000) g;
ANALYZE wf;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
\ir include/plan_of.sql
SELECT matches(pg_temp.plan_of('SELECT window_funnel(interval ''1 day'', ts, VARIADIC steps) FROM wf'),
               'Partial Aggregate.*Parallel Seq Scan', 'the plan is parallel (partial states in workers)');
SELECT is((SELECT window_funnel(interval '1 day', ts, VARIADIC steps) FROM wf), 2,
          'window_funnel: NULL step arrays in parallel workers');
SELECT is((SELECT window_funnel(interval '1 day', ts, VARIADIC steps) FROM wf WHERE steps IS NULL), 0,
          'window_funnel: only NULL step arrays, in parallel: level 0');
SELECT is((SELECT reached(funnel_agg(1::bigint, ts, NULL::int, interval '1 day', NULL, 2), 1) FROM wf), 0::bigint,
          'funnel_agg: only rows without a step, in parallel');
RESET max_parallel_workers_per_gather;

-- windows longer than int64 microseconds are an error, not a wrapped value
SELECT throws_ok($$SELECT window_funnel(interval '1000000 years', t, true, true) FROM (VALUES (now())) v(t)$$,
                 '22015', NULL, 'window_funnel: a window beyond int64 microseconds');
SELECT throws_ok($$SELECT funnel_agg(1::bigint, now(), 1, interval '1000000 years')$$,
                 '22015', NULL, 'funnel_agg: the same');
SELECT lives_ok($$SELECT window_funnel(interval '100 years', t, true, true) FROM (VALUES (now())) v(t)$$,
                'a 100-year window is fine');

-- date cycles beyond int64 microseconds (dates reach 5874897 AD)
SELECT throws_ok($$SELECT kpi_agg(date '2000-01-01', date '300000-01-01')$$, '22008', NULL,
                 'kpi_agg(date): a 298,000-year cycle is out of range');
SELECT throws_ok($$SELECT sales_cycle_avg(date '2000-01-01', date '300000-01-01')$$, '22008', NULL,
                 'sales_cycle_avg(date): the same');

-- money totals stay within +-(2^127 - 1), which the text form reads back
SELECT throws_ok($$SELECT cost(spend_agg(x)) FROM (VALUES (-170141183460469231731687303715884105727::numeric), (-1)) v(x)$$,
                 '22003', NULL, 'a total of -2^127 is out of range');
SELECT is((SELECT spend_agg(x)::text::kpi_summary::text FROM (VALUES (-170141183460469231731687303715884105726::numeric), (-1)) v(x)),
          (SELECT spend_agg(x)::text FROM (VALUES (-170141183460469231731687303715884105727::numeric)) v(x)),
          'the most negative total round-trips');

-- the top sketch bucket's value exceeds int64: estimates saturate, stay positive
SELECT cmp_ok(time_to_convert_median('v1;steps=2;window=0;modes=;entities=1;reached=1,1;ttc=z0|z0 2184:1'::funnel_summary, 2),
              '>', interval '290000 years', 'time_to_convert_median in the top bucket');
SELECT ok(sales_cycle_percentile(s, 0.75) BETWEEN sales_cycle_min(s) AND sales_cycle_max(s),
          'a percentile between a 1-second and a 291,000-year cycle stays between them')
FROM (SELECT kpi_agg(a, b) AS s FROM (VALUES (timestamp '0001-01-01', timestamp '291000-01-01'),
                                             (timestamp '2000-01-01', timestamp '2000-01-01 00:00:01')) v(a, b)) x;

-- cycle figures that contradict each other are rejected
SELECT throws_ok($$SELECT 'v1 leads=1 conversions=1 cycles=1 excluded=0 cycle_sum_us=5000000 cycle_min_us=1000000 cycle_max_us=9000000 cost=null revenue=null sketch=z0 700:1'::kpi_summary$$,
                 '22P02', NULL, 'one cycle whose min, max and sum differ');
SELECT throws_ok($$SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=2000000 cycle_min_us=1000000 cycle_max_us=1000000 cost=null revenue=null sketch=z0 600:2'::kpi_summary$$,
                 '22P02', NULL, 'buckets that do not hold the minimum and maximum');

SELECT * FROM finish();
ROLLBACK;
