-- The one-row overview over all leads and spend (kpi_overview_live), for
-- pages you add.  cost_matched, leads_matched: the spend and leads of the
-- (month, campaign) cells that have both, the base of cost_per_lead and
-- cost_per_order (doc/reports.md, "Totals across periods and campaigns").
SELECT leads, conversions, conversion_rate,
       sales_cycle_avg_days, sales_cycle_median_days,
       cost, cost_per_lead, cost_per_order, revenue,
       cost_matched, leads_matched, conversions_matched
FROM kpi_overview_live
