-- funnel_summary: accessors on a funnel whose counts are known, text and
-- binary round trips, rollup, and malformed, random and truncated input.
SET timezone = 'UTC';
CREATE TABLE fs_ev (lead bigint, ts timestamptz, stage text);
-- lead 1: all four stages; 2: lead, mql; 3: lead; 4: mql only (no step 1);
-- 5: lead, mql, sql but sql after the 30-day window; 6: lead, sql (skips mql)
INSERT INTO fs_ev VALUES
 (1, '2024-01-01', 'lead'), (1, '2024-01-03', 'mql'), (1, '2024-01-04', 'sql'), (1, '2024-01-10', 'won'),
 (2, '2024-01-01', 'lead'), (2, '2024-01-02', 'mql'),
 (3, '2024-02-01', 'lead'),
 (4, '2024-02-01', 'mql'),
 (5, '2024-01-01', 'lead'), (5, '2024-01-05', 'mql'), (5, '2024-03-01', 'sql'),
 (6, '2024-01-01', 'lead'), (6, '2024-01-02', 'sql');
CREATE TABLE fs AS
SELECT funnel_agg(lead, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days') AS f
FROM fs_ev;
SELECT f FROM fs;
SELECT * FROM funnel_steps((SELECT f FROM fs));
SELECT funnel_nsteps(f), funnel_entities(f), bottleneck(f),
       conversion_rate(f, 1, 4) AS lead_to_won, conversion_rate(f, 2, 2) AS same_step
FROM fs;
-- medians: mql after lead takes 2 days (lead 1), 1 day (2) and 4 days (5):
-- the median is 2 days, within the sketch's 1%
SELECT abs(extract(epoch FROM time_to_convert_median(f, 2)) / 86400 - 2) < 0.02 AS mql_median_ok,
       time_to_convert_median(f, 1) IS NULL AS step1_has_none
FROM fs;

-- crm_backfill counts skipped stages: leads 4 and 6 reach mql / sql
SELECT reached(f, 1), reached(f, 2), reached(f, 3), reached(f, 4)
FROM (SELECT funnel_agg(lead, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days', 'crm_backfill') f
      FROM fs_ev) s;

-- funnel_agg(level, nsteps) over window_funnel levels gives the same counts
SELECT (SELECT f FROM fs)::text = replace(replace(x::text, 'window=-1', 'window=2592000000000'),
                                          'ttc=z0|z0|z0|z0', (SELECT substring(f::text from 'ttc=.*') FROM fs)) AS same_counts,
       x
FROM (SELECT funnel_agg(lvl, 4) AS x
      FROM (SELECT window_funnel('30 days', ts, stage = 'lead', stage = 'mql', stage = 'sql', stage = 'won') AS lvl
            FROM fs_ev GROUP BY lead) l) s;

-- rollup of per-lead summaries (disjoint entities) equals the whole
SELECT rollup(f)::text = (SELECT f::text FROM fs) AS rollup_exact
FROM (SELECT funnel_agg(lead, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days', '', 4) AS f
      FROM fs_ev GROUP BY lead) s;
-- rollup in two levels, in another grouping, too
SELECT rollup(f)::text = (SELECT f::text FROM fs) AS rollup_two_levels
FROM (SELECT rollup(f) AS f
      FROM (SELECT lead % 2 AS g, funnel_agg(lead, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days', '', 4) AS f
            FROM fs_ev GROUP BY lead) a GROUP BY g) b;
SELECT rollup(f) IS NULL AS empty_rollup FROM fs WHERE false;
SELECT funnel_agg(lead, ts, 1, '1 day') IS NULL AS empty_agg FROM fs_ev WHERE false;

-- uuid and text entities give the same summary as bigint
SELECT (SELECT f::text FROM fs) = funnel_agg(lead::text, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days')::text AS text_keys,
       (SELECT f::text FROM fs) = funnel_agg(md5(lead::text)::uuid, ts, array_position(ARRAY['lead','mql','sql','won'], stage), '30 days')::text AS uuid_keys
FROM fs_ev;

-- text round trip
SELECT f::text::funnel_summary::text = f::text AS text_round_trip FROM fs;

-- binary round trip through COPY BINARY in the cluster's data directory
CREATE TABLE fs_bin (f funnel_summary);
DO $$
DECLARE p text := current_setting('data_directory') || '/funnel_summary.bin';
BEGIN
  EXECUTE format('COPY fs TO %L (FORMAT binary)', p);
  EXECUTE format('COPY fs_bin FROM %L (FORMAT binary)', p);
END $$;
SELECT (SELECT f::text FROM fs_bin) = (SELECT f::text FROM fs) AS binary_round_trip;

-- errors
\set VERBOSITY sqlstate
SELECT reached(f, 0) FROM fs;
SELECT reached(f, 5) FROM fs;
SELECT conversion_rate(f, 3, 2) FROM fs;
SELECT drop_off(f, 9) FROM fs;
-- rollup refuses different step counts, windows or modes (22023)
SELECT rollup(f) FROM (VALUES ('v1;steps=2;window=5;modes=;entities=1;reached=1,0;ttc=z0|z0'::funnel_summary),
                              ('v1;steps=3;window=5;modes=;entities=1;reached=1,0,0;ttc=z0|z0|z0')) v(f);
SELECT rollup(f) FROM (VALUES ('v1;steps=2;window=5;modes=;entities=1;reached=1,0;ttc=z0|z0'::funnel_summary),
                              ('v1;steps=2;window=6;modes=;entities=1;reached=1,0;ttc=z0|z0')) v(f);
SELECT rollup(f) FROM (VALUES ('v1;steps=2;window=5;modes=;entities=1;reached=1,0;ttc=z0|z0'::funnel_summary),
                              ('v1;steps=2;window=5;modes=strict_order;entities=1;reached=1,0;ttc=z0|z0')) v(f);
SELECT funnel_agg(lead, ts, 5, '1 day', '', 4) FROM fs_ev;
SELECT funnel_agg(lead, ts, -1, '1 day') FROM fs_ev;
SELECT funnel_agg(lead, ts, 1, '-1 day') FROM fs_ev;
SELECT funnel_agg(lead, ts, 1, '1 day', 'bogus') FROM fs_ev;
SELECT funnel_agg(lead, ts, 1, '1 day', '', 33) FROM fs_ev;
SELECT funnel_agg(l, 3) FROM (VALUES (4)) v(l);
-- malformed text input (22P02)
SELECT 'v2;steps=1;window=0;modes=;entities=0;reached=0;ttc=z0'::funnel_summary;
SELECT 'v1;steps=0;window=0;modes=;entities=0;reached=;ttc='::funnel_summary;
SELECT 'v1;steps=2;window=0;modes=;entities=1;reached=1,2;ttc=z0|z0'::funnel_summary;
SELECT 'v1;steps=2;window=0;modes=;entities=1;reached=1,1;ttc=z0|z0 5:2'::funnel_summary;
SELECT 'v1;steps=2;window=0;modes=;entities=1;reached=1,1;ttc=z1|z0'::funnel_summary;
SELECT 'v1;steps=1;window=0;modes=nope;entities=0;reached=0;ttc=z0'::funnel_summary;
SELECT 'v1;steps=1;window=0;modes=allow_reentry;entities=0;reached=0;ttc=z0'::funnel_summary;
SELECT 'v1;steps=1;window=0;modes=;entities=0;reached=0;ttc=z0 trailing'::funnel_summary;
SELECT 'v1;steps=1;window=0;modes=;entities=99999999999999999999;reached=0;ttc=z0'::funnel_summary;
\set VERBOSITY default

-- every truncation and 300 random mutations of a valid text form either
-- parse to a valid summary or fail with 22P02, never anything else
CREATE FUNCTION pg_temp.try_in(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE x funnel_summary;
BEGIN
  x := s::funnel_summary;
  -- what parses must print and parse back to itself
  IF x::text::funnel_summary::text <> x::text THEN RETURN 'unstable'; END IF;
  RETURN 'ok';
EXCEPTION WHEN invalid_text_representation THEN RETURN '22P02';
END $$;
SELECT setseed(0.5);
WITH src AS (SELECT f::text AS s FROM fs),
cand AS (
  SELECT left(s, n) AS t FROM src, generate_series(0, length(s)) n
  UNION ALL
  SELECT overlay(s PLACING chr(32 + (random() * 94)::int) FROM 1 + (random() * (length(s) - 1))::int FOR 1)
  FROM src, generate_series(1, 300))
SELECT pg_temp.try_in(t) AS outcome, count(*) > 0 AS seen
FROM cand GROUP BY 1 ORDER BY 1;

-- truncated binary input: every prefix of the send() form fails with 22P02
CREATE TABLE fs_raw (b bytea);
CREATE FUNCTION pg_temp.try_recv(b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE p text := current_setting('data_directory') || '/funnel_raw.bin';
BEGIN
  TRUNCATE fs_raw; INSERT INTO fs_raw VALUES (b);
  EXECUTE format('COPY fs_raw TO %L (FORMAT binary)', p);
  TRUNCATE fs_bin;
  EXECUTE format('COPY fs_bin FROM %L (FORMAT binary)', p);
  RETURN 'ok';
EXCEPTION WHEN invalid_text_representation THEN RETURN '22P02';
END $$;
SELECT pg_temp.try_recv(substr(b, 1, n)) AS outcome, count(*)
FROM (SELECT funnel_summary_send(f) AS b FROM fs) s, generate_series(0, length(b)) n
GROUP BY 1 ORDER BY 1;
