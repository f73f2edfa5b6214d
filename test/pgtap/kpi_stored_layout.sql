-- kpi_stored_layout: the bytes of a stored kpi_summary (version 1) are
-- those 0.1.0 wrote, so data on disk, pg_upgrade'd or restored from a
-- physical backup, reads the same.  0.2.0 holds the 128-bit sums in int128
-- fields where 0.1.0 had {lo, hi} pairs of 64-bit halves, the same bytes on
-- a little-endian machine (Debian's amd64 and arm64).  The expected bytes
-- below were printed by 0.1.0.  A varlena type relabelled WITHOUT FUNCTION
-- shows a value's bytes (superuser only, as the tests run).
BEGIN;
SELECT plan(4);

CREATE TYPE pg_temp_raw;
CREATE FUNCTION raw_in(cstring) RETURNS pg_temp_raw AS 'byteain' LANGUAGE internal IMMUTABLE STRICT;
CREATE FUNCTION raw_out(pg_temp_raw) RETURNS cstring AS 'byteaout' LANGUAGE internal IMMUTABLE STRICT;
CREATE TYPE pg_temp_raw (INPUT = raw_in, OUTPUT = raw_out, INTERNALLENGTH = VARIABLE,
                         ALIGNMENT = double, STORAGE = plain);
CREATE CAST (kpi_summary AS pg_temp_raw) WITHOUT FUNCTION;
CREATE CAST (pg_temp_raw AS kpi_summary) WITHOUT FUNCTION;

CREATE TEMP TABLE layout (t text, raw text);
INSERT INTO layout VALUES
 ('v1 leads=3 conversions=2 cycles=2 excluded=0 cycle_sum_us=90000000123 cycle_min_us=3600000000 cycle_max_us=86400000123 cost=-1234567.890 revenue=11.75 sketch=z0 1101:1 1260:1',
  '\x010000000000000000000000030000000000000002000000000000000200000000000000000000000000000000a493d6000000007b60d71d140000007b046bf41400000000000000000000002efd69b6ffffffffffffffffffffffff0300000000000000970400000000000000000000000000000200000000000000000000000000000002000000020000004d040000000000000100000000000000ec040000000000000100000000000000'),
 ('v1 leads=3 conversions=2 cycles=2 excluded=0 cycle_sum_us=90000000123 cycle_min_us=3600000000 cycle_max_us=86400000123 cost=170141183460469231731687303715884105727 revenue=-170141183460469231731687303715884.105727 sketch=z0 1101:1 1260:1',
  '\x010000000000000000000000030000000000000002000000000000000200000000000000000000000000000000a493d6000000007b60d71d140000007b046bf4140000000000000000000000ffffffffffffffffffffffffffffff7f0000000000000000010000000000000000000000000000800600000000000000000000000000000002000000020000004d040000000000000100000000000000ec040000000000000100000000000000');

SELECT is((SELECT kpi_agg(a, b, r) + spend_agg(c) FROM (VALUES
              (timestamptz '2025-01-01 00:00+00', timestamptz '2025-01-01 01:00+00', 10.5, -1234567.890),
              (timestamptz '2025-01-02 00:00+00', timestamptz '2025-01-03 00:00:00.000123+00', 1.25, NULL),
              (timestamptz '2025-01-03 00:00+00', NULL, NULL, NULL)) v(a, b, r, c))::text,
          (SELECT t FROM layout LIMIT 1), 'the first value is what kpi_agg and spend_agg build');
SELECT is_empty($$SELECT t FROM layout WHERE t::kpi_summary::pg_temp_raw::text <> raw$$,
                'a summary has the bytes 0.1.0 gave it (sums near +-2^127, scales 0 to 6, a sketch)');
SELECT is_empty($$SELECT t FROM layout WHERE raw::pg_temp_raw::kpi_summary::text <> t$$,
                '0.1.0''s bytes read as the same summary');
SELECT is((SELECT count(*) FROM layout WHERE raw::pg_temp_raw::kpi_summary = t::kpi_summary), 2::bigint,
          'and compare equal to it');

SELECT * FROM finish();
ROLLBACK;
