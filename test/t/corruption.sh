#!/usr/bin/env bash
# TAP: stored kpi_summary, funnel_summary and close_summary values whose
# bytes are damaged on disk read back as a value or a clean error, never a
# crash.
#
# A cluster of its own (the suite's one must not be stopped), from the same
# private install tree as the suite's server: tables of summaries stored
# uncompressed and inline (STORAGE PLAIN), a checkpoint, the server stopped,
# then bytes inside each stored datum flipped or overwritten in the heap
# files (never the page or tuple headers: those are PostgreSQL's to check),
# the server started and every row read: text output, binary send, every
# accessor, rollup.  Once without data checksums (leadkpi's readers see the
# damaged bytes) and once with them (PostgreSQL reports XX001 first).
set -euo pipefail
# the suite's server binary, from its postmaster.opts: its tree has leadkpi
dd_=$("$(pg_config --bindir)/psql" -X -Atc "SHOW data_directory" -d postgres)
pgbin=$(dirname "$(head -1 "$dd_/postmaster.opts" | awk '{print $1}' | tr -d "'\"")")
T=$(mktemp -d "$PGHOST/corrupt.XXXXXX")
port=5499
[ "$(id -u)" -eq 0 ] && as_pg() { runuser -u postgres -- "$@"; } || as_pg() { "$@"; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T"
cleanup() { [ -f "$T/data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
q() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$T" -p $port -d postgres "$@"; }

echo "1..6"
n=0
for checksums in off on; do
    rm -rf "$T/data"
    as_pg "$pgbin/initdb" -D "$T/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
        $([ $checksums = on ] && echo --data-checksums) >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$T/data" -l "$T/server-$checksums.log" -w \
        -o "-c listen_addresses='' -k $T -p $port -c fsync=off" start >/dev/null
    q >/dev/null <<'SQL'
CREATE EXTENSION leadkpi;
CREATE EXTENSION pageinspect;
CREATE TABLE ks (s kpi_summary);
CREATE TABLE fs (f funnel_summary);
CREATE TABLE cs (c close_summary);
ALTER TABLE ks ALTER COLUMN s SET STORAGE PLAIN;
ALTER TABLE fs ALTER COLUMN f SET STORAGE PLAIN;
ALTER TABLE cs ALTER COLUMN c SET STORAGE PLAIN;
INSERT INTO ks
SELECT kpi_agg(timestamptz '2024-01-01' + g * interval '1 hour',
               CASE WHEN g % 3 > 0 THEN timestamptz '2024-01-01' + g * interval '1 hour' + (g % k) * interval '5 hours' END,
               CASE WHEN g % 2 = 0 THEN (g % 100) * 1.25 END)
FROM generate_series(1, 400) k, generate_series(1, 40) g GROUP BY k
UNION ALL SELECT spend_agg(k * 0.5) FROM generate_series(1, 50) k GROUP BY k;
INSERT INTO fs
SELECT funnel_agg(g % 37, timestamptz '2024-01-01' + (g % 37) * interval '1 day' + (g % 5) * interval '3 hours',
                  g % 5 + 1, '2 days'::interval, CASE WHEN k % 3 = 0 THEN 'strict_order' END)
FROM generate_series(1, 300) k, generate_series(1, 100 + k) g GROUP BY k;
-- small groups (a few hundred bytes each, so PLAIN storage fits a page):
-- wins, losses, revenue, stage times and amounts over 6 monthly snapshots
INSERT INTO cs
SELECT close_agg(fc, CASE WHEN g % 4 = 0 THEN fc + (g % 90) * interval '1 day' END,
                 CASE WHEN g % 4 = 1 THEN fc + (g % 50) * interval '1 day' END,
                 CASE WHEN g % 8 = 0 THEN g * 1.5 END,
                 CASE WHEN g % 3 > 0 THEN ARRAY[fc + interval '2 days', CASE WHEN g % 3 = 2 THEN fc + interval '9 days' END] END,
                 CASE WHEN g % 5 = 0 THEN g * 0.25 END,
                 close_grid('2024-07-01', 'month', 3, 6, 'UTC'))
FROM (SELECT k, g, timestamptz '2024-01-01' + ((g * 7919 + k) % 170) * interval '1 day' AS fc
      FROM generate_series(1, 300) k, generate_series(1, 5 + k % 40) g) x GROUP BY k;
CHECKPOINT;
SQL
    # the file offset of every stored datum's payload (after its 4-byte
    # varlena header), as (file, offset, length, table)
    plan=$(q -At -F' ' <<'SQL'
SELECT current_setting('data_directory') || '/' || pg_relation_filepath(c),
       p * 8192 + lp_off + t_hoff + 4, lp_len - t_hoff - 4, c
FROM unnest(ARRAY['ks', 'fs', 'cs']::regclass[]) c,
     generate_series(0, pg_relation_size(c) / 8192 - 1) p,
     heap_page_items(get_raw_page(c::text, p::int))
WHERE lp_flags = 1
SQL
)
    as_pg "$pgbin/pg_ctl" -D "$T/data" -m fast -w stop >/dev/null
    # damage: a flipped bit, a random byte, or 8 bytes of 0xff or 0x00 (huge
    # or zero counts), at a position fixed by the row number (deterministic);
    # every third row instead gets an edge value in one of the fields that
    # say how to walk the value (version, nsteps, a sketch's bucket count or
    # capacity, a bucket's index or count; a close summary's header and
    # snapshot offsets), which readers once trusted
    /usr/bin/python3 - <<PY
import random, struct
rng = random.Random(13)
files = {}
EDGES = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 0x10000, 2201, 2202]
for row, line in enumerate("""$plan""".strip().splitlines()):
    path, off, length, tbl = line.rsplit(' ', 3)
    off, length = int(off), int(length)
    f = files.setdefault(path, open(path, 'r+b'))
    if row % 3 == 0:
        # payload offsets (the struct's minus the 4-byte header)
        if tbl == 'ks':
            # version, flags, the sketch's nbuckets and capacity, its first
            # bucket's index and count
            flds = [(0, 1), (1, 1), (132, 4), (136, 4), (140, 4), (148, 8)]
        elif tbl == 'cs':
            # version, flags, horizons, age buckets, stages, snapshots,
            # cells, leads; then (after the age bounds, aligned, and the
            # snapshot instants) the first two encoding offsets
            f.seek(off + 3)
            nages = f.read(1)[0]
            f.seek(off + 8)
            nblocks = min(int.from_bytes(f.read(4), 'little'), 64)
            hdr = 36 + 8 * max(nages - 1, 0)
            flds = [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (8, 4), (12, 4), (20, 8),
                    (hdr + 8 * nblocks, 4), (hdr + 8 * nblocks + 4, 4)]
        else:
            # version, nsteps, then the sketches after nsteps reached counts:
            # step 1's (always empty) nbuckets and capacity, step 2's
            # nbuckets, capacity, first bucket index and count
            f.seek(off + 1)
            nsteps = f.read(1)[0]
            sk = 24 + 8 * nsteps
            flds = [(0, 1), (1, 1), (sk + 8, 4), (sk + 12, 4), (sk + 24, 4), (sk + 28, 4), (sk + 32, 4), (sk + 40, 8)]
        o, w = rng.choice([x for x in flds if x[0] + x[1] <= length])
        v = rng.choice(EDGES)
        f.seek(off + o)
        f.write(struct.pack('<Q', v)[:w] if w <= 8 else b'')
        continue
    k = rng.randrange(4)
    pos = off + rng.randrange(length)
    f.seek(pos)
    if k == 0:
        b = f.read(1)[0] ^ (1 << rng.randrange(8)); f.seek(pos); f.write(bytes([b]))
    elif k == 1:
        f.write(bytes([rng.randrange(256)]))
    else:
        w = min(8, off + length - pos)
        f.write((b'\xff' if k == 2 else b'\x00') * w)
for f in files.values():
    f.close()
PY
    as_pg "$pgbin/pg_ctl" -D "$T/data" -l "$T/server-$checksums.log" -w \
        -o "-c listen_addresses='' -k $T -p $port -c fsync=off -c ignore_checksum_failure=off" start >/dev/null
    # every row, read through every function, each in its own subtransaction
    # (rollup of the value twice: the first becomes the state unread, the
    # second is merged into it)
    kfns="s::text kpi_summary_send(s) leads(s) conversions(s) cost(s) revenue(s) conversion_rate(s) cost_per_lead(s)
          cost_per_order(s) revenue_per_lead(s) cycles_excluded(s)
          roi(s) sales_cycle_avg(s) sales_cycle_min(s) sales_cycle_max(s) sales_cycle_median(s)
          sales_cycle_percentile(s,0.9) s=s kpi_summary_hash(s) (s+s)::text
          (SELECT/**/rollup(x)::text/**/FROM/**/(VALUES/**/(s),(s))/**/v(x))"
    ffns="f::text funnel_summary_send(f) funnel_nsteps(f) funnel_entities(f) bottleneck(f) f=f funnel_summary_hash(f)
          (SELECT/**/count(*)/**/FROM/**/funnel_steps(f)) reached(f,1) time_to_convert_median(f,2)
          conversion_rate(f,1,2) drop_off(f,2) funnel_chart(f)
          (SELECT/**/rollup(x)::text/**/FROM/**/(VALUES/**/(f),(f))/**/v(x))"
    cfns="c::text close_summary_send(c) leads(c) excluded_leads(c) horizons(c) age_bounds(c) c=c close_summary_hash(c)
          (c+c)::text (SELECT/**/count(*)/**/FROM/**/close_history(c)) (SELECT/**/count(*)/**/FROM/**/close_pipeline(c))
          (SELECT/**/count(*)/**/FROM/**/close_windows(c)) (SELECT/**/count(*)/**/FROM/**/close_new_leads(c))
          (SELECT/**/count(*)/**/FROM/**/close_forecast(c,c,c,ARRAY[to_timestamp(1722470400)],3,3))
          (SELECT/**/rollup(x)::text/**/FROM/**/(VALUES/**/(c),(c))/**/v(x))"
    # rows by generated TIDs, so that a damaged page is an error inside try()
    tids() { echo "SELECT format('(%s,%s)', p, i) AS t FROM generate_series(0, pg_relation_size('$1') / 8192 - 1) p,
                   generate_series(1, 200) i"; }
    res=$(PGOPTIONS="-c client_min_messages=error" q -At 2>&1 <<SQL || true
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END \$\$;
SELECT r, count(*) FROM (
  SELECT pg_temp.try(format('SELECT $(echo $kfns | tr ' ' ',') FROM ks WHERE ctid = %L', t)) AS r
  FROM ($(tids ks)) x
  UNION ALL
  SELECT pg_temp.try(format('SELECT $(echo $ffns | tr ' ' ',') FROM fs WHERE ctid = %L', t))
  FROM ($(tids fs)) x
  UNION ALL
  SELECT pg_temp.try(format('SELECT $(echo $cfns | tr ' ' ',') FROM cs WHERE ctid = %L', t))
  FROM ($(tids cs)) x
  UNION ALL
  SELECT pg_temp.try('SELECT rollup(s) FROM ks') UNION ALL SELECT pg_temp.try('SELECT rollup(f) FROM fs')
  UNION ALL SELECT pg_temp.try('SELECT rollup(c) FROM cs')
) x GROUP BY r ORDER BY r;
SQL
)
    if grep -q 'terminated by signal' "$T/server-$checksums.log"; then
        # which rows and functions crash: a page at a time, then its rows,
        # then each function, one connection a call; the server log tells
        crashes() { grep -c 'terminated by signal' "$T/server-$checksums.log" || true; }
        ready() { for _ in $(seq 1 60); do q -Atc 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 1; done; }
        crashes_on() { local c0; c0=$(crashes); q -Atc "$1" >/dev/null 2>&1 || true
                       [ "$(crashes)" != "$c0" ] && ready && return 0; return 1; }
        ready
        found=0
        for tf in "ks|$kfns" "fs|$ffns" "cs|$cfns"; do
            tbl=${tf%%|*}; fns=$(echo ${tf#*|}); all=$(echo $fns | tr ' ' ',')
            for pg in $(q -Atc "SELECT generate_series(0, pg_relation_size('$tbl') / 8192 - 1)"); do
                [ $found -ge 3 ] && break 2
                crashes_on "SELECT $all FROM $tbl WHERE ctid = ANY (SELECT format('($pg,%s)', i)::tid FROM generate_series(1, 200) i)" || continue
                for i in $(seq 1 200); do
                    crashes_on "SELECT $all FROM $tbl WHERE ctid = '($pg,$i)'" || continue
                    for fn in $fns; do
                        crashes_on "SELECT $fn FROM $tbl WHERE ctid = '($pg,$i)'" && \
                            echo "# crash: SELECT ${fn//\/\*\*\// } FROM $tbl WHERE ctid = '($pg,$i)'"
                    done
                    found=$((found + 1))
                    break
                done
            done
        done
    fi
    summary=$(echo "$res" | tr '\n' ' ')
    crashed=$(grep -cE 'terminated by signal|TRAP:|server closed the connection' "$T/server-$checksums.log" <(echo "$res") | awk -F: '{s+=$NF} END {print s+0}' || true)
    n=$((n + 1))
    if [ "$crashed" -eq 0 ] && grep -qE '^(ok|[0-9A-Z]{5})\|' <<< "$res"; then
        echo "ok $n - checksums $checksums: damaged summaries read without a crash (outcome|reads: $summary)"
    else
        echo "not ok $n - checksums $checksums: damaged summaries read without a crash"
        { grep -E 'terminated by signal|TRAP:' -A3 "$T/server-$checksums.log" || true; } | sed -n '1,10s/^/# /p'
    fi
    n=$((n + 1))
    bad=$(echo "$res" | grep -E '^[^|]+[|][0-9]+$' | awk -F'|' '$1 != "ok" && ($1 !~ /^(22|XX001|XX002|54|53)/ || $1 == "22P02") {print $1}' | tr '\n' ' ' || true)
    if [ -z "$bad" ] && [ "$crashed" -eq 0 ]; then
        echo "ok $n - checksums $checksums: every error is a clean data-corruption or data-exception error (never 22P02: a stored value is not input)"
    else
        echo "not ok $n - checksums $checksums: unexpected SQLSTATEs: ${bad:-crash}"
    fi
    n=$((n + 1))
    if [ $checksums = on ]; then
        if grep -q '^XX001|' <<< "$res" && ! grep -q '^ok|' <<< "$res"; then
            echo "ok $n - with data checksums every damaged page is reported as XX001"
        else
            echo "not ok $n - with data checksums every damaged page is reported as XX001 ($summary)"
        fi
    else
        if grep -qE '^(22|XX)' <<< "$res"; then
            echo "ok $n - without checksums leadkpi's own checks reject some damaged values"
        else
            echo "not ok $n - without checksums leadkpi's own checks reject some damaged values"
        fi
    fi
    as_pg "$pgbin/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null || true
done
