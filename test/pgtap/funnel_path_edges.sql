-- funnel_path edge cases, each against funnel_agg over the raw events (the
-- same figures) and, where the answer is short, against the path written
-- out by hand: entities without events (LEFT JOIN), rows without a time,
-- ties (one timestamp for every step), the window's edge to the
-- microsecond, events in any order, every mode; paths fed to funnel_agg
-- with another step count or window are refused (22023).
BEGIN;
SELECT plan(24);
SET LOCAL TimeZone = 'UTC';

-- e(lead, stage, ts): hand-made leads, one case each
CREATE TABLE e (lead_id bigint, stage text, ts timestamptz);
INSERT INTO e VALUES
  -- 1: every step at one timestamp (ties)
  (1, 'a', '2024-01-01 00:00'), (1, 'b', '2024-01-01 00:00'), (1, 'c', '2024-01-01 00:00'),
  -- 2: step 3 exactly at the window's end (10 days), inclusive
  (2, 'a', '2024-01-01 00:00'), (2, 'b', '2024-01-05 00:00'), (2, 'c', '2024-01-11 00:00'),
  -- 3: step 3 one microsecond after the window's end
  (3, 'a', '2024-01-01 00:00'), (3, 'b', '2024-01-05 00:00'), (3, 'c', '2024-01-11 00:00:00.000001'),
  -- 4: out of order, a second chain: the first a..b, then a later a..b..c
  (4, 'c', '2024-02-20 00:00'), (4, 'b', '2024-02-19 00:00'), (4, 'a', '2024-01-01 00:00'),
  (4, 'b', '2024-01-02 00:00'), (4, 'a', '2024-02-18 00:00'),
  -- 5: rows without a time only: no entity
  (5, 'a', NULL), (5, 'b', NULL),
  -- 6: a time but no stage of the funnel: an entity at level 0
  (6, 'x', '2024-01-01 00:00'), (6, NULL, '2024-01-02 00:00'),
  -- 7: some rows without a time, ignored
  (7, 'a', '2024-01-01 00:00'), (7, 'b', NULL), (7, 'b', '2024-01-03 00:00'),
  -- 8: a step 2 before step 1, then steps 1, 2, 3
  (8, 'b', '2024-01-01 00:00'), (8, 'a', '2024-01-02 00:00'), (8, 'b', '2024-01-03 00:00'), (8, 'c', '2024-01-04 00:00');
-- leads: 9 and 10 have no events at all; campaign 'empty' has only those
CREATE TABLE l AS
SELECT i AS lead_id, CASE WHEN i IN (9, 10) THEN 'empty' ELSE 'c' || (i % 2) END AS campaign
FROM generate_series(1, 10) i;

CREATE TABLE modes AS
SELECT unnest(ARRAY['', 'strict_order', 'strict_deduplication', 'strict_increase', 'strict_once',
                    'strict_order,allow_reentry', 'crm_backfill']) AS m;

-- per lead, default mode, 10 days: the paths written out
SELECT results_eq(
    $$SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days') FROM e GROUP BY 1 ORDER BY 1$$,
    $$VALUES (1::bigint, '{2024-01-01, 2024-01-01, 2024-01-01}'::timestamptz[]),
             (2, '{2024-01-01, 2024-01-05, 2024-01-11}'),
             (3, '{2024-01-01, 2024-01-05}'),
             (4, '{2024-02-18, 2024-02-19, 2024-02-20}'),
             (5, NULL),
             (6, '{}'),
             (7, '{2024-01-01, 2024-01-03}'),
             (8, '{2024-01-02, 2024-01-03, 2024-01-04}')$$,
    'paths by hand: ties, the window''s edge inclusive, 1 us past it excluded, the later chain, no time, no step');
