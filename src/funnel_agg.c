/*
 * funnel_agg.c: funnel_agg over events, the single-pass funnel: its state,
 * transition, combine, serialize, deserialize and final functions.  The
 * summary it returns is funnel_summary.c's; funnel_agg over levels, which
 * updates a summary in place, lives there too.
 *
 * The transition function only appends rows; the final function groups them
 * by entity (partitioned by hash so each partition's table fits in cache),
 * then per entity sorts its events and runs the shared matcher
 * (funnel_match.c), so its levels are window_funnel's by construction.
 */
#include "funnel_summary.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* the partial state's wire form; 2 added the stage names */
#define FA_VERSION 2

/*
 * The transition function only appends 24-byte rows; it never hashes into a
 * big table, whose cache misses would dominate.  Combine is concatenation.
 * The final function partitions the rows by the top bits of the entity hash
 * (one counting pass, one scatter), so each partition's entity table fits in
 * cache, then per entity sorts its events and runs the shared matcher.
 */
typedef struct FaRow
{
	uint64 key; /* the bigint, or the arena offset of the key */
	int64  ts;
	uint32 hash;
	int32  step; /* 0 = matched no step */
} FaRow;

/* key kinds, also on the wire */
#define FA_KEY_INT8 0
#define FA_KEY_TEXT 1
#define FA_KEY_UUID 2

/* partitions hold about this many rows: a few hundred kB of work space */
#define FA_PART_ROWS 8192

/* the final function numbers a partition's rows with int32 */
#define FA_MAX_ROWS (((int64) 1 << 31) - 1)

/*
 * Memory per event, counted against leadkpi.funnel_memory_limit as the
 * state grows, for the worst case of the final function too (one entity
 * with every event, so that the largest partition is all of them): the row
 * in the state (24 bytes), its copy in the partitions (24), and per row of
 * the largest partition its event (16), its entity, its entity's row and
 * end (12) and up to four table slots (16).  Key bytes of text and uuid
 * entities count once, as stored.
 */
#define FA_BYTES_PER_EVENT (2 * sizeof(FaRow) + sizeof(LkFunnelEvent) + 7 * sizeof(int32))

/* Loops over rows check for interrupts once per this many rows. */
#define FA_CFI_ROWS 65536

typedef struct FaState
{
	MemoryContext  cxt;
	int			   keykind;
	LkFunnelParams p;		   /* p.nsteps = the fixed count, or 0 */
	bool		   check_args; /* window, modes, ... not constant: compare */
	int32		   maxstep;
	FaRow		  *rows;
	int64		   nrows;
	int64		   cap;
	int64		   room; /* rows that fit: allocated, and within the limit */
	/* byte keys: a uint32 length then the bytes, not aligned */
	char  *arena;
	Size   arena_len;
	Size   arena_cap;
	bool   has_last; /* last key appended, to share equal keys */
	uint64 last_off;
	uint32 last_hash;
	/* the stage names of funnel_agg(entity, ts, stage, stages, ...), or 0 */
	int		   nstages;
	int32	   stage_len[LK_FUNNEL_MAX_STEPS];
	char	  *stage_name[LK_FUNNEL_MAX_STEPS];
	ArrayType *stages; /* the first row's array, to compare rows with */
} FaState;

/* common/hashfn.h has murmurhash64 from PostgreSQL 17 on */
#if PG_VERSION_NUM < 170000
static inline uint64
murmurhash64(uint64 data)
{
	uint64 h = data;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}
#endif

/* bigint entities: a cheap hash that mixes every bit */
static inline uint32
HashInt64(uint64 x)
{
	return (uint32) murmurhash64(x);
}

/* The memory a group of `rows` events and `arena` key bytes may need. */
static inline Size
FaBytes(int64 rows, Size arena)
{
	return (Size) rows * FA_BYTES_PER_EVENT + arena;
}

static FaState *
FaNew(MemoryContext cxt, int keykind, const LkFunnelParams *p)
{
	FaState *st = MemoryContextAllocZero(cxt, sizeof(FaState));
	int64	 fit = (int64) (((Size) lk_funnel_memory_limit * 1024) / FA_BYTES_PER_EVENT);

	st->cxt = cxt;
	st->keykind = keykind;
	st->p = *p;
	st->cap = st->room = Max(Min(1024, fit), 1);
	st->rows = MemoryContextAllocHuge(cxt, st->cap * sizeof(FaRow));
	return st;
}

