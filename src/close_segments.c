/*
 * close_segments.c: close_agg_segments, the close summaries of every
 * segment (campaign, channel, cohort) from the leads and their stage events
 * in one pass, without a SQL GROUP BY of the events by lead nor a join of
 * the result to the leads.
 *
 * Its input is both at once, e.g. a UNION ALL of the leads (step NULL) and
 * the stage events (step not NULL).  The transition function only appends
 * rows, partitioned by the lead's hash (entity_rows.h).  The final function
 * then, per partition, numbers the leads in a table that stays in cache,
 * takes from the events the first time each lead reached each stage (what
 * stage_reach gives), and files each lead under its segment; then it builds
 * one segment's summary at a time with cs_add_lead, close_agg's own step,
 * so that its dense working form stays in cache while its leads go in.  The
 * result equals close_agg over the leads LEFT JOINed to stage_reach of their
 * events, grouped by segment (tested).
 */
#include "close_summary.h"
#include "entity_rows.h"

/* PostgreSQL's headers under -Wextra: unused parameters of their inline functions */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "access/htup_details.h"
#include "funcapi.h"
#pragma GCC diagnostic pop
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

/* row kinds */
#define SG_LEADS 0
#define SG_EVENTS 1
#define SG_KEYLESS 2 /* leads without a lead_id: no stage events */

/* A lead: its segment in ref.tag. */
typedef struct SgLead
{
	LkEntityRef ref;
	int64		fc;
	int64		won; /* DT_NOEND: none */
	int64		lost;
	int32		rev; /* index in the amounts, -1: none */
	int32		amt;
} SgLead;

/* A stage event: its step in ref.tag. */
typedef struct SgEvent
{
	LkEntityRef ref;
	int64		at;
} SgEvent;

/* A segment: campaign, channel, cohort, each possibly NULL. */
typedef struct SgSegment
{
	text	 *campaign;
	text	 *channel;
	DateADT	  cohort;
	bool	  cohort_null;
	uint32	  hash;
	LkRowList leads; /* its leads' records, in the final function */
	char	 *next;	 /* where the next record goes in leads' last chunk */
	char	 *end;
} SgSegment;

typedef struct SgState
{
	MemoryContext cxt;
	CloseSummary *grid; /* a copy of the first row's */
	bool		  grid_constant;
	LkEntityRows *rows;
	int32		  maxstep;
	/* segments, and a table of them by hash */
	SgSegment *segs;
	int32	   nsegs,
		segcap;
	int32 *segslots; /* segment + 1, or 0 */
	uint32 segmask;
	int32  lastseg;
	/* amounts (revenue of a win, expected amount), referred to by index */
	LkMoney *amounts;
	int32	 namounts,
		amountcap;
} SgState;

pg_noreturn static void
InfiniteTime(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("close_agg_segments: infinite timestamps cannot be placed in a window"),
			 errhint("Filter out rows whose first contact, close or stage times are 'infinity' or '-infinity'.")));
}

static inline int64
FiniteArg(FunctionCallInfo fcinfo, int argno)
{
	int64 t = PG_GETARG_TIMESTAMPTZ(argno);

	if (TIMESTAMP_NOT_FINITE(t))
		InfiniteTime();
	return t;
}

