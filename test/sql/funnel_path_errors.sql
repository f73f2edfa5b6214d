-- funnel_path and funnel_agg over paths: a small worked example, then every
-- error, each shown as SQLSTATE: message HINT: hint.
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || CASE WHEN hint <> '' THEN ' HINT: ' || hint ELSE '' END;
END $$;

CREATE TEMP TABLE ev (lead_id bigint, stage text, ts timestamptz);
INSERT INTO ev VALUES
  (1, 'lead', '2024-01-01 09:00'), (1, 'mql', '2024-01-03 09:00'), (1, 'sql', '2024-01-10 09:00'),
  (1, 'mql', '2024-01-04 09:00'),
  (2, 'lead', '2024-01-01 09:00'), (2, 'lead', '2024-03-01 09:00'), (2, 'mql', '2024-03-02 09:00'),
  (3, 'mql', '2024-01-01 09:00'),
  (4, 'lead', NULL);
-- per lead: lead 1 reached sql, lead 2 mql on its second chain (the first
-- one's mql is out of the window), lead 3 never had a lead event, lead 4 no
-- row with a time
SELECT lead_id, funnel_path(ts, stage, ARRAY['lead', 'mql', 'sql'], interval '30 days') AS path,
       window_funnel(interval '30 days', ts, stage = 'lead', stage = 'mql', stage = 'sql') AS level
FROM ev GROUP BY lead_id ORDER BY lead_id;
-- the two levels give funnel_agg's summary
SELECT funnel_agg(path, 3, interval '30 days') AS two_levels,
       (SELECT funnel_agg(lead_id, ts, stage, ARRAY['lead', 'mql', 'sql'], interval '30 days') FROM ev) AS one_pass
FROM (SELECT lead_id, funnel_path(ts, stage, ARRAY['lead', 'mql', 'sql'], interval '30 days') AS path
      FROM ev GROUP BY lead_id) p;
-- with step numbers, modes and nsteps
SELECT lead_id, funnel_path(ts, array_position(ARRAY['lead', 'mql', 'sql'], stage), interval '30 days', 'crm_backfill', 3)
FROM ev GROUP BY lead_id ORDER BY lead_id;

-- funnel_path: arguments
SELECT pg_temp.err($$SELECT funnel_path(ts, 4, interval '1 day', '', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, -1, interval '1 day', '', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', '', NULL) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', '', 33) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', '', 0) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, NULL, '', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '-1 day', '', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', 'strict', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', 'allow_reentry', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day', '', 2 + (lead_id % 2)::int) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, 1, interval '1 day' * lead_id, '', 3) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, NULL, interval '1 day') FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, ARRAY['lead', 'mql'], NULL) FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, ARRAY[['lead', 'mql'], ['sql', 'won']], interval '1 day') FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, ARRAY['lead', NULL], interval '1 day') FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, ARRAY['lead', 'lead'], interval '1 day') FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, ARRAY[]::text[], interval '1 day') FROM ev$$);
SELECT pg_temp.err($$SELECT funnel_path(ts, stage, CASE WHEN ts > '2024-01-02' THEN ARRAY['lead', 'mql'] ELSE ARRAY['mql', 'lead'] END,
                                        interval '1 day') FROM ev$$);
-- a window that is the same within each group comes from a column
SELECT pg_temp.err($$SELECT lead_id, funnel_path(ts, stage, ARRAY['lead', 'mql'], interval '1 day' * lead_id) FROM ev GROUP BY 1$$);

-- funnel_agg over paths: arguments and paths
SELECT pg_temp.err($$SELECT funnel_agg('{}'::timestamptz[], NULL, interval '1 day')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{}'::timestamptz[], 40, interval '1 day')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{}'::timestamptz[], 3, NULL)$$);
SELECT pg_temp.err($$SELECT funnel_agg('{}'::timestamptz[], 3, interval '1 day', 'crm_backfill,strict_order')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{}'::timestamptz[], 2 + g % 2, interval '1 day') FROM generate_series(1, 2) g$$);
SELECT pg_temp.err($$SELECT funnel_agg('{{2024-01-01, 2024-01-02}}'::timestamptz[], 3, interval '1 day')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{2024-01-01, NULL}'::timestamptz[], 3, interval '1 day')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{2024-01-01, 2024-01-02, 2024-01-03}'::timestamptz[], 2, interval '5 days')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{2024-01-02, 2024-01-01}'::timestamptz[], 2, interval '5 days')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{2024-01-01, 2024-01-01}'::timestamptz[], 2, interval '5 days', 'strict_increase')$$);
SELECT pg_temp.err($$SELECT funnel_agg('{2024-01-01, 2024-01-07}'::timestamptz[], 2, interval '5 days')$$);
-- what is fine: equal times without strict_increase, the window's edge, '{}', NULL
SELECT funnel_agg(p, 2, interval '5 days')
FROM (VALUES ('{2024-01-01, 2024-01-01}'::timestamptz[]), ('{2024-01-01, 2024-01-06}'), ('{}'), (NULL)) v(p);
-- a summary of paths rolls up with funnel_agg's, of the same funnel only
SELECT pg_temp.err($$SELECT rollup(f) FROM (SELECT funnel_agg('{}'::timestamptz[], 3, interval '1 day') AS f
                                           UNION ALL SELECT funnel_agg(1::bigint, now(), 1, interval '2 days', '', 3)) s$$);
SELECT rollup(f) FROM (SELECT funnel_agg('{2024-01-01}'::timestamptz[], 3, interval '1 day') AS f
                       UNION ALL SELECT funnel_agg(1::bigint, now(), 1, interval '1 day', '', 3)) s;
