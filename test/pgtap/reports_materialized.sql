-- materialized => true: stores in tables (lead_facts, per-day and per-month
-- summaries) filled at creation and brought up to date by refresh_reports()
-- under the schema's advisory lock; the stored reports are views over the
-- monthly stores, the live ones add every change committed since, also a
-- conversion of an older lead.
BEGIN;
SELECT plan(23);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_mat;
CREATE TABLE lk_mat.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_mat.leads
SELECT i, date_trunc('day', now()) - (i % 40) * interval '1 day' + interval '3 hours', 'c' || (i % 3), 'web',
       CASE WHEN i % 4 = 0 THEN date_trunc('day', now()) - (i % 40) * interval '1 day' + interval '3 hours' + (i % 9) * interval '1 day' END
FROM generate_series(1, 120) AS i;   -- i % 40 = 0: first contact today
CREATE TABLE lk_mat.spend (campaign text, day date, amount numeric);
INSERT INTO lk_mat.spend SELECT 'c' || (d % 3), current_date - d, 5 + d FROM generate_series(0, 30) AS d;

SELECT lives_ok($$SELECT create_reports('lk_mrep', 'lk_mat.leads', spend => 'lk_mat.spend', materialized => true)$$, 'materialized reports');
SELECT lives_ok($$SELECT create_reports('lk_plain', 'lk_mat.leads', spend => 'lk_mat.spend')$$, 'plain reports over the same tables, to compare');
SELECT ok(to_regclass('lk_mrep.kpi_monthly') IS NOT NULL AND to_regclass('lk_mrep.kpi_monthly_campaign') IS NULL,
          'leads without team or owner: no stores without them (the monthly stores are those)');

SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class WHERE relnamespace = 'lk_mrep'::regnamespace AND relkind = 'r'),
          ARRAY['_lk_stores', 'kpi_daily', 'kpi_monthly', 'lead_facts', 'pending_changes', 'report_state', 'spend_daily', 'spend_monthly'],
          'the stores are tables');
SELECT is_empty($$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lk_mrep'::regnamespace AND c.relkind = 'r' AND c.relname <> '_lk_stores'
                     AND NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid AND i.inhparent = 'lk_mrep._lk_stores'::regclass)$$,
                'each inherits from the schema''s anchor, a table of the extension''s report_store type');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'lk_mrep'::regnamespace AND relkind = 'm'), 0::bigint,
          'no materialized view: nothing blocks a reader during a refresh');

-- filled at creation: stored = live = plain
SELECT results_eq($$SELECT leads, conversions, cost FROM lk_mrep.kpi_overview$$,
                  $$SELECT count(*), count(converted_at), (SELECT sum(amount) FROM lk_mat.spend) FROM lk_mat.leads$$,
                  'the stored overview holds every lead and every day of spend after creation');
SELECT results_eq($$SELECT * FROM lk_mrep.kpi_overview_live$$, $$SELECT * FROM lk_plain.kpi_overview$$,
                  'the live overview equals the plain report');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_campaign_live$$, $$SELECT * FROM lk_plain.kpi_by_campaign$$,
              'live per campaign equals the plain report');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_month$$, $$SELECT * FROM lk_plain.kpi_by_month$$,
              'stored per month equals the plain report');

-- changes: live at once, stored after a refresh; also a conversion of a
-- lead first contacted weeks ago, and spend of an earlier day
INSERT INTO lk_mat.leads VALUES (1001, now(), 'c9', 'web', NULL), (1002, now() - interval '1 day', 'c9', 'web', NULL);
UPDATE lk_mat.leads SET converted_at = now() WHERE lead_id = 37;
INSERT INTO lk_mat.spend VALUES ('c1', current_date - 20, 1000);
SELECT is((SELECT leads FROM lk_mrep.kpi_by_campaign_live WHERE campaign = 'c9'), 2::bigint, 'new leads are live at once');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_campaign_live$$, $$SELECT * FROM lk_plain.kpi_by_campaign$$,
              'the conversion of an older lead and late spend are live at once too');
