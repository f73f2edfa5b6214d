
-----------------------------------------------------------------------------
-- Reports: create_reports() and drop_reports().
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
    time_zone text DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    tz text := coalesce(time_zone, current_setting('TimeZone'));
    day_of text;        -- SQL: the day (in tz) of first_contact_at
    boundary text;      -- SQL: the first stored_before instant (midnight in tz)
    fagg text;          -- the funnel_agg call over report_stage_events (alias e)
    l_id record; l_t0 record; l_camp record; l_chan record; l_conv record; l_lost record; l_rev record;
    e_id record; e_stage record; e_at record;
    p_camp record; p_chan record; p_day record; p_amt record;
    p_chan_expr text;
    o_id record; o_at record; o_amt record;
    bad text;
    src text;
    obj text;
    key record;
    leads_part text;
    spend_part text;
    live_leads text;
    live_spend text;
    funnel_live text;
    funnel_camp_live text;
    created regclass[] := '{}';
BEGIN
    ------------------------------------------------------------------ validate
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'leadkpi: target_schema must not be NULL' USING ERRCODE = '22023',
            HINT = 'Pass the schema that will hold the report views, e.g. create_reports(''reports'', leads => ''crm.leads'').';
    END IF;
    IF leads IS NULL THEN
        RAISE EXCEPTION 'leadkpi: the input "leads" is required' USING ERRCODE = '22023',
            HINT = 'Pass a table or view with lead_id, first_contact_at, campaign, channel, converted_at; see doc/crm.md.';
    END IF;
    IF materialized IS NULL THEN
        RAISE EXCEPTION 'leadkpi: materialized must not be NULL' USING ERRCODE = '22023', HINT = 'Pass true or false.';
    END IF;
    -- days and months are cut in one fixed time zone, whoever reads or refreshes
    BEGIN
        PERFORM now() AT TIME ZONE tz;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'leadkpi: unknown time zone %', quote_literal(tz) USING ERRCODE = '22023',
            HINT = 'Pass a name from pg_timezone_names, e.g. time_zone => ''Europe/Berlin'' or ''UTC''.';
    END;
    day_of := format('(first_contact_at AT TIME ZONE %L)::date', tz);

    l_id   := @extschema@._lk_column('leads', leads, 'lead_id', 'id', true);
    l_t0   := @extschema@._lk_column('leads', leads, 'first_contact_at', 'ts', true, tz);
    l_camp := @extschema@._lk_column('leads', leads, 'campaign', 'text', true);
    l_chan := @extschema@._lk_column('leads', leads, 'channel', 'text', true);
    l_conv := @extschema@._lk_column('leads', leads, 'converted_at', 'ts', true, tz);
    l_lost := @extschema@._lk_column('leads', leads, 'lost_at', 'ts', false, tz);
    l_rev  := @extschema@._lk_column('leads', leads, 'revenue', 'numeric', false);

    IF spend IS NOT NULL THEN
        p_camp := @extschema@._lk_column('spend', spend, 'campaign', 'text', true);
        p_day  := @extschema@._lk_column('spend', spend, 'day', 'date', true, tz);
        p_amt  := @extschema@._lk_column('spend', spend, 'amount', 'numeric', true);
        p_chan := @extschema@._lk_column('spend', spend, 'channel', 'text', false);
        p_chan_expr := p_chan.expr;
    END IF;

    IF orders IS NOT NULL THEN
        o_id  := @extschema@._lk_column('orders', orders, 'lead_id', 'id', true);
        o_at  := @extschema@._lk_column('orders', orders, 'ordered_at', 'ts', true, tz);
        o_amt := @extschema@._lk_column('orders', orders, 'amount', 'numeric', true);
        IF o_id.typ <> l_id.typ THEN
            RAISE EXCEPTION 'leadkpi: input "orders" (%) column "lead_id" is %, but leads.lead_id is %', orders, o_id.typ, l_id.typ
                USING ERRCODE = '42804', HINT = 'Both lead_id columns must be of the same kind (integer, text or uuid); cast one in a view.';
        END IF;
    END IF;

    IF stage_events IS NOT NULL THEN
        e_id    := @extschema@._lk_column('stage_events', stage_events, 'lead_id', 'id', true);
        e_stage := @extschema@._lk_column('stage_events', stage_events, 'stage', 'text', true);
        e_at    := @extschema@._lk_column('stage_events', stage_events, 'occurred_at', 'ts', true, tz);
        IF e_id.typ <> l_id.typ THEN
            RAISE EXCEPTION 'leadkpi: input "stage_events" (%) column "lead_id" is %, but leads.lead_id is %', stage_events, e_id.typ, l_id.typ
                USING ERRCODE = '42804', HINT = 'Both lead_id columns must be of the same kind (integer, text or uuid); cast one in a view.';
        END IF;
        IF stages IS NULL OR cardinality(stages) = 0 THEN
            RAISE EXCEPTION 'leadkpi: stage_events (%) needs the ordered list of stages', stage_events
                USING ERRCODE = '22023', HINT = 'Pass stages => ARRAY[''lead'', ''mql'', ''sql'', ''customer''] in funnel order.';
        END IF;
        IF array_position(stages, NULL) IS NOT NULL
           OR (SELECT count(DISTINCT x) FROM unnest(stages) AS x) <> cardinality(stages) THEN
            RAISE EXCEPTION 'leadkpi: stages % must be distinct and not NULL', stages
                USING ERRCODE = '22023', HINT = 'List each stage once, in funnel order.';
        END IF;
        IF conversion_window IS NULL OR conversion_window <= interval '0' THEN
            RAISE EXCEPTION 'leadkpi: conversion_window must be a positive interval, not %', coalesce(conversion_window::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'E.g. conversion_window => ''90 days''.';
        END IF;
        -- funnel_agg checks the modes: run it once on one made-up row
        PERFORM @extschema@.funnel_agg(1::bigint, now(), 1, conversion_window, coalesce(funnel_modes, ''), cardinality(stages));
        EXECUTE format('SELECT %s FROM %s WHERE %s IS NOT NULL AND NOT (%s = ANY ($1)) LIMIT 1',
                       e_stage.expr, stage_events, e_stage.expr, e_stage.expr)
           INTO bad USING stages;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'leadkpi: input "stage_events" (%) column "stage" has the unknown stage %', stage_events, quote_literal(bad)
                USING ERRCODE = '22023',
                      HINT = format('Add it to stages => %L, or leave it out in a view over %s.', stages, stage_events);
        END IF;
    ELSIF stages IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: stages given without stage_events'
            USING ERRCODE = '22023', HINT = 'Pass stage_events => a table or view with lead_id, stage, occurred_at.';
    END IF;

    -- a fixed step count, so summaries of any subset roll up together
    fagg := format('@extschema@.funnel_agg(e.lead_id, e.occurred_at, e.step, %L::interval, %L, %s)',
                   conversion_window, coalesce(funnel_modes, ''), cardinality(stages));

    -- an input must not be one of the views about to be replaced
    SELECT r::text INTO bad
      FROM unnest(ARRAY[leads, stage_events, spend, orders]) AS r
      JOIN pg_class c ON c.oid = r JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = target_schema AND c.relname = ANY (@extschema@._lk_report_names())
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: input % is one of the report views that create_reports replaces in schema %', bad, quote_ident(target_schema)
            USING ERRCODE = '22023',
                  HINT = 'Read from your own tables or views, or write the reports to another schema.';
    END IF;

    ------------------------------------------------------------ replace, create
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = target_schema) THEN
        EXECUTE format('CREATE SCHEMA %I', target_schema);
    END IF;
    PERFORM @extschema@._lk_drop(target_schema, @extschema@._lk_report_names());
    boundary := format('(SELECT stored_before::timestamp AT TIME ZONE %L FROM %s.kpi_watermark)', tz, s);

    -- report_leads: the canonical leads, with orders folded in
    IF orders IS NULL THEN
        src := format('SELECT %s AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
                      '%s AS converted_at, %s AS lost_at, %s AS revenue FROM %s',
                      l_id.expr, l_t0.expr, l_camp.expr, l_chan.expr, l_conv.expr,
                      coalesce(l_lost.expr, 'NULL::timestamptz'), coalesce(l_rev.expr, 'NULL::numeric'), leads);
    ELSE
        src := format('SELECT l.lead_id, l.first_contact_at, l.campaign, l.channel, '
                      'coalesce(l.converted_at, o.first_ordered_at) AS converted_at, l.lost_at, '
                      'coalesce(o.amount, l.revenue) AS revenue FROM ('
                      'SELECT %s AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
                      '%s AS converted_at, %s AS lost_at, %s AS revenue FROM %s) AS l '
                      'LEFT JOIN (SELECT %s AS lead_id, min(%s) AS first_ordered_at, sum(%s) AS amount '
                      'FROM %s GROUP BY 1) AS o ON o.lead_id = l.lead_id',
                      l_id.expr, l_t0.expr, l_camp.expr, l_chan.expr, l_conv.expr,
                      coalesce(l_lost.expr, 'NULL::timestamptz'), coalesce(l_rev.expr, 'NULL::numeric'), leads,
                      o_id.expr, o_at.expr, o_amt.expr, orders);
    END IF;
    EXECUTE format('CREATE VIEW %s.report_leads WITH (security_invoker = true) AS %s', s, src);
    EXECUTE format('COMMENT ON VIEW %s.report_leads IS %L', s,
        'leadkpi canonical leads: one row per lead (lead_id, first_contact_at, campaign, channel, converted_at, lost_at, revenue)'
        || CASE WHEN orders IS NULL THEN '' ELSE format('; converted_at and revenue also from the orders in %s', orders) END);

    IF spend IS NOT NULL THEN
        EXECUTE format('CREATE VIEW %s.report_spend WITH (security_invoker = true) AS '
                       'SELECT %s AS campaign, %s AS channel, %s AS day, %s AS amount FROM %s WHERE %s IS NOT NULL',
                       s, p_camp.expr, coalesce(p_chan_expr, 'NULL::text'), p_day.expr, p_amt.expr, spend, p_day.expr);
        EXECUTE format('COMMENT ON VIEW %s.report_spend IS %L', s,
            format('leadkpi canonical spend: campaign, channel, day (in time zone %s), amount from %s; rows without a day are left out', tz, spend));
    END IF;

    IF stage_events IS NOT NULL THEN
        EXECUTE format('CREATE VIEW %s.report_stage_events WITH (security_invoker = true) AS '
                       'SELECT lead_id, stage, occurred_at, step FROM '
                       '(SELECT %s AS lead_id, %s AS stage, %s AS occurred_at, '
                       'array_position(%L::text[], %s)::integer AS step FROM %s) AS e WHERE step IS NOT NULL',
                       s, e_id.expr, e_stage.expr, e_at.expr, stages, e_stage.expr, stage_events);
        EXECUTE format('COMMENT ON VIEW %s.report_stage_events IS %L', s,
            format('leadkpi canonical stage events from %s; step is the 1-based position in the stages %s (other stages are left out)',
                   stage_events, stages));
    END IF;

    IF materialized THEN
        -- the stores: per-day lead and spend summaries of finished days, and
        -- one funnel summary per campaign (a lead belongs to one campaign, so
        -- their rollup is the whole funnel)
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
                           'GROUP BY l.campaign', s, fagg, s, s);
            EXECUTE format('CREATE UNIQUE INDEX ON %s.funnel_store (campaign) NULLS NOT DISTINCT', s);
            EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.funnel_store IS %L', s,
                format('leadkpi store: funnel_summary per campaign (stages %s, window %s, modes %L)', stages, conversion_window, coalesce(funnel_modes, '')));
        END IF;
    END IF;

    -- the four KPI reports (and their live variants when materialized)
    FOR key IN
        SELECT * FROM (VALUES
            ('kpi_overview', NULL, NULL, NULL, NULL, 'one row over all leads and spend'),
            ('kpi_by_campaign', 'campaign', 'campaign', 'campaign', 'campaign', 'one row per campaign'),
            ('kpi_by_channel', 'channel', 'channel', 'channel', 'channel', 'one row per channel (cost only when the spend input has a channel column)'),
            ('kpi_by_month', 'month', format('date_trunc(''month'', first_contact_at AT TIME ZONE %L)::date', tz), 'date_trunc(''month'', day)::date',
             'date_trunc(''month'', day)::date', format('one row per month of first contact in time zone %s (spend by month of its day)', tz))
        ) AS v(name, key_name, leads_key, spend_key, store_key, what)
    LOOP
        IF NOT materialized THEN
            leads_part := format('SELECT %s@extschema@.kpi_agg(first_contact_at, converted_at, revenue) AS s FROM %s.report_leads '
                                 'WHERE first_contact_at IS NOT NULL%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.leads_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END);
            spend_part := CASE WHEN spend IS NULL OR (key.key_name = 'channel' AND p_chan_expr IS NULL) THEN NULL ELSE
                          format('SELECT %s@extschema@.spend_agg(amount) AS s FROM %s.report_spend%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.spend_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END) END;
            EXECUTE format('CREATE VIEW %s.%I WITH (security_invoker = true) AS %s', s, key.name,
                           @extschema@._lk_kpi_sql(key.key_name, leads_part, spend_part));
            EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, key.name,
                format('leadkpi report: KPIs %s: leads, conversions, conversion_rate, sales_cycle_avg, sales_cycle_median, cost, cost_per_lead, cost_per_order, revenue', key.what));
        ELSE
            leads_part := format('SELECT %s@extschema@.rollup(summary) AS s FROM %s.kpi_daily%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.store_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END);
            spend_part := CASE WHEN spend IS NULL OR (key.key_name = 'channel' AND p_chan_expr IS NULL) THEN NULL ELSE
                          format('SELECT %s@extschema@.rollup(summary) AS s FROM %s.spend_daily%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.store_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END) END;
            EXECUTE format('CREATE MATERIALIZED VIEW %s.%I AS %s', s, key.name,
                           @extschema@._lk_kpi_sql(key.key_name, leads_part, spend_part));
            EXECUTE format('CREATE UNIQUE INDEX ON %s.%I (%I) NULLS NOT DISTINCT', s, key.name, coalesce(key.key_name, 'leads'));
            EXECUTE format('COMMENT ON MATERIALIZED VIEW %s.%I IS %L', s, key.name,
                format('leadkpi report (materialized, days before kpi_watermark.stored_before): KPIs %s; refresh with refresh_reports()', key.what));

            -- live: stored finished days plus the rows of today (and later) read live
            live_leads := leads_part || format(' UNION ALL SELECT %s@extschema@.kpi_agg(first_contact_at, converted_at, revenue) AS s '
                                 'FROM %s.report_leads WHERE first_contact_at >= %s%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.leads_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, boundary, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END);
            live_spend := CASE WHEN spend_part IS NULL THEN NULL ELSE
                          spend_part || format(' UNION ALL SELECT %s@extschema@.spend_agg(amount) AS s FROM %s.report_spend '
                                 'WHERE day >= (SELECT stored_before FROM %s.kpi_watermark)%s',
                                 CASE WHEN key.key_name IS NULL THEN '' ELSE key.spend_key || ' AS ' || quote_ident(key.key_name) || ', ' END,
                                 s, s, CASE WHEN key.key_name IS NULL THEN '' ELSE ' GROUP BY 1' END) END;
            EXECUTE format('CREATE VIEW %s.%I WITH (security_invoker = true) AS %s', s, key.name || '_live',
                           @extschema@._lk_kpi_sql(key.key_name, live_leads, live_spend));
            EXECUTE format('COMMENT ON VIEW %s.%I IS %L', s, key.name || '_live',
                format('leadkpi report (live): KPIs %s; stored finished days plus today''s rows read live', key.what));
        END IF;
    END LOOP;

    -- the funnel reports
    IF stage_events IS NOT NULL THEN
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
        EXECUTE format('COMMENT ON %s %s.funnel_report IS %L', CASE WHEN materialized THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, s,
            format('leadkpi report: funnel over stages %s (window %s, modes %L): step, stage, reached, conversion_from_previous, conversion_from_first, drop_off, median_time_from_previous, is_bottleneck', stages, conversion_window, coalesce(funnel_modes, '')));
        EXECUTE format('COMMENT ON %s %s.funnel_by_campaign IS %L', CASE WHEN materialized THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, s,
            format('leadkpi report: funnel per campaign over stages %s (window %s): campaign plus the columns of funnel_report', stages, conversion_window));
    END IF;

    FOREACH obj IN ARRAY @extschema@._lk_report_names() LOOP
        IF to_regclass(format('%s.%I', s, obj)) IS NOT NULL THEN
            created := to_regclass(format('%s.%I', s, obj)) || created;
        END IF;
    END LOOP;
    -- a re-run keeps the grants that were given on the reports it replaced
    PERFORM @extschema@._lk_regrant();
    RETURN QUERY SELECT unnest(created);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text) IS
'Creates (or replaces) the leadkpi report views in target_schema over the canonical inputs leads (required), stage_events, spend and orders; validates every input first; days and months are cut in time_zone (default: the TimeZone at creation); returns the relations created. See doc/crm.md.';

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
