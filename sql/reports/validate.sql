
-----------------------------------------------------------------------------
-- Reports: the canonical inputs and their checks.  create_reports() reads up
-- to five inputs, tables or views with the canonical column names of
-- doc/crm.md, and checks all of them before anything is dropped or created.
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
        -- cast all the same: a typmod (numeric(12,2), timestamptz(0)) would
        -- change the canonical views' column types from one input to the
        -- next, and a report view cannot be replaced in place then
        expr := format('%I::%s', col, typ);
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

-- The canonical model: the columns of each input, their kind (see
-- _lk_column) and whether they are required, in the order they are checked.
CREATE OR REPLACE FUNCTION @extschema@._lk_input_columns(input text)
RETURNS TABLE (col text, kind text, required boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT m.c, m.k, m.r FROM (VALUES
        ('leads', 1, 'lead_id', 'id', true),
        ('leads', 2, 'first_contact_at', 'ts', true),
        ('leads', 3, 'campaign', 'text', true),
        ('leads', 4, 'channel', 'text', true),
        ('leads', 5, 'converted_at', 'ts', true),
        ('leads', 6, 'lost_at', 'ts', false),
        ('leads', 7, 'revenue', 'numeric', false),
        ('leads', 8, 'expected_revenue', 'numeric', false),
        ('leads', 9, 'team', 'text', false),
        ('leads', 10, 'owner', 'text', false),
        ('spend', 1, 'campaign', 'text', true),
        ('spend', 2, 'day', 'date', true),
        ('spend', 3, 'amount', 'numeric', true),
        ('spend', 4, 'channel', 'text', false),
        ('orders', 1, 'lead_id', 'id', true),
        ('orders', 2, 'ordered_at', 'ts', true),
        ('orders', 3, 'amount', 'numeric', true),
        ('stage_events', 1, 'lead_id', 'id', true),
        ('stage_events', 2, 'stage', 'text', true),
        ('stage_events', 3, 'occurred_at', 'ts', true),
        ('campaigns', 1, 'campaign', 'text', true),
        ('campaigns', 2, 'channel', 'text', true),
        ('campaigns', 3, 'name', 'text', false)
    ) AS m(i, n, c, k, r)
    WHERE m.i = $1
    ORDER BY m.n;
END;
COMMENT ON FUNCTION @extschema@._lk_input_columns(text) IS
'leadkpi internal: the canonical model: the columns of one input (leads, spend, orders, stage_events, campaigns), their kind and whether they are required';

-- Checks every column of one input against the canonical model and returns
-- a jsonb object: per column, the SQL that reads it as the canonical type
-- (null for an optional column the input lacks).
CREATE OR REPLACE FUNCTION @extschema@._lk_read_input(input text, rel regclass, tz text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
    exprs jsonb := '{}';
BEGIN
    FOR m IN SELECT * FROM @extschema@._lk_input_columns(input) LOOP
        exprs := exprs || jsonb_build_object(m.col,
                              (@extschema@._lk_column(input, rel, m.col, m.kind, m.required, tz)).expr);
    END LOOP;
    RETURN exprs;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_read_input(text, regclass, text) IS
'leadkpi internal: validates the columns of one canonical input and returns, per column, the SQL that reads it as the canonical type';

-- An input's lead_id must be of the same kind as the leads' (42804).
CREATE OR REPLACE FUNCTION @extschema@._lk_check_lead_id(input text, rel regclass, leads regclass)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ text := (@extschema@._lk_column(input, rel, 'lead_id', 'id', true)).typ;
    leads_typ text := (@extschema@._lk_column('leads', leads, 'lead_id', 'id', true)).typ;
BEGIN
    IF typ <> leads_typ THEN
        RAISE EXCEPTION 'leadkpi: input "%" (%) column "lead_id" is %, but leads.lead_id is %', input, rel, typ, leads_typ
            USING ERRCODE = '42804', HINT = 'Both lead_id columns must be of the same kind (integer, text or uuid); cast one in a view.';
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_check_lead_id(text, regclass, regclass) IS
'leadkpi internal: raises 42804 when an input''s lead_id is not of the same kind as the leads'' lead_id';

-- Says how the stages of a funnel meet the stage names that occur in its
-- events (occurring, read once): a NOTICE when there is no event at all (the
-- funnel reports are empty for now), a WARNING naming the stages that never
-- occur and the names that do (a stage list that matches nothing otherwise
-- gives steps of zeros without a word).  who names the source.
CREATE OR REPLACE FUNCTION @extschema@._lk_report_stages(who text, occurring text[], stages text[], hint text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    never text[] := ARRAY(SELECT x FROM unnest(stages) WITH ORDINALITY AS t(x, i)
                          WHERE x <> ALL (coalesce(occurring, '{}')) ORDER BY i);
BEGIN
    IF cardinality(coalesce(occurring, '{}')) = 0 THEN
        RAISE NOTICE 'leadkpi: no stage events in %, so the funnel reports are empty for now', who
            USING HINT = hint;
    ELSIF cardinality(never) > 0 THEN
        RAISE WARNING 'leadkpi: the stages % never occur in %', array_to_string(ARRAY(SELECT quote_literal(x) FROM unnest(never) AS x), ', '), who
            USING DETAIL = format('The stage names that occur there: %s%s. A stage that never occurs is never the bottleneck; '
                                  'its step counts only the leads that skipped it (with crm_backfill), else none.',
                                  array_to_string(ARRAY(SELECT quote_literal(x) FROM unnest(occurring[1:30]) AS x), ', '),
                                  CASE WHEN cardinality(occurring) > 30 THEN format(' and %s more', cardinality(occurring) - 30) ELSE '' END),
                  HINT = hint;
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_report_stages(text, text[], text[], text) IS
'leadkpi internal: NOTICE when a funnel has no stage events, WARNING naming the stages that never occur and the stage names that do';

-- The funnel's arguments: distinct stages, a positive window, modes that
-- funnel_agg accepts, and no stage in the events outside the stages (read
-- once, with the stages that never occur: see _lk_report_stages, skipped
-- when a preset has said it already, leadkpi.stages_reported).
-- VOLATILE: it reads the user's stage events (which may be a temporary table).
CREATE OR REPLACE FUNCTION @extschema@._lk_check_funnel(
    stage_events regclass, stages text[], conversion_window interval, funnel_modes text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stage_expr text := @extschema@._lk_read_input('stage_events', stage_events, NULL) ->> 'stage';
    occurring text[];
    bad text;
BEGIN
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
    EXECUTE format('SELECT array_agg(stage ORDER BY stage) FROM (SELECT DISTINCT %s AS stage FROM %s WHERE %s IS NOT NULL) AS d',
                   stage_expr, stage_events, stage_expr)
       INTO occurring;
    SELECT x INTO bad FROM unnest(occurring) AS x WHERE x <> ALL (stages) ORDER BY x LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: input "stage_events" (%) column "stage" has the unknown stage %', stage_events, quote_literal(bad)
            USING ERRCODE = '22023',
                  HINT = format('Add it to stages => %L, or leave it out in a view over %s.', stages, stage_events);
    END IF;
    IF coalesce(current_setting('leadkpi.stages_reported', true), '') <> 'on' THEN
        PERFORM @extschema@._lk_report_stages(format('stage_events (%s)', stage_events), occurring, stages,
                                              'Pass stages => the stage names of your events, in funnel order.');
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_check_funnel(regclass, text[], interval, text) IS
'leadkpi internal: validates the funnel arguments of create_reports() (stages, conversion_window, funnel_modes) against the stage events, and says which stages never occur';

-- Every check of create_reports(), in this order: the arguments, the time
-- zone, each input's columns, lead_id of one kind everywhere, the funnel,
-- and no input among the views the call replaces.  VOLATILE: the time zone
-- check needs a subtransaction, and the funnel check reads the user's events.
CREATE OR REPLACE FUNCTION @extschema@._lk_check_inputs(
    target_schema name, leads regclass, stage_events regclass, spend regclass, orders regclass,
    stages text[], conversion_window interval, funnel_modes text, materialized boolean, tz text,
    money_decimals integer DEFAULT 2, campaigns regclass DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad text;
BEGIN
    IF money_decimals NOT BETWEEN 0 AND 6 THEN
        RAISE EXCEPTION 'leadkpi: money_decimals must be between 0 and 6 (or NULL for exact amounts), not %', money_decimals
            USING ERRCODE = '22023', HINT = 'Pass the currency''s minor unit: 2 for EUR or USD, 0 for JPY, 3 for KWD.';
    END IF;
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

    PERFORM @extschema@._lk_read_input('leads', leads, tz);
    IF spend IS NOT NULL THEN
        PERFORM @extschema@._lk_read_input('spend', spend, tz);
    END IF;
    IF campaigns IS NOT NULL THEN
        PERFORM @extschema@._lk_read_input('campaigns', campaigns, tz);
    END IF;
    IF orders IS NOT NULL THEN
        PERFORM @extschema@._lk_read_input('orders', orders, tz);
        PERFORM @extschema@._lk_check_lead_id('orders', orders, leads);
    END IF;
    IF stage_events IS NOT NULL THEN
        PERFORM @extschema@._lk_read_input('stage_events', stage_events, tz);
        PERFORM @extschema@._lk_check_lead_id('stage_events', stage_events, leads);
        PERFORM @extschema@._lk_check_funnel(stage_events, stages, conversion_window, funnel_modes);
    ELSIF stages IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: stages given without stage_events'
            USING ERRCODE = '22023', HINT = 'Pass stage_events => a table or view with lead_id, stage, occurred_at.';
    END IF;

    -- an input must not be one of the views about to be replaced
    SELECT r::text INTO bad
      FROM unnest(ARRAY[leads, stage_events, spend, orders, campaigns]) AS r
      JOIN pg_class c ON c.oid = r JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = target_schema AND c.relname = ANY (@extschema@._lk_report_names())
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'leadkpi: input % is one of the report views that create_reports replaces in schema %', bad, quote_ident(target_schema)
            USING ERRCODE = '22023',
                  HINT = 'Read from your own tables or views, or write the reports to another schema.';
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_check_inputs(name, regclass, regclass, regclass, regclass, text[], interval, text, boolean, text, integer, regclass) IS
'leadkpi internal: every check of create_reports() on its arguments and inputs, run before anything is dropped or created';
