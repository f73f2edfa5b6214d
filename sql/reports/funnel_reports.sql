
-----------------------------------------------------------------------------
-- Reports, phase 4: the funnel reports funnel_report and funnel_by_campaign,
-- _lk_funnel_sql() over funnel summaries: computed from every stage event,
-- or (materialized) rolled up from funnel_store, with _live views that
-- recompute them from every event.
-----------------------------------------------------------------------------

-- Creates the funnel reports in target_schema, from report_stage_events and
-- report_leads (and funnel_store, when materialized).
CREATE OR REPLACE FUNCTION @extschema@._lk_create_funnel_reports(
    target_schema name, stages text[], conversion_window interval, funnel_modes text, materialized boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    fagg text := @extschema@._lk_funnel_agg_sql(stages, conversion_window, funnel_modes);
    seen text := @extschema@._lk_funnel_seen_sql();
    seen_all text := format('(SELECT %s FROM %I.report_stage_events AS e)', @extschema@._lk_funnel_seen_sql(), target_schema);
    kind text := CASE WHEN materialized THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END;
    funnel_live text;
    funnel_camp_live text;
BEGIN
    -- computed from every stage event: a lead's chain spans days, so a
    -- funnel cannot be cut into stored days plus today as the KPIs are
    -- seen: the steps that occur in the events, over all campaigns
    funnel_live := @extschema@._lk_funnel_sql(NULL,
        format('SELECT %s AS fs, %s AS seen FROM %s.report_stage_events AS e', fagg, seen, s), stages);
    funnel_camp_live := @extschema@._lk_funnel_sql('campaign',
        format('SELECT campaign, fs, bit_or(seen) OVER () AS seen FROM ('
               'SELECT l.campaign, %s AS fs, %s AS seen '
               'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id GROUP BY l.campaign) AS c',
               fagg, seen, s, s), stages);
    IF NOT materialized THEN
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_report WITH (security_invoker = true) AS %s', s, funnel_live);
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_by_campaign WITH (security_invoker = true) AS %s', s, funnel_camp_live);
    ELSE
        EXECUTE format('CREATE MATERIALIZED VIEW %s.funnel_report AS %s', s,
            @extschema@._lk_funnel_sql(NULL, format('SELECT @extschema@.rollup(fs) AS fs, %s AS seen FROM %s.funnel_store', seen_all, s), stages));
        EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_report (step)', s);
        EXECUTE format('CREATE MATERIALIZED VIEW %s.funnel_by_campaign AS %s', s,
            @extschema@._lk_funnel_sql('campaign', format('SELECT campaign, fs, %s AS seen FROM %s.funnel_store', seen_all, s), stages));
        EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_by_campaign (campaign, step) NULLS NOT DISTINCT', s);
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_report_live WITH (security_invoker = true) AS %s', s, funnel_live);
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_by_campaign_live WITH (security_invoker = true) AS %s', s, funnel_camp_live);
        EXECUTE format('COMMENT ON VIEW %s.funnel_report_live IS %L', s,
            'leadkpi report (live): funnel_report recomputed from every stage event at query time (real-time, a full scan)');
        EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign_live IS %L', s,
            'leadkpi report (live): funnel_by_campaign recomputed from every stage event at query time (real-time, a full scan)');
    END IF;
    EXECUTE format('COMMENT ON %s %s.funnel_report IS %L', kind, s,
        format('leadkpi report: funnel over stages %s (window %s, modes %L): step, stage, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous, is_bottleneck (among the steps that occur in the events), median_days_from_previous', stages, conversion_window, coalesce(funnel_modes, '')));
    EXECUTE format('COMMENT ON %s %s.funnel_by_campaign IS %L', kind, s,
        format('leadkpi report: funnel per campaign over stages %s (window %s): campaign plus the columns of funnel_report', stages, conversion_window));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_funnel_reports(name, text[], interval, text, boolean) IS
'leadkpi internal: creates the funnel reports of create_reports() (funnel_report, funnel_by_campaign, and their _live views when materialized)';

-- Without stage events the funnel reports still exist, empty, with their
-- columns, so that every report schema has the same views and a dashboard
-- never meets a missing relation; a NOTICE says why they are empty.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_empty_funnel_reports(target_schema name, materialized boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    cols CONSTANT text := 'NULL::integer AS step, NULL::text AS stage, NULL::bigint AS reached, '
        'NULL::double precision AS conversion_from_previous, NULL::double precision AS conversion_from_first, '
        'NULL::bigint AS drop_off, NULL::interval AS median_time_from_previous, NULL::boolean AS is_bottleneck, '
        'NULL::numeric AS median_days_from_previous';
    n text;
BEGIN
    FOREACH n IN ARRAY CASE WHEN materialized THEN ARRAY['funnel_report', 'funnel_report_live'] ELSE ARRAY['funnel_report'] END LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS SELECT %s WHERE false', s, n, cols);
        EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, n,
            'leadkpi report: funnel, empty: no stage_events input was given (create_reports(..., stage_events => ..., stages => ...))');
    END LOOP;
    FOREACH n IN ARRAY CASE WHEN materialized THEN ARRAY['funnel_by_campaign', 'funnel_by_campaign_live'] ELSE ARRAY['funnel_by_campaign'] END LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS SELECT NULL::text AS campaign, %s WHERE false', s, n, cols);
        EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, n,
            'leadkpi report: funnel per campaign, empty: no stage_events input was given (create_reports(..., stage_events => ..., stages => ...))');
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_empty_funnel_reports(name, boolean) IS
'leadkpi internal: creates funnel_report and funnel_by_campaign (and their _live views when materialized) empty, with their columns, when there are no stage events';
