
-----------------------------------------------------------------------------
-- Reports: create_reports() and drop_reports().  create_reports() runs its
-- phases in order: check every input (validate.sql), make room in the
-- target schema (helpers.sql), then the canonical views (canonical.sql), the
-- stores when materialized (stores.sql), the KPI reports (kpi_reports.sql)
-- and the funnel reports (funnel_reports.sql), all in the caller's
-- transaction.
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.create_reports(
    target_schema name,
    leads regclass,
    stage_events regclass DEFAULT NULL,
    spend regclass DEFAULT NULL,
    orders regclass DEFAULT NULL,
    stages text[] DEFAULT NULL,
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT NULL,
    materialized boolean DEFAULT false,
    time_zone text DEFAULT NULL,
    money_decimals integer DEFAULT 2)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tz text := coalesce(time_zone, current_setting('TimeZone'));
    obj text;
    created regclass[] := '{}';
    kept text[];
    msg text;
BEGIN
    -- nothing is dropped or created before every input is checked
    PERFORM @extschema@._lk_check_inputs(target_schema, leads, stage_events, spend, orders, stages,
                                          conversion_window, funnel_modes, materialized, tz, money_decimals);
    -- report views that users' views depend on are kept and replaced in place
    kept := @extschema@._lk_clear_schema(target_schema, @extschema@._lk_report_names());
    BEGIN
        PERFORM @extschema@._lk_create_canonical_views(target_schema, leads, stage_events, spend, orders, stages, tz);
        IF materialized THEN
            PERFORM @extschema@._lk_create_stores(target_schema, spend, stage_events, stages, conversion_window, funnel_modes, tz);
        END IF;
        PERFORM @extschema@._lk_create_kpi_reports(target_schema, spend, materialized, tz, money_decimals);
        IF stage_events IS NOT NULL THEN
            PERFORM @extschema@._lk_create_funnel_reports(target_schema, stages, conversion_window, funnel_modes, materialized);
        ELSE
            PERFORM @extschema@._lk_create_empty_funnel_reports(target_schema, materialized);
            IF coalesce(current_setting('leadkpi.stages_reported', true), '') <> 'on' THEN
                RAISE NOTICE 'leadkpi: no stage_events given, so funnel_report and funnel_by_campaign in schema % are empty', quote_ident(target_schema)
                    USING HINT = 'Pass stage_events => a table or view with lead_id, stage, occurred_at, and stages => the stages in funnel order.';
            END IF;
        END IF;
    EXCEPTION WHEN invalid_table_definition OR wrong_object_type OR duplicate_table THEN
        -- a kept view whose columns change, or that becomes materialized
        IF cardinality(kept) = 0 THEN
            RAISE;
        END IF;
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        PERFORM @extschema@._lk_dependents_error(target_schema, (@extschema@._lk_dependents(target_schema, kept)).dependents,
            format('The new reports cannot replace the ones they read in place: %s.', msg));
    END;

    FOREACH obj IN ARRAY @extschema@._lk_report_names() LOOP
        IF to_regclass(format('%I.%I', target_schema, obj)) IS NOT NULL THEN
            created := to_regclass(format('%I.%I', target_schema, obj)) || created;
        END IF;
    END LOOP;
    -- a re-run keeps the grants that were given on the reports it replaced
    PERFORM @extschema@._lk_regrant();
    RETURN QUERY SELECT unnest(created);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text, integer) IS
'Creates (or replaces) the leadkpi report views in target_schema over the canonical inputs leads (required), stage_events, spend and orders; validates every input first; days and months are cut in time_zone (default: the TimeZone at creation); money is shown to money_decimals decimals (NULL: exact); returns the relations created. See doc/crm.md.';

CREATE OR REPLACE FUNCTION @extschema@.drop_reports(target_schema name)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @extschema@._lk_drop(target_schema,
        @extschema@._lk_report_names()
        || ARRAY['canonical_orders', 'canonical_spend', 'canonical_stage_events', 'canonical_leads']);
END;
COMMENT ON FUNCTION @extschema@.drop_reports(name) IS
'Drops the report views (and a preset''s canonical views) that leadkpi created in target_schema; never touches other objects';
