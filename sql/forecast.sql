
-- ===========================================================================
-- The close forecast (new in 0.2.0): the close_summary type, its aggregates
-- and accessors (src/close_summary.c), the forecast method on it
-- (src/close_forecast.c, src/forecast_dist.c), and forecast_closings() and
-- forecast_backtest() over a reports schema.  See doc/forecast.md.
-- ===========================================================================

CREATE TYPE close_summary;

CREATE FUNCTION close_summary_in(cstring) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_out(close_summary) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_recv(internal) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_send(close_summary) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE close_summary (
    INPUT = close_summary_in,
    OUTPUT = close_summary_out,
    RECEIVE = close_summary_recv,
    SEND = close_summary_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE close_summary IS
'Mergeable history of a pipeline for the close forecast: on a grid of snapshot instants, the leads open at each (by stage and age bucket, with their expected amounts) and how many of them were won or lost in each fully observed coming window, the leads that arrived in each window and when they won, and every win with its revenue (exact sums). Build with close_agg over close_grid(), merge with rollup or +, read with close_history/close_pipeline/close_windows/close_new_leads, forecast with forecast_closings.';
COMMENT ON FUNCTION close_summary_in(cstring) IS 'Text input of close_summary; validates every field (SQLSTATE 22P02 on malformed input).';
COMMENT ON FUNCTION close_summary_out(close_summary) IS 'Text output of close_summary: one line starting with the format version, exactly round-tripping.';
COMMENT ON FUNCTION close_summary_recv(internal) IS 'Binary input of close_summary (COPY BINARY); validates every field.';
COMMENT ON FUNCTION close_summary_send(close_summary) IS 'Binary output of close_summary (COPY BINARY); also callable to get a summary''s bytes.';

CREATE FUNCTION close_summary_from_bytes(bytea) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION close_summary_from_bytes(bytea) IS 'A close_summary from its binary form (close_summary_send''s output); validates every field (22P02).';

-- The grid -------------------------------------------------------------------

CREATE FUNCTION close_summary_grid(snapshots timestamptz[], ends timestamptz[], as_of timestamptz,
                                   age_bounds interval[])
RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION close_summary_grid(timestamptz[], timestamptz[], timestamptz, interval[]) IS
'An empty close_summary fixing the snapshot instants, the end of each one''s coming windows (ends holds horizon ends per snapshot, in order), which windows are observed (those ending at or before as_of) and the age buckets. close_grid() computes the instants for you.';

CREATE FUNCTION close_grid(as_of timestamptz, period text DEFAULT 'month', horizon integer DEFAULT 6,
                           snapshots integer DEFAULT 24, time_zone text DEFAULT 'UTC',
                           age_bounds interval[] DEFAULT NULL)
RETURNS close_summary
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    step interval;
    local timestamp;
    ts timestamptz[];
    ends timestamptz[];
BEGIN
    IF as_of IS NULL OR period IS NULL OR horizon IS NULL OR snapshots IS NULL OR time_zone IS NULL THEN
        RAISE EXCEPTION 'leadkpi: close_grid needs as_of, period, horizon, snapshots and time_zone'
            USING ERRCODE = '22004', HINT = 'Only age_bounds may be NULL (the default buckets).';
    END IF;
    step := CASE period WHEN 'month' THEN interval '1 month' WHEN 'week' THEN interval '1 week' END;
    IF step IS NULL THEN
        RAISE EXCEPTION 'leadkpi: unknown period %', quote_literal(period)
            USING ERRCODE = '22023', HINT = 'Pass period => ''month'' or ''week''.';
    END IF;
    IF horizon < 1 OR horizon > 60 THEN
        RAISE EXCEPTION 'leadkpi: horizon must be between 1 and 60, not %', horizon
            USING ERRCODE = '22023', HINT = 'The horizon is the number of coming periods, e.g. horizon => 6.';
    END IF;
    IF snapshots < 1 OR snapshots > 1000 THEN
        RAISE EXCEPTION 'leadkpi: snapshots must be between 1 and 1000, not %', snapshots
            USING ERRCODE = '22023', HINT = 'E.g. snapshots => 24 for two years of months.';
    END IF;
    -- snapshots at as_of and at the same point of earlier periods, oldest
    -- first; each one's windows end at the next period boundaries, all cut
    -- in time_zone
    local := as_of AT TIME ZONE time_zone;
    SELECT array_agg((local - (snapshots - 1 - k) * step) AT TIME ZONE time_zone ORDER BY k) INTO ts
      FROM generate_series(0, snapshots - 1) k;
    SELECT array_agg((date_trunc(period, local - (snapshots - 1 - k) * step) + h * step) AT TIME ZONE time_zone
                     ORDER BY k, h) INTO ends
      FROM generate_series(0, snapshots - 1) k, generate_series(1, horizon) h;
    RETURN @extschema@.close_summary_grid(ts, ends, as_of,
        coalesce(age_bounds, ARRAY['7 days', '14 days', '30 days', '60 days', '90 days', '180 days', '365 days']::interval[]));
END;
$$;
COMMENT ON FUNCTION close_grid(timestamptz, text, integer, integer, text, interval[]) IS
'The grid of a close forecast at as_of: snapshots at as_of and at the same point of the snapshots-1 periods before it (period ''month'' or ''week''), each with horizon windows ending at the next period boundaries, cut in time_zone; windows ending after as_of are not observed. Age buckets (time since a lead reached its stage) default to 7, 14, 30, 60, 90, 180 and 365 days.';

-- Aggregates -----------------------------------------------------------------

CREATE FUNCTION stage_reach_accum(timestamptz[], integer, timestamptz) RETURNS timestamptz[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION stage_reach_combine(timestamptz[], timestamptz[]) RETURNS timestamptz[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION stage_reach_final(timestamptz[]) RETURNS timestamptz[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE stage_reach(step integer, occurred_at timestamptz) (
    SFUNC = stage_reach_accum, STYPE = timestamptz[], FINALFUNC = stage_reach_final,
    COMBINEFUNC = stage_reach_combine, PARALLEL = SAFE);
COMMENT ON FUNCTION stage_reach_accum(timestamptz[], integer, timestamptz) IS 'Support: transition function of stage_reach.';
COMMENT ON FUNCTION stage_reach_combine(timestamptz[], timestamptz[]) IS 'Support: combine function of stage_reach.';
COMMENT ON FUNCTION stage_reach_final(timestamptz[]) IS 'Support: final function of stage_reach.';
COMMENT ON AGGREGATE stage_reach(integer, timestamptz) IS
'Per lead (GROUP BY lead_id), the first time it reached each step: element k is the earliest occurred_at of step k, NULL when never reached; NULL without steps. The `reached` input of close_agg.';

CREATE FUNCTION close_agg_accum(close_summary, timestamptz, timestamptz, timestamptz, numeric,
                                timestamptz[], numeric, close_summary) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION close_summary_combine(close_summary, close_summary) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_final(close_summary) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION close_agg_accum(close_summary, timestamptz, timestamptz, timestamptz, numeric, timestamptz[], numeric, close_summary) IS 'Support: transition function of close_agg.';
COMMENT ON FUNCTION close_summary_combine(close_summary, close_summary) IS 'Support: combine function of close_agg and rollup(close_summary), and rollup''s transition.';
COMMENT ON FUNCTION close_summary_final(close_summary) IS 'Support: final function of close_agg and rollup(close_summary) (the canonical, stored form).';

CREATE AGGREGATE close_agg(first_contact_at timestamptz, converted_at timestamptz, lost_at timestamptz,
                           revenue numeric, reached timestamptz[], expected_amount numeric,
                           grid close_summary) (
    SFUNC = close_agg_accum, STYPE = close_summary, FINALFUNC = close_summary_final,
    COMBINEFUNC = close_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE rollup(close_summary) (
    SFUNC = close_summary_combine, STYPE = close_summary, FINALFUNC = close_summary_final,
    COMBINEFUNC = close_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE close_agg(timestamptz, timestamptz, timestamptz, numeric, timestamptz[], numeric, close_summary) IS
'Close-model history of leads on a grid (close_grid()), one row per lead: first contact, conversion (a win; it outranks lost_at), loss, revenue (of a win), reached (the first time of each stage, e.g. stage_reach()), the expected amount of the deal. A lead is open at a snapshot t when its first contact is before t and it had not closed before t; its stage is the furthest one reached before t. Leads without a first contact are skipped; infinite times are an error (22008). NULL over no rows.';
COMMENT ON AGGREGATE rollup(close_summary) IS
'Merges close summaries of the same grid exactly (associative and commutative): the result equals the summary built from all the leads at once. Summaries of different snapshot instants merge into their union; different windows, horizons or age buckets are an error (22023).';

CREATE FUNCTION close_summary_add(close_summary, close_summary) RETURNS close_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION close_summary_add(close_summary, close_summary) IS 'Merges two close summaries, as rollup does; the function behind close_summary + close_summary.';
CREATE OPERATOR + (LEFTARG = close_summary, RIGHTARG = close_summary,
                   FUNCTION = close_summary_add, COMMUTATOR = +);
COMMENT ON OPERATOR + (close_summary, close_summary) IS 'Merges two close summaries; NULL if either is NULL (use rollup() to skip NULLs).';

CREATE FUNCTION close_summary_eq(close_summary, close_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_ne(close_summary, close_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_summary_hash(close_summary) RETURNS integer
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR = (LEFTARG = close_summary, RIGHTARG = close_summary, FUNCTION = close_summary_eq,
                   COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES);
CREATE OPERATOR <> (LEFTARG = close_summary, RIGHTARG = close_summary, FUNCTION = close_summary_ne,
                    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR CLASS close_summary_hash_ops DEFAULT FOR TYPE close_summary USING hash AS
    OPERATOR 1 = (close_summary, close_summary), FUNCTION 1 close_summary_hash(close_summary);
COMMENT ON FUNCTION close_summary_eq(close_summary, close_summary) IS 'Support: close_summary = close_summary.';
COMMENT ON FUNCTION close_summary_ne(close_summary, close_summary) IS 'Support: close_summary <> close_summary.';
COMMENT ON FUNCTION close_summary_hash(close_summary) IS 'Support: hash of a close_summary, consistent with =.';
COMMENT ON OPERATOR = (close_summary, close_summary) IS 'True when both close summaries hold the same grid and counts, i.e. print the same. No ordering is defined.';
COMMENT ON OPERATOR <> (close_summary, close_summary) IS 'Negation of = for close_summary.';
COMMENT ON OPERATOR CLASS close_summary_hash_ops USING hash IS 'Hashing of close_summary, for DISTINCT, UNION, GROUP BY and hash joins.';
COMMENT ON OPERATOR FAMILY close_summary_hash_ops USING hash IS 'The family of close_summary_hash_ops (created with it).';

-- Accessors --------------------------------------------------------------------

CREATE FUNCTION leads(close_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'close_summary_leads' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION excluded_leads(close_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'close_summary_excluded' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION horizons(close_summary) RETURNS integer
    AS 'MODULE_PATHNAME', 'close_summary_horizons' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION age_bounds(close_summary) RETURNS interval[]
    AS 'MODULE_PATHNAME', 'close_summary_age_bounds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION leads(close_summary) IS 'Number of leads (rows with a first contact) the summary was built from.';
COMMENT ON FUNCTION excluded_leads(close_summary) IS 'Leads that closed (won or lost) before their first contact: a data error the model leaves out (never open, never a new lead''s win), counted here.';
COMMENT ON FUNCTION horizons(close_summary) IS 'Number of coming windows per snapshot.';
COMMENT ON FUNCTION age_bounds(close_summary) IS 'The bounds of the age buckets (time since a lead reached its current stage); bucket 0 is below the first bound, the last bucket at or above the last.';

CREATE FUNCTION close_history(s close_summary,
    OUT snapshot timestamptz, OUT stage integer, OUT age_bucket integer, OUT horizon integer,
    OUT observed bigint, OUT won bigint, OUT lost bigint)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'close_summary_history' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION close_history(close_summary) IS
'The model''s counts: per snapshot, stage (0 = no stage reached yet), age bucket and observed window (horizon 1 = the window starting at the snapshot): the leads open at the snapshot in that state, and how many of them were won and lost in that window. Only fully observed windows are listed.';

CREATE FUNCTION close_pipeline(s close_summary,
    OUT snapshot timestamptz, OUT stage integer, OUT age_bucket integer,
    OUT open_leads bigint, OUT with_amount bigint, OUT amount numeric)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'close_summary_pipeline' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_pipeline(close_summary) IS
'The open pipeline at each snapshot: per stage and age bucket, the open leads, how many have an expected amount, and the sum of those amounts (NULL when none).';

CREATE FUNCTION close_windows(s close_summary,
    OUT snapshot timestamptz, OUT horizon integer, OUT window_start timestamptz, OUT window_end timestamptz,
    OUT observed boolean, OUT arrivals bigint, OUT closings bigint, OUT with_revenue bigint, OUT revenue numeric)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'close_summary_windows' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_windows(close_summary) IS
'Per snapshot and window: its bounds, whether it is observed, the leads that arrived (first contact) in it, the wins in it (closings: of the leads open at the snapshot and of new ones, so not those dated before their first contact) and the revenue of those with one. Counts are NULL for windows not observed.';

CREATE FUNCTION close_new_leads(s close_summary,
    OUT snapshot timestamptz, OUT arrival_window integer, OUT win_window integer, OUT won bigint)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'close_summary_new_leads' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_new_leads(close_summary) IS
'Per snapshot: of the leads that arrived in arrival_window, how many won in win_window (both observed, win_window >= arrival_window).';

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
    OUT run_rate double precision, OUT fixed_stage double precision, OUT stage_rate double precision)
RETURNS SETOF record
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION close_forecast(close_summary, close_summary, close_summary, timestamptz[], integer, integer, interval, integer, double precision, double precision, integer, double precision[]) IS
'The forecast method on one member''s summary (a campaign and channel), smoothed toward its parent''s (the channel) and the root''s (everything): for each cutoff (a snapshot) and window, expected wins from the open pipeline and from leads that do not exist yet, their variances, expected revenue, what actually closed when observed, and the three baselines; expectations scaled by adjust (close_forecast_adjust of the root). Additive over members; forecast_closings() combines and calibrates them. See doc/forecast.md.';

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

-- The SQL of the members' close summaries over a reports schema: one row per
-- (campaign, channel[, cohort]) with summary s, for the grid in parameter
-- grid_param (e.g. '$1').  The expected amount comes from
-- report_leads.expected_revenue when that column exists.
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
        'SELECT l.campaign, l.channel, %s AS cohort, '
        '@extschema@.close_agg(l.first_contact_at, l.converted_at, l.lost_at, l.revenue, %s, %s, %s) AS s '
        'FROM %s.report_leads AS l %s GROUP BY 1, 2, 3',
        CASE WHEN cohort THEN format('date_trunc(''month'', l.first_contact_at AT TIME ZONE %L)::date', tz)
             ELSE 'NULL::date' END,
        CASE WHEN has_events THEN 'e.reached' ELSE 'NULL::timestamptz[]' END,
        amount, grid_param, s,
        CASE WHEN has_events THEN format(
            'LEFT JOIN (SELECT lead_id, @extschema@.stage_reach(step, occurred_at) AS reached '
            'FROM %s.report_stage_events GROUP BY lead_id) AS e ON e.lead_id = l.lead_id', s)
        ELSE '' END);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_close_summaries_sql(name, text, boolean) IS
'leadkpi internal: the query building close summaries per campaign and channel (and cohort month) from a reports schema';

CREATE OR REPLACE FUNCTION @extschema@.close_summaries(reports_schema name, grid close_summary,
                                                     by_cohort boolean DEFAULT false)
RETURNS TABLE (campaign text, channel text, cohort date, summary close_summary)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE @extschema@._lk_close_summaries_sql(reports_schema, '$1', by_cohort) USING grid;
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

-- The forecast query: members' summaries (campaign, channel, s) from
-- members_sql, rolled up to channels and the root, close_forecast() per
-- member at the given cutoffs, summed per segment.  Yields segment, cutoff,
-- h, the window, actual, actual_revenue, mean, var, rev, rev_var, the parts
-- and the baselines.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_sql(members_sql text, segment text, cutoffs text,
    horizon integer, lookback integer, stale_after interval, season integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'WITH m AS MATERIALIZED (SELECT campaign, channel, @extschema@.rollup(s) AS s FROM (%1$s) AS x GROUP BY 1, 2), '
    'ch AS MATERIALIZED (SELECT channel, @extschema@.rollup(s) AS s FROM m GROUP BY 1), '
    'rt AS MATERIALIZED (SELECT s, @extschema@.close_forecast_adjust(s, %3$s, %4$s, %5$s, %6$L::interval, %7$s) AS adjust '
    'FROM (SELECT @extschema@.rollup(s) AS s FROM m) AS a) '
    'SELECT %2$s AS segment, f.cutoff, f.h, min(f.window_start) AS window_start, min(f.window_end) AS window_end, '
    'sum(f.actual)::float8 AS actual, sum(f.actual_revenue) AS actual_revenue, '
    'sum(f.pipeline + f.new_leads) AS mean, sum(f.pipeline_var + f.new_var) AS var, '
    'sum(f.pipeline) AS pipeline, sum(f.new_leads) AS new_leads, '
    'sum(f.revenue) AS rev, sum(f.revenue_var) AS rev_var, sum(f.revenue_pipeline) AS rev_pipeline, '
    'sum(f.open_leads)::bigint AS open_leads, sum(f.stale_leads)::bigint AS stale_leads, '
    'sum(f.amount_leads)::bigint AS amount_leads, min(f.min_cell) AS min_cell, '
    'sum(f.run_rate) AS run_rate, sum(f.fixed_stage) AS fixed_stage, sum(f.stage_rate) AS stage_rate '
    'FROM m JOIN ch ON coalesce(ch.channel, '''') = coalesce(m.channel, '''') AND (ch.channel IS NULL) = (m.channel IS NULL) CROSS JOIN rt, '
    'LATERAL @extschema@.close_forecast(m.s, ch.s, rt.s, %3$s, %4$s, %5$s, %6$L::interval, %7$s, adjust => rt.adjust) AS f '
    'GROUP BY 1, 2, 3',
    members_sql, segment, cutoffs, horizon, lookback, stale_after, season);
COMMENT ON FUNCTION @extschema@._lk_forecast_sql(text, text, text, integer, integer, interval, integer) IS
'leadkpi internal: the forecast query over members'' close summaries, summed per segment';

-- Calibration, in one grouped pass over the forecast rows (segment, cutoff,
-- h, window_start, window_end, actual, actual_revenue, mean, var, rev,
-- rev_var, ...): for each target cutoff (the SQL of an array), segment and
-- horizon, the target's own row, and the dispersion of actuals around the
-- forecast at the calibration cutoffs before it (within calibration_span)
-- whose window had ended by it: the median of the squared standardized
-- errors (A - mean)^2 / var over that of a chi-square with one degree of
-- freedom (0.4549), so that a few extreme periods (a December) do not widen
-- every interval; shrunk toward 1 by two pseudo-observations and never below
-- 1 (phi for closings, rev_phi for revenue).
CREATE OR REPLACE FUNCTION @extschema@._lk_calibrated_sql(rows_sql text, targets text, calibration_span interval)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT r.segment, t.target AS cutoff, r.h, '
    'min(r.window_start) FILTER (WHERE r.cutoff = t.target) AS window_start, '
    'min(r.window_end) FILTER (WHERE r.cutoff = t.target) AS window_end, '
    'min(r.actual) FILTER (WHERE r.cutoff = t.target) AS actual, '
    'min(r.actual_revenue) FILTER (WHERE r.cutoff = t.target) AS actual_revenue, '
    'min(r.mean) FILTER (WHERE r.cutoff = t.target) AS mean, min(r.var) FILTER (WHERE r.cutoff = t.target) AS var, '
    'min(r.pipeline) FILTER (WHERE r.cutoff = t.target) AS pipeline, min(r.new_leads) FILTER (WHERE r.cutoff = t.target) AS new_leads, '
    'min(r.rev) FILTER (WHERE r.cutoff = t.target) AS rev, min(r.rev_var) FILTER (WHERE r.cutoff = t.target) AS rev_var, '
    'min(r.rev_pipeline) FILTER (WHERE r.cutoff = t.target) AS rev_pipeline, '
    'min(r.open_leads) FILTER (WHERE r.cutoff = t.target) AS open_leads, min(r.stale_leads) FILTER (WHERE r.cutoff = t.target) AS stale_leads, '
    'min(r.amount_leads) FILTER (WHERE r.cutoff = t.target) AS amount_leads, min(r.min_cell) FILTER (WHERE r.cutoff = t.target) AS min_cell, '
    'min(r.run_rate) FILTER (WHERE r.cutoff = t.target) AS run_rate, min(r.fixed_stage) FILTER (WHERE r.cutoff = t.target) AS fixed_stage, '
    'min(r.stage_rate) FILTER (WHERE r.cutoff = t.target) AS stage_rate, '
    'greatest(1.0, (count(*) FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual IS NOT NULL) '
    '* coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.actual - r.mean) ^ 2 / nullif(r.var, 0)) '
    'FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual IS NOT NULL) / 0.454936423119572, 1) + 2) '
    '/ (count(*) FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual IS NOT NULL) + 2)) AS phi, '
    'greatest(1.0, (count(*) FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual_revenue IS NOT NULL) '
    '* coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.actual_revenue - r.rev) ^ 2 / nullif(r.rev_var, 0)) '
    'FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual_revenue IS NOT NULL) / 0.454936423119572, 1) + 2) '
    '/ (count(*) FILTER (WHERE r.cutoff < t.target AND r.window_end <= t.target AND r.actual_revenue IS NOT NULL) + 2)) AS rev_phi '
    'FROM unnest(%2$s) AS t(target) JOIN (%1$s) AS r ON r.cutoff <= t.target AND r.cutoff >= t.target - %3$L::interval '
    'GROUP BY r.segment, t.target, r.h',
    rows_sql, targets, calibration_span);
COMMENT ON FUNCTION @extschema@._lk_calibrated_sql(text, text, interval) IS
'leadkpi internal: the forecast rows of the target cutoffs with their interval calibration (dispersion of earlier forecast errors per segment and horizon)';

-- Validates the arguments common to forecast_closings and the backtest, and
-- gives what the forecast query reads: the members' summaries (SQL over a
-- reports schema, on the grid in $1, or over a stored table), the grid, the
-- snapshots before as_of (latest first), the time zone and the method's plan.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_source(reports_schema name, summaries regclass,
    as_of timestamptz, period text, horizon integer, level double precision, by text,
    lookback integer, backtest integer, stale_after interval,
    OUT as_of_used timestamptz, OUT members_sql text, OUT grid @extschema@.close_summary,
    OUT earlier timestamptz[], OUT segment_sql text, OUT time_zone text, OUT has_amount boolean,
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
    segment_sql := CASE by WHEN 'campaign' THEN 'm.campaign' WHEN 'channel' THEN 'm.channel' ELSE 'NULL::text' END;
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
        members_sql := format('SELECT campaign, channel, summary AS s FROM %s', summaries);
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
    span interval := src.calibration * ('1 ' || period)::interval;
    rows_sql text;
BEGIN
    IF NOT src.has_amount THEN
        RAISE NOTICE 'leadkpi: %.report_leads has no expected_revenue column, so revenue uses each segment''s mean won revenue', quote_ident(reports_schema)
            USING HINT = 'Add the deal amount of open leads as expected_revenue to the leads your reports read.';
    END IF;
    rows_sql := @extschema@._lk_forecast_sql(src.members_sql, src.segment_sql, '$2', horizon, src.fit_lookback,
                                             stale_after, src.season);
    -- the forecast at as_of, and at the calibration snapshots before it
    RETURN QUERY EXECUTE format(
        'WITH r AS MATERIALIZED (%s), c AS (%s) '
        'SELECT segment, (date_trunc(%L, window_start AT TIME ZONE %L))::date, h, window_start, window_end, '
        'mean, @extschema@.forecast_count_quantile(mean, var * phi, (1 - $3) / 2), '
        '@extschema@.forecast_count_quantile(mean, var * phi, (1 + $3) / 2), pipeline, new_leads, '
        'round(rev::numeric, 2), round(@extschema@.forecast_amount_quantile(rev, rev_var * rev_phi, (1 - $3) / 2, mean, var * phi)::numeric, 2), '
        'round(@extschema@.forecast_amount_quantile(rev, rev_var * rev_phi, (1 + $3) / 2, mean, var * phi)::numeric, 2), round(rev_pipeline::numeric, 2), '
        'open_leads, stale_leads, amount_leads, min_cell, '
        'CASE WHEN NOT $4 OR amount_leads = 0 THEN ''mean won revenue'' WHEN amount_leads = open_leads '
        'THEN ''expected_revenue'' ELSE ''mixed'' END, phi '
        'FROM c ORDER BY segment NULLS FIRST, h',
        rows_sql, @extschema@._lk_calibrated_sql('SELECT * FROM r', 'ARRAY[$5]', span), period, src.time_zone)
    USING src.grid,
          ARRAY[src.as_of_used] || src.earlier[1:src.calibration],
          level, src.has_amount, src.as_of_used;
END;
$$;
COMMENT ON FUNCTION @extschema@.forecast_closings(name, timestamptz, text, integer, double precision, text, interval, integer, regclass) IS
'Forecast of the closings (wins) and their revenue in each of the next horizon periods (''month'' or ''week'', cut in the reports'' time zone; the first runs from as_of, default now(), to the end of its period), overall or by => ''campaign'' | ''channel'': expected closings with a level prediction interval, the part from today''s open pipeline and from leads that do not exist yet, expected revenue with its interval, the open leads it rests on, those left out as stale (no new stage for stale_after), and the smallest history cell used. Reads report_leads and report_stage_events of a reports schema, or stored close summaries (summaries => a table of campaign, channel, summary built with forecast_grid(), as_of then defaults to theirs). See doc/forecast.md.';

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
    span interval;
    rows_sql text;
BEGIN
    IF cutoffs IS NULL OR cutoffs < 1 OR cutoffs > 520 THEN
        RAISE EXCEPTION 'leadkpi: cutoffs must be between 1 and 520, not %', coalesce(cutoffs::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'The number of past period boundaries to forecast from, e.g. cutoffs => 12.';
    END IF;
    src := @extschema@._lk_forecast_source(reports_schema, summaries, as_of, period, horizon, level, by,
                                           lookback, cutoffs, stale_after);
    span := src.calibration * ('1 ' || period)::interval;
    rows_sql := @extschema@._lk_forecast_sql(src.members_sql, src.segment_sql, '$2', horizon, src.fit_lookback,
                                             stale_after, src.season);
    -- the last `cutoffs` snapshots before as_of are forecast from; the
    -- calibration ones before them only calibrate
    RETURN QUERY EXECUTE format(
        'WITH r AS MATERIALIZED (%s), b AS MATERIALIZED (SELECT * FROM (%s) AS c WHERE actual IS NOT NULL) '
        'SELECT ''leadkpi'', ''closings'', cutoff, segment, h, actual, mean, '
        '@extschema@.forecast_count_quantile(mean, var * phi, (1 - $4) / 2)::float8, '
        '@extschema@.forecast_count_quantile(mean, var * phi, (1 + $4) / 2)::float8 FROM b '
        'UNION ALL SELECT ''run_rate'', ''closings'', cutoff, segment, h, actual, run_rate, NULL, NULL FROM b '
        'UNION ALL SELECT ''fixed_stage'', ''closings'', cutoff, segment, h, actual, fixed_stage, NULL, NULL FROM b '
        'UNION ALL SELECT ''stage_rate'', ''closings'', cutoff, segment, h, actual, stage_rate, NULL, NULL FROM b '
        'UNION ALL SELECT ''leadkpi'', ''revenue'', cutoff, segment, h, actual_revenue, rev, '
        '@extschema@.forecast_amount_quantile(rev, rev_var * rev_phi, (1 - $4) / 2, mean, var * phi), '
        '@extschema@.forecast_amount_quantile(rev, rev_var * rev_phi, (1 + $4) / 2, mean, var * phi) FROM b',
        rows_sql, @extschema@._lk_calibrated_sql('SELECT * FROM r', '$3', span))
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
