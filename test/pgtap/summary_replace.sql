-- summary_replace: _lk_replace(stored, old, new), what the live rows and the
-- refresh of materialized reports derive a changed key's summary with, must
-- be exactly the summary of the key's rows after the change (text: every
-- count, sum, extreme, scale and sketch bucket), computed here from the rows
-- themselves; and NULL, never a wrong summary, where the summaries of the
-- changed rows alone cannot tell (the shortest or longest cycle or the
-- revenue's largest scale removed and not restored, old not a part of
-- stored, nothing left).
BEGIN;
SELECT plan(23);
SET LOCAL TimeZone = 'UTC';
SELECT setseed(0.25);

-- 4,000 leads in 40 keys: cycles from zero to months, some closed before
-- first contact (excluded), some not converted; revenue at scales 0 to 3
CREATE TABLE sr_leads AS
SELECT l AS lead_id, l % 40 AS k, fc,
       CASE WHEN random() < 0.6 THEN fc + (CASE WHEN random() < 0.05 THEN -1 WHEN random() < 0.05 THEN 0 ELSE 1 END)
                                          * (exp(random() * 25) - 1) * interval '1 microsecond' END AS conv,
       CASE WHEN random() < 0.8 THEN round((random() * 5000)::numeric, (l % 4)) END AS revenue
FROM generate_series(1, 4000) l, LATERAL (SELECT timestamptz '2025-01-01' + random() * interval '300 days' + l * interval '0') AS t(fc);
-- a change: 15% of the leads move to another key, convert, un-convert or
-- get another revenue; 2% are deleted; 200 leads are new
CREATE TABLE sr_changed AS
SELECT lead_id FROM sr_leads WHERE random() < 0.17;
CREATE TABLE sr_after AS
SELECT l.lead_id,
       CASE WHEN r < 0.3 THEN (l.k + 7) % 40 ELSE l.k END AS k, l.fc,
       CASE WHEN r >= 0.3 AND r < 0.6 THEN l.fc + (exp(random() * 25) - 1) * interval '1 microsecond'
            WHEN r >= 0.6 AND r < 0.7 THEN NULL ELSE l.conv END AS conv,
       CASE WHEN r >= 0.7 THEN round((random() * 5000)::numeric, (l.lead_id % 3)) ELSE l.revenue END AS revenue
FROM sr_leads AS l JOIN sr_changed USING (lead_id), LATERAL (SELECT random() + l.lead_id * 0) AS x(r)
WHERE r < 0.88
UNION ALL
SELECT 10000 + n, n % 40, timestamptz '2025-11-01' + n * interval '1 hour',
       CASE WHEN n % 3 = 0 THEN timestamptz '2025-11-01' + n * interval '1 hour' + n * interval '1 day' END,
       CASE WHEN n % 2 = 0 THEN 100.5 END
FROM generate_series(1, 200) n;
CREATE TABLE sr_now AS
SELECT * FROM sr_leads WHERE lead_id NOT IN (SELECT lead_id FROM sr_changed)
UNION ALL SELECT * FROM sr_after;

CREATE TABLE sr_kpi AS
SELECT k,
       (SELECT kpi_agg(fc, conv, revenue) FROM sr_leads AS l WHERE l.k = g.k) AS stored,
       (SELECT kpi_agg(fc, conv, revenue) FROM sr_leads AS l WHERE l.k = g.k AND l.lead_id IN (SELECT lead_id FROM sr_changed)) AS old,
       (SELECT kpi_agg(fc, conv, revenue) FROM sr_after AS l WHERE l.k = g.k) AS new,
       (SELECT kpi_agg(fc, conv, revenue) FROM sr_now AS l WHERE l.k = g.k) AS expected
FROM generate_series(0, 39) AS g(k);
ALTER TABLE sr_kpi ADD COLUMN got kpi_summary;
UPDATE sr_kpi SET got = _lk_replace(stored, old, new);

SELECT is((SELECT count(*) FROM sr_kpi WHERE got IS NOT NULL AND got::text <> expected::text), 0::bigint,
          'kpi: every derived summary equals the summary of the rows after the change, as text');
SELECT cmp_ok((SELECT count(*) FROM sr_kpi WHERE got IS NOT NULL), '>=', 10::bigint,
              'kpi: most changed keys are derived (not left to a recomputation)');
