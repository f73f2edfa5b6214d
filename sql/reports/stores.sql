
-----------------------------------------------------------------------------
-- Reports, phase 2 (materialized reports only): the stores.  Per-day lead
-- and spend summaries of the days before a watermark, and one funnel summary
-- per campaign; the materialized reports are rollups of these, and
-- refresh_reports() rewrites them.
-----------------------------------------------------------------------------

-- Creates kpi_watermark and kpi_daily, spend_daily when there is spend, and
-- funnel_store when there are stage events.  A lead belongs to one campaign,
-- so the rollup of the funnel summaries per campaign is the whole funnel.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_stores(
    target_schema name, spend regclass, stage_events regclass,
    stages text[], conversion_window interval, funnel_modes text, tz text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    -- the day (in tz) of first_contact_at, and the first stored_before instant
    day_of text := format('(first_contact_at AT TIME ZONE %L)::date', tz);
    boundary text := @extschema@._lk_boundary_sql(target_schema, tz);
BEGIN
    EXECUTE format('CREATE MATERIALIZED VIEW %s.kpi_watermark AS SELECT (now() AT TIME ZONE %L)::date AS stored_before', s, tz);
    EXECUTE format('CREATE UNIQUE INDEX ON %s.kpi_watermark (stored_before)', s);
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.kpi_watermark IS %L', s,
        format('leadkpi store: stored_before, the first day not in kpi_daily/spend_daily (the refresh day in time zone %s)', tz));
    EXECUTE format('CREATE MATERIALIZED VIEW %s.kpi_daily AS '
                   'SELECT %s AS day, campaign, channel, '
                   '@extschema@.kpi_agg(first_contact_at, converted_at, revenue) AS summary '
                   'FROM %s.report_leads WHERE first_contact_at < %s GROUP BY 1, 2, 3', s, day_of, s, boundary);
    EXECUTE format('CREATE UNIQUE INDEX ON %s.kpi_daily (day, campaign, channel) NULLS NOT DISTINCT', s);
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.kpi_daily IS %L', s,
        format('leadkpi store: kpi_summary of the leads per day of first contact (in time zone %s), campaign and channel, for days before kpi_watermark.stored_before', tz));
    IF spend IS NOT NULL THEN
        EXECUTE format('CREATE MATERIALIZED VIEW %s.spend_daily AS '
                       'SELECT day, campaign, channel, @extschema@.spend_agg(amount) AS summary '
                       'FROM %s.report_spend WHERE day < (SELECT stored_before FROM %s.kpi_watermark) GROUP BY 1, 2, 3', s, s, s);
        EXECUTE format('CREATE UNIQUE INDEX ON %s.spend_daily (day, campaign, channel) NULLS NOT DISTINCT', s);
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.spend_daily IS %L', s,
            'leadkpi store: spend summary per day, campaign and channel, for days before kpi_watermark.stored_before');
    END IF;
    IF stage_events IS NOT NULL THEN
        EXECUTE format('CREATE MATERIALIZED VIEW %s.funnel_store AS '
                       'SELECT l.campaign, %s AS fs '
                       'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id '
                       'GROUP BY l.campaign', s, @extschema@._lk_funnel_agg_sql(stages, conversion_window, funnel_modes), s, s);
        EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_store (campaign) NULLS NOT DISTINCT', s);
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.funnel_store IS %L', s,
            format('leadkpi store: funnel_summary per campaign (stages %s, window %s, modes %L)', stages, conversion_window, coalesce(funnel_modes, '')));
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_stores(name, regclass, regclass, text[], interval, text, text) IS
'leadkpi internal: creates the stores of materialized reports: kpi_watermark, kpi_daily, spend_daily and funnel_store';
