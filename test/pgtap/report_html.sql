-- report_html(): one self-contained document over a report schema.  Every
-- printed figure carries its view, row key, column and exact value, and
-- equals the view; CRM labels are escaped; the document is well-formed
-- (XHTML-compatible: xmlparse) and has no script, no external reference.
-- The browser test (layout at 1280 and 390 px, tidy) is make test-html.
BEGIN;
SELECT plan(19);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

CREATE SCHEMA lk_h;
CREATE TABLE lk_h.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz, revenue numeric);
INSERT INTO lk_h.leads
SELECT i, timestamptz '2024-01-01' + (i % 150) * interval '1 day',
       (ARRAY['<script>alert(1)</script>', 'Tom & Jerry''s "deal"', 'plain', NULL, E'bell\u0007'])[1 + i % 5],
       'web', CASE WHEN i % 4 = 0 THEN timestamptz '2024-01-01' + (i % 150 + i % 9) * interval '1 day' END,
       CASE WHEN i % 4 = 0 THEN 99.995 + i END
FROM generate_series(1, 300) AS i;
CREATE TABLE lk_h.spend (campaign text, day date, amount numeric);
INSERT INTO lk_h.spend SELECT (ARRAY['<script>alert(1)</script>', 'Tom & Jerry''s "deal"', 'plain'])[1 + d % 3], date '2024-01-01' + d, 12.345
FROM generate_series(0, 140) AS d;
CREATE TABLE lk_h.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO lk_h.events SELECT lead_id, 'lead', first_contact_at FROM lk_h.leads;
INSERT INTO lk_h.events SELECT lead_id, '<b>won</b>', converted_at FROM lk_h.leads WHERE converted_at IS NOT NULL;
SELECT create_reports('lk_hr', 'lk_h.leads', spend => 'lk_h.spend', stage_events => 'lk_h.events', stages => '{lead,<b>won</b>}');

CREATE TEMP TABLE doc AS SELECT report_html('lk_hr') AS html;
SELECT ok((SELECT html LIKE '<!DOCTYPE html>%' AND xml_is_well_formed_document(html) FROM doc), 'a well-formed document');
SELECT ok((SELECT html NOT ILIKE '%<script%' AND html NOT ILIKE '%src=%' AND html NOT ILIKE '%href=%' AND html NOT ILIKE '%url(%' FROM doc),
          'no script element, no external reference');
SELECT ok((SELECT html LIKE '%&lt;script&gt;alert(1)&lt;/script&gt;%' AND html LIKE '%Tom &amp; Jerry&#39;s &quot;deal&quot;%'
                  AND html LIKE '%&lt;b&gt;won&lt;/b&gt;%' FROM doc), 'campaign and stage names are escaped');
