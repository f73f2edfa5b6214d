-- Odoo preset on hand-made tables with Odoo's own column names and types:
-- Odoo 17 (jsonb names, mail_tracking_value.field_id) and Odoo 15 (varchar
-- names, mail_tracking_value.field).  Odoo stores UTC in timestamp columns.
BEGIN;
SELECT plan(23);
SET LOCAL TimeZone = 'UTC';


CREATE SCHEMA odoo17;
CREATE TABLE odoo17.crm_stage (id serial PRIMARY KEY, name jsonb NOT NULL, sequence integer, is_won boolean, fold boolean, team_id integer);
CREATE TABLE odoo17.utm_campaign (id serial PRIMARY KEY, name varchar NOT NULL, title jsonb NOT NULL);
CREATE TABLE odoo17.utm_medium (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE odoo17.utm_source (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE odoo17.crm_lead (id serial PRIMARY KEY, name varchar, type varchar, active boolean, probability double precision,
  create_date timestamp without time zone, date_conversion timestamp without time zone, date_closed timestamp without time zone,
  date_last_stage_update timestamp without time zone, stage_id integer, campaign_id integer, source_id integer, medium_id integer,
  expected_revenue numeric, lost_reason_id integer);
CREATE TABLE odoo17.ir_model_fields (id serial PRIMARY KEY, model varchar, name varchar);
CREATE TABLE odoo17.mail_message (id serial PRIMARY KEY, model varchar, res_id integer, date timestamp without time zone);
CREATE TABLE odoo17.mail_tracking_value (id serial PRIMARY KEY, field_id integer, mail_message_id integer,
  old_value_integer integer, new_value_integer integer, old_value_char varchar, new_value_char varchar);
CREATE TABLE odoo17.sale_order (id serial PRIMARY KEY, opportunity_id integer, date_order timestamp without time zone,
  amount_untaxed numeric, amount_total numeric, state varchar);
INSERT INTO odoo17.crm_stage (id, name, sequence, is_won) VALUES
  (1, '{"en_US": "New", "fr_FR": "Nouveau"}', 1, false), (2, '{"en_US": "Qualified"}', 2, false),
  (3, '{"en_US": "Proposition"}', 3, false), (4, '{"en_US": "Won", "fr_FR": "Gagné"}', 70, true);
INSERT INTO odoo17.utm_campaign VALUES (1, 'spring_sale', '{"en_US": "Spring Sale"}'), (2, 'webinar', '{"en_US": "Webinar"}');
INSERT INTO odoo17.utm_medium VALUES (1, 'Email'), (2, 'Website');
INSERT INTO odoo17.utm_source VALUES (1, 'Newsletter');
INSERT INTO odoo17.ir_model_fields VALUES (1, 'crm.lead', 'name'), (2, 'crm.lead', 'stage_id'), (3, 'sale.order', 'stage_id');
-- lead 1: won via New -> Qualified -> Won; lead 2: lost in Qualified; lead 3: open in New; lead 4: won, no campaign
INSERT INTO odoo17.crm_lead (id, active, probability, create_date, date_closed, stage_id, campaign_id, medium_id, source_id, expected_revenue) VALUES
  (1, true, 100, '2024-03-01 09:00', '2024-03-11 09:00', 4, 1, 1, 1, 1000),
  (2, false, 0, '2024-03-02 10:00', '2024-03-05 10:00', 2, 1, 2, NULL, 500),
  (3, true, 10, '2024-04-01 08:00', NULL, 1, 2, NULL, 1, 300),
  (4, true, 100, '2024-04-02 12:00', '2024-04-04 12:00', 4, NULL, NULL, NULL, 200);
INSERT INTO odoo17.mail_message VALUES
  (1, 'crm.lead', 1, '2024-03-03 09:00'), (2, 'crm.lead', 1, '2024-03-11 09:00'), (3, 'crm.lead', 2, '2024-03-04 10:00'),
  (4, 'crm.lead', 4, '2024-04-04 12:00'), (5, 'sale.order', 1, '2024-03-12 00:00');
INSERT INTO odoo17.mail_tracking_value (field_id, mail_message_id, old_value_integer, new_value_integer) VALUES
  (2, 1, 1, 2), (2, 2, 2, 4), (2, 3, 1, 2), (1, 3, NULL, NULL), (2, 4, 3, 4), (3, 5, 1, 4);
INSERT INTO odoo17.sale_order (opportunity_id, date_order, amount_untaxed, amount_total, state) VALUES
  (1, '2024-03-12 10:00', 800, 960, 'sale'), (1, '2024-03-20 10:00', 150, 180, 'sale'), (1, '2024-03-21 10:00', 99, 99, 'cancel'),
  (NULL, '2024-03-22 10:00', 50, 50, 'sale');

-- Odoo 15: the same data, names as varchar, tracking field column "field"
CREATE SCHEMA odoo15;
CREATE TABLE odoo15.crm_stage (id serial PRIMARY KEY, name varchar NOT NULL, sequence integer, is_won boolean, fold boolean, team_id integer);
CREATE TABLE odoo15.utm_campaign (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE odoo15.utm_medium (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE odoo15.utm_source (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE odoo15.crm_lead (LIKE odoo17.crm_lead);
CREATE TABLE odoo15.ir_model_fields (LIKE odoo17.ir_model_fields);
CREATE TABLE odoo15.mail_message (LIKE odoo17.mail_message);
CREATE TABLE odoo15.mail_tracking_value (id integer, field integer, mail_message_id integer, old_value_integer integer, new_value_integer integer,
  old_value_char varchar, new_value_char varchar);
CREATE TABLE odoo15.sale_order (LIKE odoo17.sale_order);
INSERT INTO odoo15.crm_stage SELECT id, name ->> 'en_US', sequence, is_won, fold, team_id FROM odoo17.crm_stage;
INSERT INTO odoo15.utm_campaign SELECT id, title ->> 'en_US' FROM odoo17.utm_campaign;
INSERT INTO odoo15.utm_medium SELECT * FROM odoo17.utm_medium;
INSERT INTO odoo15.utm_source SELECT * FROM odoo17.utm_source;
INSERT INTO odoo15.crm_lead SELECT * FROM odoo17.crm_lead;
INSERT INTO odoo15.ir_model_fields SELECT * FROM odoo17.ir_model_fields;
INSERT INTO odoo15.mail_message SELECT * FROM odoo17.mail_message;
INSERT INTO odoo15.mail_tracking_value SELECT id, field_id, mail_message_id, old_value_integer, new_value_integer, old_value_char, new_value_char FROM odoo17.mail_tracking_value;
INSERT INTO odoo15.sale_order SELECT * FROM odoo17.sale_order;

SELECT is((SELECT array_agg(r::text ORDER BY r::text) FROM create_reports_odoo('lk_odoo', odoo_schema => 'odoo17') AS r),
          ARRAY['lk_odoo.canonical_leads', 'lk_odoo.canonical_orders', 'lk_odoo.canonical_stage_events',
                'lk_odoo.forecast_by_campaign', 'lk_odoo.forecast_by_month', 'lk_odoo.forecast_by_week', 'lk_odoo.funnel_by_campaign',
                'lk_odoo.funnel_report', 'lk_odoo.kpi_by_campaign', 'lk_odoo.kpi_by_channel', 'lk_odoo.kpi_by_month',
                'lk_odoo.kpi_by_owner', 'lk_odoo.kpi_by_team', 'lk_odoo.kpi_overview', 'lk_odoo.report_campaigns',
                'lk_odoo.report_leads', 'lk_odoo.report_spend', 'lk_odoo.report_stage_events'],
          'Odoo 17: canonical views and reports');

-- lead 1 won (date_closed), lead 2 lost (inactive, probability 0), lead 3
-- open, lead 4 won without campaign; campaign from the jsonb title, channel
-- from the medium, else the source
SELECT results_eq('SELECT * FROM lk_odoo.canonical_leads ORDER BY lead_id', $$VALUES
    (1::bigint, timestamptz '2024-03-01 09:00+00', 'Spring Sale', 'Email', timestamptz '2024-03-11 09:00+00', NULL::timestamptz, 1000::numeric, 1000::numeric),
    (2, '2024-03-02 10:00+00', 'Spring Sale', 'Website', NULL, '2024-03-05 10:00+00', NULL, 500),
    (3, '2024-04-01 08:00+00', 'Webinar', 'Newsletter', NULL, NULL, NULL, 300),
    (4, '2024-04-02 12:00+00', NULL, NULL, '2024-04-04 12:00+00', NULL, 200, 200)$$, 'Odoo 17: canonical_leads, expected_revenue the deal amount');
-- the open deal's amount reaches report_leads, where the forecast reads it
SELECT results_eq('SELECT lead_id, expected_revenue FROM lk_odoo.report_leads WHERE converted_at IS NULL AND lost_at IS NULL ORDER BY lead_id',
                  $$SELECT id::bigint, expected_revenue::numeric FROM odoo17.crm_lead WHERE active AND probability < 100 ORDER BY id$$,
                  'Odoo 17: report_leads.expected_revenue of the open leads is crm_lead.expected_revenue');
-- the entry into the first stage at create_date (the old value of the first
-- change, else the current stage), then each stage_id change at the
-- message date; other fields and other models are ignored
SELECT results_eq('SELECT * FROM lk_odoo.canonical_stage_events ORDER BY lead_id, occurred_at', $$VALUES
    (1::bigint, 'New', timestamptz '2024-03-01 09:00+00'), (1, 'Qualified', '2024-03-03 09:00+00'), (1, 'Won', '2024-03-11 09:00+00'),
    (2, 'New', '2024-03-02 10:00+00'), (2, 'Qualified', '2024-03-04 10:00+00'),
    (3, 'New', '2024-04-01 08:00+00'),
    (4, 'Proposition', '2024-04-02 12:00+00'), (4, 'Won', '2024-04-04 12:00+00')$$, 'Odoo 17: canonical_stage_events');
SELECT results_eq('SELECT * FROM lk_odoo.canonical_orders ORDER BY ordered_at', $$VALUES
    (1::bigint, timestamptz '2024-03-12 10:00+00', 800::numeric), (1, '2024-03-20 10:00+00', 150)$$,
    'Odoo 17: confirmed sale orders of opportunities only');
-- orders replace expected_revenue: lead 1 brings 800 + 150
SELECT results_eq('SELECT campaign, leads, conversions, sales_cycle_avg, revenue FROM lk_odoo.kpi_by_campaign ORDER BY campaign NULLS LAST', $$VALUES
    ('Spring Sale', 2::bigint, 1::bigint, interval '10 days', 950::numeric), ('Webinar', 1, 0, NULL, NULL), (NULL, 1, 1, '2 days', 200)$$,
    'Odoo 17: KPIs per campaign');
SELECT results_eq('SELECT step, stage FROM lk_odoo.funnel_report ORDER BY step',
                  $$VALUES (1, 'New'), (2, 'Qualified'), (3, 'Proposition'), (4, 'Won')$$, 'Odoo 17: funnel stages by crm_stage.sequence');
-- crm_backfill: a lead that skips a stage (New -> Won, created in
-- Proposition) counts as having passed the stages before it
SELECT results_eq('SELECT reached FROM lk_odoo.funnel_report ORDER BY step', $$VALUES (4::bigint), (3), (2), (2)$$,
                  'Odoo 17: reached per stage, skipped stages backfilled');

-- Odoo 15 gives the same canonical rows
SELECT lives_ok($$SELECT create_reports_odoo('lk_odoo15', odoo_schema => 'odoo15')$$, 'Odoo 15 (varchar names, field column)');
SELECT set_eq('SELECT * FROM lk_odoo15.canonical_leads', 'SELECT * FROM lk_odoo.canonical_leads', 'Odoo 15: same canonical_leads');
SELECT set_eq('SELECT * FROM lk_odoo15.canonical_stage_events', 'SELECT * FROM lk_odoo.canonical_stage_events', 'Odoo 15: same stage events');
SELECT set_eq('SELECT * FROM lk_odoo15.kpi_by_campaign', 'SELECT * FROM lk_odoo.kpi_by_campaign', 'Odoo 15: same KPIs');

-- translations: another language, with en_US as the fallback
SELECT lives_ok($$SELECT create_reports_odoo('lk_odoo', odoo_schema => 'odoo17', lang => 'fr_FR')$$, 're-run in French');
SELECT results_eq('SELECT stage FROM lk_odoo.funnel_report ORDER BY step', $$VALUES ('Nouveau'), ('Qualified'), ('Proposition'), ('Gagné')$$,
                  'fr_FR stage names, en_US where untranslated');

-- a chosen subset of stages; events of other stages are left out
SELECT lives_ok($$SELECT create_reports_odoo('lk_odoo', odoo_schema => 'odoo17', stages => '{New,Won}')$$, 'stages subset');
SELECT is((SELECT count(*) FROM lk_odoo.canonical_stage_events WHERE stage NOT IN ('New', 'Won')), 0::bigint, 'only the chosen stages');

-- the sales team (crm_team.name, jsonb from Odoo 16 on) and the
-- salesperson (res_users -> res_partner.name): lead 4 has neither
CREATE TABLE odoo17.crm_team (id serial PRIMARY KEY, name jsonb NOT NULL);
CREATE TABLE odoo17.res_partner (id serial PRIMARY KEY, name varchar);
CREATE TABLE odoo17.res_users (id serial PRIMARY KEY, partner_id integer, login varchar);
ALTER TABLE odoo17.crm_lead ADD COLUMN team_id integer, ADD COLUMN user_id integer;
INSERT INTO odoo17.crm_team VALUES (1, '{"en_US": "Europe"}'), (2, '{"en_US": "America", "fr_FR": "Amérique"}');
INSERT INTO odoo17.res_partner VALUES (10, 'Ann Admin'), (11, 'Bob Seller');
INSERT INTO odoo17.res_users VALUES (1, 10, 'ann'), (2, 11, 'bob');
UPDATE odoo17.crm_lead SET team_id = CASE WHEN id <= 2 THEN 1 WHEN id = 3 THEN 2 END, user_id = CASE WHEN id IN (1, 3) THEN 1 WHEN id = 2 THEN 2 END;
SELECT create_reports_odoo('lk_odoo_t', odoo_schema => 'odoo17') \g /dev/null
SELECT create_reports_odoo('lk_odoo_tm', odoo_schema => 'odoo17', materialized => true) \g /dev/null
-- leads and conversions (won: active, probability 100, stage is_won) per team and salesperson, in plain SQL
CREATE TEMP VIEW exp_odoo_team AS
SELECT 'team' AS k, t.name ->> 'en_US' AS key, count(*) AS leads, count(*) FILTER (WHERE l.active AND l.probability = 100 AND st.is_won) AS conversions
  FROM odoo17.crm_lead l JOIN odoo17.crm_stage st ON st.id = l.stage_id LEFT JOIN odoo17.crm_team t ON t.id = l.team_id GROUP BY 2
UNION ALL
SELECT 'owner', p.name, count(*), count(*) FILTER (WHERE l.active AND l.probability = 100 AND st.is_won)
  FROM odoo17.crm_lead l JOIN odoo17.crm_stage st ON st.id = l.stage_id LEFT JOIN odoo17.res_users u ON u.id = l.user_id
  LEFT JOIN odoo17.res_partner p ON p.id = u.partner_id GROUP BY 2;
SELECT set_eq($$SELECT 'team', team, leads, conversions FROM lk_odoo_t.kpi_by_team UNION ALL SELECT 'owner', owner, leads, conversions FROM lk_odoo_t.kpi_by_owner$$,
              'SELECT * FROM exp_odoo_team', 'Odoo: kpi_by_team and kpi_by_owner from crm_team and res_users -> res_partner, as plain SQL');
SELECT results_eq('SELECT team, revenue, cost FROM lk_odoo_t.kpi_by_team ORDER BY team NULLS LAST',
                  $$VALUES ('America', NULL::numeric, NULL::numeric), ('Europe', 950, NULL), (NULL, 200, NULL)$$,
                  'Odoo: revenue per team (orders replacing expected_revenue), no cost');
-- a renamed salesperson and a lead moved to another team reach the live views
\ir include/reports_differ.sql
UPDATE odoo17.res_partner SET name = 'Robert Seller' WHERE id = 11;
UPDATE odoo17.crm_lead SET team_id = 1 WHERE id = 3;
SELECT is(pg_temp.reports_differ('lk_odoo_tm', 'lk_odoo_t', '_live'), '{}', 'Odoo materialized: the live views follow team and salesperson changes');
SELECT isnt(pg_temp.reports_differ('lk_odoo_tm', 'lk_odoo_t', ''), '{}', 'the stored views lag behind until a refresh');
SELECT refresh_reports('lk_odoo_tm') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_odoo_tm', 'lk_odoo_t', ''), '{}', 'and so do the stored ones after a refresh');

-- errors name the table and column
SELECT drop_reports('lk_odoo15');
ALTER TABLE odoo15.crm_lead DROP COLUMN date_closed;
SELECT throws_like($$SELECT create_reports_odoo('lk_odoo15', odoo_schema => 'odoo15')$$,
                   '%Odoo preset: table odoo15.crm_lead has no column "date_closed"%', 'missing column');
SELECT throws_ok($$SELECT create_reports_odoo('lk_odoo_x', odoo_schema => 'no_such_schema')$$, '42P01', NULL, 'missing crm_lead: 42P01');

SELECT * FROM finish();
ROLLBACK;
