-- The summaries of the 0.1.0 fixture; run by make.sh against a 0.1.0 build.
-- Deterministic data (no random()), so the same SQL can be re-run.
SET TimeZone = 'UTC';
CREATE TABLE leads AS
SELECT g AS id, 'c' || (g % 4) AS campaign,
       timestamptz '2024-01-01 00:00+00' + g * interval '37 minutes 11.123457 seconds' AS first_contact,
       CASE WHEN g % 3 = 0 THEN timestamptz '2024-01-01 00:00+00' + g * interval '37 minutes 11.123457 seconds'
                                + (g % 211) * interval '9 hours 13 minutes'
            WHEN g % 29 = 0 THEN timestamptz '2023-12-01 00:00+00'   -- closed before the first contact
       END AS converted_at,
       CASE WHEN g % 5 <> 0 THEN (g % 17) * 12.345 END AS revenue
FROM generate_series(1, 3000) g;

CREATE TABLE kf (id int, note text, s kpi_summary);
INSERT INTO kf
SELECT 1, 'timestamptz leads with revenue, campaign c1, merged with its spend',
       rollup(s) FROM (
    SELECT kpi_agg(first_contact, converted_at, revenue) AS s FROM leads WHERE campaign = 'c1'
    UNION ALL
    SELECT spend_agg(a) FROM (VALUES (1234.56), (0.01), (-20.5), (99999999.999)) v(a)) x;
INSERT INTO kf SELECT 2, 'date leads, no revenue, campaign c2',
       kpi_agg(first_contact::date, converted_at::date) FROM leads WHERE campaign = 'c2';
INSERT INTO kf SELECT 3, 'timestamp leads, campaign c3 (closes before contact excluded)',
       kpi_agg(first_contact::timestamp, converted_at::timestamp, revenue) FROM leads WHERE campaign = 'c3';
INSERT INTO kf SELECT 4, 'spend only', spend_agg(a)
FROM (VALUES (10.5), (1e20), (0.000001)) v(a);
INSERT INTO kf SELECT 5, 'leads without a conversion', kpi_agg(first_contact, NULL::timestamptz)
FROM leads WHERE id <= 10;
INSERT INTO kf SELECT 6, 'wide cycles: zero, microseconds, a century',
       kpi_agg(f, c, r) FROM (VALUES
    (timestamptz '2000-01-01', timestamptz '2000-01-01', 1.5),
    (timestamptz '2000-01-01', timestamptz '2000-01-01 00:00:00.000001', NULL),
    (timestamptz '1950-01-01', timestamptz '2049-12-31 23:59:59.999999', 123456789012345678901234.5678),
    (timestamptz '2020-02-29 12:00', timestamptz '2020-03-01 11:00', 0)) v(f, c, r);
INSERT INTO kf SELECT 7, 'campaign c0, all of it',
       kpi_agg(first_contact, converted_at, revenue) FROM leads WHERE campaign = 'c0';

CREATE TABLE events AS
SELECT l.id, l.first_contact + (k - 1) * (l.id % 7 + 1) * interval '2 days 3 hours' AS ts,
       (ARRAY['lead','mql','sql','opportunity','customer'])[k] AS stage
FROM leads l, generate_series(1, 5) k
WHERE k <= 1 + (l.id % 5) AND NOT (k = 2 AND l.id % 11 = 0);   -- some skip mql

CREATE TABLE ff (id int, grp text, note text, f funnel_summary);
-- three disjoint parts of one funnel (group 'a'), for rollup
INSERT INTO ff
SELECT 10 + (id % 3), 'a', 'stage names, 30 days, part ' || (id % 3),
       funnel_agg(id, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '30 days')
FROM events GROUP BY id % 3;
INSERT INTO ff SELECT 20, 'b', 'step index, 7 days, strict_order',
       funnel_agg(id, ts, array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                  interval '7 days', 'strict_order')
FROM events;
INSERT INTO ff SELECT 21, 'c', 'stage names, 90 days, crm_backfill',
       funnel_agg(id, ts, stage, ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days', 'crm_backfill')
FROM events;
INSERT INTO ff SELECT 22, 'd', 'uuid entities, 3 steps, 1 day',
       funnel_agg(md5(id::text)::uuid, ts, array_position(ARRAY['lead','mql','sql'], stage), interval '1 day')
FROM events;
INSERT INTO ff SELECT 23, 'e', 'text entities, no events reach step 1',
       funnel_agg('x' || id, ts, 2, interval '1 hour') FROM events WHERE id < 5;
