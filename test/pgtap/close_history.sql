-- close_agg's counts against an independent plain-SQL computation of the
-- same definitions: who is open at each snapshot, in which stage and age
-- bucket, and in which observed window each one was won or lost; arrivals,
-- wins and revenue per window; new leads' wins; the open pipeline's amounts.
-- On data with the awkward cases: no first contact, won and lost both set,
-- closes before the first contact, stage times before the first contact,
-- repeated and out-of-order stages, times exactly on a snapshot or a window
-- end, a grid cut mid-month in a time zone with a DST change.
BEGIN;
SELECT plan(13);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE ch_leads AS
SELECT i AS id,
       CASE WHEN i % 61 = 0 THEN NULL ELSE 'c' || (i % 3) END AS campaign,
       CASE WHEN i % 97 = 0 THEN NULL
            ELSE timestamptz '2023-10-01' + (i * 7919 % 300) * interval '1 day' + (i % 24) * interval '1 hour' END AS fc,
       i
FROM generate_series(1, 1500) i;
ALTER TABLE ch_leads DROP COLUMN i,
    ADD COLUMN won timestamptz, ADD COLUMN lost timestamptz, ADD COLUMN revenue numeric, ADD COLUMN amount numeric;
UPDATE ch_leads SET
    won = CASE WHEN id % 5 = 0 THEN fc + (id % 140) * interval '1 day' + (id % 13) * interval '1 hour'
               WHEN id % 211 = 0 THEN fc - interval '3 days' END,               -- won before the first contact
    lost = CASE WHEN id % 5 IN (1, 2) OR id % 35 = 0 THEN fc + (id % 90) * interval '1 day' END,  -- id % 35: won and lost
    revenue = CASE WHEN id % 7 <> 3 THEN round((id % 500) * 1.25 + 0.005 * (id % 3), 3) END,
    amount = CASE WHEN id % 4 = 0 THEN (id % 90) * 10.5 END;
-- times exactly on a snapshot instant and on a window end (Berlin midnight)
UPDATE ch_leads SET fc = timestamptz '2024-05-15 10:00+00' WHERE id IN (7, 8);
UPDATE ch_leads SET fc = timestamptz '2024-05-01', won = timestamptz '2024-05-31 22:00+00', lost = NULL WHERE id IN (10, 20, 30);

CREATE TEMP TABLE ch_events AS
SELECT l.id AS lead_id, k AS step,
       l.fc + (k - 1) * ((l.id % 23) + 1) * interval '1 day' - CASE WHEN l.id % 29 = 0 THEN interval '10 days' ELSE interval '0' END AS occurred_at
FROM ch_leads l, generate_series(1, 1 + (l.id % 4)::int) k
WHERE l.fc IS NOT NULL AND l.id % 6 <> 0;
INSERT INTO ch_events SELECT lead_id, step, occurred_at + interval '2 days' FROM ch_events WHERE lead_id % 9 = 0;   -- re-entries
INSERT INTO ch_events SELECT lead_id, 2, occurred_at + interval '1 day' FROM ch_events WHERE step = 3 AND lead_id % 13 = 0;  -- mql after sql

-- snapshots on the 15th at 12:00 in Berlin, monthly windows to the next 1st
CREATE TEMP TABLE ch_grid AS
SELECT close_grid('2024-07-15 12:00+02', 'month', 3, 6, 'Europe/Berlin', '{7 days, 30 days, 90 days}') AS g;
CREATE TEMP TABLE ch_w AS SELECT * FROM close_windows((SELECT g FROM ch_grid));

CREATE TEMP TABLE ch_s AS
SELECT l.campaign,
       close_agg(l.fc, l.won, l.lost, l.revenue, e.reached, l.amount, (SELECT g FROM ch_grid)) AS s
FROM ch_leads l
LEFT JOIN (SELECT lead_id, stage_reach(step, occurred_at) AS reached FROM ch_events GROUP BY lead_id) e ON e.lead_id = l.id
GROUP BY l.campaign;

