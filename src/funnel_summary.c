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
#include "utils/array.h"
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

	if (!lk_parse_lit(&p, "v1;steps=") || !lk_parse_int64(&p, &nsteps, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \"v1;steps=<n>\"");
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		FsCorrupt("input syntax", "step count out of range");
	if (!lk_parse_lit(&p, ";window=") || !lk_parse_int64(&p, &window, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \";window=<usec>\"");
	if (!lk_parse_lit(&p, ";modes="))
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
	if (!lk_parse_lit(&p, ";entities=") || !lk_parse_int64(&p, &entities, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \";entities=<n>\"");
	if (!lk_parse_lit(&p, ";reached="))
		FsCorrupt("input syntax", "expected \";reached=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if ((k > 0 && !lk_parse_lit(&p, ",")) || !lk_parse_int64(&p, &reached[k], PG_INT64_MIN, PG_INT64_MAX))
			FsCorrupt("input syntax", "expected one reached count per step");
	}
	if (!lk_parse_lit(&p, ";ttc="))
		FsCorrupt("input syntax", "expected \";ttc=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if (k > 0 && !lk_parse_lit(&p, "|"))
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

/*
 * The transition function only appends 24-byte rows; it never hashes into a
 * big table, whose cache misses would dominate.  Combine is concatenation.
 * The final function partitions the rows by the top bits of the entity hash
 * (one counting pass, one scatter), so each partition's entity table fits in
 * cache, then per entity sorts its events and runs the shared matcher.
 */
typedef struct FaRow
{
	uint64		key;			/* the bigint, or the arena offset of the key */
	int64		ts;
	uint32		hash;
	int32		step;			/* 0 = matched no step */
} FaRow;

/* key kinds, also on the wire */
#define FA_KEY_INT8 0
#define FA_KEY_TEXT 1
#define FA_KEY_UUID 2

/* partitions hold about this many rows: a few hundred kB of work space */
#define FA_PART_ROWS 8192
#define FA_MAX_ROWS (((int64) 1 << 31) - 1)	/* int32 row numbers */

typedef struct FaState
{
	MemoryContext cxt;
	int			keykind;
	LkFunnelParams p;			/* p.nsteps = the fixed count, or 0 */
	int32		maxstep;
	FaRow	   *rows;
	int64		nrows,
				cap;
	/* byte keys: a uint32 length then the bytes, not aligned */
	char	   *arena;
	Size		arena_len,
				arena_cap;
	bool		has_last;		/* last key appended, to share equal keys */
	uint64		last_off;
	uint32		last_hash;
	/* the stage names of funnel_agg(entity, ts, stage, stages, ...), or 0 */
	int			nstages;
	int32		stage_len[LK_FUNNEL_MAX_STEPS];
	char	   *stage_name[LK_FUNNEL_MAX_STEPS];
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
FaNew(MemoryContext cxt, int keykind, const LkFunnelParams *p)
{
	FaState    *st = MemoryContextAllocZero(cxt, sizeof(FaState));

	st->cxt = cxt;
	st->keykind = keykind;
	st->p = *p;
	st->cap = 1024;
	st->rows = MemoryContextAllocHuge(cxt, st->cap * sizeof(FaRow));
	return st;
}

static void
FaReserve(FaState *st, int64 more)
{
	if (st->nrows + more <= st->cap)
		return;
	if (st->nrows + more > FA_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_agg: more than " INT64_FORMAT " events in one aggregate", FA_MAX_ROWS),
				 errhint("Split the input, e.g. by campaign or cohort, and roll the summaries up.")));
	while (st->cap < st->nrows + more)
		st->cap *= 2;
	st->rows = repalloc_huge(st->rows, st->cap * sizeof(FaRow));
}

static void
FaArenaReserve(FaState *st, Size more)
{
	Size		cap;

	if (st->arena_len + more <= st->arena_cap)
		return;
	cap = Max(st->arena_cap * 2, 65536);
	while (cap < st->arena_len + more)
		cap *= 2;
	st->arena = st->arena ? repalloc_huge(st->arena, cap) :
		MemoryContextAllocHuge(st->cxt, cap);
	st->arena_cap = cap;
}

static inline uint32
ArenaLen(const char *arena, uint64 off)
{
	uint32		len;

	memcpy(&len, arena + off, sizeof(len));
	return len;
}

/* Offset and hash of a byte key, appended unless it equals the last one. */
static inline uint64
FaByteKey(FaState *st, const char *b, uint32 n, uint32 *hash)
{
	uint64		off;

	if (st->has_last && ArenaLen(st->arena, st->last_off) == n &&
		memcmp(st->arena + st->last_off + 4, b, n) == 0)
	{
		*hash = st->last_hash;
		return st->last_off;
	}
	FaArenaReserve(st, 4 + (Size) n);
	off = st->arena_len;
	memcpy(st->arena + off, &n, 4);
	memcpy(st->arena + off + 4, b, n);
	st->arena_len += 4 + (Size) n;
	*hash = hash_bytes((const unsigned char *) b, n);
	st->has_last = true;
	st->last_off = off;
	st->last_hash = *hash;
	return off;
}

static inline void
FaAppend(FaState *st, uint64 key, uint32 hash, int64 ts, int32 step)
{
	FaRow	   *r;

	if (unlikely(st->nrows == st->cap))
		FaReserve(st, 1);
	r = &st->rows[st->nrows++];
	r->key = key;
	r->hash = hash;
	r->ts = ts;
	r->step = step;
}

static int
FaKeyKind(FunctionCallInfo fcinfo)
{
	Oid			ktype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	return ktype == INT8OID ? FA_KEY_INT8 : ktype == UUIDOID ? FA_KEY_UUID : FA_KEY_TEXT;
}

static void FaAddRow(FunctionCallInfo fcinfo, FaState *st, int32 step);

/*
 * funnel_agg_accum(state, entity, ts, step, window [, modes [, nsteps]]).
 * Rows with a null entity or ts are ignored; a null or 0 step is a row that
 * matched no step (the entity still counts, at level 0 if nothing else).
 */
PG_FUNCTION_INFO_V1(funnel_agg_accum);
Datum
funnel_agg_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FaState    *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	int32		step;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_accum called in non-aggregate context");
	if (st == NULL)
	{
		LkFunnelParams p;

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
		st = FaNew(aggcxt, FaKeyKind(fcinfo), &p);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);

	step = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	FaAddRow(fcinfo, st, step);
	PG_RETURN_POINTER(st);
}

/* Checks the step, then appends the row of arguments 1 (entity) and 2 (ts). */
static void
FaAddRow(FunctionCallInfo fcinfo, FaState *st, int32 step)
{
	uint64		key;
	uint32		hash;

	if (step < 0 || step > LK_FUNNEL_MAX_STEPS ||
		(st->p.nsteps > 0 && step > st->p.nsteps))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: step %d is outside 1..%d", step,
						st->p.nsteps > 0 ? st->p.nsteps : LK_FUNNEL_MAX_STEPS),
				 errhint("Steps are 1-based; map stage names with array_position(), whose NULL means no step.")));
	if (st->keykind == FA_KEY_INT8)
	{
		key = (uint64) PG_GETARG_INT64(1);
		hash = HashInt64(key);
	}
	else if (st->keykind == FA_KEY_UUID)
		key = FaByteKey(st, DatumGetPointer(PG_GETARG_DATUM(1)), 16, &hash);
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(1);

		key = FaByteKey(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &hash);
	}
	FaAppend(st, key, hash, PG_GETARG_INT64(2), step);
	if (step > st->maxstep)
		st->maxstep = step;
}

