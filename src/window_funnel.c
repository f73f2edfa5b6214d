/*
 * window_funnel.c: the ClickHouse-compatible window_funnel aggregate, the
 * level one entity reached through an ordered funnel.
 *
 * The state is `internal`: a growable array of 16-byte events in the
 * aggregate context.  A varlena state would be copied on every parallel
 * combine and could not grow in place, while an entity's history is
 * unbounded; serialize/deserialize give the parallel plan its wire form.
 */
#include "funnel_match.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define WF_VERSION 1

/* Memory per event: the state's, and the final function's sorted copy. */
#define WF_BYTES_PER_EVENT (2 * sizeof(LkFunnelEvent))

/* Loops over events check for interrupts once per this many events. */
#define WF_CFI_EVENTS 65536

typedef struct WfState
{
	LkFunnelParams p;
	bool		   check_args; /* window or modes not constant: compare */
	uint32		   nrows;	   /* rows seen: the next row id */
	int64		   n;		   /* events used */
	int64		   cap;		   /* events allocated */
	LkFunnelEvent *ev;
} WfState;

static WfState *
WfNew(MemoryContext cxt, const LkFunnelParams *p)
{
	WfState *st = MemoryContextAllocZero(cxt, sizeof(WfState));

	st->p = *p;
	st->cap = 4;
	st->ev = MemoryContextAlloc(cxt, st->cap * sizeof(LkFunnelEvent));
	return st;
}

/*
 * Makes room for `more` events; the array lives in the state's context.  It
 * grows by doubling, but never past leadkpi.funnel_memory_limit.
 */
static void
WfGrow(WfState *st, int64 need)
{
	int64 cap = st->cap;
	int64 fit = (int64) (((Size) lk_funnel_memory_limit * 1024) / WF_BYTES_PER_EVENT);

	lk_check_funnel_memory("window_funnel", need * WF_BYTES_PER_EVENT, need);
	while (cap < need)
		cap *= 2;
	st->cap = Min(cap, Max(fit, need));
	st->ev = repalloc_huge(st->ev, st->cap * sizeof(LkFunnelEvent));
}

static inline void
WfReserve(WfState *st, int64 more)
{
	if (unlikely(st->n + more > st->cap))
		WfGrow(st, st->n + more);
}

/* Reads the window and the modes of the current row. */
static void
WfParams(FunctionCallInfo fcinfo, int nsteps, bool with_modes, LkFunnelParams *p)
{
	Oid wtype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_funnel: the window must not be null")));
	if (wtype == INTERVALOID)
		p->window = lk_funnel_window_usec(PG_GETARG_INTERVAL_P(1), "window_funnel");
	else
	{
		p->window = PG_GETARG_INT64(1);
		if (p->window < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("window_funnel: the funnel window must not be negative")));
	}
	p->modes = 0;
	if (with_modes && !PG_ARGISNULL(2))
	{
		text *m = PG_GETARG_TEXT_PP(2);

		p->modes = lk_funnel_parse_modes(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m));
	}
	lk_funnel_check_nsteps(nsteps, "window_funnel");
	p->nsteps = nsteps;
}

/*
 * The state, new on a group's first row; on later rows, the step count and,
 * unless they are constants, the window and modes must be the first row's.
 */
static WfState *
WfStateFor(FunctionCallInfo fcinfo, WfState *st, int nsteps, bool with_modes)
{
	MemoryContext  aggcxt;
	LkFunnelParams p;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "window_funnel_accum called in non-aggregate context");
	if (st == NULL)
	{
		WfParams(fcinfo, nsteps, with_modes, &p);
		st = WfNew(aggcxt, &p);
		st->check_args = !lk_agg_args_const(fcinfo, 0, with_modes ? 1 : 0);
		return st;
	}
	if (nsteps != st->p.nsteps)
		lk_funnel_args_differ("window_funnel", "number of steps");
	if (st->check_args)
	{
		WfParams(fcinfo, nsteps, with_modes, &p);
		if (p.window != st->p.window || p.modes != st->p.modes)
			lk_funnel_args_differ("window_funnel", "window and modes");
	}
	return st;
}

/*
 * The steps a row satisfies, 1-based, into steps[]; returns how many.  A
 * null condition counts as false.
 */
