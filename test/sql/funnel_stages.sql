-- funnel_agg with stage names equals funnel_agg with array_position() steps,
-- for every entity type and with modes; stages outside the list and NULL
-- stages match no step; malformed stage lists are errors (22023).
CREATE TABLE fst_events AS
SELECT (g / 4) AS lead_id, md5((g / 4)::text) AS lead_key,
       timestamptz '2024-01-01 00:00+00' + ((g * 7919) % 1000) * interval '1 day' AS ts,
       (ARRAY['lead','mql','sql','opportunity','customer','lost', NULL])[1 + (g * 31 % 7)] AS stage
FROM generate_series(1, 40000) g;
ANALYZE fst_events;

SELECT funnel_agg(lead_id, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')::text
     = funnel_agg(lead_id, ts, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                  interval '90 days', '', 5)::text AS bigint_same,
       funnel_agg(lead_key, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '30 days', 'strict_order')::text
     = funnel_agg(lead_key, ts, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                  interval '30 days', 'strict_order', 5)::text AS text_same,
       funnel_agg(md5(lead_id::text)::uuid, ts, stage, ARRAY['lead','mql','sql'], interval '90 days', 'crm_backfill')::text
     = funnel_agg(md5(lead_id::text)::uuid, ts, array_position(ARRAY['lead','mql','sql'], stage),
                  interval '90 days', 'crm_backfill', 3)::text AS uuid_same
FROM fst_events;

-- grouped, and in a forced parallel plan: the same summaries
CREATE TEMP TABLE fst_serial AS
SELECT lead_id % 5 AS grp,
       funnel_agg(lead_id, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')::text AS f
FROM fst_events GROUP BY 1;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT funnel_agg(lead_id, ts, stage, ARRAY['lead','mql'], interval '90 days') FROM fst_events;
SELECT count(*) AS groups, count(*) FILTER (WHERE s.f = p.f) AS identical
FROM fst_serial s
JOIN (SELECT lead_id % 5 AS grp,
             funnel_agg(lead_id, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days')::text AS f
      FROM fst_events GROUP BY 1) p USING (grp);
RESET ALL;

-- an unknown or NULL stage matches no step; the entity still counts
SELECT reached(f, 1) AS reached_1, reached(f, 2) AS reached_2, funnel_entities(f) AS entities, funnel_nsteps(f) AS nsteps
FROM (SELECT funnel_agg(e, t, s, ARRAY['a', 'b'], interval '1 day') AS f
      FROM (VALUES (1, timestamptz '2024-01-01', 'a'), (1, '2024-01-01 01:00', 'b'),
                   (2, '2024-01-01', 'zzz'), (3, '2024-01-01', NULL)) v(e, t, s)) x;

-- malformed stage lists
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY['a', NULL], interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY['a', 'b', 'a'], interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY[]::text[], interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', NULL::text[], interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY[['a', 'b'], ['c', 'd']], interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', (SELECT array_agg('s' || g) FROM generate_series(1, 33) g), interval '1 day');
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY['a'], interval '-1 day');
SELECT funnel_agg(1::bigint, now(), 'a', ARRAY['a'], interval '1 day', 'no_such_mode');
