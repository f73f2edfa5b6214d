-- kpi_io_roundtrip: every stored kpi_summary survives text I/O, binary I/O
-- (COPY BINARY, and kpi_summary_from_bytes when the build has it) exactly;
-- malformed text is rejected with 22P02.
BEGIN;
SELECT plan(21);

-- Deterministic generated CRM data (the same block opens every kpi_*.sql file).
SET LOCAL timezone = 'America/New_York';
SELECT setseed(0.4242);
CREATE TABLE tap_leads AS
WITH r AS MATERIALIZED (
    SELECT g AS id, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
           random() AS r5, random() AS r6, random() AS r7, random() AS r8
    FROM generate_series(1, 30000) g
), shaped AS (
    SELECT id,
           'c' || floor(r1 * r1 * 6)::int AS campaign,
           (ARRAY['email', 'ads', 'social', 'referral'])[1 + floor(r2 * 4)::int] AS channel,
           CASE WHEN r3 < 0.03 THEN NULL
                ELSE timestamptz '2025-01-01 00:00:00+00' + r3 * interval '365 days' END AS first_contact,
           CASE WHEN r4 >= 0.45 THEN NULL                                   -- open lead
                WHEN r4 < 0.02 THEN interval '0'                            -- zero-length cycle
                WHEN r4 < 0.03 THEN -(r5 * interval '20 days')              -- converted before first contact
                ELSE make_interval(secs => exp(r5 * ln(365.0 * 86400))) -- 1 s .. 1 year, log-uniform
                     + r6 * interval '1 second' END AS cycle,
           CASE WHEN r7 < 0.1 THEN NULL
                WHEN r7 < 0.2 THEN round((r8 * 9000)::numeric, 0)
                WHEN r7 < 0.25 THEN round((r8 * 900)::numeric, 3)
                ELSE round((r8 * 5000)::numeric, 2) END AS revenue
    FROM r
)
SELECT id, campaign, channel, first_contact,
       first_contact + cycle AS converted_at,
       -- rows without a first contact still carry conversions: they are not leads
       CASE WHEN first_contact IS NULL AND cycle IS NOT NULL
            THEN timestamptz '2025-06-01 00:00:00+00' END AS orphan_converted_at,
       revenue
FROM shaped;
UPDATE tap_leads SET converted_at = orphan_converted_at WHERE orphan_converted_at IS NOT NULL;
ALTER TABLE tap_leads DROP COLUMN orphan_converted_at,
    ADD COLUMN first_ts timestamp, ADD COLUMN conv_ts timestamp,
    ADD COLUMN first_d date, ADD COLUMN conv_d date, ADD COLUMN converted boolean;
UPDATE tap_leads SET first_ts = first_contact::timestamp, conv_ts = converted_at::timestamp,
    first_d = first_contact::date, conv_d = converted_at::date,
    converted = CASE WHEN id % 97 = 0 THEN NULL ELSE converted_at IS NOT NULL END;

-- Spend rows: cents, credits (negative), a few NULLs, a few 3-decimal amounts.
CREATE TABLE tap_spend AS
SELECT c.campaign, ch.channel, d::date AS day,
       CASE WHEN random() < 0.02 THEN NULL
            WHEN random() < 0.05 THEN -round((random() * 80)::numeric, 2)
            WHEN random() < 0.01 THEN round((random() * 100)::numeric, 3)
            ELSE round((random() * 300)::numeric, 2) END AS cost
FROM (SELECT 'c' || i AS campaign FROM generate_series(0, 5) i) c,
     (VALUES ('email'), ('ads'), ('social'), ('referral')) ch(channel),
     generate_series(date '2025-01-01', date '2025-12-31', interval '1 day') d;

