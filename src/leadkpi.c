/*
 * leadkpi.c: module magic and the small helpers every KPI shares: checked
 * duration arithmetic, interval construction and 128-bit formatting.
 */
#include "leadkpi.h"

#include <limits.h>

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

void _PG_init(void);

int lk_funnel_memory_limit = 2 * 1024 * 1024;

/* read by the report layer (SQL), never by C: see _lk_refresh */
static int lk_forecast_refresh_interval = 3600;

void
_PG_init(void)
{
	DefineCustomIntVariable("leadkpi.funnel_memory_limit",
							"Sets the most memory one group of window_funnel or funnel_agg may use.",
							"Its transition state and its final function's work space together; a group that needs more is an error (54000).",
							&lk_funnel_memory_limit,
							2 * 1024 * 1024, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("leadkpi.forecast_refresh_interval",
							"Sets how old the forecast stores of materialized reports may get before refresh_reports rebuilds them.",
							"Rebuilding them reads every lead and stage event; refresh_forecast() rebuilds them now. 0 rebuilds them at every refresh.",
							&lk_forecast_refresh_interval,
							3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * No MarkGUCPrefixReserved("leadkpi"): the report layer keeps state of
	 * its own in a leadkpi.regrant placeholder.
	 */
}

void
lk_check_funnel_memory(const char *fn, Size bytes, int64 events)
{
	if (bytes <= (Size) lk_funnel_memory_limit * 1024)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s: one group needs more memory than leadkpi.funnel_memory_limit (%d kB)",
					fn, lk_funnel_memory_limit),
			 errdetail("The group would hold " INT64_FORMAT " events.", events),
			 errhint("Split the input, e.g. by campaign or cohort of first contact, and roll the summaries up; or raise leadkpi.funnel_memory_limit if the server has the memory.")));
}

bool
lk_combine_states(FunctionCallInfo fcinfo, const char *fn, void **a, void **b)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "%s called in non-aggregate context", fn);
	*a = PG_ARGISNULL(0) ? NULL : PG_GETARG_POINTER(0);
	*b = PG_ARGISNULL(1) ? NULL : PG_GETARG_POINTER(1);
	if (*a != NULL && *b != NULL)
		return true;
	if (*a == NULL)
		*a = *b;
	return false;
}

static bool
ArgIsConst(Aggref *aggref, int argno)
{
	Expr *e;

	if (aggref == NULL || argno >= list_length(aggref->args))
		return false;
	e = ((TargetEntry *) list_nth(aggref->args, argno))->expr;
	return IsA(e, Const) || (IsA(e, Param) && ((Param *) e)->paramkind == PARAM_EXTERN);
}

bool
lk_agg_args_const_uncached(FunctionCallInfo fcinfo, int first, int last)
{
	Aggref *aggref = AggGetAggref(fcinfo);

	for (int i = first; i <= last; i++)
		if (!ArgIsConst(aggref, i))
			return false;
	return true;
}

bool
lk_agg_args_const(FunctionCallInfo fcinfo, int first, int last)
{
	FmgrInfo *fl = fcinfo->flinfo;

	/* the transition function's own FmgrInfo: one per aggregate call */
	if (fl->fn_extra == NULL)
	{
		bool *c = MemoryContextAlloc(fl->fn_mcxt, sizeof(bool));

		*c = lk_agg_args_const_uncached(fcinfo, first, last);
		fl->fn_extra = c;
	}
	return *(bool *) fl->fn_extra;
}

int64
lk_timestamp_diff(Timestamp a, Timestamp b, const char *fn)
{
	int64 r;

	if (TIMESTAMP_NOT_FINITE(a) || TIMESTAMP_NOT_FINITE(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s: infinite timestamps have no sales cycle", fn),
				 errhint("Filter out rows whose first contact or close is 'infinity' or '-infinity'.")));
	if (unlikely(__builtin_sub_overflow(b, a, &r)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s: interval out of range", fn)));
	return r;
}

int64
lk_date_diff(int32 a, int32 b, const char *fn)
{
	if (DATE_NOT_FINITE(a) || DATE_NOT_FINITE(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s: infinite dates have no sales cycle", fn),
				 errhint("Filter out rows whose first contact or close is 'infinity' or '-infinity'.")));
	{
		/* dates span 2^32 days, more than int64 microseconds hold */
		int64 usec;

		if (__builtin_mul_overflow((int64) b - (int64) a, USECS_PER_DAY, &usec))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("%s: the sales cycle is too long", fn),
					 errhint("A cycle of more than about 290,000 years is out of range; check the dates.")));
		return usec;
	}
}

