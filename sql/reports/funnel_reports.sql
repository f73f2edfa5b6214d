
-----------------------------------------------------------------------------
-- Reports, phase 4: the funnel reports funnel_report and funnel_by_campaign,
-- _lk_funnel_sql() over funnel summaries: computed from every stage event
-- (in two levels, paths per lead, when the events are distributed by Citus),
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
    seen text := @extschema@._lk_funnel_seen_sql();
    plain_funnel text;
    plain_by_campaign text;
    from_stores text;
BEGIN
    -- plain: computed from every stage event; seen: the steps that occur in
    -- the events, over all campaigns
    IF NOT @extschema@._lk_citus_distributed(format('%s.report_stage_events', s)::regclass) THEN
        -- one pass over the events (the cheapest on one node)
        plain_funnel := @extschema@._lk_funnel_sql(NULL,
            format('SELECT %s AS fs, %s AS seen FROM %s.report_stage_events AS e', fagg, seen, s), stages);
        plain_by_campaign := @extschema@._lk_funnel_sql('campaign',
            format('SELECT campaign, fs, bit_or(seen) OVER () AS seen FROM ('
                   'SELECT l.campaign, %s AS fs, %s AS seen '
                   'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id GROUP BY l.campaign) AS c',
                   fagg, seen, s, s), stages);
    ELSE
        -- events in a Citus distributed table: two levels, a path per lead
        -- (grouped by the distribution column, on the workers), then
        -- funnel_agg over the paths, whose state Citus aggregates partially
        -- on the workers: the coordinator gets a row per shard and campaign,
        -- not every event (doc/citus.md, "Reports")
        plain_funnel := @extschema@._lk_funnel_sql(NULL,
            format('SELECT %s AS fs, coalesce(bit_or(p.seen), 0) AS seen FROM (%s) AS p',
                   @extschema@._lk_funnel_path_agg_sql(@extschema@._lk_funnel_args(stages, conversion_window, funnel_modes)),
                   @extschema@._lk_funnel_paths_sql(target_schema, @extschema@._lk_funnel_args(stages, conversion_window, funnel_modes))), stages);
        plain_by_campaign := @extschema@._lk_funnel_sql('campaign',
            format('SELECT campaign, fs, bit_or(seen) OVER () AS seen FROM ('
                   'SELECT l.campaign, %s AS fs, coalesce(bit_or(p.seen), 0) AS seen '
                   'FROM (%s) AS p LEFT JOIN %s.report_leads AS l ON l.lead_id = p.lead_id GROUP BY l.campaign) AS c',
                   @extschema@._lk_funnel_path_agg_sql(@extschema@._lk_funnel_args(stages, conversion_window, funnel_modes)),
                   @extschema@._lk_funnel_paths_sql(target_schema, @extschema@._lk_funnel_args(stages, conversion_window, funnel_modes)), s), stages);
    END IF;
    IF NOT materialized THEN
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_report WITH (security_invoker = true) AS %s', s, plain_funnel);
        EXECUTE format('CREATE OR REPLACE VIEW %s.funnel_by_campaign WITH (security_invoker = true) AS %s', s, plain_by_campaign);
    ELSE
        -- the stored rows carry the mask of the steps their events have
        -- (with team and owner, the stores without them: see stores.sql)
        FOREACH from_stores IN ARRAY CASE WHEN to_regclass(format('%s.funnel_monthly_campaign', s)) IS NOT NULL
                                          THEN ARRAY['funnel_monthly_campaign', 'funnel_campaign_rows_live']
                                          ELSE ARRAY['funnel_monthly', 'funnel_rows_live'] END LOOP
            EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s,
                CASE WHEN from_stores LIKE 'funnel_monthly%' THEN 'funnel_report' ELSE 'funnel_report_live' END,
                @extschema@._lk_funnel_sql(NULL, format('SELECT @extschema@.rollup(fs) AS fs, coalesce(bit_or(seen), 0) AS seen FROM %s.%I',
                                                        s, from_stores), stages));
            EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s,
                CASE WHEN from_stores LIKE 'funnel_monthly%' THEN 'funnel_by_campaign' ELSE 'funnel_by_campaign_live' END,
                @extschema@._lk_funnel_sql('campaign', format('SELECT campaign, @extschema@.rollup(fs) AS fs, bit_or(bit_or(seen)) OVER () AS seen '
                                                              'FROM %s.%I GROUP BY campaign', s, from_stores), stages));
        END LOOP;
        EXECUTE format('COMMENT ON VIEW %s.funnel_report_live IS %L', s,
            'leadkpi report (live): funnel_report from the stores with every change committed since the last refresh');
        EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign_live IS %L', s,
            'leadkpi report (live): funnel_by_campaign from the stores with every change committed since the last refresh');
    END IF;
    EXECUTE format('COMMENT ON VIEW %s.funnel_report IS %L', s,
        format('leadkpi report: funnel over stages %s (window %s, modes %L): step, stage, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous, is_bottleneck (among the steps that occur in the events), median_days_from_previous', stages, conversion_window, coalesce(funnel_modes, '')));
    EXECUTE format('COMMENT ON VIEW %s.funnel_by_campaign IS %L', s,
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
