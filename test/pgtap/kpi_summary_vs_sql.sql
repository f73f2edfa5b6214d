-- kpi_summary_vs_sql: kpi_agg / spend_agg summaries and every accessor
-- against plain SQL over the same generated rows, per campaign and overall
-- (group '*'), including the sketch percentiles against percentile_cont.
BEGIN;
SELECT plan(37);

\ir include/kpi_data.sql

-- Summaries: leads with revenue, plus spend, per campaign and overall ('*').
CREATE TABLE tap_sum AS
SELECT l.grp, l.s AS leads_only, l.s + sp.s AS s
FROM (SELECT campaign AS grp, kpi_agg(first_contact, converted_at, revenue) AS s FROM tap_leads GROUP BY campaign
      UNION ALL
      SELECT '*', kpi_agg(first_contact, converted_at, revenue) FROM tap_leads) l
JOIN (SELECT campaign AS grp, spend_agg(cost) AS s FROM tap_spend GROUP BY campaign
      UNION ALL
      SELECT '*', spend_agg(cost) FROM tap_spend) sp USING (grp);

-- Summaries over strictly positive cycles only: no zero bucket, so the sketch
-- must not pin the q = 0 estimate to 0.
CREATE TABLE tap_pos AS
SELECT campaign AS grp, kpi_agg(first_contact, converted_at) AS s
FROM tap_leads WHERE converted_at > first_contact GROUP BY campaign
UNION ALL
SELECT '*', kpi_agg(first_contact, converted_at) FROM tap_leads WHERE converted_at > first_contact;

-- Plain-SQL reference figures.
CREATE TABLE tap_ref AS
WITH l AS (
    SELECT campaign AS grp, * FROM tap_leads
    UNION ALL
    SELECT '*', * FROM tap_leads
), lf AS (
    SELECT grp,
           count(*) FILTER (WHERE first_contact IS NOT NULL) AS leads,
           count(*) FILTER (WHERE first_contact IS NOT NULL AND converted_at IS NOT NULL) AS conversions,
           count(*) FILTER (WHERE converted_at < first_contact) AS excluded,
           sum(revenue) FILTER (WHERE first_contact IS NOT NULL AND converted_at IS NOT NULL) AS revenue,
           round(avg(extract(epoch FROM converted_at - first_contact) * 1000000)
                 FILTER (WHERE converted_at >= first_contact)) AS avg_us,
           min(extract(epoch FROM converted_at - first_contact) * 1000000)
                 FILTER (WHERE converted_at >= first_contact) AS min_us,
           max(extract(epoch FROM converted_at - first_contact) * 1000000)
                 FILTER (WHERE converted_at >= first_contact) AS max_us
    FROM l GROUP BY grp
), sf AS (
    SELECT campaign AS grp, sum(cost) AS cost FROM tap_spend GROUP BY campaign
    UNION ALL
    SELECT '*', sum(cost) FROM tap_spend
)
SELECT * FROM lf JOIN sf USING (grp);

-- Valid cycles in seconds, per group, for percentile_cont.
CREATE TABLE tap_cyc AS
SELECT campaign AS grp, extract(epoch FROM converted_at - first_contact)::float8 AS sec,
       extract(epoch FROM converted_at - first_contact) * 1000000 AS us
FROM tap_leads WHERE converted_at >= first_contact
UNION ALL
SELECT '*', extract(epoch FROM converted_at - first_contact)::float8,
       extract(epoch FROM converted_at - first_contact) * 1000000
FROM tap_leads WHERE converted_at >= first_contact;

CREATE TABLE tap_q AS SELECT unnest(ARRAY[0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1]::float8[]) AS q;

-- ---------------------------------------------------------------------------
-- Counts and money
-- ---------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM tap_sum), 7::bigint, 'a summary per campaign plus the overall one');

SELECT results_eq(
    $$SELECT grp, leads(s) FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, leads FROM tap_ref ORDER BY grp$$,
    'leads() = count of rows with a first contact, per campaign and overall');

