-- funnel_summary_bytes: funnel_summary_from_bytes(bytea), the binary input
-- as a function (as kpi_summary_from_bytes is for kpi_summary): it reads
-- what funnel_summary_send writes, and rejects every truncated or corrupted
-- value with 22P02 unless the corruption is itself a valid summary.
BEGIN;
SELECT plan(5);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE fs AS
SELECT funnel_agg(e % 40, timestamptz '2025-01-01' + (e * 7919 % 1000) * interval '1 hour',
                  1 + e % 4, interval '3 days', m, 4) AS s
FROM generate_series(1, 400) e, (VALUES (''), ('strict_order'), ('crm_backfill')) v(m)
GROUP BY m
UNION ALL SELECT funnel_agg(level, 3) FROM (VALUES (0), (1), (3), (2)) v(level);

SELECT is_empty($$SELECT s::text FROM fs WHERE funnel_summary_from_bytes(funnel_summary_send(s))::text <> s::text$$,
                'funnel_summary_from_bytes(funnel_summary_send(s)) = s, for every mode and for levels');
SELECT is((SELECT count(*) FROM fs WHERE funnel_summary_from_bytes(funnel_summary_send(s)) = s), 4::bigint,
          'and compares equal');

CREATE FUNCTION pg_temp.try_bytes(b bytea) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE s funnel_summary;
BEGIN
    s := funnel_summary_from_bytes(b);
    IF funnel_summary_send(s) = b AND s::text::funnel_summary::text = s::text THEN RETURN 'ok'; END IF;
    RETURN 'accepted but not canonical: ' || s::text;
EXCEPTION WHEN invalid_text_representation THEN RETURN '22P02';
    WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
CREATE TEMP TABLE sent AS SELECT funnel_summary_send(s) AS b FROM fs;

SELECT is_empty($$SELECT n, r FROM (SELECT n, pg_temp.try_bytes(substr(b, 1, n)) r
                                    FROM sent, generate_series(0, length(b) - 1) n) x WHERE r <> '22P02'$$,
                'every truncation is 22P02');
SELECT is_empty($$SELECT pos, v, r FROM (SELECT pos, v, pg_temp.try_bytes(set_byte(b, pos, v)) r
                                         FROM sent, generate_series(0, length(b) - 1) pos,
                                              unnest(ARRAY[0, 1, 2, 127, 128, 255]) v
                                         WHERE get_byte(b, pos) <> v) x
                  WHERE r NOT IN ('22P02', 'ok')$$,
                'every single-byte corruption is 22P02, or a valid canonical value');
SELECT throws_ok($$SELECT funnel_summary_from_bytes(funnel_summary_send(s) || '\x00'::bytea) FROM fs LIMIT 1$$,
                 '22P02', NULL, 'a trailing byte is 22P02');

SELECT * FROM finish();
ROLLBACK;
