-- close_agg, stage_reach and rollup(close_summary) in forced parallel plans
-- (Partial Aggregate, Gather) give exactly the serial results, grouped and
-- not; the summaries also sit in a materialized view with a unique index.
SET timezone = 'UTC';
CREATE TABLE cpar_leads AS
SELECT g AS id, 'c' || (g % 7) AS campaign, 'ch' || (g % 3) AS channel,
       timestamptz '2024-01-01' + (g % 9973) * interval '53 minutes' AS first_contact,
       CASE WHEN g % 9 = 0 THEN timestamptz '2024-01-01' + (g % 9973) * interval '53 minutes' + (g % 131) * interval '1 day' END AS won,
       CASE WHEN g % 9 = 1 THEN timestamptz '2024-01-01' + (g % 9973) * interval '53 minutes' + (g % 97) * interval '1 day' END AS lost,
       CASE WHEN g % 9 = 0 THEN (g % 1000) / 4.0 END AS revenue,
       CASE WHEN g % 2 = 0 THEN (g % 700) * 1.5 END AS amount
FROM generate_series(1, 30000) g;
CREATE TABLE cpar_events AS
SELECT l.id AS lead_id, k AS step,
       l.first_contact + (k - 1) * ((l.id % 17) + 1) * interval '2 days' + (l.id % 5) * interval '1 hour' AS occurred_at
FROM cpar_leads l, generate_series(1, 1 + (l.id % 4)::int) k;
-- a repeated stage: only its first time counts
INSERT INTO cpar_events SELECT lead_id, step, occurred_at + interval '3 days' FROM cpar_events WHERE lead_id % 11 = 0;
ANALYZE cpar_leads, cpar_events;
CREATE TABLE cpar_grid AS SELECT close_grid('2025-01-01', 'month', 4, 14, 'UTC') AS g;

-- the grid is one value for the whole query (a parameter: an InitPlan)
CREATE VIEW cpar_q AS
SELECT l.campaign, l.channel,
       close_agg(l.first_contact, l.won, l.lost, l.revenue, e.reached, l.amount, (SELECT g FROM cpar_grid)) AS s
FROM cpar_leads l
LEFT JOIN (SELECT lead_id, stage_reach(step, occurred_at) AS reached FROM cpar_events GROUP BY lead_id) e ON e.lead_id = l.id
GROUP BY 1, 2;

SET max_parallel_workers_per_gather = 0;
CREATE TABLE cpar_serial AS SELECT campaign, channel, s::text AS s FROM cpar_q;
CREATE TABLE cpar_serial_all AS
SELECT close_agg(first_contact, won, lost, revenue, NULL, amount, (SELECT g FROM cpar_grid))::text AS s FROM cpar_leads;
-- the grid may also come from a join: then it is checked in every row
SELECT close_agg(first_contact, won, lost, revenue, NULL, amount, g)::text = (SELECT s FROM cpar_serial_all) AS joined_grid_same
FROM cpar_leads, cpar_grid;
CREATE TABLE cpar_serial_reach AS
SELECT lead_id, stage_reach(step, occurred_at) AS r FROM cpar_events GROUP BY lead_id;

-- EXPLAIN without what differs between PostgreSQL versions (17 no longer
-- prints an InitPlan's "(returns $1)" or "Params Evaluated")
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        CONTINUE WHEN line ~ '^\s*Params Evaluated';
        RETURN NEXT regexp_replace(line, ' \(returns \$\d+\)', '');
    END LOOP;
END $$;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT pg_temp.plan($q$SELECT close_agg(first_contact, won, lost, revenue, NULL, amount, (SELECT g FROM cpar_grid)) FROM cpar_leads$q$);
SELECT (SELECT close_agg(first_contact, won, lost, revenue, NULL, amount, (SELECT g FROM cpar_grid))::text FROM cpar_leads)
       = (SELECT s FROM cpar_serial_all) AS parallel_equals_serial;
SELECT pg_temp.plan($q$SELECT campaign, channel, close_agg(first_contact, won, lost, revenue, NULL, amount, (SELECT g FROM cpar_grid))
FROM cpar_leads GROUP BY 1, 2$q$);
SELECT count(*) AS groups, count(*) FILTER (WHERE p.s::text = s.s) AS identical
FROM cpar_q p JOIN cpar_serial s USING (campaign, channel);
SET enable_hashagg = off;
SELECT pg_temp.plan($q$SELECT lead_id, stage_reach(step, occurred_at) FROM cpar_events GROUP BY lead_id$q$);
SELECT count(*) AS leads, count(*) FILTER (WHERE p.r IS NOT DISTINCT FROM s.r) AS identical
FROM (SELECT lead_id, stage_reach(step, occurred_at) AS r FROM cpar_events GROUP BY lead_id) p
JOIN cpar_serial_reach s USING (lead_id);
RESET enable_hashagg;

-- rollup of stored per-cohort summaries, in parallel: the all-leads summary
CREATE TABLE cpar_stored AS
SELECT campaign, channel, date_trunc('month', first_contact) AS cohort,
       close_agg(first_contact, won, lost, revenue, NULL, amount, (SELECT g FROM cpar_grid)) AS s
FROM cpar_leads GROUP BY 1, 2, 3;
ANALYZE cpar_stored;
SELECT pg_temp.plan($q$SELECT rollup(s) FROM cpar_stored$q$);
SELECT rollup(s)::text = (SELECT s FROM cpar_serial_all) AS rollup_equals_all_at_once FROM cpar_stored;
RESET ALL;

-- a materialized view of summaries refreshes concurrently
CREATE MATERIALIZED VIEW cpar_mv AS SELECT campaign, channel, rollup(s) AS s FROM cpar_stored GROUP BY 1, 2;
CREATE UNIQUE INDEX ON cpar_mv (campaign, channel);
UPDATE cpar_stored SET s = s + s WHERE campaign = 'c1';
REFRESH MATERIALIZED VIEW CONCURRENTLY cpar_mv;
SELECT leads(s) = 2 * (SELECT count(*) FROM cpar_leads WHERE campaign = 'c1' AND channel = 'ch0') AS refreshed
FROM cpar_mv WHERE campaign = 'c1' AND channel = 'ch0';
