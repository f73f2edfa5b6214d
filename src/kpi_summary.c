/*
 * kpi_summary.c: the mergeable KPI summary.  The type and its text and binary
 * I/O, the aggregates that build it (kpi_agg, spend_agg) and merge it
 * (rollup, +), and the accessors, which are where every KPI is defined.
 */
#include "kpi_summary.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"

/*
 * The stored layout of version 1, as 0.1.0 wrote it (with the int128s as
 * {lo, hi} pairs of 64-bit halves, which little-endian int128 fields match):
 * summaries on disk must keep reading the same.
 */
StaticAssertDecl(offsetof(KpiSummary, leads) == 16 &&
					 offsetof(KpiSummary, cycle_sum) == 64 &&
					 offsetof(KpiSummary, cost) == 80 &&
					 offsetof(KpiSummary, revenue) == 104 &&
					 offsetof(KpiSummary, sketch) == 128 &&
					 offsetof(LkMoney, dscale) == 16 && sizeof(LkMoney) == 24,
				 "kpi_summary's stored layout changed: bump KPI_SUMMARY_VERSION");

/* ---------------------------------------------------------------------------
 * Construction and merging
 * ------------------------------------------------------------------------- */

KpiSummary *
ks_new(int32 capacity, bool with_sketch)
{
	KpiSummary *s = palloc0(KS_SIZE(capacity));

	SET_VARSIZE(s, KS_SIZE(capacity));
	s->version = KPI_SUMMARY_VERSION;
	s->flags = with_sketch ? 0 : KS_NO_SKETCH;
	lk_money_init(&s->cost);
	lk_money_init(&s->revenue);
	s->sketch.capacity = capacity;
	return s;
}

/* A copy of s with room for at least `capacity` sketch buckets. */
static KpiSummary *
KsGrow(const KpiSummary *s, int32 capacity)
{
	KpiSummary *n;

	capacity = Max(capacity, Max(8, s->sketch.capacity * 2));
	capacity = Min(capacity, LK_SKETCH_MAX_INDEX + 1);
	n = palloc0(KS_SIZE(capacity));
	memcpy(n, s, KS_SIZE(s->sketch.nbuckets));
	SET_VARSIZE(n, KS_SIZE(capacity));
	n->sketch.capacity = capacity;
	return n;
}

/* A copy without spare sketch capacity: what is returned and stored. */
static KpiSummary *
KsCompact(const KpiSummary *s)
{
	int32		n = lk_sketch_used_buckets(&s->sketch);
	KpiSummary *c = palloc(KS_SIZE(n));

	memcpy(c, s, offsetof(KpiSummary, sketch));
	c->pad2 = 0; /* a state's mark (KsMarked) is never stored */
	lk_sketch_copy_used(&c->sketch, &s->sketch);
	SET_VARSIZE(c, KS_SIZE(n));
	c->sketch.capacity = n;
	return c;
}

KpiSummary *
ks_add_lead(KpiSummary *s, bool converted, int64 cycle)
{
	s->leads = lk_add_count(s->leads, 1);
	if (!converted)
		return s;
	s->conversions = lk_add_count(s->conversions, 1);
	if (cycle < 0)
	{
		/* closed before first contact: a data error we count, never average */
		s->cycle_excluded = lk_add_count(s->cycle_excluded, 1);
		return s;
	}
	if (s->cycle_n == 0)
		s->cycle_min = s->cycle_max = cycle;
	else if (cycle < s->cycle_min)
		s->cycle_min = cycle;
	else if (cycle > s->cycle_max)
		s->cycle_max = cycle;
	s->cycle_n++;
	s->cycle_sum += cycle;

	if (!(s->flags & KS_NO_SKETCH))
	{
		int32 idx = cycle > 0 ? lk_sketch_index(cycle) : -1;

		if (!lk_sketch_add_index(&s->sketch, idx, 1))
		{
			s = KsGrow(s, s->sketch.nbuckets + 1);
			(void) lk_sketch_add_index(&s->sketch, idx, 1);
		}
	}
	return s;
}

