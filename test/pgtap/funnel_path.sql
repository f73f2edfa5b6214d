-- funnel_path: the funnel in two levels.  On random events, for every mode
-- and several windows, funnel_agg over the funnel_path of each lead, grouped
-- by campaign, is exactly (text) funnel_agg over the events by campaign;
-- cardinality(path) is window_funnel's level; simple paths match plain SQL;
-- forced parallel plans give the serial results; funnel_path works as a
-- window function; summaries of both forms roll up together.
BEGIN;
SELECT plan(25);
SET LOCAL TimeZone = 'UTC';
SELECT setseed(0.125);

-- 1,500 leads in 15 campaigns (and 20 leads without events), 0..10 events
-- each: hourly times over 60 hours, so ties and window edges are common;
-- stages a..d, a stage outside the funnel and NULL; some rows without a
-- time, and leads whose every row lacks one.  Rows in random order, so
-- that a parallel scan splits every lead between workers.
CREATE TABLE fp_leads AS SELECT l AS lead_id, 'c' || (l % 15) AS campaign FROM generate_series(1, 1520) l;
CREATE TABLE fp_ev AS
SELECT * FROM (
    SELECT l AS lead_id,
           CASE WHEN l % 97 = 0 OR random() < 0.02 THEN NULL
                ELSE timestamptz '2024-01-01' + (random() * 60)::int * interval '1 hour' END AS ts,
           (ARRAY['a', 'b', 'c', 'd', 'x', NULL])[1 + floor(random() * 6)::int] AS stage
    FROM generate_series(1, 1500) l, LATERAL generate_series(1, (random() * 10)::int + l * 0) k) s
ORDER BY random();
ANALYZE fp_leads, fp_ev;

CREATE TABLE fp_cases AS
SELECT m AS modes, w AS win
FROM unnest(ARRAY['', 'strict_order', 'strict_deduplication', 'strict_increase', 'strict_once',
                  'strict_order,allow_reentry', 'strict_order,strict_deduplication', 'strict_once,strict_increase',
                  'strict_order,strict_increase,strict_once', 'crm_backfill']) m,
     unnest(ARRAY[interval '0', interval '5 hours', interval '1 day', interval '30 days']) w;

SELECT cmp_ok((SELECT count(*) FROM fp_ev), '>', 6000::bigint, 'thousands of events');

-- ---------------------------------------------------------------------------
-- every mode and window: two levels = one pass, by campaign, text-equal
-- ---------------------------------------------------------------------------
-- the window and modes from columns (constant within each group: compared row by row)
CREATE TEMP TABLE one_pass AS
SELECT c.modes, c.win, l.campaign,
       funnel_agg(e.lead_id::bigint, e.ts, e.stage, ARRAY['a', 'b', 'c', 'd'], c.win, c.modes)::text AS f,
       funnel_agg(e.lead_id::bigint, e.ts, array_position(ARRAY['a', 'b', 'c', 'd'], e.stage), c.win, c.modes, 4)::text AS f_steps
FROM fp_cases c, fp_ev e JOIN fp_leads l USING (lead_id) GROUP BY 1, 2, 3;
CREATE TEMP TABLE paths AS
SELECT c.modes, c.win, e.lead_id,
       funnel_path(e.ts, e.stage, ARRAY['a', 'b', 'c', 'd'], c.win, c.modes) AS path,
       funnel_path(e.ts, array_position(ARRAY['a', 'b', 'c', 'd'], e.stage), c.win, c.modes, 4) AS path_steps,
       window_funnel(c.win, c.modes, e.ts, e.stage = 'a', e.stage = 'b', e.stage = 'c', e.stage = 'd') AS level
FROM fp_cases c, fp_ev e GROUP BY 1, 2, 3;
CREATE TEMP TABLE two_level AS
SELECT p.modes, p.win, l.campaign,
       funnel_agg(p.path, 4, p.win, p.modes)::text AS f,
       funnel_agg(p.path_steps, 4, p.win, p.modes)::text AS f_steps