static int
WfRowSteps(ArrayType *arr, int nsteps, int32 *steps)
{
	const bool	*vals;
	const bits8 *nulls = ARR_NULLBITMAP(arr);
	int			 di = 0; /* data index: nulls take no space */
	int			 k = 0;

	/*
	 * bool elements are 1 byte with no padding: read them in place.  The
	 * macro mixes int32 and size_t in a ?:, which -Wextra flags.
	 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
	vals = (const bool *) ARR_DATA_PTR(arr);
#pragma GCC diagnostic pop

	for (int i = 0; i < nsteps; i++)
	{
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			continue;
		if (vals[di++])
			steps[k++] = i + 1;
	}
	return k;
}

/*
 * window_funnel_accum(state, window, [modes,] ts, steps boolean[]): one row.
 * A row with a null timestamp or a null step array is ignored.
 */
PG_FUNCTION_INFO_V1(window_funnel_accum);
Datum
window_funnel_accum(PG_FUNCTION_ARGS)
{
	WfState	  *st = PG_ARGISNULL(0) ? NULL : (WfState *) PG_GETARG_POINTER(0);
	bool	   with_modes = (PG_NARGS() == 5);
	int		   tsarg = with_modes ? 3 : 2;
	int		   steparg = tsarg + 1;
	ArrayType *arr;
	int		   nsteps;
	int32	   steps[LK_FUNNEL_MAX_STEPS];
	int		   k;
	int64	   ts;

	if (PG_ARGISNULL(steparg))
	{
		/* no state yet: stay SQL NULL, never a NULL pointer posing as one */
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	arr = PG_GETARG_ARRAYTYPE_P(steparg);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_funnel: the steps must be a one-dimensional boolean array")));
	nsteps = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	st = WfStateFor(fcinfo, st, nsteps, with_modes);
	if (PG_ARGISNULL(tsarg))
		PG_RETURN_POINTER(st);
	ts = PG_GETARG_INT64(tsarg);

	if (st->nrows == PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("window_funnel: more than 4294967294 rows in one group")));

	k = WfRowSteps(arr, nsteps, steps);
	if (k == 0 && (st->p.modes & LK_FM_STRICT_ORDER))
		steps[k++] = 0; /* a row matching no step stops strict_order */
	WfReserve(st, k);
	for (int i = 0; i < k; i++)
	{
		LkFunnelEvent *e = &st->ev[st->n++];

		e->ts = ts;
		e->row = st->nrows;
		e->step = steps[i];
	}
	st->nrows++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(window_funnel_combine);
Datum
window_funnel_combine(PG_FUNCTION_ARGS)
{
	WfState *a;
	WfState *b;

	/* b, ours, is adopted when a is missing, and freed once copied */
	if (!lk_combine_states(fcinfo, "window_funnel_combine", (void **) &a, (void **) &b))
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a->p.nsteps != b->p.nsteps || a->p.window != b->p.window ||
		a->p.modes != b->p.modes)
		lk_funnel_args_differ("window_funnel", "window, modes and number of steps");
	if ((uint64) a->nrows + b->nrows >= PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("window_funnel: more than 4294967294 rows in one group")));
	WfReserve(a, b->n);
	/* b's row ids follow a's, so rows stay distinct for strict_once */
	for (int64 i = 0; i < b->n; i++)
	{
		LkFunnelEvent *e = &a->ev[a->n++];

		if ((i & (WF_CFI_EVENTS - 1)) == WF_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		*e = b->ev[i];
		e->row += a->nrows;
	}
	a->nrows += b->nrows;
	pfree(b->ev);
	b->ev = NULL;
	b->n = b->cap = 0;
	PG_RETURN_POINTER(a);
}

/*
 * Wire form: version, nsteps, modes, window, rows seen, event count, then
 * per event its ts, row and step (13 bytes).
 */
#define WF_HEADER_BYTES (1 + 1 + 4 + 8 + 4 + 8)
#define WF_EVENT_BYTES 13

PG_FUNCTION_INFO_V1(window_funnel_serialize);
Datum
window_funnel_serialize(PG_FUNCTION_ARGS)
{
	WfState		  *st = (WfState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "window_funnel_serialize called in non-aggregate context");
	if (st->n >= (int64) (MaxAllocSize - VARHDRSZ - WF_HEADER_BYTES - 1) / WF_EVENT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("window_funnel: a partial state of a parallel worker exceeds 1 GB"),
				 errhint("Disable parallel aggregation for this query, or split the group.")));
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, (int) (WF_HEADER_BYTES + st->n * WF_EVENT_BYTES));
	pq_sendbyte(&buf, WF_VERSION);
	pq_sendbyte(&buf, st->p.nsteps);
	pq_sendint32(&buf, st->p.modes);
	pq_sendint64(&buf, st->p.window);
	pq_sendint32(&buf, st->nrows);
	pq_sendint64(&buf, st->n);
	for (int64 i = 0; i < st->n; i++)
	{
		if ((i & (WF_CFI_EVENTS - 1)) == WF_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		pq_sendint64(&buf, st->ev[i].ts);
		pq_sendint32(&buf, st->ev[i].row);
		pq_sendbyte(&buf, st->ev[i].step);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
WfCorrupt(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid window_funnel state: %s", msg)));
}

PG_FUNCTION_INFO_V1(window_funnel_deserialize);
Datum
window_funnel_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext  aggcxt;
	StringInfoData buf;
	LkFunnelParams p;
	WfState		  *st;
	uint32		   nrows;
	int64		   n;
	const char	  *msg;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "window_funnel_deserialize called in non-aggregate context");
	lk_read_bytes(&buf, b);

	if (buf.len < WF_HEADER_BYTES)
		WfCorrupt("truncated header");
	if (pq_getmsgbyte(&buf) != WF_VERSION)
		WfCorrupt("unknown version");
	p.nsteps = pq_getmsgbyte(&buf);
	if (p.nsteps < 1 || p.nsteps > LK_FUNNEL_MAX_STEPS)
		WfCorrupt("step count out of range");
	p.modes = pq_getmsgint(&buf, 4);
	if ((msg = lk_funnel_modes_check(p.modes)) != NULL)
		WfCorrupt(msg);
	p.window = pq_getmsgint64(&buf);
	if (p.window < 0)
		WfCorrupt("negative window");
	nrows = pq_getmsgint(&buf, 4);
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (int64) (buf.len - buf.cursor) / WF_EVENT_BYTES ||
		(int64) (buf.len - buf.cursor) != n * WF_EVENT_BYTES)
		WfCorrupt("event count does not match the length");
	st = WfNew(aggcxt, &p);
	st->nrows = nrows;
	WfReserve(st, n);
	for (int64 i = 0; i < n; i++)
	{
		LkFunnelEvent *e = &st->ev[i];

		if ((i & (WF_CFI_EVENTS - 1)) == WF_CFI_EVENTS - 1)
			CHECK_FOR_INTERRUPTS();
		e->ts = pq_getmsgint64(&buf);
		e->row = pq_getmsgint(&buf, 4);
		e->step = pq_getmsgbyte(&buf);
		if (e->step > p.nsteps || e->row >= nrows)
			WfCorrupt("event out of range");
	}
	st->n = n;
	PG_RETURN_POINTER(st);
}

