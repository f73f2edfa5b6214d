-- Which reports schema the dashboard reads, and the months it covers.
SELECT current_schema() AS reports_schema,
       to_char(min(month), 'YYYY-MM') AS first_month,
       to_char(max(month), 'YYYY-MM') AS last_month
FROM kpi_by_month_live
