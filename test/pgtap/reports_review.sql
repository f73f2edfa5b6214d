-- reports_review: report-layer behaviour fixed after a review.  Days and
-- months are cut in one time zone (time_zone, default the TimeZone at
-- creation) whoever reads or refreshes; spend without a day is left out
-- everywhere; the overview has its row on empty inputs; an input cannot be
-- a view the call replaces; presets reject a history table they cannot read
-- and credit deals to live contacts; funnel_steps ignores the caller's
-- operators; create, drop and refresh take a per-schema lock.
BEGIN;
SELECT plan(20);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_rv;
-- a lead every hour for the last 48 hours, and spend for the last 3 days
CREATE TABLE lk_rv.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_rv.leads SELECT h, now() - h * interval '1 hour', 'c' || (h % 2), 'web', NULL FROM generate_series(0, 48) h;
CREATE TABLE lk_rv.spend (campaign text, day date, amount numeric);
INSERT INTO lk_rv.spend VALUES ('c0', current_date, 1), ('c0', current_date - 1, 2), ('c1', current_date - 2, 4), ('c1', NULL, 100);

SELECT lives_ok($$SELECT create_reports('lk_rvm', 'lk_rv.leads', spend => 'lk_rv.spend', materialized => true, time_zone => 'UTC')$$,
                'materialized reports cut in UTC');
SELECT lives_ok($$SELECT create_reports('lk_rvp', 'lk_rv.leads', spend => 'lk_rv.spend', time_zone => 'UTC')$$, 'plain reports cut in UTC');

SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq('SELECT leads, cost FROM lk_rvm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'read in Tokyo: the live overview counts every lead once');
SET LOCAL TimeZone = 'America/Los_Angeles';
SELECT results_eq('SELECT leads, cost FROM lk_rvm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'read in Los Angeles: the same');
SELECT results_eq('SELECT leads, cost FROM lk_rvp.kpi_overview', $$VALUES (49::bigint, 7::numeric)$$,
                  'the plain overview: the same, spend without a day left out');
SELECT lives_ok($$SELECT refresh_reports('lk_rvm')$$, 'refresh in Los Angeles');
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT stored_before FROM lk_rvm.kpi_watermark), (now() AT TIME ZONE 'UTC')::date,
          'the refresh cut the stores at midnight UTC, not in its own TimeZone');
SELECT results_eq('SELECT leads, cost FROM lk_rvm.kpi_overview_live', $$VALUES (49::bigint, 7::numeric)$$,
                  'after that refresh, still every lead and every day once');
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
             AND classid::int = hashtext('leadkpi reports') AND objid::int = hashtext('lk_rvm')), 1::bigint,
          'refresh_reports holds the schema''s advisory lock until the transaction ends');

-- months: the same instant is January in UTC and February in Berlin
CREATE TABLE lk_rv.late (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_rv.late VALUES (1, '2024-01-31 23:30+00', 'c', 'web', NULL);
SELECT lives_ok($$SELECT create_reports('lk_rvu', 'lk_rv.late', time_zone => 'UTC')$$, 'reports in UTC');
SELECT lives_ok($$SELECT create_reports('lk_rvb', 'lk_rv.late', time_zone => 'Europe/Berlin')$$, 'reports in Berlin');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq($$SELECT (SELECT month FROM lk_rvu.kpi_by_month), (SELECT month FROM lk_rvb.kpi_by_month)$$,
                  $$VALUES (date '2024-01-01', date '2024-02-01')$$, 'kpi_by_month follows time_zone, not the reader');
SET LOCAL TimeZone = 'UTC';
SELECT throws_ok($$SELECT create_reports('lk_rvx', 'lk_rv.late', time_zone => 'Mars/Olympus')$$, '22023', NULL, 'an unknown time zone');

-- the overview on empty inputs
CREATE TABLE lk_rv.nobody (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
SELECT lives_ok($$SELECT create_reports('lk_rve', 'lk_rv.nobody')$$, 'reports over an empty table');
SELECT results_eq('SELECT leads, conversions, conversion_rate FROM lk_rve.kpi_overview', $$VALUES (0::bigint, 0::bigint, NULL::float8)$$,
                  'the overview has its row, with zero counts');

-- a re-run keeps the grants given on the reports it replaces
CREATE ROLE lk_rv_bi;
GRANT SELECT ON lk_rvu.kpi_overview, lk_rvu.kpi_by_month TO lk_rv_bi;
SELECT lives_ok($$SELECT create_reports('lk_rvu', 'lk_rv.late', time_zone => 'UTC')$$, 're-run');
SELECT ok(has_table_privilege('lk_rv_bi', 'lk_rvu.kpi_overview', 'SELECT') AND has_table_privilege('lk_rv_bi', 'lk_rvu.kpi_by_month', 'SELECT')
          AND NOT has_table_privilege('lk_rv_bi', 'lk_rvu.kpi_by_channel', 'SELECT'),
          'the grants on the replaced reports are given again, and only those');
SELECT ok((SELECT count(*) FROM create_reports('lk_rvu', 'lk_rv.late', materialized => true, time_zone => 'UTC')) > 0
          AND has_table_privilege('lk_rv_bi', 'lk_rvu.kpi_overview', 'SELECT'),
          'also when the re-run makes them materialized');

-- an input that is one of the views being replaced
SELECT throws_ok($$SELECT create_reports('lk_rvp', 'lk_rvp.report_leads')$$, '22023', NULL, 'an input cannot be a report view of the target');

-- funnel_steps resolves its operators in pg_catalog, not on the caller's path
CREATE SCHEMA lk_evil;
CREATE FUNCTION lk_evil.gt(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR lk_evil.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = lk_evil.gt);
SET LOCAL search_path = lk_evil, pg_catalog, public;
SELECT is((SELECT count(conversion_from_previous) FROM funnel_steps(funnel_agg(1::bigint, t, s, interval '1 day'))),
          1::bigint, 'funnel_steps ignores an operator > earlier on the search_path')
FROM (VALUES (timestamptz '2024-01-01', 1), (timestamptz '2024-01-02', 2)) AS v(t, s);

SELECT * FROM finish();
ROLLBACK;
