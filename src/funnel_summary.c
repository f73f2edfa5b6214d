/*
 * funnel_summary.c: the funnel_summary type (a whole funnel as a mergeable
 * value), its text and binary I/O, the aggregates that build it
 * (funnel_agg over events, funnel_agg over levels, rollup) and its accessors.
 *
 * funnel_agg over events is the single-pass fast path: an open-addressing
 * hash by entity, one big event array with per-entity linked indexes, then
 * per entity a sort and the shared matcher (funnel_match.c).
 */
#include "funnel_match.h"
#include "sketch.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define FS_VERSION 1
#define FA_VERSION 1

/*
 * On disk and in memory: this header, nsteps reached counts, then nsteps
 * sketches (time to convert from the previous step; step 1's is empty),
 * each with capacity == nbuckets.  Never read off the wire as a struct:
 * recv and in parse field by field and validate.
 */
typedef struct FunnelSummary
{
	int32		vl_len_;
	uint8		version;
	uint8		nsteps;
	uint16		modes;
	int32		pad;			/* always 0 */
	int64		window;			/* usec; -1 when built from levels */
	int64		entities;		/* entities seen, level 0 included */
	int64		reached[FLEXIBLE_ARRAY_MEMBER];
} FunnelSummary;

#define FS_SKETCHES(fs) \
	((char *) (fs) + offsetof(FunnelSummary, reached) + (fs)->nsteps * sizeof(int64))

#define PG_GETARG_FS(n) ((FunnelSummary *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

/* Sketch of step k (1-based); walks the variable-size sketches before it. */
static LkSketch *
FsSketch(const FunnelSummary *fs, int k)
{
	char	   *p = FS_SKETCHES(fs);

	for (int i = 1; i < k; i++)
		p += LK_SKETCH_SIZE(((LkSketch *) p)->capacity);
	return (LkSketch *) p;
}

/* Builds a summary; sketches[k-1] may be NULL for an empty one. */
static FunnelSummary *
FsBuild(int nsteps, uint32 modes, int64 window, int64 entities,
		const int64 *reached, LkSketch *const *sketches)
{
	Size		size = offsetof(FunnelSummary, reached) + nsteps * sizeof(int64);
	FunnelSummary *fs;
	char	   *p;

	for (int k = 0; k < nsteps; k++)
		size += LK_SKETCH_SIZE(sketches && sketches[k] ? sketches[k]->nbuckets : 0);
	fs = palloc0(size);
	SET_VARSIZE(fs, size);
	fs->version = FS_VERSION;
	fs->nsteps = nsteps;
	fs->modes = modes;
	fs->window = window;
	fs->entities = entities;
	memcpy(fs->reached, reached, nsteps * sizeof(int64));
	p = FS_SKETCHES(fs);
	for (int k = 0; k < nsteps; k++)
	{
		LkSketch   *dst = (LkSketch *) p;
		const LkSketch *src = sketches ? sketches[k] : NULL;

		if (src)
		{
			dst->zero_count = src->zero_count;
			dst->nbuckets = src->nbuckets;
			memcpy(dst->buckets, src->buckets, src->nbuckets * sizeof(LkSketchBucket));
		}
		dst->capacity = dst->nbuckets;
		p += LK_SKETCH_SIZE(dst->capacity);
	}
	return fs;
}

/* What every input path checks; NULL when valid, else a message. */
static const char *
FsValidate(int nsteps, uint32 modes, int64 window, int64 entities,
		   const int64 *reached, LkSketch *const *sk)
{
	const char *msg;

	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		return "step count out of range";
	if ((msg = lk_funnel_modes_check(modes)) != NULL)
		return msg;
	if (window < -1)
		return "window out of range";
	if (entities < 0)
		return "negative entity count";
	for (int k = 0; k < nsteps; k++)
	{
		int64		prev = (k == 0) ? entities : reached[k - 1];

		if (reached[k] < 0 || reached[k] > prev)
			return "reached counts must not increase from step to step";
		if (sk[k])
		{
			if ((msg = lk_sketch_validate(sk[k])) != NULL)
				return msg;
			/* one time per entity that reached step k, none for step 1 */
			if (lk_sketch_total(sk[k]) > (k == 0 ? 0 : reached[k]))
				return "more times to convert than entities reaching the step";
		}
	}
	return NULL;
}

static void
FsCorrupt(const char *what, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid %s for funnel_summary: %s", what, msg)));
}

/* ---- text I/O ------------------------------------------------------------ */