/*
 * funnel_agg_stage_accum(state, entity, ts, stage, stages, window [, modes]):
 * the same with stage names, mapped here rather than by array_position() per
 * row (which costs more than the whole funnel).  A stage outside `stages`, or
 * NULL, is a row that matched no step; nsteps is the number of stages.
 */
PG_FUNCTION_INFO_V1(funnel_agg_stage_accum);
Datum
funnel_agg_stage_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FaState    *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	int32		step = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_stage_accum called in non-aggregate context");
	if (st == NULL)
	{
		LkFunnelParams p;
		ArrayType  *arr;
		Datum	   *names;
		bool	   *nulls;
		int			n;

		if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: the stages and the window must not be null")));
		arr = PG_GETARG_ARRAYTYPE_P(4);
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: stages must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
		lk_funnel_check_nsteps(n, "funnel_agg");
		p.window = lk_funnel_window_usec(PG_GETARG_INTERVAL_P(5), "funnel_agg");
		p.modes = 0;
		if (PG_NARGS() > 6 && !PG_ARGISNULL(6))
		{
			text	   *m = PG_GETARG_TEXT_PP(6);

			p.modes = lk_funnel_parse_modes(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m));
		}
		p.nsteps = n;
		st = FaNew(aggcxt, FaKeyKind(fcinfo), &p);
		for (int i = 0; i < n; i++)
		{
			text	   *t;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("funnel_agg: stage %d is null", i + 1),
						 errhint("List every stage of the funnel by name, in order.")));
			t = DatumGetTextPP(names[i]);
			st->stage_len[i] = VARSIZE_ANY_EXHDR(t);
			st->stage_name[i] = MemoryContextAlloc(aggcxt, st->stage_len[i] + 1);
			memcpy(st->stage_name[i], VARDATA_ANY(t), st->stage_len[i]);
			for (int j = 0; j < i; j++)
				if (st->stage_len[j] == st->stage_len[i] &&
					memcmp(st->stage_name[j], st->stage_name[i], st->stage_len[i]) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("funnel_agg: stage \"%.*s\" is listed twice",
									st->stage_len[i], st->stage_name[i])));
		}
		st->nstages = n;
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);

	if (!PG_ARGISNULL(3))
	{
		text	   *t = PG_GETARG_TEXT_PP(3);	/* packed values are not copied */
		const char *b = VARDATA_ANY(t);
		int32		len = VARSIZE_ANY_EXHDR(t);

		for (int i = 0; i < st->nstages; i++)
			if (st->stage_len[i] == len && memcmp(st->stage_name[i], b, len) == 0)
			{
				step = i + 1;
				break;
			}
	}
	FaAddRow(fcinfo, st, step);
	PG_RETURN_POINTER(st);
}

