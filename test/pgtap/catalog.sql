-- Catalog-level promises: every object documented, every function labelled
-- parallel safe and never SECURITY DEFINER, every aggregate combinable, and
-- the one-step and summary aggregates on a real (non-internal) state type so
-- that Citus can push them down.
BEGIN;
SELECT plan(9);

CREATE TEMP VIEW ext_objects AS
SELECT classid, objid FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'leadkpi')
  AND deptype = 'e';

CREATE TEMP VIEW ext_procs AS
SELECT p.* FROM pg_proc p JOIN ext_objects e ON e.classid = 'pg_proc'::regclass AND e.objid = p.oid;

SELECT cmp_ok((SELECT count(*) FROM ext_procs), '>=', 40::bigint, 'the extension owns its functions');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p
  WHERE obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function and aggregate has a COMMENT');

SELECT is_empty($$
  SELECT t.typname::text FROM pg_type t JOIN ext_objects e ON e.classid = 'pg_type'::regclass AND e.objid = t.oid
  WHERE t.typtype = 'b' AND obj_description(t.oid, 'pg_type') IS NULL
    -- not the implicit array types, which PG 17 and later record as members too
    AND NOT EXISTS (SELECT 1 FROM pg_type b WHERE b.typarray = t.oid)
$$, 'every type has a COMMENT');

SELECT is_empty($$
  SELECT o.oid::regoperator::text FROM pg_operator o JOIN ext_objects e ON e.classid = 'pg_operator'::regclass AND e.objid = o.oid
  WHERE obj_description(o.oid, 'pg_operator') IS NULL
  UNION ALL
  SELECT c.opcname::text FROM pg_opclass c JOIN ext_objects e ON e.classid = 'pg_opclass'::regclass AND e.objid = c.oid
  WHERE obj_description(c.oid, 'pg_opclass') IS NULL
$$, 'every operator and operator class has a COMMENT');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p WHERE p.proparallel <> 's'
    -- the report layer's VOLATILE SQL/PL/pgSQL functions run DDL
    -- (create_reports, refresh_reports, ...): honestly PARALLEL UNSAFE
    AND NOT (p.provolatile = 'v' AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql')))
    -- report_html reads the user's report views, which may read temporary tables
    AND p.oid <> 'report_html(name, text, integer, text, integer)'::regprocedure
$$, 'every function is PARALLEL SAFE (except the report layer''s DDL functions and report_html)');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p WHERE p.prosecdef
$$, 'no function is SECURITY DEFINER');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p JOIN pg_aggregate a ON a.aggfnoid = p.oid
  WHERE a.aggcombinefn = 0
$$, 'every aggregate has a combine function');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p JOIN pg_aggregate a ON a.aggfnoid = p.oid
  WHERE a.aggtranstype = 'internal'::regtype AND (a.aggserialfn = 0 OR a.aggdeserialfn = 0)
$$, 'every internal-state aggregate has serial and deserial functions');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM ext_procs p JOIN pg_aggregate a ON a.aggfnoid = p.oid
  WHERE p.proname IN ('conversion_rate', 'sales_cycle_avg', 'cost_per_lead', 'cost_per_order',
                      'kpi_agg', 'spend_agg')
    AND a.aggtranstype = 'internal'::regtype
$$, 'the KPI aggregates keep a real state type (pushable to Citus workers)');

SELECT * FROM finish();
ROLLBACK;
