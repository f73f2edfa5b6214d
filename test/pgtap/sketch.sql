-- sketch: the cycle sketch's internals, through the SQL API.
-- 1. The bucket of a duration v (microseconds) is ceil(ln(v) / ln(gamma)),
--    gamma = 1.01 / 0.99, as sketch.h defines it.  The C code reads lookup
--    tables rather than calling log() per row; this checks them against the
--    formula, computed here by PostgreSQL's ln(), at and around every bucket
--    edge from 1 us to the timestamp range's end.
-- 2. While aggregating, small holes between buckets are filled with
--    zero-count buckets; no result may keep them, whatever the row order.
BEGIN;
SELECT plan(9);

CREATE TEMP TABLE edge AS
SELECT DISTINCT v
FROM generate_series(0, 2200) i,
     LATERAL (SELECT floor(power(1.01::float8 / 0.99::float8, i))::numeric AS g) e,
     generate_series(-2, 2) d,
     LATERAL (SELECT (e.g + d)::bigint AS v) x
WHERE e.g + d BETWEEN 1 AND 9223371331199999999   -- 2000-01-01 + v fits a timestamp
UNION
SELECT generate_series(1, 300);                   -- the small values, one by one

-- index per value, read from a one-lead summary's text form ("sketch=z0 I:1")
CREATE TEMP TABLE got AS
SELECT v,
       substring(one.s::text FROM 'sketch=z0 (\d+):1$')::int AS idx,
       greatest(0, ceil(ln(v::float8) * (1.0::float8 / ln(1.01::float8 / 0.99::float8))))::int AS want
FROM edge,
     LATERAL (SELECT kpi_agg(t0, t1) AS s
              FROM (VALUES (timestamp '2000-01-01',
                            timestamp '2000-01-01' + (v / 86400000000) * interval '1 day'
                                                   + (v % 86400000000) * interval '1 microsecond')) x(t0, t1)) one;

SELECT cmp_ok((SELECT count(*) FROM got), '>', 9000::bigint,
              'bucket edges from 1 us to the end of the timestamp range are tested');
SELECT is((SELECT count(*) FROM got WHERE idx IS NULL), 0::bigint,
          'every duration lands in a bucket');
SELECT is((SELECT count(*) FROM got WHERE idx IS DISTINCT FROM want), 0::bigint,
          'every bucket index equals ceil(ln(v) / ln(gamma))');
SELECT is((SELECT max(idx) FROM got), (SELECT max(want) FROM got),
          'the longest duration gets the formula''s index');

-- 2. Cycles on every 2nd, 3rd, ... 12th bucket (holes of 1 to 11 buckets,
-- some filled and some not), plus a far outlier, fed in three orders.
CREATE TEMP TABLE holes AS
SELECT g, timestamptz '2024-01-01 00:00+00' AS t0,
       timestamptz '2024-01-01 00:00+00'
         + floor(power(1.01::float8 / 0.99::float8, 900 + step * k)) * interval '1 microsecond' AS t1
FROM generate_series(1, 11) step, generate_series(0, 40) k,
     LATERAL (SELECT step * 100 + k AS g) x
UNION ALL
SELECT 0, timestamptz '2024-01-01 00:00+00', timestamptz '2024-01-01 00:00+00' + interval '900 days';

-- stored uncompressed, so pg_column_size is the summary's own size; r is
-- s reparsed from its text, stored the same way
CREATE TEMP TABLE orders_of (ord text, s kpi_summary, r kpi_summary);
ALTER TABLE orders_of ALTER COLUMN s SET STORAGE EXTERNAL, ALTER COLUMN r SET STORAGE EXTERNAL;
INSERT INTO orders_of (ord, s)
SELECT 'asc' AS ord, kpi_agg(t0, t1 ORDER BY t1) AS s FROM holes
UNION ALL SELECT 'desc', kpi_agg(t0, t1 ORDER BY t1 DESC) FROM holes
UNION ALL SELECT 'shuffled', kpi_agg(t0, t1 ORDER BY hashint4(g)) FROM holes
UNION ALL SELECT 'rolled', rollup(s) FROM (SELECT kpi_agg(t0, t1) AS s FROM holes GROUP BY g % 7) d;
UPDATE orders_of SET r = s::text::kpi_summary;

SELECT is((SELECT count(DISTINCT s::text) FROM orders_of), 1::bigint,
          'the same rows in any order, or rolled up, give the same summary');
SELECT is((SELECT count(*) FROM orders_of WHERE s::text ~ ':0( |$)'), 0::bigint,
          'no printed summary has a zero-count bucket');
SELECT is((SELECT count(*) FROM orders_of WHERE pg_column_size(s) <> pg_column_size(r)), 0::bigint,
          'no stored summary keeps a zero-count bucket (its size equals its reparsed size)');
SELECT is((SELECT count(*) FROM orders_of WHERE kpi_summary_send(s) <> kpi_summary_send(s::text::kpi_summary)), 0::bigint,
          'binary output drops them too');
SELECT is((SELECT sales_cycle_percentile(s, 0.5) FROM orders_of WHERE ord = 'asc'),
          (SELECT sales_cycle_percentile(s::text::kpi_summary, 0.5) FROM orders_of WHERE ord = 'asc'),
          'percentiles read the same before and after the round trip');

SELECT * FROM finish();
ROLLBACK;
