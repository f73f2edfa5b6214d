-- funnel_report and funnel_by_campaign against plain SQL, plain and
-- materialized.  Every lead moves forward through the stages in order,
-- within the window, so the reached counts are plain counts of the highest
-- stage per lead.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_fun;
CREATE TABLE lk_fun.leads (lead_id integer, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO lk_fun.leads SELECT i, timestamptz '2024-02-01' + i * interval '1 hour', 'x' || (i % 2), 'web', NULL FROM generate_series(1, 90) AS i;
-- lead i reaches stage 1 + (i % 7) % 4; the gap into stage k is k days plus (i % 5) hours
CREATE TABLE lk_fun.events (lead_id integer, stage text, occurred_at timestamptz);
INSERT INTO lk_fun.events
SELECT i, (ARRAY['visit', 'signup', 'trial', 'paid'])[k],
       timestamptz '2024-02-01' + i * interval '1 hour' + (SELECT sum(j * interval '1 day' + (i % 5) * interval '1 hour') FROM generate_series(1, k) AS j)
FROM generate_series(1, 90) AS i, generate_series(1, 4) AS k
WHERE k <= 1 + (i % 7) % 4;
-- a campaign whose only lead never gets past the first stage: its stored
-- summary still has all four steps, so it rolls up with the others
INSERT INTO lk_fun.leads VALUES (91, '2024-03-01', 'solo', 'web', NULL);
INSERT INTO lk_fun.events VALUES (91, 'visit', '2024-03-01');

CREATE TEMP VIEW exp_steps AS
WITH m AS (SELECT e.lead_id, l.campaign, count(*) AS top FROM lk_fun.events e JOIN lk_fun.leads l USING (lead_id) GROUP BY 1, 2),
     r AS (SELECT c.campaign, k AS step, count(*) FILTER (WHERE m.top >= k) AS reached,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY k * 86400 + (m.lead_id % 5) * 3600) FILTER (WHERE m.top >= k) AS median_s
             FROM (SELECT DISTINCT campaign FROM m UNION ALL SELECT NULL) c
             CROSS JOIN generate_series(1, 4) AS k
             JOIN m ON c.campaign IS NULL OR m.campaign = c.campaign
            GROUP BY 1, 2)
SELECT campaign, step, reached,
       reached::float8 / nullif(lag(reached) OVER w, 0) AS conversion_from_previous,
       reached::float8 / nullif(first_value(reached) OVER w, 0) AS conversion_from_first,
       lag(reached) OVER w - reached AS drop_off,
       CASE WHEN step > 1 THEN median_s END AS median_s
FROM r WINDOW w AS (PARTITION BY campaign ORDER BY step);

SELECT lives_ok($$SELECT create_reports('lk_frep', 'lk_fun.leads', stage_events => 'lk_fun.events',
                                        stages => '{visit,signup,trial,paid}', conversion_window => '60 days')$$, 'funnel reports');
SELECT results_eq(
    'SELECT step, stage, reached, round(conversion_from_previous::numeric, 12), round(conversion_from_first::numeric, 12) FROM lk_frep.funnel_report ORDER BY step',
    $$SELECT step, (ARRAY['visit', 'signup', 'trial', 'paid'])[step], reached, round(conversion_from_previous::numeric, 12),
             round(conversion_from_first::numeric, 12) FROM exp_steps WHERE campaign IS NULL ORDER BY step$$,
    'funnel_report: reached and conversions match plain SQL');
SELECT results_eq('SELECT step, drop_off FROM lk_frep.funnel_report WHERE step > 1 ORDER BY step',
                  'SELECT step, drop_off FROM exp_steps WHERE campaign IS NULL AND step > 1 ORDER BY step', 'funnel_report: drop_off');