KpiSummary *
ks_merge(KpiSummary *a, const KpiSummary *b)
{
	a->leads = lk_add_count(a->leads, b->leads);
	a->conversions = lk_add_count(a->conversions, b->conversions);
	a->cycle_excluded = lk_add_count(a->cycle_excluded, b->cycle_excluded);
	if (b->cycle_n > 0)
	{
		if (a->cycle_n == 0)
		{
			a->cycle_min = b->cycle_min;
			a->cycle_max = b->cycle_max;
		}
		else
		{
			a->cycle_min = Min(a->cycle_min, b->cycle_min);
			a->cycle_max = Max(a->cycle_max, b->cycle_max);
		}
		a->cycle_n = lk_add_count(a->cycle_n, b->cycle_n);
		a->cycle_sum += b->cycle_sum;
	}
	lk_money_add(&a->cost, &b->cost, "cost");
	lk_money_add(&a->revenue, &b->revenue, "revenue");

	/* percentiles survive a merge only when both sides have them */
	if ((a->flags | b->flags) & KS_NO_SKETCH)
	{
		a->flags |= KS_NO_SKETCH;
		a->sketch.zero_count = 0;
		a->sketch.nbuckets = 0;
	}
	else if (b->sketch.nbuckets <= 8 || b->sketch.nbuckets * 4 <= a->sketch.nbuckets)
	{
		/*
		 * A small sketch (a day's summary) into a large one (a rollup's
		 * state): a binary search per bucket beats a linear merge.
		 */
		int32 prev = -1;

		a->sketch.zero_count = lk_add_count(a->sketch.zero_count, b->sketch.zero_count);
		for (int32 i = 0; i < b->sketch.nbuckets; i++)
		{
			const LkSketchBucket *bk = &b->sketch.buckets[i];

			/* b may be a stored value read as is: lk_sketch_check's test */
			if (unlikely(bk->index <= prev || bk->index > LK_SKETCH_MAX_INDEX || bk->count < 0))
				lk_corrupt("kpi_summary", "sketch buckets out of order or range");
			prev = bk->index;
			if (!lk_sketch_add_index(&a->sketch, bk->index, bk->count))
			{
				a = KsGrow(a, a->sketch.nbuckets + b->sketch.nbuckets - i);
				(void) lk_sketch_add_index(&a->sketch, bk->index, bk->count);
			}
		}
	}
	else
	{
		/* b may be a stored value read as is: its buckets are checked */
		int32 need = lk_sketch_union_buckets_checked(&a->sketch, &b->sketch);

		if (need < 0)
			lk_corrupt("kpi_summary", "sketch buckets out of order or range");

		if (need > a->sketch.capacity)
			a = KsGrow(a, need);
		lk_sketch_merge(&a->sketch, &a->sketch, &b->sketch);
	}
	return a;
}

/* ---------------------------------------------------------------------------
 * Validation: of input (text and binary), and of every stored value a
 * function reads
 * ------------------------------------------------------------------------- */

/* The fixed fields: counts, cycles and amounts.  O(1). */
static const char *
KsValidateScalars(const KpiSummary *s)
{
	const char *msg;
	int128		sum = s->cycle_sum;

	if (s->leads < 0 || s->conversions < 0 || s->cycle_n < 0 || s->cycle_excluded < 0)
		return "counts must not be negative";
	if ((msg = lk_money_validate(&s->cost)) != NULL ||
		(msg = lk_money_validate(&s->revenue)) != NULL)
		return msg;
	if (s->conversions > s->leads)
		return "conversions exceed leads";
	if (s->cycle_n > s->conversions - s->cycle_excluded)
		return "cycles and excluded cycles exceed conversions";
	if (s->cycle_n == 0)
	{
		if (s->cycle_min != 0 || s->cycle_max != 0 || sum != 0)
			return "cycle figures must be 0 when there are no cycles";
	}
	else
	{
		if (s->cycle_min < 0 || s->cycle_min > s->cycle_max)
			return "cycle minimum and maximum are inconsistent";
		/* the minimum and the maximum are both among the n cycles */
		if (sum < (int128) s->cycle_max + (int128) s->cycle_min * (s->cycle_n - 1) ||
			sum > (int128) s->cycle_min + (int128) s->cycle_max * (s->cycle_n - 1))
			return "cycle sum disagrees with the cycle minimum and maximum";
	}
	if ((s->flags & KS_NO_SKETCH) && (s->sketch.nbuckets != 0 || s->sketch.zero_count != 0))
		return "a summary without a sketch has sketch buckets";
	return NULL;
}

/*
 * The sketch against the fixed fields, once its buckets are known to be in
 * order and in range: as many values as cycles, a zero bucket exactly when
 * the minimum is 0, the buckets of positive cycles from min's to max's.
 */
static const char *
KsSketchAgrees(const KpiSummary *s)
{
	const LkSketch *sk = &s->sketch;
	int64			total = sk->zero_count;

	if (s->flags & KS_NO_SKETCH)
		return NULL;
	for (int32 i = 0; i < sk->nbuckets; i++)
		if (__builtin_add_overflow(total, sk->buckets[i].count, &total))
			return "sketch total out of range";
	if (total != s->cycle_n)
		return "sketch total disagrees with the number of cycles";
	if (s->cycle_n > 0 && ((sk->zero_count > 0) != (s->cycle_min == 0)))
		return "sketch zero bucket disagrees with the cycle minimum";
	if (sk->nbuckets > 0 &&
		(s->cycle_max == 0 ||
		 sk->buckets[sk->nbuckets - 1].index != lk_sketch_index(s->cycle_max) ||
		 (s->cycle_min > 0 && sk->buckets[0].index != lk_sketch_index(s->cycle_min))))
		return "sketch buckets disagree with the cycle minimum and maximum";
	if (sk->nbuckets == 0 && s->cycle_max > 0)
		return "sketch has no bucket for the cycle maximum";
	return NULL;
}

