-- One row per month of first contact (kpi_by_month_live), with each KPI's
-- change against the previous calendar month.  The dashboard's KPI tiles and
-- monthly trends read this.
--
-- sales_cycle_*_days are the view's own numeric companions of the interval
-- columns (days, 2 decimals), which a BI tool can chart.
--
-- The change against the previous month is not a view column (yet): it is
-- computed here, in PostgreSQL's numeric for money and days,
--   *_change  this / previous - 1; NULL when the month before has no row, or
--             a zero or NULL value.  The month before is joined by date, not
--             by lag(), so a month without leads is never skipped over.
SELECT m.month,
       to_char(m.month, 'YYYY-MM') AS month_label,
       m.leads, m.conversions, m.conversion_rate,
       m.sales_cycle_avg_days, m.sales_cycle_median_days,
       m.cost, m.cost_per_lead, m.cost_per_order, m.revenue,
       m.conversion_rate / nullif(p.conversion_rate, 0) - 1 AS conversion_rate_change,
       m.sales_cycle_avg_days / nullif(p.sales_cycle_avg_days, 0) - 1 AS sales_cycle_avg_change,
       m.cost_per_lead / nullif(p.cost_per_lead, 0) - 1 AS cost_per_lead_change,
       m.cost_per_order / nullif(p.cost_per_order, 0) - 1 AS cost_per_order_change
FROM kpi_by_month_live AS m
LEFT JOIN kpi_by_month_live AS p ON p.month = (m.month - interval '1 month')::date
ORDER BY m.month
