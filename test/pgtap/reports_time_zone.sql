-- Days and months are cut in one time zone (time_zone, default the TimeZone
-- at creation), whoever reads or refreshes the reports; an unknown time zone
-- is refused.  The spend rows carry one without a day, which every report
-- leaves out.
BEGIN;
SELECT plan(12);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_tz;
-- a lead every hour for the last 48 hours, and spend for the last 3 days
CREATE TABLE lk_tz.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_tz.leads SELECT h, now() - h * interval '1 hour', 'c' || (h % 2), 'web', NULL FROM generate_series(0, 48) h;
CREATE TABLE lk_tz.spend (campaign text, day date, amount numeric);
INSERT INTO lk_tz.spend VALUES ('c0', current_date, 1), ('c0', current_date - 1, 2), ('c1', current_date - 2, 4), ('c1', NULL, 100);

SELECT lives_ok($$SELECT create_reports('lk_tzm', 'lk_tz.leads', spend => 'lk_tz.spend', materialized => true, time_zone => 'UTC')$$,
                'materialized reports cut in UTC');
SELECT lives_ok($$SELECT create_reports('lk_tzp', 'lk_tz.leads', spend => 'lk_tz.spend', time_zone => 'UTC')$$, 'plain reports cut in UTC');

SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq('SELECT leads, cost FROM lk_tzm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'read in Tokyo: the live overview counts every lead once');
SET LOCAL TimeZone = 'America/Los_Angeles';
SELECT results_eq('SELECT leads, cost FROM lk_tzm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'read in Los Angeles: the same');
SELECT results_eq('SELECT leads, cost FROM lk_tzp.kpi_overview', $$VALUES (49::bigint, 7::numeric)$$,
                  'the plain overview: the same, spend without a day left out');
SELECT lives_ok($$SELECT refresh_reports('lk_tzm')$$, 'refresh in Los Angeles');
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT max(day) FROM lk_tzm.kpi_daily), (now() AT TIME ZONE 'UTC')::date,
          'the stores cut days at midnight UTC, not in the TimeZone of the refresh');
SELECT results_eq('SELECT leads, cost FROM lk_tzm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'after that refresh, still every lead and every day once');

-- months: the same instant is January in UTC and February in Berlin
CREATE TABLE lk_tz.late (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_tz.late VALUES (1, '2024-01-31 23:30+00', 'c', 'web', NULL);
SELECT lives_ok($$SELECT create_reports('lk_tzu', 'lk_tz.late', time_zone => 'UTC')$$, 'reports in UTC');
SELECT lives_ok($$SELECT create_reports('lk_tzb', 'lk_tz.late', time_zone => 'Europe/Berlin')$$, 'reports in Berlin');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq($$SELECT (SELECT month FROM lk_tzu.kpi_by_month), (SELECT month FROM lk_tzb.kpi_by_month)$$,
                  $$VALUES (date '2024-01-01', date '2024-02-01')$$, 'kpi_by_month follows time_zone, not the reader');
SET LOCAL TimeZone = 'UTC';
SELECT throws_ok($$SELECT create_reports('lk_tzx', 'lk_tz.late', time_zone => 'Mars/Olympus')$$, '22023', NULL, 'an unknown time zone');

SELECT * FROM finish();
ROLLBACK;