/*
 * Text form, fields in this order:
 * v1;steps=3;window=<usec>;modes=<list>;entities=<n>;reached=<n>,<n>,<n>;ttc=<sketch>|<sketch>|<sketch>
 */
PG_FUNCTION_INFO_V1(funnel_summary_out);
Datum
funnel_summary_out(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "v%d;steps=%d;window=" INT64_FORMAT ";modes=",
					 fs->version, fs->nsteps, fs->window);
	lk_funnel_modes_out(&buf, fs->modes);
	appendStringInfo(&buf, ";entities=" INT64_FORMAT ";reached=", fs->entities);
	for (int k = 0; k < fs->nsteps; k++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, k ? "," : "", fs->reached[k]);
	appendStringInfoString(&buf, ";ttc=");
	for (int k = 1; k <= fs->nsteps; k++)
	{
		if (k > 1)
			appendStringInfoChar(&buf, '|');
		lk_sketch_out(&buf, FsSketch(fs, k));
	}
	PG_RETURN_CSTRING(buf.data);
}

/* Expects the literal `lit` at *p. */
static bool
Expect(const char **p, const char *lit)
{
	size_t		n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* A decimal int64, optionally negative. */
static bool
ParseI64(const char **p, int64 *out)
{
	const char *c = *p;
	bool		neg = false;
	int64		v = 0;

	if (*c == '-')
	{
		neg = true;
		c++;
	}
	if (*c < '0' || *c > '9')
		return false;
	while (*c >= '0' && *c <= '9')
	{
		if (__builtin_mul_overflow(v, 10, &v) ||
			__builtin_sub_overflow(v, *c - '0', &v))
			return false;
		c++;
	}
	if (!neg)
	{
		if (v == PG_INT64_MIN)
			return false;
		v = -v;
	}
	*p = c;
	*out = v;
	return true;
}

PG_FUNCTION_INFO_V1(funnel_summary_in);
Datum
funnel_summary_in(PG_FUNCTION_ARGS)
{
	const char *p = PG_GETARG_CSTRING(0);
	int64		nsteps,
				window,
				entities;
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	uint32		modes = 0;
	const char *err;

	if (!Expect(&p, "v1;steps=") || !ParseI64(&p, &nsteps))
		FsCorrupt("input syntax", "expected \"v1;steps=<n>\"");
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		FsCorrupt("input syntax", "step count out of range");
	if (!Expect(&p, ";window=") || !ParseI64(&p, &window))
		FsCorrupt("input syntax", "expected \";window=<usec>\"");
	if (!Expect(&p, ";modes="))
		FsCorrupt("input syntax", "expected \";modes=\"");
	while (*p != ';' && *p != '\0')
	{
		const char *b = p;
		uint32		bit;

		while (*p != ',' && *p != ';' && *p != '\0')
			p++;
		bit = lk_funnel_mode_bit(b, p - b);
		if (bit == 0)
			FsCorrupt("input syntax", "unknown mode");
		modes |= bit;
		if (*p == ',')
			p++;
	}
	if (!Expect(&p, ";entities=") || !ParseI64(&p, &entities))
		FsCorrupt("input syntax", "expected \";entities=<n>\"");
	if (!Expect(&p, ";reached="))
		FsCorrupt("input syntax", "expected \";reached=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if ((k > 0 && !Expect(&p, ",")) || !ParseI64(&p, &reached[k]))
			FsCorrupt("input syntax", "expected one reached count per step");
	}
	if (!Expect(&p, ";ttc="))
		FsCorrupt("input syntax", "expected \";ttc=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if (k > 0 && !Expect(&p, "|"))
			FsCorrupt("input syntax", "expected one sketch per step");
		if ((sk[k] = lk_sketch_in(&p, &err)) == NULL)
			FsCorrupt("input syntax", err);
	}
	if (*p != '\0')
		FsCorrupt("input syntax", "unexpected text after the last sketch");
	if ((err = FsValidate(nsteps, modes, window, entities, reached, sk)) != NULL)
		FsCorrupt("input", err);
	PG_RETURN_POINTER(FsBuild(nsteps, modes, window, entities, reached, sk));
}

/* ---- binary I/O ---------------------------------------------------------- */

PG_FUNCTION_INFO_V1(funnel_summary_send);
Datum
funnel_summary_send(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, FS_VERSION);
	pq_sendbyte(&buf, fs->nsteps);
	pq_sendint16(&buf, fs->modes);
	pq_sendint64(&buf, fs->window);
	pq_sendint64(&buf, fs->entities);
	for (int k = 0; k < fs->nsteps; k++)
		pq_sendint64(&buf, fs->reached[k]);
	for (int k = 1; k <= fs->nsteps; k++)
		lk_sketch_send(&buf, FsSketch(fs, k));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(funnel_summary_recv);
Datum
funnel_summary_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nsteps;
	uint32		modes;
	int64		window,
				entities;
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	const char *err;

	if (buf->len - buf->cursor < 1 + 1 + 2 + 8 + 8)
		FsCorrupt("binary input", "truncated header");
	if (pq_getmsgbyte(buf) != FS_VERSION)
		FsCorrupt("binary input", "unknown version");
	nsteps = pq_getmsgbyte(buf);
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		FsCorrupt("binary input", "step count out of range");
	modes = pq_getmsgint(buf, 2);
	window = pq_getmsgint64(buf);
	entities = pq_getmsgint64(buf);
	if (buf->len - buf->cursor < nsteps * 8)
		FsCorrupt("binary input", "truncated reached counts");
	for (int k = 0; k < nsteps; k++)
		reached[k] = pq_getmsgint64(buf);
	for (int k = 0; k < nsteps; k++)
	{
		if ((sk[k] = lk_sketch_recv(buf, &err)) == NULL)
			FsCorrupt("binary input", err);
	}
	if (buf->cursor != buf->len)
		FsCorrupt("binary input", "trailing bytes");
	if ((err = FsValidate(nsteps, modes, window, entities, reached, sk)) != NULL)
		FsCorrupt("binary input", err);
	PG_RETURN_POINTER(FsBuild(nsteps, modes, window, entities, reached, sk));
}

