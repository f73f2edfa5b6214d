-- The cost per channel under each channel rule (the spend's channel column,
-- the campaigns input, inferred from the leads), the rule column,
-- kpi_by_campaign's channel and roi, and the team and owner breakdowns;
-- plain, stored and live alike under changes.  Expected figures come from
-- plain SQL over the same rows, or by hand.
BEGIN;
SELECT plan(32);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_cc;
CREATE TABLE lk_cc.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text,
                          converted_at timestamptz, revenue numeric, team text, owner text);
-- c1: all web; c2: web and mail; c3: ads; c4: a lead without channel; c5: spend only
INSERT INTO lk_cc.leads VALUES
  (1, '2024-01-05', 'c1', 'web', '2024-01-10', 100, 'A', 'ann'),
  (2, '2024-01-06', 'c1', 'web', NULL, NULL, 'A', 'bob'),
  (3, '2024-01-07', 'c2', 'web', '2024-01-20', 300, 'B', 'bob'),
  (4, '2024-02-01', 'c2', 'mail', NULL, NULL, 'B', NULL),
  (5, '2024-02-02', 'c3', 'ads', '2024-02-05', 50, NULL, 'ann'),
  (6, '2024-02-03', 'c4', NULL, NULL, NULL, 'A', 'ann');
CREATE TABLE lk_cc.spend (campaign text, day date, amount numeric);
INSERT INTO lk_cc.spend VALUES ('c1', '2024-01-01', 40), ('c2', '2024-01-01', 60), ('c2', '2024-02-01', 20),
  ('c3', '2024-02-01', 10.5), ('c5', '2024-02-01', 7), ('c4', '2024-02-01', 3);
-- c3 listed twice with one channel; c4 twice with two (no channel); c5 missing
CREATE TABLE lk_cc.campaigns (campaign text, channel varchar(10), name text);
INSERT INTO lk_cc.campaigns VALUES ('c1', 'web', 'Camp 1'), ('c2', 'mail', 'Camp 2'), ('c3', 'ads', NULL), ('c3', 'ads', NULL),
  ('c4', 'web', NULL), ('c4', 'mail', NULL);
CREATE TABLE lk_cc.spend_ch (campaign text, channel text, day date, amount numeric);
INSERT INTO lk_cc.spend_ch VALUES ('c1', 'web', '2024-01-01', 40), ('c1', 'ads', '2024-01-02', 5), ('c2', 'mail', '2024-01-01', 60),
  ('c2', 'mail', '2024-02-01', 20), ('c3', NULL, '2024-02-01', 10.5);
CREATE VIEW lk_cc.leads_plain AS SELECT lead_id, first_contact_at, campaign, channel, converted_at, revenue FROM lk_cc.leads;

-- the leads per channel, in plain SQL
CREATE TEMP VIEW exp_channel_leads AS
SELECT channel, count(*) AS leads, count(converted_at) AS conversions FROM lk_cc.leads GROUP BY channel;

-- 1. inferred from the leads
SELECT create_reports('lk_cc_inf', 'lk_cc.leads', spend => 'lk_cc.spend') \g /dev/null
SELECT set_eq('SELECT channel, cost, cost_per_lead, cost_channel_rule FROM lk_cc_inf.kpi_by_channel',
              $$VALUES ('web', 40.00, 13.33, 'inferred from leads'), ('mail', NULL, NULL, NULL), ('ads', 10.50, 10.50, 'inferred from leads'),
                       (NULL, 90.00, 90.00, 'inferred from leads')$$,
              'inferred: c1 -> web, c3 -> ads; c2 (two channels), c4 (a lead without), c5 (no leads) unassigned (channel NULL)');
SELECT set_eq('SELECT channel, leads, conversions FROM lk_cc_inf.kpi_by_channel', 'SELECT * FROM exp_channel_leads',
              'inferred: the leads per channel are unchanged');
