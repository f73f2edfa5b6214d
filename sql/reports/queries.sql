
-----------------------------------------------------------------------------
-- Reports: the SQL text of the report queries.  Pure functions from names
-- and parts to a query; the report views are made of what they return.
-----------------------------------------------------------------------------

-- One part of a KPI report query: SELECT [key_expr AS key_name, ]cell
-- columns, agg AS s FROM source GROUP BY the keys.  The cell is the (month,
-- campaign) pair that the cost ratios match spend and leads on (see
-- _lk_kpi_sql); cell_month NULL means the row's key is the cell.  Without a
-- key (the overview) and without a cell there is no GROUP BY.
CREATE OR REPLACE FUNCTION @extschema@._lk_keyed_select(key_name text, key_expr text, agg text, source text,
                                                       cell_month text DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'SELECT '
    || CASE WHEN key_name IS NULL THEN '' ELSE key_expr || ' AS ' || quote_ident(key_name) || ', ' END
    || CASE WHEN cell_month IS NULL THEN 'NULL::date AS cell_month, NULL::text AS cell_campaign, '
            ELSE cell_month || ' AS cell_month, campaign AS cell_campaign, ' END
    || agg || ' AS s FROM ' || source
    || CASE WHEN key_name IS NULL AND cell_month IS NULL THEN ''
            WHEN key_name IS NULL THEN ' GROUP BY 1, 2'
            WHEN cell_month IS NULL THEN ' GROUP BY 1'
            ELSE ' GROUP BY 1, 2, 3' END;
COMMENT ON FUNCTION @extschema@._lk_keyed_select(text, text, text, text, text) IS
'leadkpi internal: the SQL of one part of a KPI report query: an aggregate per key and (month, campaign) cell, or over everything';

-- A duration in days, for BI tools that cannot chart an interval: the
-- interval's length divided by 86400 s, to 2 decimals (about 15 minutes).
CREATE OR REPLACE FUNCTION @extschema@._lk_days(d interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN round(extract(epoch FROM d) / 86400, 2);
COMMENT ON FUNCTION @extschema@._lk_days(interval) IS
'leadkpi internal: an interval as a number of days to 2 decimals (the report views'' *_days columns)';

-- An amount of money as the report views show it: rounded half away from
-- zero to the currency's minor unit (money_decimals); NULL decimals keeps
-- the exact value.  The summaries and accessors stay exact.
CREATE OR REPLACE FUNCTION @extschema@._lk_money(amount numeric, money_decimals integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN money_decimals IS NULL THEN amount ELSE round(amount, money_decimals) END;
COMMENT ON FUNCTION @extschema@._lk_money(numeric, integer) IS
'leadkpi internal: an amount rounded to the currency''s minor unit for the report views (NULL decimals: exact)';

-- The grouped KPI query over a leads part and a spend part.  Each part is a
-- SELECT yielding (key, cell_month, cell_campaign, s kpi_summary), see
-- _lk_keyed_select.  rollup() merges them per key and cell, then per key:
-- r over every cell, m over the cells that have both leads and spend.  The
-- accessors read r, except the cost ratios, which read m, so that spend is
-- never divided by leads of other months or campaigns (doc/reports.md, "Totals
-- across periods and campaigns").  key is NULL for the one-row overview.
-- Columns: the nine KPI columns of 0.1.0 in their order, then the ones added
-- since, at the end, so that users' views and materialized reports keep
-- working: the cycles in days, and the matched spend, leads and conversions;
-- then extra_cols, columns of one report over g (its key, r and m) and the
-- relations joined to g by extra_from (kpi_by_campaign's channel and roi,
-- kpi_by_channel's cost_channel_rule).
CREATE OR REPLACE FUNCTION @extschema@._lk_kpi_sql(key_name text, leads_part text, spend_part text, money_decimals integer,
                                                  extra_cols text DEFAULT NULL, extra_from text DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT %1$s'
    '@extschema@.leads(g.r) AS leads, @extschema@.conversions(g.r) AS conversions, '
    '@extschema@.conversion_rate(g.r) AS conversion_rate, '
    '@extschema@.sales_cycle_avg(g.r) AS sales_cycle_avg, @extschema@.sales_cycle_median(g.r) AS sales_cycle_median, '
    '@extschema@._lk_money(@extschema@.cost(g.r), %2$s) AS cost, '
    '@extschema@._lk_money(@extschema@.cost_per_lead(g.m), %2$s) AS cost_per_lead, '
    '@extschema@._lk_money(@extschema@.cost_per_order(g.m), %2$s) AS cost_per_order, '
    '@extschema@._lk_money(@extschema@.revenue(g.r), %2$s) AS revenue, '
    '@extschema@._lk_days(@extschema@.sales_cycle_avg(g.r)) AS sales_cycle_avg_days, '
    '@extschema@._lk_days(@extschema@.sales_cycle_median(g.r)) AS sales_cycle_median_days, '
    '@extschema@._lk_money(@extschema@.cost(g.m), %2$s) AS cost_matched, '
    '@extschema@.leads(g.m) AS leads_matched, @extschema@.conversions(g.m) AS conversions_matched%9$s '
    'FROM (SELECT %3$scoalesce(@extschema@.rollup(c.s), %4$s) AS r, '
    'coalesce(@extschema@.rollup(c.s) FILTER (WHERE @extschema@.leads(c.s) > 0 AND @extschema@.cost(c.s) IS NOT NULL), %4$s) AS m '
    'FROM (SELECT %5$su.cell_month, u.cell_campaign, @extschema@.rollup(u.s) AS s FROM (%6$s%7$s) AS u '
    'GROUP BY %5$su.cell_month, u.cell_campaign) AS c%8$s) AS g%10$s',
    CASE WHEN key_name IS NULL THEN '' ELSE format('g.%I, ', key_name) END,
    coalesce(money_decimals::text, 'NULL'),
    CASE WHEN key_name IS NULL THEN '' ELSE format('c.%I, ', key_name) END,
    -- empty cells or inputs: counts of 0 (the overview always has its row)
    '''v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0''::@extschema@.kpi_summary',
    CASE WHEN key_name IS NULL THEN '' ELSE format('u.%I, ', key_name) END,
    leads_part,
    CASE WHEN spend_part IS NULL THEN '' ELSE ' UNION ALL ' || spend_part END,
    CASE WHEN key_name IS NULL THEN '' ELSE format(' GROUP BY c.%I', key_name) END,
    CASE WHEN extra_cols IS NULL THEN '' ELSE ', ' || extra_cols END,
    coalesce(extra_from, ''));
COMMENT ON FUNCTION @extschema@._lk_kpi_sql(text, text, text, integer, text, text) IS
'leadkpi internal: the SQL of a KPI report: rollup() of lead and spend summaries per key and cell, then the accessors (cost ratios over the cells with both leads and spend)';

-- The funnel report query over a SELECT yielding (key, fs funnel_summary,
-- seen bigint), seen being the bit mask of the steps that occur in the stage
-- events (bit k-1 for step k; see _lk_funnel_seen_sql).  The bottleneck is
-- the step with the lowest conversion from its predecessor, ties to the
-- earliest, as bottleneck() has it, but among the steps that occur in the
-- data only, each measured from the last such step before it: a stage that
-- no event names is never the bottleneck (with crm_backfill it may still be
-- "reached" through a later stage), and the leads lost before it count for
-- the next step that has data.  With every step in the data this is
-- bottleneck().  The steps run over constant bounds (the summaries' step
-- count is that of the stages; the LIMIT on funnel_steps, which yields that
-- many rows, only tells the planner so): with generate_series(2,
-- funnel_nsteps(fs)) and funnel_steps it guessed 1000 rows each, and a
-- funnel view's estimate crossed jit_above_cost (up to a second of JIT
-- compilation per read).
-- Columns: those of 0.1.0 in their order, then median_days_from_previous.
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_sql(key_name text, part text, stages text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format(
    'SELECT %1$sf.step, (%2$L::text[])[f.step] AS stage, f.reached, f.conversion_from_previous, '
    'f.conversion_from_first, f.drop_off, f.median_time_from_previous, '
    'coalesce(f.step = (SELECT b.step FROM (SELECT k AS step, @extschema@.conversion_rate(g.fs, '
    '(SELECT max(j) FROM generate_series(1, %4$s) AS j WHERE j < k AND (g.seen >> (j - 1)) & 1 = 1), k) AS conv '
    'FROM generate_series(2, %4$s) AS k WHERE (g.seen >> (k - 1)) & 1 = 1) AS b '
    'WHERE b.conv IS NOT NULL ORDER BY b.conv, b.step LIMIT 1), false) AS is_bottleneck, '
    '@extschema@._lk_days(f.median_time_from_previous) AS median_days_from_previous '
    'FROM (%3$s) AS g CROSS JOIN LATERAL (SELECT * FROM @extschema@.funnel_steps(g.fs) LIMIT %4$s) AS f',
    CASE WHEN key_name IS NULL THEN '' ELSE format('g.%I, ', key_name) END,
    stages, part, cardinality(stages));
COMMENT ON FUNCTION @extschema@._lk_funnel_sql(text, text, text[]) IS
'leadkpi internal: the SQL of a funnel report: funnel_steps() of funnel summaries per key, the bottleneck among the steps that occur in the data';

-- The bit mask of the steps that occur in report_stage_events (alias e), as
-- an aggregate over the events: bit k-1 is set when step k occurs in an
-- event that funnel_agg reads (with a lead and a time; the materialized
-- stores keep only those, see _lk_store_seen).
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_seen_sql()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'coalesce(bit_or(1::bigint << (e.step - 1)) FILTER (WHERE e.lead_id IS NOT NULL AND e.occurred_at IS NOT NULL), 0)';
COMMENT ON FUNCTION @extschema@._lk_funnel_seen_sql() IS
'leadkpi internal: the SQL of the bit mask of the funnel steps that occur in report_stage_events';

-- The arguments of funnel_agg over events after the step: window, modes,
-- step count (as _lk_create_stores writes them into report_state).
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_args(stages text[], conversion_window interval, funnel_modes text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('%L::interval, %L, %s', conversion_window, coalesce(funnel_modes, ''), cardinality(stages));
COMMENT ON FUNCTION @extschema@._lk_funnel_args(text[], interval, text) IS
'leadkpi internal: the SQL of the window, modes and step count arguments of funnel_agg over report events';

-- The funnel_agg call over report_stage_events (alias e).  The step count is
-- fixed by the stages, so the summaries of any subset roll up together.
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_agg_sql(stages text[], conversion_window interval, funnel_modes text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('@extschema@.funnel_agg(e.lead_id, e.occurred_at, e.step, %s)',
              @extschema@._lk_funnel_args(stages, conversion_window, funnel_modes));
COMMENT ON FUNCTION @extschema@._lk_funnel_agg_sql(text[], interval, text) IS
'leadkpi internal: the SQL of the funnel_agg call over report_stage_events, with a step count fixed by the stages';

-- The two-level funnel over report_stage_events, for events in a Citus
-- distributed table: per lead (GROUP BY lead_id, the distribution column,
-- so Citus runs it whole on the workers) the lead's funnel_path and the
-- mask of its steps (as _lk_funnel_seen_sql); rows (lead_id, path, seen).
-- Events without a lead give a NULL path, which counts as no entity, as
-- funnel_agg over events skips them.  funnel_agg over the paths (below)
-- gives exactly the summary of funnel_agg over the same events.
-- funnel_args: window, modes, step count (_lk_funnel_args).
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_paths_sql(target_schema name, funnel_args text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('SELECT e.lead_id, @extschema@.funnel_path(e.occurred_at, e.step, %s) '
              'FILTER (WHERE e.lead_id IS NOT NULL) AS path, %s AS seen '
              'FROM %s.report_stage_events AS e GROUP BY e.lead_id',
              funnel_args, @extschema@._lk_funnel_seen_sql(), quote_ident(target_schema));
COMMENT ON FUNCTION @extschema@._lk_funnel_paths_sql(name, text) IS
'leadkpi internal: the SQL of the first level of the two-level funnel: funnel_path and the mask of the steps per lead of report_stage_events';

-- The funnel_agg call over the paths of _lk_funnel_paths_sql (alias p):
-- funnel_agg(path, nsteps, window, modes), from funnel_args (window, modes,
-- step count, as _lk_funnel_args writes them).
CREATE OR REPLACE FUNCTION @extschema@._lk_funnel_path_agg_sql(funnel_args text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('@extschema@.funnel_agg(p.path, %s, %s)',
              substring(funnel_args FROM ', ([0-9]+)$'), regexp_replace(funnel_args, ', [0-9]+$', ''));
COMMENT ON FUNCTION @extschema@._lk_funnel_path_agg_sql(text) IS
'leadkpi internal: the SQL of the second level of the two-level funnel: funnel_agg over the paths per lead, with a step count fixed by the stages';

-- The first instant the stores of a materialized report leave out: midnight,
-- in tz, of kpi_watermark.stored_before.  Live views read the rows from there.
CREATE OR REPLACE FUNCTION @extschema@._lk_boundary_sql(target_schema name, tz text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('(SELECT stored_before::timestamp AT TIME ZONE %L FROM %s.kpi_watermark)', tz, quote_ident(target_schema));
COMMENT ON FUNCTION @extschema@._lk_boundary_sql(name, text) IS
'leadkpi internal: the SQL of the first instant not in the stores of a materialized report (midnight of stored_before in its time zone)';