FROM paths p JOIN fp_leads l USING (lead_id) GROUP BY 1, 2, 3;

SELECT is((SELECT count(*) FROM one_pass), 40 * 15::bigint, '40 cases x 15 campaigns');
SELECT is_empty($$SELECT * FROM one_pass EXCEPT SELECT * FROM two_level
                  UNION ALL SELECT * FROM two_level EXCEPT SELECT * FROM one_pass$$,
                'every mode and window: funnel_agg(funnel_path(...)) by campaign = funnel_agg over the events by campaign (text), stage names and steps');
SELECT is_empty($$SELECT modes, win FROM one_pass GROUP BY 1, 2 HAVING count(DISTINCT f) < 3$$,
                'the campaigns differ in every case (the comparison is not of empty summaries)');
SELECT cmp_ok((SELECT count(DISTINCT f) FROM one_pass), '>=', 500::bigint,
              'the modes and windows give different summaries');

-- the same with constants, as users write it (the per-query fast path)
CREATE FUNCTION pg_temp.const_mismatches(modes text, win interval) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format($q$
        SELECT count(*) FROM (
            SELECT l.campaign, funnel_agg(e.lead_id::bigint, e.ts, e.stage, ARRAY['a', 'b', 'c', 'd'], %1$L::interval, %2$L)::text AS f
            FROM fp_ev e JOIN fp_leads l USING (lead_id) GROUP BY 1
            EXCEPT
            SELECT campaign, funnel_agg(path, 4, %1$L::interval, %2$L)::text
            FROM (SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], %1$L::interval, %2$L) AS path
                  FROM fp_ev GROUP BY lead_id) p JOIN fp_leads USING (lead_id) GROUP BY 1) d$q$, win, modes) INTO n;
    RETURN n;
END $$;
SELECT is_empty($$SELECT modes, win FROM fp_cases WHERE pg_temp.const_mismatches(modes, win) <> 0$$,
                'every mode and window, with constant arguments: the same');
SELECT is((SELECT funnel_agg(path, 4, '1 day')::text
           FROM (SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '1 day') AS path FROM fp_ev GROUP BY 1) p),
          (SELECT funnel_agg(lead_id::bigint, ts, stage, ARRAY['a', 'b', 'c', 'd'], '1 day')::text FROM fp_ev),
          'without modes, over all leads');

-- ---------------------------------------------------------------------------
-- per lead: the level, '{}', NULL, and plain SQL
-- ---------------------------------------------------------------------------
SELECT is_empty($$SELECT modes, win, lead_id FROM paths
                  WHERE coalesce(cardinality(path), 0) <> level OR path IS DISTINCT FROM path_steps$$,
                'cardinality(path) = window_funnel''s level, every lead, mode and window; stage names and steps agree');
SELECT is_empty($$SELECT lead_id FROM paths
                  WHERE (path IS NULL) <> (lead_id NOT IN (SELECT lead_id FROM fp_ev WHERE ts IS NOT NULL))$$,
                'NULL exactly for the leads without a row with a time');
