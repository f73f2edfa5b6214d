
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
    kind text := CASE WHEN materialized THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END;
    funnel_live text;
    funnel_camp_live text;
BEGIN
    -- computed from every stage event: a lead's chain spans days, so a
    -- funnel cannot be cut into stored days plus today as the KPIs are
    funnel_live := @extschema@._lk_funnel_sql(NULL,
        format('SELECT %s AS fs FROM %s.report_stage_events AS e', fagg, s), stages);
    funnel_camp_live := @extschema@._lk_funnel_sql('campaign',
        format('SELECT l.campaign, %s AS fs '
               'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id GROUP BY l.campaign',
               fagg, s, s), stages);
    IF NOT materialized THEN
        EXECUTE format('CREATE VIEW %s.funnel_report WITH (security_invoker = true) AS %s', s, funnel_live);
        EXECUTE format('CREATE VIEW %s.funnel_by_campaign WITH (security_invoker = true) AS %s', s, funnel_camp_live);
    ELSE
        EXECUTE format('CREATE MATERIALIZED VIEW %s.funnel_report AS %s', s,
            @extschema@._lk_funnel_sql(NULL, format('SELECT @extschema@.rollup(fs) AS fs FROM %s.funnel_store', s), stages));
        EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_report (step)', s);
        EXECUTE format('CREATE MATERIALIZED VIEW %s.funnel_by_campaign AS %s', s,
            @extschema@._lk_funnel_sql('campaign', format('SELECT campaign, fs FROM %s.funnel_store', s), stages));
        EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_by_campaign (campaign, step) NULLS NOT DISTINCT', s);
        EXECUTE format('CREATE VIEW %s.funnel_report_live WITH (security_invoker = true) AS %s', s, funnel_live);
        EXECUTE format('CREATE VIEW %s.funnel_by_campaign_live WITH (security_invoker = true) AS %s', s, funnel_camp_live);
        EXECUTE format('COMMENT ON VIEW %s.funnel_report_live IS %L', s,
            'leadkpi report (live): funnel_report recomputed from every stage event at query time (real-time, a full scan)');
        EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign_live IS %L', s,
            'leadkpi report (live): funnel_by_campaign recomputed from every stage event at query time (real-time, a full scan)');
    END IF;
    EXECUTE format('COMMENT ON %s %s.funnel_report IS %L', kind, s,
        format('leadkpi report: funnel over stages %s (window %s, modes %L): step, stage, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous, is_bottleneck', stages, conversion_window, coalesce(funnel_modes, '')));
    EXECUTE format('COMMENT ON %s %s.funnel_by_campaign IS %L', kind, s,
        format('leadkpi report: funnel per campaign over stages %s (window %s): campaign plus the columns of funnel_report', stages, conversion_window));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_funnel_reports(name, text[], interval, text, boolean) IS
'leadkpi internal: creates the funnel reports of create_reports() (funnel_report, funnel_by_campaign, and their _live views when materialized)';
