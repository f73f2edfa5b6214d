-- summary_compare_memory: = and the hash function of kpi_summary free what
-- they allocate (#13).  They compare the binary forms (lk_send_equal,
-- lk_send_hash), and a caller may call them many times in one long-lived
-- memory context: ANALYZE compares every sampled value with its list of
-- most common values in one context, and kept two send() copies a call (an
-- ANALYZE of 73k summaries passed 2 GB; Citus' workers hit it too).  The
-- backend reads its own peak RSS (VmHWM) before and after.  funnel_summary:
-- funnel_compare_memory.sql (a backend of its own, as peaks only grow).
BEGIN;
SELECT plan(3);
SET LOCAL TimeZone = 'UTC';

\ir include/peak_memory.sql

-- 3000 distinct summaries of ~25 sketch buckets each: 3000 sampled rows
-- (statistics target 10), each compared with up to 20 tracked values, that
-- is ~60k comparisons, 120k send() results of ~400 bytes
CREATE TEMP TABLE ks AS
SELECT k, kpi_agg(timestamptz '2024-01-01', timestamptz '2024-01-01' + (g * k) * interval '1 minute', k * 1.5) AS s
FROM generate_series(1, 3000) k, generate_series(1, 25) g GROUP BY k;
ALTER TABLE ks ALTER COLUMN s SET STATISTICS 10;
SELECT cmp_ok((SELECT avg(length(kpi_summary_send(s))) FROM ks), '>', 300::numeric,
              'the compared binary forms are a few hundred bytes');

INSERT INTO peak VALUES ('before', pg_temp.peak_kb());
-- hashing: a hashed subplan builds its table in one context
SELECT count(*) FROM ks WHERE s NOT IN (SELECT s FROM ks WHERE k > 10) \g /dev/null
INSERT INTO peak VALUES ('hash', pg_temp.peak_kb());
ANALYZE ks;
INSERT INTO peak VALUES ('analyze', pg_temp.peak_kb());

SELECT cmp_ok(pg_temp.growth('before', 'hash'), '<', 8192::bigint,
              'a hashed NOT IN over 3000 kpi_summaries: peak memory grows by less than 8 MB');
SELECT cmp_ok(pg_temp.growth('hash', 'analyze'), '<', 8192::bigint,
              'ANALYZE of 3000 kpi_summaries: peak memory grows by less than 8 MB');

SELECT * FROM finish();
ROLLBACK;
