-- Salesforce preset on hand-made tables shaped like Fivetran's Salesforce
-- replication (snake_case columns, text ids, timestamp = UTC, date fields).
BEGIN;
SELECT plan(29);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA salesforce;
CREATE TABLE salesforce.lead (id text PRIMARY KEY, is_deleted boolean, created_date timestamp, status text, lead_source text, owner_id text,
  is_converted boolean, converted_date date, converted_opportunity_id text, converted_account_id text, converted_contact_id text, _fivetran_synced timestamp);
CREATE TABLE salesforce.opportunity (id text PRIMARY KEY, is_deleted boolean, created_date timestamp, close_date date, is_won boolean, is_closed boolean,
  amount double precision, campaign_id text, stage_name text, lead_source text, probability double precision, _fivetran_synced timestamp);
CREATE TABLE salesforce.opportunity_history (id text PRIMARY KEY, opportunity_id text, stage_name text, created_date timestamp, amount double precision,
  close_date date, probability double precision, is_deleted boolean, _fivetran_synced timestamp);
CREATE TABLE salesforce.campaign (id text PRIMARY KEY, name text, is_deleted boolean, created_date timestamp, start_date date, end_date date,
  actual_cost double precision, budgeted_cost double precision, status text, type text);
CREATE TABLE salesforce.opportunity_stage (id text PRIMARY KEY, master_label text, api_name text, sort_order integer, is_active boolean, is_closed boolean, is_won boolean);
INSERT INTO salesforce.opportunity_stage VALUES ('s1','Prospecting','Prospecting',1,true,false,false),('s2','Negotiation','Negotiation',2,true,false,false),
  ('s3','Closed Won','Closed Won',3,true,true,true),('s4','Closed Lost','Closed Lost',4,true,true,false);
INSERT INTO salesforce.campaign VALUES ('701A','Launch',false,'2024-01-01','2024-01-01','2024-01-03',100.00,150,'Completed','Webinar'),
  ('701B','Fair',false,'2024-02-10 15:00',NULL,NULL,10.01,NULL,'Planned','Event');
INSERT INTO salesforce.opportunity VALUES
  ('006A',false,'2024-01-05 10:00','2024-01-20',true,true,5000,'701A','Closed Won','Web',100,now()),
  ('006B',false,'2024-01-06 10:00','2024-01-25',false,true,700,'701A','Closed Lost','Web',0,now()),
  ('006C',false,'2024-02-12 10:00','2024-02-12',true,true,300,'701B','Closed Won','Event',100,now());
INSERT INTO salesforce.lead VALUES
  ('00QA',false,'2024-01-02 09:00','Converted','Web','u',true,'2024-01-05','006A',NULL,NULL,now()),
  ('00QB',false,'2024-01-03 09:00','Converted','Web','u',true,'2024-01-06','006B',NULL,NULL,now()),
  ('00QC',false,'2024-01-04 09:00','Open','Phone','u',false,NULL,NULL,NULL,NULL,now()),
  ('00QD',true,'2024-01-04 09:00','Open','Phone','u',false,NULL,NULL,NULL,NULL,now()),
  ('00QE',false,'2024-02-12 09:00','Converted','Event','u',true,'2024-02-12','006C',NULL,NULL,now());
INSERT INTO salesforce.opportunity_history VALUES
  ('h1','006A','Prospecting','2024-01-05 10:00',5000,'2024-01-20',10,false,now()),
  ('h2','006A','Negotiation','2024-01-10 10:00',5000,'2024-01-20',50,false,now()),
  ('h3','006A','Negotiation','2024-01-12 10:00',5000,'2024-01-20',60,false,now()),
  ('h4','006A','Closed Won','2024-01-20 10:00',5000,'2024-01-20',100,false,now()),
  ('h5','006B','Prospecting','2024-01-06 10:00',700,'2024-01-25',10,false,now()),
  ('h6','006B','Closed Lost','2024-01-25 10:00',700,'2024-01-25',0,false,now()),
  ('h7','006C','Closed Won','2024-02-12 11:00',300,'2024-02-12',100,false,now());
INSERT INTO salesforce.campaign VALUES ('701C', 'Odd', false, '2024-03-01', '2024-03-01', '2024-03-07', 1000.00, NULL, 'Done', 'Ads'),
                                       ('701D', 'Backwards', false, '2024-03-01', '2024-03-05', '2024-03-01', 7.5, NULL, 'Done', 'Ads');

