-- The campaign league table: one row per campaign (kpi_by_campaign_live).
--
-- Until the report views carry them (see README.md):
--   channel  the campaign's channel, from its leads in report_leads: the
--            channel when all its leads share one, 'mixed' when they do not,
--            'unknown' for a campaign with spend but no leads;
--   roi      return on spend, (revenue - cost) / cost; NULL without cost.
--            revenue is that of the campaign's leads (revenue() of the
--            summaries), cost its spend, both over all periods.
-- channel_id numbers the channels for the page's channel filter, so that no
-- label from the CRM is pasted into the page's SQL; it is never shown.
SELECT k.campaign, coalesce(c.channel, 'unknown') AS channel,
       dense_rank() OVER (ORDER BY coalesce(c.channel, 'unknown')) AS channel_id,
       k.leads, k.conversions, k.conversion_rate,
       k.cost, k.cost_per_lead, k.cost_per_order, k.revenue,
       (coalesce(k.revenue, 0) - k.cost) / nullif(k.cost, 0) AS roi
FROM kpi_by_campaign_live AS k
LEFT JOIN (SELECT campaign,
                  CASE WHEN count(DISTINCT channel) > 1 THEN 'mixed' ELSE min(channel) END AS channel
           FROM report_leads GROUP BY campaign) AS c
       ON c.campaign IS NOT DISTINCT FROM k.campaign
ORDER BY k.revenue DESC NULLS LAST, k.campaign
