-- One row per month of first contact (kpi_by_month_live), with each KPI's
-- change against the previous calendar month.  The dashboard's KPI tiles and
-- monthly trends read this.
--
-- Arithmetic done here, until the report views carry it (see README.md,
-- "Columns the views do not have yet"):
--   *_days       the interval KPIs as numbers of days (extract(epoch)/86400):
--                BI tools cannot chart an interval;
--   *_change     relative change against the month before: this / previous - 1;
--                NULL when the month before has no row, or a zero or NULL
--                value.  The month before is joined by date, not by lag(), so
--                a month without leads is never skipped over.
SELECT m.month,
       to_char(m.month, 'YYYY-MM') AS month_label,
       m.leads, m.conversions, m.conversion_rate,
       extract(epoch FROM m.sales_cycle_avg) / 86400 AS sales_cycle_avg_days,
       extract(epoch FROM m.sales_cycle_median) / 86400 AS sales_cycle_median_days,
       m.cost, m.cost_per_lead, m.cost_per_order, m.revenue,
       m.conversion_rate / nullif(p.conversion_rate, 0) - 1 AS conversion_rate_change,
       extract(epoch FROM m.sales_cycle_avg) / nullif(extract(epoch FROM p.sales_cycle_avg), 0) - 1 AS sales_cycle_avg_change,
       m.cost_per_lead / nullif(p.cost_per_lead, 0) - 1 AS cost_per_lead_change,
       m.cost_per_order / nullif(p.cost_per_order, 0) - 1 AS cost_per_order_change
FROM kpi_by_month_live AS m
LEFT JOIN kpi_by_month_live AS p ON p.month = (m.month - interval '1 month')::date
ORDER BY m.month