/* What text and binary input accept: a canonical value (no zero buckets). */
static const char *
KsValidate(const KpiSummary *s)
{
	const char *msg;

	if ((msg = KsValidateScalars(s)) != NULL)
		return msg;
	if (!(s->flags & KS_NO_SKETCH) && (msg = lk_sketch_validate(&s->sketch)) != NULL)
		return msg;
	return KsSketchAgrees(s);
}

/*
 * The layout: what reading any field relies on.  The size is the one the
 * sketch capacity implies, as ks_new, KsGrow and KsCompact make it, which
 * also bounds nbuckets.  The message for KsCorrupt; KsSound is the same
 * test without one.
 */
static const char *
KsCheckLayout(const KpiSummary *s)
{
	if (VARSIZE(s) < KS_SIZE(0))
		return "shorter than its fixed fields";
	if (s->version != KPI_SUMMARY_VERSION)
		return "unknown format version";
	if (s->flags & ~KS_ALL_FLAGS)
		return "unknown flags";
	if (s->sketch.capacity < 0 || s->sketch.capacity > LK_SKETCH_MAX_INDEX + 1 ||
		VARSIZE(s) != KS_SIZE(s->sketch.capacity))
		return "its size disagrees with its sketch capacity";
	if (s->sketch.nbuckets < 0 || s->sketch.nbuckets > s->sketch.capacity)
		return "sketch bucket count out of range";
	return NULL;
}

/* KsCheckLayout's test in a few instructions: it runs on every read. */
static inline bool
KsSound(const KpiSummary *s)
{
	uint32 size = VARSIZE(s);
	uint32 cap = (uint32) s->sketch.capacity;

	return size >= KS_SIZE(0) && s->version == KPI_SUMMARY_VERSION &&
		   (s->flags & ~KS_ALL_FLAGS) == 0 && cap <= LK_SKETCH_MAX_INDEX + 1 &&
		   size == KS_SIZE(cap) && (uint32) s->sketch.nbuckets <= cap;
}

/*
 * The fields whose range the accessors rely on: counts not negative (no
 * division by a negative count), amounts of a scale numeric has (printing
 * one writes dscale digits).  A subset of KsValidateScalars, in a few
 * instructions.
 */
static inline bool
KsFieldsInRange(const KpiSummary *s)
{
	return (s->leads | s->conversions | s->cycle_n | s->cycle_excluded | s->cycle_min) >= 0 &&
		   s->conversions <= s->leads && s->cycle_n <= s->conversions - s->cycle_excluded &&
		   s->cycle_min <= s->cycle_max &&
		   (uint32) (s->cost.dscale + 1) <= LK_MONEY_MAX_DSCALE + 1 &&
		   (uint32) (s->revenue.dscale + 1) <= LK_MONEY_MAX_DSCALE + 1;
}

/* Out of line: says which check a value failed. */
pg_noreturn static pg_noinline void
KsCorrupt(const KpiSummary *s)
{
	const char *msg = KsCheckLayout(s);

	if (msg == NULL)
		msg = KsValidateScalars(s);
	lk_corrupt("kpi_summary", msg ? msg : "its fields are inconsistent");
}

/* A detoasted copy only when needed: most stored summaries are plain. */
static inline KpiSummary *
KsDatum(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	return (KpiSummary *) (unlikely(VARATT_IS_EXTENDED(v)) ? pg_detoast_datum(v) : v);
}

/*
 * Every kpi_summary argument: detoasted, with the O(1) checks every reader
 * relies on, the layout (KsSound) and the fields' ranges (KsFieldsInRange).
 * Readers of the sketch check more (KsCheckAll, CyclePercentile).
 */
static pg_attribute_always_inline KpiSummary *
KsDetoast(Datum d)
{
	KpiSummary *s = KsDatum(d);

	if (unlikely(!KsSound(s) || !KsFieldsInRange(s)))
		KsCorrupt(s);
	return s;
}

#define PG_GETARG_KPI_SUMMARY(n) KsDetoast(PG_GETARG_DATUM(n))

/*
 * For readers of the whole value (text and binary output, percentiles, the
 * result of a merge): every fixed field in range, the buckets in order and
 * in range, and the sketch in agreement with the fixed fields.
 * O(nbuckets).  Zero-count buckets of aggregate states are allowed.
 */
static void
KsCheckAll(const KpiSummary *s)
{
	const char *msg;

	if ((msg = KsValidateScalars(s)) != NULL ||
		(!(s->flags & KS_NO_SKETCH) && (msg = lk_sketch_check(&s->sketch)) != NULL) ||
		(msg = KsSketchAgrees(s)) != NULL)
		lk_corrupt("kpi_summary", msg);
}

/*
 * rollup's state.  The first summary of a group becomes the state as it was
 * stored (nodeAgg copies it without calling us), so the transition function
 * checks a state once, then marks it: pad2 holds a tag derived from the
 * state's own address.  A stored value never has it (stored pads are 0, and
 * KsCompact clears it), and a state that nodeAgg copied elsewhere (after
 * KsGrow) no longer matches, so it is checked once more.
 */