/*
 * Makes room for `more` rows, doubling the array.  A group that would need
 * more than leadkpi.funnel_memory_limit, or FA_MAX_ROWS rows, is an error
 * before anything is allocated, and doubling stops at the limit.
 */
/*
 * The rows the state takes before FaReserve must look again: what is
 * allocated, but no more than fits in the limit beside the key bytes
 * allocated (at least the bytes in use: this errs on the safe side, and
 * FaReserve checks exactly), so that the per-row path compares one number.
 */
static void
FaSetRoom(FaState *st)
{
	Size  limit = (Size) lk_funnel_memory_limit * 1024;
	int64 fit = st->arena_cap < limit ? (int64) ((limit - st->arena_cap) / FA_BYTES_PER_EVENT) : 0;

	st->room = Min(st->cap, Max(fit, st->nrows));
}

static void
FaReserve(FaState *st, int64 more)
{
	int64 need = st->nrows + more;
	int64 cap = st->cap;
	Size  limit = (Size) lk_funnel_memory_limit * 1024;

	if (need <= st->room)
		return;
	if (need > FA_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_agg: more than " INT64_FORMAT " events in one group", FA_MAX_ROWS),
				 errhint("Split the input, e.g. by campaign or cohort, and roll the summaries up.")));
	lk_check_funnel_memory("funnel_agg", FaBytes(need, st->arena_len), need);
	if (need > cap)
	{
		while (cap < need)
			cap *= 2;
		cap = Min(cap, Max(need, (int64) ((limit - st->arena_len) / FA_BYTES_PER_EVENT)));
		st->cap = Min(cap, FA_MAX_ROWS);
		st->rows = repalloc_huge(st->rows, st->cap * sizeof(FaRow));
	}
	FaSetRoom(st);
}

static void
FaArenaReserve(FaState *st, Size more)
{
	Size need = st->arena_len + more;
	Size cap;
	Size limit = (Size) lk_funnel_memory_limit * 1024;

	if (need <= st->arena_cap)
		return;
	lk_check_funnel_memory("funnel_agg", FaBytes(st->nrows, need), st->nrows);
	cap = Max(st->arena_cap * 2, 65536);
	while (cap < need)
		cap *= 2;
	cap = Min(cap, Max(need, limit - FaBytes(st->nrows, 0)));
	st->arena = st->arena ? repalloc_huge(st->arena, cap) :
							MemoryContextAllocHuge(st->cxt, cap);
	st->arena_cap = cap;
	FaSetRoom(st);
}

static inline uint32
ArenaLen(const char *arena, uint64 off)
{
	uint32 len;

	memcpy(&len, arena + off, sizeof(len));
	return len;
}

/* Offset and hash of a byte key, appended unless it equals the last one. */
static inline uint64
FaByteKey(FaState *st, const char *b, uint32 n, uint32 *hash)
{
	uint64 off;

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
	FaRow *r;

	if (unlikely(st->nrows >= st->room))
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
	Oid ktype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	return ktype == INT8OID ? FA_KEY_INT8 : ktype == UUIDOID ? FA_KEY_UUID :
															   FA_KEY_TEXT;
}

/* Checks the step, then appends the row of arguments 1 (entity) and 2 (ts). */
static void
FaAddRow(FunctionCallInfo fcinfo, FaState *st, int32 step)
{
	uint64 key;
	uint32 hash;

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
	else
	{
		if (st->keykind == FA_KEY_UUID)
			key = FaByteKey(st, DatumGetPointer(PG_GETARG_DATUM(1)), 16, &hash);
		else
		{
			text *t = PG_GETARG_TEXT_PP(1);

			key = FaByteKey(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &hash);
		}
	}
	FaAppend(st, key, hash, PG_GETARG_INT64(2), step);
	if (step > st->maxstep)
		st->maxstep = step;
}

/* ---- the arguments every row repeats: window, modes, nsteps, stages ------ */

/*
 * Whether the transition function's arguments first..last (the aggregate's
 * first - 1 .. last - 1) are constants; if not, every row's are compared
 * with the first row's, so that no plan can pick one row's silently.
 */
static inline bool
FaArgsConst(FunctionCallInfo fcinfo, int first, int last)
{
	return lk_agg_args_const(fcinfo, first - 1, last - 1);
}

