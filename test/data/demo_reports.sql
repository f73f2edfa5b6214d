-- make demo, report part: runs after the generator created schema crm
-- (crm.leads, crm.stage_events, crm.spend, crm.orders).  Maps it onto the
-- canonical model as is, creates the reports and prints them.
\set ON_ERROR_STOP 1
\pset footer off
SET TimeZone = 'UTC';

\echo
\echo '== create_reports: the generated CRM already has the canonical column names'
SELECT r AS created FROM create_reports('reports',
    leads        => 'crm.leads',
    stage_events => 'crm.stage_events',
    spend        => 'crm.spend',
    orders       => 'crm.orders',
    stages       => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'],
    conversion_window => '180 days',
    funnel_modes => 'crm_backfill') AS r;   -- a lead that skips a stage still passed it

\echo
\echo '== reports.kpi_overview'
SELECT leads, conversions, round(conversion_rate::numeric, 4) AS conversion_rate,
       justify_hours(date_trunc('hour', sales_cycle_avg)) AS sales_cycle_avg,
       justify_hours(date_trunc('hour', sales_cycle_median)) AS sales_cycle_median,
       round(cost, 2) AS cost, round(cost_per_lead, 2) AS cost_per_lead,
       round(cost_per_order, 2) AS cost_per_order, round(revenue, 2) AS revenue
FROM reports.kpi_overview;

\echo '== reports.kpi_by_campaign'
SELECT campaign, leads, conversions, round(conversion_rate::numeric, 4) AS conversion_rate,
       justify_hours(date_trunc('hour', sales_cycle_median)) AS sales_cycle_median,
       round(cost_per_lead, 2) AS cost_per_lead, round(cost_per_order, 2) AS cost_per_order, round(revenue, 2) AS revenue
FROM reports.kpi_by_campaign ORDER BY campaign NULLS LAST;

\echo '== reports.kpi_by_channel'
SELECT channel, leads, conversions, round(conversion_rate::numeric, 4) AS conversion_rate,
       justify_hours(date_trunc('hour', sales_cycle_median)) AS sales_cycle_median, round(revenue, 2) AS revenue
FROM reports.kpi_by_channel ORDER BY channel NULLS LAST;

\echo '== reports.kpi_by_month'
SELECT month, leads, conversions, round(conversion_rate::numeric, 4) AS conversion_rate,
       round(cost, 2) AS cost, round(cost_per_lead, 2) AS cost_per_lead, round(cost_per_order, 2) AS cost_per_order
FROM reports.kpi_by_month ORDER BY month;

\echo '== reports.funnel_report'
SELECT step, stage, reached, round(conversion_from_previous::numeric, 4) AS from_previous,
       round(conversion_from_first::numeric, 4) AS from_first, drop_off,
       justify_hours(date_trunc('hour', median_time_from_previous)) AS median_time_from_previous, is_bottleneck
FROM reports.funnel_report ORDER BY step;

\echo '== reports.funnel_by_campaign (reached per stage)'
SELECT campaign,
       max(reached) FILTER (WHERE step = 1) AS lead, max(reached) FILTER (WHERE step = 2) AS mql,
       max(reached) FILTER (WHERE step = 3) AS sql, max(reached) FILTER (WHERE step = 4) AS opportunity,
       max(reached) FILTER (WHERE step = 5) AS customer,
       max(stage) FILTER (WHERE is_bottleneck) AS bottleneck
FROM reports.funnel_by_campaign GROUP BY campaign ORDER BY campaign NULLS LAST;

\echo
\echo '== the same, materialized: stored per-day summaries, refreshed concurrently, plus a live view'
SELECT count(*) AS relations_created FROM create_reports('reports_mat',
    leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend', orders => 'crm.orders',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], conversion_window => '180 days',
    funnel_modes => 'crm_backfill', materialized => true);
SELECT count(*) AS refreshed FROM refresh_reports('reports_mat');
SELECT 'stored (days before today)' AS source, leads, conversions, round(cost, 2) AS cost FROM reports_mat.kpi_overview
UNION ALL
SELECT 'live (stored + today)', leads, conversions, round(cost, 2) FROM reports_mat.kpi_overview_live
UNION ALL
SELECT 'plain view', leads, conversions, round(cost, 2) FROM reports.kpi_overview;

\echo
\echo '== the funnel in psql: funnel_chart over the same stage events'
SELECT * FROM funnel_chart(
    (SELECT funnel_agg(lead_id, occurred_at, stage, ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'],
                       interval '180 days', 'crm_backfill')
     FROM crm.stage_events),
    ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer']);
SELECT sparkline(array_agg(leads ORDER BY month)) AS leads_per_month,
       sparkline(array_agg(conversion_rate ORDER BY month)) AS conversion_rate_per_month
FROM reports.kpi_by_month;