SELECT is((SELECT sum(cost) FROM lk_cc_inf.kpi_by_channel), (SELECT sum(amount) FROM lk_cc.spend), 'inferred: every spend is in one channel row');
SELECT set_eq('SELECT campaign, channel FROM lk_cc_inf.kpi_by_campaign',
              $$SELECT campaign, CASE WHEN count(DISTINCT channel) = 1 AND count(channel) = count(*) THEN min(channel) END
                  FROM lk_cc.leads GROUP BY campaign
                UNION ALL SELECT 'c5', NULL$$,
              'inferred: kpi_by_campaign.channel is the one channel of the campaign''s leads');
-- roi of a campaign with leads: c1 (100 - 40) / 40; c2 (300 - 80) / 80;
-- c3 (50 - 10.5) / 10.5; c4 has no revenue, c5 no leads
SELECT set_eq('SELECT campaign, roi FROM lk_cc_inf.kpi_by_campaign',
              $$VALUES ('c1', 1.5), ('c2', 2.75), ('c3', round((50 - 10.5) / 10.5, 4)), ('c4', NULL), ('c5', NULL)$$,
              'roi = (revenue - cost) / cost of a campaign with leads and spend');
SELECT is((SELECT roi FROM lk_cc_inf.kpi_by_campaign WHERE campaign = 'c3'),
          (SELECT round(roi(rollup(s)), 4) FROM (SELECT kpi_agg(first_contact_at, converted_at, revenue) AS s FROM lk_cc.leads WHERE campaign = 'c3'
                                       UNION ALL SELECT spend_agg(amount) FROM lk_cc.spend WHERE campaign = 'c3') AS x),
          'roi is the accessor roi() of the campaign''s summary, to 4 decimals');

-- 2. the campaigns input
SELECT create_reports('lk_cc_cmp', 'lk_cc.leads', spend => 'lk_cc.spend', campaigns => 'lk_cc.campaigns') \g /dev/null
SELECT set_eq('SELECT campaign, channel, name FROM lk_cc_cmp.report_campaigns',
              $$VALUES ('c1', 'web', 'Camp 1'), ('c2', 'mail', 'Camp 2'), ('c3', 'ads', NULL), ('c4', NULL, NULL)$$,
              'report_campaigns: one row per campaign, no channel when listed with two');
SELECT set_eq('SELECT channel, cost, cost_per_lead, cost_per_order, cost_channel_rule FROM lk_cc_cmp.kpi_by_channel',
              $$VALUES ('web', 40.00, 13.33, 20.00, 'campaigns input'), ('mail', 80.00, 80.00, NULL, 'campaigns input'),
                       ('ads', 10.50, 10.50, 10.50, 'campaigns input'), (NULL, 10.00, 10.00, NULL, 'campaigns input')$$,
              'campaigns input: c2''s spend goes to mail; c4 and c5 unassigned');
SELECT set_eq('SELECT channel, sum(amount) FROM lk_cc.spend LEFT JOIN (SELECT campaign, min(channel) AS channel FROM lk_cc.campaigns GROUP BY 1 HAVING count(DISTINCT channel) = 1) m USING (campaign) GROUP BY 1',
              'SELECT channel, cost FROM lk_cc_cmp.kpi_by_channel WHERE cost IS NOT NULL',
              'campaigns input: the cost per channel is the spend joined to the campaigns, in plain SQL');
SELECT set_eq('SELECT campaign, channel FROM lk_cc_cmp.kpi_by_campaign',
              $$VALUES ('c1', 'web'), ('c2', 'mail'), ('c3', 'ads'), ('c4', NULL), ('c5', NULL)$$,
              'campaigns input: kpi_by_campaign.channel from the campaigns input');
SELECT throws_ok($$SELECT create_reports('lk_cc_bad', 'lk_cc.leads', campaigns => 'lk_cc.spend')$$, '42703', NULL,
                 'a campaigns input without a channel column is refused');

-- 3. the spend's channel column wins over the campaigns input
SELECT create_reports('lk_cc_sp', 'lk_cc.leads', spend => 'lk_cc.spend_ch', campaigns => 'lk_cc.campaigns') \g /dev/null
SELECT set_eq('SELECT channel, cost, cost_channel_rule FROM lk_cc_sp.kpi_by_channel',
              $$VALUES ('web', 40.00, 'spend channel'), ('ads', 5.00, 'spend channel'), ('mail', 80.00, 'spend channel'),
                       (NULL, 10.50, 'spend channel')$$,
              'spend channel: each spend row''s own channel');