/* The window (argument wi) and the modes (wi + 1, when given) of a row. */
static void
FaWindowModes(FunctionCallInfo fcinfo, int wi, LkFunnelParams *p)
{
	if (PG_ARGISNULL(wi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: the window must not be null")));
	p->window = lk_funnel_window_usec(PG_GETARG_INTERVAL_P(wi), "funnel_agg");
	p->modes = 0;
	if (PG_NARGS() > wi + 1 && !PG_ARGISNULL(wi + 1))
	{
		text *m = PG_GETARG_TEXT_PP(wi + 1);

		p->modes = lk_funnel_parse_modes(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m));
	}
}

/* funnel_agg(entity, ts, step, window [, modes [, nsteps]]): a row's */
static void
FaStepParams(FunctionCallInfo fcinfo, LkFunnelParams *p)
{
	FaWindowModes(fcinfo, 4, p);
	p->nsteps = 0;
	if (PG_NARGS() > 6)
	{
		if (PG_ARGISNULL(6))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: nsteps must not be null")));
		lk_funnel_check_nsteps(PG_GETARG_INT32(6), "funnel_agg");
		p->nsteps = PG_GETARG_INT32(6);
	}
}

/* The stages (argument 4) of a row, checked: one-dimensional, not null. */
static ArrayType *
FaStagesArg(FunctionCallInfo fcinfo)
{
	ArrayType *arr;

	if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: the stages and the window must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(4);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: stages must be a one-dimensional array")));
	return arr;
}

/* Keeps the stage names of the first row; nsteps is their number. */
static void
FaSetStages(FaState *st, ArrayType *arr)
{
	Datum *names;
	bool  *nulls;
	int	   n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	lk_funnel_check_nsteps(n, "funnel_agg");
	for (int i = 0; i < n; i++)
	{
		text *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: stage %d is null", i + 1),
					 errhint("List every stage of the funnel by name, in order.")));
		t = DatumGetTextPP(names[i]);
		st->stage_len[i] = VARSIZE_ANY_EXHDR(t);
		st->stage_name[i] = MemoryContextAlloc(st->cxt, st->stage_len[i] + 1);
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
	st->p.nsteps = n;
	st->stages = MemoryContextAlloc(st->cxt, VARSIZE(arr));
	memcpy(st->stages, arr, VARSIZE(arr));
}

/* Whether a row's stages are the first row's: the same bytes, or names. */
static bool
FaSameStages(const FaState *st, ArrayType *arr)
{
	Datum *names;
	bool  *nulls;
	int	   n;

	if (VARSIZE(arr) == VARSIZE(st->stages) &&
		memcmp(arr, st->stages, VARSIZE(arr)) == 0)
		return true;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	if (n != st->nstages)
		return false;
	for (int i = 0; i < n; i++)
	{
		text *t = nulls[i] ? NULL : DatumGetTextPP(names[i]);

		if (t == NULL || (int32) VARSIZE_ANY_EXHDR(t) != st->stage_len[i] ||
			memcmp(VARDATA_ANY(t), st->stage_name[i], st->stage_len[i]) != 0)
			return false;
	}
	return true;
}

/* The step of a stage name: its position in the stages, or 0. */
static int32
FaStageStep(const FaState *st, text *stage)
{
	const char *b = VARDATA_ANY(stage);
	int32		len = VARSIZE_ANY_EXHDR(stage);

	/* names are short: compare a first byte before calling memcmp */
	for (int i = 0; i < st->nstages; i++)
		if (st->stage_len[i] == len &&
			(len == 0 || (st->stage_name[i][0] == b[0] && memcmp(st->stage_name[i], b, len) == 0)))
			return i + 1;
	return 0;
}

/*
 * The state of a transition call: new on a group's first row; on later rows
 * the window, the modes and nsteps or the stages must be the first row's,
 * unless they are constants (see FaArgsConst).
 */
