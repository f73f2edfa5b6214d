-- funnel_compare_memory: = of funnel_summary frees what it allocates (#13;
-- see summary_compare_memory.sql): the peak RSS of an ANALYZE, in a backend
-- of its own.
BEGIN;
SELECT plan(2);
SET LOCAL TimeZone = 'UTC';

\ir include/peak_memory.sql

-- 3000 distinct funnels of 10 entities through 4 steps with varied gaps
CREATE TEMP TABLE fs AS
SELECT k, funnel_agg(g / 4, timestamptz '2024-01-01' + (g * g * k) * interval '1 minute', 1 + g % 4, interval '300 days') AS f
FROM generate_series(1, 3000) k, generate_series(0, 39) g GROUP BY k;
ALTER TABLE fs ALTER COLUMN f SET STATISTICS 10;
SELECT cmp_ok((SELECT avg(length(funnel_summary_send(f))) FROM fs), '>', 300::numeric,
              'the compared binary forms are a few hundred bytes');

INSERT INTO peak VALUES ('before', pg_temp.peak_kb());
ANALYZE fs;
INSERT INTO peak VALUES ('analyze', pg_temp.peak_kb());
SELECT cmp_ok(pg_temp.growth('before', 'analyze'), '<', 8192::bigint,
              'ANALYZE of 3000 funnel_summaries: peak memory grows by less than 8 MB');

SELECT * FROM finish();
ROLLBACK;
