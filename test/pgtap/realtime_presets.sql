-- Materialized preset reports follow changes to every CRM table the presets
-- read, through the tables and mappings each preset declares (Odoo,
-- Salesforce, HubSpot): after each change the live views equal the plain
-- reports over the same tables, and after a refresh the stored ones do.
-- Also the change-column mode (Odoo's write_date, with its look-back) and
-- change_detection => 'none'.
BEGIN;
SELECT plan(27);
SET LOCAL TimeZone = 'UTC';

\ir include/reports_differ.sql

-------------------------------------------------------------------------- Odoo
CREATE SCHEMA lk_ro;
CREATE TABLE lk_ro.crm_stage (id int PRIMARY KEY, name varchar, sequence int, is_won boolean, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.utm_campaign (id int PRIMARY KEY, name varchar, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.utm_medium (id int PRIMARY KEY, name varchar, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.utm_source (id int PRIMARY KEY, name varchar, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.crm_lead (id int PRIMARY KEY, active boolean, probability float8, create_date timestamp, date_closed timestamp,
  date_last_stage_update timestamp, stage_id int, campaign_id int, medium_id int, source_id int, expected_revenue numeric,
  write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.ir_model_fields (id int PRIMARY KEY, model varchar, name varchar, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.mail_message (id int PRIMARY KEY, model varchar, res_id int, date timestamp, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.mail_tracking_value (id serial PRIMARY KEY, field_id int, mail_message_id int, old_value_integer int,
  new_value_integer int, write_date timestamp DEFAULT now());
CREATE TABLE lk_ro.sale_order (id serial PRIMARY KEY, opportunity_id int, date_order timestamp, amount_untaxed numeric, state varchar,
  write_date timestamp DEFAULT now());
INSERT INTO lk_ro.crm_stage (id, name, sequence, is_won) VALUES (1, 'New', 1, false), (2, 'Qualified', 2, false), (3, 'Won', 3, true);
INSERT INTO lk_ro.utm_campaign (id, name) VALUES (1, 'spring'), (2, 'webinar');
INSERT INTO lk_ro.utm_medium (id, name) VALUES (1, 'Email'), (2, 'Website');
INSERT INTO lk_ro.utm_source (id, name) VALUES (1, 'Newsletter');
INSERT INTO lk_ro.ir_model_fields (id, model, name) VALUES (1, 'crm.lead', 'stage_id');
INSERT INTO lk_ro.crm_lead (id, active, probability, create_date, date_closed, stage_id, campaign_id, medium_id, source_id, expected_revenue)
SELECT i, true, CASE WHEN i % 3 = 0 THEN 100 ELSE 20 END, timestamp '2024-03-01' + i * interval '17 hours',
       CASE WHEN i % 3 = 0 THEN timestamp '2024-03-01' + i * interval '17 hours' + interval '9 days' END,
       CASE WHEN i % 3 = 0 THEN 3 ELSE 1 + i % 2 END, 1 + i % 2, CASE WHEN i % 4 > 0 THEN 1 + i % 2 END, 1, 100 * i
FROM generate_series(1, 30) AS i;
INSERT INTO lk_ro.mail_message (id, model, res_id, date)
SELECT i, 'crm.lead', i, timestamp '2024-03-02' + i * interval '17 hours' FROM generate_series(1, 30) AS i WHERE i % 2 = 0;
INSERT INTO lk_ro.mail_tracking_value (field_id, mail_message_id, old_value_integer, new_value_integer)
SELECT 1, id, 1, 2 FROM lk_ro.mail_message;
INSERT INTO lk_ro.sale_order (opportunity_id, date_order, amount_untaxed, state)
SELECT id, date_closed + interval '1 day', 70, 'sale' FROM lk_ro.crm_lead WHERE date_closed IS NOT NULL;

SELECT lives_ok($$SELECT create_reports_odoo('lk_ro_m', odoo_schema => 'lk_ro', materialized => true)$$, 'Odoo, materialized');
SELECT create_reports_odoo('lk_ro_p', odoo_schema => 'lk_ro') \g /dev/null
SELECT is((SELECT array_agg(DISTINCT tgrelid::regclass::text ORDER BY tgrelid::regclass::text) FROM pg_trigger
            WHERE tgfoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'lk_ro_m'::regnamespace)),
          '{lk_ro.crm_lead,lk_ro.crm_stage,lk_ro.ir_model_fields,lk_ro.mail_message,lk_ro.mail_tracking_value,lk_ro.sale_order,lk_ro.utm_campaign,lk_ro.utm_medium,lk_ro.utm_source}',
          'Odoo: triggers on every table the preset reads');
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', ''), '{}', 'Odoo: the first fill equals the plain reports');

UPDATE lk_ro.crm_lead SET stage_id = 3, probability = 100, date_closed = '2024-03-20' WHERE id = 4;
INSERT INTO lk_ro.crm_lead (id, active, probability, create_date, stage_id, campaign_id, medium_id, source_id, expected_revenue)
VALUES (31, true, 10, '2024-04-01', 1, 2, 1, 1, 5);
DELETE FROM lk_ro.crm_lead WHERE id = 5;
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', '_live'), '{}', 'Odoo: leads won, new and deleted are live');
INSERT INTO lk_ro.mail_message (id, model, res_id, date) VALUES (100, 'crm.lead', 7, '2024-03-09');
INSERT INTO lk_ro.mail_tracking_value (field_id, mail_message_id, old_value_integer, new_value_integer) VALUES (1, 100, 1, 3);
UPDATE lk_ro.mail_message SET date = date + interval '20 days' WHERE id = 2;
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', '_live'), '{}', 'Odoo: stage changes in the chatter are live');
UPDATE lk_ro.sale_order SET amount_untaxed = 999 WHERE opportunity_id = 3;
INSERT INTO lk_ro.sale_order (opportunity_id, date_order, amount_untaxed, state) VALUES (1, '2024-03-05', 10, 'sale');
UPDATE lk_ro.utm_campaign SET name = 'spring 2024' WHERE id = 1;
UPDATE lk_ro.utm_medium SET name = 'E-mail' WHERE id = 1;
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', '_live'), '{}', 'Odoo: orders and renamed campaigns and media are live');
UPDATE lk_ro.crm_stage SET is_won = true WHERE id = 2;
SELECT ok((SELECT rebuild_pending FROM lk_ro_m.report_status), 'Odoo: a stage change asks for a full rebuild');
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', '_live'), '{}', 'Odoo: meanwhile the live views are right');
SELECT refresh_reports('lk_ro_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_ro_m', 'lk_ro_p', ''), '{}', 'Odoo: after the refresh the stored reports are right');

-- change columns: write_date since the last refresh minus the look-back
SELECT lives_ok($$SELECT create_reports_odoo('lk_ro_c', odoo_schema => 'lk_ro', materialized => true, change_detection => 'columns')$$,
                'Odoo, materialized, by write_date');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgfoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'lk_ro_c'::regnamespace)), 0::bigint,
          'no trigger');
UPDATE lk_ro.crm_lead SET campaign_id = 2, write_date = now() WHERE id = 1;
UPDATE lk_ro.crm_lead SET expected_revenue = 1, write_date = now() - interval '50 minutes' WHERE id = 3;   -- late, within the hour of look-back
SELECT is(pg_temp.reports_differ('lk_ro_c', 'lk_ro_p', '_live'), '{}', 'by write_date: changed leads are live, also a late one');
SELECT refresh_reports('lk_ro_c') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_ro_c', 'lk_ro_p', ''), '{}', 'by write_date: and stored after a refresh');
SELECT lives_ok($$SELECT create_reports_odoo('lk_ro_n', odoo_schema => 'lk_ro', materialized => true, change_detection => 'none')$$,
                'Odoo, materialized, no change detection');
UPDATE lk_ro.crm_lead SET campaign_id = 2 WHERE id = 2;
SELECT isnt(pg_temp.reports_differ('lk_ro_n', 'lk_ro_p', '_live'), '{}', 'without change detection the live views wait for a full refresh');
SELECT refresh_reports('lk_ro_n', full => true) \g /dev/null
SELECT is(pg_temp.reports_differ('lk_ro_n', 'lk_ro_p', ''), '{}', 'which brings them up to date');
SELECT throws_ok($$SELECT create_reports_odoo('lk_ro_x', odoo_schema => 'lk_ro', materialized => true, change_detection => 'sometimes')$$,
                 '22023', NULL, 'an unknown change_detection is refused');

-------------------------------------------------------------------- Salesforce
CREATE SCHEMA lk_rs;
CREATE TABLE lk_rs.lead (id varchar PRIMARY KEY, created_date timestamp, converted_date date, converted_opportunity_id varchar,
  lead_source varchar, is_deleted boolean DEFAULT false);
CREATE TABLE lk_rs.opportunity (id varchar PRIMARY KEY, close_date date, is_won boolean, is_closed boolean, amount numeric,
  campaign_id varchar, stage_name varchar, is_deleted boolean DEFAULT false);
CREATE TABLE lk_rs.campaign (id varchar PRIMARY KEY, name varchar, actual_cost numeric, start_date date, end_date date,
  is_deleted boolean DEFAULT false);
CREATE TABLE lk_rs.campaign_member (lead_id varchar, campaign_id varchar, created_date timestamp, is_deleted boolean DEFAULT false);
CREATE TABLE lk_rs.opportunity_history (opportunity_id varchar, stage_name varchar, created_date timestamp);
INSERT INTO lk_rs.campaign VALUES ('c1', 'Spring', 700, '2024-03-01', '2024-03-07'), ('c2', 'Webinar', 100, '2024-03-10', NULL);
INSERT INTO lk_rs.opportunity VALUES ('o1', '2024-03-20', true, true, 500, 'c1', 'Closed Won'),
  ('o2', '2024-03-25', false, true, 0, NULL, 'Closed Lost'), ('o3', NULL, false, false, 0, 'c2', 'Prospecting');
INSERT INTO lk_rs.lead (id, created_date, converted_date, converted_opportunity_id, lead_source)
SELECT 'L' || i, timestamp '2024-03-01' + i * interval '9 hours', CASE WHEN i <= 3 THEN date '2024-03-15' END,
       CASE WHEN i <= 3 THEN 'o' || i END, CASE WHEN i % 2 = 0 THEN 'Web' ELSE 'Phone' END
FROM generate_series(1, 12) AS i;
INSERT INTO lk_rs.campaign_member SELECT 'L' || i, 'c' || (1 + i % 2), timestamp '2024-03-01' + i * interval '9 hours' FROM generate_series(4, 12) AS i;
INSERT INTO lk_rs.opportunity_history VALUES ('o1', 'Prospecting', '2024-03-15'), ('o1', 'Closed Won', '2024-03-20'),
  ('o3', 'Prospecting', '2024-03-16');

SELECT lives_ok($$SELECT create_reports_salesforce('lk_rs_m', salesforce_schema => 'lk_rs', materialized => true,
                                                   stages => '{Lead,Converted,Prospecting,Closed Won}')$$, 'Salesforce, materialized');
SELECT create_reports_salesforce('lk_rs_p', salesforce_schema => 'lk_rs', stages => '{Lead,Converted,Prospecting,Closed Won}') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rs_m', 'lk_rs_p', ''), '{}', 'Salesforce: the first fill equals the plain reports');
UPDATE lk_rs.opportunity SET is_won = true, is_closed = true, close_date = '2024-04-01', amount = 80, stage_name = 'Closed Won' WHERE id = 'o3';
INSERT INTO lk_rs.opportunity_history VALUES ('o3', 'Closed Won', '2024-04-01');
UPDATE lk_rs.lead SET converted_date = '2024-03-30', converted_opportunity_id = 'o2' WHERE id = 'L7';
SELECT is(pg_temp.reports_differ('lk_rs_m', 'lk_rs_p', '_live'), '{}', 'Salesforce: won opportunities, stage history and conversions are live');
UPDATE lk_rs.campaign SET actual_cost = 1400 WHERE id = 'c1';
UPDATE lk_rs.campaign SET name = 'Webinars' WHERE id = 'c2';
UPDATE lk_rs.campaign_member SET campaign_id = 'c1' WHERE lead_id = 'L6';
UPDATE lk_rs.lead SET is_deleted = true WHERE id = 'L8';
SELECT is(pg_temp.reports_differ('lk_rs_m', 'lk_rs_p', '_live'), '{}', 'Salesforce: campaign cost, names, memberships and deletions are live');
SELECT refresh_reports('lk_rs_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rs_m', 'lk_rs_p', ''), '{}', 'Salesforce: after the refresh the stored reports are right');

----------------------------------------------------------------------- HubSpot
CREATE SCHEMA lk_rh;
CREATE TABLE lk_rh.contact (id bigint PRIMARY KEY, property_createdate timestamp, property_hs_analytics_first_touch_converting_campaign varchar,
  property_hs_analytics_source varchar, property_hs_merged_object_ids varchar, _fivetran_deleted boolean DEFAULT false);
CREATE TABLE lk_rh.deal (deal_id bigint PRIMARY KEY, deal_pipeline_stage_id varchar, property_amount numeric, property_closedate timestamp);
CREATE TABLE lk_rh.deal_contact (deal_id bigint, contact_id bigint);
CREATE TABLE lk_rh.deal_pipeline_stage (stage_id varchar PRIMARY KEY, closed_won boolean);
CREATE TABLE lk_rh.contact_property_history (contact_id bigint, name varchar, value varchar, timestamp timestamp);
INSERT INTO lk_rh.contact (id, property_createdate, property_hs_analytics_first_touch_converting_campaign, property_hs_analytics_source)
SELECT i, timestamp '2024-05-01' + i * interval '11 hours', 'camp' || (i % 3), CASE WHEN i % 2 = 0 THEN 'ORGANIC' ELSE 'PAID' END
FROM generate_series(1, 15) AS i;
INSERT INTO lk_rh.deal_pipeline_stage VALUES ('won', true), ('open', false);
INSERT INTO lk_rh.deal VALUES (1, 'won', 300, '2024-05-20'), (2, 'open', 50, NULL), (3, 'won', 70, '2024-05-25');
INSERT INTO lk_rh.deal_contact VALUES (1, 2), (1, 3), (2, 4), (3, 5);
INSERT INTO lk_rh.contact_property_history
SELECT id, 'lifecyclestage', s, property_createdate + k * interval '2 days'
FROM lk_rh.contact, LATERAL (VALUES (0, 'lead'), (1, 'marketingqualifiedlead'), (2, 'customer')) AS v(k, s) WHERE id % (k + 1) = 0;

SELECT lives_ok($$SELECT create_reports_hubspot('lk_rh_m', hubspot_schema => 'lk_rh', stage_source => 'history', materialized => true)$$,
                'HubSpot, materialized');
SELECT create_reports_hubspot('lk_rh_p', hubspot_schema => 'lk_rh', stage_source => 'history') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rh_m', 'lk_rh_p', ''), '{}', 'HubSpot: the first fill equals the plain reports');
UPDATE lk_rh.deal SET deal_pipeline_stage_id = 'won', property_closedate = '2024-06-01' WHERE deal_id = 2;
UPDATE lk_rh.contact SET _fivetran_deleted = true WHERE id = 2;      -- deal 1 moves to contact 3
INSERT INTO lk_rh.contact_property_history VALUES (7, 'lifecyclestage', 'customer', '2024-06-02');
SELECT is(pg_temp.reports_differ('lk_rh_m', 'lk_rh_p', '_live'), '{}', 'HubSpot: won deals, a deleted contact and lifecycle stages are live');
UPDATE lk_rh.contact SET property_hs_merged_object_ids = '9;10' WHERE id = 11;   -- 9 and 10 merged into 11
UPDATE lk_rh.deal_pipeline_stage SET closed_won = false WHERE stage_id = 'won';
DELETE FROM lk_rh.deal_contact WHERE deal_id = 3;
SELECT is(pg_temp.reports_differ('lk_rh_m', 'lk_rh_p', '_live'), '{}', 'HubSpot: merges, pipeline stages and deal links are live');
SELECT refresh_reports('lk_rh_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rh_m', 'lk_rh_p', ''), '{}', 'HubSpot: after the refresh the stored reports are right');

SELECT * FROM finish();
ROLLBACK;
