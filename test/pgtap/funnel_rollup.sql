-- funnel_rollup: rollup(funnel_summary) merges into its state in place,
-- growing a sketch only when an input has a bucket it lacks.  Its result
-- must be exactly funnel_agg over the raw events of the same entities (text),
-- in any order, grouping, plan or as a window function, and carry no spare
-- capacity (rollup has no final function: its state is its result).
BEGIN;
SELECT plan(17);
SET LOCAL TimeZone = 'UTC';
SELECT setseed(0.5);

-- 3,000 leads in 30 campaigns, 0..8 events each over 5 stages, times from
-- microseconds to months apart, so that sketches have hundreds of buckets
-- and new buckets keep turning up while merging
CREATE TABLE fr_ev AS
SELECT l AS lead_id, 'c' || (l % 30) AS campaign,
       timestamptz '2024-01-01' + l * interval '1 minute'
         + (exp(random() * 30) - 1) * interval '1 microsecond' AS ts,
       (ARRAY['lead', 'mql', 'sql', 'opp', 'won', NULL])[1 + floor(random() * 6)::int] AS stage
FROM generate_series(1, 3000) l, LATERAL generate_series(1, (random() * 8)::int + l * 0) k;
ANALYZE fr_ev;

CREATE TABLE fr_lead AS
SELECT lead_id, campaign,
       funnel_agg(lead_id, ts, stage, ARRAY['lead', 'mql', 'sql', 'opp', 'won'], interval '30 days') AS fs
FROM fr_ev GROUP BY 1, 2;
ANALYZE fr_lead;
CREATE TEMP TABLE fr_before AS SELECT md5(string_agg(fs::text, '|' ORDER BY lead_id)) AS h FROM fr_lead;
CREATE TABLE fr_raw AS
SELECT campaign, funnel_agg(lead_id, ts, stage, ARRAY['lead', 'mql', 'sql', 'opp', 'won'], interval '30 days')::text AS f
FROM fr_ev GROUP BY 1
UNION ALL
SELECT '*', funnel_agg(lead_id, ts, stage, ARRAY['lead', 'mql', 'sql', 'opp', 'won'], interval '30 days')::text
FROM fr_ev;

SELECT cmp_ok((SELECT max(length(f)) FROM fr_raw WHERE campaign = '*'), '>', 2000,
              'the overall summary has hundreds of sketch buckets');

SELECT results_eq($$SELECT campaign, rollup(fs)::text FROM fr_lead GROUP BY 1 ORDER BY 1$$,
                  $$SELECT campaign, f FROM fr_raw WHERE campaign <> '*' ORDER BY 1$$,
                  'rollup of per-lead summaries by campaign = funnel_agg over the events by campaign');
SELECT is((SELECT rollup(fs)::text FROM fr_lead), (SELECT f FROM fr_raw WHERE campaign = '*'),
          'rollup of every per-lead summary = funnel_agg over every event');
SELECT is((SELECT rollup(fs ORDER BY lead_id DESC)::text FROM fr_lead), (SELECT f FROM fr_raw WHERE campaign = '*'),
          'in reverse order');
SELECT is((SELECT rollup(fs ORDER BY md5(lead_id::text))::text FROM fr_lead), (SELECT f FROM fr_raw WHERE campaign = '*'),
          'in shuffled order');
SELECT is((SELECT rollup(c)::text FROM (SELECT rollup(fs) AS c FROM fr_lead GROUP BY campaign) s),
          (SELECT f FROM fr_raw WHERE campaign = '*'),
          'rollup of the per-campaign rollups (large states merged into each other)');
SELECT is((SELECT rollup(c ORDER BY campaign DESC)::text FROM (SELECT campaign, (f)::funnel_summary AS c FROM fr_raw WHERE campaign <> '*') s),
          (SELECT f FROM fr_raw WHERE campaign = '*'),
          'rollup of stored per-campaign summaries read from text');

-- no spare capacity: the value is as small as the same summary read from text
SELECT is_empty($$SELECT campaign FROM (SELECT campaign, rollup(fs) AS r FROM fr_lead GROUP BY 1) s
                  WHERE pg_column_size(r) <> pg_column_size(r::text::funnel_summary)$$,
                'every rollup result is stored without spare capacity');
SELECT is((SELECT pg_column_size(r) = pg_column_size(r::text::funnel_summary)
           FROM (SELECT rollup(fs ORDER BY md5(lead_id::text)) AS r FROM fr_lead) s), true,
          'the same for the overall rollup, in shuffled order');

-- two rollups in one query share one state
SELECT is((SELECT ARRAY[rollup(fs)::text, rollup(fs)::text] FROM fr_lead),
          (SELECT ARRAY[f, f] FROM fr_raw WHERE campaign = '*'), 'two identical rollups sharing a state');

-- as a window function: each row's rollup is that of the rows so far, so
-- a later in-place merge never reaches a result already returned
CREATE TEMP TABLE fr_running AS
SELECT lead_id, campaign, rollup(fs) OVER (PARTITION BY campaign ORDER BY lead_id) AS r
FROM fr_lead WHERE campaign IN ('c1', 'c2');
SELECT is_empty($$SELECT lead_id FROM fr_running x
                  WHERE x.r::text <> (SELECT rollup(fs)::text FROM fr_lead y
                                      WHERE y.campaign = x.campaign AND y.lead_id <= x.lead_id)$$,
                'rollup OVER (ORDER BY lead_id): every row has the rollup of the rows so far');

-- big summaries stored out of line (toasted) and small ones stored with
-- a short header: both are detoasted, never merged into
CREATE TABLE fr_big AS
SELECT lead_id % 3 AS part, funnel_agg(lead_id, ts, stage, ARRAY['lead', 'mql', 'sql', 'opp', 'won'], interval '30 days') AS fs
FROM fr_ev GROUP BY 1;
SELECT is_empty($$SELECT part FROM fr_big WHERE pg_column_size(fs) >= pg_column_size(fs::text::funnel_summary)$$,
                'the stored summaries are toasted (compressed)');
SELECT is((SELECT rollup(fs)::text FROM (SELECT fs FROM fr_big UNION ALL SELECT fs FROM fr_big WHERE false) s),
          (SELECT f FROM fr_raw WHERE campaign = '*'), 'rollup of toasted summaries');
CREATE TABLE fr_small AS SELECT funnel_agg(l, 1) AS fs FROM generate_series(0, 1) l;
SELECT is((SELECT rollup(fs)::text FROM fr_small), (SELECT funnel_agg(l, 1)::text FROM generate_series(0, 1) l),
          'rollup of summaries stored with a short header');
SELECT is((SELECT md5(string_agg(fs::text, '|' ORDER BY lead_id)) FROM fr_lead), (SELECT h FROM fr_before),
          'the stored inputs are unchanged by the rollups above (the first one becomes a copy)');

-- forced parallel plans: partial rollups merged into each other
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
\ir include/plan_of.sql
SELECT matches(pg_temp.plan_of($$SELECT campaign, rollup(fs) FROM fr_lead GROUP BY 1$$),
               'Partial .*Aggregate', 'the grouped rollup plan is parallel');
SELECT results_eq($$SELECT campaign, rollup(fs)::text FROM fr_lead GROUP BY 1 ORDER BY 1$$,
                  $$SELECT campaign, f FROM fr_raw WHERE campaign <> '*' ORDER BY 1$$,
                  'parallel: rollup by campaign = funnel_agg over the events by campaign');

SELECT * FROM finish();
ROLLBACK;
