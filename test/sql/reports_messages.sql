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

-- NOTICEs and WARNINGs, exact: every report schema has the same views, and
-- says why one is empty or may mislead
-- no stage_events: empty funnel views
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads');
-- stage events that are all of stages outside... none at all yet
CREATE TABLE msg_crm.events (lead_id bigint, stage text, occurred_at timestamptz);
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', stage_events => 'msg_crm.events', stages => ARRAY['lead', 'won']);
-- stage names that never occur (the hint's own example on data named otherwise)
INSERT INTO msg_crm.events VALUES (1, 'lead', '2024-01-01 10:00'), (1, 'won', '2024-01-03 10:00'), (2, 'lead', '2024-01-02 10:00');
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', stage_events => 'msg_crm.events',
    stages => ARRAY['lead', 'Converted', 'Prospecting', 'won']);
-- ... never the bottleneck
SELECT stage, reached, is_bottleneck FROM msg_rep.funnel_report ORDER BY step;
-- a user's view on a report: plain reports becoming materialized are
-- replaced in place (both are views, the materialized ones over the stores)
CREATE VIEW msg_crm.my_tile AS SELECT leads FROM msg_rep.kpi_overview;
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', materialized => true);
SELECT leads = (SELECT count(*) FROM msg_crm.leads WHERE first_contact_at IS NOT NULL) AS my_tile_reads_the_stores FROM msg_crm.my_tile;
-- a user's view on a store cannot be kept: a re-run makes the stores anew
CREATE VIEW msg_crm.my_store AS SELECT month FROM msg_rep.kpi_monthly;
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', materialized => true);
DROP VIEW msg_crm.my_store, msg_crm.my_tile;

-- Salesforce (Fivetran) without opportunity_stage, as Fivetran's own
-- fixtures: the KPI reports, and the funnel Lead, Converted, Won
CREATE SCHEMA msg_sf;
CREATE TABLE msg_sf.lead (id text, is_deleted boolean, created_date timestamp, converted_date date, converted_opportunity_id text, lead_source text);
CREATE TABLE msg_sf.opportunity (id text, is_deleted boolean, close_date date, is_won boolean, is_closed boolean, amount double precision,
  campaign_id text, stage_name text);
CREATE TABLE msg_sf.opportunity_history (id text, opportunity_id text, stage_name text, created_date timestamp, is_deleted boolean);
INSERT INTO msg_sf.opportunity VALUES ('o1', false, '2024-01-20', true, true, 5000, NULL, 'Closed Won'),
  ('o2', false, '2024-01-25', false, true, 700, NULL, 'Closed Lost'), ('o3', false, NULL, false, false, 100, NULL, 'Prospecting');
INSERT INTO msg_sf.lead VALUES ('l1', false, '2024-01-02 09:00', '2024-01-05', 'o1', 'Web'), ('l2', false, '2024-01-03 09:00', '2024-01-06', 'o2', 'Web'),
  ('l3', false, '2024-01-04 09:00', '2024-01-07', 'o3', 'Phone'), ('l4', false, '2024-01-04 09:00', NULL, NULL, 'Phone');
INSERT INTO msg_sf.opportunity_history VALUES ('h1', 'o1', 'Prospecting', '2024-01-05 10:00', false), ('h2', 'o1', 'Closed Won', '2024-01-20 10:00', false);
SELECT count(*) FROM create_reports_salesforce('msg_sf_r', salesforce_schema => 'msg_sf', time_zone => 'UTC');
SELECT step, stage, reached, conversion_from_previous, is_bottleneck FROM msg_sf_r.funnel_report ORDER BY step;
SELECT leads, conversions, conversion_rate, revenue FROM msg_sf_r.kpi_overview;
-- without the stage history either
DROP TABLE msg_sf.opportunity_history;
SELECT count(*) FROM create_reports_salesforce('msg_sf_r', salesforce_schema => 'msg_sf', time_zone => 'UTC');
-- stages given, no history: Lead and Converted only, and how to get the rest
SELECT count(*) FROM create_reports_salesforce('msg_sf_r', salesforce_schema => 'msg_sf', time_zone => 'UTC',
    stages => ARRAY['Lead', 'Converted', 'Prospecting', 'Closed Won']);

-- Odoo: no mail_tracking_value (no stage history); amounts in two currencies
CREATE SCHEMA msg_odoo;
CREATE TABLE msg_odoo.crm_stage (id integer, name varchar, sequence integer, is_won boolean);
CREATE TABLE msg_odoo.crm_lead (id integer, active boolean, probability float8, create_date timestamp, date_closed timestamp, stage_id integer,
  expected_revenue numeric, company_id integer);
INSERT INTO msg_odoo.crm_stage VALUES (1, 'New', 1, false), (2, 'Won', 2, true);
INSERT INTO msg_odoo.crm_lead VALUES (1, true, 100, '2024-01-01', '2024-01-05', 2, 100, 1), (2, true, 100, '2024-01-02', '2024-01-06', 2, 200, 2);
SELECT count(*) FROM create_reports_odoo('msg_odoo_r', odoo_schema => 'msg_odoo', time_zone => 'UTC');
CREATE TABLE msg_odoo.res_currency (id integer, name varchar);
CREATE TABLE msg_odoo.res_company (id integer, currency_id integer);
CREATE TABLE msg_odoo.res_currency_rate (name date, rate numeric, currency_id integer, company_id integer);
INSERT INTO msg_odoo.res_currency VALUES (1, 'EUR'), (2, 'USD');
INSERT INTO msg_odoo.res_company VALUES (1, 1), (2, 2);
SELECT count(*) FROM create_reports_odoo('msg_odoo_r', odoo_schema => 'msg_odoo', time_zone => 'UTC');

-- spend that has no channel: a campaign whose leads have two channels (the
-- rule "inferred from leads"), then one missing from the campaigns input
INSERT INTO msg_crm.leads VALUES (5, '2024-02-03 10:00', 'webinar', 'ads', NULL, NULL);
INSERT INTO msg_crm.spend VALUES ('fair', '2024-02-01', 10);
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', spend => 'msg_crm.spend');
SELECT channel, leads, cost, cost_per_lead, cost_channel_rule FROM msg_rep.kpi_by_channel ORDER BY channel NULLS LAST;
CREATE TABLE msg_crm.campaigns (campaign text, channel text);
INSERT INTO msg_crm.campaigns VALUES ('spring', 'ads'), ('webinar', 'email');
SELECT count(*) FROM create_reports('msg_rep', leads => 'msg_crm.leads', spend => 'msg_crm.spend', campaigns => 'msg_crm.campaigns');
SELECT channel, leads, cost, cost_per_lead, cost_channel_rule FROM msg_rep.kpi_by_channel ORDER BY channel NULLS LAST;
SELECT campaign, channel, cost, revenue, roi FROM msg_rep.kpi_by_campaign ORDER BY campaign;
