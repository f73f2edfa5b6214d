#!/usr/bin/env python3
"""Byte- and text-level fuzzer for leadkpi's input paths (make fuzz).

Targets (every input path that takes bytes or text from outside):
  kpi_in, funnel_in               text input functions (a cast from text)
  kpi_recv, funnel_recv           binary receive functions, through
                                  lk_fuzz_recv (the server's ReceiveFunctionCall,
                                  as for a binary Bind parameter) and, for a
                                  sample, through a real COPY ... (FORMAT binary)
  kpi_from_bytes, funnel_from_bytes   the SQL-callable binary readers
  close_in, close_recv, close_from_bytes
                                  the same three paths of the forecast's
                                  close_summary (accessors: leads, horizons,
                                  age_bounds, close_history/pipeline/windows/
                                  new_leads, =, hash, +, rollup)
  window_funnel_state, funnel_agg_state
                                  the deserialize functions of the internal-state
                                  aggregates, under a minimal AggState
                                  (lk_fuzz_agg_state), then serialize, combine
                                  and final on the result
  kpi_raw, funnel_raw, close_raw  stored values damaged as on disk: the bytes
                                  of the stored layout (lk_fuzz_raw), read by
                                  every reader of a stored value (output, send,
                                  =, hash, accessors, +, rollup on either side)

Inputs start from valid values (read from the fixture database, or built to
the documented wire format for aggregate states) and are mutated: bit flips,
byte inserts and deletes, truncation, field-boundary writes of interesting
integers (0, -1, extremes, big counts), chunk duplication and splicing, and
for text: number, token and character edits.  A share are random bytes.

Failures: a server crash, a reader of a damaged stored value that fails
with other than XX001 (data_corrupted) or a 22 or 54 class error, or whose
printed form does not re-read, an accepted input that does not re-read
(out -> in -> out differs, or binary send -> from_bytes -> send differs, or a
deserialized state that serializes to other bytes), an accessor or final
function that errors on an accepted value outside the data-exception (22)
and program-limit (54) classes, or a rejection with such an unexpected
SQLSTATE.  Deterministic for a given --seed and --n.
"""
import argparse
import collections
import io
import os
import random
import struct
import sys
import time
import zlib

import psycopg2

BATCH = 200

# ---------------------------------------------------------------- server side

