-- stage_step with a nondeterministic collation compares as array_position
-- does (case-insensitive here).  Needs ICU: a server built without it (the
-- valgrind and sanitizer builds of check-memory and check-asan) skips the
-- file, as PostgreSQL's own collate.icu tests do (stage_step_icu_1.out).
SELECT (SELECT count(*) FROM pg_collation WHERE collprovider = 'i') = 0 AS skip_test \gset
\if :skip_test
\quit
\endif
CREATE COLLATION ss_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT stage_step('{lead,mql,sql}', 'MQL' COLLATE ss_ci) AS ci_step,
       array_position('{lead,mql,sql}'::text[], 'MQL' COLLATE ss_ci) AS ci_array_position,
       stage_step('{lead,mql,sql}', 'MQL') IS NULL AS default_is_bytewise;
DROP COLLATION ss_ci;
