-- window_funnel: every mode on hand-made cases whose level is known, ties,
-- window bounds, NULLs, repeats, out-of-order rows, no step 1, one event.
-- Steps are a, b, c; ts and window (10) are epoch numbers.
SET timezone = 'UTC';
CREATE TABLE wf_ev (cid int, ts bigint, a bool, b bool, c bool);
CREATE TABLE wf_case (cid int, modes text, expect int, what text);

INSERT INTO wf_ev VALUES
 (1, 1, true, false, false), (1, 2, false, true, false), (1, 3, false, false, true),
 (2, 1, true, false, false), (2, 11, false, true, false),           -- bound inclusive
 (3, 1, true, false, false), (3, 12, false, true, false),           -- one past the bound
 (4, 1, false, true, false), (4, 2, false, false, true),            -- no step 1
 (5, 5, true, false, false),                                        -- single step-1 event
 (6, 5, false, true, false),                                        -- single other event
 (7, 5, true, true, false),                                         -- one row, two steps
 (8, 5, false, true, false), (8, 5, true, false, false),            -- tie, rows reversed
 (9, 3, false, false, true), (9, 2, false, true, false), (9, 1, true, false, false), -- reversed rows
 (10, 1, true, false, false), (10, 2, NULL, true, NULL), (10, 3, NULL, NULL, NULL),  -- NULLs
 (11, 1, true, false, false), (11, 8, true, false, false), (11, 15, false, true, false), (11, 16, false, false, true), -- latest start wins
 (12, 1, true, false, false), (12, 2, false, true, false), (12, 3, false, true, false), (12, 4, false, false, true), -- repeated b
 (13, 1, true, false, false), (13, 2, false, false, false), (13, 3, false, true, false), -- a row matching no step
 (14, 1, true, false, false), (14, 2, false, false, true), (14, 3, false, true, false), (14, 4, false, false, true), -- c before b
 (15, 0, false, false, false), (15, 1, true, false, false), (15, 2, false, true, false), -- no-step row before the start
 (16, 1, true, false, false), (16, 2, true, false, false), (16, 3, false, true, false), -- repeated step 1
 (17, 1, true, false, false), (17, 1, false, true, false), (17, 2, false, false, true), -- equal ts a, b
 (18, 1, true, true, false), (18, 2, false, false, true),          -- one row fills a and b
 (19, 0, true, false, false), (19, 5, true, true, true),           -- strict_once needs two rows
 (20, 1, true, false, false), (20, 2, false, false, true),          -- skipped b
 (21, 1, false, true, false),                                       -- only b
 (22, 1, false, false, true), (22, 500, true, false, false),        -- c long before a
 (23, 1, true, false, false), (23, 5, false, true, false), (23, 20, true, false, false), (23, 25, false, true, false), (23, 26, false, false, true); -- restart

INSERT INTO wf_case VALUES
 (1, '', 3, 'a b c in order'),
 (2, '', 2, 'b exactly at start + window'),
 (3, '', 1, 'b one past the window'),
 (4, '', 0, 'no step 1'),
 (5, '', 1, 'one step-1 event'),
 (6, '', 0, 'one step-2 event'),
 (7, '', 2, 'one row satisfies a and b'),
 (7, 'strict_once', 1, 'strict_once: one row fills one step'),
 (8, '', 2, 'a and b at the same ts, rows reversed'),
 (9, '', 3, 'rows arrive in reverse order'),
 (10, '', 2, 'NULL conditions count as false'),
 (11, '', 3, 'a later step 1 restarts the window'),
 (12, '', 3, 'repeated b'),
 (12, 'strict_deduplication', 2, 'dedup: repeated b stops the scan'),
 (12, 'strict_order', 3, 'strict_order: repeats are fine'),
 (13, '', 2, 'default: rows matching no step are ignored'),
 (13, 'strict_order', 1, 'strict_order: a row matching no step stops'),
 (13, 'strict_order,allow_reentry', 1, 'allow_reentry still stops on a no-step row'),
 (14, '', 3, 'default: c before b is skipped'),
 (14, 'strict_order', 1, 'strict_order: c before b stops'),
 (14, 'strict_order,allow_reentry', 3, 'allow_reentry: c before b skipped'),
 (14, 'strict_order, allow_reentry', 3, 'spaces around modes'),
 (15, 'strict_order', 2, 'no-step rows before step 1 are ignored'),
 (16, 'strict_deduplication', 2, 'step 1 may repeat under dedup'),
 (17, '', 3, 'a and b at equal ts'),
 (17, 'strict_increase', 1, 'strict_increase: b needs ts > a'),
 (18, '', 3, 'one row fills a and b'),
 (18, 'strict_once', 1, 'strict_once: b needs another row'),
 (18, 'strict_increase', 1, 'strict_increase: a and b share a ts'),
 (19, '', 3, 'row at 5 fills everything'),
 (19, 'strict_once', 2, 'strict_once: a@0 then b@5, c needs a third row'),
 (20, '', 1, 'skipped b'),
 (20, 'crm_backfill', 3, 'crm_backfill: c counts b as reached'),
 (21, '', 0, 'only b'),
 (21, 'crm_backfill', 2, 'crm_backfill: b counts a'),
 (22, 'crm_backfill', 3, 'crm_backfill ignores order and window'),
 (22, '', 1, 'default: c before a'),
 (23, '', 3, 'the second chain completes'),
 (23, 'strict_deduplication', 2, 'dedup: the second b stops');

