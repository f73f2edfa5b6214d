-- close_summary rollups are exact: per-cohort summaries merged with rollup()
-- and + equal the summary built from all leads at once, whatever the order
-- and grouping (associative, commutative); summaries of other grids are
-- refused; = and the hash opclass follow the printed form.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE cr_leads AS
SELECT i AS id, 'c' || (i % 5) AS campaign, (ARRAY['web', 'mail', 'ads'])[1 + i % 3] AS channel,
       timestamptz '2024-01-01' + (i * 104729 % 360) * interval '1 day' + (i % 19) * interval '1 hour' AS fc,
       i
FROM generate_series(1, 3000) i;
ALTER TABLE cr_leads DROP COLUMN i, ADD COLUMN won timestamptz, ADD COLUMN lost timestamptz,
    ADD COLUMN revenue numeric, ADD COLUMN amount numeric, ADD COLUMN reached timestamptz[];
UPDATE cr_leads SET
    won = CASE WHEN id % 6 = 0 THEN fc + (id % 120) * interval '1 day' END,
    lost = CASE WHEN id % 6 IN (1, 2) THEN fc + (id % 70) * interval '1 day' END,
    revenue = CASE WHEN id % 6 = 0 THEN CASE WHEN id % 4 = 0 THEN round(id * 0.37, 2) ELSE round(id * 1.1, 1) END END,
    amount = CASE WHEN id % 3 = 0 THEN round(id * 0.5, 3) END,
    reached = CASE WHEN id % 4 <> 0 THEN ARRAY[fc, fc + (id % 11) * interval '1 day', CASE WHEN id % 4 = 1 THEN fc + (id % 30) * interval '1 day' END] END;

CREATE TEMP TABLE cr_grid AS SELECT close_grid('2025-01-01', 'month', 4, 10, 'UTC') AS g;
CREATE TEMP TABLE cr_cohort AS
SELECT campaign, channel, date_trunc('month', fc) AS cohort,
       close_agg(fc, won, lost, revenue, reached, amount, (SELECT g FROM cr_grid)) AS s
FROM cr_leads GROUP BY 1, 2, 3;
CREATE TEMP TABLE cr_all AS
SELECT close_agg(fc, won, lost, revenue, reached, amount, (SELECT g FROM cr_grid)) AS s FROM cr_leads;

-- left and right folds with +, and a pairwise tree of + merges
CREATE FUNCTION pg_temp.cr_tree(a close_summary[]) RETURNS close_summary LANGUAGE plpgsql AS $$
DECLARE nxt close_summary[];
BEGIN
    WHILE cardinality(a) > 1 LOOP
        nxt := '{}';
        FOR i IN 1 .. cardinality(a) BY 2 LOOP
            nxt := nxt || CASE WHEN i < cardinality(a) THEN a[i] + a[i + 1] ELSE a[i] END;
        END LOOP;
        a := nxt;
    END LOOP;
    RETURN a[1];
END $$;
CREATE FUNCTION pg_temp.cr_fold(a close_summary[], rev boolean) RETURNS close_summary LANGUAGE plpgsql AS $$
DECLARE acc close_summary := a[1];
BEGIN
    FOR i IN 2 .. cardinality(a) LOOP
        acc := CASE WHEN rev THEN a[i] + acc ELSE acc + a[i] END;
    END LOOP;
    RETURN acc;
END $$;

SELECT cmp_ok((SELECT count(*) FROM cr_cohort), '>', 100::bigint, 'over a hundred cohort summaries to merge');
SELECT is((SELECT rollup(s)::text FROM cr_cohort), (SELECT s::text FROM cr_all),
          'rollup of the cohort summaries = the summary of all leads at once');
SELECT is((SELECT rollup(s ORDER BY cohort DESC, campaign) FROM cr_cohort)::text,
          (SELECT rollup(s ORDER BY campaign, cohort) FROM cr_cohort)::text, 'rollup in another order: the same');
SELECT is((SELECT pg_temp.cr_fold(array_agg(s ORDER BY cohort, campaign, channel), false) FROM cr_cohort)::text,
          (SELECT s::text FROM cr_all), 'a left fold with + gives the same');
