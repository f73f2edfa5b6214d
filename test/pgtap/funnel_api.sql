-- pgTAP: window_funnel's modes, funnel_agg's agreement with it, the
-- accessors' edge cases, error codes and the SQL labels of the funnel API.
BEGIN;
SELECT plan(43);

-- events as (ts, step) pairs for one entity; a helper runs window_funnel on them
CREATE FUNCTION pg_temp.wf(modes text, w bigint, ev int[][]) RETURNS int LANGUAGE sql AS $$
  SELECT window_funnel(w, modes, e[1]::bigint, e[2] = 1, e[2] = 2, e[2] = 3)
  FROM (SELECT ARRAY[ev[i][1], ev[i][2]] AS e FROM generate_subscripts(ev, 1) i) s
$$;
-- the same through funnel_agg: the highest step reached by the one entity
CREATE FUNCTION pg_temp.fa(modes text, w bigint, ev int[][]) RETURNS int LANGUAGE sql AS $$
  SELECT coalesce(max(k), 0)::int
  FROM (SELECT funnel_agg(7::bigint, to_timestamp(ev[i][1]), ev[i][2], make_interval(secs => w), modes, 3) AS f
        FROM generate_subscripts(ev, 1) i) s, generate_series(1, 3) k
  WHERE reached(s.f, k) = 1
$$;

-- default mode
SELECT is(pg_temp.wf('', 10, '{{1,1},{2,2},{3,3}}'), 3, 'in order: 3');
SELECT is(pg_temp.wf('', 10, '{{3,3},{2,2},{1,1}}'), 3, 'rows out of order: same level');
SELECT is(pg_temp.wf('', 10, '{{1,1},{11,2}}'), 2, 'window bound is inclusive');
SELECT is(pg_temp.wf('', 10, '{{1,1},{12,2}}'), 1, 'one past the window');
SELECT is(pg_temp.wf('', 10, '{{1,2},{2,3}}'), 0, 'no step 1: 0');
SELECT is(pg_temp.wf('', 10, '{{5,1}}'), 1, 'a single step-1 event');
SELECT is(pg_temp.wf('', 10, '{{5,3}}'), 0, 'a single step-3 event');
SELECT is(pg_temp.wf('', 10, '{{5,2},{5,1}}'), 2, 'tie: ordered by (ts, step)');
SELECT is(pg_temp.wf('', 10, '{{1,1},{8,1},{15,2},{16,3}}'), 3, 'a later step 1 restarts the window');
SELECT is(pg_temp.wf('', 0, '{{4,1},{4,2},{4,3}}'), 3, 'zero window, equal timestamps');
-- strict_order
SELECT is(pg_temp.wf('strict_order', 10, '{{1,1},{2,3},{3,2},{4,3}}'), 1, 'strict_order stops at an early step 3');
SELECT is(pg_temp.wf('strict_order', 10, '{{1,1},{2,0},{3,2}}'), 1, 'strict_order stops at a row matching no step');
SELECT is(pg_temp.wf('strict_order', 10, '{{0,0},{1,1},{3,2}}'), 2, 'rows before step 1 do not stop it');
SELECT is(pg_temp.wf('strict_order', 10, '{{1,1},{2,2},{3,2},{4,3}}'), 3, 'strict_order allows repeats');
-- allow_reentry
SELECT is(pg_temp.wf('strict_order,allow_reentry', 10, '{{1,1},{2,3},{3,2},{4,3}}'), 3, 'allow_reentry skips an early step 3');
-- strict_deduplication
SELECT is(pg_temp.wf('strict_deduplication', 10, '{{1,1},{2,2},{3,2},{4,3}}'), 2, 'dedup stops at a repeated step 2');
SELECT is(pg_temp.wf('strict_deduplication', 10, '{{1,1},{2,1},{3,2}}'), 2, 'dedup allows a repeated step 1');
-- strict_increase
SELECT is(pg_temp.wf('strict_increase', 10, '{{1,1},{1,2},{2,3}}'), 1, 'strict_increase: equal ts does not extend');
SELECT is(pg_temp.wf('strict_increase', 10, '{{1,1},{2,2},{3,3}}'), 3, 'strict_increase: increasing ts does');
-- strict_once (rows are per array element here, so one row one step: same as default)
SELECT is(pg_temp.wf('strict_once', 10, '{{1,1},{1,2},{1,3}}'), 3, 'strict_once with one step per row');
SELECT is((SELECT window_funnel(10::bigint, 'strict_once', 1::bigint, true, true, true)), 1,
          'strict_once: one row fills one step only');
SELECT is((SELECT window_funnel(10::bigint, 1::bigint, true, true, true)), 3,
          'default: one row fills every step it satisfies');
-- crm_backfill
SELECT is(pg_temp.wf('crm_backfill', 10, '{{1,3}}'), 3, 'crm_backfill: step 3 alone reaches 3');
SELECT is(pg_temp.wf('crm_backfill', 10, '{{1,1},{50,2}}'), 2, 'crm_backfill: out of window still counts');
SELECT is(pg_temp.wf('crm_backfill', 10, '{{1,0}}'), 0, 'crm_backfill: no step, level 0');

