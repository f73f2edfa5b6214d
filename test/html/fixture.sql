-- test/html/fixture.sql: the report schemas make test-html renders, in a
-- database holding the sample CRM (test/data/gen_crm.sql, schema crm).
-- Labels from CRM data that HTML must show as text: campaigns and stages
-- with markup, quotes, ampersands, a control character and a long name
-- without spaces; leads without a campaign.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET TimeZone = 'UTC';

-- hostile campaign names on the sample CRM, with leads, stage events and spend
ALTER TABLE crm.leads ALTER campaign DROP NOT NULL;
INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel, converted_at, lost_at, revenue)
SELECT 1000000 + i, timestamptz '2025-06-01' + i * interval '7 hours',
       (ARRAY['<script>alert("campaign")</script>', 'Tom & Jerry''s "deal" <b>', E'tab\tand\u0001control',
              'spring_2025_google_ads_brand_exact_match_retargeting_eu_west_lookalike_audience_v2',
              NULL])[1 + i % 5],
       'paid_search', CASE WHEN i % 3 = 0 THEN timestamptz '2025-06-01' + i * interval '7 hours' + interval '9 days' END,
       NULL, CASE WHEN i % 3 = 0 THEN 1234.5 END
FROM generate_series(1, 200) AS i;
INSERT INTO crm.stage_events
SELECT lead_id, 'lead', first_contact_at FROM crm.leads WHERE lead_id > 1000000
UNION ALL
SELECT lead_id, 'customer', converted_at FROM crm.leads WHERE lead_id > 1000000 AND converted_at IS NOT NULL;
INSERT INTO crm.spend (campaign, day, amount)
SELECT c, date '2025-06-01' + d, 100 + d
FROM unnest(ARRAY['<script>alert("campaign")</script>', 'Tom & Jerry''s "deal" <b>',
                  'spring_2025_google_ads_brand_exact_match_retargeting_eu_west_lookalike_audience_v2']) AS c,
     generate_series(0, 59) AS d;

-- 1. the sample CRM, plain views
SELECT count(*) FROM create_reports('html_sample',
    leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend', orders => 'crm.orders',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], conversion_window => '180 days',
    funnel_modes => 'crm_backfill', time_zone => 'UTC');

-- 2. the same, materialized (report_html reads the _live views)
SELECT count(*) FROM create_reports('html_mat',
    leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend', orders => 'crm.orders',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], conversion_window => '180 days',
    funnel_modes => 'crm_backfill', time_zone => 'Europe/Berlin', materialized => true);
SELECT count(*) FROM refresh_reports('html_mat');

-- 3. hostile stage names, no spend, money exact (money_decimals NULL)
CREATE SCHEMA html_crm;
CREATE TABLE html_crm.leads AS SELECT * FROM crm.leads WHERE lead_id > 1000000 OR lead_id <= 300;
CREATE TABLE html_crm.events AS
SELECT lead_id, CASE stage WHEN 'lead' THEN '<img src=x onerror=alert(1)>'
                           WHEN 'mql' THEN 'Marketing qualified & "ready"'
                           WHEN 'sql' THEN 'Sales_accepted_lead_with_a_very_long_stage_name_without_any_space'
                           WHEN 'opportunity' THEN 'Opportunity'
                           ELSE 'Won </td></tr></table>' END AS stage, occurred_at
FROM crm.stage_events WHERE lead_id IN (SELECT lead_id FROM html_crm.leads);
SELECT count(*) FROM create_reports('html_hostile', leads => 'html_crm.leads', stage_events => 'html_crm.events',
    stages => ARRAY['<img src=x onerror=alert(1)>', 'Marketing qualified & "ready"',
                    'Sales_accepted_lead_with_a_very_long_stage_name_without_any_space', 'Opportunity', 'Won </td></tr></table>'],
    time_zone => 'America/New_York', money_decimals => NULL);

-- 4. leads only: no funnel, no spend
SELECT count(*) FROM create_reports('html_leads', leads => 'html_crm.leads', time_zone => 'UTC');
