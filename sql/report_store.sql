
-----------------------------------------------------------------------------
-- report_store: the anchor of the stores that materialized reports keep in
-- ordinary tables (sql/reports/stores.sql).  Each report schema has one
-- table of this (empty) row type, and every store table of that schema
-- inherits from it.  The chain type -> anchor table -> stores is what lets
-- DROP EXTENSION leadkpi CASCADE drop the stores whole instead of leaving
-- tables without their summary columns; without CASCADE it is refused while
-- reports exist, as for the report views.  New in 0.2.0.
-----------------------------------------------------------------------------

CREATE TYPE report_store AS ();
COMMENT ON TYPE report_store IS
'leadkpi: the empty row type of the anchor table every store of a materialized report schema inherits from, so that DROP EXTENSION leadkpi CASCADE drops the stores whole';

-- What the live rows and the refresh derive a changed key's summary with,
-- from the summaries of its changed rows alone: stored - old + new, or NULL
-- when that is not exact (then they recompute the key from its rows).
CREATE FUNCTION _lk_replace(stored kpi_summary, old kpi_summary, new kpi_summary) RETURNS kpi_summary
AS 'MODULE_PATHNAME', 'kpi_summary_replace' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _lk_replace(kpi_summary, kpi_summary, kpi_summary) IS
'leadkpi internal: stored - old + new, where old summarizes some of stored''s leads; NULL when not exact (old held the shortest or longest cycle or the revenue''s largest scale and new does not restore it, old is not a part of stored, or nothing remains); a NULL argument is empty';
CREATE FUNCTION _lk_replace(stored funnel_summary, old funnel_summary, new funnel_summary) RETURNS funnel_summary
AS 'MODULE_PATHNAME', 'funnel_summary_replace' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _lk_replace(funnel_summary, funnel_summary, funnel_summary) IS
'leadkpi internal: stored - old + new, where old summarizes some of stored''s entities; NULL when old is not a part of stored or nothing remains; a NULL argument is empty';
