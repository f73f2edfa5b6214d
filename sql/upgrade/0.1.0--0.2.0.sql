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
