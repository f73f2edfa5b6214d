-- The report views are security_invoker: row-level security and grants on
-- the CRM tables apply to whoever reads a report.  A re-run gives back the
-- grants other roles held on the reports it replaced.
BEGIN;
SELECT plan(11);
SET LOCAL TimeZone = 'UTC';

CREATE ROLE lk_rls_alice NOLOGIN;
CREATE ROLE lk_rls_bob NOLOGIN;
CREATE ROLE lk_rls_eve NOLOGIN;
CREATE SCHEMA lk_sec;
CREATE TABLE lk_sec.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text,
                           converted_at timestamptz, owner name);
INSERT INTO lk_sec.leads
SELECT i, timestamptz '2024-01-01' + i * interval '1 day', 'c' || (i % 2), 'web',
       CASE WHEN i % 3 = 0 THEN timestamptz '2024-01-01' + i * interval '1 day' + interval '4 days' END,
       CASE WHEN i <= 7 THEN 'lk_rls_alice' ELSE 'lk_rls_bob' END
FROM generate_series(1, 20) AS i;
CREATE TABLE lk_sec.spend (campaign text, day date, amount numeric, owner name);
INSERT INTO lk_sec.spend VALUES ('c0', '2024-01-01', 10, 'lk_rls_alice'), ('c1', '2024-01-01', 100, 'lk_rls_bob');
ALTER TABLE lk_sec.leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE lk_sec.spend ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_leads ON lk_sec.leads USING (owner = current_user);
CREATE POLICY own_spend ON lk_sec.spend USING (owner = current_user);

SELECT lives_ok($$SELECT create_reports('lk_sec_rep', 'lk_sec.leads', spend => 'lk_sec.spend')$$, 'reports over RLS tables');
GRANT USAGE ON SCHEMA lk_sec, lk_sec_rep TO lk_rls_alice, lk_rls_bob, lk_rls_eve;
GRANT SELECT ON ALL TABLES IN SCHEMA lk_sec_rep TO lk_rls_alice, lk_rls_bob, lk_rls_eve;
GRANT SELECT ON lk_sec.leads, lk_sec.spend TO lk_rls_alice, lk_rls_bob;

SET LOCAL ROLE lk_rls_alice;
SELECT results_eq('SELECT leads, conversions, cost FROM lk_sec_rep.kpi_overview',
                  $$VALUES (7::bigint, 2::bigint, 10::numeric)$$, 'alice sees only her 7 leads, 2 conversions and her spend');
SELECT results_eq('SELECT campaign, leads FROM lk_sec_rep.kpi_by_campaign ORDER BY campaign',
                  $$VALUES ('c0', 3::bigint), ('c1', 4::bigint)$$, 'alice per campaign');
RESET ROLE;

SET LOCAL ROLE lk_rls_bob;
SELECT results_eq('SELECT leads, conversions, cost FROM lk_sec_rep.kpi_overview',
                  (SELECT format('VALUES (%s::bigint, %s::bigint, 100::numeric)', count(*), count(converted_at))
                     FROM lk_sec.leads WHERE owner = 'lk_rls_bob'),
                  'bob sees only his leads and spend');
RESET ROLE;

-- eve may read the reports but not the CRM tables: the view does not lend
-- her its owner's rights
SET LOCAL ROLE lk_rls_eve;
SELECT throws_ok('SELECT * FROM lk_sec_rep.kpi_overview', '42501', NULL, 'without SELECT on the CRM table, the report is denied');
RESET ROLE;

SELECT is((SELECT leads FROM lk_sec_rep.kpi_overview), 20::bigint, 'a superuser (bypasses RLS) sees all 20 leads');

-- the canonical report_leads view carries the same rule
SET LOCAL ROLE lk_rls_alice;
SELECT is((SELECT count(*) FROM lk_sec_rep.report_leads), 7::bigint, 'report_leads is filtered for alice too');
RESET ROLE;
SELECT ok((SELECT bool_and(c.reloptions @> ARRAY['security_invoker=true']) FROM pg_class c
            WHERE c.relnamespace = 'lk_sec_rep'::regnamespace AND c.relkind = 'v'), 'all views are security_invoker');

-- a re-run keeps the grants given on the reports it replaces
CREATE ROLE lk_sec_bi;
CREATE TABLE lk_sec.late (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_sec.late VALUES (1, '2024-01-31 23:30+00', 'c', 'web', NULL);
SELECT count(*) FROM create_reports('lk_sec_re', 'lk_sec.late', time_zone => 'UTC') \g /dev/null
GRANT SELECT ON lk_sec_re.kpi_overview, lk_sec_re.kpi_by_month TO lk_sec_bi;
SELECT lives_ok($$SELECT create_reports('lk_sec_re', 'lk_sec.late', time_zone => 'UTC')$$, 're-run');
SELECT ok(has_table_privilege('lk_sec_bi', 'lk_sec_re.kpi_overview', 'SELECT') AND has_table_privilege('lk_sec_bi', 'lk_sec_re.kpi_by_month', 'SELECT')
          AND NOT has_table_privilege('lk_sec_bi', 'lk_sec_re.kpi_by_channel', 'SELECT'),
          'the grants on the replaced reports are given again, and only those');
SELECT ok((SELECT count(*) FROM create_reports('lk_sec_re', 'lk_sec.late', materialized => true, time_zone => 'UTC')) > 0
          AND has_table_privilege('lk_sec_bi', 'lk_sec_re.kpi_overview', 'SELECT'),
          'also when the re-run makes them materialized');

SELECT * FROM finish();
ROLLBACK;
