-- funnel_arguments: a funnel's window, modes, step count and stages are
-- taken from every row, so a serial and a parallel plan agree (#13).  They
-- were read from a group's first row only, while the parallel combine
-- compared the partial states: a window that varied by row was one row's
-- window serially and an error in parallel.  Now a value that differs within
-- a group is an error (22023) in both plans; one that is the same in every
-- row of each group, constant or not, is fine in both.  Also: both
-- aggregates work as window functions, which is why their final functions
-- must leave the state as it is (FINALFUNC_MODIFY = READ_ONLY).
BEGIN;
SELECT plan(20);
SET LOCAL TimeZone = 'UTC';

-- a real table: temp tables are never scanned in parallel
CREATE TABLE fa_args AS
SELECT g AS id, g % 500 AS lead, g % 4 AS grp,
       timestamptz '2025-01-01' + (g % 97) * interval '1 hour' AS ts,
       (ARRAY['a', 'b', 'c'])[1 + g % 3] AS stage,
       interval '1 day' * (1 + g % 4) AS grp_window
FROM generate_series(1, 20000) g;
ANALYZE fa_args;

\ir include/plan_of.sql

-- each query below, run serially and then with a forced parallel plan
CREATE TEMP TABLE q (name text, sql text, want text);
INSERT INTO q VALUES
 ('window_funnel, a window that varies by row',
  $$SELECT window_funnel(CASE WHEN id % 2 = 0 THEN interval '1 day' ELSE interval '2 days' END, ts, stage = 'a', stage = 'b') FROM fa_args$$, '22023'),
 ('window_funnel, modes that vary by row',
  $$SELECT window_funnel(interval '1 day', CASE WHEN id % 2 = 0 THEN 'strict_order' ELSE '' END, ts, stage = 'a', stage = 'b') FROM fa_args$$, '22023'),
 ('funnel_agg, a window that varies by row',
  $$SELECT funnel_agg(lead::bigint, ts, 1 + id % 3, CASE WHEN id % 2 = 0 THEN interval '1 day' ELSE interval '2 days' END) FROM fa_args$$, '22023'),
 ('funnel_agg, an nsteps that varies by row',
  $$SELECT funnel_agg(lead::bigint, ts, 1, interval '1 day', '', 3 + id % 2) FROM fa_args$$, '22023'),
 ('funnel_agg with stage names, stages that vary by row',
  $$SELECT funnel_agg(lead::bigint, ts, stage, CASE WHEN id % 2 = 0 THEN ARRAY['a', 'b'] ELSE ARRAY['b', 'a'] END, interval '1 day') FROM fa_args$$, '22023');

CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;

SELECT is_empty($$SELECT name, pg_temp.sqlstate_of(sql) FROM q WHERE pg_temp.sqlstate_of(sql) <> want$$,
                'serial: every argument that differs within a group is 22023');
SELECT throws_ok((SELECT sql FROM q WHERE name LIKE 'funnel_agg, a window%'), '22023',
                 'funnel_agg: the window, modes and nsteps must be the same in every row of a group',
                 'the error names what must be the same');

-- per-group constants from a column, and equal stage arrays that are not constants
SELECT is((SELECT array_agg(lvl ORDER BY grp) FROM (
               SELECT grp, window_funnel(grp_window, ts, stage = 'a', stage = 'b', stage = 'c') AS lvl
               FROM fa_args WHERE lead = 7 GROUP BY grp) s),
          (SELECT array_agg(lvl ORDER BY grp) FROM (
               SELECT grp, CASE grp WHEN 0 THEN window_funnel(interval '1 day', ts, stage = 'a', stage = 'b', stage = 'c')
                                    WHEN 1 THEN window_funnel(interval '2 days', ts, stage = 'a', stage = 'b', stage = 'c')
                                    WHEN 2 THEN window_funnel(interval '3 days', ts, stage = 'a', stage = 'b', stage = 'c')
                                    ELSE window_funnel(interval '4 days', ts, stage = 'a', stage = 'b', stage = 'c') END AS lvl
               FROM fa_args WHERE lead = 7 GROUP BY grp) s),
          'serial: a window that is the same within each group comes from a column');
SELECT is((SELECT funnel_agg(lead::bigint, ts, stage, (SELECT ARRAY['a', 'b', 'c']), interval '1 day')::text FROM fa_args),
          (SELECT funnel_agg(lead::bigint, ts, stage, ARRAY['a', 'b', 'c'], interval '1 day')::text FROM fa_args),
          'serial: stages from a subquery (compared row by row) give the constant''s result');
CREATE TEMP TABLE serial_results AS
SELECT grp, funnel_agg(lead::bigint, ts, 1 + id % 3, grp_window)::text AS f,
       funnel_agg(lead::bigint, ts, stage, ARRAY[stage, 'zz'], interval '1 day')::text AS g
FROM fa_args WHERE stage = 'a' GROUP BY grp;

-- the same under a forced parallel plan
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT matches(pg_temp.plan_of((SELECT sql FROM q WHERE name LIKE 'funnel_agg, a window%')),
               'Partial Aggregate.*Parallel Seq Scan', 'the plan is parallel');
SELECT is_empty($$SELECT name, pg_temp.sqlstate_of(sql) FROM q WHERE pg_temp.sqlstate_of(sql) <> want$$,
                'parallel: every argument that differs within a group is 22023');
SELECT is((SELECT funnel_agg(lead::bigint, ts, stage, (SELECT ARRAY['a', 'b', 'c']), interval '1 day')::text FROM fa_args),
          (SELECT funnel_agg(lead::bigint, ts, stage, ARRAY['a', 'b', 'c'], interval '1 day')::text FROM fa_args),
          'parallel: stages from a subquery give the constant''s result');
SELECT matches(pg_temp.plan_of($$SELECT grp, funnel_agg(lead::bigint, ts, 1 + id % 3, grp_window) FROM fa_args WHERE stage = 'a' GROUP BY grp$$),
               'Partial .*Aggregate', 'the grouped plan is parallel');
SELECT is_empty($$SELECT grp, funnel_agg(lead::bigint, ts, 1 + id % 3, grp_window)::text,
                          funnel_agg(lead::bigint, ts, stage, ARRAY[stage, 'zz'], interval '1 day')::text
                   FROM fa_args WHERE stage = 'a' GROUP BY grp
                   EXCEPT SELECT * FROM serial_results$$,
                'parallel: per-group windows and stages from columns give the serial results');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- NULL arguments in later rows
SELECT throws_ok($$SELECT window_funnel(CASE WHEN id = 5 THEN NULL ELSE interval '1 day' END, ts, stage = 'a') FROM fa_args$$,
                 '22023', NULL, 'window_funnel: a NULL window in a later row');
SELECT throws_ok($$SELECT funnel_agg(lead::bigint, ts, stage, CASE WHEN id = 5 THEN NULL ELSE ARRAY['a'] END, interval '1 day') FROM fa_args$$,
                 '22023', NULL, 'funnel_agg: NULL stages in a later row');
SELECT lives_ok($$SELECT window_funnel(CASE WHEN id = 5 THEN NULL ELSE interval '1 day' END, ts, VARIADIC CASE WHEN id = 5 THEN NULL ELSE ARRAY[stage = 'a'] END) FROM fa_args$$,
                'window_funnel: a row with no step array is ignored, window and all');

-- As window functions: the level and the summary of each lead's rows so
-- far.  The rows arrive in id order, which is not the time order, so the
-- final function sorts (a copy), is called again, and the state grows on.
CREATE TEMP TABLE fa_win AS SELECT * FROM fa_args WHERE lead < 30 AND id % 5 <> 0 AND id < 6000;
CREATE TEMP TABLE running AS
SELECT id, lead,
       window_funnel(interval '1 day', ts, stage = 'a', stage = 'b', stage = 'c')
           OVER (PARTITION BY lead ORDER BY id) AS lvl,
       window_funnel(interval '1 day', 'strict_order', ts, stage = 'a', stage = 'b', stage = 'c')
           OVER (PARTITION BY lead ORDER BY id) AS lvl_order,
       funnel_agg(lead::bigint, ts, stage, ARRAY['a', 'b', 'c'], interval '1 day')
           OVER (PARTITION BY lead % 7 ORDER BY id) AS fs
FROM fa_win;
SELECT ok((SELECT count(*) FROM (SELECT ts < lag(ts) OVER (PARTITION BY lead ORDER BY id) AS back FROM fa_win) x WHERE back) > 0,
          'the rows of a lead arrive out of time order');
SELECT is_empty($$SELECT r.id FROM running r
                  WHERE r.lvl <> (SELECT window_funnel(interval '1 day', ts, stage = 'a', stage = 'b', stage = 'c')
                                  FROM fa_win f WHERE f.lead = r.lead AND f.id <= r.id)$$,
                'window_funnel OVER (ORDER BY id): each row''s level is the aggregate of the rows so far');
SELECT is_empty($$SELECT r.id FROM running r
                  WHERE r.lvl_order <> (SELECT window_funnel(interval '1 day', 'strict_order', ts, stage = 'a', stage = 'b', stage = 'c')
                                        FROM fa_win f WHERE f.lead = r.lead AND f.id <= r.id)$$,
                'the same with strict_order');
SELECT is_empty($$SELECT r.id FROM running r
                  WHERE r.fs::text <> (SELECT funnel_agg(lead::bigint, ts, stage, ARRAY['a', 'b', 'c'], interval '1 day')::text
                                       FROM fa_win f WHERE f.lead % 7 = r.lead % 7 AND f.id <= r.id)$$,
                'funnel_agg OVER (ORDER BY id): each row''s summary is the aggregate of the rows so far');
SELECT is((SELECT aggfinalmodify::text FROM pg_aggregate WHERE aggfnoid = 'window_funnel(interval, timestamptz, boolean[])'::regprocedure),
          'r', 'window_funnel''s final function is declared read-only');
SELECT is((SELECT aggfinalmodify::text FROM pg_aggregate WHERE aggfnoid = 'funnel_agg(bigint, timestamptz, text, text[], interval)'::regprocedure),
          'r', 'funnel_agg''s final function is declared read-only');

-- window_funnel's state is not sorted in place: a second final call over the
-- same state (two identical calls share one state) sees it as it was
SELECT is((SELECT ARRAY[window_funnel(interval '1 day', ts, stage = 'a', stage = 'b'),
                        window_funnel(interval '1 day', ts, stage = 'a', stage = 'b')]
           FROM (SELECT * FROM fa_args WHERE lead = 3 ORDER BY id DESC) s),
          (SELECT ARRAY[l, l] FROM (SELECT window_funnel(interval '1 day', ts, stage = 'a', stage = 'b') AS l
                                    FROM fa_args WHERE lead = 3) s),
          'two calls sharing one state agree');

-- the partial state of funnel_agg with stage names carries them (version 2)
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT funnel_agg(lead::text, ts, stage, ARRAY['c', 'b', 'a'], interval '2 days', 'strict_order')::text FROM fa_args),
          (SELECT funnel_agg(lead::text, ts, array_position(ARRAY['c', 'b', 'a'], stage), interval '2 days', 'strict_order', 3)::text FROM fa_args),
          'parallel: stage names and step numbers give the same summary, text entities');
SELECT * FROM finish();
ROLLBACK;