/* ---- merging: rollup, and the combine of both funnel_agg forms ------------ */

static FunnelSummary *
FsMerge(const FunnelSummary *a, const FunnelSummary *b)
{
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];

	if (a->nsteps != b->nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot roll up funnel summaries with %d and %d steps",
						a->nsteps, b->nsteps),
				 errhint("Build every summary of one funnel with the same steps; funnel_agg's nsteps argument fixes the count.")));
	if (a->window != b->window || a->modes != b->modes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot roll up funnel summaries with different windows or modes"),
				 errhint("Build every summary of one funnel with the same window and modes.")));
	for (int k = 0; k < a->nsteps; k++)
	{
		LkSketch   *sa = FsSketch(a, k + 1);
		LkSketch   *sb = FsSketch(b, k + 1);
		int32		n = lk_sketch_union_buckets(sa, sb);

		reached[k] = lk_add_count(a->reached[k], b->reached[k]);
		sk[k] = palloc0(LK_SKETCH_SIZE(n));
		sk[k]->capacity = n;
		lk_sketch_merge(sk[k], sa, sb);
	}
	return FsBuild(a->nsteps, a->modes, a->window,
				   lk_add_count(a->entities, b->entities), reached, sk);
}

/*
 * funnel_summary_combine(state, summary): rollup's transition function and
 * the combine function of rollup and of both funnel_agg forms.
 */
PG_FUNCTION_INFO_V1(funnel_summary_combine);
Datum
funnel_summary_combine(PG_FUNCTION_ARGS)
{
	/*
	 * Results go to the per-call context: nodeAgg copies a new by-reference
	 * state into the aggregate context and frees the old one itself.
	 */
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_summary_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(PG_GETARG_FS(1));
	PG_RETURN_POINTER(FsMerge(PG_GETARG_FS(0), PG_GETARG_FS(1)));
}

/*
 * funnel_agg_level_accum(state, level, nsteps): funnel_agg over per-entity
 * levels (e.g. from window_funnel).  The state is the summary itself,
 * updated in place; it has no times to convert.
 */