SELECT results_eq(
    $$SELECT grp, conversions(s) FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, conversions FROM tap_ref ORDER BY grp$$,
    'conversions() = count of leads with a conversion time (orphan conversions are not leads)');

SELECT results_eq(
    $$SELECT grp, cycles_excluded(s) FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, excluded FROM tap_ref ORDER BY grp$$,
    'cycles_excluded() = count of conversions before their first contact');

SELECT results_eq(
    $$SELECT grp, cost(s), cost(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, cost, cost::text FROM tap_ref ORDER BY grp$$,
    'cost() = sum(spend.cost) exactly, same text (credits and 3-decimal rows included)');

SELECT results_eq(
    $$SELECT grp, revenue(s), revenue(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, revenue, revenue::text FROM tap_ref ORDER BY grp$$,
    'revenue() = sum(revenue) over converted leads only, exactly, same text');

SELECT results_eq(
    $$SELECT grp, conversion_rate(s) FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, conversions::float8 / nullif(leads, 0) FROM tap_ref ORDER BY grp$$,
    'conversion_rate() = conversions/leads in float8, exactly');

SELECT results_eq(
    $$SELECT grp, cost_per_lead(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, (cost / nullif(leads, 0))::text FROM tap_ref ORDER BY grp$$,
    'cost_per_lead() = sum(cost)/leads in numeric, same text');

SELECT results_eq(
    $$SELECT grp, cost_per_order(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, (cost / nullif(conversions, 0))::text FROM tap_ref ORDER BY grp$$,
    'cost_per_order() = sum(cost)/conversions in numeric, same text');

SELECT results_eq(
    $$SELECT grp, revenue_per_lead(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, (revenue / nullif(leads, 0))::text FROM tap_ref ORDER BY grp$$,
    'revenue_per_lead() = revenue/leads in numeric, same text');

SELECT results_eq(
    $$SELECT grp, roi(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, ((revenue - cost) / nullif(cost, 0))::text FROM tap_ref ORDER BY grp$$,
    'roi() = (revenue - cost)/cost in numeric, same text');

SELECT results_eq(
    $$SELECT grp, cost(leads_only), cost_per_lead(leads_only), cost_per_order(leads_only), roi(leads_only)
      FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric FROM tap_ref ORDER BY grp$$,
    'without spend merged in, cost and every cost KPI is NULL (unknown, not zero)');

-- ---------------------------------------------------------------------------
-- Sales cycle: avg, min, max (exact)
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_avg(s)) * 1000000 FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, avg_us FROM tap_ref ORDER BY grp$$,
    'sales_cycle_avg() = exact mean of valid cycles, rounded to the microsecond');

SELECT results_eq(
    $$SELECT grp, sales_cycle_avg(s)::text FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, justify_hours(make_interval(secs => avg_us / 1000000))::text FROM tap_ref ORDER BY grp$$,
    'sales_cycle_avg() is shown in 24-hour days and time, no months');

SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_min(s)) * 1000000 FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, min_us FROM tap_ref ORDER BY grp$$,
    'sales_cycle_min() = shortest valid cycle, exactly');

SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_max(s)) * 1000000 FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, max_us FROM tap_ref ORDER BY grp$$,
    'sales_cycle_max() = longest valid cycle, exactly');

SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_min(s)) * 1000000, extract(epoch FROM sales_cycle_max(s)) * 1000000
      FROM tap_pos ORDER BY grp$$,
    $$SELECT grp, min(us), max(us) FROM tap_cyc WHERE us > 0 GROUP BY grp ORDER BY grp$$,
    'sales_cycle_min()/max() exact over strictly positive cycles too');

