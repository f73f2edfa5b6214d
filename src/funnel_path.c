/*
 * funnel_path.c: the funnel in two levels.  funnel_path, an aggregate per
 * entity (GROUP BY the entity), returns the times at which the entity
 * reached each step along the chain that gave it its level; funnel_agg over
 * those paths builds the funnel_summary that funnel_agg over the same
 * entities' events builds, exactly.
 *
 * Why: funnel_agg over events needs all the events of every entity in one
 * state, so on Citus it gathers every event on the coordinator.  Grouped by
 * the entity (the distribution column), funnel_path runs whole on the
 * workers, and funnel_agg over paths keeps a real state type (the summary
 * itself, with a combine function), which Citus and PostgreSQL's parallel
 * plans aggregate partially: one row per shard and group crosses the wire.
 *
 * funnel_path's state is `internal`, like window_funnel's: an entity's
 * events, matched by the shared matcher (funnel_match.c) in the final
 * function, so its level is window_funnel's and its path is the one
 * funnel_agg over events times, by construction.
 */
#include "funnel_summary.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* the partial state's wire form */
#define FP_VERSION 1

/* events kept in the state itself: CRM leads have a handful */
#define FP_INLINE 4

/* Memory per event: the state's, and the final function's sorted copy. */
#define FP_BYTES_PER_EVENT (2 * sizeof(LkFunnelEvent))

/* Loops over events check for interrupts once per this many events. */
#define FP_CFI_EVENTS 65536

/*
 * What one funnel_path call of a query knows before any group: whether its
 * window, modes and nsteps or stages are constants, and then their values,
 * parsed once (a query has as many groups as entities).  In the transition
 * function's fn_extra.
 */
typedef struct FpQuery
{
	bool		   consts;
	bool		   parsed;
	LkFunnelParams p;
	LkFunnelStages stages;
} FpQuery;

/* One entity: 120 bytes with its first FP_INLINE events. */
typedef struct FpState
{
	LkFunnelParams		  p;
	bool				  check_args; /* not constants: each row's are compared */
	bool				  seen;		  /* a row with a timestamp: the entity exists */
	bool				  own_stages; /* stages is this state's (check_args) */
	const LkFunnelStages *stages;	  /* the names, for funnel_path with stages */
	int64				  n;		  /* events; event i is row i */
	int64				  cap;
	LkFunnelEvent		 *ev; /* first, or an array in the state's context */
	LkFunnelEvent		  first[FP_INLINE];
} FpState;

/* ---- arguments -------------------------------------------------------------- */

/*
 * A row's window, modes and nsteps (funnel_path(ts, step, window, modes,
 * nsteps): arguments 3..5), or stages, window and modes (funnel_path(ts,
 * stage, stages, window [, modes]): 3..4 or 5); *arr gets the stages.
 */
static void
FpRowParams(FunctionCallInfo fcinfo, bool with_stages, LkFunnelParams *p, ArrayType **arr)
{
	*arr = NULL;
	if (!with_stages)
	{
		lk_funnel_window_modes_arg(fcinfo, 3, p, "funnel_path");
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_path: nsteps must not be null"),
					 errhint("Pass the number of steps of the funnel, as funnel_agg over the paths will.")));
		lk_funnel_check_nsteps(PG_GETARG_INT32(5), "funnel_path");
		p->nsteps = PG_GETARG_INT32(5);
		return;
	}
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_path: the stages and the window must not be null"),
				 errhint("Pass the stages in funnel order and the conversion window, e.g. ARRAY['lead', 'mql', 'sql'], interval '90 days'.")));
	*arr = PG_GETARG_ARRAYTYPE_P(3);
	if (ARR_NDIM(*arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_path: stages must be a one-dimensional array"),
				 errhint("List the stages in funnel order, e.g. ARRAY['lead', 'mql', 'sql'].")));
	lk_funnel_window_modes_arg(fcinfo, 4, p, "funnel_path");
}

/* The query's FpQuery; with constants, their values parsed from this row. */
static FpQuery *
FpQueryFor(FunctionCallInfo fcinfo, bool with_stages)
{
	FmgrInfo *fl = fcinfo->flinfo;
	FpQuery	 *q = (FpQuery *) fl->fn_extra;

	if (q == NULL)
	{
		q = MemoryContextAllocZero(fl->fn_mcxt, sizeof(FpQuery));
		q->consts = lk_agg_args_const_uncached(fcinfo, 2, PG_NARGS() - 2);
		fl->fn_extra = q;
	}
	if (q->consts && !q->parsed)
	{
		ArrayType *arr;

		FpRowParams(fcinfo, with_stages, &q->p, &arr);
		if (with_stages)
		{
			lk_funnel_stages_set(&q->stages, arr, fl->fn_mcxt, "funnel_path");
			q->p.nsteps = q->stages.n;
		}
		q->parsed = true;
	}
	return q;
}

