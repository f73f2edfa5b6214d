
-----------------------------------------------------------------------------
-- Reports, phase 4: the funnel reports funnel_report and funnel_by_campaign,
-- _lk_funnel_sql() over funnel summaries: computed from every stage event,
-- or (materialized) rolled up from funnel_monthly, with _live views that
-- roll up the live rows (the stores with the changed keys recomputed).
-----------------------------------------------------------------------------

-- Creates the funnel reports in target_schema, from report_stage_events and
-- report_leads (or, materialized, from funnel_monthly and funnel_rows_live).
CREATE OR REPLACE FUNCTION @extschema@._lk_create_funnel_reports(
    target_schema name, stages text[], conversion_window interval, funnel_modes text, materialized boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    fagg text := @extschema@._lk_funnel_agg_sql(stages, conversion_window, funnel_modes);
    plain_funnel text;
    plain_by_campaign text;
BEGIN
    -- plain: computed from every stage event
    plain_funnel := @extschema@._lk_funnel_sql(NULL,
        format('SELECT %s AS fs FROM %s.report_stage_events AS e', fagg, s), stages);
    plain_by_campaign := @extschema@._lk_funnel_sql('campaign',
        format('SELECT l.campaign, %s AS fs '
               'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id GROUP BY l.campaign',
               fagg, s, s), stages);
    IF NOT materialized THEN
        EXECUTE format('CREATE VIEW %s.funnel_report WITH (security_invoker = true) AS %s', s, plain_funnel);
        EXECUTE format('CREATE VIEW %s.funnel_by_campaign WITH (security_invoker = true) AS %s', s, plain_by_campaign);
    ELSE
        EXECUTE format('CREATE VIEW %s.funnel_report WITH (security_invoker = true) AS %s', s,
            @extschema@._lk_funnel_sql(NULL, format('SELECT @extschema@.rollup(fs) AS fs FROM %s.funnel_monthly', s), stages));
        EXECUTE format('CREATE VIEW %s.funnel_by_campaign WITH (security_invoker = true) AS %s', s,
            @extschema@._lk_funnel_sql('campaign', format('SELECT campaign, @extschema@.rollup(fs) AS fs FROM %s.funnel_monthly GROUP BY campaign', s), stages));
        EXECUTE format('CREATE VIEW %s.funnel_report_live WITH (security_invoker = true) AS %s', s,
            @extschema@._lk_funnel_sql(NULL, format('SELECT @extschema@.rollup(fs) AS fs FROM %s.funnel_rows_live', s), stages));
        EXECUTE format('CREATE VIEW %s.funnel_by_campaign_live WITH (security_invoker = true) AS %s', s,
            @extschema@._lk_funnel_sql('campaign', format('SELECT campaign, @extschema@.rollup(fs) AS fs FROM %s.funnel_rows_live GROUP BY campaign', s), stages));
        EXECUTE format('COMMENT ON VIEW %s.funnel_report_live IS %L', s,
            'leadkpi report (live): funnel_report from the stores with every change committed since the last refresh');
        EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign_live IS %L', s,
            'leadkpi report (live): funnel_by_campaign from the stores with every change committed since the last refresh');
    END IF;
    EXECUTE format('COMMENT ON VIEW %s.funnel_report IS %L', s,
        format('leadkpi report: funnel over stages %s (window %s, modes %L): step, stage, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous, is_bottleneck', stages, conversion_window, coalesce(funnel_modes, '')));
    EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign IS %L', s,
        format('leadkpi report: funnel per campaign over stages %s (window %s): campaign plus the columns of funnel_report', stages, conversion_window));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_funnel_reports(name, text[], interval, text, boolean) IS
'leadkpi internal: creates the funnel reports of create_reports() (funnel_report, funnel_by_campaign, and their _live views when materialized)';
