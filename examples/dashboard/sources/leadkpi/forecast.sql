-- The close forecast (forecast_closings(), doc/forecast.md) over the reports
-- schema: for each of the next 6 months, the expected closings (wins) and
-- their revenue with the 80% prediction interval, and their parts from the
-- open pipeline and from leads not in the CRM yet.  Every figure is a column
-- of forecast_closings(); nothing is computed here but the totals over the
-- 6 months (sums of expected values, in numeric for revenue; intervals do
-- not add up, so there is no interval of the totals).
--
-- as_of: now, to the second; but for data that stopped coming in (the sample
-- CRM ends in December 2025), the start of the month after the latest first
-- contact, so that the forecast starts where the data ends.  The page shows
-- it; the browser test recomputes the forecast at that instant.
-- forecast_closings is in leadkpi's schema: the connection's search_path is
-- the reports schema, then that one (EVIDENCE_SOURCE__leadkpi__schema).
WITH a AS (
    SELECT least(date_trunc('second', now()),
                 date_trunc('month', max(first_contact_at)) + interval '1 month') AS as_of
    FROM report_leads)
SELECT to_char(a.as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS as_of_label,
       f.h, f.period_start, to_char(f.period_start, 'YYYY-MM') AS period_label,
       f.closings, f.closings_low, f.closings_high, f.from_pipeline, f.from_new_leads,
       f.revenue, f.revenue_low, f.revenue_high, f.revenue_from_pipeline,
       f.open_leads, f.stale_leads, f.amount_basis,
       sum(f.closings) OVER () AS closings_total,
       sum(f.revenue) OVER () AS revenue_total,
       count(*) OVER () AS months
FROM a CROSS JOIN LATERAL forecast_closings(current_schema(), as_of => a.as_of, period => 'month',
                                            horizon => 6, level => 0.8) AS f
ORDER BY f.h