/* ---- the state -------------------------------------------------------------- */

static FpState *
FpNew(MemoryContext cxt)
{
	FpState *st = MemoryContextAlloc(cxt, sizeof(FpState));

	memset(st, 0, offsetof(FpState, first));
	st->ev = st->first;
	st->cap = FP_INLINE;
	return st;
}

/*
 * Room for `need` events in all: the array doubles, in the state's own
 * memory context, never past leadkpi.funnel_memory_limit.
 */
static pg_noinline void
FpGrow(FpState *st, int64 need)
{
	int64		   cap = st->cap;
	int64		   fit = (int64) (((Size) lk_funnel_memory_limit * 1024) / FP_BYTES_PER_EVENT);
	LkFunnelEvent *ev;

	if (need >= (int64) PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_path: more than 4294967294 rows in one group")));
	lk_check_funnel_memory("funnel_path", need * FP_BYTES_PER_EVENT, need);
	while (cap < need)
		cap *= 2;
	cap = Min(cap, Max(fit, need));
	ev = MemoryContextAllocHuge(GetMemoryChunkContext(st), cap * sizeof(LkFunnelEvent));
	memcpy(ev, st->ev, st->n * sizeof(LkFunnelEvent));
	if (st->ev != st->first)
		pfree(st->ev);
	st->ev = ev;
	st->cap = cap;
}

/*
 * One row with a timestamp.  A row that matches no step matters only to
 * strict_order, where it stops the scan, and is kept only then (as
 * window_funnel does); it still makes the entity exist.
 */
static inline void
FpAdd(FpState *st, int64 ts, int32 step)
{
	LkFunnelEvent *e;

	st->seen = true;
	if (step == 0 && !(st->p.modes & LK_FM_STRICT_ORDER))
		return;
	if (unlikely(st->n >= st->cap))
		FpGrow(st, st->n + 1);
	e = &st->ev[st->n];
	e->ts = ts;
	e->row = (uint32) st->n;
	e->step = step;
	st->n++;
}

/*
 * A group's first row makes its state: with constant arguments, from the
 * query's values; otherwise from this row's, which every later row must
 * repeat (compared here).
 */
static pg_noinline FpState *
FpStateNewOrCheck(FunctionCallInfo fcinfo, FpState *st, MemoryContext aggcxt, bool with_stages)
{
	FpQuery		  *q = FpQueryFor(fcinfo, with_stages);
	LkFunnelParams p;
	ArrayType	  *arr;

	if (st == NULL && q->consts)
	{
		st = FpNew(aggcxt);
		st->p = q->p;
		st->stages = &q->stages;
		return st;
	}
	FpRowParams(fcinfo, with_stages, &p, &arr);
	if (st == NULL)
	{
		st = FpNew(aggcxt);
		st->p = p;
		st->check_args = true;
		if (with_stages)
		{
			LkFunnelStages *s = MemoryContextAlloc(aggcxt, sizeof(LkFunnelStages));

			lk_funnel_stages_set(s, arr, aggcxt, "funnel_path");
			st->p.nsteps = s->n;
			st->stages = s;
			st->own_stages = true;
		}
	}
	else if (p.window != st->p.window || p.modes != st->p.modes ||
			 (with_stages ? !lk_funnel_stages_same(st->stages, arr) : p.nsteps != st->p.nsteps))
		lk_funnel_args_differ("funnel_path", with_stages ? "window, modes and stages" : "window, modes and nsteps");
	return st;
}

static inline FpState *
FpStateFor(FunctionCallInfo fcinfo, bool with_stages)
{
	MemoryContext aggcxt;
	FpState		 *st = PG_ARGISNULL(0) ? NULL : (FpState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_path called in non-aggregate context");
	if (likely(st != NULL && !st->check_args))
		return st;
	return FpStateNewOrCheck(fcinfo, st, aggcxt, with_stages);
}

/*
 * funnel_path_accum(state, ts, step, window, modes, nsteps).  A row with a
 * null ts is ignored; a null or 0 step is a row that matched no step.
 */
PG_FUNCTION_INFO_V1(funnel_path_accum);
Datum
funnel_path_accum(PG_FUNCTION_ARGS)
{
	FpState *st = FpStateFor(fcinfo, false);
	int32	 step;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);
	step = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	if (step < 0 || step > st->p.nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_path: step %d is outside 1..%d", step, st->p.nsteps),
				 errhint("Steps are 1-based; map stage names with array_position(), whose NULL means no step.")));
	FpAdd(st, PG_GETARG_INT64(1), step);
	PG_RETURN_POINTER(st);
}