-- the figures: (view, key, column, exact value) from the data attributes
CREATE TEMP VIEW figs AS
SELECT m[1] AS view, m[2] AS key, m[3] AS col, m[4] AS value, m[5] AS printed
FROM doc, regexp_matches(html, 'data-view="([^"]*)"(?: data-key="([^"]*)")? data-col="([^"]*)" data-value="([^"]*)">([^<]*)<', 'g') AS m;
CREATE FUNCTION pg_temp.unhtml(s text) RETURNS text LANGUAGE sql AS
$$ SELECT replace(replace(replace(replace(replace(s, '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''), '&amp;', '&') $$;
SELECT cmp_ok((SELECT count(*) FROM figs), '>=', 4 + 8 + 3 * 2 + 4 * 3::bigint, 'the tiles, the trend months, the funnel and the campaigns are figures');
-- every figure equals its view's value (floats compared as float8, the rest as numeric)
SELECT is_empty($$
    SELECT f.* FROM figs f, LATERAL (SELECT to_jsonb(v) AS j FROM lk_hr.kpi_overview v) o
    WHERE f.view = 'kpi_overview' AND (o.j ->> f.col) IS DISTINCT FROM nullif(f.value, '')
$$, 'the overview figures are kpi_overview''s values');
SELECT is_empty($$
    SELECT f.* FROM figs f JOIN lk_hr.kpi_by_month m ON m.month::text = f.key
    WHERE f.view = 'kpi_by_month' AND (to_jsonb(m) ->> f.col) IS DISTINCT FROM nullif(f.value, '')
$$, 'the trend figures are kpi_by_month''s values');
SELECT is((SELECT count(*) FROM figs f JOIN lk_hr.kpi_by_month m ON m.month::text = f.key WHERE f.view = 'kpi_by_month'),
          (SELECT count(*) FROM figs WHERE view = 'kpi_by_month'), 'every trend figure has its month');
SELECT is_empty($$
    SELECT f.* FROM figs f JOIN lk_hr.funnel_report r ON r.step::text = f.key
    WHERE f.view = 'funnel_report' AND (to_jsonb(r) ->> f.col) IS DISTINCT FROM nullif(f.value, '')
$$, 'the funnel figures are funnel_report''s values');
SELECT is_empty($$
    SELECT f.* FROM figs f LEFT JOIN lk_hr.kpi_by_campaign c
        ON regexp_replace(c.campaign, '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', U&'\FFFD', 'g') IS NOT DISTINCT FROM pg_temp.unhtml(f.key)
    WHERE f.view = 'kpi_by_campaign' AND (c.leads IS NULL OR (to_jsonb(c) ->> f.col) IS DISTINCT FROM nullif(f.value, ''))
$$, 'the campaign figures are kpi_by_campaign''s values (the escaped names found again; control characters as U+FFFD)');
-- printed: the exact value rounded for display
SELECT is_empty($$
    SELECT * FROM figs WHERE value <> '' AND
      replace(replace(replace(printed, ',', ''), ' %', ''), ' d', '')::numeric
      <> round(value::numeric * CASE WHEN printed LIKE '% \%%' THEN 100 ELSE 1 END, CASE WHEN printed LIKE '% \%%' OR printed LIKE '% d' THEN 1 ELSE 2 END)
$$, 'each printed number is its value, rounded for display');
SELECT ok((SELECT html LIKE '%time zone UTC%' AND html LIKE '%<time>2024-01</time> to <time>2024-05</time>%' FROM doc), 'the time zone and the period covered');
-- spend in a month without leads: the period covered is still the months with leads
INSERT INTO lk_h.spend VALUES ('plain', '2023-11-15', 10);
SELECT ok((SELECT report_html('lk_hr') LIKE '%<time>2024-01</time> to <time>2024-05</time>%'), 'the period covered: the months with leads, not a month of spend only');
SELECT throws_ok($$SELECT report_html('lk_hr', period => 'week')$$, '22023', NULL, 'an unknown period is 22023');
-- the leads without a campaign: their row, its figures without a row key
SELECT is((SELECT count(*) FROM figs WHERE view = 'kpi_by_campaign' AND key IS NULL), 7::bigint,
          'the leads without a campaign: 7 figures without data-key');
SELECT ok((SELECT html LIKE '%<th scope="row"><em>(no campaign)</em></th>%' FROM doc), 'shown as (no campaign)');
-- a control character (not allowed in HTML) is the replacement character
SELECT ok((SELECT html NOT LIKE E'%\u0007%' AND html LIKE E'%bell\uFFFD%' FROM doc), 'control characters become U+FFFD');
-- the overview says how much of the spend cost per lead and per order divide
SELECT is((SELECT value FROM figs WHERE view = 'kpi_overview' AND col = 'cost_matched'),
          (SELECT cost_matched::text FROM lk_hr.kpi_overview), 'the overview shows the spend matched to leads (cost_matched)');
-- without spend, a sentence instead of a dash
SELECT create_reports('lk_hr_nospend', 'lk_h.leads');
SELECT ok((SELECT report_html('lk_hr_nospend') LIKE '%No spend: cost per lead and per order need the spend input%'), 'without spend: says so');
-- reports of an earlier version, without the columns report_html reads
CREATE SCHEMA lk_hr_old;
CREATE VIEW lk_hr_old.kpi_overview AS SELECT leads, conversions FROM lk_hr.kpi_overview;
CREATE VIEW lk_hr_old.kpi_by_month AS SELECT month, leads FROM lk_hr.kpi_by_month;
CREATE VIEW lk_hr_old.kpi_by_campaign AS SELECT campaign, leads FROM lk_hr.kpi_by_campaign;
CREATE VIEW lk_hr_old.funnel_report AS SELECT step, stage, reached FROM lk_hr.funnel_report;
SELECT throws_ok($$SELECT report_html('lk_hr_old')$$, '55000',
                 'leadkpi: the reports in schema lk_hr_old were made by an earlier leadkpi, without the columns report_html reads',
                 'reports of an earlier version: 55000, re-run create_reports');

SELECT * FROM finish();
ROLLBACK;
