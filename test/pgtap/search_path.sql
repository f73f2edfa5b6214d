-- Functions resolve their operators in pg_catalog, not on the caller's
-- search_path: an operator a user puts earlier on the path changes nothing.
BEGIN;
SELECT plan(1);

-- funnel_steps compares steps with >
CREATE SCHEMA lk_evil;
CREATE FUNCTION lk_evil.gt(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR lk_evil.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = lk_evil.gt);
SET LOCAL search_path = lk_evil, pg_catalog, public;
SELECT is((SELECT count(conversion_from_previous) FROM funnel_steps(funnel_agg(1::bigint, t, s, interval '1 day'))),
          1::bigint, 'funnel_steps ignores an operator > earlier on the search_path')
FROM (VALUES (timestamptz '2024-01-01', 1), (timestamptz '2024-01-02', 2)) AS v(t, s);

SELECT * FROM finish();
ROLLBACK;