SELECT is((SELECT array_agg(r::text ORDER BY r::text) FROM create_reports_salesforce('lk_sf') AS r),
          ARRAY['lk_sf.canonical_campaigns', 'lk_sf.canonical_leads', 'lk_sf.canonical_spend', 'lk_sf.canonical_stage_events', 'lk_sf.forecast_by_campaign',
                'lk_sf.forecast_by_month', 'lk_sf.forecast_by_week', 'lk_sf.funnel_by_campaign', 'lk_sf.funnel_report', 'lk_sf.kpi_by_campaign',
                'lk_sf.kpi_by_channel', 'lk_sf.kpi_by_month', 'lk_sf.kpi_by_owner', 'lk_sf.kpi_by_team', 'lk_sf.kpi_overview',
                'lk_sf.report_campaigns', 'lk_sf.report_leads', 'lk_sf.report_spend', 'lk_sf.report_stage_events'],
          'canonical views and reports');
-- converted = the converted opportunity is won, at its close_date (midnight
-- UTC, never before the lead's creation); deleted leads are left out
SELECT results_eq('SELECT * FROM lk_sf.canonical_leads ORDER BY lead_id', $$VALUES
    ('00QA', timestamptz '2024-01-02 09:00+00', 'Launch', 'Web', timestamptz '2024-01-20 00:00+00', NULL::timestamptz, 5000::numeric, 5000::numeric),
    ('00QB', '2024-01-03 09:00+00', 'Launch', 'Web', NULL, '2024-01-25 00:00+00', NULL, 700),
    ('00QC', '2024-01-04 09:00+00', NULL, 'Phone', NULL, NULL, NULL, NULL),
    ('00QE', '2024-02-12 09:00+00', 'Fair', 'Event', '2024-02-12 09:00+00', NULL, 300, 300)$$, 'canonical_leads, expected_revenue the opportunity''s amount');
-- the expected amount: Opportunity.Amount of the converted opportunity, in
-- report_leads where the forecast reads it (an open one added here)
INSERT INTO salesforce.opportunity VALUES ('006F',false,'2024-03-02 10:00','2024-04-30',false,false,1250.5,'701B','Negotiation','Event',50,now());
UPDATE salesforce.lead SET status = 'Converted', is_converted = true, converted_date = '2024-03-02', converted_opportunity_id = '006F' WHERE id = '00QC';
SELECT results_eq('SELECT lead_id, expected_revenue FROM lk_sf.report_leads ORDER BY lead_id',
                  $$SELECT l.id::text, o.amount::numeric FROM salesforce.lead AS l LEFT JOIN salesforce.opportunity AS o ON o.id = l.converted_opportunity_id
                     WHERE NOT l.is_deleted ORDER BY l.id$$,
                  'report_leads.expected_revenue is the converted opportunity''s amount, open ones included');
UPDATE salesforce.lead SET status = 'Open', is_converted = false, converted_date = NULL, converted_opportunity_id = NULL WHERE id = '00QC';
DELETE FROM salesforce.opportunity WHERE id = '006F';
-- stages: Lead, Converted, then opportunity_stage by sort_order without
-- the lost stage; the first entry per stage
SELECT results_eq('SELECT step, stage FROM lk_sf.funnel_report ORDER BY step',
                  $$VALUES (1, 'Lead'), (2, 'Converted'), (3, 'Prospecting'), (4, 'Negotiation'), (5, 'Closed Won')$$, 'funnel stages');
SELECT results_eq($$SELECT stage, occurred_at FROM lk_sf.canonical_stage_events WHERE lead_id = '00QA' ORDER BY occurred_at$$, $$VALUES
    ('Lead', timestamptz '2024-01-02 09:00+00'), ('Converted', '2024-01-05 00:00+00'), ('Prospecting', '2024-01-05 10:00+00'),
    ('Negotiation', '2024-01-10 10:00+00'), ('Closed Won', '2024-01-20 10:00+00')$$, 'stage events of a won lead');
SELECT is((SELECT count(*) FROM lk_sf.canonical_stage_events WHERE stage = 'Closed Lost' OR lead_id = '00QD'), 0::bigint,
          'no lost stage, no deleted lead');

-- campaign cost spread over its days, summing back exactly
SELECT results_eq($$SELECT day, amount FROM lk_sf.canonical_spend WHERE campaign = 'Launch' ORDER BY day$$,
                  $$VALUES (date '2024-01-01', 33.33::numeric), ('2024-01-02', 33.33), ('2024-01-03', 33.34)$$, '100.00 over 3 days');
SELECT results_eq($$SELECT campaign, count(*), sum(amount), min(day), max(day) FROM lk_sf.canonical_spend GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('Backwards', 1::bigint, 7.5::numeric, date '2024-03-05', date '2024-03-05'),
                           ('Fair', 1, 10.01, '2024-02-10', '2024-02-10'),
                           ('Launch', 3, 100.00, '2024-01-01', '2024-01-03'),
                           ('Odd', 7, 1000.00, '2024-03-01', '2024-03-07')$$,
                  'each campaign sums back to actual_cost exactly; no start date: created_date; end before start: one day');
SELECT results_eq($$SELECT amount FROM lk_sf.canonical_spend WHERE campaign = 'Odd' ORDER BY day$$,
                  $$VALUES (142.85::numeric), (142.85), (142.85), (142.85), (142.85), (142.85), (142.90)$$, 'the remainder goes to the last day');
SELECT results_eq('SELECT campaign, leads, conversions, cost, revenue FROM lk_sf.kpi_by_campaign ORDER BY campaign NULLS LAST', $$VALUES
    ('Backwards', 0::bigint, 0::bigint, 7.5::numeric, NULL::numeric), ('Fair', 1, 1, 10.01, 300), ('Launch', 2, 1, 100.00, 5000),
    ('Odd', 0, 0, 1000.00, NULL), (NULL, 1, 0, NULL, NULL)$$, 'KPIs per campaign, cost from the spread');
SELECT is((SELECT cost FROM lk_sf.kpi_overview), 1117.51, 'total cost is the sum of actual_cost');
-- the campaigns input: campaign.type is the channel of a campaign's cost
SELECT set_eq('SELECT campaign, channel FROM lk_sf.report_campaigns',
              'SELECT name, type FROM salesforce.campaign WHERE NOT coalesce(is_deleted, false)', 'campaigns: campaign.type as the channel');
SELECT set_eq('SELECT channel, cost, cost_channel_rule FROM lk_sf.kpi_by_channel WHERE cost IS NOT NULL',
              $$SELECT c.type, sum(s.amount), 'campaigns input' FROM lk_sf.canonical_spend s JOIN salesforce.campaign c ON c.name = s.campaign GROUP BY 1$$,
              'cost per channel: the spread spend by campaign type');
SELECT is((SELECT cost_per_lead FROM lk_sf.kpi_by_channel WHERE channel = 'Event'), 10.01, 'Event: the Fair''s cost over its lead from the Event source');
-- the owner: lead.owner_id -> user.name (a deleted user, or a queue, names none)
CREATE TABLE salesforce."user" (id text PRIMARY KEY, name text, is_deleted boolean);
INSERT INTO salesforce."user" VALUES ('u', 'Una User', false);
UPDATE salesforce.lead SET owner_id = 'q' WHERE id = '00QE';
SELECT create_reports_salesforce('lk_sf_o') \g /dev/null
SELECT set_eq('SELECT owner, leads, conversions FROM lk_sf_o.kpi_by_owner',
              $$SELECT u.name, count(*) AS n, count(*) FILTER (WHERE o.is_won) AS won FROM salesforce.lead l LEFT JOIN salesforce."user" u ON u.id = l.owner_id
                  LEFT JOIN salesforce.opportunity o ON o.id = l.converted_opportunity_id WHERE NOT l.is_deleted GROUP BY 1$$,
              'kpi_by_owner: leads and conversions per owner, as plain SQL');
SELECT is((SELECT count(*) FROM lk_sf_o.kpi_by_team), 0::bigint, 'no team in Salesforce: kpi_by_team is empty');
SELECT drop_reports('lk_sf_o') \g /dev/null
UPDATE salesforce.lead SET owner_id = 'u' WHERE id = '00QE';

-- opportunity_field_history instead of opportunity_history; explicit stages
SELECT drop_reports('lk_sf');
DROP TABLE salesforce.opportunity_history;
CREATE TABLE salesforce.opportunity_field_history (id text, opportunity_id text, field text, old_value text, new_value text,
  created_date timestamp, is_deleted boolean, _fivetran_synced timestamp);
INSERT INTO salesforce.opportunity_field_history VALUES
  ('f1', '006A', 'StageName', 'Prospecting', 'Negotiation', '2024-01-10 10:00', false, now()),
  ('f2', '006A', 'Amount', '4000', '5000', '2024-01-11 10:00', false, now()),
  ('f3', '006A', 'StageName', 'Negotiation', 'Closed Won', '2024-01-20 10:00', false, now());
SELECT lives_ok($$SELECT create_reports_salesforce('lk_sf', stages => '{Lead,Converted,Negotiation,Closed Won}')$$, 'opportunity_field_history');
SELECT results_eq($$SELECT stage, occurred_at FROM lk_sf.canonical_stage_events WHERE lead_id = '00QA' ORDER BY occurred_at$$, $$VALUES
    ('Lead', timestamptz '2024-01-02 09:00+00'), ('Converted', '2024-01-05 00:00+00'),
    ('Negotiation', '2024-01-10 10:00+00'), ('Closed Won', '2024-01-20 10:00+00')$$, 'StageName changes only');

-- a user's spend replaces the campaign spread
CREATE TABLE lk_sf_spend (campaign text, day date, amount numeric);
INSERT INTO lk_sf_spend VALUES ('Launch', '2024-01-01', 1);
SELECT lives_ok($$SELECT create_reports_salesforce('lk_sf', spend => 'lk_sf_spend', stages => '{Lead}')$$, 'own spend');
SELECT is((SELECT cost FROM lk_sf.kpi_overview), 1::numeric, 'own spend used');

-- Fivetran history mode in place (one row per version of each record,
-- _fivetran_active on the current one), deleted records, a campaign table
-- without created_date, campaign memberships
CREATE SCHEMA sf_hm;
CREATE TABLE sf_hm.lead (id text, is_deleted boolean, created_date timestamp, lead_source text, converted_date date,
  converted_opportunity_id text, _fivetran_active boolean, _fivetran_start timestamp);
INSERT INTO sf_hm.lead VALUES
  ('L1', false, '2024-01-01 09:00', 'Web', NULL, NULL, false, '2024-01-01 09:00'),          -- L1 before its conversion
  ('L1', false, '2024-01-01 09:00', 'Web', '2024-01-02', 'O1', true, '2024-01-02 09:00'),
  ('L2', false, '2024-01-01 10:00', 'Web', '2024-01-03', 'O2', true, '2024-01-03 09:00'),
  ('L3', false, '2024-01-01 11:00', 'Web', '2024-01-04', 'O3', true, '2024-01-04 09:00'),  -- converted to a deleted opportunity
  ('L4', false, '2024-01-01 12:00', 'Ads', NULL, NULL, true, '2024-01-01 12:00'),
  ('L5', false, '2024-01-01 13:00', 'Ads', NULL, NULL, true, '2024-01-01 13:00');
CREATE TABLE sf_hm.opportunity (id text, is_deleted boolean, close_date date, is_won boolean, is_closed boolean, amount double precision,
  campaign_id text, stage_name text, _fivetran_active boolean, _fivetran_start timestamp);
INSERT INTO sf_hm.opportunity VALUES
  ('O1', false, '2024-01-10', false, false, 100, 'C1', 'Prospecting', false, '2024-01-02 12:00'),
  ('O1', false, '2024-01-10', true, true, 100, 'C1', 'Closed Won', true, '2024-01-10 12:00'),
  ('O2', false, '2024-01-20', false, true, 50, 'C2', 'Closed Lost', true, '2024-01-05 12:00'),
  ('O3', true, '2024-01-15', true, true, 999, 'C1', 'Closed Won', true, '2024-01-15 12:00');
CREATE TABLE sf_hm.campaign (id text, name text, is_deleted boolean, start_date date, end_date date, actual_cost double precision);
INSERT INTO sf_hm.campaign VALUES ('C1', 'Alpha', false, NULL, NULL, 500), ('C2', 'Gone', true, '2024-01-01', '2024-01-02', 40),
                                  ('C3', 'Beta', false, '2024-01-01', '2024-01-02', 20);
CREATE TABLE sf_hm.campaign_member (id text, campaign_id text, lead_id text, created_date timestamp, is_deleted boolean);
INSERT INTO sf_hm.campaign_member VALUES ('m1', 'C1', 'L4', '2024-01-01', true), ('m2', 'C3', 'L4', '2024-01-02', false),
                                         ('m3', 'C2', 'L5', '2024-01-01', false);

SELECT lives_ok($$SELECT create_reports_salesforce('lk_sfhm', 'sf_hm', stages => '{Lead,Converted,Prospecting,Closed Won}')$$,
                'history mode in place, and a campaign table without created_date');
SELECT results_eq('SELECT lead_id, campaign, converted_at, lost_at, revenue FROM lk_sfhm.canonical_leads ORDER BY lead_id', $$VALUES
    ('L1', 'Alpha', timestamptz '2024-01-10 00:00+00', NULL::timestamptz, 100::numeric),
    ('L2', NULL, NULL, '2024-01-20 00:00+00', NULL),
    ('L3', NULL, NULL, NULL, NULL),
    ('L4', 'Beta', NULL, NULL, NULL),
    ('L5', NULL, NULL, NULL, NULL)$$,
    'one row per lead (the active version); deleted opportunities, campaigns and memberships are not used');
SELECT results_eq($$SELECT lead_id, stage, occurred_at FROM lk_sfhm.canonical_stage_events WHERE lead_id IN ('L1', 'L3') ORDER BY lead_id, occurred_at$$, $$VALUES
    ('L1', 'Lead', timestamptz '2024-01-01 09:00+00'), ('L1', 'Converted', '2024-01-02 00:00+00'),
    ('L1', 'Prospecting', '2024-01-02 12:00+00'), ('L1', 'Closed Won', '2024-01-10 12:00+00'),
    ('L3', 'Lead', '2024-01-01 11:00+00'), ('L3', 'Converted', '2024-01-04 00:00+00')$$,
    'stages from the versions of the opportunity itself; none from a deleted opportunity');
SELECT results_eq('SELECT campaign, sum(amount) FROM lk_sfhm.canonical_spend GROUP BY 1 ORDER BY 1',
                  $$VALUES ('Beta', 20::numeric)$$, 'spend: no start date and no created_date means no days; deleted campaigns cost nothing');
SELECT is((SELECT conversions FROM lk_sfhm.kpi_overview), (SELECT max(reached) FROM lk_sfhm.funnel_report WHERE stage = 'Closed Won'),
          'KPIs and funnel agree on who was won');

-- the history in another schema (Fivetran's salesforce_history.opportunity)
CREATE SCHEMA sf_hm_history;
CREATE TABLE sf_hm_history.opportunity (id text, stage_name text, is_deleted boolean, _fivetran_active boolean, _fivetran_start timestamp);
INSERT INTO sf_hm_history.opportunity VALUES ('O1', 'Negotiation', false, false, '2024-01-05 00:00'), ('O1', 'Closed Won', false, true, '2024-01-10 00:00'),
                                             ('O3', 'Negotiation', false, true, '2024-01-06 00:00');
SELECT lives_ok($$SELECT create_reports_salesforce('lk_sfhm2', 'sf_hm', stages => '{Lead,Converted,Negotiation}', history => 'sf_hm_history.opportunity')$$,
                'history => another table');
SELECT results_eq($$SELECT lead_id, stage FROM lk_sfhm2.canonical_stage_events WHERE stage = 'Negotiation'$$, $$VALUES ('L1', 'Negotiation')$$,
                  'its versions are the stages (not the deleted opportunity''s)');
SELECT is((SELECT count(*) FROM lk_sfhm2.canonical_leads), 5::bigint, 'still one row per lead');
CREATE TABLE sf_hm_history.not_a_history (id text, note text);
SELECT throws_ok($$SELECT create_reports_salesforce('lk_sfhm3', 'sf_hm', stages => '{Lead}', history => 'sf_hm_history.not_a_history')$$,
                 '42703', NULL, 'history => a table of no known shape is an error, not ignored');

SELECT * FROM finish();
ROLLBACK;
