-- summary_equality: = and <> on kpi_summary and funnel_summary, and the hash
-- opclass behind DISTINCT, UNION, GROUP BY and hash joins.  Two summaries are
-- equal when they hold the same figures, i.e. print the same.
BEGIN;
SELECT plan(12);
SET LOCAL TimeZone = 'UTC';

\ir include/kpi_data.sql

CREATE TEMP TABLE daily AS
SELECT campaign, (first_contact AT TIME ZONE 'UTC')::date AS day,
       kpi_agg(first_contact, converted_at, revenue) AS s
FROM tap_leads GROUP BY 1, 2;

SELECT ok((SELECT rollup(s) FROM daily) = (SELECT kpi_agg(first_contact, converted_at, revenue) FROM tap_leads),
          'rollup of the daily summaries = the summary of all rows');
SELECT ok((SELECT rollup(s ORDER BY day DESC, campaign) FROM daily) = (SELECT rollup(s ORDER BY day, campaign) FROM daily),
          'rollup is order-free under =');
SELECT ok((SELECT rollup(s) FROM daily WHERE campaign = 'c1') <> (SELECT rollup(s) FROM daily WHERE campaign = 'c2'),
          'different campaigns: <>');
SELECT is((SELECT kpi_agg(first_contact, converted_at) FROM tap_leads) = NULL::kpi_summary, NULL, '= is strict');
SELECT ok(kpi_agg(t, t, 1.5) <> kpi_agg(t, t, 1.50),
          'amounts of another scale print differently, so they differ')
FROM (VALUES (timestamptz '2024-01-01')) AS x(t);

SELECT is((SELECT count(*) FROM (SELECT s FROM daily UNION SELECT s FROM daily) u),
          (SELECT count(DISTINCT s::text) FROM daily), 'UNION removes exactly the summaries that print the same');
SELECT is((SELECT count(*) FROM (SELECT s FROM daily GROUP BY s) g),
          (SELECT count(DISTINCT s::text) FROM daily), 'GROUP BY a summary');
SELECT is((SELECT count(*) FROM daily a JOIN daily b ON a.s = b.s),
          (SELECT count(*) FROM daily a JOIN daily b ON a.s::text = b.s::text), 'hash join on =');
SELECT is((SELECT count(*) FROM daily a JOIN daily b ON a.s = b.s WHERE kpi_summary_hash(a.s) <> kpi_summary_hash(b.s)),
          0::bigint, 'equal summaries hash alike');

-- funnels: per-campaign summaries roll up to the global one (disjoint leads)
CREATE TEMP TABLE ev AS
SELECT l.campaign, g AS lead, timestamptz '2024-01-01' + (g % 97) * interval '1 day' + k * interval '2 days' AS ts, k AS step
FROM generate_series(1, 400) g JOIN (SELECT DISTINCT ON (id) id, campaign FROM tap_leads) l ON l.id = g % 50,
     generate_series(1, 4) k
WHERE k <= 1 + g % 4;
SELECT ok((SELECT rollup(f) FROM (SELECT funnel_agg(lead, ts, step, interval '30 days') AS f FROM ev GROUP BY campaign) c)
          = (SELECT funnel_agg(lead, ts, step, interval '30 days') FROM ev),
          'funnel_summary: rollup per campaign = the global funnel');
SELECT is((SELECT count(*) FROM (SELECT funnel_agg(lead, ts, step, interval '30 days') AS f FROM ev GROUP BY campaign
                                 UNION SELECT funnel_agg(lead, ts, step, interval '30 days') FROM ev GROUP BY campaign) u),
          (SELECT count(DISTINCT f::text) FROM (SELECT funnel_agg(lead, ts, step, interval '30 days') AS f FROM ev GROUP BY campaign) c),
          'funnel_summary: UNION');
SELECT ok((SELECT funnel_agg(lead, ts, step, interval '30 days') FROM ev)
          <> (SELECT funnel_agg(lead, ts, step, interval '31 days') FROM ev), 'funnel_summary: another window differs');

SELECT * FROM finish();
ROLLBACK;
