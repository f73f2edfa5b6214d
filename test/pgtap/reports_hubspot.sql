-- HubSpot preset on hand-made tables shaped like Fivetran's HubSpot
-- replication: contact with property_hs_lifecyclestage_<stage>_date
-- columns, contact_property_history, deal, deal_contact, deal_pipeline_stage.
BEGIN;
SELECT plan(18);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA hubspot;
CREATE TABLE hubspot.contact (id bigint PRIMARY KEY, _fivetran_deleted boolean, _fivetran_synced timestamp, property_email text,
  property_createdate timestamp, property_hs_analytics_source text, property_hs_analytics_first_touch_converting_campaign text,
  property_hs_lifecyclestage_lead_date timestamp, property_hs_lifecyclestage_marketingqualifiedlead_date timestamp,
  property_hs_lifecyclestage_salesqualifiedlead_date timestamp, property_hs_lifecyclestage_opportunity_date timestamp,
  property_hs_lifecyclestage_customer_date timestamp);
CREATE TABLE hubspot.contact_property_history (contact_id bigint, name text, value text, "timestamp" timestamp, source text, source_id text, _fivetran_synced timestamp);
CREATE TABLE hubspot.deal (deal_id bigint PRIMARY KEY, is_deleted boolean, deal_pipeline_id text, deal_pipeline_stage_id text, owner_id bigint, portal_id bigint,
  property_dealname text, property_amount double precision, property_closedate timestamp, property_createdate timestamp);
CREATE TABLE hubspot.deal_contact (deal_id bigint, contact_id bigint, _fivetran_synced timestamp, type_id integer, category text);
CREATE TABLE hubspot.deal_pipeline_stage (_fivetran_deleted boolean, _fivetran_synced timestamp, active boolean, closed_won boolean, is_closed boolean,
  display_order integer, probability double precision, stage_id text, label text, pipeline_id text, created_at timestamp, updated_at timestamp);
INSERT INTO hubspot.deal_pipeline_stage (active, closed_won, is_closed, display_order, probability, stage_id, label, pipeline_id) VALUES
  (true, false, false, 1, 0.2, 'appointmentscheduled', 'Appointment scheduled', 'default'),
  (true, true, true, 6, 1.0, 'closedwon', 'Closed won', 'default'), (true, false, true, 7, 0.0, 'closedlost', 'Closed lost', 'default');
INSERT INTO hubspot.contact (id, _fivetran_deleted, property_createdate, property_hs_analytics_source, property_hs_analytics_first_touch_converting_campaign,
  property_hs_lifecyclestage_lead_date, property_hs_lifecyclestage_marketingqualifiedlead_date, property_hs_lifecyclestage_salesqualifiedlead_date,
  property_hs_lifecyclestage_opportunity_date, property_hs_lifecyclestage_customer_date) VALUES
  (101, false, '2024-05-01 08:00', 'ORGANIC_SEARCH', 'Summer', '2024-05-01 08:00', '2024-05-02 08:00', '2024-05-04 08:00', '2024-05-06 08:00', '2024-05-11 08:00'),
  (102, false, '2024-05-03 08:00', 'PAID_SEARCH', 'Summer', '2024-05-03 08:00', '2024-05-05 08:00', NULL, NULL, NULL),
  (103, false, '2024-06-01 08:00', 'PAID_SEARCH', NULL, '2024-06-01 08:00', NULL, NULL, NULL, '2024-06-03 08:00'),
  (104, true, '2024-06-01 08:00', 'DIRECT_TRAFFIC', NULL, '2024-06-01 08:00', NULL, NULL, NULL, NULL);
INSERT INTO hubspot.deal (deal_id, is_deleted, deal_pipeline_stage_id, property_amount, property_closedate) VALUES
  (1, false, 'closedwon', 1200, '2024-05-10 08:00'), (2, false, 'closedwon', 300, '2024-05-20 08:00'),
  (3, false, 'closedlost', 999, '2024-05-21 08:00'), (4, true, 'closedwon', 5000, '2024-05-22 08:00'),
  (51, false, 'appointmentscheduled', 700, NULL), (52, false, 'appointmentscheduled', 250, NULL), (53, true, 'appointmentscheduled', 9999, NULL);
INSERT INTO hubspot.deal_contact (deal_id, contact_id) VALUES (1, 101), (2, 101), (2, 102), (3, 102), (4, 103), (51, 103), (51, 102), (52, 102), (53, 101);
INSERT INTO hubspot.contact_property_history (contact_id, name, value, "timestamp") VALUES
  (101, 'lifecyclestage', 'lead', '2024-05-01 08:00'), (101, 'lifecyclestage', 'customer', '2024-05-11 08:00'),
  (102, 'lifecyclestage', 'lead', '2024-05-03 08:00'), (102, 'lifecyclestage', 'other', '2024-05-04 08:00'), (102, 'firstname', 'x', '2024-05-04 08:00');

