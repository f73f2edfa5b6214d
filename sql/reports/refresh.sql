
-----------------------------------------------------------------------------
-- Reports: refresh_reports(), which rewrites the stores and the materialized
-- reports of a schema (see stores.sql), stores first.
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.refresh_reports(target_schema name, concurrently boolean DEFAULT true)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n text;
    rel regclass;
    found boolean := false;
BEGIN
    PERFORM @extschema@._lk_schema_lock(target_schema);
    FOREACH n IN ARRAY ARRAY['kpi_watermark', 'kpi_daily', 'spend_daily', 'funnel_store',
                             'kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month',
                             'funnel_report', 'funnel_by_campaign'] LOOP
        SELECT c.oid INTO rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = target_schema AND c.relname = n AND c.relkind = 'm'
           AND coalesce(obj_description(c.oid, 'pg_class'), '') LIKE 'leadkpi %';
        CONTINUE WHEN rel IS NULL;
        found := true;
        EXECUTE format('REFRESH MATERIALIZED VIEW %s%s', CASE WHEN $2 THEN 'CONCURRENTLY ' ELSE '' END, rel);
        RETURN NEXT rel;
    END LOOP;
    IF NOT found THEN
        RAISE EXCEPTION 'leadkpi: schema % has no materialized leadkpi reports', target_schema
            USING ERRCODE = '42P01', HINT = 'Create them with create_reports(..., materialized => true).';
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.refresh_reports(name, boolean) IS
'Refreshes the materialized leadkpi reports of target_schema, stores first, in one transaction (CONCURRENTLY by default, so readers are not blocked); returns the refreshed relations';