SETUP_SQL = r"""
CREATE OR REPLACE FUNCTION public.lk_fuzz_recv(regtype, bytea) RETURNS text
    AS '$libdir/lk_fuzz', 'lk_fuzz_recv' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_agg_state(bytea, regprocedure, regprocedure, regprocedure, regprocedure)
    RETURNS text AS '$libdir/lk_fuzz', 'lk_fuzz_agg_state' LANGUAGE C STRICT;

-- Accessors on an accepted value: each must work or fail with a clean error.
CREATE OR REPLACE FUNCTION public.lk_fuzz_kpi_read(k kpi_summary) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM leads(k), conversions(k), cycles_excluded(k), cost(k), revenue(k), conversion_rate(k),
          cost_per_lead(k), cost_per_order(k), revenue_per_lead(k), roi(k), sales_cycle_avg(k),
          sales_cycle_min(k), sales_cycle_max(k), sales_cycle_median(k),
          sales_cycle_percentile(k, 0), sales_cycle_percentile(k, 0.9), sales_cycle_percentile(k, 1),
          k = k, kpi_summary_hash(k);
  PERFORM rollup(x) FROM (VALUES (k), (k)) v(x);
END $$;
CREATE OR REPLACE FUNCTION public.lk_fuzz_funnel_read(f funnel_summary) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM funnel_nsteps(f), funnel_entities(f), bottleneck(f), f = f, funnel_summary_hash(f);
  PERFORM reached(f, s), drop_off(f, s), time_to_convert_median(f, s), conversion_rate(f, 1, s)
  FROM generate_series(1, funnel_nsteps(f)) s;
  PERFORM * FROM funnel_steps(f);
  PERFORM rollup(x) FROM (VALUES (f), (f)) v(x);
END $$;
CREATE OR REPLACE FUNCTION public.lk_fuzz_close_read(c close_summary) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM leads(c), excluded_leads(c), horizons(c), age_bounds(c), c = c, c <> c, close_summary_hash(c),
          c + c, (c + c) = c;
  PERFORM count(*), sum(observed), sum(won), sum(lost) FROM close_history(c);
  PERFORM count(*), sum(open_leads), sum(amount) FROM close_pipeline(c);
  PERFORM count(*), sum(arrivals), sum(closings), sum(revenue) FROM close_windows(c);
  PERFORM count(*), sum(won) FROM close_new_leads(c);
  PERFORM rollup(x)::text FROM (VALUES (c), (c)) v(x);
  PERFORM count(*) FROM close_forecast(c, c, c, ARRAY[(SELECT max(snapshot) FROM close_windows(c))], horizons(c), 3);
END $$;

-- One input: 'R<sqlstate>:<msg>' rejected; 'A<note>' accepted and re-read;
-- 'F<what>' a failure.
CREATE OR REPLACE FUNCTION public.lk_fuzz_try(target text, b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  o text; o2 text; x bytea; r text; note text := '';
  isfunnel boolean := target LIKE 'funnel\_%' AND target <> 'funnel_agg_state';
  isclose boolean := target LIKE 'close\_%';
  typ regtype;
BEGIN
  -- 1. the input path itself
  BEGIN
    CASE target
    WHEN 'kpi_in' THEN o := convert_from(b, 'UTF8')::kpi_summary::text;
    WHEN 'funnel_in' THEN o := convert_from(b, 'UTF8')::funnel_summary::text;
    WHEN 'kpi_recv' THEN o := lk_fuzz_recv('kpi_summary', b);
    WHEN 'funnel_recv' THEN o := lk_fuzz_recv('funnel_summary', b);
    WHEN 'kpi_from_bytes' THEN o := kpi_summary_from_bytes(b)::text;
    WHEN 'close_in' THEN o := convert_from(b, 'UTF8')::close_summary::text;
    WHEN 'close_recv' THEN o := lk_fuzz_recv('close_summary', b);
    WHEN 'close_from_bytes' THEN o := close_summary_from_bytes(b)::text;
    WHEN 'funnel_from_bytes' THEN EXECUTE 'SELECT funnel_summary_from_bytes($1)::text' INTO o USING b;
    WHEN 'window_funnel_state' THEN
      r := lk_fuzz_agg_state(b, 'window_funnel_deserialize(bytea,internal)', 'window_funnel_serialize(internal)',
                             'window_funnel_combine(internal,internal)', 'window_funnel_final(internal)');
    WHEN 'funnel_agg_state' THEN
      r := lk_fuzz_agg_state(b, 'funnel_agg_deserialize(bytea,internal)', 'funnel_agg_serialize(internal)',
                             'funnel_agg_combine(internal,internal)', 'funnel_agg_final(internal)');
    END CASE;
  EXCEPTION WHEN OTHERS THEN
    RETURN 'R' || SQLSTATE || ':' || left(SQLERRM, 200);
  END;
  -- 2. an accepted input must re-read
  BEGIN
    IF r IS NOT NULL THEN
      IF r NOT LIKE 'same %' THEN RETURN 'Fstate does not serialize to the same bytes'; END IF;
      o := substr(r, 6);
      IF target = 'window_funnel_state' THEN RETURN 'A'; END IF;
      IF o = 'null' THEN RETURN 'A'; END IF;
      isfunnel := true;       -- funnel_agg's final value is a funnel_summary
      note := 'final';
    END IF;
    typ := CASE WHEN isclose THEN 'close_summary' WHEN isfunnel THEN 'funnel_summary' ELSE 'kpi_summary' END;
    IF isclose THEN
      o2 := o::close_summary::text;
      x := close_summary_send(o::close_summary);
      IF close_summary_send(close_summary_from_bytes(x)) <> x THEN RETURN 'Fsend -> from_bytes -> send differs'; END IF;
    ELSIF isfunnel THEN
      o2 := o::funnel_summary::text;
      x := funnel_summary_send(o::funnel_summary);
    ELSE
      o2 := o::kpi_summary::text;
      x := kpi_summary_send(o::kpi_summary);
      IF kpi_summary_send(kpi_summary_from_bytes(x)) <> x THEN RETURN 'Fsend -> from_bytes -> send differs'; END IF;
    END IF;
    IF o2 <> o THEN RETURN 'Fout -> in -> out differs: ' || left(o, 100); END IF;
    IF lk_fuzz_recv(typ, x) <> o THEN RETURN 'Fsend -> recv -> out differs'; END IF;
    IF target NOT LIKE '%\_in' AND note = '' AND x <> b THEN note := 'noncanonical'; END IF;
  EXCEPTION WHEN OTHERS THEN
    RETURN 'Fre-read of an accepted value: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
  END;
  -- 3. every accessor on it
  BEGIN
    IF isclose THEN PERFORM lk_fuzz_close_read(o::close_summary);
    ELSIF isfunnel THEN PERFORM lk_fuzz_funnel_read(o::funnel_summary);
    ELSE PERFORM lk_fuzz_kpi_read(o::kpi_summary); END IF;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE LIKE '22%' OR SQLSTATE LIKE '54%' THEN RETURN 'A' || note || ' accessor:' || SQLSTATE; END IF;
    RETURN 'Faccessor on an accepted value: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
  END;
  RETURN 'A' || note;
END $$;

-- Stored values as they are on disk (the _raw targets): lk_fuzz_raw is the
-- identity on a varlena, so these make a summary of any bytes, as damage on
-- disk would, and give a stored summary's bytes.
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_kpi(bytea) RETURNS kpi_summary
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_funnel(bytea) RETURNS funnel_summary
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_close(bytea) RETURNS close_summary
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_bytes(close_summary) RETURNS bytea
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_bytes(kpi_summary) RETURNS bytea
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION public.lk_fuzz_raw_bytes(funnel_summary) RETURNS bytea
    AS '$libdir/lk_fuzz', 'lk_fuzz_raw' LANGUAGE C STRICT;

-- Every reader of a stored value, each in its own subtransaction, on a
-- damaged one (%1$s): a value or a clean error (XX001, or a 22 or 54 class
-- error but 22P02, which is bad input), never a crash or an internal error.  Text output that succeeds
-- must re-read.  'R<sqlstate>:<msg>' when the text output rejects it, 'A'
-- when it prints, 'F<what>' a failure.
CREATE OR REPLACE FUNCTION public.lk_fuzz_try_raw(target text, b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v text := CASE target WHEN 'kpi_raw' THEN 'public.lk_fuzz_raw_kpi($1)' WHEN 'close_raw' THEN 'public.lk_fuzz_raw_close($1)'
                       ELSE 'public.lk_fuzz_raw_funnel($1)' END;
  kx text[] := ARRAY['kpi_summary_send(%1$s)', 'leads(%1$s)', 'conversions(%1$s)', 'cycles_excluded(%1$s)',
    'cost(%1$s)', 'revenue(%1$s)', 'conversion_rate(%1$s)', 'cost_per_lead(%1$s)', 'cost_per_order(%1$s)',
    'revenue_per_lead(%1$s)', 'roi(%1$s)', 'sales_cycle_avg(%1$s)', 'sales_cycle_min(%1$s)', 'sales_cycle_max(%1$s)',
    'sales_cycle_median(%1$s)', 'sales_cycle_percentile(%1$s, 0)', 'sales_cycle_percentile(%1$s, 0.9)',
    '%1$s = %1$s', 'kpi_summary_hash(%1$s)', '%1$s + %1$s', '%1$s + (SELECT s FROM fz.kpi WHERE grp = 0)',
    '(SELECT rollup(x) FROM (VALUES (%1$s)) v(x))', '(SELECT rollup(x) FROM (VALUES (%1$s), (%1$s)) v(x))',
    '(SELECT rollup(x) FROM (VALUES ((SELECT s FROM fz.kpi WHERE grp = 0)), (%1$s)) v(x))',
    '(SELECT rollup(x) FROM (VALUES (%1$s), ((SELECT s FROM fz.kpi WHERE grp = 0))) v(x))'];
  fx text[] := ARRAY['funnel_summary_send(%1$s)', 'funnel_nsteps(%1$s)', 'funnel_entities(%1$s)',
    'bottleneck(%1$s)', '%1$s = %1$s', 'funnel_summary_hash(%1$s)', 'reached(%1$s, 1)', 'reached(%1$s, 2)',
    'drop_off(%1$s, 1)', 'drop_off(%1$s, 3)', 'conversion_rate(%1$s, 1, 2)', 'time_to_convert_median(%1$s, 2)',
    'time_to_convert_median(%1$s, 5)', '(SELECT array_agg(t::text) FROM funnel_steps(%1$s) t)', 'funnel_chart(%1$s)',
    '(SELECT rollup(x) FROM (VALUES (%1$s)) v(x))', '(SELECT rollup(x) FROM (VALUES (%1$s), (%1$s)) v(x))',
    '(SELECT rollup(x) FROM (VALUES ((SELECT f FROM fz.funnel WHERE grp = 0)), (%1$s)) v(x))',
    '(SELECT rollup(x) FROM (VALUES (%1$s), ((SELECT f FROM fz.funnel WHERE grp = 0))) v(x))'];
  cx text[] := ARRAY['close_summary_send(%1$s)', 'leads(%1$s)', 'excluded_leads(%1$s)', 'horizons(%1$s)',
    'age_bounds(%1$s)', '%1$s = %1$s', 'close_summary_hash(%1$s)', '%1$s + %1$s', '%1$s + (SELECT c FROM fz.close WHERE grp = 1)',
    '(SELECT array_agg(t::text) FROM close_history(%1$s) t)', '(SELECT array_agg(t::text) FROM close_pipeline(%1$s) t)',
    '(SELECT array_agg(t::text) FROM close_windows(%1$s) t)', '(SELECT array_agg(t::text) FROM close_new_leads(%1$s) t)',
    '(SELECT rollup(x) FROM (VALUES (%1$s)) v(x))', '(SELECT rollup(x) FROM (VALUES (%1$s), (%1$s)) v(x))',
    '(SELECT rollup(x) FROM (VALUES ((SELECT c FROM fz.close WHERE grp = 1)), (%1$s)) v(x))',
    '(SELECT count(*) FROM close_forecast(%1$s, %1$s, %1$s, ARRAY[timestamptz ''2024-06-01''], 3, 3))'];
  e text; o text; o2 text; res text;
BEGIN
  BEGIN
    EXECUTE format('SELECT (%s)::text', v) INTO o USING b;
    res := 'A';
  EXCEPTION WHEN OTHERS THEN
    -- (22P02, bad input, is not what a stored value can be)
    IF (SQLSTATE <> 'XX001' AND SQLSTATE NOT LIKE '22%' AND SQLSTATE NOT LIKE '54%') OR SQLSTATE = '22P02' THEN
      RETURN 'Ftext output of a damaged value: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
    END IF;
    res := 'R' || SQLSTATE || ':' || left(SQLERRM, 200);
  END;
  IF o IS NOT NULL THEN
    BEGIN
      EXECUTE format('SELECT $1::%s::text', CASE target WHEN 'kpi_raw' THEN 'kpi_summary' WHEN 'close_raw' THEN 'close_summary'
                                                 ELSE 'funnel_summary' END)
        INTO o2 USING o;
      IF o2 <> o THEN RETURN 'Fout -> in -> out of a damaged value differs: ' || left(o, 100); END IF;
    EXCEPTION WHEN OTHERS THEN
      RETURN 'Fthe printed form of a damaged value does not re-read: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
    END;
  END IF;
  FOREACH e IN ARRAY CASE target WHEN 'kpi_raw' THEN kx WHEN 'close_raw' THEN cx ELSE fx END LOOP
    BEGIN
      EXECUTE format('SELECT (' || e || ')::text', v) INTO o2 USING b;
    EXCEPTION WHEN OTHERS THEN
      IF (SQLSTATE <> 'XX001' AND SQLSTATE NOT LIKE '22%' AND SQLSTATE NOT LIKE '54%') OR SQLSTATE = '22P02' THEN
        RETURN 'F' || format(e, 'v') || ' of a damaged value: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
      END IF;
    END;
  END LOOP;
  RETURN res;
END $$;

CREATE OR REPLACE FUNCTION public.lk_fuzz_batch(target text, inputs bytea[]) RETURNS text[]
LANGUAGE sql AS $$
  SELECT array_agg(CASE WHEN target LIKE '%\_raw' THEN lk_fuzz_try_raw(target, b) ELSE lk_fuzz_try(target, b) END
                   ORDER BY i)
  FROM unnest(inputs) WITH ORDINALITY u(b, i) $$;

DROP TABLE IF EXISTS public.lk_fuzz_copy_kpi, public.lk_fuzz_copy_funnel, public.lk_fuzz_copy_close;
CREATE TABLE public.lk_fuzz_copy_kpi (s kpi_summary);
CREATE TABLE public.lk_fuzz_copy_funnel (f funnel_summary);
CREATE TABLE public.lk_fuzz_copy_close (c close_summary);
"""

