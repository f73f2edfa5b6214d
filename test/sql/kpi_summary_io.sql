-- kpi_summary text and binary I/O: readable, exact round trips, and every
-- malformed input rejected with SQLSTATE 22P02 (never a crash or a bad value).
CREATE TABLE io_leads AS
SELECT g AS id, g % 4 AS campaign,
       timestamptz '2024-01-01 00:00+00' + g * interval '7 hours' AS first_contact,
       CASE WHEN g % 3 = 0 THEN timestamptz '2024-01-01 00:00+00' + g * interval '7 hours'
                                + (g % 50) * interval '13 hours 7 minutes 3.25 seconds' END AS converted_at,
       round((g * 37 % 1000) / 7.0, 3) AS revenue
FROM generate_series(1, 600) g;
-- a conversion before its first contact, to exercise the exclusion count
UPDATE io_leads SET converted_at = first_contact - interval '1 day' WHERE id = 3;

CREATE TABLE io_summaries AS
SELECT campaign, kpi_agg(first_contact, converted_at, revenue) AS s FROM io_leads GROUP BY campaign
UNION ALL SELECT -1, spend_agg(c) FROM (VALUES (10.25), (-0.125), (NULL)) v(c)
UNION ALL SELECT -2, rollup(s) FROM (SELECT kpi_agg(first_contact, converted_at) s FROM io_leads) x;

-- what a person sees
SELECT s FROM io_summaries WHERE campaign = -1;
SELECT kpi_agg(a, b) FROM (VALUES ('2024-01-01'::date, '2024-01-02'::date), ('2024-01-01', NULL)) t(a, b);

-- text and binary round trips are exact
SELECT count(*) AS summaries,
       count(*) FILTER (WHERE s::text::kpi_summary::text = s::text) AS text_roundtrip,
       count(*) FILTER (WHERE kpi_summary_from_bytes(kpi_summary_send(s))::text = s::text) AS binary_roundtrip
FROM io_summaries;

-- COPY BINARY out and back in, through a file in the data directory that
-- is removed afterwards
DO $$
DECLARE f text := current_setting('data_directory') || '/leadkpi_io_' || pg_backend_pid() || '.bin';
BEGIN
  EXECUTE format('COPY io_summaries TO %L (FORMAT binary)', f);
  CREATE TABLE io_copy (LIKE io_summaries);
  EXECUTE format('COPY io_copy FROM %L (FORMAT binary)', f);
  EXECUTE format('COPY (SELECT WHERE false) TO PROGRAM %L', format('rm -f -- ''%s''', f));
END $$;
SELECT count(*) AS copied, count(*) FILTER (WHERE a.s::text = b.s::text) AS identical
FROM io_summaries a JOIN io_copy b USING (campaign);

-- malformed text: each line is an error with SQLSTATE 22P02 and a reason
SELECT ''::kpi_summary;
SELECT 'v2 leads=0'::kpi_summary;
SELECT 'v1 leads=1 conversions=2 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary;
SELECT 'v1 leads=-1 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary;
SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=10 cycle_min_us=1 cycle_max_us=3 cost=null revenue=null sketch=z0 0:1 1:1'::kpi_summary;
SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=4 cycle_min_us=1 cycle_max_us=3 cost=null revenue=null sketch=z0 0:1'::kpi_summary;
SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=4 cycle_min_us=1 cycle_max_us=3 cost=null revenue=null sketch=z0 56:1 0:1'::kpi_summary;
SELECT 'v1 leads=2 conversions=2 cycles=2 excluded=0 cycle_sum_us=4 cycle_min_us=1 cycle_max_us=3 cost=null revenue=null sketch=z0 0:1 99999:1'::kpi_summary;
SELECT 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=1.2.3 revenue=null sketch=z0'::kpi_summary;
SELECT 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0 trailing'::kpi_summary;
SELECT 'v1 leads=99999999999999999999 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=z0'::kpi_summary;
-- a valid hand-written summary
SELECT sales_cycle_median(s), leads(s), cost(s)
FROM (SELECT 'v1 leads=3 conversions=2 cycles=2 excluded=0 cycle_sum_us=4 cycle_min_us=1 cycle_max_us=3 cost=-0.50 revenue=null sketch=z0 0:1 55:1'::kpi_summary s) x;

-- fuzz: every prefix, and many single-character mutations, of a real text
-- form either parse into a value that round-trips, or fail with 22P02
CREATE FUNCTION io_try(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF t::kpi_summary::text::kpi_summary::text = t::kpi_summary::text THEN RETURN 'ok'; END IF;
  RETURN 'roundtrip-mismatch';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
CREATE FUNCTION io_try_bytes(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF kpi_summary_send(kpi_summary_from_bytes(b)) = b THEN RETURN 'ok'; END IF;
  RETURN 'roundtrip-mismatch';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
SELECT setseed(0.42);
WITH src AS (SELECT s::text AS t, kpi_summary_send(s) AS b FROM io_summaries WHERE campaign = 0),
cases AS (
  SELECT 'text prefix' AS kind, io_try(left(t, n)) AS r FROM src, generate_series(0, length(t) - 1) n
  UNION ALL
  SELECT 'text mutation', io_try(overlay(t placing substr('0123456789-:. zvx', 1 + (random() * 16)::int, 1)
                                          from 1 + (random() * (length(t) - 1))::int for 1))
  FROM src, generate_series(1, 2000)
  UNION ALL
  SELECT 'binary prefix', io_try_bytes(substring(b from 1 for n)) FROM src, generate_series(0, length(b) - 1) n
  UNION ALL
  SELECT 'binary mutation', io_try_bytes(set_byte(b, (random() * (length(b) - 1))::int, (random() * 255)::int))
  FROM src, generate_series(1, 2000)
)
-- 'ok' only when the mutated value is itself valid; any other SQLSTATE is a bug
SELECT kind, r IN ('ok', '22P02') AS expected_outcome, count(*) > 0 AS seen
FROM cases GROUP BY 1, 2 ORDER BY 1, 2;
