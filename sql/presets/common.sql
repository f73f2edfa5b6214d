
-----------------------------------------------------------------------------
-- Presets: canonical views over a real CRM's tables, then create_reports().
-- Each preset validates the tables and columns it reads via the catalogs,
-- creates canonical_leads / canonical_stage_events / canonical_spend /
-- canonical_orders (security_invoker views) in target_schema, and calls
-- create_reports() on them, all in the caller's transaction.
--
-- This file: the helpers the presets share.  One file per preset follows.
-----------------------------------------------------------------------------

-- The CRM table schema.tbl, or an error (42P01) when it is required.
CREATE OR REPLACE FUNCTION @extschema@._lk_rel(preset text, src_schema name, tbl text, required boolean)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regclass := to_regclass(format('%I.%I', src_schema, tbl));
BEGIN
    IF r IS NULL AND required THEN
        RAISE EXCEPTION 'leadkpi: % preset needs the table %.%', preset, quote_ident(src_schema), quote_ident(tbl)
            USING ERRCODE = '42P01',
                  HINT = format('Pass the schema that holds the %s tables (e.g. %s_schema => ''...''), or map your tables yourself with create_reports().', preset, lower(preset));
    END IF;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_rel(text, name, text, boolean) IS
'leadkpi internal: resolves a CRM table for a preset; raises 42P01 naming it when a required table is missing';