static inline int32
KsMark(const KpiSummary *s)
{
	return (int32) ((uint32) ((uintptr_t) s >> 3) ^ 0x6b736d6bU);
}

static inline bool
KsMarked(const KpiSummary *s)
{
	/* the size first: a damaged stored value may end before pad2 */
	return VARSIZE(s) >= KS_SIZE(0) && s->pad2 != 0 && s->pad2 == KsMark(s);
}

/*
 * What merging reads: the layout and the buckets in order and in range (the
 * other fields are only added up, with overflow checks, and the result of a
 * rollup is checked whole in its final function).  O(nbuckets).  ks_merge
 * checks the second summary's buckets itself, as it walks them.
 */
static pg_noinline void
KsCheckForMerge(const KpiSummary *s)
{
	const char *msg;

	if (!KsSound(s))
		KsCorrupt(s);
	if ((msg = lk_sketch_check(&s->sketch)) != NULL)
		lk_corrupt("kpi_summary", msg);
}

pg_noreturn static void
BadInput(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type kpi_summary: \"%s\"", input),
			 errdetail("%s.", detail),
			 errhint("Use a value printed by kpi_summary's output function.")));
}

/* ---------------------------------------------------------------------------
 * Text I/O
 *   v1 leads=N conversions=N cycles=N excluded=N cycle_sum_us=N
 *      cycle_min_us=N cycle_max_us=N cost=D|null revenue=D|null sketch=...|none
 * ------------------------------------------------------------------------- */

/* key=value with an int64 value */
static bool
ParseField(const char **p, const char *key, int64 *out)
{
	return lk_parse_lit(p, key) && lk_parse_int64(p, out, PG_INT64_MIN, PG_INT64_MAX);
}

PG_FUNCTION_INFO_V1(kpi_summary_in);
Datum
kpi_summary_in(PG_FUNCTION_ARGS)
{
	const char *input = PG_GETARG_CSTRING(0);
	const char *p = input;
	KpiSummary	hdr;
	KpiSummary *s;
	LkSketch   *sk = NULL;
	int128		sum;
	const char *msg = NULL;

	memset(&hdr, 0, sizeof(hdr));
	if (!lk_parse_lit(&p, "v1 "))
		BadInput(input, "It must start with the format version \"v1\"");
	if (!ParseField(&p, "leads=", &hdr.leads) ||
		!ParseField(&p, " conversions=", &hdr.conversions) ||
		!ParseField(&p, " cycles=", &hdr.cycle_n) ||
		!ParseField(&p, " excluded=", &hdr.cycle_excluded) ||
		!lk_parse_lit(&p, " cycle_sum_us=") ||
		!lk_parse_int128(&p, &sum, -((int128) 1 << 126), (int128) 1 << 126) ||
		!ParseField(&p, " cycle_min_us=", &hdr.cycle_min) ||
		!ParseField(&p, " cycle_max_us=", &hdr.cycle_max))
		BadInput(input, "A count or cycle field is missing, out of order or out of range");
	hdr.cycle_sum = sum;
	if (!lk_parse_lit(&p, " cost=") || !lk_money_in(&p, &hdr.cost) ||
		!lk_parse_lit(&p, " revenue=") || !lk_money_in(&p, &hdr.revenue))
		BadInput(input, "The cost or revenue field is missing or malformed");
	if (!lk_parse_lit(&p, " sketch="))
		BadInput(input, "The sketch field is missing");
	if (lk_parse_lit(&p, "none"))
		hdr.flags = KS_NO_SKETCH;
	else if ((sk = lk_sketch_in(&p, &msg)) == NULL)
		BadInput(input, msg);
	if (*p != '\0')
		BadInput(input, "Unexpected text after the sketch");

	s = ks_new(sk ? sk->nbuckets : 0, sk != NULL);
	memcpy(&s->leads, &hdr.leads, offsetof(KpiSummary, sketch) - offsetof(KpiSummary, leads));
	if (sk)
		memcpy(&s->sketch, sk, LK_SKETCH_SIZE(sk->nbuckets));
	if ((msg = KsValidate(s)) != NULL)
		BadInput(input, msg);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(kpi_summary_out);
Datum
kpi_summary_out(PG_FUNCTION_ARGS)
{
	KpiSummary	  *s = PG_GETARG_KPI_SUMMARY(0);
	StringInfoData buf;

	KsCheckAll(s);
	initStringInfo(&buf);
	appendStringInfo(&buf, "v%d leads=" INT64_FORMAT " conversions=" INT64_FORMAT " cycles=" INT64_FORMAT " excluded=" INT64_FORMAT " cycle_sum_us=",
					 KPI_SUMMARY_VERSION, s->leads, s->conversions, s->cycle_n,
					 s->cycle_excluded);
	lk_append_int128(&buf, s->cycle_sum);
	appendStringInfo(&buf, " cycle_min_us=" INT64_FORMAT " cycle_max_us=" INT64_FORMAT " cost=",
					 s->cycle_min, s->cycle_max);
	lk_money_out(&buf, &s->cost);
	appendStringInfoString(&buf, " revenue=");
	lk_money_out(&buf, &s->revenue);
	appendStringInfoString(&buf, " sketch=");
	if (s->flags & KS_NO_SKETCH)
		appendStringInfoString(&buf, "none");
	else
		lk_sketch_out(&buf, &s->sketch);
	PG_RETURN_CSTRING(buf.data);
}

/* ---------------------------------------------------------------------------
 * Binary I/O: version byte, flags byte, six int64 counts, the cycle sum as
 * two int64, cost, revenue, then the sketch unless KS_NO_SKETCH.
 * ------------------------------------------------------------------------- */

#define KS_FIXED_WIRE_BYTES (2 + 6 * 8 + 16)

pg_noreturn static void
BadBinary(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid binary input for type kpi_summary"),
			 errdetail("%s.", detail)));
}