SELECT is((SELECT count(DISTINCT snapshot) FROM ch_w), 6::bigint, 'six snapshots');
SELECT results_eq(
    $$SELECT count(*) FILTER (WHERE observed) FROM ch_w GROUP BY snapshot ORDER BY snapshot$$,
    $$VALUES (3::bigint), (3), (3), (2), (1), (0)$$,
    'windows are observed when they ended by as_of (the last snapshot)');

-- the reference: stage reach, then each lead's state at each snapshot
CREATE TEMP TABLE ch_reach AS SELECT lead_id, step, min(occurred_at) AS r FROM ch_events GROUP BY 1, 2;
SELECT set_eq(
    $$SELECT lead_id, r FROM (SELECT lead_id, stage_reach(step, occurred_at) AS r FROM ch_events GROUP BY lead_id) x$$,
    $$SELECT l.lead_id, array_agg(c.r ORDER BY s)
      FROM (SELECT lead_id, max(step) AS top FROM ch_reach GROUP BY 1) l
      CROSS JOIN LATERAL generate_series(1, l.top) s
      LEFT JOIN ch_reach c ON c.lead_id = l.lead_id AND c.step = s
      GROUP BY 1$$,
    'stage_reach gives the first time of each step, NULL for a step skipped');

CREATE TEMP TABLE ch_state AS
SELECT DISTINCT ON (s.snapshot, l.id)
       s.snapshot, l.campaign, l.id, coalesce(c.step, 0) AS stage,
       (SELECT count(*) FROM unnest(age_bounds((SELECT g FROM ch_grid))) b
         WHERE b <= s.snapshot - coalesce(c.r, l.fc))::int AS age_bucket,
       l.won, CASE WHEN l.won IS NULL THEN l.lost END AS lost, l.amount
FROM (SELECT DISTINCT snapshot FROM ch_w) s
JOIN ch_leads l ON l.fc < s.snapshot
               AND coalesce(l.won, l.lost, 'infinity') >= s.snapshot
LEFT JOIN ch_reach c ON c.lead_id = l.id AND c.r < s.snapshot
ORDER BY s.snapshot, l.id, c.step DESC NULLS LAST;

SELECT set_eq(
    $$SELECT c.campaign, h.* FROM ch_s c, close_history(c.s) h$$,
    $$SELECT st.campaign, st.snapshot, st.stage, st.age_bucket, w.horizon, count(*) AS observed,
             count(*) FILTER (WHERE st.won >= w.window_start AND st.won < w.window_end) AS won,
             count(*) FILTER (WHERE st.lost >= w.window_start AND st.lost < w.window_end) AS lost
      FROM ch_state st JOIN ch_w w ON w.snapshot = st.snapshot AND w.observed
      GROUP BY 1, 2, 3, 4, 5$$,
    'close_history: open leads per snapshot, stage and age bucket, and their wins and losses per observed window');

SELECT set_eq(
    $$SELECT c.campaign, p.snapshot, p.stage, p.age_bucket, p.open_leads, p.with_amount, p.amount FROM ch_s c, close_pipeline(c.s) p$$,
    $$SELECT campaign, snapshot, stage, age_bucket, count(*) AS n, count(amount) AS with_amount, sum(amount) AS amount
      FROM ch_state GROUP BY 1, 2, 3, 4$$,
    'close_pipeline: open leads, those with an amount and the sum of the amounts, per snapshot, stage and age bucket (the last snapshot too)');

