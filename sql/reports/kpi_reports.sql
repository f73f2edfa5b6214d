
-----------------------------------------------------------------------------
-- Reports, phase 3: the four KPI reports, kpi_overview, kpi_by_campaign,
-- kpi_by_channel and kpi_by_month.  Each is _lk_kpi_sql() over a leads part
-- and a spend part: plain views aggregate the canonical views; materialized
-- ones roll up the coarse stores (kpi_monthly, spend_monthly), and their
-- _live views roll up the live rows (live.sql): the stores with the keys
-- changed since the last refresh recomputed.
-----------------------------------------------------------------------------

-- The KPI reports: name, key column, and the key's SQL over report_leads,
-- over report_spend and over the coarse stores and live rows (month,
-- campaign, channel).  The overview has no key.  The cell month (over
-- report_leads, and over report_spend) is set where a row spans several
-- months and campaigns: there the cost ratios count only the (month,
-- campaign) cells with both leads and spend (over the stores and live rows
-- the cell month is their month column).
CREATE OR REPLACE FUNCTION @extschema@._lk_kpi_reports(tz text)
RETURNS TABLE (name text, key_name text, leads_key text, spend_key text, store_key text, what text,
               leads_cell text, spend_cell text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM (VALUES
        ('kpi_overview', NULL, NULL, NULL, NULL, 'one row over all leads and spend',
         format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', $1), 'date_trunc(''month'', day)::date'),
        ('kpi_by_campaign', 'campaign', 'campaign', 'campaign', 'campaign', 'one row per campaign', NULL, NULL),
        ('kpi_by_channel', 'channel', 'channel', 'channel', 'channel', 'one row per channel (cost only when the spend input has a channel column)', NULL, NULL),
        ('kpi_by_month', 'month', format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', $1), 'date_trunc(''month'', day)::date',
         'month', format('one row per month of first contact in time zone %s (spend by month of its day)', $1),
         format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', $1), 'date_trunc(''month'', day)::date')
    ) AS v(name, key_name, leads_key, spend_key, store_key, what, leads_cell, spend_cell);
END;
COMMENT ON FUNCTION @extschema@._lk_kpi_reports(text) IS
'leadkpi internal: the KPI reports of create_reports(): name, key and the key''s SQL over the canonical views and the stores, and the month of the cells that cost ratios match on';

-- Creates the KPI reports in target_schema, from the canonical views (and
-- the stores, when materialized).  Spend counts when given, per channel only
-- when the spend input has a channel column.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_kpi_reports(target_schema name, spend regclass, materialized boolean, tz text,
                                                             money_decimals integer DEFAULT 2)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    lead_agg CONSTANT text := '@extschema@.kpi_agg(first_contact_at, converted_at, revenue)';
    spend_agg CONSTANT text := '@extschema@.spend_agg(amount)';
    store_agg CONSTANT text := '@extschema@.rollup(summary)';
    spend_by_channel boolean := spend IS NOT NULL
                                AND (@extschema@._lk_read_input('spend', spend, tz) ->> 'channel') IS NOT NULL;
    r record;
    with_spend boolean;
    leads_part text;
    spend_part text;
    store_cell text;
BEGIN
    FOR r IN SELECT * FROM @extschema@._lk_kpi_reports(tz) LOOP
        with_spend := spend IS NOT NULL AND (r.key_name IS DISTINCT FROM 'channel' OR spend_by_channel);
        IF NOT materialized THEN
            leads_part := @extschema@._lk_keyed_select(r.key_name, r.leads_key, lead_agg,
                              format('%s.report_leads WHERE first_contact_at IS NOT NULL', s), r.leads_cell);
            spend_part := CASE WHEN with_spend THEN
                              @extschema@._lk_keyed_select(r.key_name, r.spend_key, spend_agg, format('%s.report_spend', s), r.spend_cell) END;
            EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s, r.name,
                           @extschema@._lk_kpi_sql(r.key_name, leads_part, spend_part, money_decimals));
            EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, r.name,
                format('leadkpi report: KPIs %s: leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue, '
                       'sales_cycle_avg_days, sales_cycle_median_days, cost_matched, leads_matched, conversions_matched (money to %s decimals)',
                       r.what, coalesce(money_decimals::text, 'all')));
            CONTINUE;
        END IF;

        -- materialized: the coarse stores, as of the last refresh; their
        -- rows are (month, campaign, channel), so a cell is a row's month
        store_cell := CASE WHEN r.leads_cell IS NOT NULL THEN 'month' END;
        leads_part := @extschema@._lk_keyed_select(r.key_name, r.store_key, store_agg, format('%s.kpi_monthly', s), store_cell);
        spend_part := CASE WHEN with_spend THEN
                          @extschema@._lk_keyed_select(r.key_name, r.store_key, store_agg, format('%s.spend_monthly', s), store_cell) END;
        EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s, r.name,
                       @extschema@._lk_kpi_sql(r.key_name, leads_part, spend_part, money_decimals));
        EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, r.name,
            format('leadkpi report (materialized: the stores as of the last refresh_reports()): KPIs %s', r.what));

        -- live: the stores with the keys changed since then recomputed
        leads_part := @extschema@._lk_keyed_select(r.key_name, r.store_key, store_agg, format('%s.kpi_rows_live', s), store_cell);
        spend_part := CASE WHEN with_spend THEN
                          @extschema@._lk_keyed_select(r.key_name, r.store_key, store_agg, format('%s.spend_rows_live', s), store_cell) END;
        EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s, r.name || '_live',
                       @extschema@._lk_kpi_sql(r.key_name, leads_part, spend_part, money_decimals));
        EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, r.name || '_live',
            format('leadkpi report (live): KPIs %s; the stores with every change committed since the last refresh', r.what));
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_kpi_reports(name, regclass, boolean, text, integer) IS
'leadkpi internal: creates the KPI reports of create_reports() (kpi_overview, kpi_by_campaign, kpi_by_channel, kpi_by_month, and their _live views when materialized)';
