
-- ===========================================================================
-- The close forecast (new in 0.2.0), 1 of 3: the close_summary type, its
-- I/O, grid, aggregates (close_agg, close_agg_segments, rollup), operators
-- and accessors (src/close_summary.c, src/close_segments.c).  The forecast
-- method on it is in sql/forecast/forecast.sql.  See doc/forecast.md.
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

-- Every segment's summary from the leads and their stage events in one pass:
-- a UNION ALL of both (see _lk_close_summaries_sql), joined by lead inside.
CREATE TYPE close_segment AS (campaign text, channel text, cohort date, summary close_summary);
COMMENT ON TYPE close_segment IS
'A close summary with its segment: campaign, channel and cohort (month of first contact), each NULL when not given; what close_agg_segments returns and a store of the forecast holds.';

CREATE FUNCTION close_agg_segments_accum(internal, bigint, integer, timestamptz, timestamptz, timestamptz,
                                         timestamptz, numeric, numeric, text, text, date, close_summary)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_accum(internal, uuid, integer, timestamptz, timestamptz, timestamptz,
                                         timestamptz, numeric, numeric, text, text, date, close_summary)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_accum(internal, text, integer, timestamptz, timestamptz, timestamptz,
                                         timestamptz, numeric, numeric, text, text, date, close_summary)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION close_agg_segments_final(internal) RETURNS close_segment[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION close_agg_segments_accum(internal, bigint, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS 'Support: transition function of close_agg_segments (bigint leads).';
COMMENT ON FUNCTION close_agg_segments_accum(internal, uuid, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS 'Support: transition function of close_agg_segments (uuid leads).';
COMMENT ON FUNCTION close_agg_segments_accum(internal, text, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS 'Support: transition function of close_agg_segments (text leads, compared bytewise).';
COMMENT ON FUNCTION close_agg_segments_combine(internal, internal) IS 'Support: combine function of close_agg_segments (the leads and events of both, segments matched).';
COMMENT ON FUNCTION close_agg_segments_serialize(internal) IS 'Support: serializes a partial state of close_agg_segments for parallel aggregation.';
COMMENT ON FUNCTION close_agg_segments_deserialize(bytea, internal) IS 'Support: deserializes and validates a partial state of close_agg_segments.';
COMMENT ON FUNCTION close_agg_segments_final(internal) IS 'Support: final function of close_agg_segments: joins the stage events to their leads and builds each segment''s summary.';
CREATE AGGREGATE close_agg_segments(lead_id bigint, step integer, occurred_at timestamptz,
    first_contact_at timestamptz, converted_at timestamptz, lost_at timestamptz, revenue numeric,
    expected_amount numeric, campaign text, channel text, cohort date, grid close_summary) (
    SFUNC = close_agg_segments_accum, STYPE = internal, FINALFUNC = close_agg_segments_final,
    FINALFUNC_MODIFY = READ_WRITE, COMBINEFUNC = close_agg_segments_combine,
    SERIALFUNC = close_agg_segments_serialize, DESERIALFUNC = close_agg_segments_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE close_agg_segments(lead_id uuid, step integer, occurred_at timestamptz,
    first_contact_at timestamptz, converted_at timestamptz, lost_at timestamptz, revenue numeric,
    expected_amount numeric, campaign text, channel text, cohort date, grid close_summary) (
    SFUNC = close_agg_segments_accum, STYPE = internal, FINALFUNC = close_agg_segments_final,
    FINALFUNC_MODIFY = READ_WRITE, COMBINEFUNC = close_agg_segments_combine,
    SERIALFUNC = close_agg_segments_serialize, DESERIALFUNC = close_agg_segments_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE close_agg_segments(lead_id text, step integer, occurred_at timestamptz,
    first_contact_at timestamptz, converted_at timestamptz, lost_at timestamptz, revenue numeric,
    expected_amount numeric, campaign text, channel text, cohort date, grid close_summary) (
    SFUNC = close_agg_segments_accum, STYPE = internal, FINALFUNC = close_agg_segments_final,
    FINALFUNC_MODIFY = READ_WRITE, COMBINEFUNC = close_agg_segments_combine,
    SERIALFUNC = close_agg_segments_serialize, DESERIALFUNC = close_agg_segments_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE close_agg_segments(bigint, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS
'Close summaries of every segment (campaign, channel, cohort) in one pass over the leads and their stage events together, e.g. a UNION ALL: a row with a step is a stage event of lead_id at occurred_at, any other row a lead (first contact, conversion, loss, revenue, expected amount and its segment). Equals close_agg over each segment''s leads with reached = stage_reach of their events, without grouping the events by lead or joining them to the leads in SQL. Returns one close_segment per segment (NULL over no leads).';
COMMENT ON AGGREGATE close_agg_segments(uuid, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS
'close_agg_segments for uuid leads.';
COMMENT ON AGGREGATE close_agg_segments(text, integer, timestamptz, timestamptz, timestamptz, timestamptz, numeric, numeric, text, text, date, close_summary) IS
'close_agg_segments for text leads (compared bytewise).';

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
