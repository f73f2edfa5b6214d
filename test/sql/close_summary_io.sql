-- close_summary text and binary I/O: readable, exact round trips, and every
-- malformed input rejected with SQLSTATE 22P02 (never a crash or a bad value).
SET timezone = 'UTC';
CREATE TABLE cio_leads AS
SELECT g AS id, 'c' || (g % 3) AS campaign,
       timestamptz '2024-01-01' + g * interval '9 hours' AS first_contact,
       CASE WHEN g % 4 = 0 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 40) * interval '1 day 3 hours' END AS won,
       CASE WHEN g % 4 = 1 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 30) * interval '1 day' END AS lost,
       CASE WHEN g % 4 = 0 THEN round((g * 37 % 1000) / 7.0, 2) END AS revenue,
       CASE WHEN g % 5 < 3 THEN ARRAY[timestamptz '2024-01-01' + g * interval '9 hours' + interval '1 hour',
                                      CASE WHEN g % 5 < 2 THEN timestamptz '2024-01-01' + g * interval '9 hours' + (g % 9) * interval '1 day' END] END AS reached,
       CASE WHEN g % 3 = 0 THEN round((g * 13 % 500)::numeric, 1) END AS amount
FROM generate_series(1, 500) g;
-- a conversion before its first contact: counted, never open
UPDATE cio_leads SET won = first_contact - interval '1 day', revenue = 5 WHERE id = 8;

CREATE TABLE cio_grid AS SELECT close_grid('2024-07-01', 'month', 3, 5, 'UTC') AS g;
CREATE TABLE cio_summaries AS
SELECT campaign, close_agg(first_contact, won, lost, revenue, reached, amount, g) AS s
FROM cio_leads, cio_grid GROUP BY campaign;

-- what a person sees: an empty grid, and the counts of one summary
SELECT close_grid('2024-03-01', 'month', 2, 2, 'UTC');
SELECT leads(s), excluded_leads(s), horizons(s), age_bounds(s) FROM cio_summaries WHERE campaign = 'c2';

-- text and binary round trips are exact
SELECT count(*) AS summaries,
       count(*) FILTER (WHERE s::text::close_summary::text = s::text) AS text_roundtrip,
       count(*) FILTER (WHERE close_summary_from_bytes(close_summary_send(s))::text = s::text) AS binary_roundtrip,
       count(*) FILTER (WHERE close_summary_from_bytes(close_summary_send(s)) = s) AS equal
FROM cio_summaries;

-- COPY BINARY out and back in
DO $$
DECLARE f text := '/tmp/leadkpi_cio_' || pg_backend_pid() || '.bin';
BEGIN
  EXECUTE format('COPY cio_summaries TO %L (FORMAT binary)', f);
  CREATE TABLE cio_copy (LIKE cio_summaries);
  EXECUTE format('COPY cio_copy FROM %L (FORMAT binary)', f);
END $$;
SELECT count(*) AS copied, count(*) FILTER (WHERE a.s::text = b.s::text) AS identical
FROM cio_summaries a JOIN cio_copy b USING (campaign);

