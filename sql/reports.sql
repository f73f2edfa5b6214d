
-----------------------------------------------------------------------------
-- Reports layer: the canonical CRM model, create_reports(), the report views
-- and the CRM presets.  Everything here is SQL; the views hold no arithmetic,
-- they call the summaries' aggregates and accessors (see doc/crm.md).
--
-- Objects made by these functions carry a COMMENT starting with "leadkpi "
-- so that a re-run can tell its own objects from the user's.
-----------------------------------------------------------------------------

-- Looks up one column of a mapped input and returns the SQL expression that
-- reads it as the canonical type.  kind is one of id, ts, date, text, numeric,
-- bool.  A missing required column is 42703, a wrong type 42804.  With tz, a
-- timestamp without time zone (or a date) is read as local time in tz, and a
-- timestamptz is cut to a date in tz, so the result never depends on the
-- reading session's TimeZone.
CREATE OR REPLACE FUNCTION @extschema@._lk_column(
    input text, rel regclass, col text, kind text, required boolean, tz text DEFAULT NULL,
    OUT expr text, OUT typ text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t oid;
    base oid;
    tname text;
    accepted text;
BEGIN
    SELECT a.atttypid INTO t
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF t IS NULL THEN
        IF required THEN
            RAISE EXCEPTION 'leadkpi: input "%" (%) has no column "%"', input, rel, col
                USING ERRCODE = '42703',
                      HINT = format('Map your table onto the canonical model with a view that has a column named %I; see doc/crm.md.', col);
        END IF;
        RETURN;
    END IF;
    -- look through domains
    LOOP
        SELECT typbasetype INTO base FROM pg_type WHERE oid = t AND typtype = 'd';
        EXIT WHEN base IS NULL OR base = 0;
        t := base;
    END LOOP;
    tname := format_type(t, NULL);
    CASE kind
    WHEN 'id' THEN
        accepted := 'bigint, integer, smallint, uuid, text or varchar';
        IF tname IN ('bigint', 'integer', 'smallint') THEN typ := 'bigint';
        ELSIF tname IN ('text', 'character varying', 'character') THEN typ := 'text';
        ELSIF tname = 'uuid' THEN typ := 'uuid';
        END IF;
    WHEN 'ts' THEN
        accepted := 'timestamptz, timestamp or date';
        IF tname IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
            typ := 'timestamp with time zone';
        END IF;
    WHEN 'date' THEN
        accepted := 'date, timestamptz or timestamp';
        IF tname IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
            typ := 'date';
        END IF;
    WHEN 'text' THEN
        accepted := 'text, varchar or char';
        IF tname IN ('text', 'character varying', 'character', 'name') THEN typ := 'text'; END IF;
    WHEN 'numeric' THEN
        accepted := 'numeric, integer, bigint, smallint, real or double precision';
        IF tname IN ('numeric', 'integer', 'bigint', 'smallint', 'real', 'double precision') THEN
            typ := 'numeric';
        END IF;
    ELSE
        RAISE EXCEPTION 'leadkpi: unknown column kind %', kind USING ERRCODE = 'XX000';
    END CASE;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'leadkpi: input "%" (%) column "%" has type %, expected %', input, rel, col, tname, accepted
            USING ERRCODE = '42804',
                  HINT = format('Cast the column in a view over %s, e.g. SELECT ..., %I::%s AS %I.', rel, col,
                                CASE kind WHEN 'id' THEN 'bigint' WHEN 'ts' THEN 'timestamptz' WHEN 'date' THEN 'date'
                                          WHEN 'text' THEN 'text' ELSE 'numeric' END, col);
    END IF;
    IF tname = typ THEN
        expr := format('%I', col);
    ELSIF tz IS NOT NULL AND kind = 'ts' AND tname = 'timestamp without time zone' THEN
        expr := format('(%I AT TIME ZONE %L)', col, tz);
    ELSIF tz IS NOT NULL AND kind = 'ts' AND tname = 'date' THEN
        expr := format('(%I::timestamp AT TIME ZONE %L)', col, tz);
    ELSIF tz IS NOT NULL AND kind = 'date' AND tname = 'timestamp with time zone' THEN
        expr := format('(%I AT TIME ZONE %L)::date', col, tz);
    ELSE
        expr := format('%I::%s', col, typ);
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_column(text, regclass, text, text, boolean, text) IS
'leadkpi internal: validates one column of a mapped input via the catalogs and returns the expression that reads it as the canonical type';

-- The names create_reports may create in a target schema, in the order they
-- must be dropped (dependents first).
CREATE OR REPLACE FUNCTION @extschema@._lk_report_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY[
    'funnel_report_live', 'funnel_by_campaign_live',
    'kpi_overview_live', 'kpi_by_campaign_live', 'kpi_by_channel_live', 'kpi_by_month_live',
    'funnel_by_campaign', 'funnel_report',
    'kpi_by_month', 'kpi_by_channel', 'kpi_by_campaign', 'kpi_overview',
    'funnel_store', 'spend_daily', 'kpi_daily', 'kpi_watermark',
    'report_stage_events', 'report_spend', 'report_leads']::text[];
COMMENT ON FUNCTION @extschema@._lk_report_names() IS
'leadkpi internal: names of the relations create_reports() may create, dependents first';

-- Drops the given leadkpi-made relations of a schema, in array order.  A
-- relation of that name that leadkpi did not make is an error (42P07), so
-- user data is never dropped.  Dependent user objects make the DROP fail.
-- Serialises create, drop and refresh of one report schema, until the end of
-- the transaction: they lock the same relations in opposite orders (a
-- refresh stores first, a drop reports first), which could deadlock.
CREATE OR REPLACE FUNCTION @extschema@._lk_schema_lock(target_schema name)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(hashtext('leadkpi reports'), hashtext(target_schema)) $$;
COMMENT ON FUNCTION @extschema@._lk_schema_lock(name) IS
'leadkpi internal: transaction-level advisory lock on a report schema, taken by every create, drop and refresh of its reports';

CREATE OR REPLACE FUNCTION @extschema@._lk_drop(target_schema name, names text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n text;
    r record;
BEGIN
    -- one report DDL or refresh per schema at a time (see _lk_schema_lock)
    PERFORM @extschema@._lk_schema_lock(target_schema);
    -- check everything first, then drop
    FOR r IN
        SELECT c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class') AS descr
          FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = ANY (names)
    LOOP
        IF r.relkind NOT IN ('v', 'm') OR coalesce(r.descr, '') NOT LIKE 'leadkpi %' THEN
            RAISE EXCEPTION 'leadkpi: %.% exists and was not made by leadkpi', target_schema, r.relname
                USING ERRCODE = '42P07',
                      HINT = 'Rename or move it, or pick another target_schema; leadkpi never drops objects it did not create.';
        END IF;
    END LOOP;
    -- remember the grants others hold on what is dropped, for the relations
    -- of the same name that the caller is about to create (see _lk_regrant)
    PERFORM set_config('leadkpi.regrant',
        (coalesce(nullif(current_setting('leadkpi.regrant', true), ''), '[]')::jsonb
        || coalesce((SELECT jsonb_agg(format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, target_schema, c.relname,
                                             CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                                             CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
                       FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace,
                            LATERAL aclexplode(c.relacl) AS a
                      WHERE s.nspname = target_schema AND c.relname = ANY (names) AND a.grantee <> c.relowner),
                    '[]'::jsonb))::text, true);
    FOREACH n IN ARRAY names LOOP
        FOR r IN
            SELECT c.relkind FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = target_schema AND c.relname = n
        LOOP
            IF r.relkind = 'm' THEN
                EXECUTE format('DROP MATERIALIZED VIEW %I.%I', target_schema, n);
            ELSE
                EXECUTE format('DROP VIEW %I.%I', target_schema, n);
            END IF;
        END LOOP;
    END LOOP;
END;
$$;
-- Re-issues the grants _lk_drop remembered in this transaction, on the
-- relations that exist again (a re-run may create fewer), then forgets them.
CREATE OR REPLACE FUNCTION @extschema@._lk_regrant()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text;
BEGIN
    FOR g IN SELECT jsonb_array_elements_text(coalesce(nullif(current_setting('leadkpi.regrant', true), ''), '[]')::jsonb) LOOP
        BEGIN
            EXECUTE g;
        EXCEPTION WHEN undefined_table OR wrong_object_type THEN
            NULL;   -- not created this time
        END;
    END LOOP;
    PERFORM set_config('leadkpi.regrant', '[]', true);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_regrant() IS
'leadkpi internal: gives back, after a re-run, the grants other roles held on the report relations it replaced';

COMMENT ON FUNCTION @extschema@._lk_drop(name, text[]) IS
'leadkpi internal: drops relations leadkpi created in a schema (refuses relations it did not create)';

-- The grouped KPI query over a leads part and a spend part.  Each part is a
-- SELECT yielding (key, s kpi_summary); rollup() merges them per key and the
-- accessors read the figures.  key is NULL for the one-row overview.
CREATE OR REPLACE FUNCTION @extschema@._lk_kpi_sql(key_name text, leads_part text, spend_part text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT %s'
    '@extschema@.leads(r) AS leads, @extschema@.conversions(r) AS conversions, '
    '@extschema@.conversion_rate(r) AS conversion_rate, '
    '@extschema@.sales_cycle_avg(r) AS sales_cycle_avg, @extschema@.sales_cycle_median(r) AS sales_cycle_median, '
    '@extschema@.cost(r) AS cost, @extschema@.cost_per_lead(r) AS cost_per_lead, '
    '@extschema@.cost_per_order(r) AS cost_per_order, @extschema@.revenue(r) AS revenue '
    'FROM (SELECT %s AS r FROM (%s%s) AS u %s) AS g',
    CASE WHEN key_name IS NULL THEN '' ELSE format('%I, ', key_name) END,
    -- the overview always has its one row: on empty inputs, counts of 0
    CASE WHEN key_name IS NULL
         THEN 'coalesce(@extschema@.rollup(u.s), ''v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 '
              'cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0''::@extschema@.kpi_summary)'
         ELSE format('u.%I, @extschema@.rollup(u.s)', key_name) END,
    leads_part,
    CASE WHEN spend_part IS NULL THEN '' ELSE ' UNION ALL ' || spend_part END,
    CASE WHEN key_name IS NULL THEN '' ELSE format('GROUP BY u.%I', key_name) END);
COMMENT ON FUNCTION @extschema@._lk_kpi_sql(text, text, text) IS
'leadkpi internal: the SQL of a KPI report: rollup() of lead and spend summaries per key, then the accessors';

-- The funnel report query over a SELECT yielding (key, fs funnel_summary).
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_sql(key_name text, part text, stages text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT %sf.step, (%L::text[])[f.step] AS stage, f.reached, f.conversion_from_previous, '
    'f.conversion_from_first, f.drop_off, f.median_time_from_previous, '
    'coalesce(f.step = @extschema@.bottleneck(g.fs), false) AS is_bottleneck '
    'FROM (%s) AS g CROSS JOIN LATERAL @extschema@.funnel_steps(g.fs) AS f',
    CASE WHEN key_name IS NULL THEN '' ELSE format('g.%I, ', key_name) END,
    stages, part);
COMMENT ON FUNCTION @extschema@._lk_funnel_sql(text, text, text[]) IS
'leadkpi internal: the SQL of a funnel report: funnel_steps() and bottleneck() of funnel summaries per key';

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

CREATE OR REPLACE FUNCTION @extschema@.refresh_reports(target_schema name, concurrently boolean DEFAULT true)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n text;
    rel regclass;
    found boolean := false;
BEGIN
    PERFORM @extschema@._lk_schema_lock(target_schema);
    FOREACH n IN ARRAY ARRAY['kpi_watermark', 'kpi_daily', 'spend_daily', 'funnel_store',
                             'kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month',
                             'funnel_report', 'funnel_by_campaign'] LOOP
        SELECT c.oid INTO rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = n AND c.relkind = 'm'
           AND coalesce(obj_description(c.oid, 'pg_class'), '') LIKE 'leadkpi %';
        CONTINUE WHEN rel IS NULL;
        found := true;
        EXECUTE format('REFRESH MATERIALIZED VIEW %s%s', CASE WHEN $2 THEN 'CONCURRENTLY ' ELSE '' END, rel);
        RETURN NEXT rel;
    END LOOP;
    IF NOT found THEN
        RAISE EXCEPTION 'leadkpi: schema % has no materialized leadkpi reports', target_schema
            USING ERRCODE = '42P01', HINT = 'Create them with create_reports(..., materialized => true).';
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.refresh_reports(name, boolean) IS
'Refreshes the materialized leadkpi reports of target_schema, stores first, in one transaction (CONCURRENTLY by default, so readers are not blocked); returns the refreshed relations';

-----------------------------------------------------------------------------
-- Presets: canonical views over a real CRM's tables, then create_reports().
-- Each preset validates the tables and columns it reads via the catalogs,
-- creates canonical_leads / canonical_stage_events / canonical_spend /
-- canonical_orders (security_invoker views) in target_schema, and calls
-- create_reports() on them, all in the caller's transaction.
-----------------------------------------------------------------------------

-- The CRM table schema.tbl, or an error (42P01) when it is required.
CREATE OR REPLACE FUNCTION @extschema@._lk_rel(preset text, src_schema name, tbl text, required boolean)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regclass := to_regclass(format('%I.%I', src_schema, tbl));
BEGIN
    IF r IS NULL AND required THEN
        RAISE EXCEPTION 'leadkpi: % preset needs the table %.%', preset, quote_ident(src_schema), quote_ident(tbl)
            USING ERRCODE = '42P01',
                  HINT = format('Pass the schema that holds the %s tables (e.g. %s_schema => ''...''), or map your tables yourself with create_reports().', preset, lower(preset));
    END IF;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_rel(text, name, text, boolean) IS
'leadkpi internal: resolves a CRM table for a preset; raises 42P01 naming it when a required table is missing';

-- The type of rel.col as format_type() prints it; NULL when absent, 42703
-- when required and absent.
CREATE OR REPLACE FUNCTION @extschema@._lk_type(preset text, rel regclass, col text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF rel IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT format_type(a.atttypid, NULL) INTO t
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF t IS NULL AND required THEN
        RAISE EXCEPTION 'leadkpi: % preset: table % has no column "%"', preset, rel, col
            USING ERRCODE = '42703',
                  HINT = 'The preset expects the column names of the CRM''s own schema; map a customised schema yourself with create_reports().';
    END IF;
    RETURN t;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_type(text, regclass, text, boolean) IS
'leadkpi internal: the type of a CRM column for a preset; raises 42703 naming it when a required column is missing';

-- SQL reading alias.col as timestamptz, a timestamp without time zone being
-- UTC (as Odoo and Fivetran store them).  NULL when the column is absent.
CREATE OR REPLACE FUNCTION @extschema@._lk_utc(preset text, rel regclass, alias text, col text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := @extschema@._lk_type(preset, rel, col, required);
BEGIN
    RETURN CASE
        WHEN t IS NULL THEN NULL
        WHEN t = 'timestamp with time zone' THEN format('%I.%I', alias, col)
        WHEN t = 'timestamp without time zone' THEN format('(%I.%I AT TIME ZONE ''UTC'')', alias, col)
        WHEN t = 'date' THEN format('(%I.%I::timestamp AT TIME ZONE ''UTC'')', alias, col)
        WHEN t IN ('text', 'character varying') THEN format('(%I.%I::timestamp AT TIME ZONE ''UTC'')', alias, col)
        ELSE @extschema@._lk_bad_type(preset, rel, col, t, 'timestamp, timestamptz or date') END;
END;
$$;

CREATE OR REPLACE FUNCTION @extschema@._lk_bad_type(preset text, rel regclass, col text, t text, expected text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'leadkpi: % preset: column "%" of % has type %, expected %', preset, col, rel, t, expected
        USING ERRCODE = '42804',
              HINT = 'Map a customised schema yourself with create_reports() over views that cast the column.';
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_bad_type(text, regclass, text, text, text) IS
'leadkpi internal: raises 42804 for a CRM column of an unexpected type';

-- SQL that keeps only the live rows of rel (as alias): not soft-deleted
-- (is_deleted, Fivetran's _fivetran_deleted) and, when current, the current
-- version in Fivetran's history mode (_fivetran_active).  'true' when the
-- table has none of these columns.
CREATE OR REPLACE FUNCTION @extschema@._lk_live(preset text, rel regclass, alias text, current boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conds text[] := '{}';
BEGIN
    IF @extschema@._lk_type(preset, rel, 'is_deleted', false) IS NOT NULL THEN
        conds := conds || format('NOT coalesce(%I.is_deleted, false)', alias);
    END IF;
    IF @extschema@._lk_type(preset, rel, '_fivetran_deleted', false) IS NOT NULL THEN
        conds := conds || format('NOT coalesce(%I._fivetran_deleted, false)', alias);
    END IF;
    IF current AND @extschema@._lk_type(preset, rel, '_fivetran_active', false) IS NOT NULL THEN
        conds := conds || format('coalesce(%I._fivetran_active, true)', alias);
    END IF;
    RETURN CASE WHEN cardinality(conds) = 0 THEN 'true' ELSE '(' || array_to_string(conds, ' AND ') || ')' END;
END;
$$;
-- A preset's NOTICE when its canonical stage events are empty: the funnel
-- reports then have no rows, which is easy to take for a bug.
CREATE OR REPLACE FUNCTION @extschema@._lk_notice_if_empty(preset text, events regclass, hint text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    empty boolean;
BEGIN
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s)', events) INTO empty;
    IF empty THEN
        RAISE NOTICE 'leadkpi: % preset: no stage events in %, so the funnel reports are empty for now', preset, events
            USING HINT = hint;
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_notice_if_empty(text, regclass, text) IS
'leadkpi internal: a preset''s NOTICE when its canonical stage events are empty';

COMMENT ON FUNCTION @extschema@._lk_live(text, regclass, text, boolean) IS
'leadkpi internal: SQL keeping the live rows of a CRM table for a preset (not deleted; the current version in Fivetran history mode)';
COMMENT ON FUNCTION @extschema@._lk_utc(text, regclass, text, text, boolean) IS
'leadkpi internal: SQL reading a CRM time column as timestamptz (timestamp without time zone taken as UTC)';

-- SQL reading a name column as text: a jsonb translation map (Odoo 16+)
-- gives the lang entry, else en_US; text is read as is.
CREATE OR REPLACE FUNCTION @extschema@._lk_label(preset text, rel regclass, alias text, col text, lang text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := @extschema@._lk_type(preset, rel, col, false);
BEGIN
    RETURN CASE
        WHEN t IS NULL THEN NULL
        WHEN t = 'jsonb' THEN format('coalesce(%I.%I ->> %L, %I.%I ->> ''en_US'')', alias, col, lang, alias, col)
        WHEN t = 'json' THEN format('coalesce(%I.%I ->> %L, %I.%I ->> ''en_US'')', alias, col, lang, alias, col)
        WHEN t IN ('text', 'character varying', 'character') THEN format('%I.%I::text', alias, col)
        ELSE @extschema@._lk_bad_type(preset, rel, col, t, 'text, varchar or jsonb') END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_label(text, regclass, text, text, text) IS
'leadkpi internal: SQL reading a CRM name column as text, picking a language from a jsonb translation map (Odoo 16+)';

-- Creates one canonical view of a preset.
CREATE OR REPLACE FUNCTION @extschema@._lk_canonical(target_schema name, vname text, sql text, descr text)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE VIEW %I.%I WITH (security_invoker = true) AS %s', target_schema, vname, sql);
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', target_schema, vname, 'leadkpi canonical ' || descr);
    RETURN format('%I.%I', target_schema, vname)::regclass;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_canonical(name, text, text, text) IS
'leadkpi internal: creates one security_invoker canonical view of a preset';

CREATE OR REPLACE FUNCTION @extschema@._lk_preset_prepare(target_schema name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'leadkpi: target_schema must not be NULL' USING ERRCODE = '22023',
            HINT = 'Pass the schema that will hold the canonical and report views.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = target_schema) THEN
        EXECUTE format('CREATE SCHEMA %I', target_schema);
    END IF;
    PERFORM @extschema@._lk_drop(target_schema, @extschema@._lk_report_names()
        || ARRAY['canonical_orders', 'canonical_spend', 'canonical_stage_events', 'canonical_leads']);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_preset_prepare(name) IS
'leadkpi internal: creates the target schema and drops the previous reports and canonical views made there by leadkpi';

---------------------------------------------------------------------- Odoo
CREATE OR REPLACE FUNCTION @extschema@.create_reports_odoo(
    target_schema name,
    odoo_schema name DEFAULT 'public',
    stages text[] DEFAULT NULL,
    spend regclass DEFAULT NULL,
    lang text DEFAULT 'en_US',
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    time_zone text DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'Odoo';
    lead regclass; stage regclass; camp regclass; medium regclass; source regclass;
    mtv regclass; mm regclass; imf regclass; so regclass;
    stage_label text; camp_label text; medium_label text; source_label text;
    field_col text; rev_col text;
    won text;
    leads_sql text; events_sql text; orders_sql text;
    v_events regclass; v_orders regclass; v_leads regclass;
    all_stages text[];
BEGIN
    lead   := @extschema@._lk_rel(p, odoo_schema, 'crm_lead', true);
    stage  := @extschema@._lk_rel(p, odoo_schema, 'crm_stage', true);
    camp   := @extschema@._lk_rel(p, odoo_schema, 'utm_campaign', false);
    medium := @extschema@._lk_rel(p, odoo_schema, 'utm_medium', false);
    source := @extschema@._lk_rel(p, odoo_schema, 'utm_source', false);
    mtv    := @extschema@._lk_rel(p, odoo_schema, 'mail_tracking_value', false);
    so     := @extschema@._lk_rel(p, odoo_schema, 'sale_order', false);

    PERFORM @extschema@._lk_type(p, lead, c) FROM unnest(ARRAY['id', 'stage_id', 'active', 'probability', 'date_closed']) AS c;
    PERFORM @extschema@._lk_type(p, stage, c) FROM unnest(ARRAY['id', 'sequence', 'is_won', 'name']) AS c;
    stage_label := @extschema@._lk_label(p, stage, 'st', 'name', lang);
    camp_label := coalesce(@extschema@._lk_label(p, camp, 'ca', 'title', lang), @extschema@._lk_label(p, camp, 'ca', 'name', lang));
    medium_label := @extschema@._lk_label(p, medium, 'me', 'name', lang);
    source_label := @extschema@._lk_label(p, source, 'so', 'name', lang);
    -- a label without its many2one column on crm_lead reads NULL
    IF @extschema@._lk_type(p, lead, 'campaign_id', false) IS NULL THEN camp_label := NULL; END IF;
    IF @extschema@._lk_type(p, lead, 'medium_id', false) IS NULL THEN medium_label := NULL; END IF;
    IF @extschema@._lk_type(p, lead, 'source_id', false) IS NULL THEN source_label := NULL; END IF;
    rev_col := CASE WHEN @extschema@._lk_type(p, lead, 'expected_revenue', false) IS NOT NULL THEN 'expected_revenue'
                    WHEN @extschema@._lk_type(p, lead, 'planned_revenue', false) IS NOT NULL THEN 'planned_revenue' END;

    -- the funnel stages: crm_stage names by sequence, each name once
    EXECUTE format('SELECT array_agg(label ORDER BY seq, label) FROM '
                   '(SELECT %s AS label, min(st.sequence) AS seq FROM %s AS st GROUP BY 1) AS x WHERE label IS NOT NULL',
                   stage_label, stage) INTO all_stages;
    stages := coalesce(stages, all_stages);

    -- won: active, probability 100 and a stage flagged is_won (Odoo's own rule)
    won := 'l.active AND l.probability = 100 AND st.is_won';
    leads_sql := format(
        'SELECT l.id::bigint AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
        'CASE WHEN %s THEN coalesce(%s, %s) END AS converted_at, '
        'CASE WHEN NOT l.active AND l.probability = 0 THEN %s END AS lost_at, '
        '%s AS revenue '
        'FROM %s AS l LEFT JOIN %s AS st ON st.id = l.stage_id%s%s%s',
        @extschema@._lk_utc(p, lead, 'l', 'create_date'),
        coalesce(camp_label, 'NULL::text'),
        CASE WHEN medium_label IS NULL AND source_label IS NULL THEN 'NULL::text'
             ELSE format('coalesce(%s, %s)', coalesce(medium_label, 'NULL'), coalesce(source_label, 'NULL')) END,
        won, @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        coalesce(@extschema@._lk_utc(p, lead, 'l', 'date_last_stage_update', false), 'NULL'),
        @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        CASE WHEN rev_col IS NULL THEN 'NULL::numeric' ELSE format('CASE WHEN %s THEN l.%I::numeric END', won, rev_col) END,
        lead, stage,
        CASE WHEN camp_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS ca ON ca.id = l.campaign_id', camp) END,
        CASE WHEN medium_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS me ON me.id = l.medium_id', medium) END,
        CASE WHEN source_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS so ON so.id = l.source_id', source) END);

    -- stage history: mail_tracking_value rows of crm.lead's stage_id field
    IF mtv IS NOT NULL THEN
        mm  := @extschema@._lk_rel(p, odoo_schema, 'mail_message', true);
        imf := @extschema@._lk_rel(p, odoo_schema, 'ir_model_fields', true);
        field_col := CASE WHEN @extschema@._lk_type(p, mtv, 'field_id', false) IS NOT NULL THEN 'field_id' ELSE 'field' END;
        PERFORM @extschema@._lk_type(p, mtv, c) FROM unnest(ARRAY['mail_message_id', field_col, 'old_value_integer', 'new_value_integer']) AS c;
        PERFORM @extschema@._lk_type(p, mm, c) FROM unnest(ARRAY['id', 'model', 'res_id', 'date']) AS c;
        PERFORM @extschema@._lk_type(p, imf, c) FROM unnest(ARRAY['id', 'model', 'name']) AS c;
        events_sql := format(
            'WITH tv AS (SELECT m.res_id AS lead_id, %s AS at, v.id AS tv_id, v.old_value_integer AS old_stage, '
            'v.new_value_integer AS new_stage FROM %s AS v JOIN %s AS m ON m.id = v.mail_message_id '
            'JOIN %s AS f ON f.id = v.%I WHERE m.model = ''crm.lead'' AND f.model = ''crm.lead'' AND f.name = ''stage_id''), '
            'ev AS ('
            -- the first stage, entered at creation: the old value of the first change, else the current stage
            'SELECT l.id::bigint AS lead_id, %s AS stage, %s AS occurred_at FROM %s AS l '
            'LEFT JOIN LATERAL (SELECT tv.old_stage FROM tv WHERE tv.lead_id = l.id ORDER BY tv.at, tv.tv_id LIMIT 1) AS first ON true '
            'JOIN %s AS st ON st.id = coalesce(first.old_stage, l.stage_id) '
            'UNION ALL SELECT tv.lead_id::bigint, %s, tv.at FROM tv JOIN %s AS st ON st.id = tv.new_stage) '
            'SELECT lead_id, stage, occurred_at FROM ev WHERE stage = ANY (%L::text[])',
            @extschema@._lk_utc(p, mm, 'm', 'date'), mtv, mm, imf, field_col,
            stage_label, @extschema@._lk_utc(p, lead, 'l', 'create_date'), lead, stage,
            stage_label, stage, stages);
    END IF;

    IF so IS NOT NULL AND @extschema@._lk_type(p, so, 'opportunity_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, so, c) FROM unnest(ARRAY['date_order', 'amount_untaxed', 'state']) AS c;
        orders_sql := format(
            'SELECT o.opportunity_id::bigint AS lead_id, %s AS ordered_at, o.amount_untaxed::numeric AS amount '
            'FROM %s AS o WHERE o.opportunity_id IS NOT NULL AND o.state IN (''sale'', ''done'')',
            @extschema@._lk_utc(p, so, 'o', 'date_order'), so);
    END IF;

    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from Odoo %s: converted = won (active, probability 100, stage is_won) at date_closed', lead));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('stage events from Odoo %s (stage_id changes) plus the first stage at create_date, stages %s', mtv, stages));
        RETURN NEXT v_events;
    END IF;
    IF orders_sql IS NOT NULL THEN
        v_orders := @extschema@._lk_canonical(target_schema, 'canonical_orders', orders_sql,
            format('orders from Odoo %s: confirmed (state sale or done), amount_untaxed', so));
        RETURN NEXT v_orders;
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => spend, orders => v_orders,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_odoo(name, name, text[], regclass, text, interval, text, boolean, text) IS
'Odoo preset: canonical views over crm_lead, crm_stage, utm_*, mail_tracking_value and sale_order in odoo_schema, then create_reports() in target_schema. See doc/crm.md.';

------------------------------------------------------- Salesforce (Fivetran)
CREATE OR REPLACE FUNCTION @extschema@.create_reports_salesforce(
    target_schema name,
    salesforce_schema name DEFAULT 'salesforce',
    stages text[] DEFAULT NULL,
    spend regclass DEFAULT NULL,
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    history regclass DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'Salesforce';
    ld regclass; opp regclass; camp regclass; member regclass; hist regclass; fhist regclass; ostage regclass;
    not_deleted_ld text := 'true'; not_deleted_o text := 'true'; not_deleted_c text := 'true';
    camp_expr text := 'NULL::text';
    hist_sql text;
    leads_sql text; events_sql text; spend_sql text;
    v_leads regclass; v_events regclass; v_spend regclass;
    won_at text;
    member_live text;
    start_fallback text;
BEGIN
    ld     := @extschema@._lk_rel(p, salesforce_schema, 'lead', true);
    opp    := @extschema@._lk_rel(p, salesforce_schema, 'opportunity', true);
    camp   := @extschema@._lk_rel(p, salesforce_schema, 'campaign', false);
    member := @extschema@._lk_rel(p, salesforce_schema, 'campaign_member', false);
    hist   := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_history', false);
    fhist  := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_field_history', false);
    ostage := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_stage', false);
    -- the stage history: given (e.g. salesforce_history.opportunity), else
    -- opportunity_history, else opportunity itself in Fivetran's in-place
    -- history mode (one row per version), else opportunity_field_history
    IF history IS NOT NULL THEN
        IF @extschema@._lk_type(p, history, 'field', false) IS NOT NULL THEN
            fhist := history;
            hist := NULL;
        ELSIF @extschema@._lk_type(p, history, 'opportunity_id', false) IS NOT NULL
              OR @extschema@._lk_type(p, history, '_fivetran_start', false) IS NOT NULL THEN
            hist := history;
        ELSE
            RAISE EXCEPTION 'leadkpi: Salesforce preset: history % has none of the columns "field", "opportunity_id" or "_fivetran_start"', history
                USING ERRCODE = '42703',
                      HINT = 'Pass an OpportunityHistory (opportunity_id, stage_name, created_date), OpportunityFieldHistory (opportunity_id, field, new_value, created_date) or history-mode opportunity (id, stage_name, _fivetran_start) table.';
        END IF;
    ELSIF hist IS NULL AND fhist IS NULL AND @extschema@._lk_type(p, opp, '_fivetran_start', false) IS NOT NULL THEN
        hist := opp;
    END IF;

    PERFORM @extschema@._lk_type(p, ld, c) FROM unnest(ARRAY['id', 'created_date', 'converted_date', 'converted_opportunity_id', 'lead_source']) AS c;
    PERFORM @extschema@._lk_type(p, opp, c) FROM unnest(ARRAY['id', 'close_date', 'is_won', 'is_closed', 'amount', 'campaign_id', 'stage_name']) AS c;
    -- live rows only: not deleted, the current version in history mode
    not_deleted_ld := @extschema@._lk_live(p, ld, 'ld');
    not_deleted_o := @extschema@._lk_live(p, opp, 'o');
    IF camp IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, camp, c) FROM unnest(ARRAY['id', 'name']) AS c;
        not_deleted_c := @extschema@._lk_live(p, camp, 'c');
        member_live := @extschema@._lk_live(p, member, 'cm');
        -- the converted opportunity's campaign, else the lead's first campaign membership
        camp_expr := format('(SELECT c.name::text FROM %s AS c WHERE c.id = coalesce(o.campaign_id%s) AND %s)', camp,
            CASE WHEN member IS NOT NULL AND @extschema@._lk_type(p, member, 'lead_id', false) IS NOT NULL
                 THEN format(', (SELECT cm.campaign_id FROM %s AS cm WHERE cm.lead_id = ld.id AND %s ORDER BY cm.created_date, cm.campaign_id LIMIT 1)',
                             member, member_live)
                 ELSE '' END,
            not_deleted_c);
    END IF;

    -- won: the converted opportunity is won, at its close_date (a date: read
    -- as midnight UTC, and never before the lead's creation)
    won_at := format('greatest(%s, %s)', @extschema@._lk_utc(p, opp, 'o', 'close_date'), @extschema@._lk_utc(p, ld, 'ld', 'created_date'));
    leads_sql := format(
        'SELECT ld.id::text AS lead_id, %s AS first_contact_at, %s AS campaign, ld.lead_source::text AS channel, '
        'CASE WHEN o.is_won THEN %s END AS converted_at, '
        'CASE WHEN o.is_closed AND NOT o.is_won THEN %s END AS lost_at, '
        'CASE WHEN o.is_won THEN o.amount::numeric END AS revenue '
        'FROM %s AS ld LEFT JOIN %s AS o ON o.id = ld.converted_opportunity_id AND %s WHERE %s',
        @extschema@._lk_utc(p, ld, 'ld', 'created_date'), camp_expr, won_at, won_at, ld, opp, not_deleted_o, not_deleted_ld);

    -- stage history of the converted opportunities, first entry per stage
    IF hist IS NOT NULL AND @extschema@._lk_type(p, hist, 'opportunity_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, hist, c) FROM unnest(ARRAY['stage_name', 'created_date']) AS c;
        hist_sql := format('SELECT h.opportunity_id AS opp_id, h.stage_name::text AS stage, %s AS at FROM %s AS h WHERE %s',
                           @extschema@._lk_utc(p, hist, 'h', 'created_date'), hist, @extschema@._lk_live(p, hist, 'h', false));
    ELSIF hist IS NOT NULL AND @extschema@._lk_type(p, hist, '_fivetran_start', false) IS NOT NULL THEN
        -- Fivetran history mode: one row per version of the opportunity
        PERFORM @extschema@._lk_type(p, hist, c) FROM unnest(ARRAY['id', 'stage_name']) AS c;
        -- every version, not only the active one.  The first entry per stage
        -- is its _fivetran_start: when Fivetran saw it, which for the first
        -- version is when the sync began, not the stage's own date.
        hist_sql := format('SELECT h.id AS opp_id, h.stage_name::text AS stage, %s AS at FROM %s AS h WHERE %s',
                           @extschema@._lk_utc(p, hist, 'h', '_fivetran_start'), hist, @extschema@._lk_live(p, hist, 'h', false));
    ELSIF fhist IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, fhist, c) FROM unnest(ARRAY['opportunity_id', 'field', 'new_value', 'created_date']) AS c;
        hist_sql := format('SELECT h.opportunity_id AS opp_id, h.new_value::text AS stage, %s AS at FROM %s AS h WHERE h.field = ''StageName'' AND %s',
                           @extschema@._lk_utc(p, fhist, 'h', 'created_date'), fhist, @extschema@._lk_live(p, fhist, 'h', false));
    END IF;
    IF hist_sql IS NOT NULL THEN
        IF stages IS NULL AND ostage IS NOT NULL THEN
            PERFORM @extschema@._lk_type(p, ostage, c) FROM unnest(ARRAY['master_label', 'sort_order', 'is_won', 'is_closed']) AS c;
            EXECUTE format('SELECT array_agg(label ORDER BY so, label) FROM (SELECT master_label::text AS label, min(sort_order) AS so '
                           'FROM %s WHERE is_won OR NOT is_closed GROUP BY 1) AS x', ostage) INTO stages;
            stages := ARRAY['Lead', 'Converted'] || stages;
        END IF;
        IF stages IS NULL THEN
            RAISE EXCEPTION 'leadkpi: Salesforce preset needs the ordered funnel stages'
                USING ERRCODE = '22023',
                      HINT = 'Pass stages => ARRAY[''Lead'', ''Converted'', ''Prospecting'', ..., ''Closed Won''] (Lead and Converted are the lead''s own steps), or replicate the opportunity_stage table.';
        END IF;
        events_sql := format(
            'SELECT lead_id, stage, min(occurred_at) AS occurred_at FROM ('
            'SELECT ld.id::text AS lead_id, ''Lead'' AS stage, %s AS occurred_at FROM %s AS ld WHERE %s '
            'UNION ALL SELECT ld.id::text, ''Converted'', greatest(%s, %s) FROM %s AS ld WHERE %s AND ld.converted_date IS NOT NULL '
            'UNION ALL SELECT ld.id::text, h.stage, h.at FROM %s AS ld '
            'JOIN %s AS o ON o.id = ld.converted_opportunity_id AND %s '
            'JOIN (%s) AS h ON h.opp_id = o.id WHERE %s'
            ') AS e WHERE stage = ANY (%L::text[]) GROUP BY lead_id, stage',
            @extschema@._lk_utc(p, ld, 'ld', 'created_date'), ld, not_deleted_ld,
            @extschema@._lk_utc(p, ld, 'ld', 'converted_date'), @extschema@._lk_utc(p, ld, 'ld', 'created_date'), ld, not_deleted_ld,
            ld, opp, not_deleted_o, hist_sql, not_deleted_ld, stages);
    END IF;

    -- campaign.actual_cost is a lifetime total: spread it evenly over the
    -- days start_date..end_date (no start: created_date; no end, or an end
    -- before the start: the start day alone), truncated to cents, the
    -- remainder on the last day, so the days sum back to the total exactly.
    IF spend IS NULL AND camp IS NOT NULL AND @extschema@._lk_type(p, camp, 'actual_cost', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, camp, c) FROM unnest(ARRAY['start_date', 'end_date']) AS c;
        -- no start_date: created_date, when the table has it
        start_fallback := @extschema@._lk_utc(p, camp, 'c', 'created_date', false);
        start_fallback := CASE WHEN start_fallback IS NULL THEN 'NULL::date'
                               ELSE format('(%s AT TIME ZONE ''UTC'')::date', start_fallback) END;
        spend_sql := format(
            'SELECT c.name::text AS campaign, (r.first_day + d.i)::date AS day, '
            'CASE WHEN d.i < r.n - 1 THEN trunc(c.actual_cost::numeric / r.n, 2) '
            'ELSE c.actual_cost::numeric - trunc(c.actual_cost::numeric / r.n, 2) * (r.n - 1) END AS amount '
            'FROM %s AS c '
            'CROSS JOIN LATERAL (SELECT s.first_day, greatest(coalesce(c.end_date::date, s.first_day), s.first_day) - s.first_day + 1 AS n '
            'FROM (SELECT coalesce(c.start_date::date, %s) AS first_day) AS s) AS r '
            'CROSS JOIN LATERAL generate_series(0, r.n - 1) AS d(i) '
            'WHERE c.actual_cost IS NOT NULL AND r.first_day IS NOT NULL AND %s',
            camp, start_fallback, not_deleted_c);
    END IF;

    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from Salesforce %s: converted = the converted opportunity (%s) is won, at its close_date', ld, opp));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('stage events from Salesforce: Lead (created), Converted (converted_date), then the converted opportunity''s stages; first entry per stage; stages %s', stages));
        RETURN NEXT v_events;
        PERFORM @extschema@._lk_notice_if_empty(p, v_events, 'The stages must match stage_name values exactly.');
    END IF;
    IF spend_sql IS NOT NULL THEN
        v_spend := @extschema@._lk_canonical(target_schema, 'canonical_spend', spend_sql,
            format('spend from Salesforce %s: actual_cost spread evenly over start_date..end_date, remainder on the last day', camp));
        RETURN NEXT v_spend;
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => coalesce(spend, v_spend),
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_salesforce(name, name, text[], regclass, interval, text, boolean, regclass, text) IS
'Salesforce (Fivetran) preset: canonical views over lead, opportunity, the stage history (history, else opportunity_history, opportunity_field_history or opportunity in history mode) and campaign in salesforce_schema, then create_reports() in target_schema. Deleted rows and inactive history-mode versions are left out. See doc/crm.md.';

---------------------------------------------------------- HubSpot (Fivetran)
CREATE OR REPLACE FUNCTION @extschema@.create_reports_hubspot(
    target_schema name,
    hubspot_schema name DEFAULT 'hubspot',
    stages text[] DEFAULT ARRAY['lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'],
    stage_source text DEFAULT NULL,
    spend regclass DEFAULT NULL,
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    time_zone text DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'HubSpot';
    contact regclass; deal regclass; dc regclass; dps regclass; cph regclass;
    not_deleted text := 'true';
    won_sql text := NULL;
    customer_col text;
    st text;
    col text;
    parts text[] := '{}';
    leads_sql text; events_sql text;
    v_leads regclass; v_events regclass;
BEGIN
    contact := @extschema@._lk_rel(p, hubspot_schema, 'contact', true);
    deal    := @extschema@._lk_rel(p, hubspot_schema, 'deal', false);
    dc      := @extschema@._lk_rel(p, hubspot_schema, 'deal_contact', false);
    dps     := @extschema@._lk_rel(p, hubspot_schema, 'deal_pipeline_stage', false);
    cph     := @extschema@._lk_rel(p, hubspot_schema, 'contact_property_history', false);
    IF stage_source IS NOT NULL AND stage_source NOT IN ('columns', 'history') THEN
        RAISE EXCEPTION 'leadkpi: HubSpot preset: stage_source must be columns, history or NULL, not %', quote_literal(stage_source)
            USING ERRCODE = '22023', HINT = 'NULL picks the property_hs_lifecyclestage_<stage>_date columns when contact has any, else contact_property_history.';
    END IF;
    PERFORM @extschema@._lk_type(p, contact, c) FROM unnest(ARRAY['id', 'property_createdate']) AS c;
    -- live contacts: not deleted, and not merged into another contact (whose
    -- property_hs_merged_object_ids lists it), as dbt_hubspot counts them
    not_deleted := @extschema@._lk_live(p, contact, 'ct');
    IF @extschema@._lk_type(p, contact, 'property_hs_merged_object_ids', false) IS NOT NULL THEN
        not_deleted := format('%s AND ct.id::text <> ALL (ARRAY(SELECT btrim(x) FROM %s AS m, '
                              'unnest(string_to_array(m.property_hs_merged_object_ids::text, '';'')) AS x WHERE %s))',
                              not_deleted, contact, @extschema@._lk_live(p, contact, 'm'));
    END IF;

    -- won deals: the deal's pipeline stage is closed_won; each deal counts
    -- once, for its lowest associated live contact id
    IF deal IS NOT NULL AND dc IS NOT NULL AND dps IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, deal, c) FROM unnest(ARRAY['deal_id', 'deal_pipeline_stage_id', 'property_amount', 'property_closedate']) AS c;
        PERFORM @extschema@._lk_type(p, dc, c) FROM unnest(ARRAY['deal_id', 'contact_id']) AS c;
        PERFORM @extschema@._lk_type(p, dps, c) FROM unnest(ARRAY['stage_id', 'closed_won']) AS c;
        won_sql := format(
            'SELECT w.contact_id, min(w.closed_at) AS won_at, sum(w.amount) AS amount FROM ('
            'SELECT DISTINCT ON (d.deal_id) dc.contact_id, %s AS closed_at, d.property_amount::numeric AS amount '
            'FROM %s AS d JOIN %s AS s ON s.stage_id = d.deal_pipeline_stage_id JOIN %s AS dc ON dc.deal_id = d.deal_id '
            'JOIN %s AS ct ON ct.id = dc.contact_id '
            'WHERE s.closed_won AND %s AND %s AND %s AND %s ORDER BY d.deal_id, dc.contact_id) AS w GROUP BY w.contact_id',
            @extschema@._lk_utc(p, deal, 'd', 'property_closedate'), deal, dps, dc, contact,
            @extschema@._lk_live(p, deal, 'd'), @extschema@._lk_live(p, dps, 's'), @extschema@._lk_live(p, dc, 'dc'), not_deleted);
    END IF;
    customer_col := @extschema@._lk_utc(p, contact, 'ct', 'property_hs_lifecyclestage_customer_date', false);

    leads_sql := format(
        'SELECT ct.id::bigint AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
        '%s AS converted_at, NULL::timestamptz AS lost_at, %s AS revenue FROM %s AS ct%s WHERE %s',
        @extschema@._lk_utc(p, contact, 'ct', 'property_createdate'),
        CASE WHEN @extschema@._lk_type(p, contact, 'property_hs_analytics_first_touch_converting_campaign', false) IS NULL THEN 'NULL::text'
             ELSE 'ct.property_hs_analytics_first_touch_converting_campaign::text' END,
        CASE WHEN @extschema@._lk_type(p, contact, 'property_hs_analytics_source', false) IS NULL THEN 'NULL::text'
             ELSE 'ct.property_hs_analytics_source::text' END,
        CASE WHEN won_sql IS NULL THEN coalesce(customer_col, 'NULL::timestamptz')
             ELSE format('coalesce(w.won_at, %s)', coalesce(customer_col, 'NULL')) END,
        CASE WHEN won_sql IS NULL THEN 'NULL::numeric' ELSE 'w.amount' END,
        contact,
        CASE WHEN won_sql IS NULL THEN '' ELSE format(' LEFT JOIN (%s) AS w ON w.contact_id = ct.id', won_sql) END,
        not_deleted);

    -- lifecycle stages: one entry-date column per stage, or the property log
    FOREACH st IN ARRAY coalesce(stages, '{}') LOOP
        col := format('property_hs_lifecyclestage_%s_date', st);
        IF @extschema@._lk_type(p, contact, col, false) IS NOT NULL THEN
            parts := parts || format('SELECT ct.id::bigint AS lead_id, %L::text AS stage, %s AS occurred_at FROM %s AS ct WHERE ct.%I IS NOT NULL AND %s',
                                     st, @extschema@._lk_utc(p, contact, 'ct', col), contact, col, not_deleted);
        END IF;
    END LOOP;
    IF stage_source = 'columns' AND cardinality(parts) = 0 THEN
        RAISE EXCEPTION 'leadkpi: HubSpot preset: % has no property_hs_lifecyclestage_<stage>_date column for the stages %', contact, stages
            USING ERRCODE = '42703', HINT = 'Use stage_source => ''history'' (contact_property_history), or check the stage names.';
    END IF;
    IF stage_source = 'history' OR (stage_source IS NULL AND cardinality(parts) = 0 AND cph IS NOT NULL) THEN
        IF cph IS NULL THEN
            PERFORM @extschema@._lk_rel(p, hubspot_schema, 'contact_property_history', true);
        END IF;
        PERFORM @extschema@._lk_type(p, cph, c) FROM unnest(ARRAY['contact_id', 'name', 'value', 'timestamp']) AS c;
        -- the history of live contacts only, like the leads
        events_sql := format(
            'SELECT h.contact_id::bigint AS lead_id, h.value::text AS stage, min(%s) AS occurred_at FROM %s AS h '
            'JOIN %s AS ct ON ct.id = h.contact_id '
            'WHERE h.name = ''lifecyclestage'' AND h.value = ANY (%L::text[]) AND %s GROUP BY 1, 2',
            @extschema@._lk_utc(p, cph, 'h', 'timestamp'), cph, contact, stages, not_deleted);
    ELSIF cardinality(parts) > 0 THEN
        events_sql := array_to_string(parts, ' UNION ALL ');
    END IF;

    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from HubSpot %s: converted = first won deal (closed_won stage) at property_closedate, else the customer lifecycle date', contact));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('lifecycle stage events from HubSpot %s, stages %s',
                   CASE WHEN cardinality(parts) > 0 AND stage_source IS DISTINCT FROM 'history' THEN contact::text || ' (property_hs_lifecyclestage_<stage>_date)'
                        ELSE cph::text || ' (lifecyclestage)' END, stages));
        RETURN NEXT v_events;
        PERFORM @extschema@._lk_notice_if_empty(p, v_events,
            'The stages must match HubSpot''s internal lifecycle stage values (e.g. marketingqualifiedlead), and contact_property_history needs rows named lifecyclestage.');
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => spend,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_hubspot(name, name, text[], text, regclass, interval, text, boolean, text) IS
'HubSpot (Fivetran) preset: canonical views over contact (lifecycle stage date columns) or contact_property_history, and deal, deal_contact, deal_pipeline_stage in hubspot_schema, then create_reports() in target_schema. See doc/crm.md.';