static uint32
HashText(const text *t)
{
	return t ? hash_bytes((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) : 0x9e3779b9;
}

static bool
TextEq(const text *a, const text *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		   memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

static text *
CopyText(MemoryContext cxt, const text *t)
{
	text *c;

	if (t == NULL)
		return NULL;
	/* unpacked, with a 4-byte header, whatever form it came in */
	c = MemoryContextAlloc(cxt, VARHDRSZ + VARSIZE_ANY_EXHDR(t));
	SET_VARSIZE(c, VARHDRSZ + VARSIZE_ANY_EXHDR(t));
	memcpy(VARDATA(c), VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	return c;
}

static void
SegTableGrow(SgState *st)
{
	uint32 size = st->segmask ? 2 * (st->segmask + 1) : 64;

	st->segslots = MemoryContextAllocZero(st->cxt, sizeof(int32) * size);
	st->segmask = size - 1;
	for (int32 g = 0; g < st->nsegs; g++)
	{
		uint32 h = st->segs[g].hash & st->segmask;

		while (st->segslots[h] != 0)
			h = (h + 1) & st->segmask;
		st->segslots[h] = g + 1;
	}
}

/* The segment (campaign, channel, cohort), added when new; the texts are copied. */
static int32
FindSegment(SgState *st, const text *campaign, const text *channel, bool cohort_null, DateADT cohort)
{
	uint32	   hash;
	uint32	   h;
	int32	   g;
	SgSegment *seg;

	if (cohort_null)
		cohort = 0;
	/* leads often come campaign by campaign */
	if (st->lastseg >= 0)
	{
		seg = &st->segs[st->lastseg];
		if (seg->cohort_null == cohort_null && seg->cohort == cohort &&
			TextEq(seg->campaign, campaign) && TextEq(seg->channel, channel))
			return st->lastseg;
	}
	hash = hash_combine(hash_combine(HashText(campaign), HashText(channel)),
						cohort_null ? 0 : murmurhash32((uint32) cohort));
	for (h = hash & st->segmask;; h = (h + 1) & st->segmask)
	{
		g = st->segslots[h] - 1;
		if (g < 0)
			break;
		seg = &st->segs[g];
		if (seg->hash == hash && seg->cohort_null == cohort_null && seg->cohort == cohort &&
			TextEq(seg->campaign, campaign) && TextEq(seg->channel, channel))
			return st->lastseg = g;
	}
	if (st->nsegs == st->segcap)
	{
		st->segcap *= 2;
		st->segs = repalloc_huge(st->segs, sizeof(SgSegment) * st->segcap);
	}
	g = st->nsegs++;
	seg = &st->segs[g];
	memset(seg, 0, sizeof(SgSegment));
	seg->campaign = CopyText(st->cxt, campaign);
	seg->channel = CopyText(st->cxt, channel);
	seg->cohort = cohort;
	seg->cohort_null = cohort_null;
	seg->hash = hash;
	st->segslots[h] = g + 1;
	if ((uint32) st->nsegs * 2 > st->segmask)
		SegTableGrow(st);
	return st->lastseg = g;
}

/* The segment of arguments 9 (campaign), 10 (channel) and 11 (cohort). */
static int32
Segment(FunctionCallInfo fcinfo, SgState *st)
{
	return FindSegment(st, PG_ARGISNULL(9) ? NULL : PG_GETARG_TEXT_PP(9),
					   PG_ARGISNULL(10) ? NULL : PG_GETARG_TEXT_PP(10),
					   PG_ARGISNULL(11), PG_ARGISNULL(11) ? 0 : PG_GETARG_DATEADT(11));
}

/* A room for one more amount; its index. */
static int32
NewAmount(SgState *st)
{
	if (st->namounts == st->amountcap)
	{
		if (st->amountcap >= PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("close_agg_segments: more than %d amounts in one aggregate", PG_INT32_MAX / 2),
					 errhint("Split the input, e.g. by campaign, and roll the summaries up.")));
		st->amountcap = st->amountcap ? 2 * st->amountcap : 1024;
		st->amounts = st->amounts ? repalloc_huge(st->amounts, sizeof(LkMoney) * st->amountcap) : MemoryContextAllocHuge(st->cxt, sizeof(LkMoney) * st->amountcap);
	}
	return st->namounts++;
}

/* The index of a numeric argument's amount, -1 for NULL. */
static int32
Amount(FunctionCallInfo fcinfo, SgState *st, int argno, const char *what)
{
	int32 i;

	if (PG_ARGISNULL(argno))
		return -1;
	i = NewAmount(st);
	lk_money_init(&st->amounts[i]);
	lk_money_add_numeric(&st->amounts[i], PG_GETARG_DATUM(argno), what);
	return i;
}

/* A state for this grid (copied) and kind of lead_id, in the aggregate context. */
static SgState *
InitState(MemoryContext aggcxt, const CloseSummary *grid, bool grid_constant, LkEntityKind kind)
{
	SgState *st = MemoryContextAllocZero(aggcxt, sizeof(SgState));
	Size	 width[3] = { sizeof(SgLead), sizeof(SgEvent), sizeof(SgLead) };

	st->cxt = aggcxt;
	st->grid = MemoryContextAlloc(aggcxt, VARSIZE(grid));
	memcpy(st->grid, grid, VARSIZE(grid));
	/* refuses a grid with counts */
	pfree(cs_dense_grid(st->grid, 1));
	st->grid_constant = grid_constant;
	st->rows = lk_rows_create(aggcxt, kind, 3, width);
	st->segcap = 64;
	st->segs = MemoryContextAlloc(aggcxt, sizeof(SgSegment) * st->segcap);
	st->lastseg = -1;
	SegTableGrow(st);
	return st;
}

static SgState *
NewState(FunctionCallInfo fcinfo, MemoryContext aggcxt, const CloseSummary *grid)
{
	return InitState(aggcxt, grid, cs_grid_is_constant(fcinfo, 12),
					 lk_entity_kind(get_fn_expr_argtype(fcinfo->flinfo, 1)));
}

/*
 * close_agg_segments_accum(state, lead_id, step, occurred_at,
 *     first_contact_at, converted_at, lost_at, revenue, expected_amount,
 *     campaign, channel, cohort, grid)
 * A row with a step is a stage event of lead_id (ignored without lead_id or
 * occurred_at); any other row is a lead (ignored without first_contact_at).
 */
PG_FUNCTION_INFO_V1(close_agg_segments_accum);
Datum
close_agg_segments_accum(PG_FUNCTION_ARGS)
{
	MemoryContext		aggcxt;
	SgState			   *st = PG_ARGISNULL(0) ? NULL : (SgState *) PG_GETARG_POINTER(0);
	const CloseSummary *grid;
	bool				same;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_segments_accum called in non-aggregate context")));
	/* a constant grid is read once; another is checked unless it is the state's */
	if (st == NULL || !st->grid_constant)
	{
		if (PG_ARGISNULL(12))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("close_agg_segments: the grid must not be NULL"),
					 errhint("Pass close_grid(as_of, ...).")));
		grid = cs_grid_arg(fcinfo, 12, st == NULL, &same);
		if (st == NULL)
			st = NewState(fcinfo, aggcxt, grid);
		else if (!same)
			cs_check_grid(st->grid, grid, "close_agg_segments");
	}

	if (!PG_ARGISNULL(2))
	{
		/* a stage event */
		int32	 step = PG_GETARG_INT32(2);
		SgEvent *e;

		if (PG_ARGISNULL(1) || PG_ARGISNULL(3))
			PG_RETURN_POINTER(st);
		if (step < 1 || step > CS_MAX_STAGES - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_agg_segments: step %d is not between 1 and %d", step, CS_MAX_STAGES - 1),
					 errhint("Steps are 1-based positions in the funnel's list of stages.")));
		e = lk_rows_append(st->rows, SG_EVENTS, PG_GETARG_DATUM(1));
		e->ref.tag = step;
		e->at = FiniteArg(fcinfo, 3);
		st->maxstep = Max(st->maxstep, step);
	}
	else if (!PG_ARGISNULL(4))
	{
		/* a lead */
		SgLead *l = PG_ARGISNULL(1) ? lk_rows_append_keyless(st->rows, SG_KEYLESS) : lk_rows_append(st->rows, SG_LEADS, PG_GETARG_DATUM(1));

		l->ref.tag = Segment(fcinfo, st);
		l->fc = FiniteArg(fcinfo, 4);
		l->won = l->lost = DT_NOEND;
		l->rev = l->amt = -1;
		if (!PG_ARGISNULL(5))
		{
			l->won = FiniteArg(fcinfo, 5);
			l->rev = Amount(fcinfo, st, 7, "revenue");
		}
		else if (!PG_ARGISNULL(6))
			l->lost = FiniteArg(fcinfo, 6);
		l->amt = Amount(fcinfo, st, 8, "expected amount");
	}
	PG_RETURN_POINTER(st);
}

