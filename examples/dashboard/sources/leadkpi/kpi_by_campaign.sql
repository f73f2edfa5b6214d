-- The campaign league table: one row per campaign (kpi_by_campaign_live),
-- with the view's channel (the campaign's one channel under the report
-- schema's channel rule, NULL when it has none or several: shown as
-- 'unknown') and roi ((revenue - cost) / cost, NULL without revenue or cost).
-- channel_id numbers the channels for the page's channel filter, so that no
-- label from the CRM is pasted into the page's SQL; it is never shown.
SELECT k.campaign, coalesce(k.channel, 'unknown') AS channel,
       dense_rank() OVER (ORDER BY coalesce(k.channel, 'unknown')) AS channel_id,
       k.leads, k.conversions, k.conversion_rate,
       k.cost, k.cost_per_lead, k.cost_per_order, k.revenue, k.roi
FROM kpi_by_campaign_live AS k
ORDER BY k.revenue DESC NULLS LAST, k.campaign
