
-----------------------------------------------------------------------------
-- Reports, materialized: the live rows.  A live report is the stored one
-- with the keys changed since the last refresh recomputed, in one statement
-- (one snapshot): a change committed before the reader's snapshot is either
-- in pending_changes (the trigger wrote it in the change's transaction) or
-- already in the stores (a refresh commits the stores and the consumed
-- changes together).  Per family (kpi, spend, funnel), a view
-- <family>_rows_live yields (month, segments, summary) rows whose rollup per
-- report key is the live report.  The report reads a top store (the coarse
-- store, or with team and owner the campaign store); its live rows are
--   1. the top store's rows of the keys no change touched,
--   2. the changed keys derived from their stored row and the summaries of
--      their changed leads as they were (lead_facts) and as they are now
--      (looked up by lead_id): stored - old + new (_lk_replace), exact,
--   3. the changed keys that cannot be derived so (a removed lead held the
--      shortest or longest cycle, or a funnel step no other changed lead
--      has), recomputed as before: the fine store's rows of their
--      unchanged days (one index range per month: OFFSET 0 keeps the
--      planner from a full scan), their changed days from the unchanged
--      leads in lead_facts and the changed leads now (a funnel key from its
--      leads' paths, funnel_agg over paths, see stores.sql),
--   4. while a full rebuild is pending (TRUNCATE, a table watched for
--      rebuilds), instead of 1-3: everything from the canonical views.
-- 2 reads only the changed leads, so a read costs the lookup of the changes
-- plus the stored report, whatever the size of the keys they fall in.
-----------------------------------------------------------------------------

-- The SQL of the changes pending for a schema: recorded by the triggers,
-- and read from the change columns.
CREATE OR REPLACE FUNCTION @extschema@._lk_pending_sql(target_schema name)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('(SELECT kind, lead_id, campaign, day FROM %1$s.pending_changes '
              'UNION ALL SELECT kind, lead_id, campaign, day FROM %1$s.changes_by_column)', quote_ident(target_schema));
COMMENT ON FUNCTION @extschema@._lk_pending_sql(name) IS
'leadkpi internal: the SQL of the changes pending for a report schema (triggers and change columns)';

-- The SQL of the live rows of the kpi or funnel family (see above).
CREATE OR REPLACE FUNCTION @extschema@._lk_live_rows_sql(target_schema name, family text, tz text, funnel_args text,
                                                         by_campaign boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    kpi boolean := family = 'kpi';
    v text := CASE WHEN kpi THEN 'summary' ELSE 'fs' END;
    segs text := array_to_string(@extschema@._lk_segments(), ', ');
    segs_f text := (SELECT string_agg('f.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    segs_d text := (SELECT string_agg('d.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    segs_m text := (SELECT string_agg('m.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    segs_l text := (SELECT string_agg('l.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    pending text := @extschema@._lk_pending_sql(target_schema);
    -- the aggregate over leads' facts (alias f): KPIs, or funnel paths
    agg text := CASE WHEN kpi THEN '@extschema@.kpi_agg(f.first_contact_at, f.converted_at, f.revenue)'
                     ELSE @extschema@._lk_path_agg_sql('f', funnel_args) END;
    -- the leads a key's summary counts: KPIs, those with a day; funnels,
    -- those with events (a path)
    only_days text := CASE WHEN kpi THEN ' AND f.day IS NOT NULL' ELSE ' AND f.path IS NOT NULL' END;
    kinds text := CASE WHEN kpi THEN quote_literal('lead') ELSE quote_literal('lead') || ', ' || quote_literal('event') END;
    -- funnel rows also carry seen, the mask of their events' steps (see _lk_store_seen)
    seen_agg text := CASE WHEN kpi THEN '' ELSE ', bit_or(f.seen)' END;
    fresh text;
    plain text;
    citus boolean;
    cond text;
    top text;
    in_top text;
BEGIN
    -- the changed leads as they are now
    fresh := @extschema@._lk_facts_sql(format('SELECT * FROM %s._lk_leads_of(ARRAY(SELECT lead_id FROM pend))', s),
                 CASE WHEN NOT kpi THEN format('SELECT * FROM %s._lk_events_of(ARRAY(SELECT lead_id FROM pend))', s) END, tz, funnel_args);
    -- while a full rebuild is pending: as the plain report computes it.
    -- Over Citus tables: the funnel in two levels (as funnel_reports.sql),
    -- and the test of the rebuild outside the aggregate, as Citus 13 on
    -- PostgreSQL 15 and 16 refuses an outer join under a constant qual
    -- (report_leads joins the orders); Citus then runs the aggregate on
    -- every read, partially on the workers (doc/citus.md)
    citus := @extschema@._lk_citus_distributed(format('%s.report_leads', s)::regclass)
             OR (NOT kpi AND @extschema@._lk_citus_distributed(format('%s.report_stage_events', s)::regclass));
    cond := CASE WHEN citus THEN 'true' ELSE '(SELECT yes FROM rebuild)' END;
    plain := CASE WHEN kpi
        THEN format('SELECT date_trunc(''month'', l.first_contact_at AT TIME ZONE %L)::date, %s, '
                    '@extschema@.kpi_agg(l.first_contact_at, l.converted_at, l.revenue) FROM %s.report_leads AS l '
                    'WHERE %s AND l.first_contact_at IS NOT NULL GROUP BY 1, %s', tz, segs_l, s, cond, segs_l)
        WHEN NOT citus
        THEN format('SELECT date_trunc(''month'', l.first_contact_at AT TIME ZONE %L)::date, %s, '
                    '@extschema@.funnel_agg(e.lead_id, e.occurred_at, e.step, %s), %s '
                    'FROM %s.report_stage_events AS e LEFT JOIN %s.report_leads AS l ON l.lead_id = e.lead_id '
                    'WHERE %s GROUP BY 1, %s', tz, segs_l, funnel_args, @extschema@._lk_funnel_seen_sql(), s, s, cond, segs_l)
        ELSE format('SELECT date_trunc(''month'', l.first_contact_at AT TIME ZONE %L)::date, %s, %s, coalesce(bit_or(p.seen), 0) '
                    'FROM (%s) AS p LEFT JOIN %s.report_leads AS l ON l.lead_id = p.lead_id '
                    'GROUP BY 1, %s', tz, segs_l, @extschema@._lk_funnel_path_agg_sql(funnel_args),
                    @extschema@._lk_funnel_paths_sql(target_schema, funnel_args), s, segs_l) END;
    IF citus THEN
        plain := format('SELECT * FROM (%s OFFSET 0) AS r WHERE (SELECT yes FROM rebuild)', plain);
    END IF;
    top := family || CASE WHEN by_campaign THEN '_monthly_campaign' ELSE '_monthly' END;
    -- day key x lies in top key b
    in_top := format('date_trunc(''month'', x.day::timestamp)::date IS NOT DISTINCT FROM b.month AND x.campaign IS NOT DISTINCT FROM b.campaign '
                     'AND x.channel IS NOT DISTINCT FROM b.channel%s',
                     CASE WHEN by_campaign THEN '' ELSE ' AND x.team IS NOT DISTINCT FROM b.team AND x.owner IS NOT DISTINCT FROM b.owner' END);
    RETURN
        -- the changes, the changed leads as they were (lead_facts, by
        -- = ANY: one probe per lead in index order, cheaper than a join
        -- with pend) and as they are now
        format('WITH pend AS MATERIALIZED (SELECT DISTINCT lead_id FROM %s AS p WHERE kind IN (%s) AND lead_id IS NOT NULL), ',
               pending, kinds)
     || format('rebuild AS MATERIALIZED (SELECT EXISTS (SELECT FROM %s AS p WHERE kind = %L) AS yes), ', pending, 'rebuild')
     || format('fresh AS MATERIALIZED (%s), ', fresh)
     || format('old AS MATERIALIZED (SELECT f.lead_id, f.day, %1$s, f.first_contact_at, f.converted_at, f.revenue, f.path, f.seen '
               'FROM %2$s.lead_facts AS f WHERE f.lead_id = ANY (ARRAY(SELECT lead_id FROM pend))%3$s), ', segs_f, s, only_days)
     || format('dirty_all AS MATERIALIZED (SELECT f.day, %1$s FROM old AS f UNION SELECT f.day, %1$s FROM fresh AS f WHERE true%2$s), ', segs_f, only_days)
        -- per changed top key: derived from its stored row and its changed
        -- leads as they were and are (NULL where that is not exact)
     || format('r AS MATERIALIZED (SELECT x.month, x.campaign, x.channel, x.team, x.owner, x.%I AS v%s FROM (%s) AS x WHERE NOT (SELECT yes FROM rebuild)), ',
               v, CASE WHEN kpi THEN '' ELSE ', x.seen' END,
               @extschema@._lk_replaced_rows_sql(target_schema, top, 'month', family, funnel_args,
                   '(SELECT true AS was, f.* FROM old AS f UNION ALL SELECT false, f.* FROM fresh AS f)', by_campaign))
        -- the top keys not derived exactly, and their changed days and months
     || 'bad AS MATERIALIZED (SELECT month, campaign, channel, team, owner FROM r WHERE v IS NULL), '
     || format('dirty AS MATERIALIZED (SELECT x.* FROM dirty_all AS x WHERE EXISTS (SELECT FROM bad AS b WHERE %s)), ', in_top)
     || format('months AS MATERIALIZED (SELECT DISTINCT date_trunc(''month'', day::timestamp)::date AS month, %s FROM dirty) ', segs)
        -- 1. the stored top rows of the keys no change touched
     || format('SELECT m.month, %s, m.%I%s FROM %s.%I AS m WHERE NOT (SELECT yes FROM rebuild) AND (%s) NOT IN (SELECT %s FROM r AS d) ',
               segs_m, v, CASE WHEN kpi THEN '' ELSE ', m.seen' END, s, top, @extschema@._lk_key_tuple('m', 'month'), @extschema@._lk_key_tuple('d', 'month'))
        -- 2. the changed keys derived exactly
     || format('UNION ALL SELECT r.month, r.campaign, r.channel, r.team, r.owner, r.v%s FROM r WHERE r.v IS NOT NULL ',
               CASE WHEN kpi THEN '' ELSE ', r.seen' END)
        -- 3. the others recomputed: by_campaign, the monthly rows of the
        --    key that did not change
     || CASE WHEN NOT by_campaign THEN '' ELSE
        format('UNION ALL SELECT f.month, %1$s, f.%2$I%3$s FROM bad AS d CROSS JOIN LATERAL (SELECT * FROM %4$s.%5$I AS f WHERE %6$s OFFSET 0) AS f '
               'WHERE NOT (SELECT yes FROM rebuild) AND (%7$s) NOT IN (SELECT %8$s FROM months AS x) ',
               segs_f, v, CASE WHEN kpi THEN '' ELSE ', f.seen' END, s, family || '_monthly', @extschema@._lk_campaign_match('f', 'd'),
               @extschema@._lk_key_tuple('f', 'month'), @extschema@._lk_key_tuple('x', 'month'))
        END
        --    the stored days of the months that did not change
     || format('UNION ALL SELECT date_trunc(''month'', f.day::timestamp)::date, %s, f.%I%s '
               'FROM months AS d CROSS JOIN LATERAL (SELECT * FROM %s.%I AS f WHERE %s OFFSET 0) AS f '
               'WHERE NOT (SELECT yes FROM rebuild) AND (%s) NOT IN (SELECT %s FROM dirty AS x) ',
               segs_f, v, CASE WHEN kpi THEN '' ELSE ', f.seen' END, s, family || '_daily', @extschema@._lk_in_month('f', 'd'),
               @extschema@._lk_key_tuple('f', 'day'), @extschema@._lk_key_tuple('x', 'day'))
        --    the changed days: their unchanged leads from lead_facts (an
        --    index range and an aggregate per day), and the changed leads
        --    now; the two summaries of a day cover disjoint leads, so they
        --    roll up
     || format('UNION ALL SELECT date_trunc(''month'', d.day::timestamp)::date, %s, x.v%s FROM dirty AS d '
               'CROSS JOIN LATERAL (SELECT %s AS v%s FROM %s.lead_facts AS f WHERE %s%s AND f.lead_id NOT IN (SELECT lead_id FROM pend)) AS x '
               'WHERE NOT (SELECT yes FROM rebuild) AND x.v IS NOT NULL ',
               segs_d, CASE WHEN kpi THEN '' ELSE ', x.seen' END, agg, CASE WHEN kpi THEN '' ELSE seen_agg || ' AS seen' END, s,
               @extschema@._lk_key_match('f', 'day', 'd', 'day'), CASE WHEN kpi THEN '' ELSE only_days END)
     || format('UNION ALL SELECT date_trunc(''month'', f.day::timestamp)::date, %1$s, %2$s%4$s FROM fresh AS f '
               'WHERE NOT (SELECT yes FROM rebuild)%3$s AND (%5$s) IN (SELECT %6$s FROM dirty AS x) GROUP BY f.day, %1$s ',
               segs_f, agg, only_days, seen_agg, @extschema@._lk_key_tuple('f', 'day'), @extschema@._lk_key_tuple('x', 'day'))
        -- 4. instead of 1-3, while a full rebuild is pending
     || 'UNION ALL ' || plain;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_live_rows_sql(name, text, text, text, boolean) IS
'leadkpi internal: the SQL of the live rows of the KPI or funnel stores: stored rows of unchanged keys plus the changed keys recomputed';

-- The SQL of the condition that the spend (or spend store) row f, with its
-- day in time_expr, is matched by a recorded spend change of the CTE sp
-- (campaign, day; a NULL matches all), given w (see _lk_live_spend_sql):
-- hashed subplans, so a few hundred changes cost a lookup per row; never
-- NULL (a row without a campaign is matched by a change without one).
CREATE OR REPLACE FUNCTION @extschema@._lk_spend_touched(f text, time_expr text, sp_time text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('(coalesce((%1$I.campaign, %2$s) IN (SELECT campaign, %3$s FROM sp WHERE campaign IS NOT NULL AND day IS NOT NULL), false)'
              ' OR coalesce(%2$s IN (SELECT %3$s FROM sp WHERE campaign IS NULL AND day IS NOT NULL), false)'
              ' OR coalesce(%1$I.campaign IN (SELECT campaign FROM sp WHERE day IS NULL AND campaign IS NOT NULL), false)'
              ' OR (SELECT all_keys FROM w))', f, time_expr, sp_time);
COMMENT ON FUNCTION @extschema@._lk_spend_touched(text, text, text) IS
'leadkpi internal: the SQL of the condition that a spend row (or month) is matched by a recorded spend change';

-- The SQL of w, what the spend changes in sp span: all_keys (a change
-- with neither campaign nor day), all_days (a change without a day), the
-- days from lo to hi, the whole months of the changes' days when grain is
-- month (every day when a change has no day), and exact (every change
-- names a campaign and a day).
CREATE OR REPLACE FUNCTION @extschema@._lk_spend_bounds_sql(grain text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('SELECT coalesce(bool_or(campaign IS NULL AND day IS NULL), false) AS all_keys, '
              'coalesce(bool_or(day IS NULL), false) AS all_days, '
              'CASE WHEN bool_or(day IS NULL) THEN ''-infinity''::date ELSE %s END AS lo, '
              'CASE WHEN bool_or(day IS NULL) THEN ''infinity''::date ELSE %s END AS hi, '
              'coalesce(bool_and(campaign IS NOT NULL AND day IS NOT NULL), true) AS exact FROM sp',
              CASE grain WHEN 'month' THEN 'date_trunc(''month'', min(day)::timestamp)::date' ELSE 'min(day)' END,
              CASE grain WHEN 'month' THEN '(date_trunc(''month'', max(day)::timestamp) + interval ''1 month -1 day'')::date' ELSE 'max(day)' END);
COMMENT ON FUNCTION @extschema@._lk_spend_bounds_sql(text) IS
'leadkpi internal: the SQL of the span of the recorded spend changes (days, or whole months)';

-- The SQL of the live spend rows: the stored months no recorded (campaign,
-- day) change matches, the stored days of the matched months that no
-- change matches, and the matched days read now from report_spend.  The
-- stored days are read per changed (campaign, month) by the store's
-- (campaign, day) index when every change names both (a day's spend and a
-- few late rows: a few hundred rows, where the range from the earliest
-- changed month to the latest holds every campaign's days), else bounded
-- by the changes' months; report_spend is read by
-- the changes' days (= ANY: an index on the day serves whatever the
-- estimates, and a few corrected past days do not widen it to a range),
-- or whole when a change has no day or a full rebuild is pending.
CREATE OR REPLACE FUNCTION @extschema@._lk_live_spend_sql(target_schema name)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format($q$
WITH sp AS MATERIALIZED (
    SELECT DISTINCT campaign, day FROM %1$s AS p WHERE kind = 'spend'),
rebuild AS MATERIALIZED (
    SELECT EXISTS (SELECT FROM %1$s AS p WHERE kind = 'rebuild') AS yes),
w AS MATERIALIZED (%8$s)
SELECT m.month, %3$s, m.summary FROM %2$s.spend_monthly AS m
 WHERE NOT (SELECT yes FROM rebuild) AND NOT %5$s
UNION ALL
SELECT date_trunc('month', f.day::timestamp)::date, %4$s, f.summary
  FROM (SELECT DISTINCT campaign, date_trunc('month', day::timestamp)::date AS month FROM sp) AS k
 CROSS JOIN LATERAL (SELECT * FROM %2$s.spend_daily AS f WHERE f.campaign = k.campaign AND f.day >= k.month
                        AND f.day <= (k.month + interval '1 month -1 day')::date OFFSET 0) AS f
 WHERE NOT (SELECT yes FROM rebuild) AND (SELECT exact FROM w) AND NOT %7$s
UNION ALL
SELECT date_trunc('month', f.day::timestamp)::date, %4$s, f.summary FROM %2$s.spend_daily AS f
 WHERE NOT (SELECT yes FROM rebuild) AND NOT (SELECT exact FROM w) AND f.day BETWEEN (SELECT lo FROM w) AND (SELECT hi FROM w)
   AND %6$s AND NOT %7$s
UNION ALL
SELECT date_trunc('month', f.day::timestamp)::date, %4$s, @extschema@.spend_agg(f.amount)
  FROM %2$s.report_spend AS f
 WHERE NOT (SELECT yes FROM rebuild) AND NOT (SELECT all_days FROM w) AND f.day = ANY (ARRAY(SELECT DISTINCT day FROM sp)) AND %7$s
 GROUP BY 1, %4$s
UNION ALL
SELECT date_trunc('month', f.day::timestamp)::date, %4$s, @extschema@.spend_agg(f.amount) FROM %2$s.report_spend AS f
 WHERE NOT (SELECT yes FROM rebuild) AND (SELECT all_days FROM w) AND %7$s
 GROUP BY 1, %4$s
UNION ALL
SELECT date_trunc('month', f.day::timestamp)::date, %4$s, @extschema@.spend_agg(f.amount) FROM %2$s.report_spend AS f
 WHERE (SELECT yes FROM rebuild)
 GROUP BY 1, %4$s$q$,
    @extschema@._lk_pending_sql(target_schema), quote_ident(target_schema),
    (SELECT string_agg('m.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
    (SELECT string_agg('f.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
    @extschema@._lk_spend_touched('m', 'm.month', 'date_trunc(''month'', day::timestamp)::date'),
    @extschema@._lk_spend_touched('f', 'date_trunc(''month'', f.day::timestamp)::date', 'date_trunc(''month'', day::timestamp)::date'),
    @extschema@._lk_spend_touched('f', 'f.day', 'day'),
    @extschema@._lk_spend_bounds_sql('month'));
COMMENT ON FUNCTION @extschema@._lk_live_spend_sql(name) IS
'leadkpi internal: the SQL of the live spend rows: stored spend of unchanged days plus the changed days read now';

-- Creates <family>_rows_live: a view over a function running the live rows'
-- query.  The function (PL/pgSQL, so its plan is prepared once per session)
-- runs with JIT off: the query's cost counts the canonical-view branch of a
-- pending full rebuild, which never runs otherwise, and JIT would spend far
-- more compiling than the query takes.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_rows_live(target_schema name, family text, summary_type text, query text, what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    fn text := format('%s.%I', s, '_lk_' || family || '_rows_live');
    funnel boolean := family LIKE 'funnel%';
    value_col text := CASE WHEN funnel THEN 'fs' ELSE 'summary' END;
BEGIN
    PERFORM @extschema@._lk_execute_local(format('CREATE OR REPLACE FUNCTION %s() RETURNS TABLE (month date, %s, %I @extschema@.%s%s) '
                   'LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit = off '
                   'AS %L', fn,
                   (SELECT string_agg(quote_ident(c) || ' text', ', ') FROM unnest(@extschema@._lk_segments()) AS c),
                   value_col, summary_type, CASE WHEN funnel THEN ', seen bigint' ELSE '' END,
                   -- the result columns are named like the query's columns
                   format(E'#variable_conflict use_column\nBEGIN\n    RETURN QUERY %s;\nEND', query)));
    PERFORM @extschema@._lk_execute_local(format('COMMENT ON FUNCTION %s() IS %L', fn, 'leadkpi lookup: the live rows of ' || family || ' (see the view ' || family || '_rows_live)'));
    PERFORM @extschema@._lk_execute_local(format('ALTER FUNCTION %s() DEPENDS ON EXTENSION leadkpi', fn));
    -- (local to the coordinator too, with the function: see _lk_execute_local)
    PERFORM @extschema@._lk_execute_local(format('CREATE OR REPLACE VIEW %s.%I WITH (security_invoker = true) AS SELECT * FROM %s()', s, family || '_rows_live', fn));
    PERFORM @extschema@._lk_execute_local(format('COMMENT ON VIEW %s.%I IS %L', s, family || '_rows_live', 'leadkpi live rows: ' || what));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_rows_live(name, text, text, text, text) IS
'leadkpi internal: creates a live rows view over a PL/pgSQL function (plan kept per session, JIT off) running its query';

-- Creates kpi_rows_live, spend_rows_live and funnel_rows_live (those the
-- inputs allow) and report_status in target_schema.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_live_rows(
    target_schema name, spend regclass, stage_events regclass, stages text[], conversion_window interval, funnel_modes text, tz text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    segs text := array_to_string(@extschema@._lk_segments(), ', ');
BEGIN
    PERFORM @extschema@._lk_create_rows_live(target_schema, 'kpi', 'kpi_summary',
        @extschema@._lk_live_rows_sql(target_schema, 'kpi', tz, NULL),
        format('kpi_summary per (month, %s): kpi_monthly with the keys changed since the last refresh recomputed', segs));
    IF spend IS NOT NULL THEN
        PERFORM @extschema@._lk_create_rows_live(target_schema, 'spend', 'kpi_summary', @extschema@._lk_live_spend_sql(target_schema),
            format('spend summary per (month, %s): spend_monthly with the days changed since the last refresh read now', segs));
    END IF;
    IF stage_events IS NOT NULL THEN
        PERFORM @extschema@._lk_create_rows_live(target_schema, 'funnel', 'funnel_summary',
            @extschema@._lk_live_rows_sql(target_schema, 'funnel', tz,
                format('%L::interval, %L, %s', conversion_window, coalesce(funnel_modes, ''), cardinality(stages))),
            format('funnel_summary per (month, %s): funnel_monthly with the keys changed since the last refresh recomputed', segs));
    END IF;
    -- with team and owner: the live rows of the stores without them, which
    -- the reports not by team or owner read (rows per month and segments
    -- still, fewer: the unchanged (month, campaign, channel) keys whole)
    IF to_regclass(format('%s.kpi_monthly_campaign', s)) IS NOT NULL THEN
        PERFORM @extschema@._lk_create_rows_live(target_schema, 'kpi_campaign', 'kpi_summary',
            @extschema@._lk_live_rows_sql(target_schema, 'kpi', tz, NULL, true),
            format('kpi_summary per (month, %s) to roll up over team and owner: kpi_monthly_campaign with the keys changed since the last refresh recomputed', segs));
    END IF;
    IF to_regclass(format('%s.funnel_monthly_campaign', s)) IS NOT NULL THEN
        PERFORM @extschema@._lk_create_rows_live(target_schema, 'funnel_campaign', 'funnel_summary',
            @extschema@._lk_live_rows_sql(target_schema, 'funnel', tz,
                format('%L::interval, %L, %s', conversion_window, coalesce(funnel_modes, ''), cardinality(stages)), true),
            format('funnel_summary per (month, %s) to roll up over team and owner: funnel_monthly_campaign with the keys changed since the last refresh recomputed', segs));
    END IF;
    EXECUTE format($q$CREATE VIEW %1$s.report_status WITH (security_invoker = true) AS
        SELECT st.refreshed_at, st.rebuilt_at,
               (SELECT count(*) FROM %1$s.pending_changes) AS pending_changes,
               (SELECT count(DISTINCT lead_id) FROM %2$s AS p WHERE kind IN ('lead', 'event')) AS pending_leads,
               (SELECT count(*) FROM %2$s AS p WHERE kind = 'spend') AS pending_spend_keys,
               EXISTS (SELECT FROM %2$s AS p WHERE kind = 'rebuild') AS rebuild_pending,
               (SELECT min(noted_at) FROM %1$s.pending_changes) AS oldest_pending_at,
               st.changes_since - st.look_back AS change_columns_since,
               st.last_refresh, st.config -> 'watch' AS watch, st.config - 'watch' AS mapping
          FROM %1$s.report_state AS st$q$, s, @extschema@._lk_pending_sql(target_schema));
    EXECUTE format('COMMENT ON VIEW %s.report_status IS %L', s,
        'leadkpi status: last refresh and full rebuild, changes pending (recorded and by change column), what the last refresh did, the watched tables and the mapping');
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_live_rows(name, regclass, regclass, text[], interval, text, text) IS
'leadkpi internal: creates the live rows views (kpi, spend, funnel) and report_status of a materialized report schema';
