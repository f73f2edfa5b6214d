-- kpi_binary_money: the binary input of kpi_summary (kpi_summary_from_bytes
-- and COPY ... (FORMAT binary)) checks the cost and revenue amounts as the
-- text input does.  A sum of -2^127 has no positive counterpart: it used to
-- be accepted and print as "--1701...", which no input reads back.
BEGIN;
SELECT plan(10);

-- a summary with cost 0 (scale 0) and no revenue; on the wire: version,
-- flags, six int64 counts, the int128 cycle sum, then cost and revenue as
-- (int32 scale, int128 sum) from byte 67 and byte 87 (1-based), then the sketch
CREATE TEMP TABLE w AS SELECT kpi_summary_send(spend_agg(0::numeric)) AS b;
CREATE FUNCTION pg_temp.forge(at int, scale text, sum text) RETURNS bytea
LANGUAGE sql AS $$
    SELECT overlay(b PLACING decode(scale || sum, 'hex') FROM at FOR 20) FROM w
$$;

SELECT is((SELECT substr(b, 67, 20) FROM w), decode('00000000' || repeat('00', 16), 'hex'),
          'the cost field is where the test writes (scale 0, sum 0)');

SELECT throws_ok($$SELECT kpi_summary_from_bytes(pg_temp.forge(67, '00000000', '80' || repeat('00', 15)))$$,
                 '22P02', NULL, 'a cost of -2^127 is rejected');
SELECT throws_ok($$SELECT kpi_summary_from_bytes(pg_temp.forge(87, '00000002', '80' || repeat('00', 15)))$$,
                 '22P02', NULL, 'a revenue of -2^127 is rejected');
SELECT is((SELECT cost(kpi_summary_from_bytes(pg_temp.forge(67, '00000000', '80' || repeat('00', 14) || '01')))),
          -170141183460469231731687303715884105727::numeric,
          'a cost of -(2^127 - 1) is the smallest accepted');
SELECT is((SELECT s::text::kpi_summary::text = s::text
           FROM (SELECT kpi_summary_from_bytes(pg_temp.forge(67, '00000004', '7f' || repeat('ff', 15))) s) x),
          true, 'a cost of 2^127 - 1 at scale 4 is accepted and reads back through text');
SELECT throws_ok($$SELECT kpi_summary_from_bytes(pg_temp.forge(67, '00004000', repeat('00', 16)))$$,
                 '22P02', NULL, 'a scale of 16384, beyond numeric''s, is rejected');
SELECT throws_ok($$SELECT kpi_summary_from_bytes(pg_temp.forge(67, 'fffffffe', repeat('00', 16)))$$,
                 '22P02', NULL, 'a scale of -2 is rejected');
SELECT throws_ok($$SELECT kpi_summary_from_bytes(pg_temp.forge(87, 'ffffffff', repeat('00', 15) || '01'))$$,
                 '22P02', NULL, 'an absent revenue with a non-zero sum is rejected');

-- COPY BINARY: a bytea field's binary form is its bytes, so a file written
-- from a bytea column reads back as a kpi_summary column, through recv
SELECT format('/tmp/leadkpi_tap_money_%s.bin', pg_backend_pid()) AS f \gset
CREATE TEMP TABLE forged AS SELECT pg_temp.forge(67, '00000000', '80' || repeat('00', 15)) AS b;
COPY forged TO :'f' (FORMAT binary);
CREATE TEMP TABLE back (s kpi_summary);
SELECT throws_ok(format('COPY back FROM %L (FORMAT binary)', :'f'), '22P02', NULL,
                 'COPY FROM (FORMAT binary) rejects a cost of -2^127');
TRUNCATE forged;
INSERT INTO forged SELECT pg_temp.forge(67, '00000000', '80' || repeat('00', 14) || '01');
COPY forged TO :'f' (FORMAT binary);
COPY back FROM :'f' (FORMAT binary);
SELECT is((SELECT cost(s) FROM back), -170141183460469231731687303715884105727::numeric,
          'COPY FROM (FORMAT binary) reads a cost of -(2^127 - 1)');

\setenv LK_TAP_FILE :f
\! rm -f "$LK_TAP_FILE"
SELECT * FROM finish();
ROLLBACK;