-- each NULL has a reason the rows show: an extreme cycle or the largest
-- revenue scale of the key was among the removed rows
SELECT is((SELECT count(*) FROM sr_kpi WHERE got IS NULL AND NOT (
              sales_cycle_min(old) = sales_cycle_min(stored) OR sales_cycle_max(old) = sales_cycle_max(stored)
              OR scale(revenue(old)) >= scale(revenue(stored)))), 0::bigint,
          'kpi: a summary is left underived only when a removed row held an extreme or the largest scale');
SELECT cmp_ok((SELECT count(*) FROM sr_kpi WHERE got IS NULL), '>=', 1::bigint,
              'kpi: the data has keys left to a recomputation (the NULL case is exercised)');

-- the edge cases one by one
CREATE FUNCTION sr(fc timestamptz[], conv timestamptz[], rev numeric[]) RETURNS kpi_summary
LANGUAGE sql AS $$ SELECT kpi_agg(f, c, r) FROM unnest(fc, conv, rev) AS u(f, c, r) $$;
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05}', '{1.5,2}'),
                      sr('{2025-01-01}', '{2025-01-02}', '{1.5}'), NULL), NULL,
          'kpi: removing the shortest cycle without a new one is not derivable');
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05}', '{1,2}'),
                      sr('{2025-01-01}', '{2025-01-02}', '{1}'), sr('{2025-01-01}', '{2025-01-01 12:00}', '{1}'))::text,
          sr('{2025-01-01,2025-01-01}', '{2025-01-01 12:00,2025-01-05}', '{1,2}')::text,
          'kpi: a new shorter cycle restores the minimum');
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05,2025-01-09}', '{NULL,NULL,NULL}'),
                      sr('{2025-01-01}', '{2025-01-05}', '{NULL}'), NULL)::text,
          sr('{2025-01-01,2025-01-01}', '{2025-01-02,2025-01-09}', '{NULL,NULL}')::text,
          'kpi: removing an inner cycle keeps both extremes');
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05,2025-01-09}', '{1,2.25,3}'),
                      sr('{2025-01-01}', '{2025-01-05}', '{2.25}'), NULL), NULL,
          'kpi: removing the only amount of the largest scale is not derivable (the scale left is unknown)');
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05,2025-01-09}', '{1.25,2,3}'),
                      sr('{2025-01-01}', '{2025-01-05}', '{2}'), NULL)::text,
          sr('{2025-01-01,2025-01-01}', '{2025-01-02,2025-01-09}', '{1.25,3}')::text,
          'kpi: removing an amount of a smaller scale keeps the scale');
SELECT is(_lk_replace(sr('{2025-01-01}', '{2025-01-02}', '{1}'), sr('{2025-01-01}', '{2025-01-02}', '{1}'), NULL), NULL,
          'kpi: nothing left is NULL (the key is dropped)');
SELECT is(_lk_replace(sr('{2025-01-01}', '{NULL}', '{NULL}'), sr('{2025-01-01,2025-01-01}', '{NULL,NULL}', '{NULL,NULL}'), NULL), NULL,
          'kpi: old that is not a part of stored is NULL');
SELECT is(_lk_replace(sr('{2025-01-01,2025-01-01}', '{2025-01-02,2025-01-05}', '{NULL,NULL}'), sr('{2025-01-01}', '{NULL}', '{NULL}'), NULL), NULL,
          'kpi: old whose counts fit one by one but not together (an open lead out of two converted ones) is NULL, not an error');
SELECT is(_lk_replace(NULL, NULL, sr('{2025-01-01}', '{2025-01-03}', '{7}'))::text, sr('{2025-01-01}', '{2025-01-03}', '{7}')::text,
          'kpi: a new key is new');
SELECT is(_lk_replace(NULL, sr('{2025-01-01}', '{2025-01-03}', '{7}'), NULL), NULL,
          'kpi: rows removed from a key that holds none is NULL');
SELECT is(_lk_replace(sr('{2025-01-01}', '{2025-01-03}', '{7}'), NULL, NULL)::text, sr('{2025-01-01}', '{2025-01-03}', '{7}')::text,
          'kpi: no change keeps the stored summary');
