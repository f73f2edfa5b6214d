-- The whole funnel by campaign with leadkpi: one pass of funnel_agg.
SELECT campaign, reached(f, 1) AS r1, reached(f, 2) AS r2, reached(f, 3) AS r3,
       reached(f, 4) AS r4, reached(f, 5) AS r5
FROM (SELECT l.campaign,
             funnel_agg(e.lead_id, e.occurred_at, e.stage,
                        ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS f
      FROM crm.stage_events e JOIN crm.leads l USING (lead_id)
      GROUP BY l.campaign) s
ORDER BY campaign;