# ------------------------------------------------------------ valid inputs

MODES_OK = [0, 0x01, 0x01 | 0x02, 0x04, 0x08, 0x01 | 0x10, 0x20, 0x01 | 0x04 | 0x08, 0x02]


def wf_state(rng):
    """A valid window_funnel state: window_funnel_serialize's format."""
    nsteps = rng.randint(1, 32)
    nrows = rng.randint(1, 60)
    n = rng.randint(0, 3 * nrows)
    out = struct.pack('>BBiqIq', 1, nsteps, rng.choice(MODES_OK), rng.choice([0, 1, 3600 * 10**6, 86400 * 10**6 * 30]),
                      nrows, n)
    t0 = 1_700_000_000_000_000
    for _ in range(n):
        out += struct.pack('>qIB', t0 + rng.randint(0, 10**11), rng.randrange(nrows), rng.randint(0, nsteps))
    return out


def fa_state(rng):
    """A valid funnel_agg state: funnel_agg_serialize's format (wire version
    2: the stage names follow the header, none or one per step).  Byte keys
    sit in an arena of (native uint32 length, bytes) records."""
    kind = rng.choice([0, 1, 2])
    nsteps = rng.choice([0, 0, rng.randint(1, 32)])
    maxstep = rng.randint(0, nsteps if nsteps else 32)
    stages = b''
    nstages = nsteps if nsteps and rng.random() < 0.5 else 0
    for i in range(nstages):
        name = rng.choice(['lead', 'MQL', 'SQL', 'won', 'étape', '', 'a' * 40]) + str(i)
        stages += struct.pack('>I', len(name.encode())) + name.encode()
    arena = b''
    offs = []
    if kind != 0:
        for _ in range(rng.randint(1, 20)):
            key = bytes(rng.randrange(256) for _ in range(16 if kind == 2 else rng.randint(0, 12)))
            offs.append(len(arena))
            arena += struct.pack('=I', len(key)) + key
    nrows = rng.randint(0, 80)
    rows = b''
    t0 = 1_700_000_000_000_000
    for _ in range(nrows):
        key = rng.choice(offs) if kind != 0 else rng.randint(-5, 30)
        rows += struct.pack('>qqB', key, t0 + rng.randint(0, 10**11), rng.randint(0, maxstep))
    head = struct.pack('>BBiqiiqqB', 2, kind, rng.choice(MODES_OK), rng.choice([0, 3600 * 10**6, 86400 * 10**6 * 7]),
                       nsteps, maxstep, nrows, len(arena), nstages)
    return head + stages + arena + rows