-- funnel_agg agrees with window_funnel on the same events, for every mode
SELECT is(
  (SELECT count(*)::int FROM
     (VALUES (''), ('strict_order'), ('strict_deduplication'), ('strict_increase'), ('strict_once'),
             ('strict_order,allow_reentry'), ('crm_backfill')) m(modes),
     (VALUES ('{{1,1},{2,3},{3,2},{4,3}}'::int[]), ('{{1,1},{2,2},{3,2},{4,3}}'), ('{{1,1},{1,2},{2,3}}'),
             ('{{1,1},{12,2}}'), ('{{1,2},{2,3}}'), ('{{1,1},{2,0},{3,2}}'), ('{{5,2},{5,1}}')) e(ev)
   WHERE pg_temp.wf(modes, 10, ev) <> pg_temp.fa(modes, 10, ev)),
  0, 'funnel_agg and window_funnel agree on 49 mode x case pairs');

-- accessors
SELECT is(bottleneck('v1;steps=3;window=0;modes=;entities=10;reached=10,5,5;ttc=z0|z0|z0'), 2, 'bottleneck: lowest conversion');
SELECT is(bottleneck('v1;steps=3;window=0;modes=;entities=10;reached=8,4,2;ttc=z0|z0|z0'), 2, 'bottleneck: ties go to the earliest');
SELECT is(bottleneck('v1;steps=3;window=0;modes=;entities=10;reached=0,0,0;ttc=z0|z0|z0'), NULL, 'bottleneck: NULL without conversions');
SELECT is(bottleneck('v1;steps=1;window=0;modes=;entities=1;reached=1;ttc=z0'), NULL, 'bottleneck: NULL for one step');
SELECT is(conversion_rate('v1;steps=2;window=0;modes=;entities=3;reached=0,0;ttc=z0|z0'::funnel_summary, 1, 2), NULL,
          'conversion_rate: NULL when nobody reached from_step');
SELECT is(drop_off('v1;steps=2;window=0;modes=;entities=10;reached=7,3;ttc=z0|z0', 1), 3::bigint, 'drop_off at step 1: no step 1');
SELECT is(drop_off('v1;steps=2;window=0;modes=;entities=10;reached=7,3;ttc=z0|z0', 2), 4::bigint, 'drop_off at step 2');
SELECT is((SELECT count(*)::int FROM funnel_steps('v1;steps=32;window=0;modes=;entities=0;reached=0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0;ttc=z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0|z0')),
          32, 'funnel_steps: one row per step, 32 steps');

-- errors
SELECT throws_ok($$SELECT pg_temp.wf('strict_order,bogus', 10, '{{1,1}}')$$, '22023', NULL, 'unknown mode: 22023');
SELECT throws_ok($$SELECT pg_temp.wf('allow_reentry', 10, '{{1,1}}')$$, '22023', NULL, 'allow_reentry alone: 22023');
SELECT throws_ok($$SELECT pg_temp.wf('', -5, '{{1,1}}')$$, '22023', NULL, 'negative window: 22023');
SELECT throws_ok($$SELECT 'v1;steps=2;window=0'::funnel_summary$$, '22P02', NULL, 'truncated text input: 22P02');
SELECT throws_ok($$SELECT rollup(f) FROM (VALUES ('v1;steps=1;window=0;modes=;entities=1;reached=1;ttc=z0'::funnel_summary),
                                                 ('v1;steps=2;window=0;modes=;entities=1;reached=1,1;ttc=z0|z0')) v(f)$$,
                 '22023', NULL, 'rollup of different step counts: 22023');

-- SQL labels: every funnel function is PARALLEL SAFE and documented
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
           JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'leadkpi'
           WHERE (p.proname LIKE '%funnel%' OR p.proname IN ('reached', 'drop_off', 'bottleneck', 'time_to_convert_median', 'rollup'))
             AND p.proname NOT LIKE '\_lk\_create\_%' AND p.proname NOT LIKE '\_lk\_check\_%'  -- the report layer's DDL steps
             AND p.proparallel <> 's'), 0, 'funnel functions are PARALLEL SAFE');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
           JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'leadkpi'
           WHERE (p.proname LIKE '%funnel%' OR p.proname IN ('reached', 'drop_off', 'bottleneck', 'time_to_convert_median', 'rollup'))
             AND obj_description(p.oid, 'pg_proc') IS NULL), 0, 'funnel functions have a COMMENT');
SELECT isnt(obj_description('funnel_summary'::regtype, 'pg_type'), NULL, 'funnel_summary has a COMMENT');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'conversion_rate'
           AND pg_get_function_identity_arguments(oid) = 'fs funnel_summary, from_step integer, to_step integer'), 1,
          'conversion_rate(funnel_summary, int, int) exists');

SELECT * FROM finish();
ROLLBACK;
