
-----------------------------------------------------------------------------
-- Reports: create_reports() and drop_reports().  create_reports() runs its
-- phases in order: check every input (validate.sql) and, materialized, the
-- watch list (changes.sql), make room in the target schema (helpers.sql),
-- then the canonical views (canonical.sql), when materialized the stores
-- (stores.sql), the triggers (changes.sql) and the live rows (live.sql),
-- the KPI reports (kpi_reports.sql), the funnel reports
-- (funnel_reports.sql), the forecast reports and their stores
-- (forecast_reports.sql), and the stores' first fill (refresh.sql), all in
-- the caller's transaction.
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
    money_decimals integer DEFAULT 2,
    watch jsonb DEFAULT NULL,
    look_back interval DEFAULT '1 hour',
    campaigns regclass DEFAULT NULL)
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
    -- with Citus, before any read of the inputs (see helpers.sql)
    PERFORM @extschema@._lk_citus_sequential();
    -- nothing is dropped or created before every input is checked
    PERFORM @extschema@._lk_check_inputs(target_schema, leads, stage_events, spend, orders, stages,
                                          conversion_window, funnel_modes, materialized, tz, money_decimals, campaigns);
    IF materialized THEN
        IF look_back IS NULL OR look_back < interval '0' THEN
            RAISE EXCEPTION 'leadkpi: look_back must be an interval of at least 0, not %', coalesce(look_back::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'E.g. look_back => ''1 hour'': how late a change column may lag behind the commit.';
        END IF;
        watch := coalesce(watch, @extschema@._lk_default_watch(leads, stage_events, spend, orders, tz));
        PERFORM @extschema@._lk_check_watch(watch, (@extschema@._lk_column('leads', leads, 'lead_id', 'id', true)).typ);
    ELSIF watch IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: watch is for materialized reports'
            USING ERRCODE = '22023', HINT = 'Pass materialized => true, or leave watch out: plain reports read the inputs at query time.';
    END IF;
    -- report views that users' views depend on are kept and replaced in place
    kept := @extschema@._lk_clear_schema(target_schema, @extschema@._lk_report_names());
    BEGIN
        PERFORM @extschema@._lk_create_canonical_views(target_schema, leads, stage_events, spend, orders, stages, tz, campaigns);
        IF materialized THEN
            PERFORM @extschema@._lk_create_stores(target_schema, leads, stage_events, spend, orders, stages,
                                                   conversion_window, funnel_modes, tz, watch, look_back);
            PERFORM @extschema@._lk_create_watches(target_schema, watch, (@extschema@._lk_column('leads', leads, 'lead_id', 'id', true)).typ);
            PERFORM @extschema@._lk_create_live_rows(target_schema, spend, stage_events, stages, conversion_window, funnel_modes, tz);
        END IF;
        PERFORM @extschema@._lk_create_kpi_reports(target_schema, spend, materialized, tz, money_decimals, leads, campaigns);
        IF stage_events IS NOT NULL THEN
            PERFORM @extschema@._lk_create_funnel_reports(target_schema, stages, conversion_window, funnel_modes, materialized);
        ELSE
            PERFORM @extschema@._lk_create_empty_funnel_reports(target_schema, materialized);
            IF coalesce(current_setting('leadkpi.stages_reported', true), '') <> 'on' THEN
                RAISE NOTICE 'leadkpi: no stage_events given, so funnel_report, funnel_by_campaign and the forecast (forecast_by_month, forecast_by_campaign, forecast_by_week) in schema % are empty', quote_ident(target_schema)
                    USING HINT = 'Pass stage_events => a table or view with lead_id, stage, occurred_at, and stages => the stages in funnel order.';
            END IF;
        END IF;
        PERFORM @extschema@._lk_create_forecast_reports(target_schema, stage_events IS NOT NULL, materialized);
    EXCEPTION WHEN invalid_table_definition OR wrong_object_type OR duplicate_table THEN
        -- a kept view whose columns change, or that becomes materialized
        IF cardinality(kept) = 0 THEN
            RAISE;
        END IF;
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        PERFORM @extschema@._lk_dependents_error(target_schema, (@extschema@._lk_dependents(target_schema, kept)).dependents,
            format('The new reports cannot replace the ones they read in place: %s.', msg));
    END;
    -- a kept view that this run does not make again (a live view, when the
    -- reports become plain) would read stores that are gone
    IF NOT materialized AND EXISTS (SELECT FROM unnest(kept) AS k WHERE k LIKE '%\_live' OR k IN ('report_status', 'changes_by_column')) THEN
        PERFORM @extschema@._lk_dependents_error(target_schema, (@extschema@._lk_dependents(target_schema, kept)).dependents,
            'They read live views or the status of materialized reports, which plain reports do not have.');
    END IF;
    IF materialized THEN
        -- the first fill; the triggers exist already and hold off the writers
        -- of the watched tables until this transaction ends, so nothing falls
        -- between the fill and the first change recorded
        PERFORM @extschema@._lk_refresh(target_schema, true);
        -- statistics for the plans of refreshes and live views (the summary
        -- columns have none: see _lk_create_stores)
        FOREACH obj IN ARRAY ARRAY(SELECT 'lead_facts' UNION ALL SELECT name FROM @extschema@._lk_stores_def()) LOOP
            IF to_regclass(format('%I.%I', target_schema, obj)) IS NOT NULL THEN
                EXECUTE format('ANALYZE %I.%I', target_schema, obj);
            END IF;
        END LOOP;
    END IF;

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
COMMENT ON FUNCTION @extschema@.create_reports(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text, integer, jsonb, interval, regclass) IS
'Creates (or replaces) the leadkpi report views in target_schema over the canonical inputs leads (required), stage_events, spend, orders and campaigns (each campaign''s channel, for the cost per channel); validates every input first; days and months are cut in time_zone (default: the TimeZone at creation); money is shown to money_decimals decimals (NULL: exact); materialized => true keeps stores refreshed incrementally from the changes recorded on the watched tables (watch, look_back: see doc/realtime.md); returns the relations created. See doc/crm.md.';

CREATE OR REPLACE FUNCTION @extschema@.drop_reports(target_schema name)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @extschema@._lk_drop(target_schema,
        @extschema@._lk_report_names()
        || ARRAY['canonical_campaigns', 'canonical_orders', 'canonical_spend', 'canonical_stage_events', 'canonical_leads']);
END;
COMMENT ON FUNCTION @extschema@.drop_reports(name) IS
'Drops the report views (and a preset''s canonical views) that leadkpi created in target_schema; never touches other objects';
