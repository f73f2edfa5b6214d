-- forecast_closings and forecast_backtest on a small generated CRM
-- (test/data/gen_crm.sql): argument errors with their SQLSTATE; properties
-- that must hold whatever the method (the parts add up, segments add up to
-- the whole, intervals are ordered, open and stale leads are counted as
-- plain SQL counts them); the same forecast from raw tables and from stored
-- summaries; and no look-ahead: the forecast made on the full CRM at a past
-- instant equals the one made on the CRM generated as it stood then.
BEGIN;
SELECT plan(34);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

\set scale 3000
\unset cutoff
\ir ../data/gen_crm.sql
ALTER SCHEMA crm RENAME TO fc_full;
\set cutoff '2025-07-01 00:00:00+00'
\ir ../data/gen_crm.sql
ALTER SCHEMA crm RENAME TO fc_cut;
\unset cutoff

SELECT count(*) FROM create_reports('fr_full', leads => 'fc_full.leads', stage_events => 'fc_full.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'Europe/Berlin') \g /dev/null
SELECT count(*) FROM create_reports('fr_cut', leads => 'fc_cut.leads', stage_events => 'fc_cut.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'Europe/Berlin') \g /dev/null

-- ---------------------------------------------------------------------------
-- errors
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', horizon => 0)$$,
                 '22023', 'leadkpi: horizon must be between 1 and 60 periods, not 0', 'a horizon of 0 is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', horizon => -2)$$,
                 '22023', NULL, 'a negative horizon is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', level => 1)$$,
                 '22023', 'leadkpi: level must be between 0 and 1 (exclusive), not 1', 'a level of 1 is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', level => 0)$$,
                 '22023', NULL, 'a level of 0 is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2020-01-01')$$,
                 '22023', NULL, 'an as_of before any data is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', by => 'region')$$,
                 '42703', 'leadkpi: unknown segment column region', 'an unknown segment column is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', period => 'quarter')$$,
                 '22023', NULL, 'an unknown period is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', stale_after => '-3 days')$$,
                 '22023', NULL, 'a stale_after that is not positive is refused');
SELECT throws_ok($$SELECT * FROM forecast_closings('no_such_reports')$$,
                 '42P01', NULL, 'a schema without reports is refused');
SELECT throws_ok($$SELECT * FROM forecast_backtest('fr_full', as_of => '2026-01-01', cutoffs => 0)$$,
                 '22023', NULL, 'a backtest without cutoffs is refused');

-- ---------------------------------------------------------------------------
-- properties
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE f_all AS SELECT * FROM forecast_closings('fr_full', as_of => '2025-12-15 12:00+01', horizon => 4);
CREATE TEMP TABLE f_camp AS SELECT * FROM forecast_closings('fr_full', as_of => '2025-12-15 12:00+01', horizon => 4, by => 'campaign');
CREATE TEMP TABLE f_chan AS SELECT * FROM forecast_closings('fr_full', as_of => '2025-12-15 12:00+01', horizon => 4, by => 'channel');

SELECT results_eq($$SELECT h, period_start, window_start, window_end FROM f_all ORDER BY h$$,
    $$VALUES (1, date '2025-12-01', timestamptz '2025-12-15 12:00+01', timestamptz '2026-01-01 00:00+01'),
             (2, '2026-01-01', '2026-01-01 00:00+01', '2026-02-01 00:00+01'),
             (3, '2026-02-01', '2026-02-01 00:00+01', '2026-03-01 00:00+01'),
             (4, '2026-03-01', '2026-03-01 00:00+01', '2026-04-01 00:00+02')$$,
    'one row per coming month, cut in the reports'' time zone, the first from as_of');
SELECT is((SELECT count(*) FROM f_all WHERE abs(closings - from_pipeline - from_new_leads) > 1e-9 * closings), 0::bigint,
          'closings = from_pipeline + from_new_leads');
SELECT is((SELECT count(*) FROM f_all a JOIN (SELECT h, sum(closings) AS c, sum(from_pipeline) AS p, sum(revenue) AS r
                                               FROM f_camp GROUP BY h) s USING (h)
           WHERE abs(a.closings - s.c) > 1e-9 * a.closings OR abs(a.from_pipeline - s.p) > 1e-9 * a.from_pipeline
              OR abs(a.revenue - s.r) > 0.01 * (SELECT count(DISTINCT segment) FROM f_camp)), 0::bigint,
          'the campaigns'' expectations add up to the unsegmented ones (revenue to the rounding of each)');
SELECT is((SELECT count(*) FROM f_all a JOIN (SELECT h, sum(closings) AS c, sum(open_leads) AS o, sum(stale_leads) AS st
                                               FROM f_chan GROUP BY h) s USING (h)
           WHERE abs(a.closings - s.c) > 1e-9 * a.closings OR a.open_leads <> s.o OR a.stale_leads <> s.st), 0::bigint,
          'the channels'' expectations and open leads add up to the unsegmented ones');
