-- close_agg_segments (the one-pass summaries of every segment from leads and
-- their stage events together) against the plain SQL it replaces: close_agg
-- over the leads LEFT JOINed to stage_reach of their events, grouped by
-- campaign, channel and cohort.  bigint, text and uuid leads; leads without
-- a lead_id, two rows of one lead_id, events of no lead, events without a
-- step or time; NULL segments; a grid from a join; the errors.
BEGIN;
SELECT plan(14);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE sg_leads AS
SELECT CASE WHEN i % 97 = 0 THEN NULL ELSE i % 2900 END::bigint AS id,   -- ids 1..99 twice, some NULL
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'c' || (i % 7) END AS campaign,
       CASE WHEN i % 13 = 0 THEN NULL ELSE (ARRAY['web', 'mail', 'ads'])[1 + i % 3] END AS channel,
       timestamptz '2024-01-01' + (i * 7919 % 500) * interval '1 day' + (i % 23) * interval '1 hour' AS fc,
       i
FROM generate_series(1, 3000) i;
ALTER TABLE sg_leads ADD COLUMN won timestamptz, ADD COLUMN lost timestamptz,
    ADD COLUMN revenue numeric, ADD COLUMN amount numeric;
UPDATE sg_leads SET
    won = CASE WHEN i % 5 = 0 THEN fc + (i % 150) * interval '1 day' END,
    lost = CASE WHEN i % 5 IN (1, 2) THEN fc + (i % 90) * interval '1 day' END,
    revenue = CASE WHEN i % 5 = 0 AND i % 4 <> 0 THEN round(i * 0.37, 2) END,
    amount = CASE WHEN i % 3 = 0 THEN round(i * 0.5, 1) END;
-- a win dated before the first contact: counted, never open
UPDATE sg_leads SET won = fc - interval '3 days', revenue = 10 WHERE i = 40;

CREATE TEMP TABLE sg_events AS
SELECT l.id AS lead_id, k AS step, l.fc + (k - 1) * ((l.i % 17) + 1) * interval '2 days' AS at
FROM sg_leads l, generate_series(1, 1 + (l.i % 4)::int) k
WHERE l.id IS NOT NULL
UNION ALL SELECT 99999, 2, timestamptz '2024-05-01'               -- no such lead
UNION ALL SELECT 5, NULL, timestamptz '2024-05-01'                -- no step
UNION ALL SELECT 6, 3, NULL;                                      -- no time
-- repeated stages: only the first time counts
INSERT INTO sg_events SELECT lead_id, step, at + interval '4 days' FROM sg_events WHERE lead_id % 9 = 0 AND step IS NOT NULL;

CREATE TEMP TABLE sg_grid AS SELECT close_grid('2025-06-01', 'month', 4, 12, 'UTC') AS g;

-- the plain SQL: close_agg of each segment's leads, with stage_reach of their events
CREATE FUNCTION pg_temp.sg_plain(key_sql text) RETURNS TABLE (campaign text, channel text, cohort date, s text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT l.campaign, l.channel, date_trunc(''month'', l.fc)::date, '
        'close_agg(l.fc, l.won, l.lost, l.revenue, e.reached, l.amount, (SELECT g FROM sg_grid))::text '
        'FROM sg_leads l LEFT JOIN (SELECT %1$s AS k, stage_reach(step, at) AS reached FROM sg_events GROUP BY 1) e '
        'ON e.k = %2$s GROUP BY 1, 2, 3', replace(key_sql, 'X', 'lead_id'), replace(key_sql, 'X', 'l.id'));