static KpiSummary *
KsRecv(StringInfo buf)
{
	KpiSummary	hdr;
	KpiSummary *s;
	LkSketch   *sk = NULL;
	const char *msg = NULL;
	int			version;

	memset(&hdr, 0, sizeof(hdr));
	if (buf->len - buf->cursor < KS_FIXED_WIRE_BYTES)
		BadBinary("The value is truncated");
	version = pq_getmsgbyte(buf);
	if (version != KPI_SUMMARY_VERSION)
		BadBinary("Unknown format version");
	hdr.flags = pq_getmsgbyte(buf);
	if (hdr.flags & ~KS_ALL_FLAGS)
		BadBinary("Unknown flags");
	hdr.leads = pq_getmsgint64(buf);
	hdr.conversions = pq_getmsgint64(buf);
	hdr.cycle_n = pq_getmsgint64(buf);
	hdr.cycle_excluded = pq_getmsgint64(buf);
	hdr.cycle_min = pq_getmsgint64(buf);
	hdr.cycle_max = pq_getmsgint64(buf);
	hdr.cycle_sum = lk_getmsg_int128(buf);
	if (!lk_money_recv(buf, &hdr.cost) || !lk_money_recv(buf, &hdr.revenue))
		BadBinary("The cost or revenue field is truncated or malformed");
	if (!(hdr.flags & KS_NO_SKETCH) && (sk = lk_sketch_recv(buf, &msg)) == NULL)
		BadBinary(msg);
	if (buf->cursor != buf->len)
		BadBinary("Unexpected bytes after the sketch");

	s = ks_new(sk ? sk->nbuckets : 0, sk != NULL);
	s->flags = hdr.flags;
	memcpy(&s->leads, &hdr.leads, offsetof(KpiSummary, sketch) - offsetof(KpiSummary, leads));
	if (sk)
		memcpy(&s->sketch, sk, LK_SKETCH_SIZE(sk->nbuckets));
	if ((msg = KsValidate(s)) != NULL)
		BadBinary(msg);
	return s;
}

PG_FUNCTION_INFO_V1(kpi_summary_recv);
Datum
kpi_summary_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(KsRecv((StringInfo) PG_GETARG_POINTER(0)));
}

/* kpi_summary_from_bytes(bytea): the binary form, e.g. from kpi_summary_send() */
PG_FUNCTION_INFO_V1(kpi_summary_from_bytes);
Datum
kpi_summary_from_bytes(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	/* read in place: KsRecv only uses the pq_getmsg* readers of fixed sizes */
	lk_read_bytes(&buf, PG_GETARG_BYTEA_PP(0));
	PG_RETURN_POINTER(KsRecv(&buf));
}

/* The binary form; s has passed ks_detoast. */
static bytea *
KsSend(const KpiSummary *s)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, KPI_SUMMARY_VERSION);
	pq_sendbyte(&buf, s->flags);
	pq_sendint64(&buf, s->leads);
	pq_sendint64(&buf, s->conversions);
	pq_sendint64(&buf, s->cycle_n);
	pq_sendint64(&buf, s->cycle_excluded);
	pq_sendint64(&buf, s->cycle_min);
	pq_sendint64(&buf, s->cycle_max);
	lk_send_int128(&buf, s->cycle_sum);
	lk_money_send(&buf, &s->cost);
	lk_money_send(&buf, &s->revenue);
	if (!(s->flags & KS_NO_SKETCH))
		lk_sketch_send(&buf, &s->sketch);
	return pq_endtypsend(&buf);
}

/* What is sent must re-read: the whole value is checked first. */
PG_FUNCTION_INFO_V1(kpi_summary_send);
Datum
kpi_summary_send(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	KsCheckAll(s);
	PG_RETURN_BYTEA_P(KsSend(s));
}

/*
 * The bytes = and hash compare: the binary form, which needs only what
 * ks_detoast checks (= and hash run per row in joins and ANALYZE).
 */
static Datum
KsCompareBytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(KsSend(PG_GETARG_KPI_SUMMARY(0)));
}

/* ---------------------------------------------------------------------------
 * Aggregates: kpi_agg, spend_agg, rollup
 * ------------------------------------------------------------------------- */