-- ---------------------------------------------------------------------------
-- Percentiles: within 1% of percentile_cont; q = 0 and q = 1 exact
-- (1 us of slack for rounding the estimate to whole microseconds)
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT s.grp, q.q, extract(epoch FROM sales_cycle_percentile(s.s, q.q)) AS est, r.truth
      FROM tap_sum s CROSS JOIN tap_q q
      JOIN LATERAL (SELECT percentile_cont(q.q) WITHIN GROUP (ORDER BY sec) AS truth
                    FROM tap_cyc c WHERE c.grp = s.grp) r ON true
      WHERE q.q > 0 AND q.q < 1
        AND NOT abs(extract(epoch FROM sales_cycle_percentile(s.s, q.q))::float8 - r.truth) <= 0.01 * r.truth + 1e-6$$,
    'sales_cycle_percentile(q) within 1% of percentile_cont for q in 0.01..0.99 (all valid cycles)');

SELECT is_empty(
    $$SELECT s.grp, q.q, extract(epoch FROM sales_cycle_percentile(s.s, q.q)) AS est, r.truth
      FROM tap_pos s CROSS JOIN tap_q q
      JOIN LATERAL (SELECT percentile_cont(q.q) WITHIN GROUP (ORDER BY sec) AS truth
                    FROM tap_cyc c WHERE c.grp = s.grp AND c.us > 0) r ON true
      WHERE q.q > 0 AND q.q < 1
        AND NOT abs(extract(epoch FROM sales_cycle_percentile(s.s, q.q))::float8 - r.truth) <= 0.01 * r.truth + 1e-6$$,
    'sales_cycle_percentile(q) within 1% of percentile_cont for q in 0.01..0.99 (positive cycles only)');

SELECT results_eq(
    $$SELECT grp, sales_cycle_percentile(s, 0) = sales_cycle_min(s), sales_cycle_percentile(s, 1) = sales_cycle_max(s)
      FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, true, true FROM tap_sum ORDER BY grp$$,
    'sales_cycle_percentile(0) = min and (1) = max exactly (data with zero-length cycles)');

SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_percentile(s, 0)) * 1000000 FROM tap_pos ORDER BY grp$$,
    $$SELECT grp, min(us) FROM tap_cyc WHERE us > 0 GROUP BY grp ORDER BY grp$$,
    'sales_cycle_percentile(0) = percentile_cont(0) = shortest cycle exactly (positive cycles only)');

SELECT results_eq(
    $$SELECT grp, extract(epoch FROM sales_cycle_percentile(s, 1)) * 1000000 FROM tap_pos ORDER BY grp$$,
    $$SELECT grp, max(us) FROM tap_cyc WHERE us > 0 GROUP BY grp ORDER BY grp$$,
    'sales_cycle_percentile(1) = percentile_cont(1) = longest cycle exactly (positive cycles only)');

SELECT is_empty(
    $$SELECT k, extract(epoch FROM sales_cycle_percentile(s, 0)) AS p0, extract(epoch FROM sales_cycle_min(s)) AS min,
             extract(epoch FROM sales_cycle_percentile(s, 1)) AS p1, extract(epoch FROM sales_cycle_max(s)) AS max
      FROM (SELECT k, kpi_agg(a, b) s
            FROM generate_series(1, 20) k,
                 LATERAL (VALUES (timestamptz '2025-01-01', timestamptz '2025-01-01' + k * interval '1 hour 0.1234 s'),
                                 (timestamptz '2025-01-01', timestamptz '2025-01-01' + interval '17 minutes'),
                                 (timestamptz '2025-01-01', timestamptz '2025-01-01' + k * interval '7.77 s')) v(a, b)
            GROUP BY k) x
      WHERE sales_cycle_percentile(s, 0) <> sales_cycle_min(s) OR sales_cycle_percentile(s, 1) <> sales_cycle_max(s)$$,
    'sales_cycle_percentile(0)/(1) are exactly min/max for 20 small hand-made cycle sets');

