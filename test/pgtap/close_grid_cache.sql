-- The grid argument of close_agg and close_agg_segments is detoasted once
-- per value and kept (cs_grid_arg): the summaries are the same whether the
-- grid is a constant, a parameter, or a column of a table joined to every
-- row (stored compressed inline, or out of line); a grid that changes
-- between rows is still refused, the same grid in other bytes is not; and
-- a subquery that is run again with another grid (an outer reference) uses
-- that grid.
BEGIN;
SELECT plan(10);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE gc_leads AS
SELECT i AS id, 'c' || (i % 5) AS campaign,
       timestamptz '2024-01-01' + (i * 7919 % 500) * interval '1 day' AS fc,
       CASE WHEN i % 5 = 0 THEN timestamptz '2024-01-01' + (i * 7919 % 500 + i % 120) * interval '1 day' END AS won,
       CASE WHEN i % 5 = 1 THEN timestamptz '2024-01-01' + (i * 7919 % 500 + i % 80) * interval '1 day' END AS lost,
       CASE WHEN i % 5 = 0 THEN round(i * 0.37, 2) END AS revenue,
       CASE WHEN i % 3 = 0 THEN round(i * 0.5, 1) END AS amount
FROM generate_series(1, 2000) i;
-- the default monthly grid has 28 snapshots: over 2 kB, so a table compresses it
CREATE TEMP TABLE gc_grid (g close_summary);
INSERT INTO gc_grid SELECT close_grid('2025-06-01', 'month', 6, 28, 'UTC');
CREATE TEMP TABLE gc_grid_ext (g close_summary);
ALTER TABLE gc_grid_ext ALTER COLUMN g SET STORAGE EXTERNAL;
INSERT INTO gc_grid_ext SELECT close_grid('2025-06-01', 'month', 6, 28, 'UTC');
CREATE TEMP TABLE gc_grids AS
SELECT k, close_grid(as_of, 'month', 3, 6, 'UTC') AS g
FROM (VALUES (1, timestamptz '2025-01-01'), (2, timestamptz '2025-04-01')) v(k, as_of);

SELECT ok((SELECT pg_column_compression(g) IS NOT NULL FROM gc_grid)
          AND (SELECT pg_column_compression(g) IS NULL AND pg_column_size(g) > 2000 FROM gc_grid_ext),
          'the grids are stored compressed inline and out of line');

CREATE FUNCTION pg_temp.gc_agg(grid_sql text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT campaign || '' '' || close_agg(fc, won, lost, revenue, NULL, amount, %s)::text '
                                'FROM gc_leads l%s GROUP BY campaign', grid_sql,
                                CASE WHEN grid_sql LIKE 't.%' THEN ', ' || split_part(grid_sql, '.', 1) || '_src t' ELSE '' END);
END $$;
CREATE TEMP VIEW t_src AS SELECT g FROM gc_grid;
CREATE TEMP TABLE gc_const AS SELECT * FROM pg_temp.gc_agg(format('%L::close_summary', (SELECT g::text FROM gc_grid)));

SELECT set_eq($$SELECT * FROM pg_temp.gc_agg('(SELECT g FROM gc_grid)')$$, 'SELECT * FROM gc_const',
              'close_agg: a grid from a table as a parameter gives the summaries of the constant');
SELECT set_eq($$SELECT * FROM pg_temp.gc_agg('t.g')$$, 'SELECT * FROM gc_const',
              'close_agg: a grid joined to every row (compressed) gives the same summaries');
SELECT set_eq($$SELECT campaign || ' ' || close_agg(fc, won, lost, revenue, NULL, amount, t.g)::text
                FROM gc_leads, gc_grid_ext t GROUP BY campaign$$, 'SELECT * FROM gc_const',
              'close_agg: a grid joined to every row (out of line) gives the same summaries');
-- the same value in other bytes: the rows alternate between the stored
-- (compressed) grid and the plain one
SELECT set_eq($$SELECT l.campaign || ' ' || close_agg(l.fc, l.won, l.lost, l.revenue, NULL, l.amount,
                   CASE WHEN l.id % 2 = 0 THEN t.g ELSE close_grid('2025-06-01', 'month', 6, 28, 'UTC') END)::text
                FROM gc_leads l, gc_grid t GROUP BY l.campaign$$, 'SELECT * FROM gc_const',
              'close_agg: the same grid in other bytes is accepted');
SELECT throws_ok($$SELECT close_agg(l.fc, l.won, l.lost, l.revenue, NULL, l.amount, g.g) FROM gc_leads l, gc_grids g$$,
                 '22023', NULL, 'close_agg: a grid that changes between rows is refused');

-- an outer reference is a parameter: the subquery runs again with each grid
SELECT set_eq($$SELECT k, (SELECT close_agg(l.fc, l.won, l.lost, l.revenue, NULL, l.amount, gg.g)::text FROM gc_leads l)
                FROM gc_grids gg$$,
              $$SELECT 1, close_agg(fc, won, lost, revenue, NULL, amount, close_grid('2025-01-01', 'month', 3, 6, 'UTC'))::text FROM gc_leads
                UNION ALL
                SELECT 2, close_agg(fc, won, lost, revenue, NULL, amount, close_grid('2025-04-01', 'month', 3, 6, 'UTC'))::text FROM gc_leads$$,
              'close_agg: a subquery run again with another grid uses it');
SELECT set_eq($$SELECT k, (SELECT (close_agg_segments(l.id, NULL, NULL, l.fc, l.won, l.lost, l.revenue, l.amount, 'c', 'w', NULL,
                                                      gg.g))[1].summary::text FROM gc_leads l)
                FROM gc_grids gg$$,
              $$SELECT k, (SELECT close_agg(l.fc, l.won, l.lost, l.revenue, NULL, l.amount, gg.g)::text FROM gc_leads l)
                FROM gc_grids gg$$,
              'close_agg_segments: a subquery run again with another grid uses it');
SELECT set_eq($$SELECT m.summary::text FROM (SELECT close_agg_segments(l.id, NULL, NULL, l.fc, l.won, l.lost, l.revenue, l.amount,
                   'c', 'w', NULL, t.g) AS a FROM gc_leads l, gc_grid t) x, unnest(x.a) m$$,
              $$SELECT close_agg(fc, won, lost, revenue, NULL, amount, (SELECT g FROM gc_grid))::text FROM gc_leads$$,
              'close_agg_segments: a grid joined to every row (compressed) gives close_agg''s summary');
SELECT throws_ok($$SELECT close_agg_segments(l.id, NULL, NULL, l.fc, NULL, NULL, NULL, NULL, 'c', 'w', NULL, g.g)
                   FROM gc_leads l, gc_grids g$$,
                 '22023', NULL, 'close_agg_segments: a grid that changes between rows is refused');

SELECT * FROM finish();
ROLLBACK;
