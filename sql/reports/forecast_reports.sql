
-----------------------------------------------------------------------------
-- Reports, phase 5: the forecast reports forecast_by_month,
-- forecast_by_campaign and forecast_by_week, views over forecast_closings()
-- (sql/forecast.sql) with the reports schema's defaults.  Plain, they read
-- report_leads and report_stage_events at query time; materialized, they
-- read the forecast stores (one close summary per campaign and channel on
-- the grid of a forecast as of their last rebuild), rebuilt by a refresh
-- once they are leadkpi.forecast_refresh_interval old (see _lk_refresh).
-----------------------------------------------------------------------------

-- The forecast reports: name, period, segment column (by) and store.
-- Every one is a 6-period forecast with an 80% interval.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_reports()
RETURNS TABLE (name text, period text, seg text, store text, what text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM (VALUES
        ('forecast_by_month', 'month', NULL, 'forecast_month_summaries', 'expected closings and revenue in each of the next 6 months'),
        ('forecast_by_campaign', 'month', 'campaign', 'forecast_month_summaries', 'expected closings and revenue per campaign in each of the next 6 months'),
        ('forecast_by_week', 'week', NULL, 'forecast_week_summaries', 'expected closings and revenue in each of the next 6 weeks')
    ) AS v(name, period, seg, store, what);
END;
COMMENT ON FUNCTION @extschema@._lk_forecast_reports() IS
'leadkpi internal: the forecast reports of create_reports() (name, period, segment column, store of the materialized ones)';

-- The forecast stores: one per period, shared by its reports.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_stores()
RETURNS TABLE (store text, period text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT DISTINCT r.store, r.period FROM @extschema@._lk_forecast_reports() AS r ORDER BY 1;
END;
COMMENT ON FUNCTION @extschema@._lk_forecast_stores() IS
'leadkpi internal: the forecast stores of materialized reports (one per period) and their period';

-- The columns of a forecast report, after its segment column (campaign in
-- forecast_by_campaign): those of forecast_closings() but segment.
CREATE OR REPLACE FUNCTION @extschema@._lk_forecast_columns()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'f.period_start, f.h, f.window_start, f.window_end, f.closings, f.closings_low, f.closings_high, '
       'f.from_pipeline, f.from_new_leads, f.revenue, f.revenue_low, f.revenue_high, f.revenue_from_pipeline, '
       'f.open_leads, f.stale_leads, f.leads_with_amount, f.min_cell_observations, f.amount_basis, f.dispersion';
COMMENT ON FUNCTION @extschema@._lk_forecast_columns() IS
'leadkpi internal: the columns of the forecast reports after their segment column (those of forecast_closings but segment)';

-- Creates the forecast stores of a materialized report schema, empty:
-- (campaign, channel, summary), the table forecast_closings(summaries =>)
-- reads.  _lk_refresh_forecast fills them.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_forecast_stores(target_schema name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    st record;
BEGIN
    FOR st IN SELECT * FROM @extschema@._lk_forecast_stores() LOOP
        EXECUTE format('CREATE TABLE %s.%I (campaign text, channel text, summary @extschema@.close_summary NOT NULL) INHERITS (%s._lk_stores)',
                       s, st.store, s);
        -- (no statistics on the summaries, as the other stores)
        EXECUTE format('ALTER TABLE %s.%I ALTER COLUMN summary SET STATISTICS 0', s, st.store);
        EXECUTE format('COMMENT ON TABLE %s.%I IS %L', s, st.store,
            format('leadkpi store: close_summary per campaign and channel on the grid of a 6-%s forecast as of the last refresh '
                   '(forecast_grid); read by the forecast reports, rebuilt by refresh_reports()', st.period));
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_forecast_stores(name) IS
'leadkpi internal: creates the forecast stores of materialized reports (a close summary per campaign and channel, per period), empty';

-- Rebuilds the forecast stores of a materialized report schema as of now:
-- the grid moves with every refresh (its last snapshot is the forecast's
-- as_of), so every summary changes and the stores are rewritten whole.
-- Returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@._lk_refresh_forecast(target_schema name)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    st record;
    n bigint;
    written bigint := 0;
BEGIN
    FOR st IN SELECT * FROM @extschema@._lk_forecast_stores() LOOP
        CONTINUE WHEN to_regclass(format('%s.%I', s, st.store)) IS NULL;
        EXECUTE format('DELETE FROM %s.%I', s, st.store);
        EXECUTE format('INSERT INTO %s.%I (campaign, channel, summary) '
                       'SELECT m.campaign, m.channel, m.summary FROM @extschema@.close_summaries($1, '
                       '@extschema@.forecast_grid($1, now(), %L, 6)) AS m', s, st.store, st.period)
          USING target_schema;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END LOOP;
    RETURN written;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_refresh_forecast(name) IS
'leadkpi internal: rebuilds the forecast stores of a materialized report schema as of now (the grid moves with each refresh); returns the rows written';

-- Creates the forecast reports in target_schema (and, materialized, their
-- stores).  Without stage events they exist, empty, with their columns, so
-- that every report schema has the same views (create_reports' NOTICE and
-- their comments say why).  Before the first lead (an empty CRM) they have no
-- rows, where forecast_closings() raises 22023.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_forecast_reports(target_schema name, has_events boolean, materialized boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    r record;
    cols text := @extschema@._lk_forecast_columns();
    doc CONSTANT text := 'period_start (first day of the period, in the reports'' time zone), h (1 = the period of as_of, which runs from as_of), '
        'window_start, window_end, closings (expected wins), closings_low, closings_high (80% prediction interval), '
        'from_pipeline (expected wins of the leads open now), from_new_leads (of leads that do not exist yet), '
        'revenue, revenue_low, revenue_high, revenue_from_pipeline, open_leads, stale_leads, leads_with_amount, '
        'min_cell_observations, amount_basis (expected_revenue, mean won revenue or mixed), dispersion (calibration of the interval). '
        'See doc/forecast.md.';
BEGIN
    IF materialized AND has_events THEN
        PERFORM @extschema@._lk_create_forecast_stores(target_schema);
    END IF;
    FOR r IN SELECT * FROM @extschema@._lk_forecast_reports() LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS SELECT %s%s '
                       'FROM @extschema@.forecast_closings(%L::name, period => %L, horizon => 6, level => 0.8, by => %L%s) AS f%s',
                       s, r.name, CASE WHEN r.seg IS NULL THEN '' ELSE format('f.segment AS %I, ', r.seg) END, cols,
                       target_schema, r.period, r.seg,
                       CASE WHEN materialized AND has_events THEN format(', summaries => %L::regclass', format('%s.%I', s, r.store)) ELSE '' END,
                       CASE WHEN NOT has_events THEN ' WHERE false'
                            -- no history yet (an empty CRM): no rows, where
                            -- forecast_closings() would raise (a one-time
                            -- filter: the forecast is not called)
                            WHEN materialized THEN format(' WHERE EXISTS (SELECT FROM %s.%I)', s, r.store)
                            ELSE format(' WHERE EXISTS (SELECT FROM %s.report_leads WHERE first_contact_at < now())', s) END);
        EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, r.name,
            CASE WHEN NOT has_events
                 THEN format('leadkpi report: forecast, empty: no stage_events input was given (create_reports(..., stage_events => ..., stages => ...)); columns %s',
                             CASE WHEN r.seg IS NULL THEN '' ELSE r.seg || ', ' END || doc)
                 ELSE format('leadkpi report: %s (forecast_closings with period => %L, horizon => 6, level => 0.8%s%s): %s', r.what, r.period,
                             CASE WHEN r.seg IS NULL THEN '' ELSE format(', by => %L', r.seg) END,
                             CASE WHEN materialized THEN format(', summaries => %s.%I, as of the last refresh', s, r.store) ELSE ', as of now' END,
                             CASE WHEN r.seg IS NULL THEN '' ELSE r.seg || ', ' END || doc) END);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_forecast_reports(name, boolean, boolean) IS
'leadkpi internal: creates the forecast reports of create_reports() (forecast_by_month, forecast_by_campaign, forecast_by_week) and, materialized, their stores; empty without stage events';