SELECT throws_ok($$SELECT _lk_replace('v1 leads=1 conversions=2 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary, NULL, NULL)$$,
                 '22P02', NULL, 'kpi: inconsistent input is refused by the type');

-- funnels: 3,000 leads in 30 keys, 0..6 events over 4 steps
CREATE TABLE sr_ev AS
SELECT l AS lead_id, l % 30 AS k, timestamptz '2025-01-01' + l * interval '1 minute' + (exp(random() * 28) - 1) * interval '1 microsecond' AS ts,
       1 + floor(random() * 4)::int AS step
FROM generate_series(1, 3000) l, LATERAL generate_series(1, (random() * 6)::int + l * 0) e;
CREATE TABLE sr_fchanged AS SELECT DISTINCT lead_id FROM sr_ev WHERE random() < 0.15;
-- the changed leads: a new event, or a move to another key, or deleted
CREATE TABLE sr_fafter AS
SELECT e.lead_id, CASE WHEN c.r < 0.3 THEN (e.k + 11) % 30 ELSE e.k END AS k, e.ts, e.step
FROM sr_ev AS e JOIN (SELECT lead_id, random() AS r FROM sr_fchanged) AS c USING (lead_id) WHERE c.r < 0.9
UNION ALL
SELECT c.lead_id, (SELECT k FROM sr_ev WHERE lead_id = c.lead_id LIMIT 1), timestamptz '2025-06-01' + c.lead_id * interval '1 second', 1 + c.lead_id % 4
FROM sr_fchanged AS c WHERE c.lead_id % 2 = 0;
CREATE TABLE sr_fnow AS
SELECT * FROM sr_ev WHERE lead_id NOT IN (SELECT lead_id FROM sr_fchanged) UNION ALL SELECT * FROM sr_fafter;
CREATE TABLE sr_fun AS
SELECT k,
       (SELECT funnel_agg(lead_id, ts, step, interval '30 days', '', 4) FROM sr_ev AS e WHERE e.k = g.k) AS stored,
       (SELECT funnel_agg(lead_id, ts, step, interval '30 days', '', 4) FROM sr_ev AS e WHERE e.k = g.k AND e.lead_id IN (SELECT lead_id FROM sr_fchanged)) AS old,
       (SELECT funnel_agg(lead_id, ts, step, interval '30 days', '', 4) FROM sr_fafter AS e WHERE e.k = g.k) AS new,
       (SELECT funnel_agg(lead_id, ts, step, interval '30 days', '', 4) FROM sr_fnow AS e WHERE e.k = g.k) AS expected
FROM generate_series(0, 29) AS g(k);
SELECT is((SELECT count(*) FROM sr_fun WHERE _lk_replace(stored, old, new)::text IS DISTINCT FROM expected::text), 0::bigint,
          'funnel: every changed key is derived, equal to funnel_agg over its events after the change, as text');
SELECT cmp_ok((SELECT count(*) FROM sr_fun WHERE old IS NOT NULL AND new IS NOT NULL), '>=', 20::bigint,
              'funnel: the keys lost and gained entities');
SELECT is(_lk_replace((SELECT stored FROM sr_fun WHERE k = 1), (SELECT stored FROM sr_fun WHERE k = 1), NULL), NULL,
          'funnel: nothing left is NULL');
SELECT is(_lk_replace((SELECT old FROM sr_fun WHERE k = 1), (SELECT stored FROM sr_fun WHERE k = 1), NULL), NULL,
          'funnel: old that is not a part of stored is NULL');
SELECT is(_lk_replace(NULL, NULL, (SELECT new FROM sr_fun WHERE k = 2))::text, (SELECT new FROM sr_fun WHERE k = 2)::text,
          'funnel: a new key is new');
SELECT throws_ok($$SELECT _lk_replace((SELECT stored FROM sr_fun WHERE k = 1), NULL,
                                      (SELECT funnel_agg(lead_id, ts, step, interval '30 days', '', 5) FROM sr_ev WHERE k = 1))$$,
                 '22023', NULL, 'funnel: summaries of another funnel are refused');
SELECT throws_ok($$SELECT _lk_replace((SELECT stored FROM sr_fun WHERE k = 1), (SELECT funnel_agg(lead_id, ts, step, interval '1 day', '', 4) FROM sr_ev WHERE k = 1), NULL)$$,
                 '22023', NULL, 'funnel: a removed part of another window is refused');

SELECT * FROM finish();
ROLLBACK;