/*
 * Combine: b's segments, amounts and rows into a.  b's leads are renumbered
 * to a's segments and amounts; the rows themselves move, not copied.
 */
PG_FUNCTION_INFO_V1(close_agg_segments_combine);
Datum
close_agg_segments_combine(PG_FUNCTION_ARGS)
{
	SgState *a = PG_ARGISNULL(0) ? NULL : (SgState *) PG_GETARG_POINTER(0);
	SgState *b = PG_ARGISNULL(1) ? NULL : (SgState *) PG_GETARG_POINTER(1);
	int32	*segmap;
	int32	 offset;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_segments_combine called in non-aggregate context")));
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	/* adopt b: states are only built by our accum and deserialize, in the aggregate context */
	if (a == NULL)
		PG_RETURN_POINTER(b);
	if (a->rows->kind != b->rows->kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("close_agg_segments: lead_id of different types cannot be combined")));
	cs_check_grid(a->grid, b->grid, "close_agg_segments");
	segmap = palloc(sizeof(int32) * Max(b->nsegs, 1));
	for (int32 g = 0; g < b->nsegs; g++)
		segmap[g] = FindSegment(a, b->segs[g].campaign, b->segs[g].channel, b->segs[g].cohort_null,
								b->segs[g].cohort);
	offset = a->namounts;
	for (int32 i = 0; i < b->namounts; i++)
	{
		int32 x = NewAmount(a); /* may move a->amounts */

		a->amounts[x] = b->amounts[i];
	}
	for (int p = 0; p < LK_ROWS_NPARTS; p++)
		for (int kind = SG_LEADS; kind <= SG_KEYLESS; kind++)
			for (LkRowIter it = lk_rows_iter(b->rows, p, kind); kind != SG_EVENTS && lk_rows_next(&it);)
			{
				SgLead *l = it.row;

				l->ref.tag = segmap[l->ref.tag];
				if (l->rev >= 0)
					l->rev += offset;
				if (l->amt >= 0)
					l->amt += offset;
			}
	lk_rows_absorb(a->rows, b->rows);
	a->maxstep = Max(a->maxstep, b->maxstep);
	pfree(segmap);
	PG_RETURN_POINTER(a);
}

