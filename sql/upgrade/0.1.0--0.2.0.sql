-- leadkpi upgrade from 0.1.0 to 0.2.0: the changes to the core objects (types,
-- C functions, aggregates, operators).  The Makefile appends the parts that are
-- new in 0.2.0 and the report layer, which is written with CREATE OR REPLACE
-- so that it installs and upgrades alike.  A function whose signature changed
-- is dropped here first; test/t/upgrade.sh compares the result with a fresh
-- install, member by member.

\echo Use "ALTER EXTENSION leadkpi UPDATE TO '0.2.0'" to load this file. \quit

-- Report layer functions with new trailing parameters (#11: create_reports'
-- watch and look_back, refresh_reports' full, the presets'
-- change_detection).  Report schemas made by 0.1.0 do not depend on them.
DROP FUNCTION @extschema@.create_reports(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text);
DROP FUNCTION @extschema@.refresh_reports(name, boolean);
DROP FUNCTION @extschema@.create_reports_odoo(name, name, text[], regclass, text, interval, text, boolean, text);
DROP FUNCTION @extschema@.create_reports_salesforce(name, name, text[], regclass, interval, text, boolean, regclass, text);
DROP FUNCTION @extschema@.create_reports_hubspot(name, name, text[], text, regclass, interval, text, boolean, text);
