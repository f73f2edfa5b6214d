
-- ===========================================================================
-- Funnels: window_funnel (ClickHouse-compatible, per entity), the
-- funnel_summary type, funnel_agg, rollup and the accessors.  See doc/funnel.md.
-- ===========================================================================

-- ---- window_funnel --------------------------------------------------------

CREATE FUNCTION window_funnel_accum(internal, interval, timestamptz, boolean[])
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_accum(internal, interval, text, timestamptz, boolean[])
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_accum(internal, bigint, bigint, boolean[])
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_accum(internal, bigint, text, bigint, boolean[])
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION window_funnel_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION window_funnel_final(internal)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION window_funnel_accum(internal, interval, timestamptz, boolean[]) IS 'transition function of window_funnel';
COMMENT ON FUNCTION window_funnel_accum(internal, interval, text, timestamptz, boolean[]) IS 'transition function of window_funnel with modes';
COMMENT ON FUNCTION window_funnel_accum(internal, bigint, bigint, boolean[]) IS 'transition function of window_funnel over epoch numbers';
COMMENT ON FUNCTION window_funnel_accum(internal, bigint, text, bigint, boolean[]) IS 'transition function of window_funnel over epoch numbers, with modes';
COMMENT ON FUNCTION window_funnel_combine(internal, internal) IS 'combine function of window_funnel: concatenates two event lists';
COMMENT ON FUNCTION window_funnel_serialize(internal) IS 'serializes a window_funnel state for parallel aggregation';
COMMENT ON FUNCTION window_funnel_deserialize(bytea, internal) IS 'deserializes and validates a window_funnel state';
COMMENT ON FUNCTION window_funnel_final(internal) IS 'final function of window_funnel: sorts the events and runs the chain matcher';

