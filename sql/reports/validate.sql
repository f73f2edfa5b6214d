
-----------------------------------------------------------------------------
-- Reports: the canonical inputs.  create_reports() reads up to four inputs,
-- tables or views with the canonical column names of doc/crm.md.
-----------------------------------------------------------------------------

-- Looks up one column of a mapped input and returns the SQL expression that
-- reads it as the canonical type.  kind is one of id, ts, date, text, numeric,
-- bool.  A missing required column is 42703, a wrong type 42804.  With tz, a
-- timestamp without time zone (or a date) is read as local time in tz, and a
-- timestamptz is cut to a date in tz, so the result never depends on the
-- reading session's TimeZone.
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
