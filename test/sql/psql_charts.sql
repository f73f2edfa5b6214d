-- funnel_chart and sparkline: plain-text charts for psql's aligned format,
-- exact output.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
-- 10 leads at step 1, 8 at 2, 4 at 3 (the bottleneck: 50% then 50%, the earliest), 2 at 4
CREATE TEMP TABLE ch_ev AS
SELECT i AS lead_id, timestamptz '2024-01-01' + i * interval '1 hour' + k * interval '1 day' AS ts, k AS step
FROM generate_series(1, 10) AS i, generate_series(1, 4) AS k
WHERE k <= CASE WHEN i <= 2 THEN 4 WHEN i <= 3 THEN 3 WHEN i <= 8 THEN 2 ELSE 1 END
   OR (k = 3 AND i = 4);
SELECT * FROM funnel_chart((SELECT funnel_agg(lead_id, ts, step, '30 days') FROM ch_ev));
SELECT * FROM funnel_chart((SELECT funnel_agg(lead_id, ts, step, '30 days') FROM ch_ev), ARRAY['visit', 'signup', 'trial', 'paid'], 16);
-- eighths of a character: 1 of 8 at width 1 is one eighth
SELECT step, bar, reached FROM funnel_chart((SELECT funnel_agg(lead_id, ts, step, '30 days') FROM ch_ev), 1);
-- a step nobody reached has an empty bar; no step, no row
SELECT * FROM funnel_chart((SELECT funnel_agg(lead_id, ts, step, '30 days', '', 5) FROM ch_ev), 10);
SELECT count(*) FROM funnel_chart(NULL::funnel_summary);
SELECT * FROM funnel_chart((SELECT funnel_agg(lead_id, ts, step, '30 days') FROM ch_ev), 0);

SELECT sparkline(ARRAY[1, 2, 3, 4, 5, 6, 7, 8]) AS rising,
       sparkline(ARRAY[8, 1, 8, 1]) AS zigzag,
       sparkline(ARRAY[0.25, NULL, 0.5]) AS with_null,
       sparkline(ARRAY[3, 3, 3]) AS flat,
       sparkline('{}'::float8[]) AS empty,
       sparkline(NULL) AS null_array;
-- over a KPI by period, e.g. leads per month (bigint[] casts to float8[])
SELECT sparkline(array_agg(n ORDER BY m)) FROM (VALUES (1, 10::bigint), (2, 40), (3, 20), (4, 80)) AS t(m, n);