/* kpi_agg(first_contact, converted_at [, revenue]) for timestamptz and timestamp */
static Datum
KpiAggAccum(FunctionCallInfo fcinfo, bool is_date)
{
	KpiSummary *s = ks_state(fcinfo, true, "kpi_agg");
	bool		converted;
	int64		cycle = 0;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s); /* no first contact: not a lead */
	converted = !PG_ARGISNULL(2);
	if (is_date)
	{
		/* also rejects an infinite first contact of an open lead */
		cycle = lk_date_diff(PG_GETARG_DATEADT(1),
							 converted ? PG_GETARG_DATEADT(2) : PG_GETARG_DATEADT(1),
							 "kpi_agg");
	}
	else
		cycle = lk_timestamp_diff(PG_GETARG_TIMESTAMP(1),
								  converted ? PG_GETARG_TIMESTAMP(2) : PG_GETARG_TIMESTAMP(1),
								  "kpi_agg");
	s = ks_add_lead(s, converted, cycle);
	if (converted && PG_NARGS() > 3 && !PG_ARGISNULL(3))
		lk_money_add_numeric(&s->revenue, PG_GETARG_DATUM(3), "revenue");
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(kpi_agg_accum);
Datum
kpi_agg_accum(PG_FUNCTION_ARGS)
{
	return KpiAggAccum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(kpi_agg_date_accum);
Datum
kpi_agg_date_accum(PG_FUNCTION_ARGS)
{
	return KpiAggAccum(fcinfo, true);
}

PG_FUNCTION_INFO_V1(spend_agg_accum);
Datum
spend_agg_accum(PG_FUNCTION_ARGS)
{
	KpiSummary *s = ks_state(fcinfo, true, "spend_agg");

	if (!PG_ARGISNULL(1))
		lk_money_add_numeric(&s->cost, PG_GETARG_DATUM(1), "cost");
	PG_RETURN_POINTER(s);
}

/*
 * Combine function of every aggregate over kpi_summary, and rollup's
 * transition function.  STRICT, so the executor copies the first non-NULL
 * input into the aggregate context and we only ever update our own copy.
 * Both sides' buckets must be in order for the merge to stay within them:
 * b's are checked on every call, the state's once (KsMarked).
 */
PG_FUNCTION_INFO_V1(kpi_summary_combine);
Datum
kpi_summary_combine(PG_FUNCTION_ARGS)
{
	KpiSummary *a;
	KpiSummary *b = KsDatum(PG_GETARG_DATUM(1));

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kpi_summary_combine called in non-aggregate context")));
	if (unlikely(!KsSound(b)))
		KsCorrupt(b);
	a = KsDatum(PG_GETARG_DATUM(0));
	if (!KsMarked(a))
		KsCheckForMerge(a);
	a = ks_merge(a, b);
	a->pad2 = KsMark(a);
	PG_RETURN_POINTER(a);
}

/*
 * Final function of kpi_agg, spend_agg and rollup: drop spare capacity.  The
 * result of a merge is checked whole, so a rollup over a damaged summary
 * that merged without harm still fails (XX001) rather than give, or store,
 * inconsistent figures.
 */
PG_FUNCTION_INFO_V1(kpi_summary_final);
Datum
kpi_summary_final(PG_FUNCTION_ARGS)
{
	KpiSummary *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = KsDatum(PG_GETARG_DATUM(0));
	if (KsMarked(s))
	{
		/* a merge (rollup, or a parallel plan's combine) */
		s = KsCompact(s);
		KsCheckAll(s);
	}
	else
	{
		/* kpi_agg's own state, or rollup's one stored summary as it was */
		if (unlikely(!KsSound(s)))
			KsCorrupt(s);
		s = KsCompact(s);
	}
	PG_RETURN_POINTER(s);
}

/* kpi_summary + kpi_summary */
PG_FUNCTION_INFO_V1(kpi_summary_add);
Datum
kpi_summary_add(PG_FUNCTION_ARGS)
{
	KpiSummary *a = KsDatum(PG_GETARG_DATUM(0));
	KpiSummary *b = KsDatum(PG_GETARG_DATUM(1));
	KpiSummary *r;

	KsCheckForMerge(a);
	KsCheckForMerge(b);
	r = KsCompact(ks_merge(KsCompact(a) /* a copy we own */, b));

	KsCheckAll(r);
	PG_RETURN_POINTER(r);
}

/*
 * stored - old + new, where old summarizes some of the rows stored
 * summarizes and new what replaces them: a key's summary after a change,
 * from the summaries of its changed rows alone (the live rows and the
 * refresh of materialized reports, sql/reports/live.sql).  NULL when that
 * is not exact, for the caller to recompute the key from its rows:
 *   - old held the shortest or longest cycle, or the revenue's largest
 *     scale, and new does not restore it (what remains is unknown);
 *   - old is not a part of stored (a count would go negative), or there is
 *     a cost or a summary without percentiles (kpi_agg makes neither);
 *   - nothing remains (the recomputation drops the key).
 * A NULL argument is an empty summary.
 */
static KpiSummary *
KsReplace(const KpiSummary *s, const KpiSummary *o, const KpiSummary *n)
{
	KpiSummary *r;
	LkSketch   *sk;
	bool		min_known = true;
	bool		max_known = true;
	bool		scale_known = true;

	if (o == NULL)
	{
		const KpiSummary *base = s ? s : n;

		if (base == NULL)
			return NULL;
		r = KsCompact(base);
		if (base == s && n != NULL)
			r = KsCompact(ks_merge(r, n));
		return r->leads > 0 ? r : NULL;
	}
	if (s == NULL || ((s->flags | o->flags | (n ? n->flags : 0)) & KS_NO_SKETCH) ||
		lk_money_present(&s->cost) || lk_money_present(&o->cost) || (n && lk_money_present(&n->cost)))
		return NULL;
	if (o->leads > s->leads || o->conversions > s->conversions ||
		o->cycle_n > s->cycle_n || o->cycle_excluded > s->cycle_excluded)
		return NULL;
	if ((sk = lk_sketch_subtract(&s->sketch, &o->sketch)) == NULL)
		return NULL;

	r = ks_new(sk->nbuckets, true);
	lk_sketch_copy_used(&r->sketch, sk);
	r->leads = s->leads - o->leads;
	r->conversions = s->conversions - o->conversions;
	r->cycle_excluded = s->cycle_excluded - o->cycle_excluded;
	r->cycle_n = s->cycle_n - o->cycle_n;
	r->cycle_sum = s->cycle_sum - o->cycle_sum;
	if (r->cycle_n == 0)
	{
		if (r->cycle_sum != 0)
			return NULL;
	}
	else
	{
		/* an extreme stays known unless a removed cycle may have been it */
		min_known = o->cycle_n == 0 || o->cycle_min > s->cycle_min;
		max_known = o->cycle_n == 0 || o->cycle_max < s->cycle_max;
		r->cycle_min = s->cycle_min;
		r->cycle_max = s->cycle_max;
		/* new restores an unknown extreme when it reaches past stored's */
		if (!min_known && !(n && n->cycle_n > 0 && n->cycle_min <= s->cycle_min))
			return NULL;
		if (!max_known && !(n && n->cycle_n > 0 && n->cycle_max >= s->cycle_max))
			return NULL;
	}
	if (!lk_money_present(&o->revenue))
		r->revenue = s->revenue;
	else
	{
		if (!lk_money_present(&s->revenue) || o->revenue.dscale > s->revenue.dscale)
			return NULL;
		/* a remaining amount has stored's scale unless old's reached it */
		scale_known = o->revenue.dscale < s->revenue.dscale;
		if (!scale_known && !(n && lk_money_present(&n->revenue) && n->revenue.dscale >= s->revenue.dscale))
			return NULL;
		r->revenue = s->revenue;
		lk_money_sub(&r->revenue, &o->revenue, "revenue");
	}
	/* counts that fit one by one may still not fit together: old was not a part */
	if (r->conversions > r->leads || r->cycle_n > r->conversions - r->cycle_excluded ||
		lk_sketch_total(&r->sketch) != r->cycle_n)
		return NULL;
	if (n)
		r = ks_merge(r, n);
	if (r->leads == 0)
		return NULL;
	return KsCompact(r);
}

PG_FUNCTION_INFO_V1(kpi_summary_replace);
Datum
kpi_summary_replace(PG_FUNCTION_ARGS)
{
	KpiSummary *arg[3];
	KpiSummary *r;

	for (int i = 0; i < 3; i++)
	{
		arg[i] = PG_ARGISNULL(i) ? NULL : KsDatum(PG_GETARG_DATUM(i));
		if (arg[i])
			KsCheckAll(arg[i]);
	}
	r = KsReplace(arg[0], arg[1], arg[2]);
	if (r == NULL)
		PG_RETURN_NULL();
	KsCheckAll(r);
	PG_RETURN_POINTER(r);
}

/* kpi_summary = kpi_summary, <> and the hash opclass: see lk_send_equal */
PG_FUNCTION_INFO_V1(kpi_summary_eq);
Datum
kpi_summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lk_send_equal(KsCompareBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(kpi_summary_ne);
Datum
kpi_summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!lk_send_equal(KsCompareBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(kpi_summary_hash);
Datum
kpi_summary_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32(lk_send_hash(KsCompareBytes, PG_GETARG_DATUM(0)));
}

/* ---------------------------------------------------------------------------
 * Accessors: the one place each KPI is defined
 * ------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(kpi_leads);
Datum
kpi_leads(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_KPI_SUMMARY(0)->leads);
}

PG_FUNCTION_INFO_V1(kpi_conversions);
Datum
kpi_conversions(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_KPI_SUMMARY(0)->conversions);
}

PG_FUNCTION_INFO_V1(kpi_cycles_excluded);
Datum
kpi_cycles_excluded(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_KPI_SUMMARY(0)->cycle_excluded);
}

PG_FUNCTION_INFO_V1(kpi_cost);
Datum
kpi_cost(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (!lk_money_present(&s->cost))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(lk_money_numeric(&s->cost));
}

PG_FUNCTION_INFO_V1(kpi_revenue);
Datum
kpi_revenue(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (!lk_money_present(&s->revenue))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(lk_money_numeric(&s->revenue));
}

/* conversions / leads; NULL without leads */
PG_FUNCTION_INFO_V1(kpi_conversion_rate);
Datum
kpi_conversion_rate(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (s->leads == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) s->conversions / (double) s->leads);
}

/* amount / count in numeric, as sum(amount) / sum(count) computes it */
static Datum
MoneyPer(const LkMoney *m, int64 count, bool *isnull)
{
	*isnull = !lk_money_present(m) || count == 0;
	if (*isnull)
		return (Datum) 0;
	return DirectFunctionCall2(numeric_div, lk_money_numeric(m),
							   DirectFunctionCall1(int8_numeric, Int64GetDatum(count)));
}

PG_FUNCTION_INFO_V1(kpi_cost_per_lead);
Datum
kpi_cost_per_lead(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);
	bool		isnull;
	Datum		r = MoneyPer(&s->cost, s->leads, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(r);
}

PG_FUNCTION_INFO_V1(kpi_cost_per_order);
Datum
kpi_cost_per_order(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);
	bool		isnull;
	Datum		r = MoneyPer(&s->cost, s->conversions, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(r);
}

PG_FUNCTION_INFO_V1(kpi_revenue_per_lead);
Datum
kpi_revenue_per_lead(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);
	bool		isnull;
	Datum		r = MoneyPer(&s->revenue, s->leads, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(r);
}

/* (revenue - cost) / cost; NULL without revenue, without cost, or at zero cost */
PG_FUNCTION_INFO_V1(kpi_roi);
Datum
kpi_roi(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);
	Datum		cost;
	Datum		rev;

	if (!lk_money_present(&s->cost) || !lk_money_present(&s->revenue) ||
		s->cost.sum == 0)
		PG_RETURN_NULL();
	cost = lk_money_numeric(&s->cost);
	rev = lk_money_numeric(&s->revenue);
	PG_RETURN_DATUM(DirectFunctionCall2(numeric_div,
										DirectFunctionCall2(numeric_sub, rev, cost),
										cost));
}