SELECT set_eq('SELECT campaign, channel FROM lk_cc_sp.kpi_by_campaign',
              $$VALUES ('c1', NULL), ('c2', 'mail'), ('c3', NULL), ('c4', NULL)$$,
              'spend channel: kpi_by_campaign.channel is the one channel of the campaign''s spend');

-- 4. no spend: no cost, no rule; the campaign's channel still shown
SELECT create_reports('lk_cc_ns', 'lk_cc.leads') \g /dev/null
SELECT is((SELECT count(*) FROM lk_cc_ns.kpi_by_channel WHERE cost IS NOT NULL OR cost_channel_rule IS NOT NULL), 0::bigint,
          'without spend: no cost and no rule');
SELECT is((SELECT channel FROM lk_cc_ns.kpi_by_campaign WHERE campaign = 'c1'), 'web', 'without spend: the channel inferred');

-- 5. team and owner
CREATE TEMP VIEW exp_team AS
SELECT 'team' AS k, team AS key, count(*) AS leads, count(converted_at) AS conversions, sum(revenue) AS revenue FROM lk_cc.leads GROUP BY team
UNION ALL
SELECT 'owner', owner, count(*), count(converted_at), sum(revenue) FROM lk_cc.leads GROUP BY owner;
SELECT set_eq($$SELECT 'team', team, leads, conversions, revenue FROM lk_cc_inf.kpi_by_team
                UNION ALL SELECT 'owner', owner, leads, conversions, revenue FROM lk_cc_inf.kpi_by_owner$$,
              'SELECT * FROM exp_team', 'kpi_by_team and kpi_by_owner: leads, conversions, revenue per team and owner, as plain SQL');
SELECT is((SELECT count(*) FROM (SELECT cost FROM lk_cc_inf.kpi_by_team UNION ALL SELECT cost FROM lk_cc_inf.kpi_by_owner) x WHERE cost IS NOT NULL),
          0::bigint, 'spend has no team or owner: no cost');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_cc_inf.kpi_by_team'::regclass AND attnum > 0),
          (SELECT 'team'::text || array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_cc_inf.kpi_by_month'::regclass AND attnum > 1),
          'kpi_by_team has the columns of kpi_by_month, keyed by team');
SELECT create_reports('lk_cc_nt', 'lk_cc.leads_plain', spend => 'lk_cc.spend') \g /dev/null
SELECT is((SELECT count(*) FROM lk_cc_nt.kpi_by_team) + (SELECT count(*) FROM lk_cc_nt.kpi_by_owner), 0::bigint,
          'leads without team and owner columns: the views exist, empty');
SELECT is((SELECT count(*) FROM lk_cc_nt.report_leads WHERE team IS NOT NULL OR owner IS NOT NULL), 0::bigint,
          'and report_leads has team and owner NULL');

-- 6. materialized: plain = stored = live, for every rule and under changes
\ir include/reports_differ.sql
SELECT create_reports('lk_cc_m_inf', 'lk_cc.leads', spend => 'lk_cc.spend', materialized => true) \g /dev/null
SELECT create_reports('lk_cc_m_cmp', 'lk_cc.leads', spend => 'lk_cc.spend', campaigns => 'lk_cc.campaigns', materialized => true) \g /dev/null
SELECT create_reports('lk_cc_m_sp', 'lk_cc.leads', spend => 'lk_cc.spend_ch', campaigns => 'lk_cc.campaigns', materialized => true) \g /dev/null
SELECT is(pg_temp.reports_differ('lk_cc_m_inf', 'lk_cc_inf', '') || pg_temp.reports_differ('lk_cc_m_cmp', 'lk_cc_cmp', '')
          || pg_temp.reports_differ('lk_cc_m_sp', 'lk_cc_sp', ''), '{}', 'the first fill equals the plain reports, under each rule');
SELECT is(pg_temp.reports_differ('lk_cc_m_inf', 'lk_cc_inf', '_live') || pg_temp.reports_differ('lk_cc_m_cmp', 'lk_cc_cmp', '_live')
          || pg_temp.reports_differ('lk_cc_m_sp', 'lk_cc_sp', '_live'), '{}', 'and so do the live views');
