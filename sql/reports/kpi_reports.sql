
-----------------------------------------------------------------------------
-- Reports, phase 3: the four KPI reports, kpi_overview, kpi_by_campaign,
-- kpi_by_channel and kpi_by_month.  Each is _lk_kpi_sql() over a leads part
-- and a spend part: plain views aggregate the canonical views; materialized
-- ones roll up the coarse stores (kpi_monthly, spend_monthly), and their
-- _live views roll up the live rows (live.sql): the stores with the keys
-- changed since the last refresh recomputed.
-----------------------------------------------------------------------------

-- The KPI reports: name, key column, and the key's SQL over report_leads,
-- over report_spend (NULL for a keyed report without cost) and over the coarse stores and live rows (month,
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
        ('kpi_by_channel', 'channel', 'channel', 'channel', 'channel', 'one row per channel (cost from the spend''s channel, the campaigns input, or inferred from the leads: cost_channel_rule)', NULL, NULL),
        ('kpi_by_month', 'month', format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', $1), 'date_trunc(''month'', day)::date',
         'month', format('one row per month of first contact in time zone %s (spend by month of its day)', $1),
         format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', $1), 'date_trunc(''month'', day)::date'),
        ('kpi_by_team', 'team', 'team', NULL, 'team', 'one row per sales team of the leads (no cost: spend has no team)', NULL, NULL),
        ('kpi_by_owner', 'owner', 'owner', NULL, 'owner', 'one row per owner (salesperson) of the leads (no cost: spend has no owner)', NULL, NULL)
    ) AS v(name, key_name, leads_key, spend_key, store_key, what, leads_cell, spend_cell);
END;
COMMENT ON FUNCTION @extschema@._lk_kpi_reports(text) IS
'leadkpi internal: the KPI reports of create_reports(): name, key and the key''s SQL over the canonical views and the stores, and the month of the cells that cost ratios match on';

-- The rule that gives spend a channel in a report schema, fixed at
-- creation: the spend's own channel column, else the campaigns input, else
-- the one channel that all of a campaign's leads share.
CREATE OR REPLACE FUNCTION @extschema@._lk_channel_rule(spend regclass, campaigns regclass, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN spend IS NOT NULL AND (@extschema@._lk_read_input('spend', spend, tz) ->> 'channel') IS NOT NULL THEN 'spend channel'
            WHEN campaigns IS NOT NULL THEN 'campaigns input'
            ELSE 'inferred from leads' END;
COMMENT ON FUNCTION @extschema@._lk_channel_rule(regclass, regclass, text) IS
'leadkpi internal: the rule giving spend a channel in a report schema: ''spend channel'', ''campaigns input'' or ''inferred from leads''';

-- The SQL of the campaigns' channels under a rule, one row per campaign
-- (map_campaign, map_channel), over the source of the variant (plain,
-- stored, live): report_campaigns (the campaigns input); or the one channel
-- of the rows of a campaign in the spend (spend channel) or the leads
-- (inferred), NULL when they have several or a row has none.  spend and
-- leads are relation SQL with a WHERE keeping the rows with spend or leads.
CREATE OR REPLACE FUNCTION @extschema@._lk_channel_map_sql(rule text, target_schema name, spend text, leads text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE rule
    WHEN 'campaigns input' THEN format('SELECT campaign AS map_campaign, channel AS map_channel FROM %s.report_campaigns', quote_ident(target_schema))
    ELSE format('SELECT campaign AS map_campaign, CASE WHEN count(DISTINCT channel) = 1 AND count(channel) = count(*) THEN min(channel) END AS map_channel '
                'FROM %s GROUP BY campaign', CASE rule WHEN 'spend channel' THEN spend ELSE leads END) END;
COMMENT ON FUNCTION @extschema@._lk_channel_map_sql(text, name, text, text) IS
'leadkpi internal: the SQL of each campaign''s channel under a channel rule (campaigns input, or the one channel of its spend or leads)';

-- Says, at creation, how much spend has no channel under the rule (it is
-- in kpi_by_channel's row of channel NULL), from the canonical views.
CREATE OR REPLACE FUNCTION @extschema@._lk_report_unassigned_spend(target_schema name, rule text, money_decimals integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    un numeric;
    total numeric;
    n bigint;
BEGIN
    EXECUTE format('SELECT sum(sp.amount) FILTER (WHERE %s), sum(sp.amount), '
                   'count(DISTINCT coalesce(sp.campaign, '''') || (sp.campaign IS NULL)::text) FILTER (WHERE %s) '
                   'FROM %s.report_spend AS sp LEFT JOIN (%s) AS cc ON cc.map_campaign = sp.campaign WHERE sp.amount IS NOT NULL',
                   CASE WHEN rule = 'spend channel' THEN 'sp.channel IS NULL' ELSE 'cc.map_channel IS NULL' END,
                   CASE WHEN rule = 'spend channel' THEN 'sp.channel IS NULL' ELSE 'cc.map_channel IS NULL' END,
                   s, @extschema@._lk_channel_map_sql(rule, target_schema,
                          format('%s.report_spend WHERE amount IS NOT NULL', s),
                          format('%s.report_leads WHERE first_contact_at IS NOT NULL', s)))
       INTO un, total, n;
    IF un IS NOT NULL THEN
        RAISE NOTICE 'leadkpi: spend of % (of % in all) in % campaign(s) has no channel under the rule "%", so kpi_by_channel in schema % shows it under channel NULL',
                     @extschema@._lk_money(un, money_decimals), @extschema@._lk_money(total, money_decimals), n, rule, s
            USING HINT = CASE rule
                WHEN 'spend channel' THEN 'Fill the channel column of the spend input, or leave the column out and pass campaigns => a table or view with campaign and channel.'
                WHEN 'campaigns input' THEN 'List every campaign of the spend in the campaigns input, with one channel each.'
                ELSE 'Pass campaigns => a table or view with campaign and channel: a campaign''s channel is inferred only when all its leads share one channel.' END;
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_report_unassigned_spend(name, text, integer) IS
'leadkpi internal: NOTICE naming the spend that has no channel under a report schema''s channel rule';

-- Creates the KPI reports in target_schema, from the canonical views (and
-- the stores, when materialized).  Spend counts when given; per channel
-- under the channel rule (see _lk_channel_rule); never per team or owner.
-- kpi_by_team and kpi_by_owner are empty when the leads have no such column.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_kpi_reports(target_schema name, spend regclass, materialized boolean, tz text,
                                                             money_decimals integer DEFAULT 2, leads regclass DEFAULT NULL,
                                                             campaigns regclass DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    lead_agg CONSTANT text := '@extschema@.kpi_agg(first_contact_at, converted_at, revenue)';
    spend_agg CONSTANT text := '@extschema@.spend_agg(amount)';
    store_agg CONSTANT text := '@extschema@.rollup(summary)';
    rule text := @extschema@._lk_channel_rule(spend, campaigns, tz);
    l jsonb := CASE WHEN leads IS NOT NULL THEN @extschema@._lk_read_input('leads', leads, tz) END;
    missing text[] := ARRAY(SELECT c FROM unnest(ARRAY['team', 'owner']) AS c WHERE l IS NOT NULL AND l ->> c IS NULL);
    r record;
    v record;
    with_spend boolean;
    leads_part text;
    spend_part text;
    store_cell text;
    map text;
    extra_cols text;
    extra_from text;
    q text;
    shared boolean;
    -- with team and owner, the reports not by them read the stores
    -- without them (stores.sql)
    by_campaign boolean := materialized AND to_regclass(format('%s.kpi_monthly_campaign', s)) IS NOT NULL;
    kpi_store text;
    kpi_live text;
BEGIN
    FOR r IN SELECT * FROM @extschema@._lk_kpi_reports(tz) LOOP
        with_spend := spend IS NOT NULL AND (r.key_name IS NULL OR r.spend_key IS NOT NULL);
        -- the reports whose channel map reads the leads or spend rows again
        shared := r.name IN ('kpi_by_campaign', 'kpi_by_channel');
        kpi_store := CASE WHEN by_campaign AND r.key_name IS DISTINCT FROM 'team' AND r.key_name IS DISTINCT FROM 'owner'
                          THEN 'kpi_monthly_campaign' ELSE 'kpi_monthly' END;
        kpi_live := CASE kpi_store WHEN 'kpi_monthly' THEN 'kpi_rows_live' ELSE 'kpi_campaign_rows_live' END;
        -- the variants: plain over the canonical views; materialized, the
        -- coarse stores as of the last refresh (their rows are (month,
        -- segments), so a cell is a row's month), and live: the stores
        -- with the keys changed since then recomputed
        FOR v IN SELECT * FROM (VALUES
                (1, r.name, format('%s.report_leads', s), format('%s.report_spend', s), lead_agg, spend_agg, r.leads_key, r.spend_key,
                 r.leads_cell, r.spend_cell, 'first_contact_at IS NOT NULL', 'amount IS NOT NULL',
                 format('leadkpi report: KPIs %s: leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue, '
                        'sales_cycle_avg_days, sales_cycle_median_days, cost_matched, leads_matched, conversions_matched%s (money to %s decimals)',
                        r.what, CASE r.name WHEN 'kpi_by_campaign' THEN ', channel, roi' WHEN 'kpi_by_channel' THEN ', cost_channel_rule' ELSE '' END,
                        coalesce(money_decimals::text, 'all'))),
                (2, r.name, format('%s.%I', s, kpi_store), format('%s.spend_monthly', s), store_agg, store_agg, r.store_key, r.store_key,
                 CASE WHEN r.leads_cell IS NOT NULL THEN 'month' END, CASE WHEN r.leads_cell IS NOT NULL THEN 'month' END,
                 '@extschema@.leads(summary) > 0', '@extschema@.cost(summary) IS NOT NULL',
                 format('leadkpi report (materialized: the stores as of the last refresh_reports()): KPIs %s', r.what)),
                (3, r.name || '_live', CASE WHEN shared THEN 'lk_live_kpi' ELSE format('%s.%I', s, kpi_live) END,
                 CASE WHEN shared THEN 'lk_live_spend' ELSE format('%s.spend_rows_live', s) END, store_agg, store_agg, r.store_key, r.store_key,
                 CASE WHEN r.leads_cell IS NOT NULL THEN 'month' END, CASE WHEN r.leads_cell IS NOT NULL THEN 'month' END,
                 '@extschema@.leads(summary) > 0', '@extschema@.cost(summary) IS NOT NULL',
                 format('leadkpi report (live): KPIs %s; the stores with every change committed since the last refresh', r.what))
            ) AS x(variant, view_name, leads_src, spend_src, l_agg, s_agg, l_key, s_key, l_cell, s_cell, has_lead, has_spend, what)
            WHERE (x.variant = 1) = NOT materialized
        LOOP
            map := @extschema@._lk_channel_map_sql(rule, target_schema,
                       format('%s WHERE %s', v.spend_src, v.has_spend), format('%s WHERE %s', v.leads_src, v.has_lead));
            leads_part := @extschema@._lk_keyed_select(r.key_name, v.l_key, v.l_agg,
                              CASE WHEN v.variant = 1 THEN format('%s WHERE first_contact_at IS NOT NULL', v.leads_src) ELSE v.leads_src END, v.l_cell);
            spend_part := CASE WHEN NOT with_spend THEN NULL
                               -- spend per channel through its campaign's channel
                               WHEN r.key_name = 'channel' AND rule <> 'spend channel' THEN
                                   @extschema@._lk_keyed_select(r.key_name, 'cc.map_channel', v.s_agg,
                                       format('%s AS sp LEFT JOIN (%s) AS cc ON cc.map_campaign = sp.campaign', v.spend_src, map), v.s_cell)
                               ELSE @extschema@._lk_keyed_select(r.key_name, v.s_key, v.s_agg, v.spend_src, v.s_cell) END;
            extra_cols := CASE r.name
                WHEN 'kpi_by_campaign' THEN 'cc.map_channel AS channel, round(@extschema@.roi(g.m), 4) AS roi'
                WHEN 'kpi_by_channel' THEN format('CASE WHEN @extschema@.cost(g.r) IS NOT NULL THEN %L END AS cost_channel_rule', rule) END;
            extra_from := CASE WHEN r.name = 'kpi_by_campaign' THEN format(' LEFT JOIN (%s) AS cc ON cc.map_campaign = g.campaign', map) END;
            q := @extschema@._lk_kpi_sql(r.key_name, leads_part, spend_part, money_decimals, extra_cols, extra_from);
            IF v.variant = 3 AND shared THEN
                -- the live rows as CTEs, read once, where the channel map
                -- reads them too (a CTE read twice is kept, not run twice)
                q := format('WITH lk_live_kpi AS (SELECT * FROM %s.%I)%s %s', s, kpi_live,
                            CASE WHEN spend IS NOT NULL THEN format(', lk_live_spend AS (SELECT * FROM %s.spend_rows_live)', s) ELSE '' END, q);
            END IF;
            IF r.key_name = ANY (missing) THEN
                -- every report schema has the same views: empty, typed
                q := format('SELECT * FROM (%s) AS k WHERE false', q);
            END IF;
            EXECUTE format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS %s', s, v.view_name, q);
            EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, v.view_name,
                v.what || CASE WHEN r.key_name = ANY (missing) THEN format('; empty: the leads input has no column %s', r.key_name) ELSE '' END);
        END LOOP;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE NOTICE 'leadkpi: the leads input has no column %, so % in schema % % empty',
                     array_to_string(missing, ' or '), array_to_string(ARRAY(SELECT 'kpi_by_' || c FROM unnest(missing) AS c), ' and '),
                     s, CASE WHEN cardinality(missing) = 1 THEN 'is' ELSE 'are' END
            USING HINT = 'Give the leads input a column team (the sales team) and owner (the salesperson) to break the KPIs down by them; see doc/crm.md.';
    END IF;
    IF spend IS NOT NULL THEN
        PERFORM @extschema@._lk_report_unassigned_spend(target_schema, rule, money_decimals);
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_kpi_reports(name, regclass, boolean, text, integer, regclass, regclass) IS
'leadkpi internal: creates the KPI reports of create_reports() (kpi_overview, kpi_by_campaign, kpi_by_channel, kpi_by_month, kpi_by_team, kpi_by_owner, and their _live views when materialized)';