#define SG_WIRE_VERSION 1

static void
SendText(StringInfo buf, const text *t)
{
	pq_sendbyte(buf, t != NULL);
	if (t)
	{
		pq_sendint32(buf, VARSIZE_ANY_EXHDR(t));
		pq_sendbytes(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}

static void
SendKey(StringInfo buf, const LkEntityRows *rows, uint64 key)
{
	if (rows->kind == LK_ENTITY_INT8)
		pq_sendint64(buf, (int64) key);
	else
	{
		uint32		len;
		const char *b = lk_entity_bytes(key, &len);

		pq_sendint32(buf, len);
		pq_sendbytes(buf, b, len);
	}
}

/*
 * Wire form of a partial state: version, key kind, maxstep, whether the grid
 * is a constant, the grid (close_summary's binary form), the segments, the
 * amounts, then the leads, the leads without lead_id and the stage events,
 * each a count and per row its key, tag and fields.
 */
PG_FUNCTION_INFO_V1(close_agg_segments_serialize);
Datum
close_agg_segments_serialize(PG_FUNCTION_ARGS)
{
	SgState			*st = (SgState *) PG_GETARG_POINTER(0);
	LkEntityRows	*rows = st->rows;
	StringInfoData	 buf;
	bytea			*grid;
	static const int kinds[3] = { SG_LEADS, SG_KEYLESS, SG_EVENTS };

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_segments_serialize called in non-aggregate context")));
	if ((double) rows->nrows[SG_LEADS] * 48 + (double) rows->nrows[SG_EVENTS] * 32 + rows->key_bytes >= MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("close_agg_segments: a partial state of a parallel worker exceeds 1 GB"),
				 errhint("Disable parallel aggregation for this query (SET max_parallel_workers_per_gather = 0) or split it by campaign.")));
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SG_WIRE_VERSION);
	pq_sendbyte(&buf, rows->kind);
	pq_sendint32(&buf, st->maxstep);
	pq_sendbyte(&buf, st->grid_constant);
	grid = DatumGetByteaPP(DirectFunctionCall1(close_summary_send, PointerGetDatum(st->grid)));
	pq_sendint32(&buf, VARSIZE_ANY_EXHDR(grid));
	pq_sendbytes(&buf, VARDATA_ANY(grid), VARSIZE_ANY_EXHDR(grid));
	pq_sendint32(&buf, st->nsegs);
	for (int32 g = 0; g < st->nsegs; g++)
	{
		SendText(&buf, st->segs[g].campaign);
		SendText(&buf, st->segs[g].channel);
		pq_sendbyte(&buf, !st->segs[g].cohort_null);
		if (!st->segs[g].cohort_null)
			pq_sendint32(&buf, st->segs[g].cohort);
	}
	pq_sendint32(&buf, st->namounts);
	for (int32 i = 0; i < st->namounts; i++)
		lk_money_send(&buf, &st->amounts[i]);
	for (int ki = 0; ki < 3; ki++)
	{
		int kind = kinds[ki];

		pq_sendint64(&buf, rows->nrows[kind]);
		for (int p = 0; p < LK_ROWS_NPARTS; p++)
		{
			CHECK_FOR_INTERRUPTS();
			for (LkRowIter it = lk_rows_iter(rows, p, kind); lk_rows_next(&it);)
			{
				LkEntityRef *ref = it.row;

				if (kind != SG_KEYLESS)
					SendKey(&buf, rows, ref->key);
				pq_sendint32(&buf, ref->tag);
				if (kind == SG_EVENTS)
					pq_sendint64(&buf, ((SgEvent *) ref)->at);
				else
				{
					SgLead *l = (SgLead *) ref;

					pq_sendint64(&buf, l->fc);
					pq_sendint64(&buf, l->won);
					pq_sendint64(&buf, l->lost);
					pq_sendint32(&buf, l->rev);
					pq_sendint32(&buf, l->amt);
				}
			}
		}
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

pg_noreturn static void
BadState(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid close_agg_segments state: %s", msg)));
}

#define NEED(buf, n) \
	do \
	{ \
		if ((buf)->len - (buf)->cursor < (int) (n)) \
			BadState("truncated"); \
	} while (0)

static text *
RecvText(StringInfo buf, MemoryContext cxt)
{
	int32 len;
	text *t;

	NEED(buf, 1);
	if (pq_getmsgbyte(buf) == 0)
		return NULL;
	NEED(buf, 4);
	len = (int32) pq_getmsgint(buf, 4);
	if (len < 0)
		BadState("negative text length");
	NEED(buf, len);
	t = MemoryContextAlloc(cxt, VARHDRSZ + len);
	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), pq_getmsgbytes(buf, len), len);
	return t;
}

