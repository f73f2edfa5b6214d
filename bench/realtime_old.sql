-- bench/realtime_old.sql: the stores of materialized reports as leadkpi
-- 0.1.0 made them (materialized views refreshed in full), over the
-- canonical views of schema p, in schema old.  bench/realtime.sh times
-- their non-concurrent refresh (0.1.0's refresh_reports('...', false)) next
-- to the full rebuild of the incremental stores, on the same data.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS old CASCADE;
CREATE SCHEMA old;
CREATE MATERIALIZED VIEW old.kpi_watermark AS SELECT (now() AT TIME ZONE 'UTC')::date AS stored_before;
CREATE MATERIALIZED VIEW old.kpi_daily AS
SELECT (first_contact_at AT TIME ZONE 'UTC')::date AS day, campaign, channel, kpi_agg(first_contact_at, converted_at, revenue) AS summary
FROM p.report_leads WHERE first_contact_at < (SELECT stored_before::timestamp AT TIME ZONE 'UTC' FROM old.kpi_watermark) GROUP BY 1, 2, 3;
CREATE MATERIALIZED VIEW old.spend_daily AS
SELECT day, campaign, channel, spend_agg(amount) AS summary FROM p.report_spend
WHERE day < (SELECT stored_before FROM old.kpi_watermark) GROUP BY 1, 2, 3;
CREATE MATERIALIZED VIEW old.funnel_store AS
SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.step, '365 days'::interval, 'crm_backfill', 5) AS fs
FROM p.report_stage_events AS e LEFT JOIN p.report_leads AS l ON l.lead_id = e.lead_id GROUP BY l.campaign;
CREATE MATERIALIZED VIEW old.kpi_overview AS SELECT rollup(s) AS r FROM (SELECT summary AS s FROM old.kpi_daily UNION ALL SELECT summary FROM old.spend_daily) u;
CREATE MATERIALIZED VIEW old.kpi_by_campaign AS SELECT campaign, rollup(s) AS r FROM (SELECT campaign, summary AS s FROM old.kpi_daily UNION ALL SELECT campaign, summary FROM old.spend_daily) u GROUP BY 1;
CREATE MATERIALIZED VIEW old.kpi_by_channel AS SELECT channel, rollup(summary) AS r FROM old.kpi_daily GROUP BY 1;
CREATE MATERIALIZED VIEW old.kpi_by_month AS SELECT date_trunc('month', day)::date AS month, rollup(s) AS r FROM (SELECT day, summary AS s FROM old.kpi_daily UNION ALL SELECT day, summary FROM old.spend_daily) u GROUP BY 1;
CREATE MATERIALIZED VIEW old.funnel_report AS SELECT rollup(fs) AS fs FROM old.funnel_store;
CREATE MATERIALIZED VIEW old.funnel_by_campaign AS SELECT campaign, fs FROM old.funnel_store;