static void
FaCheckSame(const FaState *a, const FaState *b)
{
	if (a->p.window != b->p.window || a->p.modes != b->p.modes ||
		a->p.nsteps != b->p.nsteps || a->keykind != b->keykind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: window, modes and nsteps must be the same in every row")));
}

PG_FUNCTION_INFO_V1(funnel_agg_combine);
Datum
funnel_agg_combine(PG_FUNCTION_ARGS)
{
	FaState    *a = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	FaState    *b = PG_ARGISNULL(1) ? NULL : (FaState *) PG_GETARG_POINTER(1);
	uint64		shift;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/*
		 * Adopt b: states are only built by our accum and deserialize, in
		 * the aggregate context, and b is not used after this call.
		 */
		PG_RETURN_POINTER(b);
	}
	FaCheckSame(a, b);
	/* entity lists may overlap: the final function groups all rows anyway */
	FaReserve(a, b->nrows);
	shift = a->arena_len;
	if (b->arena_len > 0)
	{
		FaArenaReserve(a, b->arena_len);
		memcpy(a->arena + a->arena_len, b->arena, b->arena_len);
		a->arena_len += b->arena_len;
	}
	for (int64 i = 0; i < b->nrows; i++)
	{
		FaRow	   *r = &a->rows[a->nrows++];

		*r = b->rows[i];
		if (a->keykind != FA_KEY_INT8)
			r->key += shift;
	}
	a->maxstep = Max(a->maxstep, b->maxstep);
	PG_RETURN_POINTER(a);
}