static inline bool
FiniteOrNone(int64 t)
{
	return t == DT_NOEND || !TIMESTAMP_NOT_FINITE(t);
}

/* A count that precedes a list; negative: BadState(what). */
static int32
RecvCount(StringInfo buf, const char *what)
{
	int32 n;

	NEED(buf, 4);
	n = (int32) pq_getmsgint(buf, 4);
	if (n < 0)
		BadState(what);
	return n;
}

/* The segments of a serialized state into st, in their order (their numbers); returns how many. */
static int32
RecvSegments(StringInfo buf, SgState *st, MemoryContext aggcxt)
{
	int32 nsegs = RecvCount(buf, "negative segment count");

	for (int32 g = 0; g < nsegs; g++)
	{
		text   *campaign = RecvText(buf, aggcxt);
		text   *channel = RecvText(buf, aggcxt);
		bool	has_cohort;
		DateADT cohort = 0;

		NEED(buf, 1);
		has_cohort = pq_getmsgbyte(buf) != 0;
		if (has_cohort)
		{
			NEED(buf, 4);
			cohort = (DateADT) pq_getmsgint(buf, 4);
		}
		if (FindSegment(st, campaign, channel, !has_cohort, cohort) != g)
			BadState("a segment is listed twice");
	}
	return nsegs;
}

/* The amounts of a serialized state into st; returns how many. */
static int32
RecvAmounts(StringInfo buf, SgState *st)
{
	int32 namounts = RecvCount(buf, "negative amount count");

	for (int32 i = 0; i < namounts; i++)
	{
		int32 x = NewAmount(st); /* may move st->amounts */

		if (!lk_money_recv(buf, &st->amounts[x]))
			BadState("malformed amount");
	}
	return namounts;
}

/* A new row of kind k in st, with the lead key read from buf (none for keyless rows). */
static inline LkEntityRef *
RecvRowKey(StringInfo buf, SgState *st, int k, int kind)
{
	int32 len;

	if (k == SG_KEYLESS)
		return lk_rows_append_keyless(st->rows, k);
	if (kind == LK_ENTITY_INT8)
	{
		NEED(buf, 8);
		return lk_rows_append_int8(st->rows, k, pq_getmsgint64(buf));
	}
	NEED(buf, 4);
	len = (int32) pq_getmsgint(buf, 4);
	if (len < 0 || (kind == LK_ENTITY_UUID && len != 16))
		BadState("key length out of range");
	NEED(buf, len);
	return lk_rows_append_bytes(st->rows, k, pq_getmsgbytes(buf, len), (uint32) len);
}

/*
 * A row's tag and fields, checked: an event's step and time, a lead's
 * segment, finite times, at most one close, and amounts that exist (a
 * revenue only with a win).
 */
