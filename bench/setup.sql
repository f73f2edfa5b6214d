-- bench/setup.sql: input tables and timing helpers for bench/run.sh, in schema
-- bench.  Runs after test/data/gen_crm.sql has filled schema crm.
SET client_min_messages = warning;
SET timezone = 'UTC';
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- Per campaign and day: cost, new leads, orders, conversions.  Small (about
-- 146k rows at 200 campaigns), the grain cost reports really use.
CREATE TABLE bench.campaign_days AS
SELECT d.campaign, d.day, d.cost, d.leads, d.orders,
       coalesce(c.converted, 0)::bigint AS converted, d.leads AS total
FROM crm.campaign_days d
LEFT JOIN (SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS day,
                  count(converted_at) AS converted
           FROM crm.leads GROUP BY 1, 2) c USING (campaign, day);

-- The same figures per lead (one row per lead, as many rows as crm.leads), so
-- the two-argument aggregates get a table large enough to time: the day's
-- spend is shared among that day's leads, orders are the lead's own.
CREATE TABLE bench.per_lead AS
SELECT l.lead_id, l.campaign,
       round(d.cost / greatest(d.leads, 1), 2)::numeric(12,2) AS cost,
       1::bigint AS leads,
       coalesce(o.n, 0)::bigint AS orders,
       (l.converted_at IS NOT NULL)::int::bigint AS converted,
       1::bigint AS total
FROM crm.leads l
JOIN bench.campaign_days d
  ON d.campaign = l.campaign AND d.day = (l.first_contact_at AT TIME ZONE 'UTC')::date
LEFT JOIN (SELECT lead_id, count(*) AS n FROM crm.orders GROUP BY 1) o USING (lead_id)
ORDER BY l.lead_id;

-- Per campaign and month, a kpi_summary with revenue: what a rollup report
-- stores once and merges at query time (only when the extension has them).
SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'kpi_agg') AS has_kpi_agg \gset
\if :has_kpi_agg
CREATE TABLE bench.campaign_months AS
SELECT campaign, channel, date_trunc('month', first_contact_at) AS month,
       kpi_agg(first_contact_at, converted_at, revenue) AS s
FROM crm.leads GROUP BY 1, 2, 3;

-- Per campaign and day, leads and spend merged: the daily materialized
-- summary of the README's rollup walkthrough, with its unique index.
CREATE MATERIALIZED VIEW bench.kpi_daily AS
SELECT campaign, day, rollup(s) AS s
FROM (SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS day,
             kpi_agg(first_contact_at, converted_at, revenue) AS s
      FROM crm.leads GROUP BY 1, 2
      UNION ALL
      SELECT campaign, day, spend_agg(amount) FROM crm.spend GROUP BY 1, 2) parts
GROUP BY 1, 2;
CREATE UNIQUE INDEX ON bench.kpi_daily (campaign, day);
\endif

CREATE UNLOGGED TABLE bench.results (
    mode    text,
    name    text,
    round   int,          -- 0 is the warm-up, not counted
    kind    text,         -- leadkpi, plain, floor
    ms      float8,       -- EXPLAIN ANALYZE "Execution Time"
    workers int           -- parallel workers launched
);

CREATE UNLOGGED TABLE bench.checks (
    mode   text,
    name   text,
    bad    bigint,        -- result rows that differ beyond rounding
    inexact bigint,       -- rows equal only within rounding
    sample text
);

-- Server-side time of one query: "Execution Time" of EXPLAIN (ANALYZE,
-- TIMING OFF), which excludes parsing, planning and sending rows to psql and
-- skips per-node clock reads, so it measures the executor only.
CREATE FUNCTION bench.time_query(q text, OUT ms float8, OUT workers int)
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) ' || q INTO plan;
    ms := (plan -> 0 ->> 'Execution Time')::float8;
    workers := coalesce((regexp_match(plan::text, '"Workers Launched": (\d+)'))[1]::int, 0);
END $$;

CREATE FUNCTION bench.record(p_mode text, p_name text, p_round int, p_kind text, q text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bench.results SELECT p_mode, p_name, p_round, p_kind, t.ms, t.workers
    FROM bench.time_query(q) t;
$$;

-- Equal, or equal up to rounding: numbers within tol relative (1e-12 unless
-- the case is approximate by design), intervals within 1 microsecond or tol
-- relative (avg(interval) and leadkpi round differently, and print days vs
-- hours differently).  Texts are compared first, so exact results never get here.
CREATE FUNCTION bench.close(a text, b text, tol float8) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    x numeric;
    y numeric;
BEGIN
    IF a IS NOT DISTINCT FROM b THEN RETURN true; END IF;
    IF a IS NULL OR b IS NULL THEN RETURN false; END IF;
    BEGIN
        x := a::numeric; y := b::numeric;
        RETURN abs(x - y) <= tol::numeric * greatest(abs(y), 1e-300);
    EXCEPTION WHEN invalid_text_representation THEN NULL;
    END;
    BEGIN
        x := extract(epoch FROM a::interval); y := extract(epoch FROM b::interval);
        RETURN abs(x - y) <= greatest(0.000001, tol::numeric * abs(y));
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN NULL;
    END;
    RETURN false;
END $$;

-- Value columns are v (the case's tolerance), v_* (compared exactly but for
-- float rounding: 1e-12) and v_approx* (the case's tolerance, for sketch
-- estimates); all other columns are the key (e.g. campaign).
CREATE FUNCTION bench.close_all(a jsonb, b jsonb, tol float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NOT DISTINCT FROM b
           ELSE coalesce(bool_and(bench.close(a ->> k, b ->> k,
                         CASE WHEN k = 'v' OR k LIKE 'v\_approx%' THEN tol ELSE 1e-12 END)), true) END
    FROM (SELECT jsonb_object_keys(a) AS k UNION SELECT jsonb_object_keys(b)) keys
$$;

CREATE FUNCTION bench.split(x jsonb, want_values boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(key, value), '{}')
    FROM jsonb_each(x) WHERE (key = 'v' OR key LIKE 'v\_%') = want_values
$$;

CREATE FUNCTION bench.check(p_mode text, p_name text, lq text, pq text, tol float8)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        INSERT INTO bench.checks
        SELECT %L, %L,
               count(*) FILTER (WHERE NOT bench.close_all(l.v, p.v, %s)),
               count(*) FILTER (WHERE l.v IS DISTINCT FROM p.v AND bench.close_all(l.v, p.v, %s)),
               left(string_agg(format('key %%s: leadkpi %%s, plain %%s', coalesce(l.k, p.k), l.v, p.v), '; ')
                        FILTER (WHERE l.v IS DISTINCT FROM p.v), 400)
        FROM (SELECT bench.split(to_jsonb(x), false) AS k, bench.split(to_jsonb(x), true) AS v FROM (%s) x) l
        FULL JOIN (SELECT bench.split(to_jsonb(x), false) AS k, bench.split(to_jsonb(x), true) AS v FROM (%s) x) p
          ON l.k = p.k
    $f$, p_mode, p_name, tol, tol, lq, pq);
END $$;
