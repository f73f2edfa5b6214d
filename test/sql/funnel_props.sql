-- Property test: on random event sets, for every mode, funnel_agg agrees with
-- window_funnel per entity and, where one exists, with an independent plain
-- SQL formulation.  Then forced parallel plans give the serial results.
SET timezone = 'UTC';
SELECT setseed(0.25);
-- 400 entities, 0..11 events each, 4 steps (NULL: a stage outside the
-- funnel), hourly timestamps over 40 hours so ties and window bounds are common
CREATE TABLE pr_ev AS
SELECT e AS id,
       '2024-01-01'::timestamptz + (random() * 40)::int * interval '1 hour' AS ts,
       CASE WHEN random() < 0.08 THEN NULL ELSE 1 + floor(random() * 4)::int END AS step
FROM generate_series(1, 400) e, LATERAL generate_series(1, (random() * 11)::int + (e * 0)) k;
SELECT count(*) > 1500 AS enough_events, count(DISTINCT id) > 350 AS enough_entities FROM pr_ev;

CREATE TABLE pr_modes (modes text);
INSERT INTO pr_modes VALUES (''), ('strict_order'), ('strict_deduplication'),
  ('strict_increase'), ('strict_once'), ('strict_order,allow_reentry'),
  ('strict_order,strict_deduplication'), ('strict_once,strict_increase'),
  ('strict_order,strict_increase,strict_once'), ('crm_backfill');

-- per entity: window_funnel's level, and funnel_agg's level (highest reached step)
CREATE TABLE pr_levels AS
SELECT m.modes, e.id,
       window_funnel('10 hours', m.modes, e.ts, e.step = 1, e.step = 2, e.step = 3, e.step = 4) AS wf,
       funnel_agg(e.id, e.ts, e.step, '10 hours', m.modes, 4) AS fa
FROM pr_modes m, pr_ev e GROUP BY m.modes, e.id;
SELECT modes,
       count(*) AS entities,
       count(*) FILTER (WHERE wf <> (SELECT coalesce(max(k), 0) FROM generate_series(1, 4) k WHERE reached(fa, k) = 1))
         AS disagree,
       count(DISTINCT wf) > 2 AS varied
FROM pr_levels GROUP BY modes ORDER BY modes;

-- the global funnel_agg equals funnel_agg over window_funnel levels and the
-- rollup of per-entity summaries
SELECT m.modes,
       substring(g.f::text from 'entities=[^;]*;reached=[^;]*') =
         (SELECT substring(funnel_agg(l.wf, 4)::text from 'entities=[^;]*;reached=[^;]*')
          FROM pr_levels l WHERE l.modes = m.modes) AS counts_match_levels,
       g.f::text = (SELECT rollup(l.fa)::text FROM pr_levels l WHERE l.modes = m.modes) AS rollup_exact
FROM pr_modes m,
     LATERAL (SELECT funnel_agg(e.id, e.ts, e.step, '10 hours', m.modes, 4) AS f FROM pr_ev e) g
ORDER BY 1;

-- independent plain SQL, default mode: the longest chain t1 <= t2 <= ... with
-- every step within 10 hours of the chain's step 1, taking for each step the
-- earliest event of the next step (earliest is always best)
WITH RECURSIVE ch(id, start, lvl, t) AS (
    SELECT id, ts, 1, ts FROM pr_ev WHERE step = 1
  UNION ALL
    SELECT ch.id, ch.start, ch.lvl + 1, nx.ts
    FROM ch CROSS JOIN LATERAL (
        SELECT e.ts FROM pr_ev e
        WHERE e.id = ch.id AND e.step = ch.lvl + 1 AND e.ts >= ch.t
          AND e.ts <= ch.start + interval '10 hours'
        ORDER BY e.ts LIMIT 1) nx
    WHERE ch.lvl < 4),
sql_level AS (
    SELECT i.id, coalesce(max(ch.lvl), 0) AS lvl
    FROM (SELECT DISTINCT id FROM pr_ev) i LEFT JOIN ch USING (id) GROUP BY i.id)
SELECT count(*) AS entities, count(*) FILTER (WHERE s.lvl <> l.wf) AS disagree_default
FROM sql_level s JOIN pr_levels l ON l.id = s.id AND l.modes = '';