static pg_noinline FaState *
FaStateNewOrCheck(FunctionCallInfo fcinfo, FaState *st, MemoryContext aggcxt, bool with_stages)
{
	LkFunnelParams p;
	ArrayType	  *arr = NULL;

	if (with_stages)
	{
		arr = FaStagesArg(fcinfo);
		FaWindowModes(fcinfo, 5, &p);
	}
	else
		FaStepParams(fcinfo, &p);
	if (st == NULL)
	{
		st = FaNew(aggcxt, FaKeyKind(fcinfo), &p);
		if (with_stages)
			FaSetStages(st, arr);
		st->check_args = !FaArgsConst(fcinfo, 4, PG_NARGS() - 1);
	}
	else if (p.window != st->p.window || p.modes != st->p.modes ||
			 (with_stages ? !FaSameStages(st, arr) : p.nsteps != st->p.nsteps))
		lk_funnel_args_differ("funnel_agg", with_stages ? "window, modes and stages" : "window, modes and nsteps");
	return st;
}

/* The per-row path: the state as it is, when its arguments are constants. */
static inline FaState *
FaStateFor(FunctionCallInfo fcinfo, bool with_stages, const char *fn)
{
	MemoryContext aggcxt;
	FaState		 *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "%s called in non-aggregate context", fn);
	if (likely(st != NULL && !st->check_args))
		return st;
	return FaStateNewOrCheck(fcinfo, st, aggcxt, with_stages);
}

/*
 * funnel_agg_accum(state, entity, ts, step, window [, modes [, nsteps]]).
 * Rows with a null entity or ts are ignored; a null or 0 step is a row that
 * matched no step (the entity still counts, at level 0 if nothing else).
 */
PG_FUNCTION_INFO_V1(funnel_agg_accum);
Datum
funnel_agg_accum(PG_FUNCTION_ARGS)
{
	FaState *st = FaStateFor(fcinfo, false, "funnel_agg_accum");

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	FaAddRow(fcinfo, st, PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3));
	PG_RETURN_POINTER(st);
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
	FaState *st = FaStateFor(fcinfo, true, "funnel_agg_stage_accum");

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	/* packed stage values are read in place, not copied */
	FaAddRow(fcinfo, st, PG_ARGISNULL(3) ? 0 : FaStageStep(st, PG_GETARG_TEXT_PP(3)));
	PG_RETURN_POINTER(st);
}

/* ---- combine, serialize, deserialize -------------------------------------- */

static void
FaCheckSame(const FaState *a, const FaState *b)
{
	bool same = a->p.window == b->p.window && a->p.modes == b->p.modes &&
				a->p.nsteps == b->p.nsteps && a->keykind == b->keykind &&
				a->nstages == b->nstages;

	for (int i = 0; same && i < a->nstages; i++)
		same = a->stage_len[i] == b->stage_len[i] &&
			   memcmp(a->stage_name[i], b->stage_name[i], a->stage_len[i]) == 0;
	if (!same)
		lk_funnel_args_differ("funnel_agg", "window, modes, nsteps and stages");
}

PG_FUNCTION_INFO_V1(funnel_agg_combine);
Datum
funnel_agg_combine(PG_FUNCTION_ARGS)
{
	FaState *a;
	FaState *b;
	uint64	 shift;

	/* b, ours, is adopted when a is missing, and freed once copied */
	if (!lk_combine_states(fcinfo, "funnel_agg_combine", (void **) &a, (void **) &b))
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	FaCheckSame(a, b);
	lk_check_funnel_memory("funnel_agg", FaBytes(a->nrows + b->nrows, a->arena_len + b->arena_len),
						   a->nrows + b->nrows);
	/* entity lists may overlap: the final function groups all rows anyway */
	FaReserve(a, b->nrows);
	shift = a->arena_len;
	if (b->arena_len > 0)
	{
		FaArenaReserve(a, b->arena_len);
		memcpy(a->arena + a->arena_len, b->arena, b->arena_len);
		a->arena_len += b->arena_len;
	}
	for (int64 s = 0; s < b->nrows; s += FA_CFI_ROWS)
	{
		int64 end = Min(b->nrows, s + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int64 i = s; i < end; i++)
		{
			FaRow *r = &a->rows[a->nrows++];

			*r = b->rows[i];
			if (a->keykind != FA_KEY_INT8)
				r->key += shift;
		}
	}
	a->maxstep = Max(a->maxstep, b->maxstep);
	pfree(b->rows);
	if (b->arena)
		pfree(b->arena);
	b->rows = NULL;
	b->arena = NULL;
	b->nrows = b->cap = b->room = 0;
	b->arena_len = b->arena_cap = 0;
	PG_RETURN_POINTER(a);
}

/*
 * Wire form: version, key kind, modes, window, nsteps, maxstep, row count,
 * arena length, the stage count and names (a uint32 length and the bytes
 * each), the arena bytes, then per row its key (int64 or arena offset), ts
 * and step.  Hashes are recomputed on receipt.
 */