/*
 * Wire form: version, key kind, modes, window, nsteps, maxstep, row count,
 * arena length and arena bytes, then per row its key (int64 or arena
 * offset), ts and step.  Hashes are recomputed on receipt.
 */
PG_FUNCTION_INFO_V1(funnel_agg_serialize);
Datum
funnel_agg_serialize(PG_FUNCTION_ARGS)
{
	FaState    *st = (FaState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	Size		need = 64 + st->arena_len + (Size) st->nrows * 17;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_serialize called in non-aggregate context");
	if (need >= MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_agg: a partial state of a parallel worker exceeds 1 GB"),
				 errhint("Disable parallel aggregation for this query or split it by campaign or cohort.")));
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, (int) need);
	pq_sendbyte(&buf, FA_VERSION);
	pq_sendbyte(&buf, st->keykind);
	pq_sendint32(&buf, st->p.modes);
	pq_sendint64(&buf, st->p.window);
	pq_sendint32(&buf, st->p.nsteps);
	pq_sendint32(&buf, st->maxstep);
	pq_sendint64(&buf, st->nrows);
	pq_sendint64(&buf, st->arena_len);
	if (st->arena_len > 0)
		pq_sendbytes(&buf, st->arena, st->arena_len);
	/* the rows, written directly: `need` reserved room for all of them */
	{
		char	   *w = buf.data + buf.len;

		for (int64 i = 0; i < st->nrows; i++)
		{
			uint64		k = pg_hton64(st->rows[i].key);
			uint64		t = pg_hton64((uint64) st->rows[i].ts);

			memcpy(w, &k, 8);
			memcpy(w + 8, &t, 8);
			w[16] = (char) st->rows[i].step;
			w += 17;
		}
		buf.len += (int) (st->nrows * 17);
		buf.data[buf.len] = '\0';
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
	int32		maxstep;
	int64		nrows,
				alen;
	const char *msg;
	uint64		prev_off = PG_UINT64_MAX;
	uint32		prev_hash = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_deserialize called in non-aggregate context");
	lk_read_bytes(&buf, b);
	if (buf.len < 1 + 1 + 4 + 8 + 4 + 4 + 8 + 8)
		FaCorrupt("truncated header");
	if (pq_getmsgbyte(&buf) != FA_VERSION)
		FaCorrupt("unknown version");
	kind = pq_getmsgbyte(&buf);
	if (kind > FA_KEY_UUID)
		FaCorrupt("unknown key kind");
	p.modes = pq_getmsgint(&buf, 4);
	if ((msg = lk_funnel_modes_check(p.modes)) != NULL)
		FaCorrupt(msg);
	p.window = pq_getmsgint64(&buf);
	p.nsteps = pq_getmsgint(&buf, 4);
	maxstep = pq_getmsgint(&buf, 4);
	nrows = pq_getmsgint64(&buf);
	alen = pq_getmsgint64(&buf);
	if (p.window < 0 || p.nsteps < 0 || p.nsteps > LK_FUNNEL_MAX_STEPS ||
		maxstep < 0 || maxstep > LK_FUNNEL_MAX_STEPS ||
		(p.nsteps > 0 && maxstep > p.nsteps))
		FaCorrupt("header field out of range");
	if (alen < 0 || alen > buf.len - buf.cursor || (kind == FA_KEY_INT8 && alen != 0))
		FaCorrupt("key bytes out of range");
	if (nrows < 0 || nrows > FA_MAX_ROWS || nrows * 17 != buf.len - buf.cursor - alen)
		FaCorrupt("row count does not match the length");
	st = FaNew(aggcxt, kind, &p);
	st->maxstep = maxstep;
	if (alen > 0)
	{
		FaArenaReserve(st, alen);
		memcpy(st->arena, pq_getmsgbytes(&buf, alen), alen);
		st->arena_len = alen;
	}
	FaReserve(st, nrows);
	for (int64 i = 0; i < nrows; i++)
	{
		/* the length was checked above: read the 17 bytes directly */
		const unsigned char *rd = (const unsigned char *) buf.data + buf.cursor + i * 17;
		uint64		key;
		int64		ts;
		int			step = rd[16];
		uint32		hash;
		FaRow	   *r;

		memcpy(&key, rd, 8);
		key = pg_ntoh64(key);
		memcpy(&ts, rd + 8, 8);
		ts = (int64) pg_ntoh64((uint64) ts);

		if (step > maxstep)
			FaCorrupt("step out of range");
		if (kind == FA_KEY_INT8)
			hash = HashInt64(key);
		else if (key == prev_off)
			hash = prev_hash;
		else
		{
			uint32		len;

			if (key > (uint64) alen || (uint64) alen - key < 4)
				FaCorrupt("key offset out of range");
			len = ArenaLen(st->arena, key);
			if (len > (uint64) alen - key - 4 || (kind == FA_KEY_UUID && len != 16))
				FaCorrupt("key length out of range");
			hash = hash_bytes((const unsigned char *) st->arena + key + 4, len);
			prev_off = key;
			prev_hash = hash;
		}
		r = &st->rows[i];
		r->key = key;
		r->hash = hash;
		r->ts = ts;
		r->step = step;
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
	}
	st->nrows = nrows;
	PG_RETURN_POINTER(st);
}