-- The type of rel.col as format_type() prints it; NULL when absent, 42703
-- when required and absent.
CREATE OR REPLACE FUNCTION @extschema@._lk_type(preset text, rel regclass, col text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF rel IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT format_type(a.atttypid, NULL) INTO t
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF t IS NULL AND required THEN
        RAISE EXCEPTION 'leadkpi: % preset: table % has no column "%"', preset, rel, col
            USING ERRCODE = '42703',
                  HINT = 'The preset expects the column names of the CRM''s own schema; map a customised schema yourself with create_reports().';
    END IF;
    RETURN t;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_type(text, regclass, text, boolean) IS
'leadkpi internal: the type of a CRM column for a preset; raises 42703 naming it when a required column is missing';


CREATE OR REPLACE FUNCTION @extschema@._lk_bad_type(preset text, rel regclass, col text, t text, expected text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'leadkpi: % preset: column "%" of % has type %, expected %', preset, col, rel, t, expected
        USING ERRCODE = '42804',
              HINT = 'Map a customised schema yourself with create_reports() over views that cast the column.';
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_bad_type(text, regclass, text, text, text) IS
'leadkpi internal: raises 42804 for a CRM column of an unexpected type';


-- SQL reading alias.col as timestamptz, a timestamp without time zone being
-- UTC (as Odoo and Fivetran store them).  NULL when the column is absent.
CREATE OR REPLACE FUNCTION @extschema@._lk_utc(preset text, rel regclass, alias text, col text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := @extschema@._lk_type(preset, rel, col, required);
BEGIN
    RETURN CASE
        WHEN t IS NULL THEN NULL
        WHEN t = 'timestamp with time zone' THEN format('%I.%I', alias, col)
        WHEN t = 'timestamp without time zone' THEN format('(%I.%I AT TIME ZONE ''UTC'')', alias, col)
        WHEN t = 'date' THEN format('(%I.%I::timestamp AT TIME ZONE ''UTC'')', alias, col)
        WHEN t IN ('text', 'character varying') THEN format('(%I.%I::timestamp AT TIME ZONE ''UTC'')', alias, col)
        ELSE @extschema@._lk_bad_type(preset, rel, col, t, 'timestamp, timestamptz or date') END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_utc(text, regclass, text, text, boolean) IS
'leadkpi internal: SQL reading a CRM time column as timestamptz (timestamp without time zone taken as UTC)';

-- SQL that keeps only the live rows of rel (as alias): not soft-deleted
-- (is_deleted, Fivetran's _fivetran_deleted) and, when current, the current
-- version in Fivetran's history mode (_fivetran_active).  'true' when the
-- table has none of these columns.
CREATE OR REPLACE FUNCTION @extschema@._lk_live(preset text, rel regclass, alias text, current boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conds text[] := '{}';
BEGIN
    IF @extschema@._lk_type(preset, rel, 'is_deleted', false) IS NOT NULL THEN
        conds := conds || format('NOT coalesce(%I.is_deleted, false)', alias);
    END IF;
    IF @extschema@._lk_type(preset, rel, '_fivetran_deleted', false) IS NOT NULL THEN
        conds := conds || format('NOT coalesce(%I._fivetran_deleted, false)', alias);
    END IF;
    IF current AND @extschema@._lk_type(preset, rel, '_fivetran_active', false) IS NOT NULL THEN
        conds := conds || format('coalesce(%I._fivetran_active, true)', alias);
    END IF;
    RETURN CASE WHEN cardinality(conds) = 0 THEN 'true' ELSE '(' || array_to_string(conds, ' AND ') || ')' END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_live(text, regclass, text, boolean) IS
'leadkpi internal: SQL keeping the live rows of a CRM table for a preset (not deleted; the current version in Fivetran history mode)';

-- SQL reading a name column as text: a jsonb translation map (Odoo 16+)
-- gives the lang entry, else en_US; text is read as is.
CREATE OR REPLACE FUNCTION @extschema@._lk_label(preset text, rel regclass, alias text, col text, lang text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := @extschema@._lk_type(preset, rel, col, false);
BEGIN
    RETURN CASE
        WHEN t IS NULL THEN NULL
        WHEN t = 'jsonb' THEN format('coalesce(%I.%I ->> %L, %I.%I ->> ''en_US'')', alias, col, lang, alias, col)
        WHEN t = 'json' THEN format('coalesce(%I.%I ->> %L, %I.%I ->> ''en_US'')', alias, col, lang, alias, col)
        WHEN t IN ('text', 'character varying', 'character') THEN format('%I.%I::text', alias, col)
        ELSE @extschema@._lk_bad_type(preset, rel, col, t, 'text, varchar or jsonb') END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_label(text, regclass, text, text, text) IS
'leadkpi internal: SQL reading a CRM name column as text, picking a language from a jsonb translation map (Odoo 16+)';

-- Creates one canonical view of a preset.
CREATE OR REPLACE FUNCTION @extschema@._lk_canonical(target_schema name, vname text, sql text, descr text)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I WITH (security_invoker = true) AS %s', target_schema, vname, sql);
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', target_schema, vname, 'leadkpi canonical ' || descr);
    RETURN format('%I.%I', target_schema, vname)::regclass;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_canonical(name, text, text, text) IS
'leadkpi internal: creates one security_invoker canonical view of a preset';

-- A preset's word on its funnel, said once (create_reports stays silent on
-- it for the rest of the transaction: leadkpi.stages_reported): raw_sql
-- yields the stage names that occur in the CRM's history before they are
-- filtered to the stages, so that a WARNING can name the real names when the
-- stages match none of them; with no history at all (raw_sql NULL), a NOTICE
-- says why the funnel reports are empty.
CREATE OR REPLACE FUNCTION @extschema@._lk_preset_stages(preset text, who text, raw_sql text, stages text[], hint text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    occurring text[];
BEGIN
    IF raw_sql IS NULL THEN
        RAISE NOTICE 'leadkpi: % preset: no stage history in %, so funnel_report and funnel_by_campaign are empty', preset, who
            USING HINT = hint;
    ELSE
        EXECUTE format('SELECT array_agg(stage ORDER BY stage) FROM (SELECT DISTINCT stage FROM (%s) AS r WHERE stage IS NOT NULL) AS d', raw_sql)
           INTO occurring;
        PERFORM @extschema@._lk_report_stages(format('the %s data (%s)', preset, who), occurring, stages, hint);
    END IF;
    PERFORM set_config('leadkpi.stages_reported', 'on', true);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_preset_stages(text, text, text, text[], text) IS
'leadkpi internal: a preset''s NOTICE when it has no stage history, or WARNING naming the stages that never occur in the CRM''s history and the names that do';

-- Checks target_schema, then creates it when missing, else drops the
-- reports and canonical views leadkpi made there before.
CREATE OR REPLACE FUNCTION @extschema@._lk_preset_prepare(target_schema name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'leadkpi: target_schema must not be NULL' USING ERRCODE = '22023',
            HINT = 'Pass the schema that will hold the canonical and report views.';
    END IF;
    PERFORM @extschema@._lk_clear_schema(target_schema, @extschema@._lk_report_names()
        || ARRAY['canonical_campaigns', 'canonical_orders', 'canonical_spend', 'canonical_stage_events', 'canonical_leads']);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_preset_prepare(name) IS
'leadkpi internal: creates the target schema and drops the previous reports and canonical views made there by leadkpi';
