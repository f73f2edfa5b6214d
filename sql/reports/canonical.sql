
-----------------------------------------------------------------------------
-- Reports, phase 1: the canonical views report_leads, report_spend,
-- report_campaigns and report_stage_events, which read the user's inputs as the canonical model
-- (types, time zone, orders folded into the leads, stages as steps).  Every
-- later phase reads these views, never the inputs.
-----------------------------------------------------------------------------

-- The filter keeping the rows of an input whose lead_id is in the array
-- ids (an SQL expression, e.g. $1), or nothing without ids.  It compares the
-- input's own column, not its canonical cast, so that an index on it serves
-- (integer = ANY (bigint[]) is indexable, integer::bigint = ... is not).
CREATE OR REPLACE FUNCTION @extschema@._lk_ids_filter(ids text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN ids IS NULL THEN '' ELSE format(' WHERE lead_id = ANY (%s)', ids) END;
COMMENT ON FUNCTION @extschema@._lk_ids_filter(text) IS
'leadkpi internal: the WHERE clause keeping an input''s rows of the lead_ids in an array (compared on the input''s own column)';

-- The SELECT of report_leads: the leads' columns as the canonical types
-- (team and owner, optional, at the end: NULL without them), and, with orders, the first order as the conversion and the sum of the
-- orders as the revenue.  With ids, only those leads (and their orders):
-- the lookup that live views and refreshes make for changed leads.  The
-- optional expected_revenue (the amount of an open deal, which only the
-- forecast reads) is in the view when the leads have it, never in the
-- lookup: the stores do not keep it.
CREATE OR REPLACE FUNCTION @extschema@._lk_leads_select(leads regclass, orders regclass, tz text, ids text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l jsonb := @extschema@._lk_read_input('leads', leads, tz);
    o jsonb;
    src text;
    expected text := CASE WHEN ids IS NULL AND l ->> 'expected_revenue' IS NOT NULL
                          THEN format(', %s AS expected_revenue', l ->> 'expected_revenue') ELSE '' END;
BEGIN
    src := format('SELECT %s AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
                  '%s AS converted_at, %s AS lost_at, %s AS revenue, %s AS team, %s AS owner%s FROM %s%s',
                  l ->> 'lead_id', l ->> 'first_contact_at', l ->> 'campaign', l ->> 'channel', l ->> 'converted_at',
                  coalesce(l ->> 'lost_at', 'NULL::timestamptz'), coalesce(l ->> 'revenue', 'NULL::numeric'),
                  coalesce(l ->> 'team', 'NULL::text'), coalesce(l ->> 'owner', 'NULL::text'), expected, leads,
                  @extschema@._lk_ids_filter(ids));
    IF orders IS NULL THEN
        RETURN src;
    END IF;
    o := @extschema@._lk_read_input('orders', orders, tz);
    RETURN format('SELECT l.lead_id, l.first_contact_at, l.campaign, l.channel, '
                  'coalesce(l.converted_at, o.first_ordered_at) AS converted_at, l.lost_at, '
                  'coalesce(o.amount, l.revenue) AS revenue, l.team, l.owner%s FROM (%s) AS l '
                  'LEFT JOIN (SELECT %s AS lead_id, min(%s) AS first_ordered_at, sum(%s) AS amount '
                  'FROM %s%s GROUP BY 1) AS o ON o.lead_id = l.lead_id',
                  CASE WHEN expected = '' THEN '' ELSE ', l.expected_revenue' END,
                  src, o ->> 'lead_id', o ->> 'ordered_at', o ->> 'amount', orders, @extschema@._lk_ids_filter(ids));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_leads_select(regclass, regclass, text, text) IS
'leadkpi internal: the SQL of the canonical view report_leads over the leads input, with the orders input folded in; with ids, only the leads in that array';

-- The SELECT of report_stage_events: lead_id, stage, occurred_at and the
-- 1-based step of the stage in stages (other stages left out).  With ids,
-- only those leads' events.  The step is stage_step(), array_position()
-- with the list read once per query: the planner puts it in the filter and
-- in the output, so it runs twice per event, and array_position() there
-- cost more than reading the events (0.7 s against 0.3 s at 5 million).
-- A join to the stage list would compute it once but loses the scan's order
-- that grouping the events by lead relies on (doc/forecast.md, Speed).
CREATE OR REPLACE FUNCTION @extschema@._lk_events_select(stage_events regclass, stages text[], tz text, ids text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e jsonb := @extschema@._lk_read_input('stage_events', stage_events, tz);
BEGIN
    RETURN format('SELECT lead_id, stage, occurred_at, step FROM '
                  '(SELECT %s AS lead_id, %s AS stage, %s AS occurred_at, '
                  '@extschema@.stage_step(%L::text[], %s) AS step FROM %s%s) AS e WHERE step IS NOT NULL',
                  e ->> 'lead_id', e ->> 'stage', e ->> 'occurred_at', stages, e ->> 'stage', stage_events,
                  @extschema@._lk_ids_filter(ids));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_events_select(regclass, text[], text, text) IS
'leadkpi internal: the SQL of the canonical view report_stage_events (stages as 1-based steps); with ids, only the events of the leads in that array';

-- Creates report_leads, report_spend, report_campaigns and
-- report_stage_events in target_schema; the last three are empty when their input is not given, so
-- that every report schema has the same relations.  The inputs are checked
-- already.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_canonical_views(
    target_schema name, leads regclass, stage_events regclass, spend regclass, orders regclass, stages text[], tz text,
    campaigns regclass DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    p jsonb;
BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW %s.report_leads WITH (security_invoker = true) AS %s', s,
                   @extschema@._lk_leads_select(leads, orders, tz));
    EXECUTE format('COMMENT ON VIEW %s.report_leads IS %L', s,
        'leadkpi canonical leads: one row per lead (lead_id, first_contact_at, campaign, channel, converted_at, lost_at, revenue, team, owner'
        || CASE WHEN @extschema@._lk_read_input('leads', leads, tz) ->> 'expected_revenue' IS NULL THEN ')'
                ELSE ', expected_revenue: the amount of an open deal, which the forecast reads)' END
        || CASE WHEN orders IS NULL THEN '' ELSE format('; converted_at and revenue also from the orders in %s', orders) END);

    IF spend IS NOT NULL THEN
        p := @extschema@._lk_read_input('spend', spend, tz);
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_spend WITH (security_invoker = true) AS '
                       'SELECT %s AS campaign, %s AS channel, %s AS day, %s AS amount, NULL::text AS team, NULL::text AS owner '
                       'FROM %s WHERE %s IS NOT NULL',
                       s, p ->> 'campaign', coalesce(p ->> 'channel', 'NULL::text'), p ->> 'day', p ->> 'amount', spend, p ->> 'day');
        EXECUTE format('COMMENT ON VIEW %s.report_spend IS %L', s,
            format('leadkpi canonical spend: campaign, channel, day (in time zone %s), amount from %s; rows without a day are left out; '
                   'team and owner are always NULL (spend has none)', tz, spend));
    ELSE
        -- every report schema has the same relations: empty, typed, without the input
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_spend WITH (security_invoker = true) AS '
                       'SELECT NULL::text AS campaign, NULL::text AS channel, NULL::date AS day, NULL::numeric AS amount, '
                       'NULL::text AS team, NULL::text AS owner WHERE false', s);
        EXECUTE format('COMMENT ON VIEW %s.report_spend IS %L', s,
            'leadkpi canonical spend: empty, no spend input was given (create_reports(..., spend => ...))');
    END IF;

    -- one row per campaign: a campaign listed with several channels has
    -- none (its spend is not assigned), so that a join never repeats spend
    IF campaigns IS NOT NULL THEN
        p := @extschema@._lk_read_input('campaigns', campaigns, tz);
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_campaigns WITH (security_invoker = true) AS '
                       'SELECT campaign, CASE WHEN count(DISTINCT channel) = 1 AND count(channel) = count(*) THEN min(channel) END AS channel, '
                       'min(name) AS name FROM (SELECT %s AS campaign, %s AS channel, %s AS name FROM %s) AS c '
                       'WHERE campaign IS NOT NULL GROUP BY campaign',
                       s, p ->> 'campaign', p ->> 'channel', coalesce(p ->> 'name', 'NULL::text'), campaigns);
        EXECUTE format('COMMENT ON VIEW %s.report_campaigns IS %L', s,
            format('leadkpi canonical campaigns: one row per campaign of %s with its channel (NULL when listed with several) and name', campaigns));
    ELSE
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_campaigns WITH (security_invoker = true) AS '
                       'SELECT NULL::text AS campaign, NULL::text AS channel, NULL::text AS name WHERE false', s);
        EXECUTE format('COMMENT ON VIEW %s.report_campaigns IS %L', s,
            'leadkpi canonical campaigns: empty, no campaigns input was given (create_reports(..., campaigns => ...))');
    END IF;

    IF stage_events IS NOT NULL THEN
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_stage_events WITH (security_invoker = true) AS %s',
                       s, @extschema@._lk_events_select(stage_events, stages, tz));
        EXECUTE format('COMMENT ON VIEW %s.report_stage_events IS %L', s,
            format('leadkpi canonical stage events from %s; step is the 1-based position in the stages %s (other stages are left out)',
                   stage_events, stages));
    ELSE
        EXECUTE format('CREATE OR REPLACE VIEW %s.report_stage_events WITH (security_invoker = true) AS '
                       'SELECT NULL::%s AS lead_id, NULL::text AS stage, NULL::timestamptz AS occurred_at, NULL::integer AS step WHERE false',
                       s, (@extschema@._lk_column('leads', leads, 'lead_id', 'id', true)).typ);
        EXECUTE format('COMMENT ON VIEW %s.report_stage_events IS %L', s,
            'leadkpi canonical stage events: empty, no stage_events input was given (create_reports(..., stage_events => ..., stages => ...))');
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_canonical_views(name, regclass, regclass, regclass, regclass, text[], text, regclass) IS
'leadkpi internal: creates the canonical views report_leads, report_spend, report_campaigns and report_stage_events of create_reports()';