/* Per-step time-to-convert counts, by sketch bucket, before the sketches. */
typedef struct TtcHist
{
	int64		zero;
	int64		count[LK_SKETCH_MAX_INDEX + 1];
} TtcHist;

static inline bool
FaKeyEq(const FaState *st, uint64 a, uint64 b)
{
	uint32		la,
				lb;

	if (a == b)
		return true;
	if (st->keykind == FA_KEY_INT8)
		return false;
	la = ArenaLen(st->arena, a);
	lb = ArenaLen(st->arena, b);
	return la == lb && memcmp(st->arena + a + 4, st->arena + b + 4, la) == 0;
}

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
	int64		path[LK_FUNNEL_MAX_STEPS];
	int64		below,
				nents = 0;
	int64		n;
	int			bits = 0;
	int64		nparts;
	int64	   *pstart;
	FaRow	   *part;
	int64		maxpart = 0;
	int32	   *table,
			   *rowent,
			   *entrow,
			   *entcnt,
			   *entpos;
	LkFunnelEvent *evbuf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_final called in non-aggregate context");
	if (st == NULL)
		PG_RETURN_NULL();

	p = st->p;
	if (p.nsteps == 0)
		p.nsteps = Max(st->maxstep, 1);
	n = st->nrows;
	hist = palloc0(p.nsteps * sizeof(TtcHist));

	/* 1. partition the rows by the top bits of their hash */
	while (bits < 16 && ((int64) FA_PART_ROWS << bits) < n)
		bits++;
	nparts = (int64) 1 << bits;
	pstart = palloc0((nparts + 1) * sizeof(int64));
	for (int64 i = 0; i < n; i++)
		pstart[bits ? (st->rows[i].hash >> (32 - bits)) + 1 : 1]++;
	for (int64 q = 0; q < nparts; q++)
	{
		maxpart = Max(maxpart, pstart[q + 1]);
		pstart[q + 1] += pstart[q];
	}
	if (bits == 0)
		part = st->rows;
	else
	{
		int64	   *fill = palloc((nparts + 1) * sizeof(int64));

		memcpy(fill, pstart, (nparts + 1) * sizeof(int64));
		part = MemoryContextAllocHuge(CurrentMemoryContext, Max(n, 1) * sizeof(FaRow));
		for (int64 i = 0; i < n; i++)
			part[fill[st->rows[i].hash >> (32 - bits)]++] = st->rows[i];
		pfree(fill);
	}
	CHECK_FOR_INTERRUPTS();

	/* 2. work space sized for the largest partition */
	{
		int64		tsize = 16;

		while (tsize < 2 * maxpart)
			tsize *= 2;
		table = palloc_extended(tsize * sizeof(int32), MCXT_ALLOC_HUGE);
		rowent = palloc_extended(Max(maxpart, 1) * sizeof(int32), MCXT_ALLOC_HUGE);
		entrow = palloc_extended(Max(maxpart, 1) * sizeof(int32), MCXT_ALLOC_HUGE);
		entcnt = palloc_extended(Max(maxpart, 1) * sizeof(int32), MCXT_ALLOC_HUGE);
		entpos = palloc_extended((Max(maxpart, 1) + 1) * sizeof(int32), MCXT_ALLOC_HUGE);
		evbuf = palloc_extended(Max(maxpart, 1) * sizeof(LkFunnelEvent), MCXT_ALLOC_HUGE);
	}

	/* 3. per partition: group rows by entity, then match each entity */
	for (int64 q = 0; q < nparts; q++)
	{
		FaRow	   *r = part + pstart[q];
		int32		m = (int32) (pstart[q + 1] - pstart[q]);
		int32		ne = 0;
		uint32		tmask = 15;

		if (m == 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		while (tmask + 1 < (uint32) (2 * m))
			tmask = tmask * 2 + 1;
		memset(table, 0, (tmask + 1) * sizeof(int32));
		for (int32 i = 0; i < m; i++)
		{
			/* low bits: the top ones chose the partition */
			uint32		h = r[i].hash & tmask;
			int32		e;

			for (;;)
			{
				e = table[h] - 1;
				if (e < 0)
				{
					e = ne++;
					table[h] = e + 1;
					entrow[e] = i;
					entcnt[e] = 0;
					break;
				}
				if (r[entrow[e]].hash == r[i].hash && FaKeyEq(st, r[entrow[e]].key, r[i].key))
					break;
				h = (h + 1) & tmask;
			}
			rowent[i] = e;
			entcnt[e]++;
		}
		entpos[0] = 0;
		for (int32 e = 0; e < ne; e++)
			entpos[e + 1] = entpos[e] + entcnt[e];
		for (int32 i = 0; i < m; i++)
		{
			int32		at = entpos[rowent[i]]++;

			evbuf[at].ts = r[i].ts;
			evbuf[at].step = r[i].step;
			evbuf[at].row = (uint32) at;	/* one row, one event */
		}
		/* entpos[e] now is the end of entity e's events */
		for (int32 e = 0; e < ne; e++)
		{
			int32		end = entpos[e];
			int32		cnt = entcnt[e];
			LkFunnelEvent *ev = evbuf + end - cnt;
			int			level;

			if ((e & 0x3FF) == 0x3FF)
				CHECK_FOR_INTERRUPTS();
			lk_funnel_sort(ev, cnt);
			level = lk_funnel_match(ev, cnt, &p, path);
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
		nents += ne;
	}
	if (part != st->rows)
		pfree(part);

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
	PG_RETURN_POINTER(FsBuild(p.nsteps, p.modes, p.window, nents, reached, sk));
}

/* funnel_summary = funnel_summary, <> and the hash opclass: see lk_send_equal */
PG_FUNCTION_INFO_V1(funnel_summary_eq);
Datum
funnel_summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lk_send_equal(funnel_summary_send, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(funnel_summary_ne);
Datum
funnel_summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!lk_send_equal(funnel_summary_send, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(funnel_summary_hash);
Datum
funnel_summary_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32(lk_send_hash(funnel_summary_send, PG_GETARG_DATUM(0)));
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
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(lk_sketch_usec(lk_sketch_quantile(s, 0.5))));
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
