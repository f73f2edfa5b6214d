
-- ===========================================================================
-- The close forecast, 2 of 3: the forecast method on close summaries
-- (src/close_forecast.c, src/forecast_segments.c, src/forecast_dist.c), and
-- forecast_closings() with its helpers over a reports schema.  See
-- doc/forecast.md.
-- ===========================================================================

-- The forecast method ------------------------------------------------------------
-- The forecast method ------------------------------------------------------------

CREATE FUNCTION close_forecast_adjust(root close_summary, cutoffs timestamptz[], horizon integer,
    lookback integer, stale_after interval DEFAULT NULL, season integer DEFAULT 0,
    kappa double precision DEFAULT 20, kappa_amount double precision DEFAULT 20,
    run_periods integer DEFAULT 3)
RETURNS double precision[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION close_forecast_adjust(close_summary, timestamptz[], integer, integer, interval, integer, double precision, double precision, integer) IS
'The correction close_forecast applies, per cutoff and window (a cutoffs x horizon array): the trend, through the lookback''s snapshots, of the root''s wins over what its rates give (rates pooled over the lookback lag behind a trend in conversion), at the cutoff; times, with season = snapshots per year, that ratio a year before the window relative to the trend (the season of closings). Both within [1/2, 2].';

CREATE FUNCTION close_forecast(member close_summary, parent close_summary, root close_summary,
    cutoffs timestamptz[], horizon integer, lookback integer, stale_after interval DEFAULT NULL,
    season integer DEFAULT 0, kappa double precision DEFAULT 20,
    kappa_amount double precision DEFAULT 20, run_periods integer DEFAULT 3,
    adjust double precision[] DEFAULT NULL,
    OUT cutoff timestamptz, OUT h integer, OUT window_start timestamptz, OUT window_end timestamptz,
    OUT actual bigint, OUT actual_revenue double precision,
    OUT pipeline double precision, OUT pipeline_var double precision,
    OUT new_leads double precision, OUT new_var double precision,
    OUT revenue double precision, OUT revenue_var double precision, OUT revenue_pipeline double precision,
    OUT open_leads bigint, OUT stale_leads bigint, OUT amount_leads bigint, OUT min_cell bigint,
    OUT run_rate double precision, OUT fixed_stage double precision, OUT stage_rate double precision,
    OUT actual_pipeline bigint)
RETURNS SETOF record
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_forecast(close_summary, close_summary, close_summary, timestamptz[], integer, integer, interval, integer, double precision, double precision, integer, double precision[]) IS
'The forecast method on one member''s summary (a campaign and channel), smoothed toward its parent''s (the channel) and the root''s (everything): for each cutoff (a snapshot) and window, expected wins from the open pipeline and from leads that do not exist yet, their variances, expected revenue, what actually closed when observed, and the three baselines; expectations scaled by adjust (close_forecast_adjust of the root). Additive over members; forecast_closings() combines and calibrates them. See doc/forecast.md.';

CREATE FUNCTION close_forecast_segments(members close_segment[], by text, cutoffs timestamptz[],
    targets timestamptz[], calibration integer, horizon integer, lookback integer,
    stale_after interval DEFAULT NULL, season integer DEFAULT 0, kappa double precision DEFAULT 20,
    kappa_amount double precision DEFAULT 20, run_periods integer DEFAULT 3,
    OUT segment text, OUT cutoff timestamptz, OUT h integer, OUT window_start timestamptz, OUT window_end timestamptz,
    OUT actual double precision, OUT actual_revenue double precision,
    OUT mean double precision, OUT var double precision,
    OUT pipeline double precision, OUT new_leads double precision,
    OUT revenue double precision, OUT revenue_var double precision, OUT revenue_pipeline double precision,
    OUT open_leads bigint, OUT stale_leads bigint, OUT amount_leads bigint, OUT min_cell bigint,
    OUT run_rate double precision, OUT fixed_stage double precision, OUT stage_rate double precision,
    OUT dispersion double precision, OUT revenue_dispersion double precision,
    OUT actual_pipeline double precision)
RETURNS SETOF record
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_forecast_segments(close_segment[], text, timestamptz[], timestamptz[], integer, integer, integer, interval, integer, double precision, double precision, integer) IS
'The whole forecast over members'' summaries (close_segment: campaign, channel, summary; those of the same campaign and channel are rolled up): close_forecast on every member at every cutoff, smoothed toward its channel and everything, scaled by close_forecast_adjust of everything, summed per segment (by: NULL, ''campaign'' or ''channel''); for each target cutoff (one of the cutoffs) and window the sums, what actually closed when observed, and the dispersion of the variance: the median squared standardized error at the `calibration` cutoffs before the target whose window had ended by it, over that of a chi-square with one degree of freedom, shrunk toward 1 by two pseudo-observations, at least 1 (for closings, and revenue). forecast_closings() and forecast_backtest() add the intervals.';

CREATE FUNCTION forecast_count_quantile(mean double precision, variance double precision, fraction double precision)
RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION forecast_count_quantile(double precision, double precision, double precision) IS
'The fraction-quantile of a count with this mean and variance: binomial below the mean''s variance, Poisson at it, negative binomial above (the two-parameter count distribution matching both moments).';
CREATE FUNCTION forecast_amount_quantile(mean double precision, variance double precision, fraction double precision,
                                         count_mean double precision DEFAULT NULL, count_variance double precision DEFAULT NULL)
RETURNS double precision
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION forecast_amount_quantile(double precision, double precision, double precision, double precision, double precision) IS
'The fraction-quantile of a positive amount with this mean and variance (log-normal); given the mean and variance of the count of closings it comes from, 0 up to the chance that nothing closes, and a log-normal of the amount given that something does above it.';

-- ---------------------------------------------------------------------------
-- Over a reports schema (create_reports): the canonical views report_leads
-- and report_stage_events.
-- ---------------------------------------------------------------------------

-- The time zone a reports schema cuts days and months in.  Today it is in
-- the comment of kpi_by_month; this is the one place that knows it.
CREATE OR REPLACE FUNCTION @extschema@._lk_reports_time_zone(reports_schema name)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tz text;
BEGIN
    SELECT substring(obj_description(c.oid, 'pg_class') FROM 'in time zone ([^ ]+) ') INTO tz
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = reports_schema AND c.relname = 'kpi_by_month';
    IF tz IS NULL THEN
        RAISE EXCEPTION 'leadkpi: schema % has no leadkpi reports', quote_ident(reports_schema)
            USING ERRCODE = '42P01',
                  HINT = 'Create them first with create_reports() (or a preset); the forecast reads report_leads and report_stage_events.';
    END IF;
    RETURN tz;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_reports_time_zone(name) IS
'leadkpi internal: the time zone in which a reports schema cuts days and months (the one place that looks it up)';

-- The SQL of the members' close summaries over a reports schema: one value,
-- a close_segment[] with one element per (campaign, channel[, cohort]), from
-- close_agg_segments over the leads and their stage events together, for
-- the grid in parameter grid_param (e.g. '$1').  The expected amount comes
-- from report_leads.expected_revenue when that column exists.
CREATE OR REPLACE FUNCTION @extschema@._lk_close_summaries_sql(reports_schema name, grid_param text,
                                                             cohort boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(reports_schema);
    has_events boolean;
    amount text := 'NULL::numeric';
    tz text := @extschema@._lk_reports_time_zone(reports_schema);
BEGIN
    IF to_regclass(format('%s.report_leads', s)) IS NULL THEN
        RAISE EXCEPTION 'leadkpi: schema % has no report_leads view', s
            USING ERRCODE = '42P01', HINT = 'Create the reports first with create_reports().';
    END IF;
    has_events := to_regclass(format('%s.report_stage_events', s)) IS NOT NULL;
    IF EXISTS (SELECT FROM pg_attribute
                WHERE attrelid = format('%s.report_leads', s)::regclass
                  AND attname = 'expected_revenue' AND attnum > 0 AND NOT attisdropped) THEN
        amount := 'l.expected_revenue::numeric';
    END IF;
    RETURN format(
        'SELECT @extschema@.close_agg_segments(u.lead_id, u.step, u.occurred_at, u.first_contact_at, u.converted_at, '
        'u.lost_at, u.revenue, u.expected_amount, u.campaign, u.channel, u.cohort, %s) '
        'FROM (SELECT l.lead_id, NULL::integer AS step, NULL::timestamptz AS occurred_at, l.first_contact_at, '
        'l.converted_at, l.lost_at, l.revenue, %s AS expected_amount, l.campaign, l.channel, %s AS cohort '
        'FROM %s.report_leads AS l%s) AS u',
        grid_param, amount,
        CASE WHEN cohort THEN format('date_trunc(''month'', l.first_contact_at AT TIME ZONE %L)::date', tz)
             ELSE 'NULL::date' END,
        s,
        CASE WHEN has_events THEN format(
            ' UNION ALL SELECT e.lead_id, e.step, e.occurred_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL '
            'FROM %s.report_stage_events AS e', s)
        ELSE '' END);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_close_summaries_sql(name, text, boolean) IS
'leadkpi internal: the query giving the close summaries per campaign and channel (and cohort month) of a reports schema as one close_segment[]';

CREATE OR REPLACE FUNCTION @extschema@.close_summaries(reports_schema name, grid close_summary,
                                                     by_cohort boolean DEFAULT false)
RETURNS TABLE (campaign text, channel text, cohort date, summary close_summary)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT m.campaign, m.channel, m.cohort, m.summary FROM unnest((%s)) AS m',
                                @extschema@._lk_close_summaries_sql(reports_schema, '$1', by_cohort)) USING grid;
END;
$$;
COMMENT ON FUNCTION @extschema@.close_summaries(name, close_summary, boolean) IS
'Close summaries of a reports schema''s leads on a grid, one per campaign and channel (and month of first contact, in the reports'' time zone, when by_cohort): what a store of the forecast holds. Stage times come from report_stage_events, expected amounts from report_leads.expected_revenue when that column exists.';

-- Defaults of the method, per period: snapshots a fit reads, calibration
-- snapshots, snapshots per year (the seasonal factor; none for weeks), and
-- the grid a forecast with them needs.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_plan(period text, horizon integer, requested_lookback integer,
    backtest integer, stale_after interval,
    OUT lookback integer, OUT calibration integer, OUT season integer, OUT snapshots integer,
    OUT age_bounds interval[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF period IS NULL OR period NOT IN ('month', 'week') THEN
        RAISE EXCEPTION 'leadkpi: unknown period %', coalesce(quote_literal(period), 'NULL')
            USING ERRCODE = '22023', HINT = 'Pass period => ''month'' or ''week''.';
    END IF;
    IF horizon IS NULL OR horizon < 1 OR horizon > 60 THEN
        RAISE EXCEPTION 'leadkpi: horizon must be between 1 and 60 periods, not %', coalesce(horizon::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'The horizon is the number of coming periods to forecast, e.g. horizon => 6.';
    END IF;
    IF requested_lookback IS NOT NULL AND (requested_lookback < 1 OR requested_lookback > 520) THEN
        RAISE EXCEPTION 'leadkpi: lookback must be between 1 and 520 periods, not %', requested_lookback
            USING ERRCODE = '22023', HINT = 'The lookback is how many past periods the rates are estimated from, e.g. lookback => 12.';
    END IF;
    IF stale_after IS NOT NULL AND (stale_after <= interval '0' OR extract(month FROM stale_after) <> 0
                                    OR extract(year FROM stale_after) <> 0) THEN
        RAISE EXCEPTION 'leadkpi: stale_after must be a positive interval in days or hours, not %', stale_after
            USING ERRCODE = '22023', HINT = 'E.g. stale_after => ''90 days''.';
    END IF;
    lookback := coalesce(requested_lookback, CASE period WHEN 'month' THEN 12 ELSE 26 END);
    calibration := CASE period WHEN 'month' THEN 12 ELSE 26 END;
    season := CASE period WHEN 'month' THEN 12 ELSE 0 END;
    snapshots := 1 + coalesce(backtest, 0) + calibration + greatest(lookback, season + 3);
    SELECT array_agg(DISTINCT b ORDER BY b) INTO age_bounds
      FROM unnest(ARRAY['7 days', '14 days', '30 days', '60 days', '90 days', '180 days', '365 days']::interval[]
                  || stale_after) AS b
     WHERE b IS NOT NULL;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_forecast_plan(text, integer, integer, integer, interval) IS
'leadkpi internal: validates a forecast''s period, horizon, lookback and stale_after, and gives the method''s defaults and the size of its grid';

CREATE OR REPLACE FUNCTION @extschema@.forecast_grid(reports_schema name, as_of timestamptz DEFAULT now(),
    period text DEFAULT 'month', horizon integer DEFAULT 6, stale_after interval DEFAULT NULL,
    lookback integer DEFAULT NULL, backtest_cutoffs integer DEFAULT 0)
RETURNS close_summary
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan record := @extschema@._lk_forecast_plan(period, horizon, lookback, backtest_cutoffs, stale_after);
BEGIN
    RETURN @extschema@.close_grid(as_of, period, horizon, plan.snapshots,
                                  @extschema@._lk_reports_time_zone(reports_schema), plan.age_bounds);
END;
$$;
COMMENT ON FUNCTION @extschema@.forecast_grid(name, timestamptz, text, integer, interval, integer, integer) IS
'The grid forecast_closings() (and, with backtest_cutoffs, forecast_backtest()) uses for these arguments, in the reports'' time zone: build a store of close summaries with it, e.g. SELECT * FROM close_summaries(''reports'', forecast_grid(''reports'')).';

-- Validates the arguments common to forecast_closings and the backtest, and
-- gives what the forecast query reads: the members' summaries (SQL over a
-- reports schema, on the grid in $1, or over a stored table), the grid, the
-- snapshots before as_of (latest first), the time zone and the method's plan.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_source(reports_schema name, summaries regclass,
    as_of timestamptz, period text, horizon integer, level double precision, by text,
    lookback integer, backtest integer, stale_after interval,
    OUT as_of_used timestamptz, OUT members_sql text, OUT grid @extschema@.close_summary,
    OUT earlier timestamptz[], OUT time_zone text, OUT has_amount boolean,
    OUT fit_lookback integer, OUT calibration integer, OUT season integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan record := @extschema@._lk_forecast_plan(period, horizon, lookback, backtest, stale_after);
    any_before boolean;
    n integer;
    step interval;
BEGIN
    IF level IS NULL OR NOT (level > 0 AND level < 1) THEN
        RAISE EXCEPTION 'leadkpi: level must be between 0 and 1 (exclusive), not %', coalesce(level::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'The level is the probability the interval should hold, e.g. level => 0.8.';
    END IF;
    IF by IS NOT NULL AND by NOT IN ('campaign', 'channel') THEN
        RAISE EXCEPTION 'leadkpi: unknown segment column %', quote_ident(by)
            USING ERRCODE = '42703', HINT = 'Pass by => NULL (one forecast), ''campaign'' or ''channel''.';
    END IF;
    IF as_of IS NOT NULL AND NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'leadkpi: as_of must be a finite instant' USING ERRCODE = '22023', HINT = 'E.g. as_of => now().';
    END IF;
    time_zone := @extschema@._lk_reports_time_zone(reports_schema);
    fit_lookback := plan.lookback;
    calibration := plan.calibration;
    season := plan.season;
    step := ('1 ' || period)::interval;
    IF summaries IS NULL THEN
        as_of_used := coalesce(as_of, now());
        EXECUTE format('SELECT EXISTS (SELECT FROM %I.report_leads WHERE first_contact_at < $1)', reports_schema)
           INTO any_before USING as_of_used;
        IF NOT any_before THEN
            RAISE EXCEPTION 'leadkpi: no lead of %.report_leads was first contacted before as_of %',
                            quote_ident(reports_schema), as_of_used
                USING ERRCODE = '22023', HINT = 'A forecast needs history: pass an as_of after the first leads.';
        END IF;
        grid := @extschema@.close_grid(as_of_used, period, horizon, plan.snapshots, time_zone, plan.age_bounds);
        members_sql := @extschema@._lk_close_summaries_sql(reports_schema, '$1');
        has_amount := EXISTS (SELECT FROM pg_attribute
                               WHERE attrelid = format('%I.report_leads', reports_schema)::regclass
                                 AND attname = 'expected_revenue' AND attnum > 0 AND NOT attisdropped);
    ELSE
        -- stored summaries (campaign, channel, summary): their grid is the
        -- one of any of them, their as_of its last snapshot
        EXECUTE format('SELECT summary FROM %s LIMIT 1', summaries) INTO grid;
        IF grid IS NULL THEN
            RAISE EXCEPTION 'leadkpi: % holds no close summary', summaries
                USING ERRCODE = '22023', HINT = 'Fill it with close_summaries(reports_schema, forecast_grid(reports_schema)).';
        END IF;
        SELECT max(w.snapshot), count(DISTINCT w.snapshot) INTO as_of_used, n FROM @extschema@.close_windows(grid) AS w;
        IF as_of IS NOT NULL AND as_of <> as_of_used THEN
            RAISE EXCEPTION 'leadkpi: the summaries in % were built for as_of %, not %', summaries, as_of_used, as_of
                USING ERRCODE = '22023', HINT = 'Pass as_of => NULL to forecast from the stored as_of, or rebuild the summaries.';
        END IF;
        IF horizon > @extschema@.horizons(grid) OR n < plan.snapshots
           OR EXISTS (SELECT FROM @extschema@.close_windows(grid) AS w
                       WHERE w.snapshot = as_of_used AND w.horizon = 2
                         AND abs(extract(epoch FROM w.window_end - w.window_start) - extract(epoch FROM (w.window_start AT TIME ZONE time_zone + step) AT TIME ZONE time_zone - w.window_start)) > 7200) THEN
            RAISE EXCEPTION 'leadkpi: the summaries in % do not fit this forecast (% snapshots of % windows, % needed of %)',
                            summaries, n, @extschema@.horizons(grid), plan.snapshots, horizon
                USING ERRCODE = '22023',
                      HINT = 'Build them with forecast_grid() and the same period, horizon, lookback, stale_after and backtest cutoffs.';
        END IF;
        members_sql := format('SELECT array_agg(ROW(campaign, channel, NULL::date, summary)::@extschema@.close_segment) FROM %s',
                              summaries);
        has_amount := EXISTS (SELECT FROM @extschema@.close_pipeline(grid) WHERE with_amount > 0)
                      OR EXISTS (SELECT FROM pg_attribute
                                  WHERE attrelid = to_regclass(format('%I.report_leads', reports_schema))
                                    AND attname = 'expected_revenue' AND attnum > 0 AND NOT attisdropped);
    END IF;
    SELECT array_agg(x.snapshot ORDER BY x.snapshot DESC) INTO earlier
      FROM (SELECT DISTINCT w.snapshot FROM @extschema@.close_windows(grid) AS w WHERE w.snapshot < as_of_used) x;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_forecast_source(name, regclass, timestamptz, text, integer, double precision, text, integer, integer, interval) IS
'leadkpi internal: validates the common arguments of forecast_closings and forecast_backtest and gives the members'' summaries, the grid, the earlier snapshots and the method''s plan';

CREATE OR REPLACE FUNCTION @extschema@.forecast_closings(
    reports_schema name,
    as_of timestamptz DEFAULT NULL,
    period text DEFAULT 'month',
    horizon integer DEFAULT 6,
    level double precision DEFAULT 0.8,
    by text DEFAULT NULL,
    stale_after interval DEFAULT NULL,
    lookback integer DEFAULT NULL,
    summaries regclass DEFAULT NULL)
RETURNS TABLE (
    segment text, period_start date, h integer, window_start timestamptz, window_end timestamptz,
    closings double precision, closings_low bigint, closings_high bigint,
    from_pipeline double precision, from_new_leads double precision,
    revenue numeric, revenue_low numeric, revenue_high numeric, revenue_from_pipeline numeric,
    open_leads bigint, stale_leads bigint, leads_with_amount bigint, min_cell_observations bigint,
    amount_basis text, dispersion double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record := @extschema@._lk_forecast_source(reports_schema, summaries, as_of, period, horizon, level, by,
                                                  lookback, 0, stale_after);
BEGIN
    IF NOT src.has_amount THEN
        RAISE NOTICE 'leadkpi: %.report_leads has no expected_revenue column, so revenue uses each segment''s mean won revenue', quote_ident(reports_schema)
            USING HINT = 'Add the deal amount of open leads as expected_revenue to the leads your reports read.';
    END IF;
    -- the forecast at as_of, calibrated on the snapshots before it
    RETURN QUERY EXECUTE format(
        'SELECT f.segment, (date_trunc(%L, f.window_start AT TIME ZONE %L))::date, f.h, f.window_start, f.window_end, '
        'f.mean, @extschema@.forecast_count_quantile(f.mean, f.var * f.dispersion, (1 - $3) / 2), '
        '@extschema@.forecast_count_quantile(f.mean, f.var * f.dispersion, (1 + $3) / 2), f.pipeline, f.new_leads, '
        'round(f.revenue::numeric, 2), '
        'round(@extschema@.forecast_amount_quantile(f.revenue, f.revenue_var * f.revenue_dispersion, (1 - $3) / 2, '
        'f.mean, f.var * f.dispersion)::numeric, 2), '
        'round(@extschema@.forecast_amount_quantile(f.revenue, f.revenue_var * f.revenue_dispersion, (1 + $3) / 2, '
        'f.mean, f.var * f.dispersion)::numeric, 2), round(f.revenue_pipeline::numeric, 2), '
        'f.open_leads, f.stale_leads, f.amount_leads, f.min_cell, '
        'CASE WHEN NOT $4 OR f.amount_leads = 0 THEN ''mean won revenue'' WHEN f.amount_leads = f.open_leads '
        'THEN ''expected_revenue'' ELSE ''mixed'' END, f.dispersion '
        'FROM @extschema@.close_forecast_segments((%s), %L, $2, ARRAY[$5], %s, %s, %s, %L::interval, %s) AS f '
        'ORDER BY f.segment NULLS FIRST, f.h',
        period, src.time_zone, src.members_sql, by, src.calibration, horizon, src.fit_lookback, stale_after, src.season)
    USING src.grid,
          ARRAY[src.as_of_used] || src.earlier[1:src.calibration],
          level, src.has_amount, src.as_of_used;
END;
$$;
COMMENT ON FUNCTION @extschema@.forecast_closings(name, timestamptz, text, integer, double precision, text, interval, integer, regclass) IS
'Forecast of the closings (wins) and their revenue in each of the next horizon periods (''month'' or ''week'', cut in the reports'' time zone; the first runs from as_of, default now(), to the end of its period), overall or by => ''campaign'' | ''channel'': expected closings with a level prediction interval, the part from today''s open pipeline and from leads that do not exist yet, expected revenue with its interval, the open leads it rests on, those left out as stale (no new stage for stale_after), and the smallest history cell used. Reads report_leads and report_stage_events of a reports schema, or stored close summaries (summaries => a table of campaign, channel, summary built with forecast_grid(), as_of then defaults to theirs). See doc/forecast.md.';
