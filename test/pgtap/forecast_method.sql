-- close_forecast_segments (the whole forecast in one C call) against the
-- same method composed in SQL from its parts: close_forecast per member
-- (campaign and channel) smoothed toward its channel's and everyone's
-- summaries, scaled by close_forecast_adjust, summed per channel, and the
-- dispersion of each target cutoff from the squared standardized errors at
-- the calibration cutoffs before it (percentile_cont), revenue's never
-- relatively below that of closings.  Then the two weighted-pipeline
-- baselines recomputed in plain SQL from the summaries' counts
-- (close_history, close_pipeline, close_windows), as doc/forecast.md
-- defines them.
BEGIN;
SELECT plan(6);
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;

\set scale 3000
\unset cutoff
\ir ../data/gen_crm.sql
SELECT count(*) FROM create_reports('fmt', leads => 'crm.leads', stage_events => 'crm.stage_events',
    stages => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], time_zone => 'UTC') \g /dev/null

-- 4 target cutoffs (month starts of 2025-09 .. 2025-12), each calibrated on
-- the 12 before it; horizon 3, lookback 12, season 12
CREATE TEMP TABLE fm_store AS
SELECT * FROM close_summaries('fmt', forecast_grid('fmt', '2026-01-01', horizon => 3, backtest_cutoffs => 4));
CREATE TEMP TABLE fm_cut AS
SELECT array_agg(snapshot ORDER BY snapshot DESC) AS cutoffs,
       (array_agg(snapshot ORDER BY snapshot DESC))[1:4] AS targets
FROM (SELECT DISTINCT w.snapshot FROM fm_store s, close_windows(s.summary) w
      WHERE w.snapshot < '2026-01-01' ORDER BY 1 DESC LIMIT 16) x;
CREATE TEMP TABLE fm_c AS
SELECT f.* FROM fm_cut,
     close_forecast_segments((SELECT array_agg(ROW(campaign, channel, NULL::date, summary)::close_segment) FROM fm_store),
                             'channel', fm_cut.cutoffs, fm_cut.targets, 12, 3, 12, NULL, 12) f;

-- the same in SQL from the per-member method
CREATE TEMP TABLE fm_ch AS SELECT channel, rollup(summary) AS s FROM fm_store GROUP BY 1;
CREATE TEMP TABLE fm_root AS
SELECT r.s, close_forecast_adjust(r.s, fm_cut.cutoffs, 3, 12, NULL, 12) AS adjust
FROM (SELECT rollup(summary) AS s FROM fm_store) r, fm_cut;
CREATE TEMP TABLE fm_rows AS
SELECT m.channel AS segment, f.cutoff, f.h, min(f.window_start) AS window_start, min(f.window_end) AS window_end,
       sum(f.actual)::float8 AS actual, sum(f.actual_revenue) AS actual_revenue,
       sum(f.pipeline + f.new_leads) AS mean, sum(f.pipeline_var + f.new_var) AS var,
       sum(f.revenue) AS revenue, sum(f.revenue_var) AS revenue_var,
       sum(f.run_rate) AS run_rate, sum(f.fixed_stage) AS fixed_stage, sum(f.stage_rate) AS stage_rate,
       sum(f.actual_pipeline)::float8 AS actual_pipeline
FROM fm_store m JOIN fm_ch ch USING (channel) CROSS JOIN fm_root rt CROSS JOIN fm_cut,
     LATERAL close_forecast(m.summary, ch.s, rt.s, fm_cut.cutoffs, 3, 12, NULL, 12, adjust => rt.adjust) f
GROUP BY 1, 2, 3;
CREATE TEMP TABLE fm_sql AS
SELECT t.segment, t.cutoff, t.h, t.actual, t.mean, t.var, t.revenue, t.revenue_var, t.run_rate, t.fixed_stage,
       t.stage_rate, t.actual_pipeline, d.phi,
       greatest(d.rev_phi, (t.revenue / t.mean) ^ 2 * t.var * d.phi / t.revenue_var) AS rev_phi
FROM fm_rows t, fm_cut,
     LATERAL (SELECT greatest(1.0, (count(*) * coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.actual - r.mean) ^ 2 / nullif(r.var, 0)) / 0.454936423119572, 1) + 2) / (count(*) + 2)) AS phi,
                     greatest(1.0, (count(*) * coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.actual_revenue - r.revenue) ^ 2 / nullif(r.revenue_var, 0)) / 0.454936423119572, 1) + 2) / (count(*) + 2)) AS rev_phi
              FROM fm_rows r
              WHERE r.segment = t.segment AND r.h = t.h AND r.cutoff < t.cutoff AND r.cutoff >= t.cutoff - interval '12 months'
                AND r.window_end <= t.cutoff AND r.actual IS NOT NULL) d