END $$;
-- the one pass, over a UNION ALL of leads (no step) and events
CREATE FUNCTION pg_temp.sg_one(key_sql text) RETURNS TABLE (campaign text, channel text, cohort date, s text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT m.campaign, m.channel, m.cohort, m.summary::text FROM (SELECT close_agg_segments(u.k, u.step, u.at, u.fc, '
        'u.won, u.lost, u.revenue, u.amount, u.campaign, u.channel, u.cohort, (SELECT g FROM sg_grid)) AS a FROM ('
        'SELECT %2$s AS k, NULL::integer AS step, NULL::timestamptz AS at, fc, won, lost, revenue, amount, campaign, channel, '
        'date_trunc(''month'', fc)::date AS cohort FROM sg_leads '
        'UNION ALL SELECT %1$s, step, at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM sg_events) u) x, unnest(x.a) m',
        replace(key_sql, 'X', 'lead_id'), replace(key_sql, 'X', 'id'));
END $$;

SELECT ok((SELECT count(*) FROM pg_temp.sg_plain('X')) > 50, 'the data has many segments');
SELECT set_eq($$SELECT * FROM pg_temp.sg_one('X')$$, $$SELECT * FROM pg_temp.sg_plain('X')$$,
              'bigint leads: the same summaries as close_agg with stage_reach, segment by segment');
SELECT set_eq($$SELECT * FROM pg_temp.sg_one('X::text')$$, $$SELECT * FROM pg_temp.sg_plain('X::text')$$,
              'text leads: the same summaries');
SELECT set_eq($$SELECT * FROM pg_temp.sg_one('md5(X::text)::uuid')$$, $$SELECT * FROM pg_temp.sg_plain('md5(X::text)::uuid')$$,
              'uuid leads: the same summaries');
SELECT is((SELECT sum(leads(s::close_summary))::bigint FROM pg_temp.sg_one('X')), (SELECT count(*) FROM sg_leads),
          'every lead row counts once, those without lead_id too');
SELECT is((SELECT sum(excluded_leads(s::close_summary))::bigint FROM pg_temp.sg_one('X')), 1::bigint,
          'the win before its first contact is counted as excluded');
SELECT ok((SELECT count(*) FILTER (WHERE campaign IS NULL) > 0 AND count(*) FILTER (WHERE channel IS NULL) > 0
           FROM pg_temp.sg_one('X')), 'NULL campaigns and channels are segments of their own');

-- a grid that is not a constant is checked in every row
SELECT set_eq($$SELECT m.campaign, m.channel, m.summary::text FROM (SELECT close_agg_segments(u.id, NULL, NULL, u.fc, u.won,
                  u.lost, u.revenue, u.amount, u.campaign, u.channel, NULL, g.g) AS a FROM sg_leads u, sg_grid g) x, unnest(x.a) m$$,
              $$SELECT l.campaign, l.channel, close_agg(l.fc, l.won, l.lost, l.revenue, NULL, l.amount, (SELECT g FROM sg_grid))::text
                FROM sg_leads l GROUP BY 1, 2$$,
              'a grid from a join, leads without events: close_agg''s summaries');
SELECT is((SELECT close_agg_segments(id, NULL, NULL, fc, won, lost, revenue, amount, campaign, channel, NULL,
                                     (SELECT g FROM sg_grid)) FROM sg_leads WHERE false), NULL,
          'NULL over no rows');

SELECT throws_ok($$SELECT close_agg_segments(1::bigint, 0, now(), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, close_grid('2025-01-01'))$$,
                 '22023', NULL, 'a step out of range is refused');
SELECT throws_ok($$SELECT close_agg_segments(1::bigint, 1, 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, close_grid('2025-01-01'))$$,
                 '22008', NULL, 'an infinite stage time is refused');
SELECT throws_ok($$SELECT close_agg_segments(1::bigint, NULL, NULL, '2024-01-01', NULL, NULL, NULL, NULL, 'c', 'w', NULL, NULL)$$,
                 '22004', NULL, 'a NULL grid is refused');
SELECT throws_ok($$SELECT close_agg_segments(1::bigint, NULL, NULL, '2024-01-01', NULL, NULL, NULL, NULL, 'c', 'w', NULL,
                                             (SELECT s::close_summary FROM pg_temp.sg_one('X') LIMIT 1))$$,
                 '22023', NULL, 'a grid with counts is refused');
SELECT throws_ok($$SELECT close_agg_segments(u.id, NULL, NULL, u.fc, NULL, NULL, NULL, NULL, 'c', 'w', NULL, g.g)
                   FROM sg_leads u, (VALUES (close_grid('2025-06-01', 'month', 4, 12, 'UTC')), (close_grid('2025-07-01', 'month', 4, 12, 'UTC'))) g(g)$$,
                 '22023', NULL, 'a grid that changes between rows is refused');

SELECT * FROM finish();
ROLLBACK;
