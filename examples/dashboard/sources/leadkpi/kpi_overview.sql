-- The one-row overview over all leads and spend (kpi_overview_live).
-- sales_cycle_*_days: the intervals as days, until the view has them.
SELECT leads, conversions, conversion_rate,
       extract(epoch FROM sales_cycle_avg) / 86400 AS sales_cycle_avg_days,
       extract(epoch FROM sales_cycle_median) / 86400 AS sales_cycle_median_days,
       cost, cost_per_lead, cost_per_order, revenue
FROM kpi_overview_live