PG_FUNCTION_INFO_V1(funnel_agg_level_accum);
Datum
funnel_agg_level_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FunnelSummary *fs;
	int32		level,
				nsteps;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_level_accum called in non-aggregate context");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: nsteps must not be null")));
	nsteps = PG_GETARG_INT32(2);
	lk_funnel_check_nsteps(nsteps, "funnel_agg");
	if (PG_ARGISNULL(0))
	{
		int64		zeros[LK_FUNNEL_MAX_STEPS] = {0};

		/* nodeAgg copies this first state into the aggregate context */
		fs = FsBuild(nsteps, 0, -1, 0, zeros, NULL);
	}
	else
		fs = (FunnelSummary *) PG_GETARG_POINTER(0);	/* ours: update in place */
	if (fs->nsteps != nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: nsteps must be the same in every row")));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(fs);
	level = PG_GETARG_INT32(1);
	if (level < 0 || level > nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: level %d is outside 0..%d", level, nsteps)));
	fs->entities = lk_add_count(fs->entities, 1);
	for (int k = 0; k < level; k++)
		fs->reached[k] = lk_add_count(fs->reached[k], 1);
	PG_RETURN_POINTER(fs);
}

/* ---- funnel_agg over events: the state ----------------------------------- */

typedef struct FaEvent
{
	int64		ts;
	int32		next;			/* previous event of the entity, or -1 */
	int32		step;			/* 0 = matched no step (strict_order only) */
} FaEvent;

/*
 * Entities live in a dense array in order of first appearance, so the final
 * pass walks them, and their events, mostly sequentially; an open-addressing
 * table of (hash, index) slots (load <= 1/2) finds them.
 */
typedef struct FaEntity
{
	uint64		key;			/* the bigint, or the key's arena offset */
	uint32		hash;
	uint32		keylen;			/* 0 for bigint keys */
	int32		head;			/* latest event, or -1 */
	int32		count;
} FaEntity;

#define FA_UUID_FLAG 0x80000000		/* in p.modes while accumulating only */

typedef struct FaSlot
{
	uint32		hash;
	int32		ent;			/* entity index + 1; 0 = empty */
} FaSlot;

typedef struct FaState
{
	MemoryContext cxt;
	bool		bykey_int8;		/* bigint keys inline; else bytes in arena */
	LkFunnelParams p;			/* p.nsteps = the fixed count, or 0 */
	int32		maxstep;
	FaEntity   *ents;
	int32		nents,
				ents_cap;
	FaSlot	   *slots;
	uint32		slot_mask;		/* number of slots - 1 */
	FaEvent    *evs;
	int32		nevs,
				evs_cap;
	char	   *arena;
	Size		arena_len,
				arena_cap;
	int32		last;			/* last entity found: rows often come by lead */
} FaState;

static inline uint32
HashInt64(uint64 x)
{
	/* murmur3's 64-bit finalizer: cheap and mixes every bit */
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return (uint32) x;
}

static FaState *
FaNew(MemoryContext cxt, bool int8key, const LkFunnelParams *p)
{
	FaState    *st = MemoryContextAllocZero(cxt, sizeof(FaState));

	st->cxt = cxt;
	st->bykey_int8 = int8key;
	st->p = *p;
	st->ents_cap = 1024;
	st->ents = MemoryContextAllocHuge(cxt, st->ents_cap * sizeof(FaEntity));
	st->slot_mask = 2048 - 1;
	st->slots = MemoryContextAllocHuge(cxt, 2048 * sizeof(FaSlot));
	memset(st->slots, 0, 2048 * sizeof(FaSlot));
	st->evs_cap = 4096;
	st->evs = MemoryContextAllocHuge(cxt, st->evs_cap * sizeof(FaEvent));
	st->last = -1;
	return st;
}

static void
FaGrowSlots(FaState *st)
{
	uint32		nslots = (st->slot_mask + 1) * 2;
	FaSlot	   *s;

	if (nslots > (uint32) 1 << 31)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_agg: too many entities"),
				 errhint("Split the input, e.g. by campaign or cohort, and roll the summaries up.")));
	s = MemoryContextAllocHuge(st->cxt, (Size) nslots * sizeof(FaSlot));
	memset(s, 0, (Size) nslots * sizeof(FaSlot));
	for (int32 i = 0; i < st->nents; i++)
	{
		uint32		h = st->ents[i].hash & (nslots - 1);

		while (s[h].ent != 0)
			h = (h + 1) & (nslots - 1);
		s[h].hash = st->ents[i].hash;
		s[h].ent = i + 1;
	}
	pfree(st->slots);
	st->slots = s;
	st->slot_mask = nslots - 1;
}

static inline bool
FaKeyEq(const FaState *st, const FaEntity *e, uint64 ikey, const char *bkey,
		uint32 blen)
{
	if (st->bykey_int8)
		return e->key == ikey;
	return e->keylen == blen && memcmp(st->arena + e->key, bkey, blen) == 0;
}