SELECT is((SELECT count(*) FROM lk_mrep.kpi_by_campaign WHERE campaign = 'c9'), 0::bigint, 'the stored report waits for a refresh');
SELECT is((SELECT array_agg(r::text) FROM refresh_reports('lk_mrep') AS r),
          ARRAY['lk_mrep.lead_facts', 'lk_mrep.kpi_daily', 'lk_mrep.spend_daily', 'lk_mrep.kpi_monthly', 'lk_mrep.spend_monthly'],
          'refresh_reports returns the stores it keeps');
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
             AND classid::int = hashtext('leadkpi reports') AND objid::int = hashtext('lk_mrep')), 1::bigint,
          'refresh_reports holds the schema''s advisory lock until the transaction ends');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_campaign$$, $$SELECT * FROM lk_plain.kpi_by_campaign$$,
              'after the refresh the stored report has every change');
SELECT is((SELECT (last_refresh ->> 'leads_changed')::int FROM lk_mrep.report_status), 3,
          'the refresh looked at the three changed leads only');
SELECT throws_ok($$SELECT refresh_reports('lk_plain')$$, '42P01', NULL, 'refresh_reports on plain reports says so');
INSERT INTO lk_mat.leads VALUES (9001, '2024-03-05 10:00+00', 'a', 'x', NULL);
SET leadkpi.refresh_all_keys_fraction = 'lots';
SELECT throws_ok($$SELECT refresh_reports('lk_mrep')$$, '22023', NULL,
                 'a leadkpi.refresh_all_keys_fraction that is not a number is refused (22023)');
RESET leadkpi.refresh_all_keys_fraction;

-- a lead without lead_id: materialized reports refuse it (their stores key
-- by lead), in the first fill and in a full rebuild
CREATE TABLE lk_mat.leads_noid AS SELECT * FROM lk_mat.leads;
INSERT INTO lk_mat.leads_noid VALUES (NULL, '2024-03-01 10:00+00', 'a', 'x', NULL);
SELECT throws_ok($$SELECT create_reports('lk_noid', 'lk_mat.leads_noid', materialized => true)$$, '23502', NULL,
                 'a lead without lead_id is refused by the first fill (23502)');
DELETE FROM lk_mat.leads_noid WHERE lead_id IS NULL;
SELECT create_reports('lk_noid', 'lk_mat.leads_noid', materialized => true) \g /dev/null
INSERT INTO lk_mat.leads_noid VALUES (NULL, '2024-03-02 10:00+00', 'b', 'y', NULL);
SELECT throws_ok($$SELECT refresh_reports('lk_noid', full => true)$$, '23502', NULL,
                 'and by a full rebuild');

-- a lead_id twice: refused by the first fill and by the refresh after it
-- arrives (23505), not counted once
CREATE TABLE lk_mat.leads_dup AS SELECT * FROM lk_mat.leads;
INSERT INTO lk_mat.leads_dup SELECT * FROM lk_mat.leads ORDER BY lead_id LIMIT 1;
SELECT throws_ok($$SELECT create_reports('lk_dup', 'lk_mat.leads_dup', materialized => true)$$, '23505', NULL,
                 'a lead_id twice is refused by the first fill (23505)');
DELETE FROM lk_mat.leads_dup WHERE ctid = (SELECT max(ctid) FROM lk_mat.leads_dup);
SELECT create_reports('lk_dup', 'lk_mat.leads_dup', materialized => true) \g /dev/null
INSERT INTO lk_mat.leads_dup SELECT lead_id, first_contact_at + interval '1 day', campaign, channel, converted_at
  FROM lk_mat.leads ORDER BY lead_id LIMIT 1;
SELECT throws_ok($$SELECT refresh_reports('lk_dup')$$, '23505', NULL,
                 'and by the refresh after a second row of a lead arrives');

SELECT * FROM finish();
ROLLBACK;
