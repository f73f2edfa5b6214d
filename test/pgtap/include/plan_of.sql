-- pg_temp.plan_of(query): its EXPLAIN (COSTS OFF) as one text, for matches()
-- on the plan shape (e.g. that a plan is parallel).  Included with \ir.
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