/* The entity with this key, inserted when new. */
static inline FaEntity *
FaLookup(FaState *st, uint64 ikey, const char *bkey, uint32 blen, uint32 hash)
{
	uint32		h = hash & st->slot_mask;
	FaEntity   *e;

	if (st->last >= 0 && st->ents[st->last].hash == hash &&
		FaKeyEq(st, &st->ents[st->last], ikey, bkey, blen))
		return &st->ents[st->last];
	for (;;)
	{
		FaSlot	   *s = &st->slots[h];

		if (s->ent == 0)
			break;
		if (s->hash == hash && FaKeyEq(st, &st->ents[s->ent - 1], ikey, bkey, blen))
		{
			st->last = s->ent - 1;
			return &st->ents[st->last];
		}
		h = (h + 1) & st->slot_mask;
	}

	/* a new entity */
	if (st->nents == st->ents_cap)
	{
		if (st->ents_cap >= PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("funnel_agg: too many entities")));
		st->ents_cap *= 2;
		st->ents = repalloc_huge(st->ents, (Size) st->ents_cap * sizeof(FaEntity));
	}
	e = &st->ents[st->nents];
	e->hash = hash;
	e->head = -1;
	e->count = 0;
	if (st->bykey_int8)
	{
		e->key = ikey;
		e->keylen = 0;
	}
	else
	{
		if (st->arena_len + blen > st->arena_cap)
		{
			Size		cap = Max(st->arena_cap * 2, 65536);

			while (cap < st->arena_len + blen)
				cap *= 2;
			st->arena = st->arena ? repalloc_huge(st->arena, cap) :
				MemoryContextAllocHuge(st->cxt, cap);
			st->arena_cap = cap;
		}
		memcpy(st->arena + st->arena_len, bkey, blen);
		e->key = st->arena_len;
		e->keylen = blen;
		st->arena_len += blen;
	}
	st->slots[h].hash = hash;
	st->slots[h].ent = ++st->nents;
	st->last = st->nents - 1;
	if ((uint64) st->nents * 2 > st->slot_mask)
		FaGrowSlots(st);
	return e;
}

static inline void
FaPush(FaState *st, FaEntity *e, int64 ts, int32 step)
{
	FaEvent    *ev;

	if (st->nevs == st->evs_cap)
	{
		if (st->evs_cap >= PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("funnel_agg: more than %d events in one aggregate", PG_INT32_MAX / 2),
					 errhint("Split the input, e.g. by campaign or cohort, and roll the summaries up.")));
		st->evs_cap *= 2;
		st->evs = repalloc_huge(st->evs, (Size) st->evs_cap * sizeof(FaEvent));
	}
	ev = &st->evs[st->nevs];
	ev->ts = ts;
	ev->step = step;
	ev->next = e->head;
	e->head = st->nevs++;
	e->count++;
}

/* Key and hash of an entity datum of the state's key type. */
static inline FaEntity *
FaEntityOf(FaState *st, Datum d)
{
	if (st->bykey_int8)
	{
		int64		v = DatumGetInt64(d);

		return FaLookup(st, (uint64) v, NULL, 0, HashInt64((uint64) v));
	}
	else
	{
		struct varlena *t;
		const char *b;
		uint32		n;

		/* uuid is a 16-byte fixed-length type; text a varlena */
		if (st->p.modes & FA_UUID_FLAG)
		{
			b = DatumGetPointer(d);
			n = 16;
			return FaLookup(st, 0, b, n, hash_bytes((const unsigned char *) b, n));
		}
		t = (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
		b = VARDATA_ANY(t);
		n = VARSIZE_ANY_EXHDR(t);
		return FaLookup(st, 0, b, n, hash_bytes((const unsigned char *) b, n));
	}
}


/*
 * funnel_agg_accum(state, entity, ts, step, window [, modes [, nsteps]]).
 * Rows with a null entity or ts are ignored; a null or 0 step is a row that
 * matched no step.
 */
PG_FUNCTION_INFO_V1(funnel_agg_accum);
Datum
funnel_agg_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FaState    *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	int32		step;
	FaEntity   *ent;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_accum called in non-aggregate context");
	if (st == NULL)
	{
		LkFunnelParams p;
		Oid			ktype = get_fn_expr_argtype(fcinfo->flinfo, 1);

		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: the window must not be null")));
		p.window = lk_funnel_window_usec(PG_GETARG_INTERVAL_P(4), "funnel_agg");
		p.modes = 0;
		if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		{
			text	   *m = PG_GETARG_TEXT_PP(5);

			p.modes = lk_funnel_parse_modes(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m));
		}
		p.nsteps = 0;
		if (PG_NARGS() > 6)
		{
			if (PG_ARGISNULL(6))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("funnel_agg: nsteps must not be null")));
			lk_funnel_check_nsteps(PG_GETARG_INT32(6), "funnel_agg");
			p.nsteps = PG_GETARG_INT32(6);
		}
		if (ktype == UUIDOID)
			p.modes |= FA_UUID_FLAG;
		st = FaNew(aggcxt, ktype == INT8OID, &p);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);

	step = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	if (step < 0 || step > LK_FUNNEL_MAX_STEPS ||
		(st->p.nsteps > 0 && step > st->p.nsteps))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: step %d is outside 1..%d", step,
						st->p.nsteps > 0 ? st->p.nsteps : LK_FUNNEL_MAX_STEPS),
				 errhint("Steps are 1-based; map stage names with array_position(), whose NULL means no step.")));
	ent = FaEntityOf(st, PG_GETARG_DATUM(1));
	if (step > 0 || (st->p.modes & LK_FM_STRICT_ORDER))
	{
		FaPush(st, ent, PG_GETARG_INT64(2), step);
		if (step > st->maxstep)
			st->maxstep = step;
	}
	PG_RETURN_POINTER(st);
}