/*
 * funnel_path_stage_accum(state, ts, stage, stages, window [, modes]): step
 * k is stages[k]; a stage outside them, or NULL, matches no step.
 */
PG_FUNCTION_INFO_V1(funnel_path_stage_accum);
Datum
funnel_path_stage_accum(PG_FUNCTION_ARGS)
{
	FpState *st = FpStateFor(fcinfo, true);
	int32	 step = 0;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);
	if (!PG_ARGISNULL(2))
	{
		text *stage = PG_GETARG_TEXT_PP(2);

		step = lk_funnel_stage_step(st->stages, VARDATA_ANY(stage), VARSIZE_ANY_EXHDR(stage));
	}
	FpAdd(st, PG_GETARG_INT64(1), step);
	PG_RETURN_POINTER(st);
}

/* ---- combine, serialize, deserialize ---------------------------------------- */

PG_FUNCTION_INFO_V1(funnel_path_combine);
Datum
funnel_path_combine(PG_FUNCTION_ARGS)
{
	FpState *a;
	FpState *b;

	/* b, from our deserialize function, is adopted when a is missing */
	if (!lk_combine_states(fcinfo, "funnel_path_combine", (void **) &a, (void **) &b))
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a->p.nsteps != b->p.nsteps || a->p.window != b->p.window || a->p.modes != b->p.modes ||
		(a->own_stages && b->own_stages && !lk_funnel_stages_equal(a->stages, b->stages)))
		lk_funnel_args_differ("funnel_path", "window, modes and nsteps or stages");
	if (a->n + b->n > a->cap)
		FpGrow(a, a->n + b->n);
	/* b's rows follow a's, so rows stay distinct for strict_once */
	for (int64 i = 0; i < b->n; i++)
	{
		LkFunnelEvent *e = &a->ev[a->n + i];

		if ((i & (FP_CFI_EVENTS - 1)) == FP_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		*e = b->ev[i];
		e->row = (uint32) (a->n + i);
	}
	a->n += b->n;
	a->seen = a->seen || b->seen;
	PG_RETURN_POINTER(a);
}

/*
 * Wire form: version, nsteps, modes, window, seen, the stage names when
 * they are the state's own (else a count of 0), the event count, then per
 * event its ts and step (9 bytes; rows are positions).
 */
#define FP_HEADER_BYTES (1 + 1 + 4 + 8 + 1)
#define FP_EVENT_BYTES 9