# ---------------------------------------------------------------- mutations

INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
               2**31 - 2, 2**32 - 2, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 1 << 30, 1 << 40, 10**6, 10**9]


INT128_EDGES = [-(1 << 127), (1 << 127) - 1, -(1 << 127) + 1, -1, 0, 1 << 64, -(1 << 64), (1 << 63), -(1 << 63)]


def _sketch_fields(b, o, out):
    """A sketch in lk_sketch_send's form at offset o: zero count, bucket
    count, then (index int32, count int64) per bucket.  Returns the end."""
    if o + 12 > len(b):
        return len(b)
    out += [(o, 8), (o + 8, 4)]
    n = int.from_bytes(b[o + 8:o + 12], 'big')
    o += 12
    for _ in range(min(n, 4096)):
        if o + 12 > len(b):
            break
        out += [(o, 4), (o + 4, 8)]
        o += 12
    return o


def fields(target, b):
    """(offset, width) of the fields of a valid value, for boundary edits;
    width 16 marks a 128-bit integer (two int64 halves, high first)."""
    out = []
    if target.startswith('kpi_'):
        out = [(0, 1), (1, 1)] + [(2 + 8 * i, 8) for i in range(6)] + [(50, 16), (50, 8), (58, 8)]
        for m in (66, 86):                                  # cost, revenue: dscale, sum
            out += [(m, 4), (m + 4, 16), (m + 4, 8), (m + 12, 8)]
        if len(b) > 106:
            _sketch_fields(b, 106, out)
    elif target.startswith('funnel_') and target != 'funnel_agg_state':
        out = [(0, 1), (1, 1), (2, 2), (4, 8), (12, 8)]
        nsteps = b[1] if len(b) > 1 else 0
        o = 20
        for _ in range(nsteps):
            out.append((o, 8))
            o += 8
        for _ in range(nsteps):
            o = _sketch_fields(b, o, out)
    elif target.startswith('close_') and target != 'close_raw':
        # close_summary_send: version, 0, horizons, nages, nstages, leads,
        # excluded, age bounds, nblocks, ncells, the snapshot instants, the
        # packed blocks' length (the blocks themselves get the random edits)
        out = [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (5, 8), (13, 8)]
        nages = b[3] if len(b) > 3 else 0
        o = 21
        out += [(o + 8 * a, 8) for a in range(nages)]
        o += 8 * nages
        out += [(o, 4), (o + 4, 4)]
        nblocks = int.from_bytes(b[o:o + 4], 'big') if len(b) >= o + 4 else 0
        o += 8
        out += [(o + 8 * k, 8) for k in range(min(nblocks, 4096))]
        o += 8 * nblocks
        out.append((o, 4))
    elif target == 'window_funnel_state':
        out = [(0, 1), (1, 1), (2, 4), (6, 8), (14, 4), (18, 8)]
        for o in range(26, len(b) - 12, 13):
            out += [(o, 8), (o + 8, 4), (o + 12, 1)]
    elif target == 'funnel_agg_state':
        out = [(0, 1), (1, 1), (2, 4), (6, 8), (14, 4), (18, 4), (22, 8), (30, 8), (38, 1)]
        alen = int.from_bytes(b[30:38], 'big') if len(b) >= 38 else 0
        o = 39
        for _ in range(b[38] if len(b) > 38 else 0):       # stage names: uint32 length, bytes
            if o + 4 > len(b):
                break
            out.append((o, 4))
            o += 4 + int.from_bytes(b[o:o + 4], 'big')
        a0 = o
        while o + 4 <= a0 + alen and o + 4 <= len(b):    # arena: native uint32 length, bytes
            out.append((o, 4))
            o += 4 + int.from_bytes(b[o:o + 4], sys.byteorder)
        for o in range(a0 + alen, len(b) - 16, 17):
            out += [(o, 8), (o + 8, 8), (o + 16, 1)]
    elif target == 'kpi_raw':
        # the stored layout (kpi_summary.h) without the varlena header,
        # native (little-endian) integers: version, flags, the six counts,
        # the cycle sum, cost and revenue (sum, dscale), the sketch's zero
        # count, nbuckets, capacity, then (index, pad, count) per bucket
        out = [(0, 1), (1, 1), (2, 2), (4, 4)] + [(12 + 8 * i, 8) for i in range(6)] + [(60, 16)]
        out += [(76, 16), (92, 4), (100, 16), (116, 4), (124, 8), (132, 4), (136, 4)]
        for o in range(140, len(b) - 15, 16):
            out += [(o, 4), (o + 4, 4), (o + 8, 8)]
    elif target == 'close_raw':
        # close_summary.h without the varlena header: version, flags,
        # horizons, nages, nstages, pad, nblocks, ncells, leads, excluded,
        # the nages - 1 age bounds; the blocks (packed) get the random edits
        out = [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (8, 4), (12, 4), (16, 8), (24, 8)]
        out += [(32 + 8 * a, 8) for a in range(max((b[3] if len(b) > 3 else 0) - 1, 0))]
    elif target == 'funnel_raw':
        # funnel_summary.h without the varlena header: version, nsteps,
        # modes, pad, window, entities, reached[nsteps], then per step a
        # sketch (zero count, nbuckets, capacity, buckets of 16 bytes)
        out = [(0, 1), (1, 1), (2, 2), (4, 4), (8, 8), (16, 8)]
        nsteps = b[1] if len(b) > 1 else 0
        o = 24
        for _ in range(nsteps):
            out.append((o, 8))
            o += 8
        for _ in range(nsteps):
            if o + 16 > len(b):
                break
            out += [(o, 8), (o + 8, 4), (o + 12, 4)]
            cap = int.from_bytes(b[o + 12:o + 16], 'little')
            o += 16
            for _ in range(min(cap, 4096)):
                if o + 16 > len(b):
                    break
                out += [(o, 4), (o + 4, 4), (o + 8, 8)]
                o += 16
    return [(o, w) for o, w in out if o + w <= len(b)]