SELECT is((SELECT funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', 'strict_increase') FROM e WHERE lead_id = 1),
          '{2024-01-01}'::timestamptz[], 'ties under strict_increase: step 1 only');
SELECT is((SELECT funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', 'strict_once') FROM e WHERE lead_id = 1),
          '{2024-01-01, 2024-01-01, 2024-01-01}'::timestamptz[], 'ties under strict_once: three rows, three steps');
SELECT is((SELECT funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '0', '') FROM e WHERE lead_id = 1),
          '{2024-01-01, 2024-01-01, 2024-01-01}'::timestamptz[], 'a zero window still chains ties');
SELECT is((SELECT funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', 'strict_order') FROM e WHERE lead_id = 8),
          '{2024-01-02, 2024-01-03, 2024-01-04}'::timestamptz[], 'strict_order: a step 2 before any step 1 does not stop the chain');
SELECT is((SELECT cardinality(funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', 'crm_backfill')) FROM e WHERE lead_id = 3),
          3, 'crm_backfill: the furthest step whatever the window');

-- out of order: the same rows stored in ascending, descending and random order
CREATE TABLE e_asc AS SELECT * FROM e ORDER BY ts NULLS FIRST, stage;
CREATE TABLE e_desc AS SELECT * FROM e ORDER BY ts DESC NULLS LAST, stage DESC;
CREATE TABLE e_rand AS SELECT * FROM e ORDER BY random();
SELECT is_empty($$SELECT m, lead_id FROM (
                      SELECT m.m, lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', m.m)::text AS p FROM modes m, e_asc GROUP BY 1, 2
                      UNION ALL
                      SELECT m.m, lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', m.m)::text FROM modes m, e_desc GROUP BY 1, 2
                      UNION ALL
                      SELECT m.m, lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days', m.m)::text FROM modes m, e_rand GROUP BY 1, 2) x
                  GROUP BY 1, 2 HAVING count(DISTINCT coalesce(p, 'NULL')) > 1 OR count(*) <> 3$$,
                'every mode: the paths do not depend on the order of the rows');

-- same figures: two levels = one pass, every mode, by campaign, leads
-- without events included (LEFT JOIN), and over all leads
CREATE TEMP TABLE one_pass AS
SELECT m.m, l.campaign, funnel_agg(l.lead_id, e.ts, e.stage, ARRAY['a', 'b', 'c'], interval '10 days', m.m)::text AS f
FROM modes m, l LEFT JOIN e USING (lead_id) GROUP BY 1, 2;
CREATE TEMP TABLE two_level AS
SELECT m, campaign, funnel_agg(path, 3, interval '10 days', m)::text AS f
FROM (SELECT m.m, l.lead_id, l.campaign, funnel_path(e.ts, e.stage, ARRAY['a', 'b', 'c'], interval '10 days', m.m) AS path
      FROM modes m, l LEFT JOIN e USING (lead_id) GROUP BY 1, 2, 3) p GROUP BY 1, 2;
SELECT is((SELECT count(*) FROM one_pass), 21::bigint, '7 modes x 3 campaigns');
SELECT set_eq('SELECT * FROM two_level', 'SELECT * FROM one_pass',
              'every mode, leads without events included: funnel_agg(funnel_path) by campaign = funnel_agg over the events');
SELECT is((SELECT funnel_entities(f::funnel_summary) || ',' || reached(f::funnel_summary, 1) FROM two_level WHERE m = '' AND campaign = 'empty'),
          '0,0', 'a campaign whose leads have no events: a summary of 0 entities, as in one pass');
SELECT is((SELECT f FROM two_level WHERE m = '' AND campaign = 'c0'),
          (SELECT funnel_agg(lead_id, ts, stage, ARRAY['a', 'b', 'c'], interval '10 days')::text
           FROM e WHERE lead_id IN (2, 4, 6, 8)),
          'campaign c0 = funnel_agg over its leads'' events alone');
SELECT is((SELECT funnel_entities(f::funnel_summary) FROM two_level WHERE m = '' AND campaign = 'c1'), 3::bigint,
          'campaign c1 (leads 1, 3, 5, 7): 3 entities, lead 5 (no row with a time) is none');
SELECT is((SELECT funnel_agg(path, 3, interval '10 days')::text FROM (
               SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days') AS path FROM e GROUP BY 1) p),
          (SELECT funnel_agg(lead_id, ts, stage, ARRAY['a', 'b', 'c'], interval '10 days')::text FROM e),
          'over all leads');
SELECT is((SELECT funnel_agg(path, 3, interval '10 days')::text FROM (
               SELECT lead_id, funnel_path(ts, array_position(ARRAY['a', 'b', 'c'], stage), interval '10 days', '', 3) AS path
               FROM e GROUP BY 1) p),
          (SELECT funnel_agg(lead_id, ts, array_position(ARRAY['a', 'b', 'c'], stage), interval '10 days', '', 3)::text FROM e),
          'step numbers with nsteps: the same');

-- the window's edge at every scale: step 2 at start + window + d, d = -1, 0, 1 us
SELECT is_empty($$SELECT w, d FROM unnest(ARRAY[interval '0', interval '1 hour', interval '90 days']) w,
                                   unnest(ARRAY[-1, 0, 1]) d
                  WHERE NOT (w = '0' AND d = -1)
                    AND (SELECT cardinality(funnel_path(t, s, ARRAY['a', 'b'], w))
                         FROM (VALUES (timestamptz '2024-01-01', 'a'),
                                      (timestamptz '2024-01-01' + w + d * interval '1 microsecond', 'b')) v(t, s))
                        <> CASE WHEN d <= 0 THEN 2 ELSE 1 END$$,
                'step 2 at step 1 + window is in, one microsecond later is out (windows 0, 1 hour, 90 days)');

-- bad input: paths that funnel_path with these arguments cannot return
SELECT throws_ok($$SELECT funnel_agg(path, 2, interval '10 days') FROM (
                     SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days') AS path FROM e GROUP BY 1) p$$,
                 '22023', NULL, 'paths of a 3-step funnel into funnel_agg(path, 2, ...): 22023');
SELECT throws_ok($$SELECT funnel_agg(path, 3, interval '1 day') FROM (
                     SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days') AS path FROM e GROUP BY 1) p$$,
                 '22023', NULL, 'paths built with a 10-day window into funnel_agg(path, 3, ''1 day''): 22023');
SELECT throws_ok($$SELECT funnel_agg(path, 3, interval '10 days', 'strict_increase') FROM (
                     SELECT lead_id, funnel_path(ts, stage, ARRAY['a', 'b', 'c'], interval '10 days') AS path FROM e GROUP BY 1) p$$,
                 '22023', NULL, 'paths with ties into funnel_agg(..., ''strict_increase''): 22023');
SELECT throws_ok($$SELECT funnel_path(ts, stage, ARRAY['a', 'b'], interval '1 day', 'no_such_mode') FROM e$$,
                 '22023', NULL, 'an unknown mode: 22023');
SELECT throws_ok($$SELECT funnel_path(ts, 3, interval '1 day', '', 2) FROM e$$,
                 '22023', NULL, 'a step outside 1..nsteps: 22023');
SELECT throws_ok($$SELECT funnel_agg('{2024-01-01, NULL}'::timestamptz[], 3, interval '1 day')$$,
                 '22023', NULL, 'a path with a null: 22023');
SELECT throws_ok($$SELECT funnel_path(ts, stage, ARRAY['a', 'b'], interval '1 day' * lead_id) FROM e$$,
                 '22023', NULL, 'a window that differs between rows of one group: 22023');

-- a transition state read as it is, as Citus prints the workers' partial
-- states (worker_partial_agg: the transition function, then the type's
-- output, no final function): its sketches hold empty buckets
CREATE AGGREGATE pg_temp.fs_partial(timestamptz[], integer, interval) (
    SFUNC = funnel_agg_path_accum, STYPE = funnel_summary);
CREATE TEMP TABLE partial_paths AS
SELECT g AS lead_id,
       ARRAY[timestamptz '2024-01-01', timestamptz '2024-01-01' + (g * 7919 % 500) * interval '17 minutes',
             timestamptz '2024-01-01' + (g * 7919 % 500) * interval '17 minutes' + (g % 97) * interval '1 hour'] AS path
FROM generate_series(1, 2000) g;
SELECT is((SELECT pg_temp.fs_partial(path, 3, interval '10 days')::text FROM partial_paths),
          (SELECT funnel_agg(path, 3, interval '10 days')::text FROM partial_paths),
          'a transition state prints as its final summary (Citus ships partial states as text)');
SELECT ok((SELECT pg_temp.fs_partial(path, 3, interval '10 days')::text::funnel_summary
                  = funnel_agg(path, 3, interval '10 days') FROM partial_paths),
          'a transition state read back from its text equals the final summary');

SELECT * FROM finish();
ROLLBACK;