WHERE t.cutoff = ANY (fm_cut.targets);

CREATE FUNCTION pg_temp.near(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
RETURN a IS NOT DISTINCT FROM b OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b));

SELECT is((SELECT count(*) FROM fm_c), (SELECT count(*) FROM fm_sql), 'one row per channel, target cutoff and window');
SELECT ok((SELECT count(DISTINCT segment) = 6 AND bool_and(dispersion >= 1) AND bool_or(dispersion > 1) FROM fm_c),
          'six channels, calibrated');
SELECT is((SELECT count(*) FROM fm_c c JOIN fm_sql s USING (segment, cutoff, h)
           WHERE NOT (pg_temp.near(c.actual, s.actual) AND pg_temp.near(c.mean, s.mean) AND pg_temp.near(c.var, s.var)
                      AND pg_temp.near(c.revenue, s.revenue) AND pg_temp.near(c.revenue_var, s.revenue_var)
                      AND pg_temp.near(c.run_rate, s.run_rate) AND pg_temp.near(c.fixed_stage, s.fixed_stage)
                      AND pg_temp.near(c.stage_rate, s.stage_rate) AND pg_temp.near(c.actual_pipeline, s.actual_pipeline)
                      AND pg_temp.near(c.dispersion, s.phi) AND pg_temp.near(c.revenue_dispersion, s.rev_phi))), 0::bigint,
          'close_forecast_segments = close_forecast per member, summed per channel and calibrated in SQL');

-- ---------------------------------------------------------------------------
-- the baselines in plain SQL, per member and cutoff, summed per channel
-- ---------------------------------------------------------------------------
-- each member's open leads at each cutoff, by stage and age bucket
CREATE TEMP TABLE fm_open AS
SELECT m.campaign, m.channel, p.snapshot AS cutoff, p.stage, p.age_bucket, p.open_leads
FROM fm_store m, close_pipeline(m.summary) p, fm_cut WHERE p.snapshot = ANY (fm_cut.targets);
-- what the channel's history knew at each cutoff: per stage, age bucket and
-- window, the leads open at the 12 snapshots before it and how many won in
-- that window, of the windows that had ended by the cutoff
CREATE TEMP TABLE fm_hist AS
SELECT c.channel, t.cutoff, h.stage, h.age_bucket, h.horizon, sum(h.observed) AS observed, sum(h.won) AS won
FROM fm_ch c, close_history(c.s) h, (SELECT unnest(targets) AS cutoff FROM fm_cut) t,
     close_windows(c.s) w
WHERE w.snapshot = h.snapshot AND w.horizon = h.horizon AND w.window_end <= t.cutoff
  AND h.snapshot < t.cutoff AND h.snapshot >= t.cutoff - interval '12 months'
GROUP BY 1, 2, 3, 4, 5;

-- stage_rate: each open lead at its stage's share of leads won in the window (all ages)
SELECT is((SELECT count(*) FROM fm_c c JOIN (
              SELECT o.channel AS segment, o.cutoff, r.horizon AS h, sum(o.open_leads * r.rate) AS stage_rate
              FROM fm_open o JOIN (SELECT channel, cutoff, stage, horizon, sum(won)::float8 / nullif(sum(observed), 0) AS rate
                                   FROM fm_hist GROUP BY 1, 2, 3, 4) r USING (channel, cutoff, stage)
              GROUP BY 1, 2, 3) s USING (segment, cutoff, h)
           WHERE NOT pg_temp.near(c.stage_rate, coalesce(s.stage_rate, 0))), 0::bigint,
          'stage_rate = the open leads at their stage''s historical chance of a win in each window, in plain SQL');

-- fixed_stage: each open lead at 10% (first stage) .. 90% (last), in the
-- window of its expected close: when it reached its stage (the middle of its
-- age bucket) plus the stage's median time from reaching it to a win, from
-- the leads that had reached it in the week before a snapshot; none when
-- that date has passed
CREATE TEMP TABLE fm_rel AS
SELECT DISTINCT w.snapshot AS cutoff, w.horizon AS h, extract(epoch FROM w.window_end - w.snapshot) * 1e6 AS rel
FROM fm_root r, close_windows(r.s) w, fm_cut WHERE w.snapshot = ANY (fm_cut.targets);
CREATE TEMP TABLE fm_root_hist AS
SELECT NULL::text AS channel, t.cutoff, h.stage, h.age_bucket, h.horizon, sum(h.observed) AS observed, sum(h.won) AS won
FROM fm_root c, close_history(c.s) h, (SELECT unnest(targets) AS cutoff FROM fm_cut) t, close_windows(c.s) w
WHERE w.snapshot = h.snapshot AND w.horizon = h.horizon AND w.window_end <= t.cutoff
  AND h.snapshot < t.cutoff AND h.snapshot >= t.cutoff - interval '12 months'
