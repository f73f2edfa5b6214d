-- Forced parallel plans give Partial Aggregate + Gather and exactly the
-- serial results, for every aggregate; grouped plans too.  Summaries also sit
-- in a materialized view that refreshes concurrently.
CREATE TABLE par_leads AS
SELECT g AS id, 'c' || (g % 7) AS campaign,
       timestamptz '2024-01-01 00:00+00' + (g % 9973) * interval '53 minutes' AS first_contact,
       CASE WHEN g % 5 = 0 THEN timestamptz '2024-01-01 00:00+00' + (g % 9973) * interval '53 minutes'
                                + (g % 613) * interval '3 hours 1 second' END AS converted_at,
       (g % 1000) / 100.0 AS cost, (g % 3)::bigint AS n
FROM generate_series(1, 200000) g;
ANALYZE par_leads;

CREATE VIEW par_q AS
SELECT conversion_rate(converted_at IS NOT NULL) AS cr_bool,
       conversion_rate((converted_at IS NOT NULL)::int::bigint, 1) AS cr_counts,
       sales_cycle_avg(first_contact, converted_at) AS cycle,
       cost_per_lead(cost, n) AS cpl, cost_per_order(cost, n) AS cpo,
       kpi_agg(first_contact, converted_at, cost)::text AS summary,
       rollup(kpi_agg_one)::text AS rolled
FROM (SELECT *, NULL::kpi_summary AS kpi_agg_one FROM par_leads) l;

SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_result AS SELECT * FROM par_q;
CREATE TEMP TABLE serial_grouped AS
SELECT campaign, conversion_rate(converted_at IS NOT NULL) AS cr, sales_cycle_avg(first_contact, converted_at) AS cycle,
       cost_per_lead(cost, n) AS cpl, kpi_agg(first_contact, converted_at, cost)::text AS summary
FROM par_leads GROUP BY campaign;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT * FROM par_q;
SELECT (SELECT row(p.*)::text FROM par_q p) = (SELECT row(s.*)::text FROM serial_result s) AS parallel_equals_serial;
EXPLAIN (COSTS OFF)
SELECT campaign, conversion_rate(converted_at IS NOT NULL) FROM par_leads GROUP BY campaign;
SELECT count(*) AS campaigns,
       count(*) FILTER (WHERE row(p.*)::text = row(s.*)::text) AS identical
FROM (SELECT campaign, conversion_rate(converted_at IS NOT NULL) AS cr, sales_cycle_avg(first_contact, converted_at) AS cycle,
             cost_per_lead(cost, n) AS cpl, kpi_agg(first_contact, converted_at, cost)::text AS summary
      FROM par_leads GROUP BY campaign) p
JOIN serial_grouped s USING (campaign);

-- rollup of stored daily summaries, in parallel too
CREATE MATERIALIZED VIEW par_daily AS
SELECT campaign, first_contact::date AS day, kpi_agg(first_contact, converted_at, cost) AS s
FROM par_leads GROUP BY 1, 2;
CREATE UNIQUE INDEX ON par_daily (campaign, day);
EXPLAIN (COSTS OFF) SELECT rollup(s) FROM par_daily;
SELECT rollup(s)::text = (SELECT kpi_agg(first_contact, converted_at, cost)::text FROM par_leads) AS rollup_equals_raw
FROM par_daily;
RESET ALL;

-- REFRESH ... CONCURRENTLY after a change picks it up
UPDATE par_leads SET converted_at = first_contact + interval '1 hour' WHERE id = 1;
REFRESH MATERIALIZED VIEW CONCURRENTLY par_daily;
SELECT conversions(rollup(s)) = (SELECT count(converted_at) FROM par_leads WHERE first_contact IS NOT NULL) AS refreshed
FROM par_daily;