def byte_order(target):
    """Wire formats are big-endian; the stored layouts (the _raw targets) are
    the machine's."""
    return sys.byteorder if target.endswith('_raw') else 'big'


def field_edit(rng, b, flds, order='big'):
    """Writes an edge value into one field: extremes, +-1, big counts."""
    o, w = rng.choice(flds)
    cur = int.from_bytes(b[o:o + w], order, signed=True)
    if w == 16:
        v = rng.choice(INT128_EDGES + [cur + 1, cur - 1, -cur])
    else:
        lim = 1 << (8 * w - 1)
        v = rng.choice([0, 1, -1, lim - 1, -lim, lim // 2, cur + 1, cur - 1, -cur, cur * 2, cur * 1000,
                        rng.choice(INTERESTING)])
    v %= 1 << (8 * w)
    b[o:o + w] = v.to_bytes(w, order)


def field_sweep(target, b):
    """Every field of one valid value set to each edge value in turn; round
    robin over the fields, so a cut-off sweep still touches every field."""
    per_field = []
    order = byte_order(target)
    for o, w in fields(target, b):
        cur = int.from_bytes(b[o:o + w], order, signed=True)
        lim = 1 << (8 * w - 1)
        vals = INT128_EDGES if w == 16 else [0, -1, lim - 1, -lim, 1, cur + 1, cur - 1, -cur]
        muts = []
        for v in dict.fromkeys(vals):
            m = bytearray(b)
            m[o:o + w] = (v % (1 << (8 * w))).to_bytes(w, order)
            muts.append(bytes(m))
        per_field.append(muts)
    out = []
    for k in range(max((len(m) for m in per_field), default=0)):
        out += [m[k] for m in per_field if k < len(m)]
    return out


