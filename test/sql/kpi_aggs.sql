-- Semantics of the one-step aggregates: empty input, NULLs, one row, zero
-- denominators, limits, time zones and errors.  Each result is compared with
-- the plain SQL it stands for where one exists.
SET extra_float_digits = 0;

-- conversion_rate(boolean) ----------------------------------------------------
SELECT conversion_rate(b) AS empty FROM (SELECT true WHERE false) t(b);
SELECT conversion_rate(b) AS all_null FROM (VALUES (NULL::boolean), (NULL)) t(b);
SELECT conversion_rate(b) AS one_true FROM (VALUES (true)) t(b);
SELECT conversion_rate(b) AS nulls_ignored,
       count(*) FILTER (WHERE b)::float8 / count(b) AS plain
FROM (VALUES (true), (false), (NULL), (true), (NULL)) t(b);
SELECT g % 3 AS grp, conversion_rate(g % 2 = 0) = avg((g % 2 = 0)::int)::float8 AS same
FROM generate_series(1, 1000) g GROUP BY 1 ORDER BY 1;

-- conversion_rate(bigint, bigint) --------------------------------------------
SELECT conversion_rate(c, t) AS empty FROM (SELECT 1::bigint, 1::bigint WHERE false) x(c, t);
SELECT conversion_rate(c, t) AS zero_total FROM (VALUES (0::bigint, 0::bigint)) x(c, t);
SELECT conversion_rate(c, t) AS ratio_of_sums,
       sum(c)::float8 / sum(t) AS plain
FROM (VALUES (1::bigint, 10::bigint), (9, 10), (0, 80)) x(c, t);
-- a row with a NULL is skipped whole
SELECT conversion_rate(c, t) AS null_rows_skipped
FROM (VALUES (1::bigint, 4::bigint), (NULL, 4), (2, NULL)) x(c, t);
SELECT conversion_rate(c, t) FROM (VALUES (-1::bigint, 4::bigint)) x(c, t);
SELECT conversion_rate(c, t) FROM (VALUES (1::bigint, -4::bigint)) x(c, t);
SELECT conversion_rate(c, t) FROM (VALUES (5::bigint, 4::bigint)) x(c, t);
-- near the int64 limit: sums that still fit are exact, past it an error
SELECT conversion_rate(c, t) AS near_limit
FROM (VALUES (4611686018427387903::bigint, 9223372036854775807::bigint)) x(c, t);
SELECT conversion_rate(c, t)
FROM (VALUES (1::bigint, 9223372036854775807::bigint), (1, 1)) x(c, t);

-- sales_cycle_avg ---------------------------------------------------------------
SELECT sales_cycle_avg(a, b) AS empty FROM (SELECT now(), now() WHERE false) t(a, b);
SELECT sales_cycle_avg(a, b) AS all_null
FROM (VALUES (NULL::timestamptz, NULL::timestamptz), (now(), NULL)) t(a, b);
SELECT sales_cycle_avg(a, b) AS one_row
FROM (VALUES ('2024-03-01 10:00+00'::timestamptz, '2024-03-04 16:30+00'::timestamptz)) t(a, b);
-- equal to avg(interval) as an interval, but printed in 24-hour days
SELECT sales_cycle_avg(a, b) AS leadkpi, avg(b - a) AS plain, sales_cycle_avg(a, b) = avg(b - a) AS same
FROM (VALUES ('2024-01-01'::timestamptz, '2024-01-02 20:00'::timestamptz),
             ('2024-01-01', '2024-01-01 10:00')) t(a, b);
-- a close before the first contact is excluded, and counted by the summary
SELECT sales_cycle_avg(a, b) AS excluded_not_averaged,
       cycles_excluded(kpi_agg(a, b)) AS excluded
FROM (VALUES ('2024-01-01'::timestamptz, '2024-01-03'::timestamptz),
             ('2024-01-05', '2024-01-04')) t(a, b);
SELECT sales_cycle_avg(a, b) AS only_excluded
FROM (VALUES ('2024-01-05'::timestamptz, '2024-01-04'::timestamptz)) t(a, b);
-- zero-length cycles count
SELECT sales_cycle_avg(a, b) AS zero_cycles
FROM (VALUES ('2024-01-05'::timestamptz, '2024-01-05'::timestamptz),
             ('2024-01-05', '2024-01-06')) t(a, b);
-- rounding to the microsecond, halves away from zero
SELECT sales_cycle_avg(a, b) AS rounded
FROM (VALUES ('2024-01-01 00:00:00'::timestamp, '2024-01-01 00:00:00.000001'::timestamp),
             ('2024-01-01 00:00:00', '2024-01-01 00:00:00.000002'),
             ('2024-01-01 00:00:00', '2024-01-01 00:00:00.000002'),
             ('2024-01-01 00:00:00', '2024-01-01 00:00:00.000001')) t(a, b);