SELECT is((SELECT array_agg(r::text ORDER BY r::text) FROM create_reports_hubspot('lk_hs') AS r),
          ARRAY['lk_hs.canonical_leads', 'lk_hs.canonical_stage_events', 'lk_hs.forecast_by_campaign', 'lk_hs.forecast_by_month', 'lk_hs.forecast_by_week',
                'lk_hs.funnel_by_campaign', 'lk_hs.funnel_report', 'lk_hs.kpi_by_campaign', 'lk_hs.kpi_by_channel', 'lk_hs.kpi_by_month',
                'lk_hs.kpi_by_owner', 'lk_hs.kpi_by_team', 'lk_hs.kpi_overview', 'lk_hs.report_campaigns', 'lk_hs.report_leads',
                'lk_hs.report_spend', 'lk_hs.report_stage_events'],
          'canonical views and reports');
-- converted at the first won deal's close date (deal 2 counts once, for
-- contact 101; the lost and the deleted deal not at all), else the customer
-- lifecycle date; deleted contacts are left out
SELECT results_eq('SELECT * FROM lk_hs.canonical_leads ORDER BY lead_id', $$VALUES
    (101::bigint, timestamptz '2024-05-01 08:00+00', 'Summer', 'ORGANIC_SEARCH', timestamptz '2024-05-10 08:00+00', NULL::timestamptz, 1500::numeric, NULL::numeric),
    (102, '2024-05-03 08:00+00', 'Summer', 'PAID_SEARCH', NULL, NULL, NULL, 950),
    (103, '2024-06-01 08:00+00', NULL, 'PAID_SEARCH', '2024-06-03 08:00+00', NULL, NULL, NULL)$$,
    'canonical_leads; expected_revenue: the open deals'' amounts, each deal once for its lowest contact, deleted deals left out');
-- the same from plain SQL, in report_leads where the forecast reads it
SELECT results_eq('SELECT lead_id, expected_revenue FROM lk_hs.report_leads ORDER BY lead_id',
    $$SELECT ct.id, (SELECT sum(d.property_amount)::numeric FROM hubspot.deal AS d JOIN hubspot.deal_pipeline_stage AS s ON s.stage_id = d.deal_pipeline_stage_id
                      WHERE NOT s.is_closed AND NOT d.is_deleted
                        AND ct.id = (SELECT min(dc.contact_id) FROM hubspot.deal_contact AS dc JOIN hubspot.contact AS c2 ON c2.id = dc.contact_id
                                      WHERE dc.deal_id = d.deal_id AND NOT c2._fivetran_deleted))
        FROM hubspot.contact AS ct WHERE NOT ct._fivetran_deleted ORDER BY ct.id$$,
    'report_leads.expected_revenue: the amounts of the open deals, from plain SQL');
SELECT results_eq('SELECT lead_id, stage, occurred_at FROM lk_hs.canonical_stage_events ORDER BY lead_id, occurred_at', $$VALUES
    (101::bigint, 'lead', timestamptz '2024-05-01 08:00+00'), (101, 'marketingqualifiedlead', '2024-05-02 08:00+00'),
    (101, 'salesqualifiedlead', '2024-05-04 08:00+00'), (101, 'opportunity', '2024-05-06 08:00+00'), (101, 'customer', '2024-05-11 08:00+00'),
    (102, 'lead', '2024-05-03 08:00+00'), (102, 'marketingqualifiedlead', '2024-05-05 08:00+00'),
    (103, 'lead', '2024-06-01 08:00+00'), (103, 'customer', '2024-06-03 08:00+00')$$, 'stage events from the lifecycle date columns');
SELECT results_eq('SELECT channel, leads, conversions, revenue FROM lk_hs.kpi_by_channel ORDER BY channel',
                  $$VALUES ('ORGANIC_SEARCH', 1::bigint, 1::bigint, 1500::numeric), ('PAID_SEARCH', 2, 1, NULL)$$, 'KPIs per channel');
SELECT results_eq('SELECT step, stage FROM lk_hs.funnel_report ORDER BY step',
                  $$VALUES (1, 'lead'), (2, 'marketingqualifiedlead'), (3, 'salesqualifiedlead'), (4, 'opportunity'), (5, 'customer')$$,
                  'default lifecycle funnel');

-- the property log instead of the columns
SELECT lives_ok($$SELECT create_reports_hubspot('lk_hs', stage_source => 'history', stages => '{lead,customer}')$$, 'stage_source history');
SELECT results_eq('SELECT lead_id, stage, occurred_at FROM lk_hs.canonical_stage_events ORDER BY lead_id, occurred_at', $$VALUES
    (101::bigint, 'lead', timestamptz '2024-05-01 08:00+00'), (101, 'customer', '2024-05-11 08:00+00'), (102, 'lead', '2024-05-03 08:00+00')$$,
    'lifecyclestage changes only, other values and properties ignored');
