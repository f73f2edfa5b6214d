#!/usr/bin/env python3
"""Byte- and text-level fuzzer for leadkpi's input paths (make fuzz).

Targets (every input path that takes bytes or text from outside):
  kpi_in, funnel_in               text input functions (a cast from text)
  kpi_recv, funnel_recv           binary receive functions, through
                                  lk_fuzz_recv (the server's ReceiveFunctionCall,
                                  as for a binary Bind parameter) and, for a
                                  sample, through a real COPY ... (FORMAT binary)
  kpi_from_bytes, funnel_from_bytes   the SQL-callable binary readers
  window_funnel_state, funnel_agg_state
                                  the deserialize functions of the internal-state
                                  aggregates, under a minimal AggState
                                  (lk_fuzz_agg_state), then serialize, combine
                                  and final on the result

Inputs start from valid values (read from the fixture database, or built to
the documented wire format for aggregate states) and are mutated: bit flips,
byte inserts and deletes, truncation, field-boundary writes of interesting
integers (0, -1, extremes, big counts), chunk duplication and splicing, and
for text: number, token and character edits.  A share are random bytes.

Failures: a server crash, an accepted input that does not re-read
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

-- One input: 'R<sqlstate>:<msg>' rejected; 'A<note>' accepted and re-read;
-- 'F<what>' a failure.
CREATE OR REPLACE FUNCTION public.lk_fuzz_try(target text, b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  o text; o2 text; x bytea; r text; note text := '';
  isfunnel boolean := target LIKE 'funnel\_%' AND target <> 'funnel_agg_state';
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
    typ := CASE WHEN isfunnel THEN 'funnel_summary' ELSE 'kpi_summary' END;
    IF isfunnel THEN
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
    IF isfunnel THEN PERFORM lk_fuzz_funnel_read(o::funnel_summary);
    ELSE PERFORM lk_fuzz_kpi_read(o::kpi_summary); END IF;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE LIKE '22%' OR SQLSTATE LIKE '54%' THEN RETURN 'A' || note || ' accessor:' || SQLSTATE; END IF;
    RETURN 'Faccessor on an accepted value: ' || SQLSTATE || ': ' || left(SQLERRM, 200);
  END;
  RETURN 'A' || note;
END $$;

CREATE OR REPLACE FUNCTION public.lk_fuzz_batch(target text, inputs bytea[]) RETURNS text[]
LANGUAGE sql AS $$ SELECT array_agg(lk_fuzz_try(target, b) ORDER BY i) FROM unnest(inputs) WITH ORDINALITY u(b, i) $$;

DROP TABLE IF EXISTS public.lk_fuzz_copy_kpi, public.lk_fuzz_copy_funnel;
CREATE TABLE public.lk_fuzz_copy_kpi (s kpi_summary);
CREATE TABLE public.lk_fuzz_copy_funnel (f funnel_summary);
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
    """A valid funnel_agg state: funnel_agg_serialize's format.  Byte keys sit
    in an arena of (native uint32 length, bytes) records."""
    kind = rng.choice([0, 1, 2])
    nsteps = rng.choice([0, 0, rng.randint(1, 32)])
    maxstep = rng.randint(0, nsteps if nsteps else 32)
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
    head = struct.pack('>BBiqiiqq', 1, kind, rng.choice(MODES_OK), rng.choice([0, 3600 * 10**6, 86400 * 10**6 * 7]),
                       nsteps, maxstep, nrows, len(arena))
    return head + arena + rows


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
    elif target == 'window_funnel_state':
        out = [(0, 1), (1, 1), (2, 4), (6, 8), (14, 4), (18, 8)]
        for o in range(26, len(b) - 12, 13):
            out += [(o, 8), (o + 8, 4), (o + 12, 1)]
    elif target == 'funnel_agg_state':
        out = [(0, 1), (1, 1), (2, 4), (6, 8), (14, 4), (18, 4), (22, 8), (30, 8)]
        alen = int.from_bytes(b[30:38], 'big') if len(b) >= 38 else 0
        o = 38
        while o + 4 <= 38 + alen and o + 4 <= len(b):    # arena: native uint32 length, bytes
            out.append((o, 4))
            o += 4 + int.from_bytes(b[o:o + 4], sys.byteorder)
        for o in range(38 + alen, len(b) - 16, 17):
            out += [(o, 8), (o + 8, 8), (o + 16, 1)]
    return [(o, w) for o, w in out if o + w <= len(b)]


def field_edit(rng, b, flds):
    """Writes an edge value into one field: extremes, +-1, big counts."""
    o, w = rng.choice(flds)
    cur = int.from_bytes(b[o:o + w], 'big', signed=True)
    if w == 16:
        v = rng.choice(INT128_EDGES + [cur + 1, cur - 1, -cur])
    else:
        lim = 1 << (8 * w - 1)
        v = rng.choice([0, 1, -1, lim - 1, -lim, lim // 2, cur + 1, cur - 1, -cur, cur * 2, cur * 1000,
                        rng.choice(INTERESTING)])
    v %= 1 << (8 * w)
    b[o:o + w] = v.to_bytes(w, 'big')


def field_sweep(target, b):
    """Every field of one valid value set to each edge value in turn; round
    robin over the fields, so a cut-off sweep still touches every field."""
    per_field = []
    for o, w in fields(target, b):
        cur = int.from_bytes(b[o:o + w], 'big', signed=True)
        lim = 1 << (8 * w - 1)
        vals = INT128_EDGES if w == 16 else [0, -1, lim - 1, -lim, 1, cur + 1, cur - 1, -cur]
        muts = []
        for v in dict.fromkeys(vals):
            m = bytearray(b)
            m[o:o + w] = (v % (1 << (8 * w))).to_bytes(w, 'big')
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


def mutate_bytes(rng, b, seeds, flds):
    b = bytearray(b)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(14)
        if op >= 10 and flds:                               # field-boundary edit of a valid value
            field_edit(rng, b, flds)
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
    targets['window_funnel_state'] = ('bytes', wf)
    targets['funnel_agg_state'] = ('bytes', fa)
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
                    inputs.append(mutate_bytes(rng, sd, seeds, fields(target, sd)))
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
                    if not (state.startswith('22') or state.startswith('54')):
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
                    table = 'lk_fuzz_copy_kpi' if target == 'kpi_recv' else 'lk_fuzz_copy_funnel'
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