/*
 * The aggregate is declared FINALFUNC_MODIFY = READ_ONLY (the default), which
 * it must stay to be usable as a window function, where nodeWindowAgg calls
 * the final function again as rows are added.  So the state is never
 * changed here: unsorted events are sorted in a copy, in the final
 * function's memory context (WF_BYTES_PER_EVENT counts it).
 */
PG_FUNCTION_INFO_V1(window_funnel_final);
Datum
window_funnel_final(PG_FUNCTION_ARGS)
{
	WfState		   *st = PG_ARGISNULL(0) ? NULL : (WfState *) PG_GETARG_POINTER(0);
	LkFunnelEvent  *ev;
	LkFunnelMatcher m;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "window_funnel_final called in non-aggregate context");
	if (st == NULL)
		PG_RETURN_INT32(0);
	ev = st->ev;
	if (!lk_funnel_sorted(ev, st->n))
	{
		ev = palloc_extended(st->n * sizeof(LkFunnelEvent), MCXT_ALLOC_HUGE);
		memcpy(ev, st->ev, st->n * sizeof(LkFunnelEvent));
		lk_funnel_sort(ev, st->n);
	}
	lk_funnel_matcher_init(&m, &st->p);
	PG_RETURN_INT32(lk_funnel_match(&m, ev, st->n, NULL));
}
