-- The whole funnel over all events with leadkpi (no join): the headline
-- single-pass figure to hold against count(*).
SELECT reached(f, 1) AS r1, reached(f, 2) AS r2, reached(f, 3) AS r3,
       reached(f, 4) AS r4, reached(f, 5) AS r5
FROM (SELECT funnel_agg(lead_id, occurred_at,
                        array_position(ARRAY['lead','mql','sql','opportunity','customer'], stage),
                        interval '90 days', '', 5) AS f
      FROM crm.stage_events) s;