/* mean cycle, rounded to the microsecond; NULL without cycles */
PG_FUNCTION_INFO_V1(kpi_sales_cycle_avg);
Datum
kpi_sales_cycle_avg(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (s->cycle_n == 0)
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(lk_div_round(s->cycle_sum,
															s->cycle_n)));
}

PG_FUNCTION_INFO_V1(kpi_sales_cycle_min);
Datum
kpi_sales_cycle_min(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (s->cycle_n == 0)
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(s->cycle_min));
}

PG_FUNCTION_INFO_V1(kpi_sales_cycle_max);
Datum
kpi_sales_cycle_max(PG_FUNCTION_ARGS)
{
	KpiSummary *s = PG_GETARG_KPI_SUMMARY(0);

	if (s->cycle_n == 0)
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(s->cycle_max));
}

static Datum
CyclePercentile(FunctionCallInfo fcinfo, KpiSummary *s, double fraction)
{
	double		v;
	int64		usec;
	const char *msg;

	if (isnan(fraction) || fraction < 0 || fraction > 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("percentile value %g is not between 0 and 1", fraction)));
	if (s->flags & KS_NO_SKETCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this kpi_summary has no sales-cycle sketch"),
				 errhint("Build it with kpi_agg(), spend_agg() or rollup().")));
	if (s->cycle_n == 0)
		PG_RETURN_NULL();
	/* the quantile walks the buckets by rank: counts that add up to cycle_n */
	if ((msg = lk_sketch_check(&s->sketch)) != NULL ||
		(lk_sketch_total(&s->sketch) != s->cycle_n && (msg = "sketch total disagrees with the number of cycles")))
		lk_corrupt("kpi_summary", msg);
	v = lk_sketch_quantile_bounded(&s->sketch, fraction,
								   (double) s->cycle_min, (double) s->cycle_max);
	/* the exact extremes also bound every interior estimate */
	usec = lk_sketch_usec(v);
	usec = Max(usec, s->cycle_min);
	usec = Min(usec, s->cycle_max);
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(usec));
}

PG_FUNCTION_INFO_V1(kpi_sales_cycle_percentile);
Datum
kpi_sales_cycle_percentile(PG_FUNCTION_ARGS)
{
	return CyclePercentile(fcinfo, PG_GETARG_KPI_SUMMARY(0), PG_GETARG_FLOAT8(1));
}

PG_FUNCTION_INFO_V1(kpi_sales_cycle_median);
Datum
kpi_sales_cycle_median(PG_FUNCTION_ARGS)
{
	return CyclePercentile(fcinfo, PG_GETARG_KPI_SUMMARY(0), 0.5);
}