CREATE AGGREGATE window_funnel(interval, timestamptz, VARIADIC boolean[]) (
    SFUNC = window_funnel_accum, STYPE = internal,
    FINALFUNC = window_funnel_final,
    COMBINEFUNC = window_funnel_combine,
    SERIALFUNC = window_funnel_serialize, DESERIALFUNC = window_funnel_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE window_funnel(interval, text, timestamptz, VARIADIC boolean[]) (
    SFUNC = window_funnel_accum, STYPE = internal,
    FINALFUNC = window_funnel_final,
    COMBINEFUNC = window_funnel_combine,
    SERIALFUNC = window_funnel_serialize, DESERIALFUNC = window_funnel_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE window_funnel(bigint, bigint, VARIADIC boolean[]) (
    SFUNC = window_funnel_accum, STYPE = internal,
    FINALFUNC = window_funnel_final,
    COMBINEFUNC = window_funnel_combine,
    SERIALFUNC = window_funnel_serialize, DESERIALFUNC = window_funnel_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE window_funnel(bigint, text, bigint, VARIADIC boolean[]) (
    SFUNC = window_funnel_accum, STYPE = internal,
    FINALFUNC = window_funnel_final,
    COMBINEFUNC = window_funnel_combine,
    SERIALFUNC = window_funnel_serialize, DESERIALFUNC = window_funnel_deserialize,
    PARALLEL = SAFE);

COMMENT ON AGGREGATE window_funnel(interval, timestamptz, VARIADIC boolean[]) IS
'window_funnel(window, ts, step1, step2, ...): length of the longest chain step1 -> step2 -> ... in the group, each step within window of the chain''s step 1 (inclusive); 0 when step 1 never happened. ClickHouse windowFunnel semantics.';
COMMENT ON AGGREGATE window_funnel(interval, text, timestamptz, VARIADIC boolean[]) IS
'window_funnel(window, modes, ts, step1, ...): as window_funnel, with comma-separated modes strict_order, strict_deduplication, strict_increase, strict_once, allow_reentry (with strict_order) or crm_backfill';
COMMENT ON AGGREGATE window_funnel(bigint, bigint, VARIADIC boolean[]) IS
'window_funnel(window, ts, step1, ...) over epoch numbers: window and ts in the same unit';
COMMENT ON AGGREGATE window_funnel(bigint, text, bigint, VARIADIC boolean[]) IS
'window_funnel(window, modes, ts, step1, ...) over epoch numbers, with modes';

-- ---- funnel_summary -------------------------------------------------------

CREATE TYPE funnel_summary;
CREATE FUNCTION funnel_summary_in(cstring) RETURNS funnel_summary
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_summary_out(funnel_summary) RETURNS cstring
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_summary_recv(internal) RETURNS funnel_summary
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_summary_send(funnel_summary) RETURNS bytea
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE funnel_summary (
    INPUT = funnel_summary_in, OUTPUT = funnel_summary_out,
    RECEIVE = funnel_summary_recv, SEND = funnel_summary_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);

COMMENT ON TYPE funnel_summary IS
'a whole ordered funnel: per-step reached counts, entity count, window and modes, and a time-to-convert sketch per step; built by funnel_agg, merged by rollup';
COMMENT ON FUNCTION funnel_summary_in(cstring) IS 'text input of funnel_summary (validated)';
COMMENT ON FUNCTION funnel_summary_out(funnel_summary) IS 'text output of funnel_summary';
COMMENT ON FUNCTION funnel_summary_recv(internal) IS 'binary input of funnel_summary (validated)';
COMMENT ON FUNCTION funnel_summary_send(funnel_summary) IS 'binary output of funnel_summary';
CREATE FUNCTION funnel_summary_from_bytes(bytea) RETURNS funnel_summary
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION funnel_summary_from_bytes(bytea) IS 'A funnel_summary from its binary form (funnel_summary_send''s output); validates every field (22P02).';

-- Equality (same summary: same figures and the same printed form) and the
-- hash opclass behind it, so that DISTINCT, UNION and GROUP BY work on funnel_summary.
CREATE FUNCTION funnel_summary_eq(funnel_summary, funnel_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_summary_ne(funnel_summary, funnel_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_summary_hash(funnel_summary) RETURNS integer
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR = (LEFTARG = funnel_summary, RIGHTARG = funnel_summary, FUNCTION = funnel_summary_eq,
                   COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES);
CREATE OPERATOR <> (LEFTARG = funnel_summary, RIGHTARG = funnel_summary, FUNCTION = funnel_summary_ne,
                    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR CLASS funnel_summary_hash_ops DEFAULT FOR TYPE funnel_summary USING hash AS
    OPERATOR 1 = (funnel_summary, funnel_summary), FUNCTION 1 funnel_summary_hash(funnel_summary);
COMMENT ON FUNCTION funnel_summary_eq(funnel_summary, funnel_summary) IS 'Support: funnel_summary = funnel_summary.';
COMMENT ON FUNCTION funnel_summary_ne(funnel_summary, funnel_summary) IS 'Support: funnel_summary <> funnel_summary.';
COMMENT ON FUNCTION funnel_summary_hash(funnel_summary) IS 'Support: hash of a funnel_summary, consistent with =.';
COMMENT ON OPERATOR = (funnel_summary, funnel_summary) IS 'True when both funnel summaries hold the same figures, i.e. print the same (amounts with the same scale). No ordering is defined.';
COMMENT ON OPERATOR <> (funnel_summary, funnel_summary) IS 'Negation of = for funnel_summary.';
COMMENT ON OPERATOR CLASS funnel_summary_hash_ops USING hash IS 'Hashing of funnel_summary, for DISTINCT, UNION, GROUP BY and hash joins.';
COMMENT ON OPERATOR FAMILY funnel_summary_hash_ops USING hash IS 'The family of funnel_summary_hash_ops (created with it).';

-- ---- funnel_agg over events -----------------------------------------------

CREATE FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval, text)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval, text, integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval, text)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval, text, integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval, text)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval, text, integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_agg_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_agg_final(internal)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval) IS 'transition function of funnel_agg: records one event of a bigint entity';
COMMENT ON FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval, text) IS 'transition function of funnel_agg with modes';
COMMENT ON FUNCTION funnel_agg_accum(internal, bigint, timestamptz, integer, interval, text, integer) IS 'transition function of funnel_agg with modes and a fixed step count';
COMMENT ON FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval) IS 'transition function of funnel_agg: records one event of a uuid entity';
COMMENT ON FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval, text) IS 'transition function of funnel_agg with modes';
COMMENT ON FUNCTION funnel_agg_accum(internal, uuid, timestamptz, integer, interval, text, integer) IS 'transition function of funnel_agg with modes and a fixed step count';
COMMENT ON FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval) IS 'transition function of funnel_agg: records one event of a text entity (compared bytewise)';
COMMENT ON FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval, text) IS 'transition function of funnel_agg with modes';
COMMENT ON FUNCTION funnel_agg_accum(internal, text, timestamptz, integer, interval, text, integer) IS 'transition function of funnel_agg with modes and a fixed step count';
COMMENT ON FUNCTION funnel_agg_combine(internal, internal) IS 'combine function of funnel_agg: merges per-entity event lists (entities may overlap)';
COMMENT ON FUNCTION funnel_agg_serialize(internal) IS 'serializes a funnel_agg state for parallel aggregation';
COMMENT ON FUNCTION funnel_agg_deserialize(bytea, internal) IS 'deserializes and validates a funnel_agg state';
COMMENT ON FUNCTION funnel_agg_final(internal) IS 'final function of funnel_agg: per entity, sorts its events and runs the chain matcher shared with window_funnel';

