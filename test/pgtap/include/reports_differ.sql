-- pg_temp.reports_differ(a, b, suffix): the report views of schema a (with
-- suffix, e.g. '_live') that differ from those of schema b, row for row
-- (EXCEPT ALL both ways), as 'view:rows' entries; '{}' when all are equal.
-- Views schema b lacks (no funnel without stage events) are skipped.
CREATE FUNCTION pg_temp.reports_differ(a text, b text, suffix text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v text;
    n bigint;
    bad text[] := '{}';
BEGIN
    FOREACH v IN ARRAY ARRAY['kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month', 'kpi_by_team', 'kpi_by_owner',
                             'funnel_report', 'funnel_by_campaign'] LOOP
        CONTINUE WHEN to_regclass(format('%I.%I', b, v)) IS NULL;
        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %1$I.%2$I EXCEPT ALL SELECT * FROM %3$I.%4$I) '
                       'UNION ALL (SELECT * FROM %3$I.%4$I EXCEPT ALL SELECT * FROM %1$I.%2$I)) AS d',
                       a, v || suffix, b, v) INTO n;
        IF n > 0 THEN
            bad := bad || (v || suffix || ':' || n);
        END IF;
    END LOOP;
    RETURN bad;
END;
$$;
