
-- ---- charts in psql ------------------------------------------------------
-- Plain-text charts for ad-hoc analysis in psql's aligned format: a funnel
-- with Unicode bars (funnel_chart) and a sparkline of a KPI over periods
-- (sparkline).  They read the summaries' accessors and lay them out; they
-- compute no figure of their own.  New in 0.2.0 (also in the upgrade script).

-- A horizontal bar of value out of max, width characters at max, in eighths
-- of a character (U+2588 full block, U+258F..U+2589 for the last eighths).
CREATE FUNCTION @extschema@._lk_bar(value double precision, max double precision, width integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN value IS NULL OR max IS NULL OR max <= 0 OR value <= 0 THEN ''
            ELSE repeat(U&'\2588', (round(least(value / max, 1) * width * 8)::integer) / 8)
                 || substr(U&'\258F\258E\258D\258C\258B\258A\2589', (round(least(value / max, 1) * width * 8)::integer) % 8, 1) END;
COMMENT ON FUNCTION @extschema@._lk_bar(double precision, double precision, integer) IS
'leadkpi internal: a Unicode bar of value out of max, width characters at max, in eighths of a character';

-- The width of a chart: 1 to 1000 characters, else 22023.
CREATE FUNCTION @extschema@._lk_chart_width(width integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF width IS NULL OR width NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'leadkpi: chart width must be between 1 and 1000 characters, not %', coalesce(width::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'E.g. funnel_chart(fs, 40).';
    END IF;
    RETURN width;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_chart_width(integer) IS
'leadkpi internal: checks a chart width (1 to 1000 characters)';

-- One row per step of the funnel: a bar scaled to reached (the widest step
-- is width characters), reached, the percentages of the first and of the
-- previous step, and a marker on bottleneck(fs).
CREATE FUNCTION @extschema@.funnel_chart(fs @extschema@.funnel_summary, width integer DEFAULT 40)
RETURNS TABLE (step integer, bar text, reached bigint, pct_of_first numeric, pct_of_previous numeric, bottleneck text)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT f.step,
           @extschema@._lk_bar(f.reached, max(f.reached) OVER (), @extschema@._lk_chart_width(width)),
           f.reached,
           round((100 * f.conversion_from_first)::numeric, 1),
           round((100 * f.conversion_from_previous)::numeric, 1),
           CASE WHEN f.step = @extschema@.bottleneck(fs) THEN U&'\25C0 bottleneck' ELSE '' END
      FROM @extschema@.funnel_steps(fs) AS f
     ORDER BY f.step;
END;
COMMENT ON FUNCTION @extschema@.funnel_chart(@extschema@.funnel_summary, integer) IS
'A funnel as text for psql: one row per step with a Unicode bar scaled to reached (width characters for the widest step), reached, the percentages of the first and previous step (1 decimal), and a marker on the bottleneck step';

-- The same with the stage names as a column.
CREATE FUNCTION @extschema@.funnel_chart(fs @extschema@.funnel_summary, stages text[], width integer DEFAULT 40)
RETURNS TABLE (step integer, stage text, bar text, reached bigint, pct_of_first numeric, pct_of_previous numeric, bottleneck text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT c.step, stages[c.step], c.bar, c.reached, c.pct_of_first, c.pct_of_previous, c.bottleneck
      FROM @extschema@.funnel_chart(fs, width) AS c
     ORDER BY c.step;
END;
COMMENT ON FUNCTION @extschema@.funnel_chart(@extschema@.funnel_summary, text[], integer) IS
'funnel_chart(fs, width) with a stage column: step k is named stages[k]';

-- A sparkline: one character per value, from U+2581 (lowest) to U+2588
-- (highest), scaled from the least to the greatest value; NULL is a space,
-- all equal values are the middle bar.
CREATE FUNCTION @extschema@.sparkline(vals double precision[])
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(string_agg(CASE WHEN v.x IS NULL THEN ' '
                                    WHEN m.hi = m.lo THEN U&'\2584'
                                    ELSE substr(U&'\2581\2582\2583\2584\2585\2586\2587\2588',
                                                1 + least(7, floor((v.x - m.lo) / (m.hi - m.lo) * 8)::integer), 1) END,
                               '' ORDER BY v.i), '')
      FROM unnest(vals) WITH ORDINALITY AS v(x, i),
           (SELECT min(y) AS lo, max(y) AS hi FROM unnest(vals) AS y) AS m;
END;
COMMENT ON FUNCTION @extschema@.sparkline(double precision[]) IS
'A sparkline of the values, one character each (U+2581..U+2588 scaled from the least to the greatest, a space for NULL), e.g. sparkline(array_agg(conversion_rate ORDER BY month))';
