-- leadkpi install script, assembled at build time from sql/kpi.sql,
-- sql/funnel.sql and sql/reports.sql (see the Makefile).

\echo Use "CREATE EXTENSION leadkpi" to load this file. \quit