SELECT set_eq(
    $$SELECT c.campaign, w.snapshot, w.horizon, w.arrivals, w.closings, w.with_revenue, w.revenue
      FROM ch_s c, close_windows(c.s) w WHERE w.observed$$,
    $$SELECT c.campaign, w.snapshot, w.horizon,
             (SELECT count(*) FROM ch_leads l WHERE l.campaign IS NOT DISTINCT FROM c.campaign
                AND l.fc >= w.window_start AND l.fc < w.window_end) AS arrivals,
             (SELECT count(*) FROM ch_leads l WHERE l.campaign IS NOT DISTINCT FROM c.campaign AND l.fc IS NOT NULL
                AND l.won >= w.window_start AND l.won < w.window_end AND l.won >= l.fc) AS closings,
             (SELECT count(revenue) FROM ch_leads l WHERE l.campaign IS NOT DISTINCT FROM c.campaign AND l.fc IS NOT NULL
                AND l.won >= w.window_start AND l.won < w.window_end AND l.won >= l.fc) AS with_revenue,
             (SELECT sum(revenue) FROM ch_leads l WHERE l.campaign IS NOT DISTINCT FROM c.campaign AND l.fc IS NOT NULL
                AND l.won >= w.window_start AND l.won < w.window_end AND l.won >= l.fc) AS revenue
      FROM ch_s c, ch_w w WHERE w.observed$$,
    'close_windows: arrivals, wins (not those before the first contact) and revenue per observed window');

SELECT set_eq(
    $$SELECT c.campaign, n.* FROM ch_s c, close_new_leads(c.s) n$$,
    $$SELECT c.campaign, a.snapshot, a.horizon AS arrival_window, b.horizon AS win_window,
             (SELECT count(*) FROM ch_leads l WHERE l.campaign IS NOT DISTINCT FROM c.campaign
                AND l.fc >= a.window_start AND l.fc < a.window_end AND l.won >= l.fc
                AND l.won >= b.window_start AND l.won < b.window_end)
      FROM ch_s c, ch_w a JOIN ch_w b ON b.snapshot = a.snapshot AND b.horizon >= a.horizon
      WHERE a.observed AND b.observed$$,
    'close_new_leads: leads arriving in a window and winning in the same or a later one');

SELECT is((SELECT sum(leads(s)) FROM ch_s), (SELECT count(fc)::numeric FROM ch_leads), 'leads(): rows with a first contact');
SELECT is((SELECT sum(excluded_leads(s)) FROM ch_s),
          (SELECT count(*)::numeric FROM ch_leads WHERE coalesce(won, lost) < fc), 'excluded_leads(): closed before their first contact');
SELECT ok((SELECT count(*) FROM ch_state WHERE stage > 0) > 100 AND (SELECT count(DISTINCT age_bucket) FROM ch_state) = 4
          AND (SELECT count(*) FROM ch_state st JOIN ch_w w ON w.snapshot = st.snapshot AND w.observed
                WHERE st.won >= w.window_start AND st.won < w.window_end) > 50,
          'the data reaches every age bucket, stages and wins');

-- windows: the first from the snapshot to the 1st of the next month, Berlin time
SELECT results_eq(
    $$SELECT window_start, window_end FROM ch_w WHERE snapshot = '2024-03-15 11:00+00' ORDER BY horizon$$,
    $$VALUES (timestamptz '2024-03-15 11:00+00', timestamptz '2024-03-31 22:00+00'),
             ('2024-03-31 22:00+00', '2024-04-30 22:00+00'), ('2024-04-30 22:00+00', '2024-05-31 22:00+00')$$,
    'a mid-month snapshot''s windows end at the next month boundaries, across the DST change');
-- a win exactly at a window end belongs to the next window
SELECT is((SELECT count(*) FROM ch_s c, close_history(c.s) h
            WHERE h.snapshot = '2024-05-15 10:00+00' AND h.horizon = 2 AND h.won > 0) > 0, true,
          'the wins at 2024-05-31 22:00 UTC count in the window starting then');

-- a grid that changes between rows is refused
SELECT throws_ok(
    $$SELECT close_agg(l.fc, l.won, l.lost, NULL, NULL, NULL, g.g)
      FROM (SELECT * FROM ch_leads WHERE fc IS NOT NULL LIMIT 10) l,
           (VALUES (close_grid('2024-07-01', 'month', 3, 3)), (close_grid('2024-08-01', 'month', 3, 3))) g(g)$$,
    '22023', NULL, 'close_agg refuses a grid that changes between rows');

SELECT * FROM finish();
ROLLBACK;