CREATE AGGREGATE funnel_agg(bigint, timestamptz, integer, interval) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(bigint, timestamptz, integer, interval, text) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(bigint, timestamptz, integer, interval, text, integer) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(uuid, timestamptz, integer, interval) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(uuid, timestamptz, integer, interval, text) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(uuid, timestamptz, integer, interval, text, integer) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(text, timestamptz, integer, interval) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(text, timestamptz, integer, interval, text) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(text, timestamptz, integer, interval, text, integer) (
    SFUNC = funnel_agg_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);

-- The step of a stage name, for report_stage_events: array_position() per
-- row, with the list read once per query (src/stage_step.c)
CREATE FUNCTION stage_step(stages text[], stage text) RETURNS integer
    AS 'MODULE_PATHNAME', 'stage_step' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION stage_step(text[], text) IS 'the position of stage in the one-dimensional array stages (1-based unless its lower bound says otherwise), NULL when it is not there (a NULL stage: the first NULL element): array_position(stages, stage), with the list read once per query rather than once per row; report_stage_events computes each event''s step with it';

-- funnel_agg with stage names: mapped in C, faster than array_position() per row
CREATE FUNCTION funnel_agg_stage_accum(internal, bigint, timestamptz, text, text[], interval)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, bigint, timestamptz, text, text[], interval) IS 'transition function of funnel_agg with stage names';
CREATE FUNCTION funnel_agg_stage_accum(internal, bigint, timestamptz, text, text[], interval, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, bigint, timestamptz, text, text[], interval, text) IS 'transition function of funnel_agg with stage names';
CREATE FUNCTION funnel_agg_stage_accum(internal, uuid, timestamptz, text, text[], interval)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, uuid, timestamptz, text, text[], interval) IS 'transition function of funnel_agg with stage names';
CREATE FUNCTION funnel_agg_stage_accum(internal, uuid, timestamptz, text, text[], interval, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, uuid, timestamptz, text, text[], interval, text) IS 'transition function of funnel_agg with stage names';
CREATE FUNCTION funnel_agg_stage_accum(internal, text, timestamptz, text, text[], interval)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, text, timestamptz, text, text[], interval) IS 'transition function of funnel_agg with stage names';
CREATE FUNCTION funnel_agg_stage_accum(internal, text, timestamptz, text, text[], interval, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'funnel_agg_stage_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_stage_accum(internal, text, timestamptz, text, text[], interval, text) IS 'transition function of funnel_agg with stage names';
CREATE AGGREGATE funnel_agg(entity bigint, ts timestamptz, stage text, stages text[], "window" interval) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(bigint, timestamptz, text, text[], interval) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window)';
CREATE AGGREGATE funnel_agg(entity bigint, ts timestamptz, stage text, stages text[], "window" interval, modes text) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(bigint, timestamptz, text, text[], interval, text) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window, modes)';
CREATE AGGREGATE funnel_agg(entity uuid, ts timestamptz, stage text, stages text[], "window" interval) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(uuid, timestamptz, text, text[], interval) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window)';
CREATE AGGREGATE funnel_agg(entity uuid, ts timestamptz, stage text, stages text[], "window" interval, modes text) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(uuid, timestamptz, text, text[], interval, text) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window, modes)';
CREATE AGGREGATE funnel_agg(entity text, ts timestamptz, stage text, stages text[], "window" interval) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(text, timestamptz, text, text[], interval) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window)';
CREATE AGGREGATE funnel_agg(entity text, ts timestamptz, stage text, stages text[], "window" interval, modes text) (
    SFUNC = funnel_agg_stage_accum, STYPE = internal, FINALFUNC = funnel_agg_final,
    COMBINEFUNC = funnel_agg_combine, SERIALFUNC = funnel_agg_serialize,
    DESERIALFUNC = funnel_agg_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(text, timestamptz, text, text[], interval, text) IS 'the whole funnel with stage names: step k is the k-th element of stages, a stage outside them (or NULL) matches no step, nsteps = cardinality(stages); otherwise as funnel_agg(entity, ts, step, window, modes)';

COMMENT ON AGGREGATE funnel_agg(bigint, timestamptz, integer, interval) IS
'funnel_agg(entity, ts, step, window): the whole funnel in one pass; each entity''s level as window_funnel computes it, plus time to convert between steps. step is 1-based (NULL or 0: no step); nsteps is the highest step seen';
COMMENT ON AGGREGATE funnel_agg(bigint, timestamptz, integer, interval, text) IS
'funnel_agg(entity, ts, step, window, modes): funnel_agg with window_funnel modes';
COMMENT ON AGGREGATE funnel_agg(bigint, timestamptz, integer, interval, text, integer) IS
'funnel_agg(entity, ts, step, window, modes, nsteps): funnel_agg with a fixed step count, so summaries of subsets always roll up';
COMMENT ON AGGREGATE funnel_agg(uuid, timestamptz, integer, interval) IS
'funnel_agg(entity, ts, step, window) for uuid entities';
COMMENT ON AGGREGATE funnel_agg(uuid, timestamptz, integer, interval, text) IS
'funnel_agg(entity, ts, step, window, modes) for uuid entities';
COMMENT ON AGGREGATE funnel_agg(uuid, timestamptz, integer, interval, text, integer) IS
'funnel_agg(entity, ts, step, window, modes, nsteps) for uuid entities';
COMMENT ON AGGREGATE funnel_agg(text, timestamptz, integer, interval) IS
'funnel_agg(entity, ts, step, window) for text entities, compared bytewise';
COMMENT ON AGGREGATE funnel_agg(text, timestamptz, integer, interval, text) IS
'funnel_agg(entity, ts, step, window, modes) for text entities';
COMMENT ON AGGREGATE funnel_agg(text, timestamptz, integer, interval, text, integer) IS
'funnel_agg(entity, ts, step, window, modes, nsteps) for text entities';

-- ---- funnel_agg over levels, and rollup -----------------------------------

CREATE FUNCTION funnel_agg_level_accum(funnel_summary, integer, integer)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_summary_combine(funnel_summary, funnel_summary)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_level_accum(funnel_summary, integer, integer) IS 'transition function of funnel_agg(level, nsteps)';
COMMENT ON FUNCTION funnel_summary_combine(funnel_summary, funnel_summary) IS 'merges two funnel summaries: the transition function of rollup and the combine function of funnel_agg';

CREATE AGGREGATE funnel_agg(integer, integer) (
    SFUNC = funnel_agg_level_accum, STYPE = funnel_summary,
    COMBINEFUNC = funnel_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(integer, integer) IS
'funnel_agg(level, nsteps): a funnel_summary from per-entity levels (e.g. window_funnel per entity); no times to convert';

CREATE AGGREGATE rollup(funnel_summary) (
    SFUNC = funnel_summary_combine, STYPE = funnel_summary,
    COMBINEFUNC = funnel_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE rollup(funnel_summary) IS
'rollup(funnel_summary): merges summaries by adding counts and merging sketches; exact when the summaries cover disjoint entities (e.g. per campaign or per cohort of first contact); errors (22023) on different steps, windows or modes';

-- ---- funnel_path and funnel_agg over paths: the funnel in two levels -------
-- funnel_path per entity (GROUP BY the entity), then funnel_agg over the paths
-- by any key: the summary funnel_agg over the same entities' events gives,
-- with a real state type that PostgreSQL's parallel plans and Citus
-- aggregate partially.  See doc/funnel.md.

CREATE FUNCTION funnel_path_accum(internal, timestamptz, integer, interval, text, integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_path_stage_accum(internal, timestamptz, text, text[], interval)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_path_stage_accum(internal, timestamptz, text, text[], interval, text)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_path_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_path_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_path_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_path_final(internal)
RETURNS timestamptz[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION funnel_path_accum(internal, timestamptz, integer, interval, text, integer) IS 'transition function of funnel_path(ts, step, window, modes, nsteps)';
COMMENT ON FUNCTION funnel_path_stage_accum(internal, timestamptz, text, text[], interval) IS 'transition function of funnel_path with stage names';
COMMENT ON FUNCTION funnel_path_stage_accum(internal, timestamptz, text, text[], interval, text) IS 'transition function of funnel_path with stage names and modes';
COMMENT ON FUNCTION funnel_path_combine(internal, internal) IS 'combine function of funnel_path: concatenates two event lists of one entity';
COMMENT ON FUNCTION funnel_path_serialize(internal) IS 'serializes a funnel_path state for parallel aggregation';
COMMENT ON FUNCTION funnel_path_deserialize(bytea, internal) IS 'deserializes and validates a funnel_path state';
COMMENT ON FUNCTION funnel_path_final(internal) IS 'final function of funnel_path: sorts the events, runs the chain matcher and returns the step times of the best chain';

CREATE AGGREGATE funnel_path(ts timestamptz, step integer, "window" interval, modes text, nsteps integer) (
    SFUNC = funnel_path_accum, STYPE = internal, FINALFUNC = funnel_path_final,
    COMBINEFUNC = funnel_path_combine, SERIALFUNC = funnel_path_serialize,
    DESERIALFUNC = funnel_path_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_path(ts timestamptz, stage text, stages text[], "window" interval) (
    SFUNC = funnel_path_stage_accum, STYPE = internal, FINALFUNC = funnel_path_final,
    COMBINEFUNC = funnel_path_combine, SERIALFUNC = funnel_path_serialize,
    DESERIALFUNC = funnel_path_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE funnel_path(ts timestamptz, stage text, stages text[], "window" interval, modes text) (
    SFUNC = funnel_path_stage_accum, STYPE = internal, FINALFUNC = funnel_path_final,
    COMBINEFUNC = funnel_path_combine, SERIALFUNC = funnel_path_serialize,
    DESERIALFUNC = funnel_path_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_path(timestamptz, integer, interval, text, integer) IS
'funnel_path(ts, step, window, modes, nsteps), per entity (GROUP BY the entity): the times at which it reached steps 1..level along the chain that gave it its level, as funnel_agg times it; ''{}'' with no step 1, NULL with no row; step is 1-based (NULL or 0: no step). Feed the paths to funnel_agg(path, nsteps, window, modes)';
COMMENT ON AGGREGATE funnel_path(timestamptz, text, text[], interval) IS
'funnel_path(ts, stage, stages, window), per entity: as funnel_path(ts, step, window, modes, nsteps) with step k = stages[k]; a stage outside them (or NULL) matches no step. Feed the paths to funnel_agg(path, cardinality(stages), window)';
COMMENT ON AGGREGATE funnel_path(timestamptz, text, text[], interval, text) IS
'funnel_path(ts, stage, stages, window, modes), per entity: funnel_path with stage names and modes';

CREATE FUNCTION funnel_agg_path_accum(funnel_summary, timestamptz[], integer, interval)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_path_accum(funnel_summary, timestamptz[], integer, interval, text)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION funnel_agg_path_final(funnel_summary)
RETURNS funnel_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION funnel_agg_path_accum(funnel_summary, timestamptz[], integer, interval) IS 'transition function of funnel_agg(path, nsteps, window): adds one entity to the summary, in place';
COMMENT ON FUNCTION funnel_agg_path_accum(funnel_summary, timestamptz[], integer, interval, text) IS 'transition function of funnel_agg(path, nsteps, window, modes): adds one entity to the summary, in place';
COMMENT ON FUNCTION funnel_agg_path_final(funnel_summary) IS 'final function of funnel_agg over paths: the summary without spare sketch capacity';

CREATE AGGREGATE funnel_agg(path timestamptz[], nsteps integer, "window" interval) (
    SFUNC = funnel_agg_path_accum, STYPE = funnel_summary, FINALFUNC = funnel_agg_path_final,
    COMBINEFUNC = funnel_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE funnel_agg(path timestamptz[], nsteps integer, "window" interval, modes text) (
    SFUNC = funnel_agg_path_accum, STYPE = funnel_summary, FINALFUNC = funnel_agg_path_final,
    COMBINEFUNC = funnel_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE funnel_agg(timestamptz[], integer, interval) IS
'funnel_agg(path, nsteps, window): the funnel_summary of entities from their funnel_path results, exactly the one funnel_agg over their events gives (a NULL path is no entity, ''{}'' an entity at level 0); pass funnel_path''s nsteps and window. Paths are checked (22023)';
COMMENT ON AGGREGATE funnel_agg(timestamptz[], integer, interval, text) IS
'funnel_agg(path, nsteps, window, modes): funnel_agg over funnel_path results built with these modes';

-- ---- accessors ------------------------------------------------------------

CREATE FUNCTION reached(fs funnel_summary, step integer) RETURNS bigint
AS 'MODULE_PATHNAME', 'funnel_reached' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION conversion_rate(fs funnel_summary, from_step integer, to_step integer) RETURNS float8
AS 'MODULE_PATHNAME', 'funnel_conversion_rate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION drop_off(fs funnel_summary, step integer) RETURNS bigint
AS 'MODULE_PATHNAME', 'funnel_drop_off' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bottleneck(fs funnel_summary) RETURNS integer
AS 'MODULE_PATHNAME', 'funnel_bottleneck' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION time_to_convert_median(fs funnel_summary, step integer) RETURNS interval
AS 'MODULE_PATHNAME', 'funnel_time_to_convert_median' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_nsteps(fs funnel_summary) RETURNS integer
AS 'MODULE_PATHNAME', 'funnel_nsteps' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION funnel_entities(fs funnel_summary) RETURNS bigint
AS 'MODULE_PATHNAME', 'funnel_entities' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION reached(funnel_summary, integer) IS
'entities whose level is at least step';
COMMENT ON FUNCTION conversion_rate(funnel_summary, integer, integer) IS
'reached(to_step) / reached(from_step); NULL when nobody reached from_step';
COMMENT ON FUNCTION drop_off(funnel_summary, integer) IS
'entities that reached the previous step but not this one (for step 1: entities with no step 1)';
COMMENT ON FUNCTION bottleneck(funnel_summary) IS
'the step (>= 2) with the lowest conversion from its predecessor, ties to the earliest; NULL when no step has a reached predecessor';
COMMENT ON FUNCTION time_to_convert_median(funnel_summary, integer) IS
'median time from the previous step to this one, along each entity''s best chain (within 1%); NULL for step 1 or without times';
COMMENT ON FUNCTION funnel_nsteps(funnel_summary) IS 'number of steps of the funnel';
COMMENT ON FUNCTION funnel_entities(funnel_summary) IS 'number of entities seen, including those that never reached step 1';

CREATE FUNCTION funnel_steps(fs funnel_summary,
    OUT step integer, OUT reached bigint, OUT conversion_from_previous float8,
    OUT conversion_from_first float8, OUT drop_off bigint,
    OUT median_time_from_previous interval)
RETURNS SETOF record LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- operators qualified: this body is parsed under the caller's search_path
    SELECT s,
           @extschema@.reached(fs, s),
           CASE WHEN s OPERATOR(pg_catalog.>) 1
                THEN @extschema@.conversion_rate(fs, s OPERATOR(pg_catalog.-) 1, s) END,
           @extschema@.conversion_rate(fs, 1, s),
           @extschema@.drop_off(fs, s),
           @extschema@.time_to_convert_median(fs, s)
    FROM pg_catalog.generate_series(1, @extschema@.funnel_nsteps(fs)) AS s
$$;
COMMENT ON FUNCTION funnel_steps(funnel_summary) IS
'one row per step: step, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous';
