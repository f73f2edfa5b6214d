-- kpi_io_roundtrip: every stored kpi_summary survives text I/O, binary I/O
-- (COPY BINARY, and kpi_summary_from_bytes when the build has it) exactly;
-- malformed text is rejected with 22P02.
BEGIN;
SELECT plan(21);

\ir include/kpi_data.sql

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
