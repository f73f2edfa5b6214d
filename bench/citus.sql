-- bench/citus.sql: what the coordinator receives from the workers for a
-- query, loaded into the bench database by bench/citus.sh.
--
-- (The rows come from the workers' pg_stat_statements, read by
-- bench/citus.sh in a statement of its own: a worker records a query when
-- its portal closes, which for a query with subplans (a coordinated
-- transaction) is at the end of the coordinator's transaction.)
--   citus_bench.bytes_explain(q)  Citus's own count, "Tuple data received
--                                 from nodes" of EXPLAIN ANALYZE (rounded by
--                                 pg_size_pretty); fails on pushed-down
--                                 custom aggregates (citusdata/citus#4043)
--   citus_bench.bytes_tasks(q)    every task of q re-run on its worker: rows
--                                 and the byte length of the values it
--                                 returns (their text; for text keys and the
--                                 partial states of worker_partial_agg, a
--                                 cstring, that is also what the binary
--                                 protocol sends).  Tasks on the coordinator
--                                 itself are not traffic and are skipped.
CREATE SCHEMA IF NOT EXISTS citus_bench;

CREATE OR REPLACE FUNCTION citus_bench.bytes_explain(q text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE line text; total bigint := 0;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        IF line ~ 'Tuple data received from nodes: ' THEN
            total := total + pg_size_bytes(substring(line FROM 'Tuple data received from nodes: (.*)$'));
        END IF;
    END LOOP;
    RETURN total;
END $$;

CREATE OR REPLACE FUNCTION citus_bench.bytes_tasks(q text, OUT tasks integer, OUT rows bigint, OUT bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
    task jsonb;
    coord text := (SELECT nodename FROM pg_dist_node WHERE groupid = 0);
    nodes text[] := '{}';
    ports integer[] := '{}';
    cmds text[] := '{}';
    r record;
BEGIN
    SET LOCAL citus.explain_all_tasks = on;
    EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO plan;
    FOR task IN SELECT t FROM jsonb_path_query(plan, 'strict $.**.Tasks[*]') t LOOP
        CONTINUE WHEN substring(task->>'Node' FROM 'host=(\S+)') = coord;
        nodes := nodes || substring(task->>'Node' FROM 'host=(\S+)');
        ports := ports || substring(task->>'Node' FROM 'port=(\d+)')::integer;
        cmds := cmds || format('SELECT count(*) || '' '' || coalesce(sum((SELECT sum(octet_length(v)) FROM jsonb_each_text(to_jsonb(t)) x(k, v))), 0) FROM (%s) t',
                               task->>'Query');
    END LOOP;
    tasks := 0; rows := 0; bytes := 0;
    FOR r IN SELECT * FROM master_run_on_worker(nodes, ports, cmds, true) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'a task failed when re-run on %: %', r.node_name, r.result;
        END IF;
        tasks := tasks + 1;
        rows := rows + split_part(r.result, ' ', 1)::bigint;
        bytes := bytes + split_part(r.result, ' ', 2)::bigint;
    END LOOP;
END $$;
