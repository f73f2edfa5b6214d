-- Odoo preset: amounts in several currencies, and the Lead and Opportunity
-- steps of Odoo's Leads setting.  Tables with Odoo's own column names.
-- Amounts are converted as Odoo converts them (res.currency._get_rates):
-- amount * rate(target) / rate(source), each the latest res_currency_rate
-- on or before the day, the company's own rates before the shared ones,
-- the earliest rate before the first one, 1 without any.  The expected
-- amounts are worked out by hand below, and once more by a plain SQL
-- reading of the rate table.
BEGIN;
SELECT plan(13);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

CREATE SCHEMA oc;
CREATE TABLE oc.res_currency (id integer PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE oc.res_company (id integer PRIMARY KEY, name varchar, currency_id integer);
CREATE TABLE oc.res_currency_rate (id serial PRIMARY KEY, name date, rate numeric, currency_id integer, company_id integer);
CREATE TABLE oc.crm_stage (id integer PRIMARY KEY, name jsonb, sequence integer, is_won boolean);
CREATE TABLE oc.crm_lead (id integer PRIMARY KEY, type varchar, active boolean, probability double precision,
  create_date timestamp, date_conversion timestamp, date_closed timestamp, stage_id integer,
  expected_revenue numeric, company_id integer);
CREATE TABLE oc.sale_order (id serial PRIMARY KEY, opportunity_id integer, date_order timestamp, amount_untaxed numeric,
  state varchar, currency_id integer, company_id integer);
INSERT INTO oc.res_currency VALUES (1, 'EUR'), (2, 'USD'), (3, 'JPY');
INSERT INTO oc.res_company VALUES (1, 'EU GmbH', 1), (2, 'US Inc', 2);
-- shared rates (against EUR, the main company's currency): USD 1.10 from
-- January, 1.20 from March; JPY 160 from February.  Company 2 (USD) has its
-- own rates against USD: EUR 0.90, USD 1.
INSERT INTO oc.res_currency_rate (name, rate, currency_id, company_id) VALUES
  ('2024-01-01', 1.10, 2, NULL), ('2024-03-01', 1.20, 2, NULL), ('2024-02-01', 160, 3, NULL),
  ('2024-01-01', 0.90, 1, 2), ('2024-01-01', 1, 2, 2);
INSERT INTO oc.crm_stage VALUES (1, '{"en_US": "New"}', 1, false), (2, '{"en_US": "Won"}', 9, true);
-- 1: EU company, won, 1000 EUR.  2: US company, won, 500 USD.
-- 3: EU company, won, no company set (the main company), 300 EUR.
INSERT INTO oc.crm_lead VALUES
  (1, 'opportunity', true, 100, '2024-02-01 10:00', NULL, '2024-02-10 10:00', 2, 1000, 1),
  (2, 'opportunity', true, 100, '2024-03-01 10:00', NULL, '2024-03-15 10:00', 2, 500, 2),
  (3, 'opportunity', true, 100, '2024-03-02 10:00', NULL, '2024-03-20 10:00', 2, 300, NULL);

-- lead 2 is in USD: mixed currencies without currency => are refused
SELECT throws_ok($$SELECT create_reports_odoo('oc_r', odoo_schema => 'oc')$$, '22023',
                 'leadkpi: Odoo preset: the amounts are in several currencies (EUR, USD)',
                 'amounts in EUR and USD without currency => are refused (22023), never added up raw');
SELECT throws_ok($$SELECT create_reports_odoo('oc_r', odoo_schema => 'oc', currency => 'XXX')$$, '22023',
                 'leadkpi: Odoo preset: currency ''XXX'' is not in oc.res_currency', 'an unknown currency is 22023');

-- sale orders of lead 1 in other currencies and on days between rates:
-- USD on 2024-02-15 (rate 1.10), USD on 2024-03-05 (1.20, from March 1),
-- JPY on 2024-01-15 (before JPY's first rate: the earliest, 160), EUR,
-- and a USD order of the US company (its own rates)
INSERT INTO oc.sale_order (opportunity_id, date_order, amount_untaxed, state, currency_id, company_id) VALUES
  (1, '2024-02-15 09:00', 110, 'sale', 2, 1), (1, '2024-03-05 09:00', 120, 'sale', 2, 1),
  (1, '2024-01-15 09:00', 16000, 'done', 3, 1), (1, '2024-02-20 09:00', 50, 'sale', 1, 1),
  (2, '2024-03-16 09:00', 90, 'sale', 2, 2), (1, '2024-02-21 09:00', 999, 'cancel', 2, 1);
SELECT lives_ok($$SELECT create_reports_odoo('oc_r', odoo_schema => 'oc', currency => 'EUR')$$, 'currency => EUR');
-- by hand: 110 / 1.10 = 100; 120 / 1.20 = 100; 16000 / 160 = 100; 50;
-- the US company's 90 USD: 90 * 0.90 / 1 = 81
SELECT results_eq('SELECT lead_id, ordered_at, round(amount, 10) FROM oc_r.canonical_orders ORDER BY ordered_at', $$VALUES
    (1::bigint, timestamptz '2024-01-15 09:00+00', 100::numeric), (1, '2024-02-15 09:00+00', 100), (1, '2024-02-20 09:00+00', 50),
    (1, '2024-03-05 09:00+00', 100), (2, '2024-03-16 09:00+00', 81)$$,
    'orders in EUR: on the day''s rate, between rates the last one before, before the first the earliest, a company''s own rates first');
-- expected_revenue in each lead's company currency: lead 2's 500 USD at
-- its company's rates is 450 EUR; lead 3 (no company) is in the main
-- company's EUR
SELECT results_eq('SELECT lead_id, round(revenue, 10) FROM oc_r.canonical_leads ORDER BY lead_id',
                  $$VALUES (1::bigint, 1000::numeric), (2, 450), (3, 300)$$, 'expected_revenue in EUR, from each lead''s company currency');
SELECT results_eq('SELECT round(revenue, 2) FROM oc_r.kpi_overview', $$VALUES (431.00 + 300)$$,
                  'the overview''s revenue: the orders in EUR where there are orders (350 + 81), else expected_revenue (300)');

-- into USD, against a plain reading of the rate table: each amount with the
-- rate of the target and of its own currency on its day, for its company
CREATE TEMP VIEW oc_amounts AS
SELECT 'order' AS kind, o.id, o.amount_untaxed AS amount, o.currency_id AS cur, o.company_id AS company, o.date_order::date AS day
FROM oc.sale_order o WHERE o.state IN ('sale', 'done')
UNION ALL
SELECT 'lead', l.id, l.expected_revenue, c.currency_id, coalesce(l.company_id, 1), l.date_closed::date
FROM oc.crm_lead l JOIN oc.res_company c ON c.id = coalesce(l.company_id, 1);
CREATE FUNCTION pg_temp.rate_of(cur integer, company integer, day date) RETURNS numeric LANGUAGE sql AS $$
    SELECT coalesce(
        (SELECT rate FROM oc.res_currency_rate WHERE currency_id = cur AND name <= day AND company_id = company ORDER BY name DESC LIMIT 1),
        (SELECT rate FROM oc.res_currency_rate WHERE currency_id = cur AND name <= day AND company_id IS NULL ORDER BY name DESC LIMIT 1),
        (SELECT rate FROM oc.res_currency_rate WHERE currency_id = cur AND company_id = company ORDER BY name LIMIT 1),
        (SELECT rate FROM oc.res_currency_rate WHERE currency_id = cur AND company_id IS NULL ORDER BY name LIMIT 1),
        1) $$;
SELECT lives_ok($$SELECT create_reports_odoo('oc_usd', odoo_schema => 'oc', currency => 'USD')$$, 'currency => USD');
SELECT results_eq('SELECT round(amount, 10) FROM oc_usd.canonical_orders ORDER BY ordered_at',
    $$SELECT round(CASE WHEN cur = 2 THEN amount ELSE amount * pg_temp.rate_of(2, company, day) / pg_temp.rate_of(cur, company, day) END, 10)
      FROM oc_amounts WHERE kind = 'order' ORDER BY day$$, 'orders in USD: as the rate table reads');
SELECT results_eq('SELECT round(revenue, 10) FROM oc_usd.canonical_leads ORDER BY lead_id',
    $$SELECT round(CASE WHEN cur = 2 THEN amount ELSE amount * pg_temp.rate_of(2, company, day) / pg_temp.rate_of(cur, company, day) END, 10)
      FROM oc_amounts WHERE kind = 'lead' ORDER BY id$$, 'expected_revenue in USD: as the rate table reads');

-- Odoo's Leads setting: records start as type 'lead' and may become
-- opportunities (date_conversion).  The funnel starts with Lead and
-- Opportunity; only opportunities enter the pipeline stages, the first at
-- the time they became one.
CREATE TABLE oc.ir_model_fields (id integer PRIMARY KEY, model varchar, name varchar);
CREATE TABLE oc.mail_message (id integer PRIMARY KEY, model varchar, res_id integer, date timestamp);
CREATE TABLE oc.mail_tracking_value (id serial PRIMARY KEY, field_id integer, mail_message_id integer, old_value_integer integer, new_value_integer integer);
INSERT INTO oc.ir_model_fields VALUES (7, 'crm.lead', 'stage_id');
-- 4: a lead never converted.  5: a lead converted on 03-10, won on 03-20.
-- (1..3 were created as opportunities.)
INSERT INTO oc.crm_lead VALUES
  (4, 'lead', true, 10, '2024-03-01 08:00', NULL, NULL, 1, NULL, 1),
  (5, 'opportunity', true, 100, '2024-03-05 08:00', '2024-03-10 08:00', '2024-03-20 08:00', 2, 70, 1);
INSERT INTO oc.mail_message VALUES (1, 'crm.lead', 5, '2024-03-20 08:00'), (2, 'crm.lead', 1, '2024-02-10 10:00');
INSERT INTO oc.mail_tracking_value (field_id, mail_message_id, old_value_integer, new_value_integer) VALUES (7, 1, 1, 2), (7, 2, 1, 2);
SELECT lives_ok($$SELECT create_reports_odoo('oc_r', odoo_schema => 'oc', currency => 'EUR')$$, 'with leads and opportunities');
SELECT results_eq('SELECT step, stage FROM oc_r.funnel_report ORDER BY step',
                  $$VALUES (1, 'Lead'), (2, 'Opportunity'), (3, 'New'), (4, 'Won')$$, 'the steps Lead and Opportunity, then crm_stage by sequence');
SELECT results_eq('SELECT lead_id, stage, occurred_at FROM oc_r.canonical_stage_events WHERE lead_id IN (1, 4, 5) ORDER BY lead_id, occurred_at, stage', $$VALUES
    (1::bigint, 'Lead', timestamptz '2024-02-01 10:00+00'), (1, 'New', '2024-02-01 10:00+00'), (1, 'Opportunity', '2024-02-01 10:00+00'),
    (1, 'Won', '2024-02-10 10:00+00'),
    (4, 'Lead', '2024-03-01 08:00+00'),
    (5, 'Lead', '2024-03-05 08:00+00'), (5, 'New', '2024-03-10 08:00+00'), (5, 'Opportunity', '2024-03-10 08:00+00'),
    (5, 'Won', '2024-03-20 08:00+00')$$,
    'a lead: Lead only; converted: Opportunity and its first stage at date_conversion; created as an opportunity: all at creation');
-- Lead 5 at every step; lead 4 Lead only; 2 and 3 have no tracked change
-- (their current stage, Won, from creation)
SELECT results_eq('SELECT stage, reached FROM oc_r.funnel_report ORDER BY step',
                  $$VALUES ('Lead', 5::bigint), ('Opportunity', 4), ('New', 4), ('Won', 4)$$, 'reached: every record is a Lead, 4 became opportunities');

SELECT * FROM finish();
ROLLBACK;
