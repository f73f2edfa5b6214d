
-----------------------------------------------------------------------------
-- Reports layer: the canonical CRM model, create_reports(), the report views
-- and the CRM presets, in sql/reports/*.sql and sql/presets/*.sql (the
-- Makefile's REPORT_PARTS names their order).  Everything here is SQL; the
-- views hold no arithmetic, they call the summaries' aggregates and
-- accessors (see doc/crm.md).
--
-- Objects made by these functions carry a COMMENT starting with "leadkpi "
-- so that a re-run can tell its own objects from the user's.
--
-- This file: the relations a report schema holds, and how they are locked,
-- dropped and replaced.
-----------------------------------------------------------------------------

-- The names create_reports may create in a target schema, in the order they
-- must be dropped (dependents first): report views, the live rows and
-- other internal views of materialized reports, the stores (tables; the
-- anchor _lk_stores last; kpi_daily and spend_daily were materialized
-- views over kpi_watermark in 0.1.0, which goes after them, as does
-- funnel_store; the forecast stores after the forecast reports that name
-- them), the canonical views.
CREATE OR REPLACE FUNCTION @extschema@._lk_report_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY[
    'forecast_by_week', 'forecast_by_campaign', 'forecast_by_month',
    'funnel_report_live', 'funnel_by_campaign_live',
    'kpi_overview_live', 'kpi_by_campaign_live', 'kpi_by_channel_live', 'kpi_by_month_live',
    'kpi_by_team_live', 'kpi_by_owner_live',
    'funnel_by_campaign', 'funnel_report',
    'kpi_by_owner', 'kpi_by_team',
    'kpi_by_month', 'kpi_by_channel', 'kpi_by_campaign', 'kpi_overview',
    'report_status', 'funnel_campaign_rows_live', 'kpi_campaign_rows_live', 'funnel_rows_live', 'spend_rows_live', 'kpi_rows_live', 'changes_by_column',
    'funnel_monthly_campaign', 'kpi_monthly_campaign', 'funnel_monthly', 'spend_monthly', 'kpi_monthly', 'funnel_daily', 'spend_daily', 'kpi_daily',
    'funnel_store', 'kpi_watermark', 'forecast_week_summaries', 'forecast_month_summaries',
    'lead_facts', 'pending_changes', 'report_state', '_lk_stores',
    'report_stage_events', 'report_campaigns', 'report_spend', 'report_leads']::text[];
COMMENT ON FUNCTION @extschema@._lk_report_names() IS
'leadkpi internal: names of the relations create_reports() may create, dependents first';

-- Serialises create, drop and refresh of one report schema, until the end of
-- the transaction: they lock the same relations in opposite orders (a
-- refresh stores first, a drop reports first), which could deadlock.
CREATE OR REPLACE FUNCTION @extschema@._lk_schema_lock(target_schema name)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(hashtext('leadkpi reports'), hashtext(target_schema)) $$;
COMMENT ON FUNCTION @extschema@._lk_schema_lock(name) IS
'leadkpi internal: transaction-level advisory lock on a report schema, taken by every create, drop and refresh of its reports';

-- Drops the given leadkpi-made relations of a schema, in array order, and
-- with the stores the triggers and functions made for them.  A relation of
-- that name that leadkpi did not make is an error (42P07), so user data is
-- never dropped.  Dependent user objects are an error naming them (2BP01),
-- never dropped.
CREATE OR REPLACE FUNCTION @extschema@._lk_drop(target_schema name, names text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n text;
    r record;
    d record;
BEGIN
    -- with Citus: the DROPs follow reads of the catalogs and inputs
    PERFORM @extschema@._lk_citus_sequential();
    -- one report DDL or refresh per schema at a time (see _lk_schema_lock)
    PERFORM @extschema@._lk_schema_lock(target_schema);
    -- check everything first, then drop
    FOR r IN
        SELECT c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class') AS descr
          FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = ANY (names)
    LOOP
        IF r.relkind NOT IN ('v', 'm', 'r') OR coalesce(r.descr, '') NOT LIKE 'leadkpi %' THEN
            RAISE EXCEPTION 'leadkpi: %.% exists and was not made by leadkpi', target_schema, r.relname
                USING ERRCODE = '42P07',
                      HINT = 'Rename or move it, or pick another target_schema; leadkpi never drops objects it did not create.';
        END IF;
    END LOOP;
    -- objects of users that depend on what is dropped: leadkpi's own error
    d := @extschema@._lk_dependents(target_schema, names);
    IF d.dependents IS NOT NULL THEN
        PERFORM @extschema@._lk_dependents_error(target_schema, d.dependents, 'Dropping the reports would drop them too.');
    END IF;
    -- remember the grants others hold on what is dropped, for the relations
    -- of the same name that the caller is about to create (see _lk_regrant)
    PERFORM set_config('leadkpi.regrant',
        (coalesce(nullif(current_setting('leadkpi.regrant', true), ''), '[]')::jsonb
        || coalesce((SELECT jsonb_agg(format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, target_schema, c.relname,
                                             CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                                             CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
                       FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace,
                            LATERAL aclexplode(c.relacl) AS a
                      WHERE s.nspname = target_schema AND c.relname = ANY (names) AND a.grantee <> c.relowner),
                    '[]'::jsonb))::text, true);
    -- the triggers on the watched tables first (changes.sql), so that no CRM
    -- write of the transactions after this one fires them
    IF 'pending_changes' = ANY (names) THEN
        PERFORM @extschema@._lk_drop_functions(target_schema, 'watch');
    END IF;
    FOREACH n IN ARRAY names LOOP
        FOR r IN
            SELECT c.relkind FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = target_schema AND c.relname = n
        LOOP
            EXECUTE format('DROP %s %I.%I', CASE r.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'r' THEN 'TABLE' ELSE 'VIEW' END,
                           target_schema, n);
        END LOOP;
    END LOOP;
    IF 'lead_facts' = ANY (names) THEN
        PERFORM @extschema@._lk_drop_functions(target_schema, 'lookup');
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_drop(name, text[]) IS
'leadkpi internal: drops relations leadkpi created in a schema (refuses relations it did not create)';

-- The objects of users (views, SQL functions) that depend on the given
-- relations leadkpi made in a schema, with the relations they depend on,
-- one line each ("public.v (on reports.kpi_overview)"), and the leadkpi
-- relations that must stay for them: those they read, and those that the
-- relations staying read, transitively.
CREATE OR REPLACE FUNCTION @extschema@._lk_dependents(target_schema name, names text[], OUT dependents text[], OUT kept text[])
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH RECURSIVE rel AS (
        SELECT c.oid FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = ANY (names)
           AND coalesce(obj_description(c.oid, 'pg_class'), '') LIKE 'leadkpi %'),
    dep AS (    -- what depends on a relation of rel: a view or materialized view (its rule), or another object
        SELECT d.refobjid AS r, coalesce(rw.ev_class, 0) AS v,
               CASE WHEN rw.oid IS NULL THEN pg_describe_object(d.classid, d.objid, d.objsubid) ELSE rw.ev_class::regclass::text END AS what
          FROM pg_depend d LEFT JOIN pg_rewrite rw ON d.classid = 'pg_rewrite'::regclass AND rw.oid = d.objid
         WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM rel) AND d.deptype = 'n'
           AND (rw.oid IS NULL OR rw.ev_class <> d.refobjid)
           -- the stores' own parts: a store inheriting the anchor, a CHECK of a store
           AND NOT (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT oid FROM rel))
           AND NOT (d.classid = 'pg_constraint'::regclass
                    AND EXISTS (SELECT FROM pg_constraint k WHERE k.oid = d.objid AND k.conrelid IN (SELECT oid FROM rel)))),
    keep AS (
        SELECT dep.r FROM dep WHERE dep.v NOT IN (SELECT oid FROM rel)
        UNION
        SELECT dep.r FROM dep JOIN keep ON dep.v = keep.r)
    SELECT (SELECT array_agg(DISTINCT format('%s (on %s)', dep.what, dep.r::regclass)) FROM dep WHERE dep.v NOT IN (SELECT oid FROM rel)),
           (SELECT array_agg(DISTINCT c.relname::text) FROM keep JOIN pg_class c ON c.oid = keep.r);
END;
COMMENT ON FUNCTION @extschema@._lk_dependents(name, text[]) IS
'leadkpi internal: the user objects that depend on report relations of a schema, and the report relations that must stay for them';

-- leadkpi's own error for report relations that users' objects depend on:
-- it names them, and never suggests CASCADE, which would drop them.
CREATE OR REPLACE FUNCTION @extschema@._lk_dependents_error(target_schema name, dependents text[], detail text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'leadkpi: objects of yours depend on the reports in schema %: %', quote_ident(target_schema), array_to_string(dependents, ', ')
        USING ERRCODE = '2BP01', DETAIL = detail,
              HINT = 'Keep the same reports (plain views, the same mode) so that they are replaced in place; or save your views'' definitions '
                     '(pg_get_viewdef), drop them, re-run, and create them again; or write the new reports to another schema.';
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_dependents_error(name, text[], text) IS
'leadkpi internal: raises 2BP01 naming the user objects that depend on report relations, with a hint that never suggests CASCADE';

-- Makes room in target_schema for a new set of reports: creates the schema
-- when it is missing, else drops the given relations leadkpi made there,
-- except those that objects of users depend on (and what they read): these
-- plain views stay, to be replaced in place (CREATE OR REPLACE VIEW, which
-- keeps the dependents working when the columns are the same or only added
-- at the end).  A materialized one cannot be replaced in place: an error
-- names the dependents.  Returns the names kept.
CREATE OR REPLACE FUNCTION @extschema@._lk_clear_schema(target_schema name, names text[])
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = target_schema) THEN
        EXECUTE format('CREATE SCHEMA %I', target_schema);
    END IF;
    PERFORM @extschema@._lk_schema_lock(target_schema);
    d := @extschema@._lk_dependents(target_schema, names);
    IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                WHERE s.nspname = target_schema AND c.relname = ANY (d.kept) AND c.relkind <> 'v') THEN
        PERFORM @extschema@._lk_dependents_error(target_schema, d.dependents,
            'They read materialized reports or stores, which cannot be replaced in place.');
    END IF;
    PERFORM @extschema@._lk_drop(target_schema, ARRAY(SELECT n FROM unnest(names) AS n WHERE n <> ALL (coalesce(d.kept, '{}'))));
    RETURN coalesce(d.kept, '{}');
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_clear_schema(name, text[]) IS
'leadkpi internal: creates the target schema when missing, else drops the given relations leadkpi made there, keeping the plain views that users'' objects depend on (returned) to be replaced in place';

-- Re-issues the grants _lk_drop remembered in this transaction, on the
-- relations that exist again (a re-run may create fewer), then forgets them.
CREATE OR REPLACE FUNCTION @extschema@._lk_regrant()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text;
BEGIN
    FOR g IN SELECT jsonb_array_elements_text(coalesce(nullif(current_setting('leadkpi.regrant', true), ''), '[]')::jsonb) LOOP
        BEGIN
            EXECUTE g;
        EXCEPTION WHEN undefined_table OR wrong_object_type THEN
            NULL;   -- not created this time
        END;
    END LOOP;
    PERFORM set_config('leadkpi.regrant', '[]', true);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_regrant() IS
'leadkpi internal: gives back, after a re-run, the grants other roles held on the report relations it replaced';

-- Citus.  Whether rel, or a table behind it (through views), is a Citus
-- distributed table (hash-distributed, pg_dist_partition.partmethod 'h'),
-- or with reference, a distributed or a reference table (a table whose rows
-- live in shards on the workers).  False without the citus extension, whose
-- catalog is read only then.
CREATE OR REPLACE FUNCTION @extschema@._lk_citus_distributed(rel regclass, reference boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF rel IS NULL OR NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_dist_partition d '
            'WHERE (d.partmethod = ''h'' OR ($2 AND d.partmethod = ''n'' AND d.repmodel = ''t'')) '
            'AND d.logicalrelid IN (SELECT @extschema@._lk_base_tables($1)))'
        INTO found USING rel, reference;
    RETURN found;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_citus_distributed(regclass, boolean) IS
'leadkpi internal: whether a relation is, or reads through views, a Citus distributed table (or, with reference, a reference table); false without Citus';

-- Runs one DDL statement for an object that only the coordinator uses (the
-- lookups and trigger functions of materialized reports): with Citus,
-- without its DDL propagation, so that the object stays local to the
-- coordinator, as the stores it goes with, and may depend on the extension
-- (Citus refuses ALTER FUNCTION ... DEPENDS ON EXTENSION for a function it
-- has propagated).  Without Citus: just EXECUTE.
CREATE OR REPLACE FUNCTION @extschema@._lk_execute_local(ddl text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was text := current_setting('citus.enable_ddl_propagation', true);
BEGIN
    IF was IS NULL THEN
        EXECUTE ddl;
        RETURN;
    END IF;
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    EXECUTE ddl;
    PERFORM set_config('citus.enable_ddl_propagation', was, true);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_execute_local(text) IS
'leadkpi internal: executes a DDL statement for an object only the coordinator uses, without Citus''s DDL propagation when Citus is loaded';

-- Citus refuses a schema command (CREATE or DROP of a view, a schema, a
-- function it propagates to the workers) in a transaction after a query that
-- ran over several connections per worker: "cannot run schema command
-- because there was a parallel operation on a distributed table".  The
-- report DDL reads the inputs first, and Citus may open several connections
-- for that read, even in autocommit on a loaded machine.  So, with Citus,
-- the transaction's multi-shard commands run over one connection per
-- worker from here on, to its end (SET LOCAL citus.multi_shard_modify_mode
-- = 'sequential'): the setting is not given back, so that a later report
-- command in the same transaction works too.  Too late if the caller ran a
-- parallel query earlier in the transaction: then Citus's own error
-- stands, with its hint.
CREATE OR REPLACE FUNCTION @extschema@._lk_citus_sequential()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('citus.multi_shard_modify_mode', true) IS DISTINCT FROM 'sequential'
       AND EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_citus_sequential() IS
'leadkpi internal: with Citus, runs the rest of the transaction''s multi-shard commands over one connection per worker (SET LOCAL citus.multi_shard_modify_mode = sequential), so that the report DDL may follow reads of distributed tables';