Interval *
lk_interval_from_usec(int64 usec)
{
	Interval *result = (Interval *) palloc(sizeof(Interval));

	result->month = 0;
	result->day = (int32) (usec / USECS_PER_DAY);
	result->time = usec % USECS_PER_DAY;
	return result;
}

int64
lk_div_round(int128 num, int64 den)
{
	int128 q = num / den;
	int128 r = num % den;

	/* round half away from zero, as numeric's round() does */
	if (r != 0 && (r < 0 ? -r : r) * 2 >= den)
		q += (num < 0) ? -1 : 1;
	return (int64) q;
}

void
lk_append_int128(StringInfo buf, int128 v)
{
	char	tmp[48];
	int		i = sizeof(tmp);
	uint128 u = (v < 0) ? -(uint128) v : (uint128) v;

	tmp[--i] = '\0';
	do
	{
		tmp[--i] = '0' + (int) (u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		tmp[--i] = '-';
	appendStringInfoString(buf, tmp + i);
}

void
lk_send_int128(StringInfo buf, int128 v)
{
	pq_sendint64(buf, (int64) (v >> 64));
	pq_sendint64(buf, (int64) (uint64) v);
}

int128
lk_getmsg_int128(StringInfo buf)
{
	uint64 hi = (uint64) pq_getmsgint64(buf);
	uint64 lo = (uint64) pq_getmsgint64(buf);

	return (int128) (((uint128) hi << 64) | lo);
}

bool
lk_parse_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

bool
lk_parse_int128(const char **p, int128 *out, int128 lo, int128 hi)
{
	const char *c = *p;
	bool		neg = false;
	int128		v = 0;

	if (*c == '-')
	{
		neg = true;
		c++;
	}
	if (*c < '0' || *c > '9')
		return false;
	/* accumulate negatively, so that the most negative value parses too */
	while (*c >= '0' && *c <= '9')
	{
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_sub_overflow(v, *c - '0', &v))
			return false;
		c++;
	}
	if (!neg && __builtin_sub_overflow((int128) 0, v, &v))
		return false;
	if (v < lo || v > hi)
		return false;
	*p = c;
	*out = v;
	return true;
}

/*
 * The memory of one comparison or hash: the two send() outputs and any
 * detoasted copy send() makes.  The caller's context may live long: ANALYZE
 * calls = hundreds of times per sampled row in one context, and kept two
 * copies a call (an ANALYZE of 73k summaries passed 2 GB).  One small context
 * per backend, reset after every call, frees it all for the price of a reset
 * (its first 8 kB block stays: two send buffers of 1 kB fit in it).
 */
static MemoryContext SendContext = NULL;

static inline MemoryContext
SendBegin(void)
{
	if (SendContext == NULL)
		SendContext = AllocSetContextCreate(TopMemoryContext, "leadkpi send compare",
											ALLOCSET_DEFAULT_SIZES);
	return MemoryContextSwitchTo(SendContext);
}

static inline void
SendEnd(MemoryContext old)
{
	MemoryContextSwitchTo(old);
	MemoryContextReset(SendContext);
}

bool
lk_send_equal(PGFunction send, Datum a, Datum b)
{
	MemoryContext old = SendBegin();
	bytea		 *x = DatumGetByteaPP(DirectFunctionCall1(send, a));
	bytea		 *y = DatumGetByteaPP(DirectFunctionCall1(send, b));
	bool		  eq = VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			  memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;

	SendEnd(old);
	return eq;
}

uint32
lk_send_hash(PGFunction send, Datum a)
{
	MemoryContext old = SendBegin();
	bytea		 *x = DatumGetByteaPP(DirectFunctionCall1(send, a));
	uint32		  h = hash_bytes((const unsigned char *) VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x));

	SendEnd(old);
	return h;
}

void
lk_corrupt(const char *type, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupted %s value: %s", type, detail),
			 errhint("The stored value was damaged after it was written, e.g. on disk. Restore the row from a backup, or rebuild it from its source rows; data checksums (initdb --data-checksums) report such damage when a page is read.")));
}