-- without deal tables, conversion is the customer lifecycle date
SELECT drop_reports('lk_hs');
ALTER TABLE hubspot.deal_contact RENAME TO deal_contact_off;
SELECT lives_ok($$SELECT create_reports_hubspot('lk_hs')$$, 'without deal_contact');
SELECT results_eq('SELECT lead_id, converted_at, revenue FROM lk_hs.canonical_leads ORDER BY lead_id', $$VALUES
    (101::bigint, timestamptz '2024-05-11 08:00+00', NULL::numeric), (102, NULL, NULL), (103, '2024-06-03 08:00+00', NULL)$$,
    'converted at the customer lifecycle date');
SELECT throws_ok($$SELECT create_reports_hubspot('lk_hs', stage_source => 'nonsense')$$, '22023', NULL, 'bad stage_source');

-- deleted and merged contacts: neither a lead nor in the funnel, from the
-- columns or from the property log
DELETE FROM hubspot.deal;
ALTER TABLE hubspot.contact ADD COLUMN property_hs_merged_object_ids text;
INSERT INTO hubspot.contact (id, _fivetran_deleted, property_createdate, property_hs_lifecyclestage_lead_date) VALUES
  (105, false, '2024-07-01 08:00', '2024-07-01 08:00'), (106, false, '2024-07-02 08:00', '2024-07-02 08:00');
UPDATE hubspot.contact SET property_hs_merged_object_ids = '105;106' WHERE id = 101;
INSERT INTO hubspot.contact_property_history (contact_id, name, value, "timestamp") VALUES
  (104, 'lifecyclestage', 'lead', '2024-06-01 08:00'), (105, 'lifecyclestage', 'lead', '2024-07-01 08:00');
SELECT lives_ok($$SELECT create_reports_hubspot('lk_hs2')$$, 'with merged contacts');
SELECT results_eq('SELECT lead_id FROM lk_hs2.canonical_leads UNION SELECT lead_id FROM lk_hs2.canonical_stage_events ORDER BY 1',
                  $$VALUES (101::bigint), (102), (103)$$, 'merged-away (105, 106) and deleted (104) contacts: no lead, no stage event');
SELECT lives_ok($$SELECT create_reports_hubspot('lk_hs3', stage_source => 'history')$$, 'property log with merged contacts');
SELECT results_eq('SELECT DISTINCT lead_id FROM lk_hs3.canonical_stage_events ORDER BY 1',
                  $$VALUES (101::bigint), (102)$$, 'the property log of deleted and merged-away contacts is left out');
-- a won deal of a deleted (104) and a live contact (107) goes to the live
-- one, though the deleted one has the lower id
ALTER TABLE hubspot.deal_contact_off RENAME TO deal_contact;
INSERT INTO hubspot.contact (id, _fivetran_deleted, property_createdate) VALUES (107, false, '2024-06-01 09:00');
INSERT INTO hubspot.deal (deal_id, is_deleted, deal_pipeline_stage_id, property_amount, property_closedate) VALUES
  (5, false, 'closedwon', 777, '2024-06-02 08:00');
INSERT INTO hubspot.deal_contact (deal_id, contact_id) VALUES (5, 104), (5, 107);
SELECT lives_ok($$SELECT create_reports_hubspot('lk_hs4')$$, 'with a deal of a deleted contact');
SELECT results_eq($$SELECT lead_id, converted_at, revenue FROM lk_hs4.canonical_leads WHERE lead_id = 107$$,
                  $$VALUES (107::bigint, timestamptz '2024-06-02 08:00+00', 777::numeric)$$,
                  'a won deal is credited to its lowest live contact');

-- the contact owner: property_hubspot_owner_id -> owner (name, else e-mail)
CREATE TABLE hubspot.owner (owner_id bigint, first_name text, last_name text, email text, _fivetran_deleted boolean);
INSERT INTO hubspot.owner VALUES (7, 'Ann', 'Lee', 'ann@x', false), (8, NULL, NULL, 'bob@x', false);
ALTER TABLE hubspot.contact ADD COLUMN property_hubspot_owner_id text;
UPDATE hubspot.contact SET property_hubspot_owner_id = CASE id WHEN 101 THEN '7' WHEN 102 THEN '8' WHEN 103 THEN '7' END;
SELECT create_reports_hubspot('lk_hs5') \g /dev/null
SELECT set_eq('SELECT owner, leads, conversions FROM lk_hs5.kpi_by_owner',
              $$SELECT coalesce(o.first_name || ' ' || o.last_name, o.email) AS owner, count(*) AS n, count(l.converted_at) AS won
                  FROM lk_hs4.canonical_leads l JOIN hubspot.contact c ON c.id = l.lead_id
                  LEFT JOIN hubspot.owner o ON o.owner_id::text = c.property_hubspot_owner_id GROUP BY 1$$,
              'kpi_by_owner: contacts per owner (name, else e-mail), as plain SQL');

SELECT * FROM finish();
ROLLBACK;