SELECT is_empty(
    $$SELECT s.grp, extract(epoch FROM sales_cycle_median(s.s)) AS est,
             (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY sec) FROM tap_cyc c WHERE c.grp = s.grp) AS truth
      FROM tap_sum s
      WHERE NOT abs(extract(epoch FROM sales_cycle_median(s.s))::float8
                    - (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY sec) FROM tap_cyc c WHERE c.grp = s.grp))
                <= 0.01 * (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY sec) FROM tap_cyc c WHERE c.grp = s.grp) + 1e-6$$,
    'sales_cycle_median() within 1% of percentile_cont(0.5)');

SELECT results_eq(
    $$SELECT grp, sales_cycle_median(s) FROM tap_sum ORDER BY grp$$,
    $$SELECT grp, sales_cycle_percentile(s, 0.5) FROM tap_sum ORDER BY grp$$,
    'sales_cycle_median() = sales_cycle_percentile(0.5)');

SELECT is(
    (SELECT sales_cycle_percentile(kpi_agg(a, b), 0.5) FROM (VALUES
        (timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00'),
        (timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00'),
        (timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-02 00:00:00+00')) v(a, b)),
    interval '0',
    'a median that is a zero-length cycle is exactly zero');

SELECT throws_ok(
    $$SELECT sales_cycle_percentile(s, 1.5) FROM tap_sum$$,
    '22003', NULL, 'sales_cycle_percentile rejects a fraction above 1, as percentile_cont does');

-- ---------------------------------------------------------------------------
-- timestamp and date flavours of kpi_agg
-- ---------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT campaign, leads(s), conversions(s), cycles_excluded(s),
             extract(epoch FROM sales_cycle_avg(s)) * 1000000,
             extract(epoch FROM sales_cycle_min(s)) * 1000000, extract(epoch FROM sales_cycle_max(s)) * 1000000
      FROM (SELECT campaign, kpi_agg(first_ts, conv_ts) s FROM tap_leads GROUP BY campaign) x ORDER BY campaign$$,
    $$SELECT campaign, count(first_ts), count(*) FILTER (WHERE first_ts IS NOT NULL AND conv_ts IS NOT NULL),
             count(*) FILTER (WHERE conv_ts < first_ts),
             round(avg(extract(epoch FROM conv_ts - first_ts) * 1000000) FILTER (WHERE conv_ts >= first_ts)),
             min(extract(epoch FROM conv_ts - first_ts) * 1000000) FILTER (WHERE conv_ts >= first_ts),
             max(extract(epoch FROM conv_ts - first_ts) * 1000000) FILTER (WHERE conv_ts >= first_ts)
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'kpi_agg(timestamp): counts, exclusions, avg/min/max of wall-clock cycles equal plain SQL');

SELECT results_eq(
    $$SELECT campaign, leads(s), conversions(s), cycles_excluded(s),
             extract(epoch FROM sales_cycle_avg(s)) * 1000000,
             extract(epoch FROM sales_cycle_min(s)) / 86400, extract(epoch FROM sales_cycle_max(s)) / 86400,
             revenue(s)
      FROM (SELECT campaign, kpi_agg(first_d, conv_d, revenue) s FROM tap_leads GROUP BY campaign) x ORDER BY campaign$$,
    $$SELECT campaign, count(first_d), count(*) FILTER (WHERE first_d IS NOT NULL AND conv_d IS NOT NULL),
             count(*) FILTER (WHERE conv_d < first_d),
             round(avg((conv_d - first_d)::numeric * 86400000000) FILTER (WHERE conv_d >= first_d)),
             min(conv_d - first_d) FILTER (WHERE conv_d >= first_d)::numeric,
             max(conv_d - first_d) FILTER (WHERE conv_d >= first_d)::numeric,
             sum(revenue) FILTER (WHERE first_d IS NOT NULL AND conv_d IS NOT NULL)
      FROM tap_leads GROUP BY campaign ORDER BY campaign$$,
    'kpi_agg(date, date, numeric): counts, exclusions, avg/min/max in days and revenue equal plain SQL');

SELECT is_empty(
    $$SELECT campaign, extract(epoch FROM sales_cycle_median(s)) / 86400 AS est, truth
      FROM (SELECT campaign, kpi_agg(first_d, conv_d) s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY conv_d - first_d) FILTER (WHERE conv_d >= first_d) truth
            FROM tap_leads GROUP BY campaign) x
      WHERE NOT abs(extract(epoch FROM sales_cycle_median(s))::float8 / 86400 - truth) <= 0.01 * truth + 1e-6$$,
    'kpi_agg(date): median within 1% of percentile_cont(0.5) of day differences');

-- ---------------------------------------------------------------------------
-- NULL, empty and degenerate summaries
-- ---------------------------------------------------------------------------
SELECT ok((SELECT kpi_agg(first_contact, converted_at) FROM tap_leads WHERE false) IS NULL,
          'kpi_agg over no rows is NULL');

SELECT results_eq(
    $$SELECT leads(s), conversions(s), conversion_rate(s), sales_cycle_avg(s), sales_cycle_min(s),
             sales_cycle_max(s), sales_cycle_median(s), revenue(s), cost(s)
      FROM (SELECT kpi_agg(first_contact, converted_at, revenue) s FROM tap_leads WHERE first_contact IS NULL) x$$,
    $$VALUES (0::bigint, 0::bigint, NULL::float8, NULL::interval, NULL::interval, NULL::interval, NULL::interval,
              NULL::numeric, NULL::numeric)$$,
    'rows without a first contact make no leads: zero counts, NULL ratios and cycle figures');

SELECT results_eq(
    $$SELECT revenue(s), revenue_per_lead(s), roi(s) FROM
        (SELECT kpi_agg(first_contact, converted_at) + spend_agg(1.00) s FROM tap_leads, (VALUES (1)) one(x)) x$$,
    $$VALUES (NULL::numeric, NULL::numeric, NULL::numeric)$$,
    'kpi_agg without a revenue argument: revenue, revenue_per_lead and roi are NULL');

SELECT results_eq(
    $$SELECT cost(s)::text, roi(s), cost_per_lead(s)::text FROM
        (SELECT kpi_agg(a, b, r) + (SELECT spend_agg(c) FROM (VALUES (10.00), (-10.00), (NULL)) v(c)) s
         FROM (VALUES (timestamptz '2025-01-01', timestamptz '2025-01-02', 50.00)) w(a, b, r)) x$$,
    $$VALUES ('0.00', NULL::numeric, '0.00000000000000000000')$$,
    'spend summing to zero: cost 0.00, roi NULL (zero cost), cost_per_lead 0');

SELECT is((SELECT cost(spend_agg(c)) FROM (VALUES (NULL::numeric), (NULL)) v(c)), NULL::numeric,
          'spend_agg over all-NULL amounts has no cost (NULL, not 0)');

SELECT results_eq(
    $$SELECT leads(s), conversions(s), cycles_excluded(s), sales_cycle_avg(s), sales_cycle_median(s), revenue(s)
      FROM (SELECT kpi_agg(a, b, r) s FROM (VALUES
          (timestamptz '2025-01-10', timestamptz '2025-01-09', 99.99),
          (timestamptz '2025-01-10', timestamptz '2025-01-12', 1.01),
          (timestamptz '2025-01-10', NULL, 1000)) v(a, b, r)) x$$,
    $$VALUES (3::bigint, 2::bigint, 1::bigint, interval '2 days', interval '2 days', 101.00)$$,
    'an early conversion counts as a conversion with revenue, but not as a cycle; an open lead''s revenue is ignored');

SELECT throws_ok(
    $$SELECT kpi_agg(a, b) FROM (VALUES (timestamptz '-infinity', NULL::timestamptz)) v(a, b)$$,
    '22008', NULL, 'kpi_agg rejects an infinite first contact');

SELECT * FROM finish();
ROLLBACK;