SELECT is_empty($$SELECT lead_id FROM paths WHERE modes = '' AND win = '1 day'
                  AND (path = '{}') <> (lead_id IN (SELECT lead_id FROM fp_ev WHERE ts IS NOT NULL)
                                        AND lead_id NOT IN (SELECT lead_id FROM fp_ev WHERE ts IS NOT NULL AND stage = 'a'))$$,
                '''{}'' exactly for the leads with rows but no step 1');
SELECT is_empty($$SELECT lead_id FROM paths p WHERE modes = 'crm_backfill'
                  AND cardinality(path) <> (SELECT coalesce(max(array_position(ARRAY['a', 'b', 'c', 'd'], stage)), 0)
                                            FROM fp_ev e WHERE e.lead_id = p.lead_id AND e.ts IS NOT NULL)$$,
                'crm_backfill: the level is the furthest stage reached (plain SQL)');
SELECT is_empty($$SELECT modes, win, lead_id FROM paths, LATERAL generate_series(2, cardinality(path)) k
                  WHERE path[k] < path[k - 1] OR path[k] > path[1] + win
                     OR (modes LIKE '%strict_increase%' AND path[k] = path[k - 1])$$,
                'every path is non-decreasing (increasing under strict_increase), within the window of step 1');
SELECT is_empty($$SELECT p.lead_id FROM paths p, LATERAL unnest(p.path) WITH ORDINALITY u(t, k)
                  WHERE p.modes <> 'crm_backfill' AND NOT EXISTS (
                      SELECT 1 FROM fp_ev e WHERE e.lead_id = p.lead_id AND e.ts = u.t
                        AND e.stage = (ARRAY['a', 'b', 'c', 'd'])[u.k])$$,
                'each time of a path is the time of an event of that step (but under crm_backfill)');

-- simple leads (one event per step, some steps missing): the path is the
-- chain of steps 1, 2, ... as long as the times do not decrease and stay
-- within the window of step 1, in plain SQL
CREATE TABLE fp_simple AS
SELECT l AS lead_id, s AS step,
       timestamptz '2024-01-01' + (random() * 48)::int * interval '1 hour' AS ts
FROM generate_series(1, 800) l, generate_series(1, 5) s WHERE random() < 0.8;
CREATE TEMP TABLE sql_paths AS
WITH RECURSIVE ch(lead_id, lvl, t, start, path) AS (
    SELECT lead_id, 1, ts, ts, ARRAY[ts] FROM fp_simple WHERE step = 1
  UNION ALL
    SELECT ch.lead_id, ch.lvl + 1, e.ts, ch.start, ch.path || e.ts
    FROM ch JOIN fp_simple e ON e.lead_id = ch.lead_id AND e.step = ch.lvl + 1
    WHERE e.ts >= ch.t AND e.ts <= ch.start + interval '30 hours')
SELECT i.lead_id, coalesce((SELECT path FROM ch WHERE ch.lead_id = i.lead_id ORDER BY lvl DESC LIMIT 1), '{}') AS path
FROM (SELECT DISTINCT lead_id FROM fp_simple) i;
SELECT cmp_ok((SELECT count(DISTINCT cardinality(path)) FROM sql_paths), '=', 6::bigint, 'simple leads reach every level 0..5');
SELECT is_empty($$SELECT lead_id, path FROM sql_paths
                  EXCEPT SELECT lead_id, funnel_path(ts, step, '30 hours', '', 5) FROM fp_simple GROUP BY 1$$,
                'simple leads: funnel_path = the chain in plain SQL');

-- ---------------------------------------------------------------------------
-- summaries of both forms are one funnel: they roll up together
-- ---------------------------------------------------------------------------
SELECT is((SELECT rollup(f::funnel_summary)::text FROM (
               SELECT f FROM two_level WHERE modes = 'strict_once' AND win = '1 day' AND campaign < 'c5'
               UNION ALL
               SELECT f FROM one_pass WHERE modes = 'strict_once' AND win = '1 day' AND campaign >= 'c5') s),
          (SELECT funnel_agg(e.lead_id::bigint, e.ts, e.stage, ARRAY['a', 'b', 'c', 'd'], '1 day', 'strict_once')::text
           FROM fp_ev e JOIN fp_leads USING (lead_id)),
          'two-level and one-pass summaries of disjoint campaigns roll up to the whole funnel');
SELECT is((SELECT funnel_agg(NULL::timestamptz[], 4, '1 day')::text FROM fp_ev WHERE ts IS NULL),
          (SELECT funnel_agg(lead_id::bigint, ts, stage, ARRAY['a', 'b', 'c', 'd'], '1 day')::text FROM fp_ev WHERE ts IS NULL),
          'rows without a time: a summary of 0 entities in both forms');
SELECT is((SELECT funnel_agg(NULL::timestamptz[], 4, '1 day') FROM fp_ev WHERE false), NULL,
          'no rows: NULL, as funnel_agg over events');

-- ---------------------------------------------------------------------------
-- forced parallel plans (real tables) = serial
-- ---------------------------------------------------------------------------
CREATE TABLE fp_paths AS
SELECT lead_id, campaign, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '5 hours', 'strict_once') AS path
FROM fp_ev JOIN fp_leads USING (lead_id) GROUP BY 1, 2;
CREATE TEMP TABLE serial_paths AS
SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '5 hours', 'strict_once')::text AS path,
       funnel_path(ts, array_position(ARRAY['a', 'b', 'c', 'd'], stage), '5 hours', 'strict_order', 4)::text AS path_order
FROM fp_ev GROUP BY 1;
CREATE TEMP TABLE serial_sums AS
SELECT campaign, funnel_agg(path, 4, '5 hours', 'strict_once')::text AS f FROM fp_paths GROUP BY 1;
ANALYZE fp_paths;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SET LOCAL enable_hashagg = off;   -- partial group aggregates per worker, combined by the leader
\ir include/plan_of.sql
SELECT matches(pg_temp.plan_of($$SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '5 hours', 'strict_once') FROM fp_ev GROUP BY 1$$),
               'Partial GroupAggregate', 'funnel_path by lead: partial aggregates in the workers');
SELECT is_empty($$SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '5 hours', 'strict_once')::text,
                         funnel_path(ts, array_position(ARRAY['a', 'b', 'c', 'd'], stage), '5 hours', 'strict_order', 4)::text
                  FROM fp_ev GROUP BY 1
                  EXCEPT SELECT * FROM serial_paths$$,
                'parallel funnel_path (leads split between workers, states combined) = serial');
RESET enable_hashagg;
SELECT matches(pg_temp.plan_of($$SELECT campaign, funnel_agg(path, 4, '5 hours', 'strict_once') FROM fp_paths GROUP BY 1$$),
               'Partial .*Aggregate', 'funnel_agg over paths by campaign: partial aggregates');
SELECT is_empty($$SELECT campaign, funnel_agg(path, 4, '5 hours', 'strict_once')::text FROM fp_paths GROUP BY 1
                  EXCEPT SELECT * FROM serial_sums$$,
                'parallel funnel_agg over paths = serial');
SELECT is((SELECT funnel_agg(path, 4, '5 hours', 'strict_once')::text FROM fp_paths),
          (SELECT rollup(f::funnel_summary)::text FROM serial_sums),
          'parallel funnel_agg over all paths = the rollup of the serial ones');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- ---------------------------------------------------------------------------
-- window functions: the final functions leave their state as it was
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE fp_win AS SELECT row_number() OVER () AS id, * FROM fp_ev WHERE lead_id < 60;
SELECT is_empty($$SELECT id FROM (
                      SELECT id, lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '1 day', 'strict_once')
                                 OVER (PARTITION BY lead_id ORDER BY id) AS p
                      FROM fp_win) r
                  WHERE r.p IS DISTINCT FROM (SELECT funnel_path(ts, stage, ARRAY['a', 'b', 'c', 'd'], '1 day', 'strict_once')
                                              FROM fp_win w WHERE w.lead_id = r.lead_id AND w.id <= r.id)$$,
                'funnel_path OVER (ORDER BY id): each row''s path is that of the rows so far');
SELECT is_empty($$SELECT lead_id FROM (
                      SELECT lead_id, funnel_agg(path, 4, '5 hours', 'strict_once') OVER (ORDER BY lead_id) AS f FROM fp_paths) r
                  WHERE r.f::text <> (SELECT funnel_agg(path, 4, '5 hours', 'strict_once')::text FROM fp_paths p WHERE p.lead_id <= r.lead_id)$$,
                'funnel_agg over paths OVER (ORDER BY lead_id): each row''s summary is that of the paths so far');

SELECT * FROM finish();
ROLLBACK;