-- c2 becomes web only (inferred: its spend moves to web); lead 2 changes
-- team and owner; c5 gets a lead; new spend; c4 gets one channel
UPDATE lk_cc.leads SET channel = 'web' WHERE lead_id = 4;
UPDATE lk_cc.leads SET team = 'B', owner = 'cy' WHERE lead_id = 2;
INSERT INTO lk_cc.leads VALUES (7, '2024-03-01', 'c5', 'ads', '2024-03-02', 70, NULL, 'cy');
INSERT INTO lk_cc.spend VALUES ('c3', '2024-03-01', 4.25);
INSERT INTO lk_cc.spend_ch VALUES ('c5', 'ads', '2024-03-01', 2);
DELETE FROM lk_cc.campaigns WHERE campaign = 'c4' AND channel = 'mail';
SELECT is((SELECT cost FROM lk_cc_inf.kpi_by_channel WHERE channel = 'web'), 120.00, 'inferred, plain: c2''s spend moved to web');
SELECT is((SELECT cost FROM lk_cc_cmp.kpi_by_channel WHERE channel = 'web'), 43.00, 'campaigns input, plain: c4''s spend moved to web');
SELECT is(pg_temp.reports_differ('lk_cc_m_inf', 'lk_cc_inf', '_live') || pg_temp.reports_differ('lk_cc_m_cmp', 'lk_cc_cmp', '_live')
          || pg_temp.reports_differ('lk_cc_m_sp', 'lk_cc_sp', '_live'), '{}', 'after the changes the live views equal the plain ones');
SELECT is(pg_temp.reports_differ('lk_cc_m_inf', 'lk_cc_inf', '') = '{}', false, 'the stored reports lag behind until a refresh');
SELECT refresh_reports('lk_cc_m_inf') \g /dev/null
SELECT refresh_reports('lk_cc_m_cmp') \g /dev/null
SELECT refresh_reports('lk_cc_m_sp') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_cc_m_inf', 'lk_cc_inf', '') || pg_temp.reports_differ('lk_cc_m_cmp', 'lk_cc_cmp', '')
          || pg_temp.reports_differ('lk_cc_m_sp', 'lk_cc_sp', ''), '{}', 'after a refresh the stored reports equal the plain ones');
SELECT set_eq($$SELECT 'team', team, leads, conversions, revenue FROM lk_cc_m_inf.kpi_by_team
                UNION ALL SELECT 'owner', owner, leads, conversions, revenue FROM lk_cc_m_inf.kpi_by_owner$$,
              'SELECT * FROM exp_team', 'stored kpi_by_team and kpi_by_owner follow the moves, as plain SQL');
SELECT is((SELECT channel FROM lk_cc_m_inf.kpi_by_campaign WHERE campaign = 'c2'), 'web', 'stored kpi_by_campaign.channel follows the leads');

-- 7. the NOTICE's figures (its text is in test/sql/reports_messages.sql)
SELECT is((SELECT cost FROM lk_cc_inf.kpi_by_channel WHERE channel IS NULL),
          (SELECT sum(amount) FROM lk_cc.spend WHERE campaign IN ('c4')),
          'after the changes only c4 is unassigned (inferred)');

-- 8. money_decimals rounds the new cost figures too
SELECT create_reports('lk_cc_r0', 'lk_cc.leads', spend => 'lk_cc.spend', campaigns => 'lk_cc.campaigns', money_decimals => 0) \g /dev/null
SELECT is((SELECT cost_per_lead FROM lk_cc_r0.kpi_by_channel WHERE channel = 'web'), 11::numeric,
          'money_decimals => 0 rounds the channel''s cost per lead (43 / 4 leads)');
SELECT is((SELECT roi FROM lk_cc_r0.kpi_by_campaign WHERE campaign = 'c3'), round((50 - 14.75) / 14.75, 4),
          'roi is a ratio, not money: 4 decimals whatever money_decimals');

SELECT * FROM finish();
ROLLBACK;
