-- What Citus does to push an aggregate down to shards, replayed by hand:
-- each shard runs the real transition function and ships its partial state
-- as text; the coordinator reads the text back, combines with the combine
-- function, and applies the final function.  The result must equal the
-- aggregate run in one place, for every one-step aggregate and kpi_agg.
CREATE TABLE push_leads AS
SELECT g AS id, 'c' || (g % 3) AS campaign,
       timestamptz '2024-01-01 00:00+00' + g * interval '37 minutes' AS first_contact,
       CASE WHEN g % 4 = 0 THEN timestamptz '2024-01-01 00:00+00' + g * interval '37 minutes'
                                + (g % 71) * interval '5 hours 3 seconds' END AS converted_at,
       CASE WHEN g % 9 = 0 THEN NULL ELSE (g % 500) / 8.0 END AS cost, (g % 4)::bigint AS n
FROM generate_series(1, 20000) g;
UPDATE push_leads SET converted_at = first_contact - interval '1 hour' WHERE id % 997 = 0;

-- the partial-state aggregates: our transition functions, no final function
-- (the strict ones start from the same empty summary as the real aggregates)
SELECT agginitval AS empty FROM pg_aggregate WHERE aggfnoid = 'conversion_rate(boolean)'::regprocedure \gset
CREATE AGGREGATE partial_cr(boolean) (SFUNC = conversion_rate_accum, STYPE = kpi_summary, INITCOND = :'empty');
CREATE AGGREGATE partial_cr(bigint, bigint) (SFUNC = conversion_rate_accum, STYPE = kpi_summary, INITCOND = :'empty');
CREATE AGGREGATE partial_cycle(timestamptz, timestamptz) (SFUNC = sales_cycle_accum, STYPE = kpi_summary, INITCOND = :'empty');
CREATE AGGREGATE partial_cpl(numeric, bigint) (SFUNC = cost_per_lead_accum, STYPE = kpi_summary);
CREATE AGGREGATE partial_cpo(numeric, bigint) (SFUNC = cost_per_order_accum, STYPE = kpi_summary);
CREATE AGGREGATE partial_kpi(timestamptz, timestamptz, numeric) (SFUNC = kpi_agg_accum, STYPE = kpi_summary);

-- 8 shards, states shipped as text
CREATE TABLE shipped AS
SELECT id % 8 AS shard, campaign,
       partial_cr(converted_at IS NOT NULL)::text AS cr,
       partial_cr((converted_at IS NOT NULL)::int::bigint, 1::bigint)::text AS crc,
       partial_cycle(first_contact, converted_at)::text AS cycle,
       partial_cpl(cost, n)::text AS cpl,
       partial_cpo(cost, n)::text AS cpo,
       partial_kpi(first_contact, converted_at, cost)::text AS kpi
FROM push_leads GROUP BY 1, 2;

-- a partial state is readable text that names its format version
SELECT left(cr, 12) AS partial_state_starts FROM shipped ORDER BY shard, campaign LIMIT 1;

-- the coordinator: parse, combine (rollup uses the combine function), finalize
CREATE TEMP TABLE combined AS
SELECT campaign,
       conversion_rate(rollup(cr::kpi_summary)) AS cr,
       conversion_rate(rollup(crc::kpi_summary)) AS crc,
       sales_cycle_avg(rollup(cycle::kpi_summary)) AS cycle,
       cost_per_lead(rollup(cpl::kpi_summary)) AS cpl,
       cost_per_order(rollup(cpo::kpi_summary)) AS cpo,
       rollup(kpi::kpi_summary)::text AS kpi
FROM shipped GROUP BY campaign;

CREATE TEMP TABLE direct AS
SELECT campaign,
       conversion_rate(converted_at IS NOT NULL) AS cr,
       conversion_rate((converted_at IS NOT NULL)::int::bigint, 1::bigint) AS crc,
       sales_cycle_avg(first_contact, converted_at) AS cycle,
       cost_per_lead(cost, n) AS cpl,
       cost_per_order(cost, n) AS cpo,
       kpi_agg(first_contact, converted_at, cost)::text AS kpi
FROM push_leads GROUP BY campaign;

SELECT d.campaign,
       c.cr = d.cr AS cr, c.crc = d.crc AS crc, c.cycle = d.cycle AS cycle,
       c.cpl::text = d.cpl::text AS cpl, c.cpo::text = d.cpo::text AS cpo, c.kpi = d.kpi AS kpi
FROM direct d JOIN combined c USING (campaign) ORDER BY 1;
