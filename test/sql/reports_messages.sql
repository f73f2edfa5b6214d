-- What a user sees: a tiny mapping, its reports in psql, and the mapping
-- errors with their hints.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE SCHEMA msg_crm;
CREATE TABLE msg_crm.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz, revenue numeric);
INSERT INTO msg_crm.leads VALUES
  (1, '2024-01-01 10:00', 'spring', 'ads', '2024-01-03 10:00', 300),
  (2, '2024-01-02 10:00', 'spring', 'ads', NULL, NULL),
  (3, '2024-02-01 10:00', 'webinar', 'email', '2024-02-05 10:00', 200),
  (4, '2024-02-02 10:00', 'webinar', 'email', NULL, NULL);
CREATE TABLE msg_crm.spend (campaign text, day date, amount numeric);
INSERT INTO msg_crm.spend VALUES ('spring', '2024-01-01', 60), ('webinar', '2024-02-01', 40.50);

SELECT * FROM create_reports('msg_rep', leads => 'msg_crm.leads', spend => 'msg_crm.spend');
-- (sales_cycle_median is left out here: it comes from the 1% sketch, tested in test/pgtap)
SELECT leads, conversions, conversion_rate, sales_cycle_avg, cost, cost_per_lead, cost_per_order, revenue FROM msg_rep.kpi_overview;
SELECT campaign, leads, conversions, conversion_rate, sales_cycle_avg, cost, cost_per_lead, cost_per_order, revenue FROM msg_rep.kpi_by_campaign ORDER BY campaign;
SELECT month, leads, conversions, conversion_rate, cost, revenue FROM msg_rep.kpi_by_month ORDER BY month;

-- mapping errors
CREATE TABLE msg_crm.bad (lead_id bigint, created timestamptz, campaign integer, channel text, converted_at timestamptz);
SELECT create_reports('msg_rep', 'msg_crm.bad');
ALTER TABLE msg_crm.bad RENAME created TO first_contact_at;
SELECT create_reports('msg_rep', 'msg_crm.bad');
-- (a user's own table in the report schema is left alone by drop_reports)
CREATE TABLE msg_rep.kpi_by_channel_backup AS SELECT 1 AS x;
CREATE SCHEMA msg_other;
CREATE TABLE msg_other.kpi_overview (x int);
SELECT create_reports('msg_other', 'msg_crm.leads');
SELECT refresh_reports('msg_rep');
SELECT create_reports_odoo('msg_odoo', odoo_schema => 'no_odoo_here');

-- the previous reports survived the failed runs
SELECT leads, cost FROM msg_rep.kpi_overview;
SELECT drop_reports('msg_rep');
SELECT count(*) AS left_in_msg_rep FROM pg_class WHERE relnamespace = 'msg_rep'::regnamespace;
