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

typedef struct WfState
{
	LkFunnelParams p;
	uint32		nrows;			/* rows seen: the next row id */
	int64		n;				/* events used */
	int64		cap;			/* events allocated */
	LkFunnelEvent *ev;
} WfState;

static WfState *
WfNew(MemoryContext cxt, const LkFunnelParams *p)
{
	WfState    *st = MemoryContextAllocZero(cxt, sizeof(WfState));

	st->p = *p;
	st->cap = 4;
	st->ev = MemoryContextAlloc(cxt, st->cap * sizeof(LkFunnelEvent));
	return st;
}

/* Makes room for `more` events; the array lives in the state's context. */
static void
WfReserve(WfState *st, int64 more)
{
	int64		need = st->n + more;

	if (need <= st->cap)
		return;
	while (st->cap < need)
		st->cap *= 2;
	st->ev = repalloc_huge(st->ev, st->cap * sizeof(LkFunnelEvent));
}

/* Reads window and modes from the first row's arguments. */
static void
WfParams(FunctionCallInfo fcinfo, int nsteps, bool with_modes, LkFunnelParams *p)
{
	Oid			wtype = get_fn_expr_argtype(fcinfo->flinfo, 1);

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
		text	   *m = PG_GETARG_TEXT_PP(2);

		p->modes = lk_funnel_parse_modes(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m));
	}
	lk_funnel_check_nsteps(nsteps, "window_funnel");
	p->nsteps = nsteps;
}

/*
 * window_funnel_accum(state, window, [modes,] ts, steps boolean[]): one row.
 * A row with a null timestamp or a null step array is ignored.
 */
PG_FUNCTION_INFO_V1(window_funnel_accum);
Datum
window_funnel_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	WfState    *st = PG_ARGISNULL(0) ? NULL : (WfState *) PG_GETARG_POINTER(0);
	bool		with_modes = (PG_NARGS() == 5);
	int			tsarg = with_modes ? 3 : 2;
	int			steparg = tsarg + 1;
	ArrayType  *arr;
	int			nsteps;
	int64		ts;
	bits8	   *nulls;
	bool	   *vals;
	bool		any = false;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "window_funnel_accum called in non-aggregate context");

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

	if (st == NULL)
	{
		LkFunnelParams p;

		WfParams(fcinfo, nsteps, with_modes, &p);
		st = WfNew(aggcxt, &p);
	}
	else if (nsteps != st->p.nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_funnel: every row must have the same number of steps")));

	if (PG_ARGISNULL(tsarg))
		PG_RETURN_POINTER(st);
	ts = PG_GETARG_INT64(tsarg);

	if (st->nrows == PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("window_funnel: more than 4294967294 rows in one group")));

	WfReserve(st, nsteps);
	/* bool elements are 1 byte with no padding (ARR_DATA_PTR, sign-clean) */
	vals = (bool *) ((char *) arr + (ARR_HASNULL(arr) ? (Size) arr->dataoffset :
									 (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(arr))));
	nulls = ARR_NULLBITMAP(arr);
	{
		int			di = 0;		/* data index: nulls take no space */

		for (int i = 0; i < nsteps; i++)
		{
			bool		v;

			if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
				continue;		/* a null condition counts as false */
			v = vals[di++];
			if (v)
			{
				LkFunnelEvent *e = &st->ev[st->n++];

				e->ts = ts;
				e->row = st->nrows;
				e->step = i + 1;
				any = true;
			}
		}
	}
	if (!any && (st->p.modes & LK_FM_STRICT_ORDER))
	{
		LkFunnelEvent *e = &st->ev[st->n++];

		e->ts = ts;
		e->row = st->nrows;
		e->step = 0;
	}
	st->nrows++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(window_funnel_combine);
Datum
window_funnel_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	WfState    *a = PG_ARGISNULL(0) ? NULL : (WfState *) PG_GETARG_POINTER(0);
	WfState    *b = PG_ARGISNULL(1) ? NULL : (WfState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "window_funnel_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = WfNew(aggcxt, &b->p);
	else if (a->p.nsteps != b->p.nsteps || a->p.window != b->p.window ||
			 a->p.modes != b->p.modes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_funnel: window, modes and steps must be the same in every row")));
	if ((uint64) a->nrows + b->nrows >= PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("window_funnel: more than 4294967294 rows in one group")));
	WfReserve(a, b->n);
	/* b's row ids follow a's, so rows stay distinct for strict_once */
	for (int64 i = 0; i < b->n; i++)
	{
		LkFunnelEvent *e = &a->ev[a->n++];

		*e = b->ev[i];
		e->row += a->nrows;
	}
	a->nrows += b->nrows;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(window_funnel_serialize);
Datum
window_funnel_serialize(PG_FUNCTION_ARGS)
{
	WfState    *st = (WfState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "window_funnel_serialize called in non-aggregate context");
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, WF_VERSION);
	pq_sendbyte(&buf, st->p.nsteps);
	pq_sendint32(&buf, st->p.modes);
	pq_sendint64(&buf, st->p.window);
	pq_sendint32(&buf, st->nrows);
	pq_sendint64(&buf, st->n);
	for (int64 i = 0; i < st->n; i++)
	{
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
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt;
	StringInfoData buf;
	LkFunnelParams p;
	WfState    *st;
	uint32		nrows;
	int64		n;
	const char *msg;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "window_funnel_deserialize called in non-aggregate context");
	lk_read_bytes(&buf, b);

	if (buf.len < 1 + 1 + 4 + 8 + 4 + 8)
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
	if (n < 0 || n > (int64) (buf.len - buf.cursor) / 13 ||
		(int64) (buf.len - buf.cursor) != n * 13)
		WfCorrupt("event count does not match the length");
	st = WfNew(aggcxt, &p);
	st->nrows = nrows;
	WfReserve(st, n);
	for (int64 i = 0; i < n; i++)
	{
		LkFunnelEvent *e = &st->ev[i];

		e->ts = pq_getmsgint64(&buf);
		e->row = pq_getmsgint(&buf, 4);
		e->step = pq_getmsgbyte(&buf);
		if (e->step > p.nsteps || e->row >= nrows)
			WfCorrupt("event out of range");
	}
	st->n = n;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(window_funnel_final);
Datum
window_funnel_final(PG_FUNCTION_ARGS)
{
	WfState    *st = PG_ARGISNULL(0) ? NULL : (WfState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "window_funnel_final called in non-aggregate context");
	if (st == NULL)
		PG_RETURN_INT32(0);
	/* sorting in place is safe: the order never changes the result */
	lk_funnel_sort(st->ev, st->n);
	PG_RETURN_INT32(lk_funnel_match(lk_funnel_matcher_new(&st->p), st->ev, st->n, NULL));
}