static inline void
RecvRowFields(StringInfo buf, LkEntityRef *ref, int k, int32 maxstep, int32 nsegs, int32 namounts)
{
	NEED(buf, 4);
	ref->tag = (int32) pq_getmsgint(buf, 4);
	if (k == SG_EVENTS)
	{
		SgEvent *e = (SgEvent *) ref;

		NEED(buf, 8);
		e->at = pq_getmsgint64(buf);
		if (ref->tag < 1 || ref->tag > maxstep || TIMESTAMP_NOT_FINITE(e->at))
			BadState("stage event out of range");
	}
	else
	{
		SgLead *l = (SgLead *) ref;

		NEED(buf, 32);
		l->fc = pq_getmsgint64(buf);
		l->won = pq_getmsgint64(buf);
		l->lost = pq_getmsgint64(buf);
		l->rev = (int32) pq_getmsgint(buf, 4);
		l->amt = (int32) pq_getmsgint(buf, 4);
		if (ref->tag < 0 || ref->tag >= nsegs || TIMESTAMP_NOT_FINITE(l->fc) || !FiniteOrNone(l->won) ||
			!FiniteOrNone(l->lost) || (l->won != DT_NOEND && l->lost != DT_NOEND) || l->rev < -1 ||
			l->rev >= namounts || (l->rev >= 0 && l->won == DT_NOEND) || l->amt < -1 || l->amt >= namounts)
			BadState("lead out of range");
	}
}

PG_FUNCTION_INFO_V1(close_agg_segments_deserialize);
Datum
close_agg_segments_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext  aggcxt;
	StringInfoData buf;
	StringInfoData gbuf;
	SgState		  *st;
	int			   kind;
	int32		   maxstep,
		nsegs,
		namounts,
		glen;
	bool			 grid_constant;
	CloseSummary	*grid;
	static const int kinds[3] = { SG_LEADS, SG_KEYLESS, SG_EVENTS };

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_segments_deserialize called in non-aggregate context")));
	lk_read_bytes(&buf, PG_GETARG_BYTEA_PP(0));
	NEED(&buf, 1 + 1 + 4 + 1 + 4);
	if (pq_getmsgbyte(&buf) != SG_WIRE_VERSION)
		BadState("unknown version");
	kind = pq_getmsgbyte(&buf);
	maxstep = (int32) pq_getmsgint(&buf, 4);
	grid_constant = pq_getmsgbyte(&buf) != 0;
	glen = (int32) pq_getmsgint(&buf, 4);
	if (kind > LK_ENTITY_UUID || maxstep < 0 || maxstep > CS_MAX_STAGES - 1 || glen < 0)
		BadState("header field out of range");
	NEED(&buf, glen);
	gbuf.data = (char *) pq_getmsgbytes(&buf, glen);
	gbuf.len = glen;
	gbuf.maxlen = glen;
	gbuf.cursor = 0;
	grid = DatumGetCloseSummary(DirectFunctionCall1(close_summary_recv, PointerGetDatum(&gbuf)));
	st = InitState(aggcxt, grid, grid_constant, (LkEntityKind) kind);
	st->maxstep = maxstep;
	nsegs = RecvSegments(&buf, st, aggcxt);
	namounts = RecvAmounts(&buf, st);
	for (int ki = 0; ki < 3; ki++)
	{
		int	  k = kinds[ki];
		int64 n;

		NEED(&buf, 8);
		n = pq_getmsgint64(&buf);
		if (n < 0)
			BadState("negative row count");
		for (int64 i = 0; i < n; i++)
		{
			if ((i & 0xFFFF) == 0xFFFF)
				CHECK_FOR_INTERRUPTS();
			RecvRowFields(&buf, RecvRowKey(&buf, st, k, kind), k, maxstep, nsegs, namounts);
		}
	}
	if (buf.cursor != buf.len)
		BadState("trailing bytes");
	PG_RETURN_POINTER(st);
}

/* A lead filed under its segment: its row's times and amounts, then reach[maxstep]. */
typedef struct SgRecord
{
	int64 fc;
	int64 won;
	int64 lost;
	int32 rev;
	int32 amt;
	int64 reach[FLEXIBLE_ARRAY_MEMBER];
} SgRecord;

#define SG_RECORD_SIZE(nstep) MAXALIGN(offsetof(SgRecord, reach) + sizeof(int64) * (nstep))

/*
 * Filing writes records for every segment in turn, so a segment's place to
 * write is kept in the segment (an array that stays in cache) rather than
 * read from its last chunk's header each time; a chunk's count is set when
 * it is full or filing ends (CloseRecords).
 */