def sweep_seeds(target, seeds, most=4):
    """A few seeds that between them have the most fields set (non-zero):
    greedy, so a value with a cost and one with revenue both get swept."""
    def nonzero(b):
        return {(o, w) for o, w in fields(target, b) if any(b[o:o + w])}
    chosen, covered = [], set()
    for _ in range(most):
        best = max(seeds, key=lambda b: (len(nonzero(b) - covered), len(b)))
        if chosen and not nonzero(best) - covered:
            break
        chosen.append(best)
        covered |= nonzero(best)
    return chosen


def mutate_bytes(rng, b, seeds, flds, order='big'):
    b = bytearray(b)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(14)
        if op >= 10 and flds:                               # field-boundary edit of a valid value
            field_edit(rng, b, flds, order)
            flds = [f for f in flds if f[0] + f[1] <= len(b)]
        elif op == 0 and b:                                 # bit flips
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:                                 # byte set
            b[rng.randrange(len(b))] = rng.choice([0, 1, 0x7f, 0x80, 0xfe, 0xff, rng.randrange(256)])
        elif op == 2:                                       # insert bytes
            i = rng.randint(0, len(b))
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 1, 2, 4, 8, 13, 17])))
        elif op == 3 and b:                                 # delete a range
            i = rng.randrange(len(b))
            del b[i:i + rng.choice([1, 1, 2, 4, 8, 12, 17])]
        elif op == 4 and b:                                 # truncation
            del b[rng.randrange(len(b)):]
        elif op in (5, 6) and b:                            # aligned or unaligned writes, big counts
            w = rng.choice([1, 2, 4, 8])
            if len(b) >= w:
                i = rng.randrange(len(b) - w + 1)
                if rng.random() < 0.5:
                    i -= i % w                              # aligned to the field width
                v = rng.choice(INTERESTING) % (1 << (8 * w))
                if rng.random() < 0.3:
                    v = (int.from_bytes(b[i:i + w], 'big') + rng.choice([-1, 1, 2, -2, 1000])) % (1 << (8 * w))
                b[i:i + w] = v.to_bytes(w, 'big')
        elif op == 7 and b:                                 # duplicate a chunk
            i = rng.randrange(len(b))
            j = min(len(b), i + rng.choice([4, 8, 12, 13, 16, 17, 32]))
            b[j:j] = b[i:j]
        elif op == 8:                                       # splice with another seed
            o = rng.choice(seeds)
            i = rng.randint(0, len(b))
            j = rng.randint(0, len(o))
            b = b[:i] + o[j:]
        else:                                               # trailing bytes
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
    return bytes(b)


TEXT_NUMS = ['0', '-0', '1', '-1', '9223372036854775807', '9223372036854775808', '-9223372036854775808',
             '-9223372036854775809', '170141183460469231731687303715884105727', '-170141183460469231731687303715884105728',
             '170141183460469231731687303715884105728', '4294967295', '4294967296', '2147483648', '1e10', '0.5',
             '1.', '.5', '+1', '00000000000000000000001', '99999999999999999999999999999999999999999', 'NaN',
             'Infinity', '-Infinity', '1' * 400, '']
TEXT_CHARS = list('0123456789-+.:;,|= zvxe') + ['\t', '\n', 'é', '\u2028', 'null', 'z0', 'v1', 'v2', ';', ':']


def mutate_text(rng, t, seeds):
    import re
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.randrange(9)
        nums = [m.span() for m in re.finditer(r'-?\d+(\.\d+)?', t)]
        if op in (0, 1) and nums:                           # number edits
            i, j = rng.choice(nums)
            if rng.random() < 0.7:
                rep = rng.choice(TEXT_NUMS)
            else:
                rep = str(int(float(t[i:j])) + rng.choice([-1, 1, 10**6, -10**6]))
            t = t[:i] + rep + t[j:]
        elif op == 2 and t:                                 # character substitution
            i = rng.randrange(len(t))
            t = t[:i] + rng.choice(TEXT_CHARS) + t[i + 1:]
        elif op == 3:                                       # insertion
            i = rng.randint(0, len(t))
            t = t[:i] + rng.choice(TEXT_CHARS) + t[i:]
        elif op == 4 and t:                                 # deletion
            i = rng.randrange(len(t))
            t = t[:i] + t[i + rng.choice([1, 1, 2, 5]):]
        elif op == 5 and t:                                 # truncation
            t = t[:rng.randrange(len(t))]
        elif op == 6:                                       # token drop / duplicate / swap
            sep = rng.choice([' ', ';', '|', ','])
            parts = t.split(sep)
            if len(parts) > 1:
                i = rng.randrange(len(parts))
                k = rng.randrange(3)
                if k == 0:
                    del parts[i]
                elif k == 1:
                    parts.insert(i, parts[i] * rng.choice([1, 1, 50]))
                else:
                    j = rng.randrange(len(parts))
                    parts[i], parts[j] = parts[j], parts[i]
                t = sep.join(parts)
        elif op == 7:                                       # splice
            o = rng.choice(seeds)
            t = t[:rng.randint(0, len(t))] + o[rng.randint(0, len(o)):]
        else:                                               # a bucket with a big index or count
            t += rng.choice([' 1:1', ' 2147483647:1', ' -1:5', ' 0:9223372036854775807', ' 5:0', '|z0', ',0'])
    return t.replace('\x00', '')