/* Appends every entity and event of b to a. */
static void
FaMergeInto(FaState *a, const FaState *b)
{
	for (int32 i = 0; i < b->nents; i++)
	{
		const FaEntity *be = &b->ents[i];
		FaEntity   *ent;

		ent = FaLookup(a, be->key,
					   b->bykey_int8 ? NULL : b->arena + be->key,
					   be->keylen, be->hash);
		for (int32 j = be->head; j >= 0; j = b->evs[j].next)
			FaPush(a, ent, b->evs[j].ts, b->evs[j].step);
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
	}
	a->maxstep = Max(a->maxstep, b->maxstep);
}

static void
FaCheckSame(const FaState *a, const FaState *b)
{
	if (a->p.window != b->p.window || a->p.modes != b->p.modes ||
		a->p.nsteps != b->p.nsteps || a->bykey_int8 != b->bykey_int8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: window, modes and nsteps must be the same in every row")));
}

PG_FUNCTION_INFO_V1(funnel_agg_combine);
Datum
funnel_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FaState    *a = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	FaState    *b = PG_ARGISNULL(1) ? NULL : (FaState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_combine called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		/*
		 * Adopt b: states are only built by our accum and deserialize, in
		 * the aggregate context, and b is not used after this call.
		 */
		PG_RETURN_POINTER(b);
	}
	FaCheckSame(a, b);
	FaMergeInto(a, b);
	PG_RETURN_POINTER(a);
}

/*
 * Wire form: version, key kind (0 bigint, 1 text, 2 uuid), modes, window,
 * nsteps, maxstep, entity count, event count, then per entity its key
 * (int64, or length + bytes), its event count and its events (ts, step).
 */