PG_FUNCTION_INFO_V1(funnel_path_serialize);
Datum
funnel_path_serialize(PG_FUNCTION_ARGS)
{
	FpState		  *st = (FpState *) PG_GETARG_POINTER(0);
	LkFunnelStages none = { 0 };
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_path_serialize called in non-aggregate context");
	if (st->n >= (int64) (MaxAllocSize / 2) / FP_EVENT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_path: a partial state of a parallel worker exceeds 1 GB"),
				 errhint("Disable parallel aggregation for this query, or split the group.")));
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, FP_VERSION);
	pq_sendbyte(&buf, st->p.nsteps);
	pq_sendint32(&buf, st->p.modes);
	pq_sendint64(&buf, st->p.window);
	pq_sendbyte(&buf, st->seen);
	lk_funnel_stages_send(&buf, st->own_stages ? st->stages : &none);
	pq_sendint64(&buf, st->n);
	enlargeStringInfo(&buf, (int) (st->n * FP_EVENT_BYTES));
	for (int64 i = 0; i < st->n; i++)
	{
		if ((i & (FP_CFI_EVENTS - 1)) == FP_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		pq_sendint64(&buf, st->ev[i].ts);
		pq_sendbyte(&buf, st->ev[i].step);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

pg_noreturn static void
FpCorrupt(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid funnel_path state: %s", msg)));
}

PG_FUNCTION_INFO_V1(funnel_path_deserialize);
Datum
funnel_path_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext  aggcxt;
	StringInfoData buf;
	FpState		  *st;
	LkFunnelStages stages;
	int64		   n;
	const char	  *msg;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_path_deserialize called in non-aggregate context");
	lk_read_bytes(&buf, b);
	if (buf.len < FP_HEADER_BYTES)
		FpCorrupt("truncated header");
	if (pq_getmsgbyte(&buf) != FP_VERSION)
		FpCorrupt("unknown version");
	st = FpNew(aggcxt);
	st->p.nsteps = pq_getmsgbyte(&buf);
	st->p.modes = pq_getmsgint(&buf, 4);
	st->p.window = pq_getmsgint64(&buf);
	st->seen = pq_getmsgbyte(&buf) != 0;
	if (st->p.nsteps < 1 || st->p.nsteps > LK_FUNNEL_MAX_STEPS || st->p.window < 0)
		FpCorrupt("header field out of range");
	if ((msg = lk_funnel_modes_check(st->p.modes)) != NULL)
		FpCorrupt(msg);
	if ((msg = lk_funnel_stages_recv(&buf, &stages, aggcxt)) != NULL)
		FpCorrupt(msg);
	if (stages.n != 0)
	{
		LkFunnelStages *s = MemoryContextAlloc(aggcxt, sizeof(LkFunnelStages));

		if (stages.n != st->p.nsteps)
			FpCorrupt("stage count out of range");
		*s = stages;
		st->stages = s;
		st->own_stages = true;
	}
	if (buf.len - buf.cursor < 8)
		FpCorrupt("truncated event count");
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (int64) (buf.len - buf.cursor) / FP_EVENT_BYTES ||
		(int64) (buf.len - buf.cursor) != n * FP_EVENT_BYTES)
		FpCorrupt("event count does not match the length");
	if (n > st->cap)
		FpGrow(st, n);
	for (int64 i = 0; i < n; i++)
	{
		LkFunnelEvent *e = &st->ev[i];

		if ((i & (FP_CFI_EVENTS - 1)) == FP_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		e->ts = pq_getmsgint64(&buf);
		e->step = pq_getmsgbyte(&buf);
		e->row = (uint32) i;
		if (e->step > st->p.nsteps || (e->step == 0 && !(st->p.modes & LK_FM_STRICT_ORDER)))
			FpCorrupt("event out of range");
	}
	st->n = n;
	if (n > 0 && !st->seen)
		FpCorrupt("events in a state that saw no row");
	PG_RETURN_POINTER(st);
}

/* ---- the final function: the path ------------------------------------------- */

/*
 * The matcher of the query's groups, kept in the final function's fn_extra:
 * strict_once's scratch memory would otherwise be allocated per entity.  It
 * is set up again, in its own context, when a group's parameters differ.
 */
typedef struct FpMatch
{
	MemoryContext	cxt;
	bool			ready;
	LkFunnelMatcher m;
} FpMatch;

static LkFunnelMatcher *
FpMatcherFor(FunctionCallInfo fcinfo, const LkFunnelParams *p)
{
	FmgrInfo *fl = fcinfo->flinfo;
	FpMatch	 *fm = (FpMatch *) fl->fn_extra;

	if (fm == NULL)
	{
		fm = MemoryContextAllocZero(fl->fn_mcxt, sizeof(FpMatch));
		fm->cxt = AllocSetContextCreate(fl->fn_mcxt, "funnel_path matcher", ALLOCSET_SMALL_SIZES);
		fl->fn_extra = fm;
	}
	if (!fm->ready || fm->m.p.nsteps != p->nsteps || fm->m.p.modes != p->modes ||
		fm->m.p.window != p->window)
	{
		MemoryContext old;

		MemoryContextReset(fm->cxt);
		old = MemoryContextSwitchTo(fm->cxt);
		lk_funnel_matcher_init(&fm->m, p);
		MemoryContextSwitchTo(old);
		fm->ready = true;
	}
	return &fm->m;
}

/*
 * funnel_path_final(state): the times of steps 1..level of the entity's
 * best chain; '{}' when it never reached step 1; NULL when it had no row
 * with a timestamp.  The state is only read (the aggregate also works as a
 * window function): unsorted events are sorted in a copy, which
 * FP_BYTES_PER_EVENT counts.
 */
PG_FUNCTION_INFO_V1(funnel_path_final);
Datum
funnel_path_final(PG_FUNCTION_ARGS)
{
	FpState		  *st = PG_ARGISNULL(0) ? NULL : (FpState *) PG_GETARG_POINTER(0);
	LkFunnelEvent *ev;
	int64		   path[LK_FUNNEL_MAX_STEPS];
	Datum		   elems[LK_FUNNEL_MAX_STEPS];
	int			   level;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_path_final called in non-aggregate context");
	if (st == NULL || !st->seen)
		PG_RETURN_NULL();
	ev = st->ev;
	if (!lk_funnel_sorted(ev, st->n))
	{
		ev = palloc_extended(st->n * sizeof(LkFunnelEvent), MCXT_ALLOC_HUGE);
		memcpy(ev, st->ev, st->n * sizeof(LkFunnelEvent));
		lk_funnel_sort(ev, st->n);
	}
	level = lk_funnel_match(FpMatcherFor(fcinfo, &st->p), ev, st->n, path);
	if (level == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TIMESTAMPTZOID));
	for (int k = 0; k < level; k++)
		elems[k] = TimestampTzGetDatum(path[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, level, TIMESTAMPTZOID, sizeof(TimestampTz),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- funnel_agg over paths -------------------------------------------------- */

/*
 * Reads one path into path[] and checks what every path funnel_path
 * returns satisfies: one dimension, no nulls, at most nsteps times, never
 * decreasing (increasing under strict_increase), and every step within
 * the window of step 1.  Returns its length, the entity's level.
 */
static int
FpReadPath(ArrayType *arr, const FunnelSummary *fs, int64 *path)
{
	int n;

	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: a path must be a one-dimensional array without nulls"),
				 errhint("Pass the paths funnel_path() returns, one per entity.")));
	n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	if (n > fs->nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: a path of %d steps is longer than the funnel's %d steps", n, fs->nsteps),
				 errhint("Pass the nsteps of funnel_path(), or the number of its stages.")));
	/* no nulls: the data follows the header (ARR_DATA_PTR's ?: trips -Wextra) */
	memcpy(path, (const char *) arr + ARR_OVERHEAD_NONULLS(ARR_NDIM(arr)), n * sizeof(int64));
	for (int k = 1; k < n; k++)
	{
		if (path[k] < path[k - 1] ||
			(path[k] == path[k - 1] && (fs->modes & LK_FM_STRICT_INCREASE)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: step %d of a path is %s step %d", k + 1,
							(fs->modes & LK_FM_STRICT_INCREASE) ? "not after" : "before", k),
					 errhint("Pass the paths funnel_path() returns, with the same modes.")));
	}
	if (n > 1 && (int128) path[n - 1] > (int128) path[0] + fs->window)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: step %d of a path is outside the window after step 1", n),
				 errhint("Pass the paths funnel_path() returns, with the same window.")));
	return n;
}