-- malformed text: each line is an error with SQLSTATE 22P02 and a reason
\set g0 'v1 horizons=2 ages=604800000000 leads=0 excluded=0 blocks=1 cells=0 ; block t=0 obs=1 ends=100,200 arrivals=0,0 closings=0,0 revenue_n=0,0 revenue=null,null revenue_sq=null,null new=0,0,0'
SELECT :'g0'::close_summary IS NOT NULL AS a_valid_empty_summary;
SELECT ''::close_summary;
SELECT 'v2 horizons=2'::close_summary;
SELECT replace(:'g0', 'horizons=2', 'horizons=0')::close_summary;
SELECT replace(:'g0', 'ages=604800000000', 'ages=604800000000,5')::close_summary;
SELECT replace(:'g0', 'leads=0 excluded=0', 'leads=0 excluded=1')::close_summary;
SELECT replace(:'g0', 'ends=100,200', 'ends=200,100')::close_summary;
SELECT replace(:'g0', 'ends=100,200', 'ends=-5,200')::close_summary;
SELECT replace(:'g0', 'obs=1', 'obs=3')::close_summary;
SELECT replace(replace(:'g0', 'leads=0', 'leads=5'), 'arrivals=0,0', 'arrivals=0,1')::close_summary;
SELECT replace(replace(:'g0', 'leads=0', 'leads=5'), 'closings=0,0 revenue_n=0,0', 'closings=0,0 revenue_n=2,0')::close_summary;
SELECT (replace(replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1'), 'closings=0,0 revenue_n=0,0 revenue=null', 'closings=1,0 revenue_n=1,0 revenue=null') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=1,0 lost=0,0')::close_summary;
SELECT replace(replace(:'g0', 'leads=0', 'leads=5'), 'arrivals=0,0 ', 'arrivals=1,0 ')::close_summary IS NOT NULL AS arrivals_without_wins_are_fine;
SELECT replace(replace(replace(:'g0', 'leads=0', 'leads=5'), 'arrivals=0,0 ', 'arrivals=1,0 '), 'new=0,0,0', 'new=2,0,0')::close_summary;
SELECT replace(:'g0', 'cells=0', 'cells=1')::close_summary;
SELECT (replace(replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1'), 'closings=0,0', 'closings=1,0') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=1,0 lost=1,0')::close_summary IS NOT NULL AS a_valid_cell;
-- closings are the wins of open and new leads, no more
SELECT (replace(replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1'), 'closings=0,0', 'closings=2,0') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=1,0 lost=1,0')::close_summary;
-- its win must be among the window's closings
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=1,0 lost=1,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=1,0 lost=2,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=0 n=2 amount_n=0 amount=null amount_sq=null won=0,1 lost=0,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=0 n=0 amount_n=0 amount=null amount_sq=null won=0,0 lost=0,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=2 n=1 amount_n=0 amount=null amount_sq=null won=0,0 lost=0,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=1') || ' ; cell block=0 stage=1 age=0 n=1 amount_n=1 amount=null amount_sq=null won=0,0 lost=0,0')::close_summary;
SELECT (replace(replace(:'g0', 'leads=0', 'leads=5'), 'cells=0', 'cells=2') || ' ; cell block=0 stage=1 age=1 n=1 amount_n=0 amount=null amount_sq=null won=0,0 lost=0,0 ; cell block=0 stage=1 age=0 n=1 amount_n=0 amount=null amount_sq=null won=0,0 lost=0,0')::close_summary;
SELECT (:'g0' || ' trailing')::close_summary;

-- the binary form is version 2, packed (per window and cell only what is
-- observed and not zero); version 1 is refused, and so is a value whose
-- bytes are not the one canonical encoding of what they say: here a cell
-- count of 0 written as two bytes
SELECT get_byte(close_summary_send(s), 0) AS version, octet_length(close_summary_send(s)) < length(s::text) / 4 AS compact
FROM cio_summaries WHERE campaign = 'c1';
SELECT close_summary_from_bytes(set_byte(close_summary_send(s), 0, 1)) FROM cio_summaries WHERE campaign = 'c1';
WITH g AS (SELECT close_summary_send(close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-02-01']::timestamptz[],
                                                      '2024-03-01', '{}')) AS b)
SELECT close_summary_from_bytes(b) IS NOT NULL AS canonical_reads,
       get_byte(b, length(b) - 1) AS last_byte_is_the_cell_count
FROM g;
WITH g AS (SELECT close_summary_send(close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-02-01']::timestamptz[],
                                                      '2024-03-01', '{}')) AS b)
SELECT close_summary_from_bytes(substring(b FROM 1 FOR 37) || int4send(length(b) - 41 + 1)
                                || substring(b FROM 42 FOR length(b) - 42) || '\x8000'::bytea)
FROM g;
-- bytes the snapshots do not account for, and a snapshot cut short: bad
-- input (22P02); the same damage in a stored value is XX001 (corruption.sh)
WITH g AS (SELECT close_summary_send(close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-02-01']::timestamptz[],
                                                      '2024-03-01', '{}')) AS b)
SELECT close_summary_from_bytes(substring(b FROM 1 FOR 37) || int4send(length(b) - 41 + 1)
                                || substring(b FROM 42) || '\x00'::bytea)
FROM g;
WITH g AS (SELECT close_summary_send(close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-02-01']::timestamptz[],
                                                      '2024-03-01', '{}')) AS b)
SELECT close_summary_from_bytes(substring(b FROM 1 FOR 37) || int4send(length(b) - 41 - 1)
                                || substring(b FROM 42 FOR length(b) - 42))
FROM g;

-- the grid constructor checks its arguments (22023)
SELECT close_summary_grid(ARRAY['2024-02-01', '2024-01-01']::timestamptz[], ARRAY['2024-03-01', '2024-04-01']::timestamptz[], '2024-03-01', '{}');
SELECT close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-03-01', '2024-02-01']::timestamptz[], '2024-03-01', '{}');
SELECT close_summary_grid(ARRAY['2024-01-01']::timestamptz[], ARRAY['2024-02-01']::timestamptz[], '2024-03-01', ARRAY['1 month']::interval[]);
SELECT close_grid('2024-03-01', 'quarter');

-- fuzz: every prefix, and many single-character mutations, of a real text
-- form either parse into a value that round-trips, or fail with 22P02
CREATE FUNCTION cio_try(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF t::close_summary::text::close_summary::text = t::close_summary::text THEN RETURN 'ok'; END IF;
  RETURN 'roundtrip-mismatch';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
CREATE FUNCTION cio_try_bytes(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF close_summary_send(close_summary_from_bytes(b)) = b THEN RETURN 'ok'; END IF;
  RETURN 'roundtrip-mismatch';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
SELECT setseed(0.42);
WITH src AS (SELECT s::text AS t, close_summary_send(s) AS b FROM cio_summaries WHERE campaign = 'c1'),
cases AS (
  SELECT 'text prefix' AS kind, cio_try(left(t, n)) AS r FROM src, generate_series(0, length(t) - 1, 7) n
  UNION ALL
  SELECT 'text mutation', cio_try(overlay(t placing substr('0123456789-:;,. =nulvx', 1 + (random() * 21)::int, 1)
                                          from 1 + (random() * (length(t) - 1))::int for 1))
  FROM src, generate_series(1, 2000)
  UNION ALL
  SELECT 'binary prefix', cio_try_bytes(substring(b from 1 for n)) FROM src, generate_series(0, length(b) - 1, 3) n
  UNION ALL
  SELECT 'binary mutation', cio_try_bytes(set_byte(b, (random() * (length(b) - 1))::int, (random() * 255)::int))
  FROM src, generate_series(1, 2000)
)
-- 'ok' only when the mutated value is itself valid; any other SQLSTATE is a bug
SELECT kind, r IN ('ok', '22P02') AS expected_outcome, count(*) > 0 AS seen
FROM cases GROUP BY 1, 2 ORDER BY 1, 2;