SELECT is_empty($$
    SELECT step FROM lk_frep.funnel_report f JOIN exp_steps e USING (step)
    WHERE e.campaign IS NULL AND step > 1
      AND (f.median_time_from_previous IS NULL OR abs(extract(epoch FROM f.median_time_from_previous) - e.median_s) > 0.011 * e.median_s)
$$, 'funnel_report: median_time_from_previous within 1% of percentile_cont');
SELECT results_eq('SELECT step FROM lk_frep.funnel_report WHERE is_bottleneck',
                  $$SELECT step FROM exp_steps WHERE campaign IS NULL AND step > 1 ORDER BY conversion_from_previous, step LIMIT 1$$,
                  'exactly one bottleneck: the lowest conversion from the previous step');
SELECT results_eq(
    'SELECT campaign, step, reached, CASE WHEN step > 1 THEN drop_off END FROM lk_frep.funnel_by_campaign ORDER BY 1, 2',
    'SELECT campaign, step, reached, drop_off FROM exp_steps WHERE campaign IS NOT NULL ORDER BY 1, 2',
    'funnel_by_campaign matches plain SQL per campaign');
SELECT is(
    (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
      WHERE attrelid = 'lk_frep.funnel_by_campaign'::regclass AND attnum > 0),
    'campaign text, step integer, stage text, reached bigint, conversion_from_previous double precision, '
    'conversion_from_first double precision, drop_off bigint, median_time_from_previous interval, is_bottleneck boolean, '
    'median_days_from_previous numeric',
    'funnel_by_campaign columns and types');

-- materialized: per-campaign funnel summaries stored, their rollup is the whole funnel
SELECT lives_ok($$SELECT create_reports('lk_fmat', 'lk_fun.leads', stage_events => 'lk_fun.events',
                                        stages => '{visit,signup,trial,paid}', conversion_window => '60 days', materialized => true)$$,
                'materialized funnel');
SELECT results_eq($$SELECT step, reached FROM lk_frep.funnel_by_campaign WHERE campaign = 'solo' ORDER BY step$$,
                  $$VALUES (1, 1::bigint), (2, 0), (3, 0), (4, 0)$$, 'every campaign lists every stage');
SELECT results_eq('SELECT NULL::text, * FROM lk_fmat.funnel_report UNION ALL SELECT * FROM lk_fmat.funnel_by_campaign ORDER BY 1 NULLS FIRST, 2',
                  'SELECT NULL::text, * FROM lk_frep.funnel_report UNION ALL SELECT * FROM lk_frep.funnel_by_campaign ORDER BY 1 NULLS FIRST, 2',
                  'materialized funnels equal the plain ones');
SELECT results_eq('SELECT NULL::text, * FROM lk_fmat.funnel_report_live UNION ALL SELECT * FROM lk_fmat.funnel_by_campaign_live ORDER BY 1 NULLS FIRST, 2',
                  'SELECT NULL::text, * FROM lk_frep.funnel_report UNION ALL SELECT * FROM lk_frep.funnel_by_campaign ORDER BY 1 NULLS FIRST, 2',
                  'the live funnels equal the plain ones');

-- a new lead's first stage: live at once, stored after a refresh
INSERT INTO lk_fun.leads (lead_id, first_contact_at, campaign) VALUES (9001, now(), 'newcamp');
INSERT INTO lk_fun.events (lead_id, stage, occurred_at) VALUES (9001, 'visit', now());
SELECT results_eq($$SELECT step, reached FROM lk_fmat.funnel_by_campaign_live WHERE campaign = 'newcamp' ORDER BY step$$,
                  $$VALUES (1, 1::bigint), (2, 0), (3, 0), (4, 0)$$, 'the live funnel shows the new lead at once');
SELECT is((SELECT count(*) FROM lk_fmat.funnel_by_campaign WHERE campaign = 'newcamp'), 0::bigint,
          'the stored funnel waits for a refresh');
SELECT lives_ok($$SELECT refresh_reports('lk_fmat')$$, 'refresh_reports');
SELECT results_eq($$SELECT * FROM lk_fmat.funnel_by_campaign WHERE campaign = 'newcamp' ORDER BY step$$,
                  $$SELECT * FROM lk_fmat.funnel_by_campaign_live WHERE campaign = 'newcamp' ORDER BY step$$,
                  'after refresh_reports the stored funnel has it too');

SELECT * FROM finish();
ROLLBACK;