-- independent plain SQL, crm_backfill: the highest step seen
SELECT count(*) FILTER (WHERE s.lvl <> l.wf) AS disagree_backfill
FROM (SELECT id, coalesce(max(step), 0) AS lvl FROM pr_ev GROUP BY id) s
JOIN pr_levels l ON l.id = s.id AND l.modes = 'crm_backfill';

-- input order does not matter: the same events in reverse and shuffled order
SELECT count(*) AS order_dependent
FROM (SELECT m.modes,
             (SELECT funnel_agg(id, ts, step, '10 hours', m.modes, 4)::text
              FROM (SELECT * FROM pr_ev ORDER BY id DESC, ts DESC, step DESC NULLS FIRST) a) AS r1,
             (SELECT funnel_agg(id, ts, step, '10 hours', m.modes, 4)::text
              FROM (SELECT * FROM pr_ev ORDER BY md5(id::text || ts::text || coalesce(step, 0)::text)) b) AS r2,
             (SELECT funnel_agg(id, ts, step, '10 hours', m.modes, 4)::text FROM pr_ev) AS r0
      FROM pr_modes m) s
WHERE r1 <> r0 OR r2 <> r0;

-- forced parallel plans: a bigger table, workers only, so every row goes
-- through serialize, deserialize and combine
CREATE TABLE pr_big AS
SELECT (g % 5000)::bigint AS id,
       '2024-01-01'::timestamptz + ((g / 5000) * 11 + (g * 7) % 61) * interval '1 hour' AS ts,
       1 + ((g / 5000) * 3 + g) % 5 AS step
FROM generate_series(1, 60000) g;
ANALYZE pr_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE pr_serial AS
SELECT funnel_agg(id, ts, step, '90 hours')::text AS f,
       funnel_agg(id::text, ts, step, '90 hours', 'strict_once')::text AS f_text,
       funnel_agg(md5(id::text)::uuid, ts, step, '90 hours', 'strict_order')::text AS f_uuid
FROM pr_big;
SELECT f FROM pr_serial;
CREATE TABLE pr_serial_wf AS
SELECT id, window_funnel('90 hours', ts, step = 1, step = 2, step = 3, step = 4, step = 5) AS lvl
FROM pr_big GROUP BY id;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT funnel_agg(id, ts, step, '90 hours') FROM pr_big;
SELECT (SELECT f FROM pr_serial) = funnel_agg(id, ts, step, '90 hours')::text AS parallel_bigint,
       (SELECT f_text FROM pr_serial) = funnel_agg(id::text, ts, step, '90 hours', 'strict_once')::text AS parallel_text,
       (SELECT f_uuid FROM pr_serial) = funnel_agg(md5(id::text)::uuid, ts, step, '90 hours', 'strict_order')::text AS parallel_uuid
FROM pr_big;
EXPLAIN (COSTS OFF)
SELECT id, window_funnel('90 hours', ts, step = 1, step = 2, step = 3, step = 4, step = 5) FROM pr_big GROUP BY id;
SELECT count(*) AS parallel_window_funnel_differ
FROM (SELECT id, window_funnel('90 hours', ts, step = 1, step = 2, step = 3, step = 4, step = 5) AS lvl
      FROM pr_big GROUP BY id) p
FULL JOIN pr_serial_wf s USING (id) WHERE p.lvl IS DISTINCT FROM s.lvl;
-- rollup and funnel_agg(level, nsteps) in parallel too
EXPLAIN (COSTS OFF)
SELECT funnel_agg(lvl, 5) FROM pr_serial_wf;
SELECT funnel_agg(lvl, 5)::text = (SELECT funnel_agg(lvl, 5)::text FROM (SELECT * FROM pr_serial_wf ORDER BY id) s)
  AS parallel_levels
FROM pr_serial_wf;
RESET ALL;

-- one entity with a million events: bounded memory, no hang
SELECT reached(f, 5) AS reached_5, funnel_entities(f) AS entities
FROM (SELECT funnel_agg(1::bigint, '2024-01-01'::timestamptz + g * interval '1 second', 1 + g % 5, '1 day') AS f
      FROM generate_series(1, 1000000) g) s;
SELECT window_funnel('1 day', 'strict_once', '2024-01-01'::timestamptz + (g / 1000) * interval '1 second',
                     g % 3 = 0, g % 3 = 1, g % 3 = 2)
FROM generate_series(1, 1000000) g;