SELECT is((SELECT pg_temp.cr_fold(array_agg(s ORDER BY channel, cohort DESC, campaign), true) FROM cr_cohort)::text,
          (SELECT s::text FROM cr_all), 'a right fold with + in another order gives the same (commutative)');
SELECT is((SELECT pg_temp.cr_tree(array_agg(s ORDER BY campaign DESC, cohort)) FROM cr_cohort)::text,
          (SELECT s::text FROM cr_all), 'a pairwise tree of + gives the same (associative)');
SELECT results_eq(
    $$SELECT channel, rollup(s)::text FROM cr_cohort GROUP BY channel ORDER BY channel$$,
    $$SELECT channel, close_agg(fc, won, lost, revenue, reached, amount, (SELECT g FROM cr_grid))::text
      FROM cr_leads GROUP BY channel ORDER BY channel$$,
    'rollup by channel = close_agg by channel');

-- stores per snapshot: a summary of one snapshot each merges into the union
-- of the snapshots (exactly, block by block; only leads() counts a lead once
-- per summary, as the leads are the same in each)
CREATE TEMP TABLE cr_one AS
SELECT w.snapshot,
       close_agg(l.fc, l.won, l.lost, l.revenue, l.reached, l.amount,
                 close_summary_grid(ARRAY[w.snapshot], w.ends, '2025-01-01', age_bounds((SELECT g FROM cr_grid)))) AS s
FROM (SELECT snapshot, array_agg(window_end ORDER BY horizon) AS ends
        FROM close_windows((SELECT g FROM cr_grid)) GROUP BY 1) w, cr_leads l
GROUP BY 1;
SELECT is((SELECT substring(rollup(s)::text FROM ' ; block .*$') FROM cr_one), (SELECT substring(s::text FROM ' ; block .*$') FROM cr_all),
          'one summary per snapshot: their rollup has the snapshots and cells of the summary of all snapshots');

-- other grids are refused
SELECT throws_ok($$SELECT (SELECT s FROM cr_all) + close_grid('2025-01-01', 'month', 3, 10, 'UTC')$$,
                 '22023', '+: close summaries of different grids cannot be merged', 'other horizons are refused');
SELECT throws_ok($$SELECT rollup(s) FROM (SELECT s FROM cr_all UNION ALL SELECT close_grid('2025-01-01', 'month', 4, 10, 'Europe/Berlin')) x$$,
                 '22023', 'rollup: close summaries of different grids cannot be merged', 'windows cut in another time zone are refused');
SELECT throws_ok($$SELECT (SELECT s FROM cr_all) + close_grid('2025-01-01', 'month', 4, 10, 'UTC', '{1 day}')$$,
                 '22023', NULL, 'other age buckets are refused');

-- equality and hashing
SELECT ok((SELECT rollup(s) FROM cr_cohort) = (SELECT s FROM cr_all), '= holds for equal summaries');
SELECT is((SELECT count(*) FROM (SELECT s FROM cr_cohort UNION SELECT s FROM cr_cohort) u),
          (SELECT count(DISTINCT s::text) FROM cr_cohort), 'UNION removes exactly the summaries that print the same');
SELECT is((SELECT count(*) FROM cr_cohort a JOIN cr_cohort b ON a.s = b.s WHERE close_summary_hash(a.s) <> close_summary_hash(b.s)),
          0::bigint, 'equal summaries hash alike');

-- a real state type, so that Citus can push the aggregates down (partial
-- states travel through the text I/O tested in test/sql/close_summary_io.sql)
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
  WHERE (p.proname IN ('close_agg', 'stage_reach') OR (p.proname = 'rollup' AND p.proargtypes[0] = 'close_summary'::regtype))
    AND (a.aggtranstype = 'internal'::regtype OR a.aggcombinefn = 0 OR p.proparallel <> 's')
$$, 'close_agg, stage_reach and rollup: a real state type, a combine function, parallel safe');

SELECT * FROM finish();
ROLLBACK;
