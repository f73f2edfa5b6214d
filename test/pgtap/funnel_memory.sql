-- funnel_memory: how much memory one group of a funnel aggregate may take
-- (#13).  leadkpi.funnel_memory_limit bounds it: window_funnel counts 32
-- bytes per event, funnel_agg 92 (its worst case, one entity with every
-- event) plus the key bytes of text and uuid entities.  A group that needs
-- more is 54000 with a hint, before anything is allocated, at exactly the
-- event the limit allows; and the matcher's strict_once scratch memory
-- belongs to the query, not to the backend (it was 139 kB in
-- TopMemoryContext for the backend's life).
BEGIN;
SELECT plan(18);
SET LOCAL TimeZone = 'UTC';

-- the library is loaded: its parameter is defined, with its default
SELECT ok(window_funnel(interval '1 day', now(), true) = 1, 'the library is loaded');
SELECT is(current_setting('leadkpi.funnel_memory_limit'), '2GB', 'the default limit is 2GB');

-- what an error says, for checking the hint too
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || ' HINT: ' || hint;
END $$;

SET LOCAL leadkpi.funnel_memory_limit = '64kB';

-- window_funnel: 65536 / 32 = 2048 events
SELECT is((SELECT window_funnel(interval '1 day', timestamptz '2025-01-01' + g * interval '1 s', true)
           FROM generate_series(1, 2048) g), 1, 'window_funnel: 2048 events fit in 64kB');
SELECT throws_ok($$SELECT window_funnel(interval '1 day', timestamptz '2025-01-01' + g * interval '1 s', true)
                   FROM generate_series(1, 2049) g$$, '54000', NULL,
                 'window_funnel: the 2049th event is 54000');
SELECT is((SELECT window_funnel(interval '1 day', 'strict_order', timestamptz '2025-01-01' + g * interval '1 s', g = 1, false)
           FROM generate_series(1, 2048) g), 1,
          'window_funnel: rows matching no step are events under strict_order, 2048 fit');
SELECT throws_ok($$SELECT window_funnel(interval '1 day', 'strict_order', timestamptz '2025-01-01' + g * interval '1 s', g = 1, false)
                   FROM generate_series(1, 2049) g$$, '54000', NULL,
                 'window_funnel: and the 2049th is 54000');
SELECT matches(pg_temp.err($$SELECT window_funnel(interval '1 day', now(), true) FROM generate_series(1, 3000)$$),
               '^54000: window_funnel: one group needs more memory than leadkpi.funnel_memory_limit \(64 kB\) HINT: Split the input.*raise leadkpi.funnel_memory_limit',
               'window_funnel: the error names the limit and hints at splitting or raising it');

-- funnel_agg, bigint entities: floor(65536 / 92) = 712 events
SELECT is((SELECT funnel_entities(funnel_agg((g % 10)::bigint, timestamptz '2025-01-01' + g * interval '1 s', 1, interval '1 day'))
           FROM generate_series(1, 712) g), 10::bigint, 'funnel_agg: 712 events fit in 64kB');
SELECT throws_ok($$SELECT funnel_agg((g % 10)::bigint, timestamptz '2025-01-01' + g * interval '1 s', 1, interval '1 day')
                   FROM generate_series(1, 713) g$$, '54000', NULL,
                 'funnel_agg: the 713th event is 54000');
SELECT is((SELECT reached(funnel_agg(1::bigint, timestamptz '2025-01-01' + g * interval '1 s', 1 + g % 2, interval '1 day'), 2)
           FROM generate_series(1, 712) g), 1::bigint, 'funnel_agg: one entity with all 712 events fits');
SELECT matches(pg_temp.err($$SELECT funnel_agg(g::bigint, now(), 1, interval '1 day') FROM generate_series(1, 1000) g$$),
               '^54000: funnel_agg: one group needs more memory than leadkpi.funnel_memory_limit \(64 kB\) HINT: Split the input',
               'funnel_agg: the error names the limit and hints at splitting or raising it');
-- text entities: the key bytes count too
SELECT is((SELECT funnel_entities(funnel_agg('entity ' || g, now(), 1, interval '1 day'))
           FROM generate_series(1, 600) g), 600::bigint, 'funnel_agg: 600 text entities fit in 64kB');
SELECT throws_ok($$SELECT funnel_agg(repeat('x', 40) || g, now(), 1, interval '1 day') FROM generate_series(1, 600) g$$,
                 '54000', NULL, 'funnel_agg: 600 entities with 45-byte keys do not');
-- each group has its limit
SELECT is((SELECT count(*) FROM (SELECT g % 3, funnel_agg(g::bigint, now(), 1, interval '1 day')
                                 FROM generate_series(1, 2000) g GROUP BY 1) s),
          3::bigint, 'funnel_agg: three groups of 667 events each fit');

-- a parallel plan: workers and the leader's combine both count
CREATE TABLE mem_events AS
SELECT g AS id, timestamptz '2025-01-01' + g * interval '1 min' AS ts FROM generate_series(1, 3000) g;
ANALYZE mem_events;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT throws_ok($$SELECT window_funnel(interval '1 day', ts, true) FROM mem_events$$, '54000', NULL,
                 'parallel window_funnel: 3000 events are 54000');
SELECT is((SELECT window_funnel(interval '1 day', ts, id % 2 = 0, id % 2 = 1) FROM mem_events WHERE id <= 2000),
          2, 'parallel window_funnel: 2000 events fit');
RESET leadkpi.funnel_memory_limit;
RESET max_parallel_workers_per_gather;

-- strict_once's scratch memory is the query's: TopMemoryContext keeps
-- nothing of it (it used to gain 139 kB for the backend's lifetime)
CREATE TEMP TABLE top_before AS
SELECT total_bytes FROM pg_backend_memory_contexts WHERE name = 'TopMemoryContext';
SELECT is((SELECT window_funnel(interval '1 day', 'strict_once', timestamptz '2025-01-01' + g * interval '1 s', true, true)
           FROM generate_series(1, 10) g), 2, 'a strict_once funnel');
SELECT cmp_ok((SELECT total_bytes FROM pg_backend_memory_contexts WHERE name = 'TopMemoryContext')
              - (SELECT total_bytes FROM top_before), '<', 32768::bigint,
              'strict_once left less than 32 kB in TopMemoryContext');

SELECT * FROM finish();
ROLLBACK;