-- Pre-aggregated daily counts: converted <= total, some NULLs and zero totals.
CREATE TABLE tap_daily AS
SELECT campaign, day, n AS total, conv AS converted, cost
FROM (
    SELECT 'c' || (i % 6) AS campaign, date '2025-01-01' + (i / 6) AS day,
           CASE WHEN random() < 0.03 THEN NULL ELSE t END AS n,
           CASE WHEN random() < 0.03 THEN NULL ELSE floor(t * random())::bigint END AS conv,
           CASE WHEN random() < 0.03 THEN NULL ELSE round((random() * 500 - 25)::numeric, 2) END AS cost
    FROM (SELECT i, CASE WHEN random() < 0.05 THEN 0 ELSE floor(random() * 60)::bigint END AS t
          FROM generate_series(0, 6 * 365 - 1) i) x
) y;

-- Stored summaries of every shape: daily, per campaign, overall (big sketch),
-- spend only, leads without cycles, no leads at all, with and without revenue.
CREATE TABLE tap_store (id serial, kind text, s kpi_summary);
INSERT INTO tap_store (kind, s)
SELECT 'daily', kpi_agg(first_contact, converted_at, revenue) FROM tap_leads GROUP BY campaign, channel, first_contact::date;
INSERT INTO tap_store (kind, s)
SELECT 'daily_ts', kpi_agg(first_ts, conv_ts) FROM tap_leads GROUP BY campaign, first_ts::date;
INSERT INTO tap_store (kind, s)
SELECT 'daily_date', kpi_agg(first_d, conv_d, revenue) FROM tap_leads GROUP BY campaign, first_d;
INSERT INTO tap_store (kind, s)
SELECT 'spend', spend_agg(cost) FROM tap_spend GROUP BY campaign, day;
INSERT INTO tap_store (kind, s)
SELECT 'campaign', l.s + sp.s
FROM (SELECT campaign, kpi_agg(first_contact, converted_at, revenue) s FROM tap_leads GROUP BY campaign) l
JOIN (SELECT campaign, spend_agg(cost) s FROM tap_spend GROUP BY campaign) sp USING (campaign);
INSERT INTO tap_store (kind, s)
SELECT 'overall', kpi_agg(first_contact, converted_at, revenue) FROM tap_leads;
INSERT INTO tap_store (kind, s)
SELECT 'open_only', kpi_agg(first_contact, NULL::timestamptz) FROM tap_leads WHERE campaign = 'c2';
INSERT INTO tap_store (kind, s)
SELECT 'no_leads', kpi_agg(first_contact, converted_at) FROM tap_leads WHERE first_contact IS NULL;
INSERT INTO tap_store (kind, s)
SELECT 'credits', spend_agg(c) FROM (VALUES (-0.005), (-12.5), (NULL)) v(c);
INSERT INTO tap_store (kind, s)
SELECT 'big_money', spend_agg(c) + kpi_agg(timestamptz '2025-01-01', timestamptz '2025-01-01', c)
FROM (VALUES (99999999999999999999.999999), (0.000001)) v(c);
INSERT INTO tap_store (kind, s)
SELECT 'excluded_only', kpi_agg(a, b) FROM (VALUES (timestamptz '2025-01-02', timestamptz '2025-01-01')) v(a, b);

SELECT cmp_ok((SELECT count(DISTINCT kind) FROM tap_store), '=', 11::bigint, 'eleven kinds of stored summaries');

-- ---------------------------------------------------------------------------
-- Text
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT id, kind, s::text FROM tap_store WHERE s::text::kpi_summary::text IS DISTINCT FROM s::text$$,
    'text round trip: s::text::kpi_summary::text = s::text for every stored summary');

SELECT is_empty(
    $$SELECT id, kind FROM tap_store
      WHERE kpi_summary_send(s::text::kpi_summary) IS DISTINCT FROM kpi_summary_send(s)$$,
    'text round trip gives the same binary form (flags, sums, sketch) for every stored summary');

