
-----------------------------------------------------------------------------
-- Reports, materialized: what changed since the last refresh.  A report
-- schema watches the base tables behind its inputs and records, per changed
-- row, the keys whose stored summaries may be stale:
--   lead     a lead_id whose lead row, orders or funnel may have changed
--   event    a lead_id whose stage events (only) may have changed
--   spend    a (campaign, day) of spend; a NULL is a wildcard (all days of
--            a campaign, all campaigns of a day)
--   rebuild  anything may have changed (TRUNCATE, a dimension table)
-- Two ways to watch a table:
--   triggers       AFTER ... FOR EACH STATEMENT triggers with transition
--                  tables append the keys to <schema>.pending_changes, in
--                  the writer's transaction;
--   change column  no trigger; the rows whose change column (updated_at,
--                  _fivetran_synced, write_date, ...) is at or after the last
--                  refresh minus a look-back window are read as changed
--                  (view <schema>.changes_by_column).
-- How a changed row maps to keys is an SQL query over a relation named
-- `changed` (the changed rows: old and new versions, with the base table's
-- columns), declared per table: create_reports() derives it for input
-- tables, presets declare their CRM's, a caller passes it for views
-- (watch => ...).  See doc/realtime.md.
-----------------------------------------------------------------------------

-- The watch list as rows: table, kind (lead, event, spend, rebuild), the
-- mapping SQL and the change column (NULL: triggers).  watch is a jsonb
-- array of objects {"table": ..., "lead_ids" | "spend" | "rebuild": ...,
-- "events_only": bool, "change_column": ...}; an object with both lead_ids
-- and spend gives two rows.  Checks the shape only (22023).
CREATE OR REPLACE FUNCTION @extschema@._lk_watch_list(watch jsonb)
RETURNS TABLE (tbl regclass, kind text, map_sql text, change_column text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w jsonb;
    t regclass;
    hint CONSTANT text := 'Pass watch => ''[{"table": "app.contacts", "lead_ids": "SELECT id FROM changed"}, '
                          '{"table": "app.ad_costs", "spend": "SELECT campaign, day FROM changed"}, '
                          '{"table": "app.campaigns", "rebuild": true}]'' (optionally with "change_column": "updated_at" or "events_only": true); see doc/realtime.md.';
BEGIN
    IF watch IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(watch) <> 'array' THEN
        RAISE EXCEPTION 'leadkpi: watch must be a jsonb array, not %', jsonb_typeof(watch)
            USING ERRCODE = '22023', HINT = hint;
    END IF;
    FOR w IN SELECT * FROM jsonb_array_elements(watch) LOOP
        IF jsonb_typeof(w) <> 'object' OR jsonb_typeof(w -> 'table') IS DISTINCT FROM 'string'
           OR NOT (w ?| ARRAY['lead_ids', 'spend', 'rebuild'])
           OR EXISTS (SELECT FROM jsonb_object_keys(w) AS k
                       WHERE k NOT IN ('table', 'lead_ids', 'spend', 'rebuild', 'events_only', 'change_column')) THEN
            RAISE EXCEPTION 'leadkpi: watch entry % is not {"table": ..., "lead_ids" | "spend" | "rebuild": ...}', w
                USING ERRCODE = '22023', HINT = hint;
        END IF;
        t := to_regclass(w ->> 'table');
        IF t IS NULL THEN
            RAISE EXCEPTION 'leadkpi: watch names the table %, which does not exist', quote_literal(w ->> 'table')
                USING ERRCODE = '42P01', HINT = 'Name the table schema-qualified, e.g. "crm.leads".';
        END IF;
        IF w ? 'lead_ids' THEN
            tbl := t; map_sql := w ->> 'lead_ids'; change_column := w ->> 'change_column';
            kind := CASE WHEN coalesce((w ->> 'events_only')::boolean, false) THEN 'event' ELSE 'lead' END;
            RETURN NEXT;
        END IF;
        IF w ? 'spend' THEN
            tbl := t; kind := 'spend'; map_sql := w ->> 'spend'; change_column := w ->> 'change_column';
            RETURN NEXT;
        END IF;
        IF coalesce((w ->> 'rebuild')::boolean, false) THEN
            tbl := t; kind := 'rebuild'; map_sql := NULL; change_column := w ->> 'change_column';
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_watch_list(jsonb) IS
'leadkpi internal: the watch list of a materialized report schema as rows (table, kind, mapping SQL, change column); checks its shape';

-- The tables behind a view, through views of views (the relations its rules
-- read).  Tables read inside functions are not seen.
CREATE OR REPLACE FUNCTION @extschema@._lk_base_tables(rel regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH RECURSIVE r(oid, relkind) AS (
        SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = rel
        UNION
        SELECT d.refobjid, c.relkind
          FROM r JOIN pg_rewrite w ON w.ev_class = r.oid
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.oid
          JOIN pg_class c ON c.oid = d.refobjid
         WHERE r.relkind IN ('v', 'm'))
    SELECT oid::regclass FROM r WHERE relkind IN ('r', 'p', 'f') ORDER BY 1;
END;
COMMENT ON FUNCTION @extschema@._lk_base_tables(regclass) IS
'leadkpi internal: the tables a view reads, through views of views';

-- The watch list create_reports() derives from its inputs: an input table
-- is watched by its own key columns; an input view, by the tables behind it,
-- any change of which asks for a full rebuild (a NOTICE says how to do
-- better).
CREATE OR REPLACE FUNCTION @extschema@._lk_default_watch(
    leads regclass, stage_events regclass, spend regclass, orders regclass, tz text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w jsonb := '[]';
    r record;
    b regclass;
    views text[] := '{}';
BEGIN
    FOR r IN SELECT * FROM (VALUES ('leads', leads), ('orders', orders), ('stage_events', stage_events), ('spend', spend)) AS v(input, rel)
              WHERE v.rel IS NOT NULL LOOP
        IF (SELECT relkind FROM pg_class WHERE oid = r.rel) IN ('r', 'p') THEN
            w := w || CASE r.input
                WHEN 'spend' THEN jsonb_build_object('table', r.rel::text, 'spend',
                    format('SELECT %s, %s FROM changed', @extschema@._lk_read_input('spend', r.rel, tz) ->> 'campaign',
                           @extschema@._lk_read_input('spend', r.rel, tz) ->> 'day'))
                ELSE jsonb_build_object('table', r.rel::text, 'lead_ids',
                    format('SELECT %s FROM changed', @extschema@._lk_read_input(r.input, r.rel, tz) ->> 'lead_id'))
                    || CASE WHEN r.input = 'stage_events' THEN '{"events_only": true}' ELSE '{}' END::jsonb
                END;
        ELSE
            views := views || r.rel::text;
            FOR b IN SELECT * FROM @extschema@._lk_base_tables(r.rel) LOOP
                IF NOT w @> jsonb_build_array(jsonb_build_object('table', b::text, 'rebuild', true)) THEN
                    w := w || jsonb_build_object('table', b::text, 'rebuild', true);
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    IF cardinality(views) > 0 THEN
        RAISE NOTICE 'leadkpi: the inputs % are views: any change to the tables behind them asks for a full rebuild', views
            USING HINT = 'For refreshes that cost in proportion to the change, pass watch => naming those tables and how a changed row maps to lead_ids; see doc/realtime.md.';
    END IF;
    RETURN w;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_default_watch(regclass, regclass, regclass, regclass, text) IS
'leadkpi internal: the watch list derived from the inputs of create_reports(): input tables by their keys, the tables behind input views by a full rebuild';

-- The SQL of the keys one watch yields, as rows (kind, lead_id, campaign,
-- day) with lead_id of type lead_type, from the relation SQL `changed`.
CREATE OR REPLACE FUNCTION @extschema@._lk_watch_keys_sql(kind text, map_sql text, lead_type text, changed text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('WITH changed AS (%s) ', changed) || CASE kind
    WHEN 'spend' THEN format('SELECT DISTINCT ''spend''::text AS kind, NULL::%s AS lead_id, x.campaign::text AS campaign, '
                             'x.day::date AS day FROM (%s) AS x(campaign, day)', lead_type, map_sql)
    WHEN 'rebuild' THEN format('SELECT ''rebuild''::text AS kind, NULL::%s AS lead_id, NULL::text AS campaign, NULL::date AS day '
                               'WHERE EXISTS (SELECT FROM changed)', lead_type)
    ELSE format('SELECT DISTINCT %L::text AS kind, x.k::%s AS lead_id, NULL::text AS campaign, NULL::date AS day '
                'FROM (%s) AS x(k) WHERE x.k IS NOT NULL', kind, lead_type, map_sql) END;
COMMENT ON FUNCTION @extschema@._lk_watch_keys_sql(text, text, text, text) IS
'leadkpi internal: the SQL of the keys (kind, lead_id, campaign, day) one watch yields from a relation of changed rows';

-- Checks a watch list against the catalogs: each table exists; a trigger
-- watch is on a table (not a view) that the caller may put triggers on; a
-- change column exists and is a time; each mapping runs (over no rows).
-- VOLATILE: it runs the mappings.
CREATE OR REPLACE FUNCTION @extschema@._lk_check_watch(watch jsonb, lead_type text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
    t text;
BEGIN
    FOR w IN SELECT * FROM @extschema@._lk_watch_list(watch) LOOP
        IF w.change_column IS NULL THEN
            IF (SELECT relkind FROM pg_class WHERE oid = w.tbl) NOT IN ('r', 'p') THEN
                RAISE EXCEPTION 'leadkpi: % is not a table: only tables can be watched by triggers', w.tbl
                    USING ERRCODE = '22023',
                          HINT = 'Watch the tables behind it, or give it a "change_column" (a column set to the time of each change).';
            END IF;
            -- Citus runs a distributed or reference table's triggers on the
            -- workers, for each shard (and only with citus.enable_unsafe_triggers):
            -- there is no pending_changes there, and no transition table of
            -- the whole statement (doc/citus.md, "Materialized reports")
            IF @extschema@._lk_citus_distributed(w.tbl, true) THEN
                RAISE EXCEPTION 'leadkpi: % is a Citus distributed or reference table: its changes cannot be watched by triggers', w.tbl
                    USING ERRCODE = '0A000',
                          HINT = format('Watch it by a change column (watch => ''[{"table": "%s", "lead_ids": "SELECT lead_id FROM changed", "change_column": "updated_at"}, ...]''), '
                                        'or pass watch => ''[]'' and refresh with refresh_reports(..., full => true); see doc/citus.md.', w.tbl);
            END IF;
            IF NOT has_table_privilege(w.tbl, 'TRIGGER') THEN
                RAISE EXCEPTION 'leadkpi: permission denied to create triggers on %', w.tbl
                    USING ERRCODE = '42501',
                          HINT = format('GRANT TRIGGER ON %s TO %I, or watch it by a "change_column" instead (change_detection => ''columns'' for a preset).', w.tbl, current_user);
            END IF;
        ELSE
            SELECT format_type(a.atttypid, NULL) INTO t FROM pg_attribute a
             WHERE a.attrelid = w.tbl AND a.attname = w.change_column AND a.attnum > 0 AND NOT a.attisdropped;
            IF t IS NULL OR t NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
                RAISE EXCEPTION 'leadkpi: change column "%" of % is %', w.change_column, w.tbl, coalesce(t, 'missing')
                    USING ERRCODE = CASE WHEN t IS NULL THEN '42703' ELSE '42804' END,
                          HINT = 'A change column is a timestamptz, timestamp or date column set to the time of each change (e.g. updated_at, _fivetran_synced).';
            END IF;
        END IF;
        BEGIN
            EXECUTE format('SELECT count(*) FROM (%s) AS k',
                           @extschema@._lk_watch_keys_sql(w.kind, w.map_sql, lead_type, format('SELECT * FROM %s LIMIT 0', w.tbl)));
        EXCEPTION WHEN syntax_error OR undefined_column OR undefined_table OR undefined_function
                       OR datatype_mismatch OR cannot_coerce OR invalid_text_representation OR ambiguous_column THEN
            RAISE EXCEPTION 'leadkpi: the watch of % does not run: %', w.tbl, SQLERRM
                USING ERRCODE = '22023',
                      HINT = format('The mapping is a query over "changed" (rows of %s) yielding %s; it runs with search_path = pg_catalog, pg_temp, so qualify other tables.',
                                    w.tbl, CASE w.kind WHEN 'spend' THEN '(campaign, day)' ELSE 'lead_ids' END);
        END;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_check_watch(jsonb, text) IS
'leadkpi internal: checks a watch list: tables, trigger privilege, change columns, and that each mapping runs';

-- A short name for the objects made for one report schema on a base table.
CREATE OR REPLACE FUNCTION @extschema@._lk_watch_name(target_schema name, tbl regclass)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'leadkpi ' || CASE WHEN length(target_schema) <= 40 THEN target_schema
                          ELSE left(target_schema, 32) || '~' || left(md5(target_schema), 7) END;
COMMENT ON FUNCTION @extschema@._lk_watch_name(name, regclass) IS
'leadkpi internal: the trigger name of a report schema on a watched table';

-- Creates pending_changes, the view changes_by_column, and on each table
-- watched by triggers one trigger function and its triggers.  Writers of a
-- watched table get USAGE on the schema and INSERT on pending_changes (the
-- triggers run with their rights).  The functions depend on the extension,
-- so DROP EXTENSION ... CASCADE takes them and their triggers away.
CREATE OR REPLACE FUNCTION @extschema@._lk_create_watches(target_schema name, watch jsonb, lead_type text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    t regclass;
    fn text;
    body text;
    ins text;
    upd text;
    del text;
    cols text := '(kind, lead_id, campaign, day, source)';
    scans text[] := '{}';
    w record;
    g record;
BEGIN
    EXECUTE format('CREATE TABLE %s.pending_changes (kind text NOT NULL CHECK (kind IN (''lead'', ''event'', ''spend'', ''rebuild'')), '
                   'lead_id %s, campaign text, day date, source regclass, noted_at timestamptz NOT NULL DEFAULT statement_timestamp()) '
                   'INHERITS (%s._lk_stores)', s, lead_type, s);
    EXECUTE format('COMMENT ON TABLE %s.pending_changes IS %L', s,
        'leadkpi store: keys changed since the last refresh, appended by the triggers on the watched tables; refresh_reports() consumes them');

    -- one function per table watched by triggers, running all its mappings
    FOR t IN SELECT DISTINCT tbl FROM @extschema@._lk_watch_list(watch) WHERE change_column IS NULL LOOP
        ins := NULL; upd := NULL; del := NULL;
        FOR w IN SELECT * FROM @extschema@._lk_watch_list(watch) WHERE tbl = t AND change_column IS NULL LOOP
            ins := concat_ws(' UNION ALL ', ins, format('SELECT *, TG_RELID::regclass FROM (%s) AS k',
                       @extschema@._lk_watch_keys_sql(w.kind, w.map_sql, lead_type, 'SELECT * FROM lk_new')));
            upd := concat_ws(' UNION ALL ', upd, format('SELECT *, TG_RELID::regclass FROM (%s) AS k',
                       @extschema@._lk_watch_keys_sql(w.kind, w.map_sql, lead_type, 'SELECT * FROM lk_old UNION ALL SELECT * FROM lk_new')));
            del := concat_ws(' UNION ALL ', del, format('SELECT *, TG_RELID::regclass FROM (%s) AS k',
                       @extschema@._lk_watch_keys_sql(w.kind, w.map_sql, lead_type, 'SELECT * FROM lk_old')));
        END LOOP;
        fn := format('%s.%I', s, left('_lk_watch_' || (SELECT relname FROM pg_class WHERE oid = t), 50) || '_' || t::oid);
        body := format($f$
BEGIN
    -- generated by create_reports(): the keys of the changed rows of %s
    IF TG_OP = 'INSERT' THEN
        INSERT INTO %s.pending_changes %s %s;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO %s.pending_changes %s %s;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO %s.pending_changes %s %s;
    ELSE
        INSERT INTO %s.pending_changes (kind, source) VALUES ('rebuild', TG_RELID::regclass);
    END IF;
    RETURN NULL;
END;
$f$, t, s, cols, ins, s, cols, upd, s, cols, del, s);
        PERFORM @extschema@._lk_execute_local(format('CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS %L',
                       fn, body));
        PERFORM @extschema@._lk_execute_local(format('COMMENT ON FUNCTION %s() IS %L', fn,
                       format('leadkpi watch: records in %s.pending_changes the keys of the rows changed in %s', target_schema, t)));
        PERFORM @extschema@._lk_execute_local(format('ALTER FUNCTION %s() DEPENDS ON EXTENSION leadkpi', fn));
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS lk_new FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       @extschema@._lk_watch_name(target_schema, t) || ' insert', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS lk_old NEW TABLE AS lk_new FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       @extschema@._lk_watch_name(target_schema, t) || ' update', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS lk_old FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       @extschema@._lk_watch_name(target_schema, t) || ' delete', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       @extschema@._lk_watch_name(target_schema, t) || ' truncate', t, fn);
        -- the roles that may write the table run the trigger: they need to append
        FOR g IN
            SELECT DISTINCT r.rolname FROM pg_class c
              JOIN LATERAL (SELECT c.relowner AS grantee UNION ALL
                            SELECT a.grantee FROM aclexplode(c.relacl) AS a
                             WHERE a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')) AS x ON true
              JOIN pg_roles r ON r.oid = x.grantee
             WHERE c.oid = t AND NOT r.rolsuper
               AND NOT (has_schema_privilege(r.oid, target_schema, 'USAGE')
                        AND has_table_privilege(r.oid, format('%s.pending_changes', s), 'INSERT'))
        LOOP
            EXECUTE format('GRANT USAGE ON SCHEMA %s TO %I', s, g.rolname);
            EXECUTE format('GRANT INSERT ON %s.pending_changes TO %I', s, g.rolname);
        END LOOP;
        IF EXISTS (SELECT FROM pg_class c, aclexplode(c.relacl) AS a WHERE c.oid = t AND a.grantee = 0
                      AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %s TO PUBLIC', s);
            EXECUTE format('GRANT INSERT ON %s.pending_changes TO PUBLIC', s);
        END IF;
    END LOOP;

    -- the tables watched by a change column: read at refresh and in live views
    FOR w IN SELECT * FROM @extschema@._lk_watch_list(watch) WHERE change_column IS NOT NULL LOOP
        scans := scans || format('SELECT k.*, %L::regclass AS source FROM (%s) AS k', w.tbl,
            @extschema@._lk_watch_keys_sql(w.kind, w.map_sql, lead_type,
                format('SELECT * FROM %s WHERE %I >= (SELECT changes_since - look_back FROM %s.report_state)', w.tbl, w.change_column, s)));
    END LOOP;
    EXECUTE format('CREATE VIEW %s.changes_by_column WITH (security_invoker = true) AS %s', s,
        coalesce(nullif(array_to_string(scans, ' UNION ALL '), ''),
                 -- (reading report_state all the same, so that it goes with the stores)
                 format('SELECT NULL::text AS kind, NULL::%s AS lead_id, NULL::text AS campaign, NULL::date AS day, NULL::regclass AS source '
                        'FROM %s.report_state WHERE false', lead_type, s)));
    EXECUTE format('COMMENT ON VIEW %s.changes_by_column IS %L', s,
        'leadkpi changes: the keys of the rows of the tables watched by a change column, changed since the last refresh minus the look-back window');
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_create_watches(name, jsonb, text) IS
'leadkpi internal: creates pending_changes, changes_by_column and the triggers (with their functions) that watch the base tables of a materialized report schema';

-- Drops the functions leadkpi made for target_schema of one kind: 'watch'
-- (the trigger functions, with their triggers on whichever tables they
-- are: dropped before the stores, so that no CRM write fires a trigger
-- whose table is gone) or 'lookup' (after the views that call them).
-- They are found by their COMMENT.  A lookup that a view still reads (a
-- live rows view kept for users' views, see _lk_clear_schema) stays, to be
-- replaced in place.
CREATE OR REPLACE FUNCTION @extschema@._lk_drop_functions(target_schema name, kind text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
    t record;
BEGIN
    FOR f IN
        SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = target_schema AND coalesce(obj_description(p.oid, 'pg_proc'), '') LIKE format('leadkpi %s:%%', kind)
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
                              AND d.classid = 'pg_rewrite'::regclass AND d.deptype = 'n')
         ORDER BY 1
    LOOP
        FOR t IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger WHERE tgfoid = f ORDER BY 1 LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        END LOOP;
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_drop_functions(name, text) IS
'leadkpi internal: drops the trigger functions (with their triggers) or the lookup functions leadkpi made for a report schema';

-- One watch of a preset's table, by change_detection: 'triggers', or
-- 'columns' (the first of change_columns the table has; none: a NOTICE and
-- no watch, its changes then reach the stores by a full refresh), or
-- 'none'.  kind is lead_ids, events_only, spend or rebuild; sql the mapping.
-- NULL for a table the preset does not read.
CREATE OR REPLACE FUNCTION @extschema@._lk_watch_entry(
    tbl regclass, kind text, sql text, change_detection text, change_columns text[])
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col text;
BEGIN
    IF tbl IS NULL OR change_detection = 'none' THEN
        RETURN NULL;
    END IF;
    IF change_detection = 'columns' THEN
        SELECT c INTO col FROM unnest(change_columns) WITH ORDINALITY AS u(c, i)
         WHERE EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = u.c AND a.attnum > 0 AND NOT a.attisdropped)
         ORDER BY i LIMIT 1;
        IF col IS NULL THEN
            RAISE NOTICE 'leadkpi: % has none of the change columns %: its changes reach the stores only by refresh_reports(..., full => true)', tbl, change_columns
                USING HINT = 'Use change_detection => ''triggers'' where you may create triggers on it.';
            RETURN NULL;
        END IF;
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object('table', tbl::text,
        'lead_ids', CASE WHEN kind IN ('lead_ids', 'events_only') THEN sql END,
        'events_only', CASE WHEN kind = 'events_only' THEN true END,
        'spend', CASE WHEN kind = 'spend' THEN sql END,
        'rebuild', CASE WHEN kind = 'rebuild' THEN true END,
        'change_column', col));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_watch_entry(regclass, text, text, text, text[]) IS
'leadkpi internal: one entry of a preset''s watch list, watched by triggers or by the first change column the table has';

-- A preset's change_detection, checked: triggers, columns or none.
CREATE OR REPLACE FUNCTION @extschema@._lk_check_change_detection(preset text, change_detection text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF change_detection IS NULL OR change_detection NOT IN ('triggers', 'columns', 'none') THEN
        RAISE EXCEPTION 'leadkpi: % preset: change_detection must be triggers, columns or none, not %', preset, coalesce(quote_literal(change_detection), 'NULL')
            USING ERRCODE = '22023',
                  HINT = 'triggers: statement triggers on the CRM tables; columns: their last-modified columns (no trigger needed); none: refresh_reports(..., full => true) only.';
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_check_change_detection(text, text) IS
'leadkpi internal: checks a preset''s change_detection argument';