#define FA_HEADER_BYTES (1 + 1 + 4 + 8 + 4 + 4 + 8 + 8 + 1)
#define FA_ROW_BYTES 17

/* The rows, written straight into buf, which has room for them. */
static void
FaSendRows(StringInfo buf, const FaState *st)
{
	char *w = buf->data + buf->len;

	for (int64 s = 0; s < st->nrows; s += FA_CFI_ROWS)
	{
		int64 end = Min(st->nrows, s + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int64 i = s; i < end; i++)
		{
			uint64 k = pg_hton64(st->rows[i].key);
			uint64 t = pg_hton64((uint64) st->rows[i].ts);

			memcpy(w, &k, 8);
			memcpy(w + 8, &t, 8);
			w[16] = (char) st->rows[i].step;
			w += FA_ROW_BYTES;
		}
	}
	buf->len += (int) (st->nrows * FA_ROW_BYTES);
	buf->data[buf->len] = '\0';
}

PG_FUNCTION_INFO_V1(funnel_agg_serialize);
Datum
funnel_agg_serialize(PG_FUNCTION_ARGS)
{
	FaState		  *st = (FaState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	Size		   need = FA_HEADER_BYTES + st->arena_len + (Size) st->nrows * FA_ROW_BYTES;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_serialize called in non-aggregate context");
	for (int i = 0; i < st->nstages; i++)
		need += 4 + st->stage_len[i];
	if (need >= MaxAllocSize - VARHDRSZ)
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
	pq_sendbyte(&buf, st->nstages);
	for (int i = 0; i < st->nstages; i++)
	{
		pq_sendint32(&buf, st->stage_len[i]);
		pq_sendbytes(&buf, st->stage_name[i], st->stage_len[i]);
	}
	if (st->arena_len > 0)
		pq_sendbytes(&buf, st->arena, st->arena_len);
	FaSendRows(&buf, st);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

pg_noreturn static void
FaCorrupt(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid funnel_agg state: %s", msg)));
}

/* The header of a partial state, up to the stage names; st from it. */
static FaState *
FaRecvHeader(StringInfo buf, MemoryContext cxt, int64 *nrows, int64 *alen)
{
	LkFunnelParams p;
	FaState		  *st;
	int			   kind;
	int32		   maxstep;
	const char	  *msg;

	if (buf->len < FA_HEADER_BYTES)
		FaCorrupt("truncated header");
	if (pq_getmsgbyte(buf) != FA_VERSION)
		FaCorrupt("unknown version");
	kind = pq_getmsgbyte(buf);
	if (kind > FA_KEY_UUID)
		FaCorrupt("unknown key kind");
	p.modes = pq_getmsgint(buf, 4);
	if ((msg = lk_funnel_modes_check(p.modes)) != NULL)
		FaCorrupt(msg);
	p.window = pq_getmsgint64(buf);
	p.nsteps = pq_getmsgint(buf, 4);
	maxstep = pq_getmsgint(buf, 4);
	*nrows = pq_getmsgint64(buf);
	*alen = pq_getmsgint64(buf);
	if (p.window < 0 || p.nsteps < 0 || p.nsteps > LK_FUNNEL_MAX_STEPS ||
		maxstep < 0 || maxstep > LK_FUNNEL_MAX_STEPS ||
		(p.nsteps > 0 && maxstep > p.nsteps))
		FaCorrupt("header field out of range");
	st = FaNew(cxt, kind, &p);
	st->maxstep = maxstep;
	st->nstages = pq_getmsgbyte(buf);
	if (st->nstages != 0 && st->nstages != p.nsteps)
		FaCorrupt("stage count out of range");
	for (int i = 0; i < st->nstages; i++)
	{
		uint32 len;

		if (buf->len - buf->cursor < 4)
			FaCorrupt("truncated stage name");
		len = pq_getmsgint(buf, 4);
		if (len > (uint32) (buf->len - buf->cursor))
			FaCorrupt("truncated stage name");
		st->stage_len[i] = (int32) len;
		st->stage_name[i] = MemoryContextAlloc(cxt, len + 1);
		memcpy(st->stage_name[i], pq_getmsgbytes(buf, len), len);
	}
	return st;
}

/* One row of the wire form; hash_of_prev caches the last byte key's hash. */
static void
FaRecvRow(FaState *st, const unsigned char *rd, int64 alen, FaRow *r,
		  uint64 *prev_off, uint32 *prev_hash)
{
	uint64 key;
	int64  ts;

	memcpy(&key, rd, 8);
	key = pg_ntoh64(key);
	memcpy(&ts, rd + 8, 8);
	r->key = key;
	r->ts = (int64) pg_ntoh64((uint64) ts);
	r->step = rd[16];
	if (r->step > st->maxstep)
		FaCorrupt("step out of range");
	if (st->keykind == FA_KEY_INT8)
		r->hash = HashInt64(key);
	else if (key == *prev_off)
		r->hash = *prev_hash;
	else
	{
		uint32 len;

		if (key > (uint64) alen || (uint64) alen - key < 4)
			FaCorrupt("key offset out of range");
		len = ArenaLen(st->arena, key);
		if (len > (uint64) alen - key - 4 || (st->keykind == FA_KEY_UUID && len != 16))
			FaCorrupt("key length out of range");
		r->hash = hash_bytes((const unsigned char *) st->arena + key + 4, len);
		*prev_off = key;
		*prev_hash = r->hash;
	}
}

PG_FUNCTION_INFO_V1(funnel_agg_deserialize);
Datum
funnel_agg_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext  aggcxt;
	StringInfoData buf;
	FaState		  *st;
	int64		   nrows;
	int64		   alen;
	uint64		   prev_off = PG_UINT64_MAX;
	uint32		   prev_hash = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_deserialize called in non-aggregate context");
	lk_read_bytes(&buf, b);
	st = FaRecvHeader(&buf, aggcxt, &nrows, &alen);
	if (alen < 0 || alen > buf.len - buf.cursor || (st->keykind == FA_KEY_INT8 && alen != 0))
		FaCorrupt("key bytes out of range");
	if (nrows < 0 || nrows > FA_MAX_ROWS ||
		nrows * FA_ROW_BYTES != buf.len - buf.cursor - alen)
		FaCorrupt("row count does not match the length");
	if (alen > 0)
	{
		FaArenaReserve(st, alen);
		memcpy(st->arena, pq_getmsgbytes(&buf, alen), alen);
		st->arena_len = alen;
	}
	FaReserve(st, nrows);
	for (int64 s = 0; s < nrows; s += FA_CFI_ROWS)
	{
		int64 end = Min(nrows, s + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		/* the length was checked above: read the rows in place */
		for (int64 i = s; i < end; i++)
			FaRecvRow(st, (const unsigned char *) buf.data + buf.cursor + i * FA_ROW_BYTES,
					  alen, &st->rows[i], &prev_off, &prev_hash);
	}
	st->nrows = nrows;
	PG_RETURN_POINTER(st);
}

/* ---- the final function: partition, group, match, summarize ------------- */

static inline bool
FaKeyEq(const FaState *st, uint64 a, uint64 b)
{
	uint32 la;
	uint32 lb;

	if (a == b)
		return true;
	if (st->keykind == FA_KEY_INT8)
		return false;
	la = ArenaLen(st->arena, a);
	lb = ArenaLen(st->arena, b);
	return la == lb && memcmp(st->arena + a + 4, st->arena + b + 4, la) == 0;
}

/* The rows in partitions by the top bits of their hash. */
typedef struct FaParts
{
	int64  nparts;
	int64 *start;	/* partition q is rows[start[q] .. start[q + 1]) */
	FaRow *rows;	/* the state's own rows, or a partitioned copy */
	int64  maxpart; /* rows in the largest partition */
} FaParts;

/*
 * One counting pass and one scatter into partitions of about FA_PART_ROWS
 * rows, so that each partition's entity table stays in cache.  An entity's
 * rows all land in one partition.
 */
static void
FaPartition(const FaState *st, FaParts *parts)
{
	const FaRow *rows = st->rows;
	int64		 n = st->nrows;
	int			 bits = 0;
	int64		*start;
	int64		*fill;
	FaRow		*out;

	while (bits < 16 && ((int64) FA_PART_ROWS << bits) < n)
		bits++;
	parts->nparts = (int64) 1 << bits;
	parts->start = start = palloc0((parts->nparts + 1) * sizeof(int64));
	parts->rows = st->rows;
	parts->maxpart = n;
	start[1] = n;
	if (bits == 0)
		return;
	start[1] = 0;
	for (int64 b = 0; b < n; b += FA_CFI_ROWS)
	{
		int64 end = Min(n, b + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int64 i = b; i < end; i++)
			start[(rows[i].hash >> (32 - bits)) + 1]++;
	}
	parts->maxpart = 0;
	for (int64 q = 0; q < parts->nparts; q++)
	{
		parts->maxpart = Max(parts->maxpart, start[q + 1]);
		start[q + 1] += start[q];
	}
	fill = palloc(parts->nparts * sizeof(int64));
	memcpy(fill, start, parts->nparts * sizeof(int64));
	parts->rows = out = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(FaRow));
	for (int64 b = 0; b < n; b += FA_CFI_ROWS)
	{
		int64 end = Min(n, b + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int64 i = b; i < end; i++)
			out[fill[rows[i].hash >> (32 - bits)]++] = rows[i];
	}
	pfree(fill);
}

/*
 * Work space for one partition, sized for the largest: an open-addressing
 * table of entities, each row's entity, and the partition's events grouped
 * by entity (entity e's events end at entend[e]).
 *
 * lib/simplehash.h was measured in this place and lost: its Robin Hood
 * insert and 16-byte entries cost 23 more instructions per event (callgrind,
 * funnel_agg over 1M events: 1,293M against 1,270M in all) and 2-3% more CPU
 * time, while this table only ever inserts, with linear probing over int32
 * slots, and is sized for the partition up front.
 */
typedef struct FaGroups
{
	int32		  *table; /* entity + 1, or 0 for a free slot */
	int32		  *rowent;
	int32		  *entrow; /* a row of each entity, for its key */
	int32		  *entend;
	LkFunnelEvent *ev;
	int32		   nents;
} FaGroups;

static void
FaGroupsInit(FaGroups *g, int64 maxpart)
{
	int64 tsize = 16;
	int64 m = Max(maxpart, 1);

	while (tsize < 2 * m)
		tsize *= 2;
	g->table = palloc_extended(tsize * sizeof(int32), MCXT_ALLOC_HUGE);
	g->rowent = palloc_extended(m * sizeof(int32), MCXT_ALLOC_HUGE);
	g->entrow = palloc_extended(m * sizeof(int32), MCXT_ALLOC_HUGE);
	g->entend = palloc_extended((m + 1) * sizeof(int32), MCXT_ALLOC_HUGE);
	g->ev = palloc_extended(m * sizeof(LkFunnelEvent), MCXT_ALLOC_HUGE);
}

/*
 * Numbers the entities of the m rows of one partition: rowent[i] is row i's,
 * entend[e] counts entity e's rows.  Returns the number of entities.
 */
static int32
FaNumberEntities(const FaState *st, const FaRow *r, int32 m, FaGroups *g)
{
	int32 *table = g->table,
		  *rowent = g->rowent,
		  *entrow = g->entrow,
		  *entend = g->entend;
	uint64 tmask = 15;
	int32  ne = 0;

	while (tmask + 1 < 2 * (uint64) m)
		tmask = tmask * 2 + 1;
	memset(table, 0, (tmask + 1) * sizeof(int32));
	for (int64 b = 0; b < m; b += FA_CFI_ROWS)
	{
		int64 end = Min(m, b + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int32 i = (int32) b; i < end; i++)
		{
			/* low bits: the top ones chose the partition */
			uint64 h = r[i].hash & tmask;
			int32  e;

			while ((e = table[h] - 1) >= 0 &&
				   !(r[entrow[e]].hash == r[i].hash && FaKeyEq(st, r[entrow[e]].key, r[i].key)))
				h = (h + 1) & tmask;
			if (e < 0)
			{
				e = ne++;
				table[h] = e + 1;
				entrow[e] = i;
				entend[e] = 0;
			}
			rowent[i] = e;
			entend[e]++;
		}
	}
	return ne;
}

/* Groups the m rows of one partition by entity, into g->ev. */
static void
FaGroup(const FaState *st, const FaRow *r, int32 m, FaGroups *g)
{
	int32 *rowent = g->rowent,
		  *entend = g->entend;
	LkFunnelEvent *ev = g->ev;
	int32		   ne = FaNumberEntities(st, r, m, g);

	/* counts to start positions, then the scatter moves them to the ends */
	for (int32 e = 0, at = 0; e < ne; e++)
	{
		int32 cnt = entend[e];

		entend[e] = at;
		at += cnt;
	}
	for (int64 b = 0; b < m; b += FA_CFI_ROWS)
	{
		int64 end = Min(m, b + FA_CFI_ROWS);

		CHECK_FOR_INTERRUPTS();
		for (int32 i = (int32) b; i < end; i++)
		{
			int32 at = entend[rowent[i]]++;

			ev[at].ts = r[i].ts;
			ev[at].step = r[i].step;
			ev[at].row = (uint32) at; /* one row, one event */
		}
	}
	g->nents = ne;
}

/* What the final function adds up over every entity. */
typedef struct FaTally
{
	LkFunnelParams	p; /* nsteps resolved */
	LkFunnelMatcher matcher;
	int64			entities;
	int64			levels[LK_FUNNEL_MAX_STEPS + 1];
	/* per step, its times to convert: zero ones, and counts by sketch bucket */
	int64 ttc_zero[LK_FUNNEL_MAX_STEPS];
	int64 (*ttc)[LK_SKETCH_MAX_INDEX + 1];
} FaTally;

static void
FaTallyInit(FaTally *t, const FaState *st)
{
	memset(t, 0, sizeof(FaTally));
	t->p = st->p;
	if (t->p.nsteps == 0)
		t->p.nsteps = Max(st->maxstep, 1);
	lk_funnel_matcher_init(&t->matcher, &t->p);
	t->ttc = palloc0(t->p.nsteps * sizeof(*t->ttc));
}

/* One entity: its level, and its times to convert along its best chain. */
static inline void
FaTallyEntity(FaTally *t, int level, const int64 *path)
{
	t->levels[level]++;
	for (int s = 1; s < level; s++)
	{
		int64 d;

		if (__builtin_sub_overflow(path[s], path[s - 1], &d))
			d = PG_INT64_MAX; /* infinite timestamps */
		if (d <= 0)
			t->ttc_zero[s]++;
		else
			t->ttc[s][lk_sketch_index(d)]++;
	}
}

/* Sorts and matches each entity of a grouped partition. */
static void
FaMatch(const FaGroups *g, FaTally *t)
{
	int32 begin = 0;

	for (int32 e = 0; e < g->nents; e++)
	{
		int32 end = g->entend[e];
		int64 path[LK_FUNNEL_MAX_STEPS];
		int	  level;

		if ((e & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		lk_funnel_sort(g->ev + begin, end - begin);
		level = lk_funnel_match(&t->matcher, g->ev + begin, end - begin, path);
		FaTallyEntity(t, level, path);
		begin = end;
	}
	t->entities += g->nents;
}

static FunnelSummary *
FaSummarize(const FaTally *t)
{
	int64	  reached[LK_FUNNEL_MAX_STEPS];
	LkSketch *sk[LK_FUNNEL_MAX_STEPS];
	int64	  below = 0;

	/* reached[k] = entities whose level is at least k + 1 */
	for (int k = t->p.nsteps; k >= 1; k--)
	{
		below += t->levels[k];
		reached[k - 1] = below;
	}
	for (int k = 0; k < t->p.nsteps; k++)
		sk[k] = lk_sketch_from_counts(t->ttc_zero[k], t->ttc[k]);
	return fs_build(t->p.nsteps, t->p.modes, t->p.window, t->entities, reached, sk);
}

PG_FUNCTION_INFO_V1(funnel_agg_final);
Datum
funnel_agg_final(PG_FUNCTION_ARGS)
{
	FaState *st = PG_ARGISNULL(0) ? NULL : (FaState *) PG_GETARG_POINTER(0);
	FaTally	 t;
	FaParts	 parts;
	FaGroups g;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_final called in non-aggregate context");
	if (st == NULL)
		PG_RETURN_NULL();
	/* the state is only read: nodeAgg may call us again (window frames) */
	FaTallyInit(&t, st);
	FaPartition(st, &parts);
	FaGroupsInit(&g, parts.maxpart);
	for (int64 q = 0; q < parts.nparts; q++)
	{
		int32 m = (int32) (parts.start[q + 1] - parts.start[q]);

		if (m == 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		FaGroup(st, parts.rows + parts.start[q], m, &g);
		FaMatch(&g, &t);
	}
	PG_RETURN_POINTER(FaSummarize(&t));
}
