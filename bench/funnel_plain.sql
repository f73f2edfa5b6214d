-- The same funnel in plain SQL, exact (window_funnel's default mode).
-- s_k is the latest step-1 time of a chain that reaches step k at this row;
-- keeping the latest start is optimal, so s_k = the running max of s_(k-1)
-- over earlier rows (ordered by ts, step) when it is within 90 days.
-- Four stacked window passes over one sort; the level is the highest k
-- with some s_k.
WITH e AS (
    SELECT lead_id, occurred_at AS ts,
           array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage) AS step
    FROM crm.stage_events),
w1 AS (SELECT *, max(CASE WHEN step = 1 THEN ts END)
                   OVER (PARTITION BY lead_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS m1
       FROM e),
w2 AS (SELECT *, max(CASE WHEN step = 2 AND m1 >= ts - interval '90 days' THEN m1 END)
                   OVER (PARTITION BY lead_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS m2
       FROM w1),
w3 AS (SELECT *, max(CASE WHEN step = 3 AND m2 >= ts - interval '90 days' THEN m2 END)
                   OVER (PARTITION BY lead_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS m3
       FROM w2),
w4 AS (SELECT *, max(CASE WHEN step = 4 AND m3 >= ts - interval '90 days' THEN m3 END)
                   OVER (PARTITION BY lead_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS m4
       FROM w3),
lvl AS (SELECT lead_id,
               CASE WHEN bool_or(step = 5 AND m4 >= ts - interval '90 days') THEN 5
                    WHEN bool_or(m4 IS NOT NULL) THEN 4
                    WHEN bool_or(m3 IS NOT NULL) THEN 3
                    WHEN bool_or(m2 IS NOT NULL) THEN 2
                    WHEN bool_or(m1 IS NOT NULL) THEN 1 ELSE 0 END AS level
        FROM w4 GROUP BY lead_id)
SELECT l.campaign,
       count(*) FILTER (WHERE level >= 1) AS r1, count(*) FILTER (WHERE level >= 2) AS r2,
       count(*) FILTER (WHERE level >= 3) AS r3, count(*) FILTER (WHERE level >= 4) AS r4,
       count(*) FILTER (WHERE level >= 5) AS r5
FROM lvl JOIN crm.leads l USING (lead_id)
GROUP BY l.campaign
ORDER BY campaign;