SELECT is((SELECT count(*) FROM (SELECT * FROM f_all UNION ALL SELECT * FROM f_camp UNION ALL SELECT * FROM f_chan) f
           WHERE NOT (closings_low <= closings_high AND closings_low <= ceil(closings) AND floor(closings) <= closings_high
                      AND closings_low >= 0 AND revenue_low <= revenue_high AND revenue_low >= 0
                      AND (closings_high = 0) = (revenue_high = 0))), 0::bigint,
          'every interval is ordered, the closings'' holds its expectation, revenue is 0 where closings are');
SELECT ok((SELECT bool_and(closings_high > closings_low) FROM f_all), 'the unsegmented intervals are not empty');

-- open leads at as_of, counted in plain SQL from the canonical views
CREATE TEMP TABLE f_open AS
SELECT l.lead_id, '2025-12-15 12:00+01'::timestamptz - coalesce(
           (SELECT e.occurred_at FROM fr_full.report_stage_events e
             WHERE e.lead_id = l.lead_id AND e.occurred_at < '2025-12-15 12:00+01'
             ORDER BY e.step DESC, e.occurred_at LIMIT 1), l.first_contact_at) AS idle
FROM fr_full.report_leads l
WHERE l.first_contact_at < '2025-12-15 12:00+01'
  AND coalesce(l.converted_at, l.lost_at, 'infinity') >= '2025-12-15 12:00+01';
SELECT is((SELECT DISTINCT open_leads + stale_leads FROM f_all), (SELECT count(*) FROM f_open),
          'the open pipeline: leads first contacted before as_of and not closed before it');
SELECT is((SELECT DISTINCT stale_leads FROM f_all), 0::bigint, 'without stale_after no lead is stale');
SELECT is((SELECT DISTINCT stale_leads FROM forecast_closings('fr_full', as_of => '2025-12-15 12:00+01', horizon => 4,
                                                             stale_after => '75 days')),
          (SELECT count(*) FROM f_open WHERE idle >= interval '75 days'),
          'stale_after leaves out the leads without a new stage for that long, and counts them');
-- (90 days is an age bound already: the model is the same, only the stale leads go)
SELECT ok((SELECT bool_and(s.from_pipeline < a.from_pipeline AND s.from_new_leads = a.from_new_leads AND s.stale_leads > 0)
           FROM forecast_closings('fr_full', as_of => '2025-12-15 12:00+01', horizon => 4, stale_after => '90 days') s
           JOIN f_all a USING (h)), 'leaving stale leads out lowers the part of the pipeline, not that of new leads');
SELECT ok((SELECT bool_and(min_cell_observations >= 0 AND amount_basis = 'mean won revenue' AND dispersion >= 1) FROM f_all),
          'the smallest history cell, the amount basis and the calibration are reported');

-- weeks: Monday to Monday
SELECT results_eq($$SELECT window_start, window_end FROM forecast_closings('fr_full', as_of => '2025-12-10 09:00+01',
                                                                         period => 'week', horizon => 2) ORDER BY h$$,
    $$VALUES (timestamptz '2025-12-10 09:00+01', timestamptz '2025-12-15 00:00+01'), ('2025-12-15 00:00+01', '2025-12-22 00:00+01')$$,
    'weekly windows run Monday to Monday');

-- ---------------------------------------------------------------------------
-- stored summaries, and no look-ahead
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE f_store AS SELECT * FROM close_summaries('fr_full', forecast_grid('fr_full', '2025-12-15 12:00+01', horizon => 4));
CREATE TEMP TABLE f_cohorts AS SELECT * FROM close_summaries('fr_full', forecast_grid('fr_full', '2025-12-15 12:00+01', horizon => 4), by_cohort => true);
SELECT set_eq($$SELECT * FROM forecast_closings('fr_full', horizon => 4, by => 'campaign', summaries => 'f_store')$$,
              $$SELECT * FROM f_camp$$, 'from stored summaries per campaign and channel: the same forecast');
-- (the same up to the order in which float sums add the members up)
SELECT is((SELECT count(*) FROM forecast_closings('fr_full', horizon => 4, summaries => 'f_cohorts') s JOIN f_all a USING (h)
           WHERE abs(s.closings - a.closings) > 1e-9 * a.closings OR s.closings_low <> a.closings_low
              OR s.closings_high <> a.closings_high OR abs(s.revenue - a.revenue) > 0.01 OR s.open_leads <> a.open_leads), 0::bigint,
          'from stored summaries per cohort month: the same forecast');
SELECT throws_ok($$SELECT * FROM forecast_closings('fr_full', as_of => '2026-01-01', summaries => 'f_store')$$,
                 '22023', NULL, 'stored summaries of another as_of are refused');

SELECT set_eq($$SELECT * FROM forecast_closings('fr_full', as_of => '2025-07-01', by => 'channel')$$,
              $$SELECT * FROM forecast_closings('fr_cut', as_of => '2025-07-01', by => 'channel')$$,
              'the forecast at 2025-07-01 from today''s CRM = from the CRM as it stood on 2025-07-01');