GROUP BY 1, 2, 3, 4, 5;
-- the median of the wins of the leads fresh at a stage (stage -1: at any
-- stage), by window, linear within its window, plus half a week
CREATE FUNCTION pg_temp.fm_median(hist regclass) RETURNS TABLE (channel text, cutoff timestamptz, stage integer, ttc float8)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH fresh AS (SELECT channel, cutoff, stage, horizon, sum(won) AS won FROM %1$s WHERE age_bucket = 0 GROUP BY 1, 2, 3, 4
                       UNION ALL SELECT channel, cutoff, -1, horizon, sum(won) FROM %1$s WHERE age_bucket = 0 GROUP BY 1, 2, 4),
             c AS (SELECT f.*, coalesce(r0.rel, 0) AS rel0, r1.rel AS rel1,
                          sum(f.won) OVER (PARTITION BY f.channel, f.cutoff, f.stage ORDER BY f.horizon) - f.won AS before,
                          sum(f.won) OVER (PARTITION BY f.channel, f.cutoff, f.stage) AS total
                   FROM fresh f JOIN fm_rel r1 ON r1.cutoff = f.cutoff AND r1.h = f.horizon
                        LEFT JOIN fm_rel r0 ON r0.cutoff = f.cutoff AND r0.h = f.horizon - 1)
        SELECT DISTINCT ON (channel, cutoff, stage) channel, cutoff, stage,
               (3.5 * 86400e6 + rel0 + (total / 2.0 - before) / won * (rel1 - rel0))::float8
        FROM c WHERE won > 0 AND before + won >= total / 2.0
        ORDER BY channel, cutoff, stage, horizon$q$, hist);
END $$;
-- a stage without fresh wins in its channel: the channel's at any stage, then everyone's at that stage
CREATE TEMP TABLE fm_ttc AS
SELECT o.channel, o.cutoff, o.stage, coalesce(s.ttc, a.ttc, r.ttc) AS ttc, s.ttc IS NULL AS fallback
FROM (SELECT DISTINCT channel, cutoff, stage FROM fm_open) o
     LEFT JOIN pg_temp.fm_median('fm_hist') s ON (s.channel, s.cutoff, s.stage) = (o.channel, o.cutoff, o.stage)
     LEFT JOIN pg_temp.fm_median('fm_hist') a ON (a.channel, a.cutoff, a.stage) = (o.channel, o.cutoff, -1)
     LEFT JOIN pg_temp.fm_median('fm_root_hist') r ON (r.cutoff, r.stage) = (o.cutoff, o.stage);
SELECT ok((SELECT count(*) FILTER (WHERE NOT fallback) > 0 AND count(*) FILTER (WHERE fallback AND stage > 0) > 0 FROM fm_ttc),
          'most stages have fresh wins in their channel''s history, a few fall back');
SELECT is((SELECT count(*) FROM fm_c c LEFT JOIN (
              SELECT o.channel AS segment, o.cutoff, w.h,
                     sum(o.open_leads * CASE WHEN o.stage = 0 THEN 0 ELSE 0.1 + 0.8 * (o.stage - 1) / (mx.s - 2.0) END) AS fixed_stage
              FROM fm_open o JOIN fm_ttc t USING (channel, cutoff, stage)
                   CROSS JOIN (SELECT max(stage) + 1 AS s FROM fm_root r, close_pipeline(r.s)) mx
                   CROSS JOIN LATERAL (SELECT t.ttc - extract(epoch FROM CASE o.age_bucket
                        WHEN 0 THEN interval '3.5 days' WHEN 1 THEN interval '10.5 days' WHEN 2 THEN interval '22 days'
                        WHEN 3 THEN interval '45 days' WHEN 4 THEN interval '75 days' WHEN 5 THEN interval '135 days'
                        WHEN 6 THEN interval '272.5 days' ELSE interval '365 days' END) * 1e6 AS left_) a
                   JOIN LATERAL (SELECT min(r.h) AS h FROM fm_rel r WHERE r.cutoff = o.cutoff AND a.left_ < r.rel) w ON true
              WHERE a.left_ >= 0 AND w.h IS NOT NULL
              GROUP BY 1, 2, 3) s USING (segment, cutoff, h)
           WHERE NOT pg_temp.near(c.fixed_stage, coalesce(s.fixed_stage, 0))), 0::bigint,
          'fixed_stage = the open leads at fixed chances in the window of their expected close date, in plain SQL');

SELECT * FROM finish();
ROLLBACK;
