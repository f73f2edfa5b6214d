
-----------------------------------------------------------------------------
-- Reports, phase 2 (materialized reports only): the stores, ordinary tables
-- in the report schema that only leadkpi writes (refresh.sql), readers never
-- block on them and a refresh rewrites only the keys that changed.
--
--   lead_facts      one row per lead seen in the leads or the stage events:
--                   its cohort key (day of first contact in the reports' time
--                   zone and the segments), what the KPIs read, and its
--                   funnel path.  The membership index that lets a key be
--                   recomputed without the user's indexes.
--   fine stores     one summary per (day, segments): kpi_daily,
--                   spend_daily, funnel_daily
--   coarse stores   one summary per (month, segments): kpi_monthly,
--                   spend_monthly, funnel_monthly; the stored reports are
--                   rollups of these (a few thousand rows)
--   campaign stores when the leads have a team or an owner: one summary
--                   per (month, campaign, channel), team and owner NULL:
--                   kpi_monthly_campaign, funnel_monthly_campaign, the
--                   rollups of the coarse stores over team and owner that
--                   the reports not by team or owner read (with 40 owners
--                   the coarse stores hold ~40 times more rows)
--   report_state    one row: the mapping, the last refresh, the watermark of
--                   the change columns
-- Every store inherits from <schema>._lk_stores, a table of the extension's
-- empty row type report_store, so DROP EXTENSION ... CASCADE drops them
-- whole (see sql/report_store.sql).
--
-- Keys: a store's key is its time column (day or month) and the segment
-- columns of _lk_segments() (campaign, channel, team, owner; spend has no
-- team or owner, NULL).  NULL is a value of a key (a lead without a
-- campaign), so keys are matched with coalesce() on indexed expressions plus
-- IS NOT DISTINCT FROM (_lk_key_match).  A new segment is one more entry
-- in _lk_segments() and a column of report_leads and report_spend.
--
-- Adding a store (e.g. the forecast's): one row in _lk_stores_def() with
-- the SQL that computes its fine rows from lead_facts, and its name in
-- _lk_report_names(); refresh and drop then handle it.
-----------------------------------------------------------------------------

-- The segment columns of every store key, after its time column.
CREATE OR REPLACE FUNCTION @extschema@._lk_segments()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY['campaign', 'channel', 'team', 'owner'];
COMMENT ON FUNCTION @extschema@._lk_segments() IS
'leadkpi internal: the segment columns of the store keys (after the day or month)';

-- The indexed expressions of a key: each segment and then the time column
-- (when time_col is given), NULL read as a value ('' and -infinity), time
-- last so that a month is a range.  alias may be NULL (for CREATE INDEX).
CREATE OR REPLACE FUNCTION @extschema@._lk_key_exprs(alias text, time_col text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY(SELECT format('coalesce(%s%I, %L)', coalesce(quote_ident(alias) || '.', ''), c, '') FROM unnest(@extschema@._lk_segments()) AS c)
    || CASE WHEN time_col IS NULL THEN '{}'::text[]
            ELSE ARRAY[format('coalesce(%s%I, %L::date)', coalesce(quote_ident(alias) || '.', ''), time_col, '-infinity')] END;
COMMENT ON FUNCTION @extschema@._lk_key_exprs(text, text) IS
'leadkpi internal: the indexed expressions of a store key (segments, then the time column, NULL read as a value)';

-- The condition that rows a and b have the same key (NULL matching NULL),
-- written so that the index on _lk_key_exprs serves it.
CREATE OR REPLACE FUNCTION @extschema@._lk_key_match(a text, a_time text, b text, b_time text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s = %s', x, y), ' AND ')
          FROM unnest(@extschema@._lk_key_exprs(a, a_time), @extschema@._lk_key_exprs(b, b_time)) AS u(x, y))
    || (SELECT string_agg(format(' AND %I.%I IS NOT DISTINCT FROM %I.%I', a, c, b, c), '')
          FROM unnest(@extschema@._lk_segments()) AS c)
    || format(' AND %I.%I IS NOT DISTINCT FROM %I.%I', a, a_time, b, b_time);
COMMENT ON FUNCTION @extschema@._lk_key_match(text, text, text, text) IS
'leadkpi internal: the SQL condition that two rows have the same store key, NULL matching NULL, served by the key index';

-- A key as a list of values that = compares exactly (NULL matching NULL,
-- '' apart from NULL), for `(list) NOT IN (SELECT list FROM ...)`: a hashed
-- subplan whatever the planner guesses of the sizes.
CREATE OR REPLACE FUNCTION @extschema@._lk_key_tuple(alias text, time_col text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s, (%I.%I IS NULL)', x, alias, c), ', ')
          FROM unnest(@extschema@._lk_key_exprs(alias, time_col), @extschema@._lk_segments() || time_col) AS u(x, c));
COMMENT ON FUNCTION @extschema@._lk_key_tuple(text, text) IS
'leadkpi internal: the SQL of a store key as a list of values compared exactly by =, for IN and NOT IN over key sets';

-- The same as an equality of hashable values (no IS NOT DISTINCT FROM),
-- for a FULL JOIN on the key of two relations with the same time column.
CREATE OR REPLACE FUNCTION @extschema@._lk_key_equal(a text, b text, time_col text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s = %s AND (%I.%I IS NULL) = (%I.%I IS NULL)', x, y, a, c, b, c), ' AND ')
          FROM unnest(@extschema@._lk_key_exprs(a, time_col), @extschema@._lk_key_exprs(b, time_col),
                      @extschema@._lk_segments() || time_col) AS u(x, y, c));
COMMENT ON FUNCTION @extschema@._lk_key_equal(text, text, text) IS
'leadkpi internal: the SQL condition that two rows have the same store key, as equalities of hashable values (for a FULL JOIN)';

-- The condition that fine row f (its day) lies in coarse key c (its month):
-- the same segments and the day in the month, as an equality a hash join
-- can use and as a range on the key index.
CREATE OR REPLACE FUNCTION @extschema@._lk_in_month(f text, c text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s = %s', x, y), ' AND ')
          FROM unnest(@extschema@._lk_key_exprs(f, NULL), @extschema@._lk_key_exprs(c, NULL)) AS u(x, y))
    || (SELECT string_agg(format(' AND %I.%I IS NOT DISTINCT FROM %I.%I', f, s, c, s), '') FROM unnest(@extschema@._lk_segments()) AS s)
    || format(' AND coalesce(date_trunc(''month'', %1$I.day::timestamp)::date, ''-infinity''::date) = coalesce(%2$I.month, ''-infinity''::date)'
              ' AND coalesce(%1$I.day, ''-infinity''::date) >= coalesce(%2$I.month, ''-infinity''::date)'
              ' AND coalesce(%1$I.day, ''-infinity''::date) <= coalesce((%2$I.month + interval ''1 month -1 day'')::date, ''-infinity''::date)'
              ' AND date_trunc(''month'', %1$I.day::timestamp)::date IS NOT DISTINCT FROM %2$I.month', f, c);
COMMENT ON FUNCTION @extschema@._lk_in_month(text, text) IS
'leadkpi internal: the SQL condition that a fine store row (day) lies in a coarse key (month), served by the key index';

-- The condition that coarse row f (month and segments) lies in key c of a
-- store without team and owner (month, campaign, channel): the same month,
-- campaign and channel whatever its team and owner, as equalities that
-- the (campaign, channel, month) index of the coarse stores serves.
CREATE OR REPLACE FUNCTION @extschema@._lk_campaign_match(f text, c text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s = %s', x, y), ' AND ')
          FROM unnest((@extschema@._lk_key_exprs(f, 'month'))[1:2] || (@extschema@._lk_key_exprs(f, 'month'))[5:5],
                      (@extschema@._lk_key_exprs(c, 'month'))[1:2] || (@extschema@._lk_key_exprs(c, 'month'))[5:5]) AS u(x, y))
    || format(' AND %1$I.campaign IS NOT DISTINCT FROM %2$I.campaign AND %1$I.channel IS NOT DISTINCT FROM %2$I.channel'
              ' AND %1$I.month IS NOT DISTINCT FROM %2$I.month', f, c);
COMMENT ON FUNCTION @extschema@._lk_campaign_match(text, text) IS
'leadkpi internal: the SQL condition that a coarse store row lies in a key of the store without team and owner (month, campaign, channel)';

-----------------------------------------------------------------------------
-- Funnel paths.  A lead's funnel is kept in lead_facts as what a funnel
-- summary of any set of leads can be rebuilt from: its path (funnel_path:
-- the times it reached steps 1..level along the chain that gave it its
-- level; NULL without events) and seen (the mask of the steps its events
-- have, bit k-1 for step k, for the reports' bottleneck).  A key's summary
-- is funnel_agg over its leads' paths, exactly funnel_agg over their events
-- (doc/funnel.md), at one short array per lead instead of its events.
-----------------------------------------------------------------------------

-- The aggregates that build a lead's funnel columns (path, seen) from its
-- canonical events (alias e, grouped by lead); funnel_args: the window,
-- modes and step count, in funnel_path's order.
CREATE OR REPLACE FUNCTION @extschema@._lk_chain_sql(funnel_args text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('@extschema@.funnel_path(e.occurred_at, e.step, %s) AS path, bit_or(1::bigint << (e.step - 1)) AS seen', funnel_args);
COMMENT ON FUNCTION @extschema@._lk_chain_sql(text) IS
'leadkpi internal: the aggregates that build a lead''s funnel columns in lead_facts (path, seen) from its events';

-- The funnel_agg call over the paths of leads (alias f) with the window,
-- modes and step count of funnel_args (funnel_path's order: the path form
-- of funnel_agg takes the step count first).
CREATE OR REPLACE FUNCTION @extschema@._lk_path_agg_sql(f text, funnel_args text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- funnel_args is format('%L::interval, %L, %s', window, modes, nsteps)
    -- (_lk_create_stores, _lk_create_live_rows): the step count is last
    n text := substring(funnel_args FROM ',\s*([0-9]+)\s*$');
    rest text := substring(funnel_args FROM '^(.*),\s*[0-9]+\s*$');
BEGIN
    IF n IS NULL OR rest IS NULL THEN
        RAISE EXCEPTION 'leadkpi: funnel arguments % end without a step count', funnel_args
            USING ERRCODE = 'XX000', HINT = 'This is a bug in leadkpi''s report layer; please report it.';
    END IF;
    RETURN format('@extschema@.funnel_agg(%I.path, %s, %s)', f, n, rest);
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_path_agg_sql(text, text) IS
'leadkpi internal: the SQL of funnel_agg over the funnel paths of leads in lead_facts';

-- The stores of a materialized report schema: name, level (fine: per day;
-- coarse: per month), the column holding the summary and its type, the
-- family it belongs to (kpi: changes of leads; funnel: of leads or events;
-- spend: of spend), and for a fine store the SQL of its rows (grouped by
-- day and the segments) over the source the family reads, for the keys in
-- the temporary table named by %1$s (or all keys when the filter is true).
CREATE OR REPLACE FUNCTION @extschema@._lk_stores_def()
RETURNS TABLE (name text, fine text, value_col text, value_type text, family text, what text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM (VALUES
        ('kpi_daily', NULL, 'summary', 'kpi_summary', 'kpi', 'kpi_summary of the leads per day of first contact, campaign, channel, team and owner'),
        ('spend_daily', NULL, 'summary', 'kpi_summary', 'spend', 'spend summary per day, campaign, channel, team and owner'),
        ('funnel_daily', NULL, 'fs', 'funnel_summary', 'funnel', 'funnel_summary of the leads per day of first contact, campaign, channel, team and owner (NULL day: leads with events but no first contact)'),
        ('kpi_monthly', 'kpi_daily', 'summary', 'kpi_summary', 'kpi', 'rollup of kpi_daily per month, campaign, channel, team and owner'),
        ('spend_monthly', 'spend_daily', 'summary', 'kpi_summary', 'spend', 'rollup of spend_daily per month, campaign, channel, team and owner'),
        ('funnel_monthly', 'funnel_daily', 'fs', 'funnel_summary', 'funnel', 'rollup of funnel_daily per month, campaign, channel, team and owner'),
        ('kpi_monthly_campaign', 'kpi_monthly', 'summary', 'kpi_summary', 'kpi', 'rollup of kpi_monthly over team and owner, per month, campaign and channel (team and owner NULL): what the reports not by team or owner read'),
        ('funnel_monthly_campaign', 'funnel_monthly', 'fs', 'funnel_summary', 'funnel', 'rollup of funnel_monthly over team and owner, per month, campaign and channel (team and owner NULL): what the funnel reports read')
    ) AS v(name, fine, value_col, value_type, family, what);
END;
COMMENT ON FUNCTION @extschema@._lk_stores_def() IS
'leadkpi internal: the stores of a materialized report schema (fine per day, coarse per month), their summary column and family';

-- Whether a store has, after its summary, the column seen: the bit mask of
-- the funnel steps its leads' events have (bit k-1 for step k, as
-- _lk_funnel_seen_sql), which the funnel reports' bottleneck reads and
-- which no funnel summary holds.  bit_or() rolls it up as rollup() does the
-- summary.
CREATE OR REPLACE FUNCTION @extschema@._lk_store_seen(store text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN store IN ('funnel_daily', 'funnel_monthly', 'funnel_monthly_campaign');
COMMENT ON FUNCTION @extschema@._lk_store_seen(text) IS
'leadkpi internal: whether a store has the column seen (the mask of the funnel steps its events have) after its summary';

-- The GROUP BY list of a key (alias, time column), and the SELECT list
-- that gives back its columns: the indexed expressions in the index's order
-- (so a scan of the key index needs no sort), then their IS NULL flags.
CREATE OR REPLACE FUNCTION @extschema@._lk_key_group(alias text, time_col text, OUT group_by text, OUT select_list text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT string_agg(x, ', ' ORDER BY i) || ', ' || string_agg(format('(%I.%I IS NULL)', alias, c), ', ' ORDER BY i),
           string_agg(format('CASE WHEN %1$I.%2$I IS NULL THEN NULL ELSE %3$s END AS %2$I', alias, c, x), ', ' ORDER BY i)
      FROM unnest(@extschema@._lk_key_exprs(alias, time_col), @extschema@._lk_segments() || time_col) WITH ORDINALITY AS u(x, c, i);
END;
COMMENT ON FUNCTION @extschema@._lk_key_group(text, text) IS
'leadkpi internal: the GROUP BY and SELECT lists of a store key, in the order of the key index';

-- The SQL of a fine store's rows over its source (lead_facts, whose SQL is
-- facts, or report_spend), for the keys in the relation keys (day and
-- segments; every key when keys is NULL).  funnel_args is the window, modes
-- and step count of funnel_agg.  Driven by the keys: one index scan each;
-- over every key, grouped in the order of lead_facts' key index.
CREATE OR REPLACE FUNCTION @extschema@._lk_fine_rows_sql(target_schema name, store text, funnel_args text, facts text, keys text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record := @extschema@._lk_key_group('f', 'day');
    src text := CASE store WHEN 'spend_daily' THEN format('%s.report_spend', quote_ident(target_schema)) ELSE facts END;
    from_sql text := CASE WHEN keys IS NULL THEN format('%s AS f', src)
                          ELSE format('%s AS k JOIN %s AS f ON %s', keys, src, @extschema@._lk_key_match('f', 'day', 'k', 'day')) END;
BEGIN
    -- the columns in the store's order: day, segments, summary
    RETURN format('SELECT day, %s, v AS %I%s FROM (', array_to_string(@extschema@._lk_segments(), ', '),
                  (SELECT d.value_col FROM @extschema@._lk_stores_def() AS d WHERE d.name = store),
                  CASE WHEN @extschema@._lk_store_seen(store) THEN ', seen' ELSE '' END) || CASE store
        WHEN 'kpi_daily' THEN format(
            'SELECT %s, @extschema@.kpi_agg(f.first_contact_at, f.converted_at, f.revenue) AS v '
            'FROM %s WHERE f.day IS NOT NULL GROUP BY %s', g.select_list, from_sql, g.group_by)
        WHEN 'funnel_daily' THEN format(
            'SELECT %s, %s AS v, bit_or(f.seen) AS seen FROM %s WHERE f.path IS NOT NULL GROUP BY %s',
            g.select_list, @extschema@._lk_path_agg_sql('f', funnel_args), from_sql, g.group_by)
        -- (spend keys have a day, the store's day being NOT NULL: report_spend
        -- is read by the keys' days, = ANY, which its day index serves)
        WHEN 'spend_daily' THEN format(
            'SELECT %s, @extschema@.spend_agg(f.amount) AS v FROM %s%s GROUP BY %s', g.select_list, from_sql,
            CASE WHEN keys IS NOT NULL THEN format(' WHERE f.day = ANY (ARRAY(SELECT DISTINCT day FROM %s))', keys) ELSE '' END, g.group_by)
        END || ') AS r';
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_fine_rows_sql(name, text, text, text, text) IS
'leadkpi internal: the SQL of a fine store''s rows (per day and segments) over lead facts or report_spend, for a set of keys or all';

-- The SQL of a coarse store's rows: rollup() of its fine store per month
-- and segments, for the coarse keys (month and segments) in the relation
-- months: one index range of the fine store each.
CREATE OR REPLACE FUNCTION @extschema@._lk_coarse_rows_sql(target_schema name, fine text, value_col text, months text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('SELECT c.month, %s, @extschema@.rollup(f.%I) AS %I%s '
              'FROM %s AS c CROSS JOIN LATERAL (SELECT * FROM %s.%I AS f WHERE %s OFFSET 0) AS f GROUP BY c.month, %s',
              (SELECT string_agg('c.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
              value_col, value_col, CASE WHEN @extschema@._lk_store_seen(fine) THEN ', bit_or(f.seen) AS seen' ELSE '' END, months, quote_ident(target_schema), fine, @extschema@._lk_in_month('f', 'c'),
              (SELECT string_agg('c.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x));
COMMENT ON FUNCTION @extschema@._lk_coarse_rows_sql(name, text, text, text) IS
'leadkpi internal: the SQL of a coarse store''s rows: rollup() of the fine store per month and segments, for a set of months';

-- The SQL of a store's rows of the keys that changed leads touch, derived
-- from the summaries of those leads alone: per key, the stored summary minus
-- the leads as they were plus the leads as they are (_lk_replace), exact;
-- the summary column NULL where that is not exact (a removed lead held the
-- shortest or longest cycle or the revenue's largest scale, or nothing is
-- left: recompute those keys) and, for funnels, where a changed lead lost a
-- step that no changed lead has now (seen could lose a bit another lead
-- still has).  delta is relation SQL of lead facts (as lead_facts) with
-- was: true for a lead as it was, false as it is.  store is a fine store
-- (time_col day), a coarse one (month) or a campaign store (month,
-- by_campaign: team and owner NULL); family kpi or funnel.  One index probe
-- of the store per key.
CREATE OR REPLACE FUNCTION @extschema@._lk_replaced_rows_sql(target_schema name, store text, time_col text, family text,
                                                             funnel_args text, delta text, by_campaign boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kpi boolean := family = 'kpi';
    v text := CASE WHEN kpi THEN 'summary' ELSE 'fs' END;
    agg text := CASE WHEN kpi THEN '@extschema@.kpi_agg(f.first_contact_at, f.converted_at, f.revenue)'
                     ELSE @extschema@._lk_path_agg_sql('f', funnel_args) END;
BEGIN
    RETURN format('SELECT d.%1$I, d.campaign, d.channel, d.team, d.owner, %2$s AS %3$I%4$s '
                  'FROM (SELECT %5$s AS %1$I, %6$s, %7$s FILTER (WHERE f.was) AS o, %7$s FILTER (WHERE NOT f.was) AS n%8$s '
                  'FROM %9$s AS f WHERE %10$s GROUP BY 1, 2, 3, 4, 5) AS d '
                  'LEFT JOIN LATERAL (SELECT t.%3$I AS v%11$s FROM %12$s.%13$I AS t WHERE %14$s OFFSET 0) AS m ON true',
                  time_col,
                  CASE WHEN kpi THEN '@extschema@._lk_replace(m.v, d.o, d.n)'
                       ELSE 'CASE WHEN coalesce(d.os, 0) & ~coalesce(d.ns, 0) = 0 THEN @extschema@._lk_replace(m.v, d.o, d.n) END' END,
                  v,
                  CASE WHEN kpi THEN '' ELSE ', coalesce(m.seen, 0) | coalesce(d.ns, 0) AS seen' END,
                  CASE WHEN time_col = 'day' THEN 'f.day' ELSE 'date_trunc(''month'', f.day::timestamp)::date' END,
                  CASE WHEN by_campaign THEN 'f.campaign, f.channel, NULL::text AS team, NULL::text AS owner'
                       ELSE (SELECT string_agg('f.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x) END,
                  agg,
                  CASE WHEN kpi THEN '' ELSE ', bit_or(f.seen) FILTER (WHERE f.was) AS os, bit_or(f.seen) FILTER (WHERE NOT f.was) AS ns' END,
                  delta,
                  CASE WHEN kpi THEN 'f.day IS NOT NULL' ELSE 'f.path IS NOT NULL' END,
                  CASE WHEN kpi THEN '' ELSE ', t.seen' END,
                  quote_ident(target_schema), store, @extschema@._lk_key_match('t', time_col, 'd', time_col));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_replaced_rows_sql(name, text, text, text, text, text, boolean) IS
'leadkpi internal: the SQL of a store''s rows of the keys changed leads touch, derived from their summaries as they were and are (NULL where not exact)';

-----------------------------------------------------------------------------
-- Creating the stores.
-----------------------------------------------------------------------------

-- The SQL of the current facts of leads (all, or those in the array ids):
-- report_leads (or its lookup) fully joined with the leads' events grouped
-- into their funnel columns (funnel_args: see _lk_chain_sql).  leads_src
-- and events_src are relation SQL.
CREATE OR REPLACE FUNCTION @extschema@._lk_facts_sql(leads_src text, events_src text, tz text, funnel_args text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN events_src IS NULL THEN
           format('SELECT l.lead_id, (l.first_contact_at AT TIME ZONE %L)::date AS day, %s, '
                  'l.first_contact_at, l.converted_at, l.revenue, NULL::timestamptz[] AS path, NULL::bigint AS seen '
                  'FROM (%s) AS l', tz, (SELECT string_agg('l.' || quote_ident(c), ', ') FROM unnest(@extschema@._lk_segments()) AS c), leads_src)
       ELSE
           format('SELECT coalesce(l.lead_id, e.lead_id) AS lead_id, (l.first_contact_at AT TIME ZONE %L)::date AS day, '
                  '%s, l.first_contact_at, l.converted_at, l.revenue, e.path, e.seen '
                  'FROM (%s) AS l FULL JOIN (SELECT e.lead_id, %s FROM (%s) AS e '
                  'WHERE e.occurred_at IS NOT NULL AND e.lead_id IS NOT NULL GROUP BY e.lead_id) AS e ON e.lead_id = l.lead_id',
                  tz, (SELECT string_agg('l.' || quote_ident(c), ', ') FROM unnest(@extschema@._lk_segments()) AS c),
                  leads_src, @extschema@._lk_chain_sql(funnel_args), events_src) END;
COMMENT ON FUNCTION @extschema@._lk_facts_sql(text, text, text, text) IS
'leadkpi internal: the SQL of the current lead facts: canonical leads fully joined with their events grouped into funnel paths';

-- Creates the stores of a materialized report schema, empty: the anchor,
-- report_state, lead_facts, the fine and coarse stores and the lookup
-- functions of changed leads; pending_changes and the triggers come from
-- _lk_create_watches, the first fill from refresh_reports(full => true).
CREATE OR REPLACE FUNCTION @extschema@._lk_create_stores(
    target_schema name, leads regclass, stage_events regclass, spend regclass, orders regclass,
    stages text[], conversion_window interval, funnel_modes text, tz text, watch jsonb, look_back interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    lead_type text := (@extschema@._lk_column('leads', leads, 'lead_id', 'id', true)).typ;
    segs text := (SELECT string_agg(quote_ident(c) || ' text', ', ') FROM unnest(@extschema@._lk_segments()) AS c);
    d record;
    funnel_args text;
    -- the lookups' body: SQL; PL/pgSQL over Citus tables, as Citus cannot
    -- plan a query over distributed tables with the parameters of an SQL
    -- function ("could not create distributed plan")
    citus boolean := @extschema@._lk_citus_distributed(leads, true) OR @extschema@._lk_citus_distributed(orders, true)
                     OR @extschema@._lk_citus_distributed(stage_events, true);
    body CONSTANT text := CASE WHEN citus THEN 'LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS %L'
                               ELSE 'LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp BEGIN ATOMIC %s; END' END;
    plpgsql CONSTANT text := E'#variable_conflict use_column\nBEGIN\n    RETURN QUERY %s;\nEND';
    l jsonb := @extschema@._lk_read_input('leads', leads, tz);
    -- the leads have a team or an owner: stores without them too
    segmented boolean := l ->> 'team' IS NOT NULL OR l ->> 'owner' IS NOT NULL;
BEGIN
    EXECUTE format('CREATE TABLE %s._lk_stores OF @extschema@.report_store', s);
    EXECUTE format('COMMENT ON TABLE %s._lk_stores IS %L', s,
        'leadkpi store anchor: every store of this schema inherits from it, so DROP EXTENSION leadkpi CASCADE drops them whole');

    EXECUTE format('CREATE TABLE %s.report_state (one boolean PRIMARY KEY DEFAULT true CHECK (one), config jsonb NOT NULL, '
                   'look_back interval NOT NULL, changes_since timestamptz NOT NULL DEFAULT now(), '
                   'refreshed_at timestamptz, rebuilt_at timestamptz, last_refresh jsonb) INHERITS (%s._lk_stores)', s, s);
    EXECUTE format('COMMENT ON TABLE %s.report_state IS %L', s,
        'leadkpi store: the mapping of this report schema, its last refresh and the watermark of the change columns');
    funnel_args := CASE WHEN stage_events IS NOT NULL
                        THEN @extschema@._lk_funnel_args(stages, conversion_window, funnel_modes) END;
    EXECUTE format('INSERT INTO %s.report_state (config, look_back) VALUES ($1, $2)', s)
      USING jsonb_build_object('time_zone', tz, 'lead_type', lead_type, 'stages', stages,
                               'conversion_window', conversion_window, 'funnel_modes', coalesce(funnel_modes, ''),
                               'funnel_args', funnel_args, 'spend', spend IS NOT NULL, 'stage_events', stage_events IS NOT NULL,
                               'inputs', jsonb_strip_nulls(jsonb_build_object('leads', leads::text, 'stage_events', stage_events::text,
                                                                              'spend', spend::text, 'orders', orders::text)),
                               'watch', watch),
            look_back;

    EXECUTE format('CREATE TABLE %s.lead_facts (lead_id %s PRIMARY KEY, day date, %s, first_contact_at timestamptz, '
                   'converted_at timestamptz, revenue numeric, path timestamptz[], seen bigint) INHERITS (%s._lk_stores)',
                   s, lead_type, segs, s);
    EXECUTE format('CREATE INDEX ON %s.lead_facts (%s)', s, array_to_string(@extschema@._lk_key_exprs(NULL, 'day'), ', '));
    EXECUTE format('COMMENT ON TABLE %s.lead_facts IS %L', s,
        format('leadkpi store: one row per lead of the leads or stage events: its cohort key (day of first contact in time zone %s, %s), '
               'the columns the KPIs read, and its funnel path (path: funnel_path of its events) and steps seen (seen)', tz, array_to_string(@extschema@._lk_segments(), ', ')));

    FOR d IN SELECT * FROM @extschema@._lk_stores_def() LOOP
        CONTINUE WHEN d.family = 'spend' AND spend IS NULL;
        CONTINUE WHEN d.family = 'funnel' AND stage_events IS NULL;
        -- the stores without team and owner: only when the leads have them
        -- (else the monthly stores are those stores already)
        CONTINUE WHEN d.name LIKE '%\_campaign' AND NOT segmented;
        EXECUTE format('CREATE TABLE %s.%I (%s date%s, %s, %I @extschema@.%s NOT NULL%s) INHERITS (%s._lk_stores)',
                       s, d.name, CASE WHEN d.fine IS NULL THEN 'day' ELSE 'month' END,
                       CASE WHEN d.family = 'funnel' THEN '' ELSE ' NOT NULL' END, segs, d.value_col, d.value_type,
                       CASE WHEN @extschema@._lk_store_seen(d.name) THEN ', seen bigint NOT NULL' ELSE '' END, s);
        -- no statistics on the summaries: ANALYZE would compare sampled
        -- summaries pairwise with = (printing both), for nothing a plan uses
        EXECUTE format('ALTER TABLE %s.%I ALTER COLUMN %I SET STATISTICS 0', s, d.name, d.value_col);
        EXECUTE format('CREATE UNIQUE INDEX ON %s.%I (%s)', s, d.name,
                       array_to_string(@extschema@._lk_key_exprs(NULL, CASE WHEN d.fine IS NULL THEN 'day' ELSE 'month' END)
                                       || ARRAY(SELECT format('(%I IS NULL)', c)
                                                  FROM unnest(@extschema@._lk_segments() || CASE WHEN d.fine IS NULL THEN 'day' ELSE 'month' END) AS c), ', '));
        IF segmented AND d.name IN ('kpi_monthly', 'funnel_monthly') THEN
            -- the refresh and the live rows read a (month, campaign,
            -- channel) key of them, across teams and owners
            EXECUTE format('CREATE INDEX ON %s.%I (%s)', s, d.name,
                           array_to_string((@extschema@._lk_key_exprs(NULL, 'month'))[1:2] || (@extschema@._lk_key_exprs(NULL, 'month'))[5:5], ', '));
        END IF;
        IF d.family = 'spend' AND d.fine IS NULL THEN
            -- live spend reads the days of the months a change touched: per
            -- (campaign, month) changed, or by range (see _lk_live_spend_sql)
            EXECUTE format('CREATE INDEX ON %s.%I (day)', s, d.name);
            EXECUTE format('CREATE INDEX ON %s.%I (campaign, day)', s, d.name);
        END IF;
        EXECUTE format('COMMENT ON TABLE %s.%I IS %L', s, d.name, 'leadkpi store: ' || d.what
            || CASE WHEN d.family = 'funnel' THEN format(' (stages %s, window %s, modes %L)', stages, conversion_window, coalesce(funnel_modes, '')) ELSE '' END
            || format('; days in time zone %s; written by refresh_reports()', tz));
    END LOOP;

    -- the lookups of changed leads: the canonical rows of the leads in an
    -- array, read through the inputs' own lead_id columns
    PERFORM @extschema@._lk_execute_local(format('CREATE FUNCTION %s._lk_leads_of(ids %s[]) RETURNS TABLE (lead_id %s, first_contact_at timestamptz, campaign text, '
                   'channel text, converted_at timestamptz, lost_at timestamptz, revenue numeric, team text, owner text) ' || body,
                   s, lead_type, lead_type,
                   format(CASE WHEN citus THEN plpgsql ELSE '%s' END, @extschema@._lk_leads_select(leads, orders, tz, 'ids'))));
    PERFORM @extschema@._lk_execute_local(format('COMMENT ON FUNCTION %s._lk_leads_of(%s[]) IS %L', s, lead_type,
                   'leadkpi lookup: the canonical rows (as report_leads) of the leads in an array'));
    PERFORM @extschema@._lk_execute_local(format('ALTER FUNCTION %s._lk_leads_of(%s[]) DEPENDS ON EXTENSION leadkpi', s, lead_type));
    IF stage_events IS NOT NULL THEN
        PERFORM @extschema@._lk_execute_local(format('CREATE FUNCTION %s._lk_events_of(ids %s[]) RETURNS TABLE (lead_id %s, stage text, occurred_at timestamptz, step integer) ' || body,
                       s, lead_type, lead_type,
                       format(CASE WHEN citus THEN plpgsql ELSE '%s' END, @extschema@._lk_events_select(stage_events, stages, tz, 'ids'))));
        PERFORM @extschema@._lk_execute_local(format('COMMENT ON FUNCTION %s._lk_events_of(%s[]) IS %L', s, lead_type,
                       'leadkpi lookup: the canonical stage events (as report_stage_events) of the leads in an array'));
        PERFORM @extschema@._lk_execute_local(format('ALTER FUNCTION %s._lk_events_of(%s[]) DEPENDS ON EXTENSION leadkpi', s, lead_type));
    END IF;

END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_stores(name, regclass, regclass, regclass, regclass, text[], interval, text, text, jsonb, interval) IS
'leadkpi internal: creates the stores of materialized reports (lead_facts, fine and coarse stores, report_state) and the lookups of changed leads, empty';