-- date overload: days
SELECT sales_cycle_avg(a, b) AS dates
FROM (VALUES ('2024-01-01'::date, '2024-01-02'::date), ('2024-01-01', '2024-01-03')) t(a, b);
-- infinite values are errors
SELECT sales_cycle_avg(a, b) FROM (VALUES ('-infinity'::timestamptz, now())) t(a, b);
SELECT sales_cycle_avg(a, b) FROM (VALUES ('2024-01-01'::date, 'infinity'::date)) t(a, b);
-- a cycle wider than an interval can hold is an error, as timestamp - timestamp is
SELECT sales_cycle_avg(a, b) AS widest
FROM (VALUES ('4714-11-24 00:00:00 BC'::timestamp, '294276-12-31 23:59:59'::timestamp)) t(a, b);

-- Time zones: timestamptz cycles are elapsed time, so a DST change in the
-- session's time zone changes the wall clock, not the cycle.
SET TimeZone = 'Europe/Berlin';
SELECT sales_cycle_avg(a, b) AS across_spring_dst, avg(b - a) AS plain
FROM (VALUES ('2024-03-30 12:00'::timestamptz, '2024-04-01 12:00'::timestamptz)) t(a, b);
SELECT sales_cycle_avg(a, b) AS across_autumn_dst
FROM (VALUES ('2024-10-26 12:00'::timestamptz, '2024-10-27 12:00'::timestamptz)) t(a, b);
-- timestamp without time zone: wall-clock difference
SELECT sales_cycle_avg(a, b) AS wall_clock
FROM (VALUES ('2024-03-30 12:00'::timestamp, '2024-04-01 12:00'::timestamp)) t(a, b);
RESET TimeZone;

-- cost_per_lead / cost_per_order ------------------------------------------------
SELECT cost_per_lead(c, n) AS empty FROM (SELECT 1.0, 1::bigint WHERE false) t(c, n);
SELECT cost_per_lead(c, n) AS zero_leads FROM (VALUES (100.00, 0::bigint)) t(c, n);
SELECT cost_per_lead(c, n) AS no_cost FROM (VALUES (NULL::numeric, 5::bigint)) t(c, n);
SELECT cost_per_lead(c, n) AS one_row FROM (VALUES (100.00, 3::bigint)) t(c, n);
-- a ratio of sums, never an average of ratios; same digits as the plain SQL
SELECT cost_per_lead(c, n) AS leadkpi, sum(c) / sum(n) AS plain,
       avg(c / n) AS average_of_ratios_is_different
FROM (VALUES (100.00, 1::bigint), (50.00, 99)) t(c, n);
-- credits and refunds are allowed; NULLs skipped per column, as sum() does
SELECT cost_per_order(c, n) AS with_credit, sum(c) / sum(n) AS plain
FROM (VALUES (120.10, 2::bigint), (-20.10, NULL), (NULL, 3)) t(c, n);
SELECT cost_per_order(c, n) AS negative_total FROM (VALUES (-10.00, 4::bigint)) t(c, n);
-- mixed scales keep full precision
SELECT cost_per_lead(c, n) AS leadkpi, sum(c) / sum(n) AS plain
FROM (VALUES (0.000001, 1::bigint), (12345678901234567890.5, 2)) t(c, n);
SELECT cost_per_lead(c, n) FROM (VALUES (1.00, -1::bigint)) t(c, n);
SELECT cost_per_order(c, n) FROM (VALUES (1.00, -1::bigint)) t(c, n);
SELECT cost_per_lead(c, n) FROM (VALUES ('NaN'::numeric, 1::bigint)) t(c, n);
SELECT cost_per_lead(c, n) FROM (VALUES ('Infinity'::numeric, 1::bigint)) t(c, n);
-- numeric limits: 38 significant digits are exact, more is a clear error
SELECT cost_per_lead(c, n) AS thirty_eight_digits
FROM (VALUES (99999999999999999999999999999999999.999, 1::bigint)) t(c, n);
SELECT cost_per_lead(c, n) AS leadkpi, sum(c) / sum(n) AS plain
FROM (VALUES (-99999999999999999999999999999999999.999, 3::bigint), (0.5, 1)) t(c, n);
SELECT cost_per_lead(c, n) AS tiny_amounts, sum(c) / sum(n) AS plain
FROM (VALUES (0.00000000000000000000000000000000000001, 1::bigint)) t(c, n);
SELECT cost_per_lead(c, n) FROM (VALUES (1e40, 1::bigint)) t(c, n);
SELECT cost_per_lead(c, n)
FROM (VALUES (99999999999999999999999999999999999.999, 1::bigint), (0.001, 1)) t(c, n);

-- outside an aggregate, the support functions refuse to run
SELECT kpi_agg_accum(NULL::kpi_summary, now(), now());
SELECT cost_per_lead_accum(NULL::kpi_summary, 1.0, 1);

-- random amounts of mixed sign, scale and magnitude: the same digits as sum() / sum()
SELECT setseed(0.5);
SELECT count(*) AS amounts,
       cost_per_lead(x, 1)::text = (sum(x) / count(*))::text AS same_digits,
       cost_per_order(x, 2)::text = (sum(x) / (2 * count(*)))::text AS same_digits_per_order
FROM (SELECT round(((random() - 0.5) * 10 ^ (random() * 20))::numeric, (random() * 6)::int) AS x
      FROM generate_series(1, 50000)) s;
