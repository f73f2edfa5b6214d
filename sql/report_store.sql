
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
