-- leadkpi upgrade from 0.1.0 to 0.2.0: the changes to the core objects (types,
-- C functions, aggregates, operators).  The Makefile appends the parts that are
-- new in 0.2.0 and the report layer, which is written with CREATE OR REPLACE
-- so that it installs and upgrades alike.  A function whose signature changed
-- is dropped here first; test/t/upgrade.sh compares the result with a fresh
-- install, member by member.

\echo Use "ALTER EXTENSION leadkpi UPDATE TO '0.2.0'" to load this file. \quit

-- Report-layer functions whose argument list changed in 0.2.0 (new
-- parameters at the end, with defaults): the old signature goes first, so
-- that CREATE OR REPLACE below makes the new one rather than an overload.
-- No report view depends on these functions (their SQL is expanded into
-- the views), so users' reports of 0.1.0 keep working until re-created.
-- (#11 added create_reports' watch and look_back, refresh_reports' full and
-- the presets' change_detection.)
DROP FUNCTION @extschema@.create_reports(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text);
DROP FUNCTION @extschema@.refresh_reports(name, boolean);
DROP FUNCTION @extschema@.create_reports_odoo(name, name, text[], regclass, text, interval, text, boolean, text);
DROP FUNCTION @extschema@.create_reports_salesforce(name, name, text[], regclass, interval, text, boolean, regclass, text);
DROP FUNCTION @extschema@.create_reports_hubspot(name, name, text[], text, regclass, interval, text, boolean, text);
DROP FUNCTION @extschema@._lk_kpi_sql(text, text, text);
-- replaced by _lk_preset_stages and _lk_report_stages
DROP FUNCTION @extschema@._lk_notice_if_empty(text, regclass, text);

-- funnel_summary_from_bytes: the binary input as a function, like kpi_summary_from_bytes
CREATE FUNCTION funnel_summary_from_bytes(bytea) RETURNS funnel_summary
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION funnel_summary_from_bytes(bytea) IS 'A funnel_summary from its binary form (funnel_summary_send''s output); validates every field (22P02).';

-- funnel_path and funnel_agg over paths (the funnel in two levels), as in
-- sql/funnel.sql
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

-- stage_step: report_stage_events' step of a stage name (as in sql/funnel.sql)
CREATE FUNCTION stage_step(stages text[], stage text) RETURNS integer
    AS 'MODULE_PATHNAME', 'stage_step' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION stage_step(text[], text) IS 'the position of stage in the one-dimensional array stages (1-based unless its lower bound says otherwise), NULL when it is not there (a NULL stage: the first NULL element): array_position(stages, stage), with the list read once per query rather than once per row; report_stage_events computes each event''s step with it';