SELECT is_empty(
    $$SELECT id, kind FROM tap_store
      WHERE leads(s::text::kpi_summary) <> leads(s)
         OR conversion_rate(s::text::kpi_summary) IS DISTINCT FROM conversion_rate(s)
         OR cost(s::text::kpi_summary)::text IS DISTINCT FROM cost(s)::text
         OR revenue(s::text::kpi_summary)::text IS DISTINCT FROM revenue(s)::text
         OR roi(s::text::kpi_summary)::text IS DISTINCT FROM roi(s)::text
         OR sales_cycle_avg(s::text::kpi_summary) IS DISTINCT FROM sales_cycle_avg(s)
         OR sales_cycle_percentile(s::text::kpi_summary, 0.37) IS DISTINCT FROM sales_cycle_percentile(s, 0.37)$$,
    'accessors read the same figures after a text round trip');

SELECT is(
    (SELECT rollup(s::text::kpi_summary)::text FROM tap_store WHERE kind = 'daily'),
    (SELECT s::text FROM tap_store WHERE kind = 'overall'),
    'rolling up text-round-tripped daily summaries equals the overall summary');

SELECT is(
    (SELECT s::text FROM tap_store WHERE kind = 'credits'),
    'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=-12.505 revenue=null sketch=z0',
    'the documented text form of a spend-only summary with credits');

-- ---------------------------------------------------------------------------
-- Binary: COPY BINARY out and in (send/recv), and kpi_summary_from_bytes
-- ---------------------------------------------------------------------------
CREATE TABLE tap_copy (id int, kind text, s kpi_summary);
DO $$
DECLARE f text := current_setting('data_directory') || '/leadkpi_tap_' || pg_backend_pid() || '.bin';
BEGIN
    EXECUTE format('COPY (SELECT id, kind, s FROM tap_store) TO %L (FORMAT binary)', f);
    EXECUTE format('COPY tap_copy FROM PROGRAM %L (FORMAT binary)', format('cat %s && rm -f %s', f, f));
END $$;

SELECT is((SELECT count(*) FROM tap_copy), (SELECT count(*) FROM tap_store), 'COPY BINARY read back every summary');

SELECT is_empty(
    $$SELECT a.id, a.kind FROM tap_store a LEFT JOIN tap_copy b USING (id)
      WHERE b.s::text IS DISTINCT FROM a.s::text$$,
    'binary round trip through COPY BINARY (send, recv) keeps the text of every summary');

SELECT CASE WHEN to_regprocedure('kpi_summary_from_bytes(bytea)') IS NULL
    THEN skip('kpi_summary_from_bytes is not in this build', 1)
    ELSE is_empty(
        $$SELECT id, kind FROM tap_store
          WHERE kpi_summary_from_bytes(kpi_summary_send(s))::text IS DISTINCT FROM s::text$$,
        'binary round trip: kpi_summary_from_bytes(kpi_summary_send(s))::text = s::text for every stored summary')
    END;

-- Outcome of decoding some bytes: '22P02', 'ok' when accepted and canonical
-- (re-encodes to the same bytes and survives text I/O), else what happened.
CREATE FUNCTION tap_try_bytes(b bytea) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE s kpi_summary;
BEGIN
    EXECUTE 'SELECT kpi_summary_from_bytes($1)' INTO s USING b;
    IF kpi_summary_send(s) = b AND s::text::kpi_summary::text = s::text THEN RETURN 'ok'; END IF;
    RETURN 'accepted but not canonical: ' || s::text;
EXCEPTION WHEN invalid_text_representation THEN RETURN '22P02';
    WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
CREATE TABLE tap_fuzz AS
SELECT kpi_summary_send(kpi_agg(a, b, r) + spend_agg(r)) AS b FROM (VALUES
    (timestamptz '2025-01-01', timestamptz '2025-01-01', 10.5),
    (timestamptz '2025-01-01', timestamptz '2025-01-03', 1.25),
    (timestamptz '2025-01-02', timestamptz '2025-01-01', 3),
    (timestamptz '2025-01-01', NULL, NULL)) v(a, b, r);