-- an expected amount per lead, when report_leads has one
CREATE SCHEMA fr_amt;
SELECT count(*) FROM create_reports('fr_amt', leads => 'fc_full.leads', stage_events => 'fc_full.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'Europe/Berlin') \g /dev/null
CREATE OR REPLACE VIEW fr_amt.report_leads WITH (security_invoker = true) AS
SELECT l.lead_id, l.first_contact_at, l.campaign, l.channel, l.converted_at, l.lost_at, l.revenue, l.team, l.owner, c.expected_revenue
FROM fr_full.report_leads l JOIN fc_full.leads c USING (lead_id);
CREATE TEMP TABLE f_amt AS SELECT * FROM forecast_closings('fr_amt', as_of => '2025-12-15 12:00+01', horizon => 4);
SELECT is((SELECT DISTINCT leads_with_amount FROM f_amt),
          (SELECT count(*) FROM f_open JOIN fc_full.leads USING (lead_id) WHERE expected_revenue IS NOT NULL),
          'the open leads with an expected amount are counted');
SELECT ok((SELECT bool_and(a.amount_basis = 'mixed' AND a.closings = f.closings AND a.revenue_from_pipeline <> f.revenue_from_pipeline)
           FROM f_amt a JOIN f_all f USING (h)),
          'expected amounts change the revenue, not the closings');

-- ---------------------------------------------------------------------------
-- the backtest
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE f_bt AS SELECT * FROM forecast_backtest_detail('fr_full', as_of => '2026-01-01 00:00+01', horizon => 3, cutoffs => 6);
SELECT results_eq($$SELECT method, measure, h, cutoffs FROM forecast_backtest('fr_full', as_of => '2026-01-01 00:00+01', horizon => 3, cutoffs => 6)
                    ORDER BY measure, h, method$$,
    $$SELECT m, me, h, (7 - h)::bigint FROM (VALUES ('fixed_stage', 'closings'), ('leadkpi', 'closings'), ('run_rate', 'closings'),
                                            ('stage_rate', 'closings'), ('fixed_stage', 'pipeline'), ('leadkpi', 'pipeline'),
                                            ('stage_rate', 'pipeline'), ('leadkpi', 'revenue')) v(m, me), generate_series(1, 3) h
      ORDER BY me, h, m$$,
    'the backtest: four methods on closings, three on the open pipeline''s closings, leadkpi on revenue, each horizon over the cutoffs whose window has closed');
SELECT is((SELECT count(*) FROM f_bt b
           WHERE b.method = 'leadkpi' AND b.measure = 'closings'
             AND b.actual <> (SELECT count(*) FROM fr_full.report_leads l
                               WHERE l.converted_at >= l.first_contact_at
                                 AND l.converted_at >= (SELECT w.window_start FROM close_windows(forecast_grid('fr_full', '2026-01-01 00:00+01', horizon => 3, backtest_cutoffs => 6)) w
                                                         WHERE w.snapshot = b.cutoff AND w.horizon = b.h)
                                 AND l.converted_at < (SELECT w.window_end FROM close_windows(forecast_grid('fr_full', '2026-01-01 00:00+01', horizon => 3, backtest_cutoffs => 6)) w
                                                        WHERE w.snapshot = b.cutoff AND w.horizon = b.h))), 0::bigint,
          'the backtest''s actuals are the wins in each window, counted in plain SQL');
SELECT is((SELECT count(*) FROM f_bt b
           WHERE b.method = 'leadkpi' AND b.measure = 'pipeline'
             AND b.actual <> (SELECT count(*) FROM fr_full.report_leads l
                               WHERE l.first_contact_at < b.cutoff
                                 AND coalesce(l.converted_at, l.lost_at, 'infinity') >= b.cutoff
                                 AND l.converted_at >= (SELECT w.window_start FROM close_windows(forecast_grid('fr_full', '2026-01-01 00:00+01', horizon => 3, backtest_cutoffs => 6)) w
                                                         WHERE w.snapshot = b.cutoff AND w.horizon = b.h)
                                 AND l.converted_at < (SELECT w.window_end FROM close_windows(forecast_grid('fr_full', '2026-01-01 00:00+01', horizon => 3, backtest_cutoffs => 6)) w
                                                        WHERE w.snapshot = b.cutoff AND w.horizon = b.h))), 0::bigint,
          'the pipeline measure''s actuals are the wins in each window of the leads open at the cutoff, counted in plain SQL');
SELECT is((SELECT count(*) FROM f_bt WHERE forecast < 0 OR (low IS NOT NULL AND NOT (low <= high))), 0::bigint,
          'forecasts are not negative and intervals are ordered');
SELECT is((SELECT count(DISTINCT cutoff) FROM f_bt), 6::bigint, 'six cutoffs');
SELECT results_eq($$SELECT DISTINCT cutoff FROM f_bt ORDER BY 1$$,
    $$SELECT (timestamp '2025-07-01' + k * interval '1 month') AT TIME ZONE 'Europe/Berlin' FROM generate_series(0, 5) k$$,
    'the cutoffs are the six month starts (in the reports'' time zone) before as_of');

SELECT * FROM finish();
ROLLBACK;
