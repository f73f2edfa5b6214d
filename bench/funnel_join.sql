-- The join floor of the by-campaign funnel: every event joined to its lead's
-- campaign and counted, the work any by-campaign query must do before it
-- computes anything.
SELECT l.campaign, count(*)
FROM crm.stage_events e JOIN crm.leads l USING (lead_id)
GROUP BY l.campaign;