PG_FUNCTION_INFO_V1(funnel_agg_serialize);
Datum
funnel_agg_serialize(PG_FUNCTION_ARGS)
{
	FaState    *st = (FaState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	uint32		modes = st->p.modes & ~FA_UUID_FLAG;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_serialize called in non-aggregate context");
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, 64 + (int) Min((Size) st->nevs * 9 + (Size) st->nents * 12 + st->arena_len,
										   (Size) MaxAllocSize / 2));
	pq_sendbyte(&buf, FA_VERSION);
	pq_sendbyte(&buf, st->bykey_int8 ? 0 : (st->p.modes & FA_UUID_FLAG) ? 2 : 1);
	pq_sendint32(&buf, modes);
	pq_sendint64(&buf, st->p.window);
	pq_sendint32(&buf, st->p.nsteps);
	pq_sendint32(&buf, st->maxstep);
	pq_sendint32(&buf, st->nents);
	pq_sendint32(&buf, st->nevs);
	for (int32 i = 0; i < st->nents; i++)
	{
		const FaEntity *e = &st->ents[i];

		if (st->bykey_int8)
			pq_sendint64(&buf, (int64) e->key);
		else
		{
			pq_sendint32(&buf, e->keylen);
			pq_sendbytes(&buf, st->arena + e->key, e->keylen);
		}
		pq_sendint32(&buf, e->count);
		for (int32 j = e->head; j >= 0; j = st->evs[j].next)
		{
			pq_sendint64(&buf, st->evs[j].ts);
			pq_sendbyte(&buf, st->evs[j].step);
		}
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
FaCorrupt(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid funnel_agg state: %s", msg)));
}

PG_FUNCTION_INFO_V1(funnel_agg_deserialize);
Datum
funnel_agg_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt;
	StringInfoData buf;
	LkFunnelParams p;
	FaState    *st;
	int			kind;
	int32		maxstep,
				nents,
				nevs,
				seen = 0;
	const char *msg;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_deserialize called in non-aggregate context");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 1 + 1 + 4 + 8 + 4 * 4)
		FaCorrupt("truncated header");
	if (pq_getmsgbyte(&buf) != FA_VERSION)
		FaCorrupt("unknown version");
	kind = pq_getmsgbyte(&buf);
	if (kind > 2)
		FaCorrupt("unknown key kind");
	p.modes = pq_getmsgint(&buf, 4);
	if ((msg = lk_funnel_modes_check(p.modes)) != NULL)
		FaCorrupt(msg);
	p.window = pq_getmsgint64(&buf);
	p.nsteps = pq_getmsgint(&buf, 4);
	maxstep = pq_getmsgint(&buf, 4);
	nents = pq_getmsgint(&buf, 4);
	nevs = pq_getmsgint(&buf, 4);
	if (p.window < 0 || p.nsteps < 0 || p.nsteps > LK_FUNNEL_MAX_STEPS ||
		maxstep < 0 || maxstep > LK_FUNNEL_MAX_STEPS ||
		(p.nsteps > 0 && maxstep > p.nsteps) || nents < 0 || nevs < 0)
		FaCorrupt("header field out of range");
	if (kind == 2)
		p.modes |= FA_UUID_FLAG;
	st = FaNew(aggcxt, kind == 0, &p);
	for (int32 i = 0; i < nents; i++)
	{
		FaEntity   *ent;
		int32		cnt;

		if (kind == 0)
		{
			int64		k;

			if (buf.len - buf.cursor < 8)
				FaCorrupt("truncated key");
			k = pq_getmsgint64(&buf);
			ent = FaLookup(st, (uint64) k, NULL, 0, HashInt64((uint64) k));
		}
		else
		{
			uint32		len;
			const char *kb;

			if (buf.len - buf.cursor < 4)
				FaCorrupt("truncated key");
			len = pq_getmsgint(&buf, 4);
			if (len > (uint32) (buf.len - buf.cursor) || (kind == 2 && len != 16))
				FaCorrupt("key length out of range");
			kb = pq_getmsgbytes(&buf, len);
			ent = FaLookup(st, 0, kb, len, hash_bytes((const unsigned char *) kb, len));
		}
		if (buf.len - buf.cursor < 4)
			FaCorrupt("truncated event count");
		cnt = pq_getmsgint(&buf, 4);
		if (cnt < 0 || cnt > nevs - seen || (int64) cnt * 9 > buf.len - buf.cursor)
			FaCorrupt("event count out of range");
		for (int32 j = 0; j < cnt; j++)
		{
			int64		ts = pq_getmsgint64(&buf);
			int			step = pq_getmsgbyte(&buf);

			if (step > maxstep)
				FaCorrupt("step out of range");
			FaPush(st, ent, ts, step);
		}
		seen += cnt;
	}
	if (seen != nevs || buf.cursor != buf.len)
		FaCorrupt("counts do not add up");
	st->maxstep = maxstep;
	PG_RETURN_POINTER(st);
}

/* Per-step time-to-convert counts, by sketch bucket, before the sketches. */
typedef struct TtcHist
{
	int64		zero;
	int64		count[LK_SKETCH_MAX_INDEX + 1];
} TtcHist;

PG_FUNCTION_INFO_V1(funnel_agg_final);
Datum
funnel_agg_final(PG_FUNCTION_ARGS)
{
	FaState    *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	LkFunnelParams p;
	int64		levels[LK_FUNNEL_MAX_STEPS + 1] = {0};
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	TtcHist    *hist;
	LkFunnelEvent *buf;
	int32		maxcount = 0;
	int64		path[LK_FUNNEL_MAX_STEPS];
	int64		below;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_final called in non-aggregate context");
	if (st == NULL)
		PG_RETURN_NULL();

	p = st->p;
	p.modes &= ~FA_UUID_FLAG;
	if (p.nsteps == 0)
		p.nsteps = Max(st->maxstep, 1);
	for (int32 i = 0; i < st->nents; i++)
		maxcount = Max(maxcount, st->ents[i].count);
	buf = palloc_extended(Max(maxcount, 1) * sizeof(LkFunnelEvent), MCXT_ALLOC_HUGE);
	hist = palloc0(p.nsteps * sizeof(TtcHist));

	for (int32 i = 0; i < st->nents; i++)
	{
		const FaEntity *e = &st->ents[i];
		int32		n = e->count;
		int			level;

		if ((i & 0xFFF) == 0xFFF)
			CHECK_FOR_INTERRUPTS();
		if (n == 0)
		{
			levels[0]++;
			continue;
		}
		/* the list runs newest first: fill from the back to keep input order */
		for (int32 j = e->head, k = n - 1; j >= 0; j = st->evs[j].next, k--)
		{
			buf[k].ts = st->evs[j].ts;
			buf[k].step = st->evs[j].step;
			buf[k].row = (uint32) k;	/* one row, one event */
		}
		lk_funnel_sort(buf, n);
		level = lk_funnel_match(buf, n, &p, path);
		levels[level]++;
		for (int s = 1; s < level; s++)
		{
			int64		d;
			TtcHist    *h = &hist[s];

			if (__builtin_sub_overflow(path[s], path[s - 1], &d))
				d = PG_INT64_MAX;	/* infinite timestamps */
			if (d <= 0)
				h->zero++;
			else
				h->count[lk_sketch_index(d)]++;
		}
	}

	/* reached[k] = entities whose level is at least k + 1 */
	below = 0;
	for (int k = p.nsteps; k >= 1; k--)
	{
		below += levels[k];
		reached[k - 1] = below;
	}
	for (int k = 0; k < p.nsteps; k++)
	{
		int32		nb = 0;

		for (int b = 0; b <= LK_SKETCH_MAX_INDEX; b++)
			nb += (hist[k].count[b] != 0);
		sk[k] = palloc0(LK_SKETCH_SIZE(nb));
		sk[k]->capacity = nb;
		sk[k]->zero_count = hist[k].zero;
		for (int b = 0; b <= LK_SKETCH_MAX_INDEX; b++)
		{
			if (hist[k].count[b] != 0)
			{
				sk[k]->buckets[sk[k]->nbuckets].index = b;
				sk[k]->buckets[sk[k]->nbuckets].count = hist[k].count[b];
				sk[k]->nbuckets++;
			}
		}
	}
	PG_RETURN_POINTER(FsBuild(p.nsteps, p.modes, p.window, st->nents, reached, sk));
}

/* ---- accessors ----------------------------------------------------------- */

static void
CheckStep(const FunnelSummary *fs, int32 step, const char *fn)
{
	if (step < 1 || step > fs->nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: step %d is outside 1..%d", fn, step, fs->nsteps)));
}

PG_FUNCTION_INFO_V1(funnel_reached);
Datum
funnel_reached(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		step = PG_GETARG_INT32(1);

	CheckStep(fs, step, "reached");
	PG_RETURN_INT64(fs->reached[step - 1]);
}

PG_FUNCTION_INFO_V1(funnel_conversion_rate);
Datum
funnel_conversion_rate(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		from = PG_GETARG_INT32(1);
	int32		to = PG_GETARG_INT32(2);

	CheckStep(fs, from, "conversion_rate");
	CheckStep(fs, to, "conversion_rate");
	if (from > to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversion_rate: from_step %d is after to_step %d", from, to)));
	if (fs->reached[from - 1] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) fs->reached[to - 1] / (double) fs->reached[from - 1]);
}

PG_FUNCTION_INFO_V1(funnel_drop_off);
Datum
funnel_drop_off(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		step = PG_GETARG_INT32(1);
	int64		prev;

	CheckStep(fs, step, "drop_off");
	prev = (step == 1) ? fs->entities : fs->reached[step - 2];
	PG_RETURN_INT64(prev - fs->reached[step - 1]);
}

PG_FUNCTION_INFO_V1(funnel_bottleneck);
Datum
funnel_bottleneck(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int			best = 0;
	double		best_rate = 0.0;

	for (int k = 2; k <= fs->nsteps; k++)
	{
		double		rate;

		if (fs->reached[k - 2] == 0)
			continue;			/* no conversion to judge */
		rate = (double) fs->reached[k - 1] / (double) fs->reached[k - 2];
		if (best == 0 || rate < best_rate)
		{
			best = k;
			best_rate = rate;
		}
	}
	if (best == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(best);
}

PG_FUNCTION_INFO_V1(funnel_time_to_convert_median);
Datum
funnel_time_to_convert_median(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		step = PG_GETARG_INT32(1);
	LkSketch   *s;

	CheckStep(fs, step, "time_to_convert_median");
	s = FsSketch(fs, step);
	if (lk_sketch_total(s) == 0)
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(lk_interval_from_usec((int64) rint(lk_sketch_quantile(s, 0.5))));
}

PG_FUNCTION_INFO_V1(funnel_nsteps);
Datum
funnel_nsteps(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_FS(0)->nsteps);
}

PG_FUNCTION_INFO_V1(funnel_entities);
Datum
funnel_entities(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_FS(0)->entities);
}