static pg_noinline void
NewRecordChunk(MemoryContext cxt, SgSegment *seg, Size width)
{
	LkRowChunk *c;

	if (seg->leads.tail != NULL)
		seg->leads.tail->n = seg->leads.tail->cap;
	c = lk_row_list_add_chunk(cxt, &seg->leads, width);
	seg->next = LK_ROW_CHUNK_DATA(c);
	seg->end = seg->next + (Size) c->cap * width;
}

/* The counts of the segments' last chunks, once filing is done. */
static void
CloseRecords(SgState *st, Size width)
{
	for (int32 g = 0; g < st->nsegs; g++)
	{
		SgSegment *seg = &st->segs[g];

		seg->leads.n = 0;
		for (LkRowChunk *c = seg->leads.head; c; c = c->next)
		{
			if (c == seg->leads.tail)
				c->n = (int32) ((seg->next - LK_ROW_CHUNK_DATA(c)) / width);
			seg->leads.n += c->n;
		}
	}
}

static void
FileLead(SgState *st, MemoryContext cxt, const SgLead *l, const int64 *reach, Size width)
{
	SgSegment *seg = &st->segs[l->ref.tag];
	SgRecord  *r;

	if (unlikely(seg->next == seg->end))
		NewRecordChunk(cxt, seg, width);
	r = (SgRecord *) seg->next;
	seg->next += width;

	r->fc = l->fc;
	r->won = l->won;
	r->lost = l->lost;
	r->rev = l->rev;
	r->amt = l->amt;
	for (int i = 0; i < st->maxstep; i++)
		r->reach[i] = reach ? reach[i] : DT_NOEND;
}

/*
 * Phase 1, a partition at a time: the first time each lead reached each
 * stage, from its events, and the lead filed under its segment.  The
 * partition's rows are freed as it is done.
 */
static void
FileLeads(SgState *st, MemoryContext cxt)
{
	LkEntityRows *rows = st->rows;
	int			  S = st->maxstep;
	Size		  width = SG_RECORD_SIZE(S);
	int64		  maxleads = 1;
	LkEntityTable table;
	int32		 *ent;
	int64		 *reach;

	for (int p = 0; p < LK_ROWS_NPARTS; p++)
		maxleads = Max(maxleads, rows->parts[p][SG_LEADS].n);
	lk_entity_table_init(&table, maxleads);
	ent = palloc_extended(sizeof(int32) * maxleads, MCXT_ALLOC_HUGE);
	reach = palloc_extended(sizeof(int64) * maxleads * Max(S, 1), MCXT_ALLOC_HUGE);

	for (int p = 0; p < LK_ROWS_NPARTS; p++)
	{
		int64	  n = rows->parts[p][SG_LEADS].n;
		int32	  i = 0;
		LkRowIter it;

		CHECK_FOR_INTERRUPTS();
		if (n > 0)
		{
			lk_entity_table_reset(&table, n);
			for (it = lk_rows_iter(rows, p, SG_LEADS); lk_rows_next(&it);)
				ent[i++] = lk_entity_table_lookup(&table, rows, it.row, true);
			for (int64 k = 0; k < (int64) table.n * S; k++)
				reach[k] = DT_NOEND;
			for (it = lk_rows_iter(rows, p, SG_EVENTS); lk_rows_next(&it);)
			{
				SgEvent *e = it.row;
				int32	 x = lk_entity_table_lookup(&table, rows, &e->ref, false);

				if (x >= 0)
				{
					int64 *r = &reach[(int64) x * S + e->ref.tag - 1];

					*r = Min(*r, e->at);
				}
			}
			i = 0;
			for (it = lk_rows_iter(rows, p, SG_LEADS); lk_rows_next(&it);)
				FileLead(st, cxt, it.row, &reach[(int64) ent[i++] * S], width);
		}
		for (it = lk_rows_iter(rows, p, SG_KEYLESS); lk_rows_next(&it);)
			FileLead(st, cxt, it.row, NULL, width);
		lk_rows_free_part(rows, p);
	}
	CloseRecords(st, width);
	pfree(ent);
	pfree(reach);
}

/*
 * How many leads ahead phase 2 asks for their amounts: a segment's amounts
 * are scattered over all of them (filed by lead_id's hash), so each read
 * would otherwise wait for memory.
 */
