-- materialized => true: stores of per-day summaries, materialized reports
-- with unique indexes, refresh_reports() (concurrently, under the schema's
-- advisory lock), and the live variants that add today's rows to the stored
-- finished days.
BEGIN;
SELECT plan(14);
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

SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class WHERE relnamespace = 'lk_mrep'::regnamespace AND relkind = 'm'),
          ARRAY['kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'kpi_daily', 'kpi_overview', 'kpi_watermark', 'spend_daily'],
          'stores and reports are materialized views');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lk_mrep'::regnamespace AND c.relkind = 'm'
       AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL)
$$, 'each materialized view has a plain unique index (needed by REFRESH ... CONCURRENTLY)');

-- stored = finished days only; live = stored + today
SELECT results_eq($$SELECT leads, conversions, cost FROM lk_mrep.kpi_overview$$,
                  $$SELECT count(*), count(converted_at), (SELECT sum(amount) FROM lk_mat.spend WHERE day < current_date)
                    FROM lk_mat.leads WHERE first_contact_at < current_date$$,
                  'the materialized overview holds the days before today');
SELECT results_eq($$SELECT * FROM lk_mrep.kpi_overview_live$$, $$SELECT * FROM lk_plain.kpi_overview$$,
                  'the live overview equals the plain report (stored days + today live)');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_campaign_live$$, $$SELECT * FROM lk_plain.kpi_by_campaign$$,
              'live per campaign equals the plain report');
SELECT set_eq($$SELECT * FROM lk_mrep.kpi_by_month_live$$, $$SELECT * FROM lk_plain.kpi_by_month$$,
              'live per month equals the plain report');

-- new rows: today's show up live at once, yesterday's after a refresh
INSERT INTO lk_mat.leads VALUES (1001, now(), 'c9', 'web', NULL), (1002, now() - interval '1 day', 'c9', 'web', NULL);
SELECT is((SELECT leads FROM lk_mrep.kpi_by_campaign_live WHERE campaign = 'c9'), 1::bigint, 'today''s new lead is live at once');
SELECT is((SELECT count(*) FROM lk_mrep.kpi_by_campaign WHERE campaign = 'c9'), 0::bigint, 'the stored report waits for a refresh');
SELECT is((SELECT array_agg(r::text) FROM refresh_reports('lk_mrep') AS r),
          ARRAY['lk_mrep.kpi_watermark', 'lk_mrep.kpi_daily', 'lk_mrep.spend_daily', 'lk_mrep.kpi_overview',
                'lk_mrep.kpi_by_campaign', 'lk_mrep.kpi_by_channel', 'lk_mrep.kpi_by_month'],
          'refresh_reports refreshes stores first, concurrently');
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
             AND classid::int = hashtext('leadkpi reports') AND objid::int = hashtext('lk_mrep')), 1::bigint,
          'refresh_reports holds the schema''s advisory lock until the transaction ends');
SELECT results_eq($$SELECT leads FROM lk_mrep.kpi_by_campaign WHERE campaign = 'c9'
                    UNION ALL SELECT leads FROM lk_mrep.kpi_by_campaign_live WHERE campaign = 'c9'$$,
                  $$VALUES (1::bigint), (2::bigint)$$, 'after the refresh: yesterday stored, today live');
SELECT throws_ok($$SELECT refresh_reports('lk_plain')$$, '42P01', NULL, 'refresh_reports on plain reports says so');

SELECT * FROM finish();
ROLLBACK;