SELECT c.cid, c.modes, c.what, c.expect,
       window_funnel(10::bigint, c.modes, e.ts, e.a, e.b, e.c) AS got
FROM wf_case c JOIN wf_ev e USING (cid)
GROUP BY c.cid, c.modes, c.what, c.expect
HAVING window_funnel(10::bigint, c.modes, e.ts, e.a, e.b, e.c) <> c.expect
ORDER BY 1, 2;

SELECT count(*) AS cases_checked,
       count(*) FILTER (WHERE got = expect) AS cases_passed
FROM (SELECT c.cid, c.modes, c.expect,
             window_funnel(10::bigint, c.modes, e.ts, e.a, e.b, e.c) AS got
      FROM wf_case c JOIN wf_ev e USING (cid)
      GROUP BY c.cid, c.modes, c.expect) s;

-- the three-argument form equals modes = ''
SELECT count(*) AS differ
FROM (SELECT cid, window_funnel(10::bigint, ts, a, b, c) AS x,
             window_funnel(10::bigint, '', ts, a, b, c) AS y
      FROM wf_ev GROUP BY cid) s WHERE x <> y;

-- timestamptz + interval form on the same cases: ts seconds from an epoch
SELECT count(*) AS differ
FROM (SELECT cid,
             window_funnel(10::bigint, ts, a, b, c) AS x,
             window_funnel(interval '10 seconds', to_timestamp(ts), a, b, c) AS y
      FROM wf_ev GROUP BY cid) s WHERE x <> y;

-- an empty group and an all-NULL step array
SELECT window_funnel(10::bigint, ts, a, b) FROM wf_ev WHERE false;
SELECT window_funnel(10::bigint, ts, VARIADIC NULL::boolean[]) FROM wf_ev WHERE cid = 1;
-- a NULL ts row is ignored
SELECT window_funnel(10::bigint, x.ts, x.a, x.b)
FROM (VALUES (1::bigint, true, false), (NULL, false, true), (2, false, true)) x(ts, a, b);
SELECT window_funnel(10::bigint, x.ts, x.a, x.b)
FROM (VALUES (1::bigint, true, false), (NULL, false, true)) x(ts, a, b);

-- 32 steps work; the 32nd is reached
SELECT window_funnel(100::bigint, g::bigint, VARIADIC (SELECT array_agg(i = g) FROM generate_series(1, 32) i))
FROM generate_series(1, 32) g;

-- errors: all 22023
\set VERBOSITY sqlstate
SELECT window_funnel(10::bigint, 'strict_nonsense', ts, a, b) FROM wf_ev;
SELECT window_funnel(10::bigint, 'strict', ts, a, b) FROM wf_ev;
SELECT window_funnel(10::bigint, 'allow_reentry', ts, a, b) FROM wf_ev;
SELECT window_funnel(10::bigint, 'crm_backfill,strict_order', ts, a, b) FROM wf_ev;
SELECT window_funnel(10::bigint, 'strict_order,', ts, a, b) FROM wf_ev;
SELECT window_funnel(-1::bigint, ts, a, b) FROM wf_ev;
SELECT window_funnel(interval '-1 day', to_timestamp(ts), a, b) FROM wf_ev;
SELECT window_funnel(1::bigint, g::bigint, VARIADIC (SELECT array_agg(true) FROM generate_series(1, 33))) FROM generate_series(1, 2) g;
SELECT window_funnel(1::bigint, 1::bigint, VARIADIC ARRAY[]::boolean[]);
\set VERBOSITY default
SELECT window_funnel(10::bigint, 'strict_nonsense', ts, a, b) FROM wf_ev;
