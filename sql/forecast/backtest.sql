
-- ===========================================================================
-- The close forecast, 3 of 3: forecast_backtest() and its detail, the
-- forecast of sql/forecast/forecast.sql replayed at past period boundaries
-- against naive baselines.  See doc/forecast.md.
-- ===========================================================================

CREATE OR REPLACE FUNCTION @extschema@.forecast_backtest_detail(
    reports_schema name,
    as_of timestamptz DEFAULT NULL,
    period text DEFAULT 'month',
    horizon integer DEFAULT 6,
    level double precision DEFAULT 0.8,
    by text DEFAULT NULL,
    cutoffs integer DEFAULT 12,
    stale_after interval DEFAULT NULL,
    lookback integer DEFAULT NULL,
    summaries regclass DEFAULT NULL)
RETURNS TABLE (method text, measure text, cutoff timestamptz, segment text, h integer,
               actual double precision, forecast double precision, low double precision, high double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
BEGIN
    IF cutoffs IS NULL OR cutoffs < 1 OR cutoffs > 520 THEN
        RAISE EXCEPTION 'leadkpi: cutoffs must be between 1 and 520, not %', coalesce(cutoffs::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'The number of past period boundaries to forecast from, e.g. cutoffs => 12.';
    END IF;
    src := @extschema@._lk_forecast_source(reports_schema, summaries, as_of, period, horizon, level, by,
                                           lookback, cutoffs, stale_after);
    -- the last `cutoffs` snapshots before as_of are forecast from; the
    -- calibration ones before them only calibrate
    RETURN QUERY EXECUTE format(
        'WITH b AS MATERIALIZED (SELECT * FROM @extschema@.close_forecast_segments((%s), %L, $2, $3, %s, %s, %s, '
        '%L::interval, %s) AS f WHERE f.actual IS NOT NULL) '
        'SELECT ''leadkpi'', ''closings'', cutoff, segment, h, actual, mean, '
        '@extschema@.forecast_count_quantile(mean, var * dispersion, (1 - $4) / 2)::float8, '
        '@extschema@.forecast_count_quantile(mean, var * dispersion, (1 + $4) / 2)::float8 FROM b '
        'UNION ALL SELECT ''run_rate'', ''closings'', cutoff, segment, h, actual, run_rate, NULL, NULL FROM b '
        'UNION ALL SELECT ''fixed_stage'', ''closings'', cutoff, segment, h, actual, fixed_stage, NULL, NULL FROM b '
        'UNION ALL SELECT ''stage_rate'', ''closings'', cutoff, segment, h, actual, stage_rate, NULL, NULL FROM b '
        'UNION ALL SELECT ''leadkpi'', ''pipeline'', cutoff, segment, h, actual_pipeline, pipeline, NULL, NULL FROM b '
        'UNION ALL SELECT ''fixed_stage'', ''pipeline'', cutoff, segment, h, actual_pipeline, fixed_stage, NULL, NULL FROM b '
        'UNION ALL SELECT ''stage_rate'', ''pipeline'', cutoff, segment, h, actual_pipeline, stage_rate, NULL, NULL FROM b '
        'UNION ALL SELECT ''leadkpi'', ''revenue'', cutoff, segment, h, actual_revenue, revenue, '
        '@extschema@.forecast_amount_quantile(revenue, revenue_var * revenue_dispersion, (1 - $4) / 2, mean, var * dispersion), '
        '@extschema@.forecast_amount_quantile(revenue, revenue_var * revenue_dispersion, (1 + $4) / 2, mean, var * dispersion) FROM b',
        src.members_sql, by, src.calibration, horizon, src.fit_lookback, stale_after, src.season)
    USING src.grid, src.earlier[1:cutoffs + src.calibration], src.earlier[1:cutoffs], level;
END;
$$;
COMMENT ON FUNCTION @extschema@.forecast_backtest_detail(name, timestamptz, text, integer, double precision, text, integer, interval, integer, regclass) IS
'The backtest row by row: for each of the last `cutoffs` period boundaries before as_of (default now()), the pipeline as it stood then (rebuilt from the stage history), rates fit only on what had happened by then, and each method''s forecast of every window that has closed since, next to what actually closed. Methods: leadkpi (with its interval), run_rate, fixed_stage and stage_rate (see doc/forecast.md); measure closings, and revenue for leadkpi.';

CREATE OR REPLACE FUNCTION @extschema@.forecast_backtest(
    reports_schema name,
    as_of timestamptz DEFAULT NULL,
    period text DEFAULT 'month',
    horizon integer DEFAULT 6,
    level double precision DEFAULT 0.8,
    by text DEFAULT NULL,
    cutoffs integer DEFAULT 12,
    stale_after interval DEFAULT NULL,
    lookback integer DEFAULT NULL,
    summaries regclass DEFAULT NULL)
RETURNS TABLE (method text, measure text, h integer, cutoffs bigint, actual double precision,
               forecast double precision, wape double precision, bias double precision,
               coverage double precision)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT d.method, d.measure, d.h, count(DISTINCT d.cutoff), sum(d.actual), sum(d.forecast),
           sum(abs(d.actual - d.forecast)) / nullif(sum(d.actual), 0),
           sum(d.forecast - d.actual) / nullif(sum(d.actual), 0),
           avg((d.actual BETWEEN d.low AND d.high)::int::float8) FILTER (WHERE d.low IS NOT NULL)
      FROM @extschema@.forecast_backtest_detail(reports_schema, as_of, period, horizon, level, by, cutoffs,
                                                stale_after, lookback, summaries) AS d
     GROUP BY d.method, d.measure, d.h
     ORDER BY d.measure, d.h, d.method = 'leadkpi' DESC, d.method;
END;
COMMENT ON FUNCTION @extschema@.forecast_backtest(name, timestamptz, text, integer, double precision, text, integer, interval, integer, regclass) IS
'The backtest table: per method, measure and horizon, over the last `cutoffs` period boundaries before as_of (and the segments of by): the cutoffs evaluated, actual and forecast totals, WAPE = sum |actual - forecast| / sum actual, bias = sum (forecast - actual) / sum actual, and for leadkpi the share of actuals inside the level interval. See doc/forecast.md.';
