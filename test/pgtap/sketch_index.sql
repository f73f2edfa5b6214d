-- sketch_index: the sketch's bucket of a duration v (microseconds) is
-- ceil(ln(v) / ln(gamma)), gamma = 1.01 / 0.99, as sketch.h defines it.
-- The C code reads lookup tables rather than calling log() per row; this
-- checks them against the formula, computed here by PostgreSQL's ln(), at
-- and around every bucket edge from 1 us to the timestamp range's end.
BEGIN;
SELECT plan(4);

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

SELECT * FROM finish();
ROLLBACK;
