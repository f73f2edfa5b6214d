-- The whole funnel over all events with leadkpi (no join): the headline
-- single-pass figure to hold against count(*).
SELECT reached(f, 1) AS r1, reached(f, 2) AS r2, reached(f, 3) AS r3,
       reached(f, 4) AS r4, reached(f, 5) AS r5
FROM (SELECT funnel_agg(lead_id, occurred_at, stage,
                        ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS f
      FROM crm.stage_events) s;
