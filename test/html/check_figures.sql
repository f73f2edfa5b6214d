-- test/html/check_figures.sql: every figure the browser showed equals a psql
-- read of its view, row key and column, is printed as its value rounded for
-- display, and none is missing.  psql -v pages='name:schema,...' -f THIS < figures.tsv
-- Prints TAP lines ("ok - ..."/"not ok - ...").
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE figs (page text, view text, key text, key_null boolean, col text, value text, printed text);
\copy figs FROM pstdin
ALTER TABLE figs ADD id serial PRIMARY KEY;
CREATE TEMP TABLE pages AS
SELECT split_part(p, ':', 1) AS page, split_part(p, ':', 2) AS schema FROM unnest(string_to_array(:'pages', ',')) AS p;

-- each view the pages name, read once: its rows as jsonb, with the row key
-- as report_html writes it (none for the overview; control characters,
-- which HTML cannot carry, as U+FFFD)
CREATE TEMP TABLE snap (schema text, view text, key text, row jsonb);
DO $$
DECLARE
    r record;
    key_col text;
BEGIN
    FOR r IN SELECT DISTINCT p.schema, f.view FROM figs f JOIN pages p USING (page) LOOP
        key_col := CASE WHEN r.view LIKE 'kpi_overview%' THEN NULL WHEN r.view LIKE 'kpi_by_month%' THEN 'month'
                        WHEN r.view LIKE 'kpi_by_campaign%' THEN 'campaign' WHEN r.view LIKE 'funnel_report%' THEN 'step' END;
        EXECUTE format('INSERT INTO snap SELECT %L, %L, %s, to_jsonb(v) FROM %I.%I AS v', r.schema, r.view,
                       CASE WHEN key_col IS NULL THEN 'NULL'
                            ELSE format('regexp_replace(%I::text, ''[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'', U&''\FFFD'', ''g'')', key_col) END,
                       r.schema, r.view);
    END LOOP;
END $$;

-- each figure with the value of its view's row and column; a figure whose
-- key finds no row, or several, is 'no single row'
CREATE TEMP TABLE checked AS
SELECT f.*, p.schema,
       CASE WHEN count(s.row) = 1 THEN min(s.row ->> f.col) ELSE 'no single row: ' || count(s.row) END AS in_view
FROM figs f JOIN pages p USING (page)
     LEFT JOIN snap s ON s.schema = p.schema AND s.view = f.view
                     AND CASE WHEN f.key_null THEN s.key IS NULL ELSE s.key = f.key END
GROUP BY f.id, p.schema;

SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'not ok' END || ' - every figure''s data-value equals its view read in psql ('
       || (SELECT count(*) FROM checked) || ' figures)'
       || coalesce(E'\n#   ' || string_agg(format('%s %s.%s key=%s %s: page %s, view %s', page, schema, view, key, col, value, in_view), E'\n#   '), '')
FROM (SELECT * FROM checked WHERE CASE WHEN in_view LIKE 'no single row%' THEN true
                                        ELSE nullif(value, '')::numeric IS DISTINCT FROM in_view::numeric END LIMIT 10) AS bad;

SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'not ok' END || ' - every figure is printed as its value rounded for display'
       || coalesce(E'\n#   ' || string_agg(format('%s %s %s: %s printed %s', page, view, col, value, printed), E'\n#   '), '')
FROM (SELECT * FROM checked
      WHERE in_view NOT LIKE 'no single row%' AND CASE WHEN value = '' THEN printed <> U&'\2013'
                 ELSE replace(replace(replace(printed, ',', ''), ' %', ''), ' d', '')::numeric
                      <> round(value::numeric * CASE WHEN printed LIKE '% \%' THEN 100 ELSE 1 END,
                               CASE WHEN printed LIKE '% \%' OR printed LIKE '% d' THEN 1
                                    WHEN scale(value::numeric) > 6 THEN 2 ELSE scale(value::numeric) END) END
      LIMIT 10) AS bad;

-- none missing: 4 tiles with the last two months, the overview, 3 per funnel
-- step, 7 per campaign shown (at most 50)
CREATE FUNCTION pg_temp.expected(schema text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE months bigint; steps bigint; camps bigint; spend boolean;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I.kpi_by_month', schema) INTO months;
    EXECUTE format('SELECT count(*) FROM %I.funnel_report', schema) INTO steps;
    EXECUTE format('SELECT count(*) FROM %I.kpi_by_campaign', schema) INTO camps;
    EXECUTE format('SELECT cost IS NOT NULL FROM %I.kpi_overview', schema) INTO spend;
    RETURN 4 + 4 * least(months, 2) + 3 + CASE WHEN spend THEN 2 ELSE 0 END + 3 * steps + 7 * least(camps, 50);
END $$;
SELECT CASE WHEN n = pg_temp.expected(p.schema) THEN 'ok' ELSE 'not ok' END
       || format(' - %s: %s figures, one for each tile, month, overview figure, funnel step figure and campaign figure (%s expected)',
                 p.page, n, pg_temp.expected(p.schema))
FROM pages p LEFT JOIN LATERAL (SELECT count(*) AS n FROM figs f WHERE f.page = p.page) c ON true
ORDER BY p.page;