#define SG_PREFETCH_AHEAD 8

/* (a macro: gcc takes a function of prefetches alone for pure, and drops its calls) */
#define PrefetchAmounts(st, r) \
	do \
	{ \
		if ((r)->rev >= 0) \
			__builtin_prefetch(&(st)->amounts[(r)->rev]); \
		if ((r)->amt >= 0) \
			__builtin_prefetch(&(st)->amounts[(r)->amt]); \
	} while (0)

/* Phase 2: one segment's summary from its leads. */
static CloseSummary *
SegmentSummary(SgState *st, SgSegment *seg)
{
	int			  S = st->maxstep;
	Size		  width = SG_RECORD_SIZE(S);
	CloseSummary *s = cs_dense_grid(st->grid, S + 1);
	CloseSummary *out;
	LkMoney		  sq[2];
	int64		  n = 0;
	LkRowIter	  ahead = lk_row_list_iter(&seg->leads, width);

	for (int i = 0; i < SG_PREFETCH_AHEAD && lk_rows_next(&ahead); i++)
		PrefetchAmounts(st, (SgRecord *) ahead.row);
	for (LkRowIter it = lk_row_list_iter(&seg->leads, width); lk_rows_next(&it);)
	{
		SgRecord *r = it.row;
		CsLead	  l = { 0 };

		if (lk_rows_next(&ahead))
			PrefetchAmounts(st, (SgRecord *) ahead.row);
		if ((++n & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		l.fc = r->fc;
		l.won = r->won;
		l.lost = r->lost;
		l.nreach = S;
		l.reach = r->reach;
		if (r->rev >= 0)
		{
			l.rev = &st->amounts[r->rev];
			lk_money_square_cents(&sq[0], l.rev, "revenue");
			l.rev_sq = &sq[0];
		}
		if (r->amt >= 0)
		{
			l.amt = &st->amounts[r->amt];
			lk_money_square_cents(&sq[1], l.amt, "expected amount");
			l.amt_sq = &sq[1];
		}
		s = cs_add_lead(s, &l);
	}
	out = cs_compact(s);
	if (out != s)
		pfree(s);
	return out;
}

/*
 * close_agg_segments_final(state): one close_segment (campaign, channel,
 * cohort, summary) per segment, in the order the segments first came.
 * It consumes the state (FINALFUNC_MODIFY = READ_WRITE).
 */
PG_FUNCTION_INFO_V1(close_agg_segments_final);
Datum
close_agg_segments_final(PG_FUNCTION_ARGS)
{
	SgState *st = PG_ARGISNULL(0) ? NULL : (SgState *) PG_GETARG_POINTER(0);
	Oid		 arraytype,
		rowtype;
	TupleDesc	  desc;
	MemoryContext work,
		old;
	Datum *out;
	int16  typlen;
	bool   typbyval;
	char   typalign;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_segments_final called in non-aggregate context")));
	if (st == NULL || st->nsegs == 0)
		PG_RETURN_NULL();
	arraytype = get_func_rettype(fcinfo->flinfo->fn_oid);
	rowtype = get_element_type(arraytype);
	desc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	if (desc->natts != 4)
		elog(ERROR, "close_agg_segments_final: close_segment must have 4 attributes");

	work = AllocSetContextCreate(CurrentMemoryContext, "close_agg_segments", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	FileLeads(st, work);
	MemoryContextSwitchTo(old);
	out = palloc(sizeof(Datum) * st->nsegs);
	for (int32 g = 0; g < st->nsegs; g++)
	{
		SgSegment	 *seg = &st->segs[g];
		Datum		  v[4];
		bool		  nl[4] = { seg->campaign == NULL, seg->channel == NULL, seg->cohort_null, false };
		CloseSummary *s;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(work);
		s = SegmentSummary(st, seg);
		lk_row_list_free(&seg->leads);
		MemoryContextSwitchTo(old);
		v[0] = PointerGetDatum(seg->campaign);
		v[1] = PointerGetDatum(seg->channel);
		v[2] = DateADTGetDatum(seg->cohort);
		v[3] = PointerGetDatum(s);
		out[g] = HeapTupleGetDatum(heap_form_tuple(desc, v, nl));
		pfree(s);
	}
	MemoryContextDelete(work);
	get_typlenbyvalalign(rowtype, &typlen, &typbyval, &typalign);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, st->nsegs, rowtype, typlen, typbyval, typalign));
}
