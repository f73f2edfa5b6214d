-- leadkpi upgrade from 0.1.0 to 0.2.0: the changes to the core objects (types,
-- C functions, aggregates, operators).  The Makefile appends the parts that are
-- new in 0.2.0 and the report layer, which is written with CREATE OR REPLACE
-- so that it installs and upgrades alike.  A function whose signature changed
-- is dropped here first; test/t/upgrade.sh compares the result with a fresh
-- install, member by member.

\echo Use "ALTER EXTENSION leadkpi UPDATE TO '0.2.0'" to load this file. \quit

-- funnel_summary_from_bytes: the binary input as a function, like kpi_summary_from_bytes
CREATE FUNCTION funnel_summary_from_bytes(bytea) RETURNS funnel_summary
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION funnel_summary_from_bytes(bytea) IS 'A funnel_summary from its binary form (funnel_summary_send''s output); validates every field (22P02).';
