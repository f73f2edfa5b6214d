-- Mapping errors are caught before anything is created, with the SQLSTATE
-- and a message naming the input and the column; a failed run leaves the
-- previous reports as they were.
BEGIN;
SELECT plan(23);

CREATE SCHEMA lk_val;
CREATE TABLE lk_val.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_val.leads VALUES (1, '2024-01-01', 'a', 'web', NULL), (2, '2024-01-02', 'a', 'web', '2024-01-05');
CREATE TABLE lk_val.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO lk_val.events VALUES (1, 'lead', '2024-01-01'), (2, 'lead', '2024-01-02'), (2, 'won', '2024-01-05');
CREATE TABLE lk_val.no_campaign (lead_id bigint, first_contact_at timestamptz, channel text, converted_at timestamptz);
CREATE TABLE lk_val.text_dates (lead_id bigint, first_contact_at text, campaign text, channel text, converted_at timestamptz);
CREATE TABLE lk_val.uuid_events (lead_id uuid, stage text, occurred_at timestamptz);
CREATE TABLE lk_val.spend_bad (campaign text, day date, amount text);
CREATE TABLE lk_val.orders_no_amount (lead_id bigint, ordered_at timestamptz);
CREATE DOMAIN lk_val.money_d AS numeric(12, 2);
CREATE TABLE lk_val.spend_domain (campaign varchar(40), day timestamp, amount lk_val.money_d);
INSERT INTO lk_val.spend_domain VALUES ('a', '2024-01-01 10:00', 12.50);

SELECT throws_like($$SELECT create_reports('lk_v1', 'lk_val.no_campaign')$$,
                   '%input "leads" (lk_val.no_campaign) has no column "campaign"%', 'missing column: message names input and column');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.no_campaign')$$, '42703', NULL, 'missing column: 42703');
SELECT throws_like($$SELECT create_reports('lk_v1', 'lk_val.text_dates')$$,
                   '%input "leads" (lk_val.text_dates) column "first_contact_at" has type text%', 'wrong type: message');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.text_dates')$$, '42804', NULL, 'wrong type: 42804');
SELECT throws_like($$SELECT create_reports('lk_v1', 'lk_val.leads', spend => 'lk_val.spend_bad')$$,
                   '%input "spend" (lk_val.spend_bad) column "amount" has type text%', 'wrong type in spend');
SELECT throws_like($$SELECT create_reports('lk_v1', 'lk_val.leads', orders => 'lk_val.orders_no_amount')$$,
                   '%input "orders" (lk_val.orders_no_amount) has no column "amount"%', 'missing column in orders');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.uuid_events', stages => '{lead}')$$,
                 '42804', NULL, 'lead_id of another kind in stage_events: 42804');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events')$$,
                 '22023', NULL, 'stage_events without stages: 22023');
SELECT throws_like($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead,mql}')$$,
                   '%input "stage_events" (lk_val.events) column "stage" has the unknown stage ''won''%', 'unknown stage: message names it');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead,mql}')$$,
                 '22023', NULL, 'unknown stage: 22023');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead,won,lead}')$$,
                 '22023', NULL, 'duplicate stages: 22023');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead,won}', conversion_window => '-1 day')$$,
                 '22023', NULL, 'negative window: 22023');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead,won}', funnel_modes => 'sideways')$$,
                 '22023', NULL, 'unknown funnel mode: 22023, before anything is created');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.leads', stages => '{lead}')$$, '22023', NULL, 'stages without stage_events: 22023');
SELECT throws_ok($$SELECT create_reports('lk_v1', NULL)$$, '22023', NULL, 'leads is required');
SELECT throws_ok($$SELECT create_reports('lk_v1', 'lk_val.nope')$$, '42P01', NULL, 'an unknown relation: 42P01');
SELECT ok(to_regnamespace('lk_v1') IS NULL, 'failed runs created nothing, not even the schema');

-- the hint says how to fix it
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN EXECUTE q; RETURN NULL;
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RETURN h;
END $$;
SELECT matches(pg_temp.hint_of($$SELECT create_reports('lk_v1', 'lk_val.text_dates')$$), 'first_contact_at::timestamptz',
               'the wrong-type hint shows the cast');

-- domains and varchar/timestamp are read through their base types
SELECT lives_ok($$SELECT create_reports('lk_v2', 'lk_val.leads', spend => 'lk_val.spend_domain')$$, 'domain, varchar and timestamp columns are accepted');
SELECT is((SELECT cost FROM lk_v2.kpi_overview), 12.50, 'and read as numeric');

-- an input that is one of the views being replaced
SELECT throws_ok($$SELECT create_reports('lk_v2', 'lk_v2.report_leads')$$, '22023', NULL, 'an input cannot be a report view of the target');

-- a failing re-run leaves the previous reports untouched
SELECT throws_ok($$SELECT create_reports('lk_v2', 'lk_val.leads', stage_events => 'lk_val.events', stages => '{lead}')$$, '22023');
SELECT is((SELECT cost FROM lk_v2.kpi_overview), 12.50, 'the previous reports are still there after a failed re-run');

SELECT * FROM finish();
ROLLBACK;