# ------------------------------------------------------------------- driver

class Server:
    def __init__(self, dsn):
        self.dsn = dsn
        self.conn = None
        self.connect()

    def connect(self, wait=90):
        deadline = time.time() + wait
        while True:
            try:
                self.conn = psycopg2.connect(self.dsn)
                self.conn.autocommit = True
                return
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def batch(self, target, inputs):
        """Results, or None when the server went away (crash)."""
        try:
            with self.conn.cursor() as cur:
                cur.execute('SELECT lk_fuzz_batch(%s, %s::bytea[])', (target, [psycopg2.Binary(b) for b in inputs]))
                return cur.fetchone()[0]
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            try:
                self.conn.close()
            except Exception:
                pass
            time.sleep(1)
            self.connect()
            return None

    def copy_binary(self, table, field):
        """COPY table FROM STDIN (FORMAT binary) of one row holding `field`:
        ('ok' | sqlstate | None on a crash)."""
        data = (b'PGCOPY\n\xff\r\n\x00' + struct.pack('>ii', 0, 0) + struct.pack('>hi', 1, len(field)) + field
                + struct.pack('>h', -1))
        try:
            with self.conn.cursor() as cur:
                cur.execute('BEGIN')
                try:
                    cur.copy_expert(f'COPY {table} FROM STDIN (FORMAT binary)', io.BytesIO(data))
                    result = 'ok'
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    raise
                except psycopg2.Error as e:
                    result = e.pgcode
                cur.execute('ROLLBACK')
                return result
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            time.sleep(1)
            self.connect()
            return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dsn', required=True)
    ap.add_argument('--n', type=int, default=500, help='inputs per target')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', default='.', help='where crashing and failing inputs are written')
    ap.add_argument('--copy-every', type=int, default=10, help='send every Nth recv input through COPY as well')
    ap.add_argument('--targets', default='')
    args = ap.parse_args()

    srv = Server(args.dsn)
    with srv.conn.cursor() as cur:
        cur.execute(SETUP_SQL)
        cur.execute("SELECT s::text, kpi_summary_send(s) FROM fz.kpi WHERE s IS NOT NULL ORDER BY grp")
        kpi = [(t, bytes(b)) for t, b in cur.fetchall()]
        cur.execute("SELECT f::text, funnel_summary_send(f) FROM fz.funnel WHERE f IS NOT NULL ORDER BY grp")
        fun = [(t, bytes(b)) for t, b in cur.fetchall()]
        cur.execute("SELECT to_regprocedure('funnel_summary_from_bytes(bytea)') IS NOT NULL")
        has_ffb = cur.fetchone()[0]
        cur.execute("SELECT lk_fuzz_raw_bytes(s) FROM fz.kpi WHERE s IS NOT NULL ORDER BY grp")
        kpi_raw = [bytes(b) for b, in cur.fetchall()]
        cur.execute("SELECT lk_fuzz_raw_bytes(f) FROM fz.funnel WHERE f IS NOT NULL ORDER BY grp")
        fun_raw = [bytes(b) for b, in cur.fetchall()]
        cur.execute("SELECT c::text, close_summary_send(c) FROM fz.close WHERE c IS NOT NULL ORDER BY grp")
        clo = [(t, bytes(b)) for t, b in cur.fetchall()]
        cur.execute("SELECT lk_fuzz_raw_bytes(c) FROM fz.close WHERE c IS NOT NULL ORDER BY grp")
        clo_raw = [bytes(b) for b, in cur.fetchall()]
    # hand-written edge values next to the fixture's
    kpi.append(('v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 '
                'cost=null revenue=null sketch=z0', None))
    srng = random.Random(args.seed)
    wf = [wf_state(srng) for _ in range(12)]
    fa = [fa_state(srng) for _ in range(12)]

    targets = collections.OrderedDict()
    targets['kpi_in'] = ('text', [t for t, _ in kpi])
    targets['funnel_in'] = ('text', [t for t, _ in fun])
    targets['kpi_recv'] = ('bytes', [b for _, b in kpi if b])
    targets['funnel_recv'] = ('bytes', [b for _, b in fun])
    targets['kpi_from_bytes'] = ('bytes', [b for _, b in kpi if b])
    if has_ffb:
        targets['funnel_from_bytes'] = ('bytes', [b for _, b in fun])
    targets['close_in'] = ('text', [t for t, _ in clo])
    targets['close_recv'] = ('bytes', [b for _, b in clo])
    targets['close_from_bytes'] = ('bytes', [b for _, b in clo])
    targets['window_funnel_state'] = ('bytes', wf)
    targets['funnel_agg_state'] = ('bytes', fa)
    targets['kpi_raw'] = ('bytes', kpi_raw)
    targets['funnel_raw'] = ('bytes', fun_raw)
    targets['close_raw'] = ('bytes', clo_raw)
    if args.targets:
        targets = collections.OrderedDict((k, v) for k, v in targets.items() if k in args.targets.split(','))
    if not has_ffb:
        print('# funnel_summary_from_bytes is not in this build: target skipped')

    os.makedirs(args.out, exist_ok=True)
    totals = collections.Counter()
    failures = []
    crashes = []
    t_start = time.time()
    for target, (kind, seeds) in targets.items():
        rng = random.Random(args.seed * 1000003 + zlib.crc32(target.encode()))
        if kind == 'text':
            enc = [s.encode() for s in seeds]
            inputs = list(enc)
            while len(inputs) < args.n:
                if rng.random() < 0.03:
                    inputs.append(bytes(rng.choice(b'0123456789v;=,|: -abcdefghijklmnopqrstuvwxyz')
                                        for _ in range(rng.randint(0, 80))))
                else:
                    inputs.append(mutate_text(rng, rng.choice(seeds), seeds).encode())
        else:
            # every field of a few seeds at each edge value, then random mutations
            sweeps = [field_sweep(target, sd) for sd in sweep_seeds(target, seeds)]
            sweep = [m for k in range(max(map(len, sweeps))) for m in (sw[k] for sw in sweeps if k < len(sw))]
            inputs = list(seeds) + sweep[:args.n // 2]
            while len(inputs) < args.n:
                if rng.random() < 0.03:
                    inputs.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 120))))
                else:
                    sd = rng.choice(seeds)
                    inputs.append(mutate_bytes(rng, sd, seeds, fields(target, sd), byte_order(target)))
        inputs = inputs[:max(args.n, len(seeds))]
        stats = collections.Counter()
        for start in range(0, len(inputs), BATCH):
            chunk = inputs[start:start + BATCH]
            res = srv.batch(target, chunk)
            if res is None:
                # the server crashed on one of them: find which, one at a time
                res = []
                for i, b in enumerate(chunk):
                    r = srv.batch(target, [b])
                    if r is None:
                        path = os.path.join(args.out, f'crash-{target}-{start + i}.bin')
                        with open(path, 'wb') as f:
                            f.write(b)
                        crashes.append((target, start + i, path))
                        res.append('Fcrash')
                    else:
                        res.append(r[0])
            for i, r in enumerate(res):
                b = chunk[i]
                idx = start + i
                if idx < len(seeds) and not r.startswith('A'):
                    failures.append((target, idx, 'a valid seed was not accepted: ' + r, b))
                if r.startswith('R'):
                    state = r[1:6]
                    stats['rejected ' + state] += 1
                    # a damaged stored value (the _raw targets) is XX001
                    if not (state.startswith('22') or state.startswith('54')
                            or (state == 'XX001' and target.endswith('_raw'))):
                        failures.append((target, idx, 'unexpected SQLSTATE ' + r[1:], b))
                elif r.startswith('A'):
                    stats['accepted'] += 1
                    if 'noncanonical' in r:
                        stats['accepted, not in canonical form'] += 1
                    if 'accessor:' in r:
                        stats['accepted, accessor error ' + r.split('accessor:')[1]] += 1
                elif r != 'Fcrash':
                    failures.append((target, idx, r[1:], b))
                    stats['failed'] += 1
                else:
                    stats['crashed'] += 1
                # the real wire path for a sample of the receive inputs
                if target.endswith('_recv') and idx % args.copy_every == 0:
                    table = {'kpi_recv': 'lk_fuzz_copy_kpi', 'funnel_recv': 'lk_fuzz_copy_funnel',
                             'close_recv': 'lk_fuzz_copy_close'}[target]
                    c = srv.copy_binary(table, b)
                    stats['COPY binary sample'] += 1
                    if c is None:
                        crashes.append((target + ' via COPY', idx, ''))
                    elif (c == 'ok') != r.startswith('A'):
                        failures.append((target, idx, f'COPY FORMAT binary gave {c}, lk_fuzz_recv gave {r[:60]}', b))
        stats['tried'] = len(inputs)
        for k, v in stats.items():
            totals[k] += v
        print(f'{target:20} ' + ', '.join(f'{k} {v}' for k, v in sorted(stats.items(), key=lambda kv: (kv[0] != 'tried', kv[0]))))
        sys.stdout.flush()

    for target, idx, what, b in failures[:30]:
        path = os.path.join(args.out, f'fail-{target}-{idx}.bin')
        with open(path, 'wb') as f:
            f.write(b)
        print(f'FAIL {target} #{idx}: {what} (input in {path})')
    for target, idx, path in crashes:
        print(f'CRASH {target} #{idx} (input in {path})')
    print(f'fuzz: {totals["tried"]} inputs tried, {totals["accepted"]} accepted, '
          + ', '.join(f'{k} {v}' for k, v in sorted(totals.items()) if k.startswith('rejected'))
          + f'; {len(crashes)} crashes, {len(failures)} failures; {time.time() - t_start:.0f} s')
    return 1 if crashes or failures else 0


if __name__ == '__main__':
    sys.exit(main())