/*
 * funnel_agg_path_accum(state, path, nsteps, window [, modes]): one entity.
 * The state is the summary itself, updated in place (fs_add_entity); a
 * null path is no entity.  The state exists from the first row on, as
 * funnel_agg over events makes one from its first row: a group whose
 * entities all lack a timestamp is a summary of 0 entities in both.
 */
PG_FUNCTION_INFO_V1(funnel_agg_path_accum);
Datum
funnel_agg_path_accum(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_ARGISNULL(0) ? NULL : (FunnelSummary *) PG_GETARG_POINTER(0);
	int64		   path[LK_FUNNEL_MAX_STEPS];
	int			   level;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_agg_path_accum called in non-aggregate context");
	if (fs == NULL || !lk_agg_args_const(fcinfo, 1, PG_NARGS() - 2))
	{
		LkFunnelParams p;

		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel_agg: nsteps must not be null"),
					 errhint("Pass the nsteps of funnel_path(), or the number of its stages.")));
		lk_funnel_check_nsteps(PG_GETARG_INT32(2), "funnel_agg");
		p.nsteps = PG_GETARG_INT32(2);
		lk_funnel_window_modes_arg(fcinfo, 3, &p, "funnel_agg");
		if (fs == NULL)
		{
			int64 zeros[LK_FUNNEL_MAX_STEPS] = { 0 };

			/* nodeAgg copies this first state into the aggregate context */
			fs = fs_build(p.nsteps, p.modes, p.window, 0, zeros, NULL);
		}
		else if (fs->nsteps != p.nsteps || fs->window != p.window || fs->modes != p.modes)
			lk_funnel_args_differ("funnel_agg", "window, modes and nsteps");
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(fs);
	level = FpReadPath(PG_GETARG_ARRAYTYPE_P(1), fs, path);
	PG_RETURN_POINTER(fs_add_entity(fs, level, path));
}

/* funnel_agg_path_final(state): the summary without spare sketch capacity. */
PG_FUNCTION_INFO_V1(funnel_agg_path_final);
Datum
funnel_agg_path_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(fs_compact(PG_GETARG_FS(0)));
}