SELECT CASE WHEN to_regprocedure('kpi_summary_from_bytes(bytea)') IS NULL
    THEN skip('kpi_summary_from_bytes is not in this build', 2)
    ELSE collect_tap(
        is_empty(
            $$SELECT n, r FROM (SELECT n, tap_try_bytes(substr(b, 1, n)) r
                                FROM tap_fuzz, generate_series(0, length(b) - 1) n) x WHERE r <> '22P02'$$,
            'kpi_summary_from_bytes rejects every truncation of a valid value with 22P02'),
        is_empty(
            $$SELECT pos, v, r FROM (SELECT pos, v, tap_try_bytes(set_byte(b, pos, v)) r
                                     FROM tap_fuzz, generate_series(0, length(b) - 1) pos,
                                          unnest(ARRAY[0, 1, 2, 127, 128, 255]) v
                                     WHERE get_byte(b, pos) <> v) x
              WHERE r NOT IN ('22P02', 'ok')$$,
            'kpi_summary_from_bytes on every single-byte corruption: 22P02, or a valid canonical value'))
    END;

SELECT is(
    (SELECT DISTINCT substr(kpi_summary_send(s), 1, 1) FROM tap_store),
    '\x01'::bytea,
    'the binary form starts with the format version byte 1');

-- ---------------------------------------------------------------------------
-- A summary without a sketch (the one-step aggregates' state form)
-- ---------------------------------------------------------------------------
SELECT is(
    'v1 leads=4 conversions=3 cycles=2 excluded=1 cycle_sum_us=7000000 cycle_min_us=1000000 cycle_max_us=6000000 cost=-0.50 revenue=12 sketch=none'::kpi_summary::text,
    'v1 leads=4 conversions=3 cycles=2 excluded=1 cycle_sum_us=7000000 cycle_min_us=1000000 cycle_max_us=6000000 cost=-0.50 revenue=12 sketch=none',
    'a sketch-less summary round-trips through text');
SELECT throws_ok(
    $$SELECT sales_cycle_percentile('v1 leads=1 conversions=1 cycles=1 excluded=0 cycle_sum_us=5 cycle_min_us=5 cycle_max_us=5 cost=null revenue=null sketch=none'::kpi_summary, 0.5)$$,
    '22023', NULL, 'sales_cycle_percentile on a sketch-less summary is an error, not a guess');

-- ---------------------------------------------------------------------------
-- Malformed text: 22P02
-- ---------------------------------------------------------------------------
SELECT throws_ok(
    $$SELECT 'v2 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary$$,
    '22P02', NULL, 'text input rejects an unknown format version');
SELECT throws_ok(
    $$SELECT 'v1 leads=1 conversions=2 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary$$,
    '22P02', NULL, 'text input rejects more conversions than leads');
SELECT throws_ok(
    $$SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=10 cycle_min_us=5 cycle_max_us=5 cost=null revenue=null sketch=z0 100:1'::kpi_summary$$,
    '22P02', NULL, 'text input rejects a sketch whose total disagrees with the cycle count');
SELECT throws_ok(
    $$SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=100 cycle_min_us=5 cycle_max_us=5 cost=null revenue=null sketch=z0 81:2'::kpi_summary$$,
    '22P02', NULL, 'text input rejects a cycle sum outside n*min .. n*max');
SELECT throws_ok(
    $$SELECT 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=1.2.3 revenue=null sketch=z0'::kpi_summary$$,
    '22P02', NULL, 'text input rejects a malformed cost');
SELECT throws_ok(
    $$SELECT 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0 junk'::kpi_summary$$,
    '22P02', NULL, 'text input rejects trailing text');
SELECT throws_ok(
    $$SELECT 'v1 leads=3 conversions=2 cycles=2 excluded=0 cycle_sum_us=10 cycle_min_us=4 cycle_max_us=6 cost=null revenue=null sketch=z0 20:1 10:1'::kpi_summary$$,
    '22P02', NULL, 'text input rejects sketch buckets out of order');

SELECT * FROM finish();
ROLLBACK;
