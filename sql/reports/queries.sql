
-----------------------------------------------------------------------------
-- Reports: the SQL text of the report queries.  Pure functions from names
-- and parts to a query; the report views are made of what they return.
-----------------------------------------------------------------------------

-- One part of a report query: SELECT [key_expr AS key_name, ]agg AS s FROM
-- source[ GROUP BY 1].  Without a key (the overview) there is no key column
-- and no GROUP BY.
CREATE OR REPLACE FUNCTION @extschema@._lk_keyed_select(key_name text, key_expr text, agg text, source text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'SELECT '
    || CASE WHEN key_name IS NULL THEN '' ELSE key_expr || ' AS ' || quote_ident(key_name) || ', ' END
    || agg || ' AS s FROM ' || source
    || CASE WHEN key_name IS NULL THEN '' ELSE ' GROUP BY 1' END;
COMMENT ON FUNCTION @extschema@._lk_keyed_select(text, text, text, text) IS
'leadkpi internal: the SQL of one part of a report query: an aggregate per key (or over everything when the key is NULL)';

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

-- The funnel_agg call over report_stage_events (alias e).  The step count is
-- fixed by the stages, so the summaries of any subset roll up together.
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_agg_sql(stages text[], conversion_window interval, funnel_modes text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('@extschema@.funnel_agg(e.lead_id, e.occurred_at, e.step, %L::interval, %L, %s)',
              conversion_window, coalesce(funnel_modes, ''), cardinality(stages));
COMMENT ON FUNCTION @extschema@._lk_funnel_agg_sql(text[], interval, text) IS
'leadkpi internal: the SQL of the funnel_agg call over report_stage_events, with a step count fixed by the stages';

-- The first instant the stores of a materialized report leave out: midnight,
-- in tz, of kpi_watermark.stored_before.  Live views read the rows from there.
CREATE OR REPLACE FUNCTION @extschema@._lk_boundary_sql(target_schema name, tz text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('(SELECT stored_before::timestamp AT TIME ZONE %L FROM %s.kpi_watermark)', tz, quote_ident(target_schema));
COMMENT ON FUNCTION @extschema@._lk_boundary_sql(name, text) IS
'leadkpi internal: the SQL of the first instant not in the stores of a materialized report (midnight of stored_before in its time zone)';
