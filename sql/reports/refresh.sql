
-----------------------------------------------------------------------------
-- Reports: refresh_reports(), which brings the stores of a materialized
-- report schema (stores.sql) up to date in one transaction.
--
-- An incremental refresh takes the changes recorded since the last one
-- (changes.sql), looks up the changed leads in the canonical views, writes
-- those whose facts differ into lead_facts, and brings the rows of every key
-- such a lead left or entered up to date, in the fine, coarse and campaign
-- stores: derived from the stored row and the changed leads as they were
-- and are (stored - old + new, _lk_replace) where that is exact, else
-- recomputed from the key's leads; it writes only the rows whose summary
-- changed.  Both ways give the key's summary of its current leads, so a
-- change seen twice is harmless and two refreshes cannot double-count (they
-- are serialized anyway, by the schema's advisory lock).  A full rebuild
-- (full => true, or after a TRUNCATE or a
-- change of a table watched for rebuilds) compares every lead and
-- recomputes every key, writing only what differs.  Readers are never
-- blocked: no TRUNCATE, no DDL, no REFRESH MATERIALIZED VIEW; they see the
-- old stores or the new ones.
-----------------------------------------------------------------------------

-- Writes the recomputed rows of a store for a set of keys: deletes the
-- stored rows of those keys that are gone or differ, inserts the new rows
-- that are not stored.  keys and fresh name temporary tables with the
-- store's key columns (fresh also its summary); keys NULL: every key, fresh
-- holding all rows.  Returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@._lk_store_write(target_schema name, store text, time_col text, value_col text, keys text, fresh text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    value_type text := (SELECT d.value_type FROM @extschema@._lk_stores_def() AS d WHERE d.name = store);
    seen boolean := @extschema@._lk_store_seen(store);
    n_del bigint;
    n_ins bigint;
BEGIN
    -- summaries compared by their binary form: equal bytes are equal
    -- summaries, and much cheaper to compare than = (which prints both)
    IF keys IS NULL THEN
        -- every key: one hash join of the store with the fresh rows, on the
        -- key's exactly comparable values, gives the rows that differ
        EXECUTE format('CREATE TEMP TABLE lk_diff ON COMMIT DROP AS SELECT t.ctid AS tid, n.* FROM %1$s.%2$I AS t FULL JOIN %3$s AS n ON %4$s '
                       'WHERE t.ctid IS NULL OR n.%5$I IS NULL OR @extschema@.%6$s(t.%5$I) <> @extschema@.%6$s(n.%5$I)%7$s',
                       s, store, fresh, @extschema@._lk_key_equal('t', 'n', time_col), value_col, value_type || '_send',
                       CASE WHEN seen THEN ' OR t.seen <> n.seen' ELSE '' END);
        EXECUTE format('DELETE FROM %s.%I AS t USING lk_diff AS d WHERE t.ctid = d.tid', s, store);
        GET DIAGNOSTICS n_del = ROW_COUNT;
        EXECUTE format('INSERT INTO %s.%I SELECT %s FROM lk_diff WHERE %I IS NOT NULL', s, store,
                       array_to_string(ARRAY[time_col] || @extschema@._lk_segments() || value_col
                                       || CASE WHEN seen THEN ARRAY['seen'] ELSE '{}' END, ', '), value_col);
        GET DIAGNOSTICS n_ins = ROW_COUNT;
        DROP TABLE lk_diff;
        RETURN n_del + n_ins;
    END IF;
    -- the stored rows of the keys (one index scan each; OFFSET 0 keeps it
    -- so) that are not among the fresh rows (NOT IN: a hashed subplan)
    EXECUTE format('DELETE FROM %1$s.%2$I AS t USING (SELECT x.ctid AS tid FROM %3$s AS x WHERE (%4$s, @extschema@.%5$s(x.%6$I)%9$s) '
                   'NOT IN (SELECT %7$s, @extschema@.%5$s(n.%6$I)%10$s FROM %8$s AS n)) AS d WHERE t.ctid = d.tid',
                   s, store,
                   format('(SELECT y.* FROM %s AS k CROSS JOIN LATERAL (SELECT t.ctid, t.* FROM %s.%I AS t WHERE %s OFFSET 0) AS y)',
                          keys, s, store, @extschema@._lk_key_match('t', time_col, 'k', time_col)),
                   @extschema@._lk_key_tuple('x', time_col), value_type || '_send', value_col,
                   @extschema@._lk_key_tuple('n', time_col), fresh,
                   CASE WHEN seen THEN ', x.seen' ELSE '' END, CASE WHEN seen THEN ', n.seen' ELSE '' END);
    GET DIAGNOSTICS n_del = ROW_COUNT;
    -- the fresh rows not stored (any more): one index probe each
    EXECUTE format('INSERT INTO %s.%I SELECT n.* FROM %s AS n WHERE NOT EXISTS (SELECT FROM %s.%I AS t WHERE %s)',
                   s, store, fresh, s, store, @extschema@._lk_key_match('t', time_col, 'n', time_col));
    GET DIAGNOSTICS n_ins = ROW_COUNT;
    RETURN n_del + n_ins;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_store_write(name, text, text, text, text, text) IS
'leadkpi internal: replaces a store''s rows of a set of keys by recomputed ones, writing only rows that differ';

-- Creates temporary table result with a store's fresh rows of the keys in
-- temporary table keys: those _lk_replaced_rows_sql derives exactly from
-- the changed leads in delta, and for the others (temporary table
-- lk_underived, the keys' columns) the rows of recompute, SQL over
-- lk_underived.  A key left without rows has none (the store write then
-- deletes its row).  Counts both in temporary table lk_derive_stats.
CREATE OR REPLACE FUNCTION @extschema@._lk_derive_rows(target_schema name, store text, time_col text, family text, funnel_args text,
                                                       delta text, by_campaign boolean, keys text, result text, recompute text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := CASE WHEN family = 'kpi' THEN 'summary' ELSE 'fs' END;
BEGIN
    DROP TABLE IF EXISTS lk_derived, lk_underived;
    EXECUTE format('CREATE TEMP TABLE lk_derived ON COMMIT DROP AS %s',
                   @extschema@._lk_replaced_rows_sql(target_schema, store, time_col, family, funnel_args,
                                                     format('(SELECT * FROM %s WHERE %s)', delta, family), by_campaign));
    EXECUTE format('CREATE TEMP TABLE lk_underived ON COMMIT DROP AS SELECT k.* FROM %s AS k WHERE (%s) NOT IN (SELECT %s FROM lk_derived AS x WHERE x.%I IS NOT NULL)',
                   keys, @extschema@._lk_key_tuple('k', time_col), @extschema@._lk_key_tuple('x', time_col), v);
    ANALYZE lk_underived;
    EXECUTE format('INSERT INTO lk_derive_stats SELECT %L, (SELECT count(*) FROM lk_derived WHERE %I IS NOT NULL), (SELECT count(*) FROM lk_underived)', store, v);
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT * FROM lk_derived WHERE %I IS NOT NULL UNION ALL %s', result, v, recompute);
    DROP TABLE lk_derived, lk_underived;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_derive_rows(name, text, text, text, text, text, boolean, text, text, text) IS
'leadkpi internal: a store''s fresh rows of a set of keys: derived from the changed leads where exact, recomputed for the others';

-- Recomputes a fine store's rows of the keys in temporary table keys (day
-- and segments; every key when keys is NULL, or when they are more than a
-- quarter of the store) from lead_facts (report_spend for spend), the
-- coarse rows of their months, and writes both.  With delta (a table of the
-- changed leads' facts as they were and are, see _lk_replaced_rows_sql),
-- each level's rows of the keys are derived from their stored rows and the
-- changed leads alone where that is exact, and only the others recomputed.
-- Returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@._lk_refresh_family(target_schema name, fine text, keys text, funnel_args text, delta text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    d record;
    c record;
    segs text := (SELECT string_agg(quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    written bigint := 0;
    hashagg text;
    many boolean;
    fraction text;
    rollup_sql text;
BEGIN
    SELECT * INTO d FROM @extschema@._lk_stores_def() AS x WHERE x.name = _lk_refresh_family.fine;
    SELECT * INTO c FROM @extschema@._lk_stores_def() AS x WHERE x.fine = _lk_refresh_family.fine;
    -- many keys (a first fill, a large change): every key at once is cheaper
    -- than one index scan per key; many is more than
    -- leadkpi.refresh_all_keys_fraction of the store (a quarter by default)
    IF keys IS NOT NULL THEN
        fraction := coalesce(nullif(current_setting('leadkpi.refresh_all_keys_fraction', true), ''), '0.25');
        IF fraction !~ '^\s*[0-9]+(\.[0-9]*)?\s*$' THEN
            RAISE EXCEPTION 'leadkpi: leadkpi.refresh_all_keys_fraction is %, not a number of at least 0', quote_literal(fraction)
                USING ERRCODE = '22023', HINT = 'Set it to the share of a store''s keys above which a refresh recomputes the whole store, e.g. 0.25 (the default).';
        END IF;
        EXECUTE format('SELECT count(*) > %s * greatest((SELECT reltuples FROM pg_class WHERE oid = %L::regclass), 0) FROM %s',
                       fraction::float8, format('%s.%I', s, fine), keys) INTO many;
        IF many THEN
            keys := NULL;
        END IF;
    END IF;
    -- funnel summaries grouped by sorting (on the key index's order):
    -- funnel_agg keeps a sizeable state per group, which a hash table of
    -- every key at once would hold together
    hashagg := current_setting('enable_hashagg');
    IF d.family = 'funnel' THEN
        PERFORM set_config('enable_hashagg', 'off', true);
    END IF;
    IF keys IS NULL OR delta IS NULL OR d.family = 'spend' THEN
        delta := NULL;
        EXECUTE format('CREATE TEMP TABLE lk_fresh_rows ON COMMIT DROP AS %s',
                       @extschema@._lk_fine_rows_sql(target_schema, fine, funnel_args, format('%s.lead_facts', s), keys));
    ELSE
        -- the keys derived exactly, and the others recomputed
        PERFORM @extschema@._lk_derive_rows(target_schema, fine, 'day', d.family, funnel_args, delta, false, keys, 'lk_fresh_rows',
                                            @extschema@._lk_fine_rows_sql(target_schema, fine, funnel_args, format('%s.lead_facts', s), 'lk_underived'));
    END IF;
    PERFORM set_config('enable_hashagg', hashagg, true);
    EXECUTE format('ANALYZE lk_fresh_rows (day, %s)', segs);
    written := @extschema@._lk_store_write(target_schema, fine, 'day', d.value_col, keys, 'lk_fresh_rows');

    IF keys IS NULL THEN
        -- every month: the rollup of the fresh fine rows
        EXECUTE format('CREATE TEMP TABLE lk_fresh_months ON COMMIT DROP AS '
                       'SELECT date_trunc(''month'', f.day::timestamp)::date AS month, %1$s, @extschema@.rollup(f.%2$I) AS %2$I%3$s '
                       'FROM lk_fresh_rows AS f GROUP BY 1, %1$s', segs, d.value_col,
                       CASE WHEN @extschema@._lk_store_seen(fine) THEN ', bit_or(f.seen) AS seen' ELSE '' END);
    ELSE
        -- the months of the keys, from the fine store
        EXECUTE format('CREATE TEMP TABLE lk_months ON COMMIT DROP AS SELECT DISTINCT date_trunc(''month'', day::timestamp)::date AS month, %s FROM %s',
                       segs, keys);
        EXECUTE format('ANALYZE lk_months (month, %s)', segs);
        IF delta IS NULL THEN
            EXECUTE format('CREATE TEMP TABLE lk_fresh_months ON COMMIT DROP AS %s',
                           @extschema@._lk_coarse_rows_sql(target_schema, fine, d.value_col, 'lk_months'));
        ELSE
            PERFORM @extschema@._lk_derive_rows(target_schema, c.name, 'month', d.family, funnel_args, delta, false, 'lk_months', 'lk_fresh_months',
                                                @extschema@._lk_coarse_rows_sql(target_schema, fine, d.value_col, 'lk_underived'));
        END IF;
    END IF;
    written := written + @extschema@._lk_store_write(target_schema, c.name, 'month', c.value_col,
                                                      CASE WHEN keys IS NOT NULL THEN 'lk_months' END, 'lk_fresh_months');

    -- the store without team and owner (when the leads have them): the
    -- rollup of the coarse rows of each (month, campaign, channel) changed
    IF to_regclass(format('%s.%I', s, c.name || '_campaign')) IS NOT NULL THEN
        IF keys IS NULL THEN
            EXECUTE format('CREATE TEMP TABLE lk_fresh_campaign ON COMMIT DROP AS '
                           'SELECT month, campaign, channel, NULL::text AS team, NULL::text AS owner, @extschema@.rollup(%1$I) AS %1$I%2$s '
                           'FROM lk_fresh_months GROUP BY month, campaign, channel', c.value_col,
                           CASE WHEN @extschema@._lk_store_seen(c.name) THEN ', bit_or(seen) AS seen' ELSE '' END);
        ELSE
            CREATE TEMP TABLE lk_campaign_months ON COMMIT DROP AS
                SELECT DISTINCT month, campaign, channel, NULL::text AS team, NULL::text AS owner FROM lk_months;
            ANALYZE lk_campaign_months;
            rollup_sql := format('SELECT k.month, k.campaign, k.channel, NULL::text AS team, NULL::text AS owner, @extschema@.rollup(f.%1$I) AS %1$I%2$s '
                                 'FROM %%s AS k CROSS JOIN LATERAL (SELECT * FROM %3$s.%4$I AS f WHERE %5$s OFFSET 0) AS f '
                                 'GROUP BY k.month, k.campaign, k.channel', c.value_col,
                                 CASE WHEN @extschema@._lk_store_seen(c.name) THEN ', bit_or(f.seen) AS seen' ELSE '' END,
                                 s, c.name, @extschema@._lk_campaign_match('f', 'k'));
            IF delta IS NULL THEN
                EXECUTE format('CREATE TEMP TABLE lk_fresh_campaign ON COMMIT DROP AS ' || rollup_sql, 'lk_campaign_months');
            ELSE
                PERFORM @extschema@._lk_derive_rows(target_schema, c.name || '_campaign', 'month', d.family, funnel_args, delta, true,
                                                    'lk_campaign_months', 'lk_fresh_campaign', format(rollup_sql, 'lk_underived'));
            END IF;
        END IF;
        written := written + @extschema@._lk_store_write(target_schema, c.name || '_campaign', 'month', c.value_col,
                                                          CASE WHEN keys IS NOT NULL THEN 'lk_campaign_months' END, 'lk_fresh_campaign');
    END IF;
    DROP TABLE IF EXISTS lk_fresh_rows, lk_months, lk_fresh_months, lk_campaign_months, lk_fresh_campaign;
    RETURN written;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_refresh_family(name, text, text, text, text) IS
'leadkpi internal: recomputes a fine store''s rows of a set of keys (or all) and the coarse rows of their months, writing only what differs';

-- One refresh of target_schema (the caller holds the schema's lock):
-- incremental, or full.  Returns what it did, as report_state.last_refresh.
CREATE OR REPLACE FUNCTION @extschema@._lk_refresh(target_schema name, full_rebuild boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
-- its statements are many and mostly small; JIT would compile each
SET jit = off
AS $$
DECLARE
    s text := quote_ident(target_schema);
    cfg jsonb;
    lead_type text;
    tz text;
    funnel_args text;
    segs text := (SELECT string_agg(quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x);
    t0 timestamptz := clock_timestamp();
    rebuild boolean;
    n_changes bigint;
    n_leads bigint;
    n_moved bigint;
    n_kpi_keys bigint := 0;
    n_funnel_keys bigint := 0;
    n_spend_keys bigint := 0;
    written bigint := 0;
    n_forecast bigint := 0;
    forecast_as_of timestamptz;
    old_src text;
    fresh_src text;
    bad text;
    stats jsonb;
    compression text := current_setting('default_toast_compression');
    differs text;  -- o's facts differ from n's
    hashagg text;
    -- lead_facts' columns
    facts CONSTANT text[] := ARRAY['lead_id', 'day'] || @extschema@._lk_segments() || ARRAY['first_contact_at', 'converted_at', 'revenue', 'path', 'seen'];
    delta text;  -- the moved leads as they were and are (incrementally)
BEGIN
    -- summaries of a few kB (a month's funnel) are compressed as they are
    -- written, to the stores and the temporary tables: lz4, where the server
    -- has it, does that several times faster than pglz (a day's refresh of
    -- the 2M-lead benchmark: its monthly funnel rows 40 -> 15 ms)
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        PERFORM set_config('default_toast_compression', 'lz4', true);
    END IF;
    EXECUTE format('SELECT config, (last_refresh ->> ''forecast_as_of'')::timestamptz FROM %s.report_state', s)
       INTO cfg, forecast_as_of;
    lead_type := cfg ->> 'lead_type';
    tz := cfg ->> 'time_zone';
    funnel_args := cfg ->> 'funnel_args';
    DROP TABLE IF EXISTS lk_changes, lk_ids, lk_pair, lk_fresh, lk_moved, lk_old, lk_delta, lk_derive_stats, lk_kpi_keys, lk_funnel_keys, lk_spend_keys, lk_spend_rows;
    CREATE TEMP TABLE lk_derive_stats (store text, derived bigint, recomputed bigint) ON COMMIT DROP;

    -- 1. the changes: those recorded so far (rows committed later stay for
    --    the next refresh) and the rows of change-column tables since the
    --    last refresh minus the look-back window, which moves to now
    EXECUTE format('CREATE TEMP TABLE lk_changes (kind text, lead_id %s, campaign text, day date) ON COMMIT DROP', lead_type);
    EXECUTE format('WITH d AS (DELETE FROM %s.pending_changes RETURNING kind, lead_id, campaign, day) '
                   'INSERT INTO lk_changes SELECT * FROM d UNION ALL SELECT kind, lead_id, campaign, day FROM %s.changes_by_column', s, s);
    GET DIAGNOSTICS n_changes = ROW_COUNT;
    EXECUTE format('UPDATE %s.report_state SET changes_since = now()', s);
    rebuild := full_rebuild OR EXISTS (SELECT FROM lk_changes WHERE kind = 'rebuild');

    -- 2. the changed leads' facts, stored and current
    differs := format('(o.day, %s, o.first_contact_at, o.converted_at, o.revenue::text, o.path, o.seen) IS DISTINCT FROM '
                      '(n.day, %s, n.first_contact_at, n.converted_at, n.revenue::text, n.path, n.seen)',
                      (SELECT string_agg('o.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
                      (SELECT string_agg('n.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x));
    IF rebuild THEN
        -- every lead's facts are computed and compared with the stored ones
        -- in one pass, which keeps only the leads whose facts differ (as
        -- they were: the o_ columns, and are: the rest), not a copy of
        -- every lead (the benchmark's full rebuild at 2M leads: 7.2-8.8 ->
        -- 6.3 s).  o's columns one by one: a whole-row o would double the
        -- hash of lead_facts, which runs in batches at the default work_mem
        -- (in memory it measured slower).  The events are grouped by
        -- sorting, or in lead_id order from an index, never hashed: a hash
        -- table of every lead's funnel_path state spills to disk (8.1
        -- against 6.0 s), and ANALYZE's sample tipped the planner to it
        -- from one run to the next.
        hashagg := current_setting('enable_hashagg');
        PERFORM set_config('enable_hashagg', 'off', true);
        EXECUTE format('CREATE TEMP TABLE lk_pair ON COMMIT DROP AS SELECT %s, n.* FROM %s.lead_facts AS o '
                       'FULL JOIN (SELECT true AS present, f.* FROM (%s) AS f) AS n ON n.lead_id = o.lead_id WHERE %s',
                       (SELECT string_agg(format('o.%1$I AS %2$I', x, 'o_' || x), ', ') FROM unnest(facts) AS x),
                       s, @extschema@._lk_facts_sql(format('SELECT * FROM %s.report_leads', s),
                              CASE WHEN (cfg ->> 'stage_events')::boolean THEN format('SELECT * FROM %s.report_stage_events', s) END,
                              tz, funnel_args),
                       differs);
        PERFORM set_config('enable_hashagg', hashagg, true);
        old_src := format('(SELECT %s FROM lk_pair WHERE o_lead_id IS NOT NULL)',
                          (SELECT string_agg(format('%1$I AS %2$I', 'o_' || x, x), ', ') FROM unnest(facts) AS x));
        fresh_src := format('SELECT %s FROM lk_pair WHERE present', (SELECT string_agg(quote_ident(x), ', ') FROM unnest(facts) AS x));
    ELSE
        EXECUTE format('CREATE TEMP TABLE lk_ids ON COMMIT DROP AS SELECT DISTINCT lead_id FROM lk_changes '
                       'WHERE kind IN (''lead'', ''event'') AND lead_id IS NOT NULL');
        -- their stored facts (= ANY: one index probe per lead, whatever the
        -- estimates), kept: the keys are derived from them (lk_delta)
        EXECUTE format('CREATE TEMP TABLE lk_old ON COMMIT DROP AS SELECT * FROM %s.lead_facts WHERE lead_id = ANY (ARRAY(SELECT lead_id FROM lk_ids))', s);
        old_src := 'lk_old';
        fresh_src := @extschema@._lk_facts_sql(
            format('SELECT * FROM %s._lk_leads_of(ARRAY(SELECT lead_id FROM lk_ids))', s),
            CASE WHEN (cfg ->> 'stage_events')::boolean THEN format('SELECT * FROM %s._lk_events_of(ARRAY(SELECT lead_id FROM lk_ids))', s) END,
            tz, funnel_args);
    END IF;
    EXECUTE format('CREATE TEMP TABLE lk_fresh ON COMMIT DROP AS %s', fresh_src);
    GET DIAGNOSTICS n_leads = ROW_COUNT;
    -- (a lead_id twice in the leads: refused, not counted once; a full
    -- rebuild sees it here when the lead's facts differ from the stored)
    SELECT lead_id::text INTO bad FROM lk_fresh WHERE lead_id IS NOT NULL GROUP BY lead_id HAVING count(*) > 1 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: schema %: lead_id % appears more than once in the leads', target_schema, quote_literal(bad)
            USING ERRCODE = '23505', HINT = 'Materialized reports need one row per lead: fix the leads input (or a view over it), or use plain reports.';
    END IF;

    -- 3. the leads whose facts differ: old and new key, and what changed
    EXECUTE format(
        'CREATE TEMP TABLE lk_moved ON COMMIT DROP AS '
        'SELECT coalesce(n.lead_id, o.lead_id) AS lead_id, o.lead_id IS NOT NULL AS was, n.lead_id IS NOT NULL AS now_is, '
        'o.day AS o_day, %s, n.day AS n_day, %s, '
        '(o.day, %s, o.first_contact_at, o.converted_at, o.revenue::text) IS DISTINCT FROM '
        '(n.day, %s, n.first_contact_at, n.converted_at, n.revenue::text) AS kpi, '
        '(o.day, %s, o.path, o.seen) IS DISTINCT FROM (n.day, %s, n.path, n.seen) AS funnel '
        'FROM %s AS o FULL JOIN lk_fresh AS n ON n.lead_id = o.lead_id WHERE %s',
        (SELECT string_agg(format('o.%1$I AS %2$I', x, 'o_' || x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        (SELECT string_agg(format('n.%1$I AS %2$I', x, 'n_' || x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        (SELECT string_agg('o.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        (SELECT string_agg('n.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        (SELECT string_agg('o.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        (SELECT string_agg('n.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
        old_src, differs);
    GET DIAGNOSTICS n_moved = ROW_COUNT;
    IF rebuild THEN
        -- (a lead without lead_id never matches a stored one, so it is here)
        IF EXISTS (SELECT FROM lk_moved WHERE lead_id IS NULL) THEN
            RAISE EXCEPTION 'leadkpi: schema %: the leads of materialized reports need a lead_id; a lead (or stage event) has NULL', target_schema
                USING ERRCODE = '23502', HINT = 'Leave those rows out in a view over the leads input, or use plain reports (materialized => false).';
        END IF;
    END IF;
    ANALYZE lk_moved (lead_id);

    -- 4. lead_facts: the moved leads' rows replaced; incrementally, the
    --    moved leads as they were and are, from which the refresh derives
    --    most keys (lk_delta)
    IF n_moved > 0 AND NOT rebuild THEN
        EXECUTE format('DELETE FROM %s.lead_facts WHERE lead_id = ANY (ARRAY(SELECT lead_id FROM lk_moved WHERE was))', s);
        CREATE TEMP TABLE lk_delta ON COMMIT DROP AS
            SELECT true AS was, m.kpi, m.funnel, o.* FROM lk_old AS o JOIN lk_moved AS m USING (lead_id)
            UNION ALL
            SELECT false, m.kpi, m.funnel, n.* FROM lk_fresh AS n JOIN lk_moved AS m USING (lead_id) WHERE m.now_is;
        delta := 'lk_delta';
    ELSIF n_moved > 0 THEN
        EXECUTE format('DELETE FROM %s.lead_facts AS f USING lk_moved AS m WHERE f.lead_id = m.lead_id AND m.was', s);
    END IF;
    IF n_moved > 0 THEN
        EXECUTE format('INSERT INTO %s.lead_facts SELECT n.* FROM lk_fresh AS n JOIN lk_moved AS m USING (lead_id) '
                       'WHERE m.now_is ORDER BY %s, n.day', s,
                       (SELECT string_agg('n.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x));
    END IF;

    -- (a full rebuild looked up every lead: as many as it keeps; counted
    -- here, as lk_fresh holds only those that differ)
    IF rebuild THEN
        EXECUTE format('SELECT count(*) FROM %s.lead_facts', s) INTO n_leads;
    END IF;

    -- (after many changes, as a first fill, statistics for the plans below)
    IF n_moved > 10000 THEN
        EXECUTE format('ANALYZE %s.lead_facts', s);
    END IF;

    -- 5. the fine keys a moved lead left or entered, per family, recomputed
    --    with the coarse rows of their months
    EXECUTE format('CREATE TEMP TABLE lk_kpi_keys ON COMMIT DROP AS '
                   'SELECT o_day AS day, %s FROM lk_moved WHERE kpi AND was AND o_day IS NOT NULL '
                   'UNION SELECT n_day, %s FROM lk_moved WHERE kpi AND now_is AND n_day IS NOT NULL',
                   (SELECT string_agg(format('%I AS %I', 'o_' || x, x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
                   (SELECT string_agg(quote_ident('n_' || x), ', ') FROM unnest(@extschema@._lk_segments()) AS x));
    GET DIAGNOSTICS n_kpi_keys = ROW_COUNT;
    ANALYZE lk_kpi_keys;
    written := written + @extschema@._lk_refresh_family(target_schema, 'kpi_daily', 'lk_kpi_keys', NULL,
                                                         delta);
    IF (cfg ->> 'stage_events')::boolean THEN
        EXECUTE format('CREATE TEMP TABLE lk_funnel_keys ON COMMIT DROP AS '
                       'SELECT o_day AS day, %s FROM lk_moved WHERE funnel AND was '
                       'UNION SELECT n_day, %s FROM lk_moved WHERE funnel AND now_is',
                       (SELECT string_agg(format('%I AS %I', 'o_' || x, x), ', ') FROM unnest(@extschema@._lk_segments()) AS x),
                       (SELECT string_agg(quote_ident('n_' || x), ', ') FROM unnest(@extschema@._lk_segments()) AS x));
        GET DIAGNOSTICS n_funnel_keys = ROW_COUNT;
        ANALYZE lk_funnel_keys;
        written := written + @extschema@._lk_refresh_family(target_schema, 'funnel_daily', 'lk_funnel_keys', funnel_args,
                                                             delta);
    END IF;

    -- 6. spend: the (campaign, day) recorded, a NULL matching all; the fine
    --    keys are those of the stored and the current rows they match
    IF (cfg ->> 'spend')::boolean THEN
        IF rebuild THEN
            written := written + @extschema@._lk_refresh_family(target_schema, 'spend_daily', NULL, NULL);
        ELSE
            CREATE TEMP TABLE lk_spend_keys ON COMMIT DROP AS SELECT DISTINCT campaign, day FROM lk_changes WHERE kind = 'spend';
            GET DIAGNOSTICS n_spend_keys = ROW_COUNT;
            IF n_spend_keys > 0 THEN
                -- every change with a campaign and a day (a day's spend, a few
                -- late rows): the rows of those (campaign, day), by the store's
                -- (campaign, day) index and report_spend's day (= ANY, as the
                -- live spend); else those in the changes' range of days
                EXECUTE format('CREATE TEMP TABLE lk_spend_rows ON COMMIT DROP AS WITH sp AS (SELECT * FROM lk_spend_keys), w AS (%4$s) '
                               'SELECT f.day, %1$s FROM sp JOIN %2$s.spend_daily AS f ON f.campaign = sp.campaign AND f.day = sp.day WHERE (SELECT exact FROM w) '
                               'UNION SELECT f.day, %1$s FROM %2$s.report_spend AS f WHERE (SELECT exact FROM w) '
                               'AND f.day = ANY (ARRAY(SELECT DISTINCT day FROM sp)) AND %3$s '
                               'UNION SELECT f.day, %1$s FROM %2$s.spend_daily AS f WHERE NOT (SELECT exact FROM w) '
                               'AND f.day BETWEEN (SELECT lo FROM w) AND (SELECT hi FROM w) AND %3$s '
                               'UNION SELECT f.day, %1$s FROM %2$s.report_spend AS f WHERE NOT (SELECT exact FROM w) '
                               'AND f.day BETWEEN (SELECT lo FROM w) AND (SELECT hi FROM w) AND %3$s',
                               (SELECT string_agg('f.' || quote_ident(x), ', ') FROM unnest(@extschema@._lk_segments()) AS x), s,
                               @extschema@._lk_spend_touched('f', 'f.day', 'day'), @extschema@._lk_spend_bounds_sql('day'));
                ANALYZE lk_spend_rows;
                written := written + @extschema@._lk_refresh_family(target_schema, 'spend_daily', 'lk_spend_rows', NULL);
            END IF;
        END IF;
    END IF;

    -- 7. the forecast stores, whose grid moves with now(): rebuilt whole,
    --    which reads every lead and event, so only when they are missing or
    --    leadkpi.forecast_refresh_interval old (default 1h), not by a full
    --    rebuild of the other stores; refresh_forecast() rebuilds them now
    IF (cfg ->> 'stage_events')::boolean AND
       (forecast_as_of IS NULL OR
        now() - forecast_as_of >= coalesce(nullif(current_setting('leadkpi.forecast_refresh_interval', true), ''), '1h')::interval) THEN
        n_forecast := @extschema@._lk_refresh_forecast(target_schema);
        forecast_as_of := now();
    END IF;

    stats := jsonb_build_object('full', rebuild, 'changes', n_changes, 'leads_looked_up', n_leads, 'leads_changed', n_moved,
                                'kpi_keys', n_kpi_keys, 'funnel_keys', n_funnel_keys, 'spend_keys', n_spend_keys,
                                'keys_derived', (SELECT coalesce(sum(derived), 0) FROM lk_derive_stats),
                                'keys_recomputed', (SELECT coalesce(sum(recomputed), 0) FROM lk_derive_stats),
                                'rows_written', written, 'forecast_rows', n_forecast, 'forecast_as_of', forecast_as_of,
                                'duration_ms', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1));
    EXECUTE format('UPDATE %s.report_state SET refreshed_at = now(), last_refresh = $1%s', s,
                   CASE WHEN rebuild THEN ', rebuilt_at = now()' ELSE '' END) USING stats;
    DROP TABLE IF EXISTS lk_changes, lk_ids, lk_pair, lk_fresh, lk_moved, lk_old, lk_delta, lk_derive_stats, lk_kpi_keys, lk_funnel_keys, lk_spend_keys, lk_spend_rows;
    PERFORM set_config('default_toast_compression', compression, true);
    RETURN stats;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_refresh(name, boolean) IS
'leadkpi internal: one refresh of the stores of a materialized report schema, incremental or full; returns what it did';

-- A 0.1.0 report schema (materialized views, before the stores were
-- tables): refreshed as then, until create_reports() is run again.
CREATE OR REPLACE FUNCTION @extschema@._lk_refresh_matviews(target_schema name, concurrent boolean)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n text;
    rel regclass;
BEGIN
    FOREACH n IN ARRAY ARRAY['kpi_watermark', 'kpi_daily', 'spend_daily', 'funnel_store',
                             'kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month',
                             'funnel_report', 'funnel_by_campaign'] LOOP
        SELECT c.oid INTO rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = n AND c.relkind = 'm'
           AND coalesce(obj_description(c.oid, 'pg_class'), '') LIKE 'leadkpi %';
        CONTINUE WHEN rel IS NULL;
        EXECUTE format('REFRESH MATERIALIZED VIEW %s%s', CASE WHEN concurrent THEN 'CONCURRENTLY ' ELSE '' END, rel);
        RETURN NEXT rel;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_refresh_matviews(name, boolean) IS
'leadkpi internal: refreshes the materialized views of a report schema made by leadkpi 0.1.0';

CREATE OR REPLACE FUNCTION @extschema@.refresh_reports(target_schema name, concurrently boolean DEFAULT true, full boolean DEFAULT false)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state regclass := to_regclass(format('%I.report_state', target_schema));
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'leadkpi: refresh_reports runs in READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = '25001',
                  HINT = 'It waits for other refreshes of the schema and must then see what they wrote; call it outside REPEATABLE READ and SERIALIZABLE transactions.';
    END IF;
    PERFORM @extschema@._lk_schema_lock(target_schema);
    IF state IS NULL OR coalesce(obj_description(state, 'pg_class'), '') NOT LIKE 'leadkpi %' THEN
        RETURN QUERY SELECT * FROM @extschema@._lk_refresh_matviews(target_schema, $2);
        IF FOUND THEN
            RAISE NOTICE 'leadkpi: schema % holds materialized reports of leadkpi 0.1.0, refreshed in full', target_schema
                USING HINT = 'Run create_reports() again for stores that refresh incrementally and live views that read only the changes.';
            RETURN;
        END IF;
        RAISE EXCEPTION 'leadkpi: schema % has no materialized leadkpi reports', target_schema
            USING ERRCODE = '42P01', HINT = 'Create them with create_reports(..., materialized => true).';
    END IF;
    PERFORM @extschema@._lk_refresh(target_schema, $3);
    RETURN QUERY
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = target_schema AND c.relkind = 'r'
           AND c.relname IN (SELECT 'lead_facts' UNION ALL SELECT name FROM @extschema@._lk_stores_def())
         ORDER BY array_position(ARRAY(SELECT 'lead_facts' UNION ALL SELECT name FROM @extschema@._lk_stores_def()), c.relname::text);
END;
$$;
-- The forecast stores alone, as of now: for a schedule of their own (e.g.
-- hourly with leadkpi.forecast_refresh_interval set longer), so that no
-- minute-by-minute refresh_reports pays for them.
CREATE OR REPLACE FUNCTION @extschema@.refresh_forecast(target_schema name)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state regclass;
    n bigint;
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'leadkpi: refresh_forecast needs a report schema, not NULL'
            USING ERRCODE = '22004', HINT = 'Pass the schema that create_reports(..., materialized => true) made.';
    END IF;
    state := to_regclass(format('%I.report_state', target_schema));
    PERFORM @extschema@._lk_schema_lock(target_schema);
    IF state IS NULL OR coalesce(obj_description(state, 'pg_class'), '') NOT LIKE 'leadkpi %' THEN
        RAISE EXCEPTION 'leadkpi: schema % has no materialized leadkpi reports', target_schema
            USING ERRCODE = '42P01', HINT = 'Create them with create_reports(..., materialized => true).';
    END IF;
    n := @extschema@._lk_refresh_forecast(target_schema);
    EXECUTE format('UPDATE %s SET last_refresh = coalesce(last_refresh, ''{}'') || '
                   'jsonb_build_object(''forecast_rows'', $1, ''forecast_as_of'', now())', state) USING n;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION @extschema@.refresh_forecast(name) IS
'Rebuilds the forecast stores of a materialized report schema as of now (refresh_reports does so once they are leadkpi.forecast_refresh_interval old); returns the rows written. See doc/forecast.md.';

COMMENT ON FUNCTION @extschema@.refresh_reports(name, boolean, boolean) IS
'Brings the stores of a materialized report schema up to date in one transaction: incrementally (only the keys that changed since the last refresh), or every key with full => true; readers are never blocked, so concurrently is accepted and ignored; returns the stores. See doc/realtime.md.';
