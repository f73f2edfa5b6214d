/*
 * sketch.c: the logarithmic-bucket quantile sketch shared by kpi_summary
 * (sales-cycle percentiles) and funnel_summary (time to convert).
 * See sketch.h for the guarantees.
 */
#include "sketch.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"

/* 1 / ln(gamma), gamma = (1 + alpha) / (1 - alpha) */
static double
InvLogGamma(void)
{
	static double inv = 0.0;

	if (inv == 0.0)
		inv = 1.0 / log((1.0 + LK_SKETCH_ALPHA) / (1.0 - LK_SKETCH_ALPHA));
	return inv;
}

/* The defining formula: the smallest i >= 0 with usec <= gamma^i. */
static int32
IndexByLog(int64 usec)
{
	double i = ceil(log((double) usec) * InvLogGamma());

	return i < 0 ? 0 : (int32) i;
}

/*
 * lk_sketch_index runs once per row, and a log() per row was a tenth of
 * kpi_agg's time.  It reads tables instead, built once per backend from
 * IndexByLog itself, so the mapping is the formula's, bit for bit.  A value
 * of at least 256 falls in octave e (its leading one bit) and in one of 128
 * slices of that octave (the next 7 bits).  A slice spans a ratio of at most
 * 129/128, less than gamma, so it meets at most one bucket boundary: the
 * slice's first bucket, or the next one when the value exceeds the first
 * bucket's largest member.
 */
#define SMALL_VALUES 256
#define SLICE_BITS 7
#define FIRST_OCTAVE 8 /* log2(SMALL_VALUES) */
#define NOCTAVES (63 - FIRST_OCTAVE)

static int16 SmallIndex[SMALL_VALUES];
static int16 SliceFirst[NOCTAVES][1 << SLICE_BITS];
static int64 BucketMax[LK_SKETCH_MAX_INDEX + 1]; /* largest usec in bucket i */
static bool	 TablesReady = false;

static void
BuildIndexTables(void)
{
	double gamma = (1.0 + LK_SKETCH_ALPHA) / (1.0 - LK_SKETCH_ALPHA);

	for (int v = 1; v < SMALL_VALUES; v++)
		SmallIndex[v] = (int16) IndexByLog(v);
	for (int e = 0; e < NOCTAVES; e++)
		for (int s = 0; s < (1 << SLICE_BITS); s++)
			SliceFirst[e][s] = (int16) IndexByLog((int64) ((1 << SLICE_BITS) + s) << (e + FIRST_OCTAVE - SLICE_BITS));
	for (int32 i = 0; i <= LK_SKETCH_MAX_INDEX; i++)
	{
		/* bucket i's largest member is about gamma^i: bracket, then bisect */
		double g = floor(pow(gamma, i));
		int64  guess = g >= 9.2e18 ? PG_INT64_MAX : Max((int64) g, 1);
		int64  lo = guess;
		int64  hi = guess;
		int64  step = 1;

		while (lo > 1 && IndexByLog(lo) > i)
		{
			lo = Max(lo - step, 1);
			step *= 2;
		}
		step = 1;
		while (hi < PG_INT64_MAX && IndexByLog(hi) <= i)
		{
			hi = hi > PG_INT64_MAX - step ? PG_INT64_MAX : hi + step;
			step *= 2;
		}
		if (IndexByLog(hi) <= i)
			lo = hi; /* the last bucket reaches the int64 maximum */
		/* invariant: IndexByLog(lo) <= i < IndexByLog(hi), or lo == hi */
		while (hi - lo > 1)
		{
			int64 mid = lo + (hi - lo) / 2;

			if (IndexByLog(mid) <= i)
				lo = mid;
			else
				hi = mid;
		}
		BucketMax[i] = lo;
	}
	/* the one-boundary claim, checked rather than trusted */
	for (int e = 0; e < NOCTAVES; e++)
		for (int s = 0; s < (1 << SLICE_BITS); s++)
		{
			int64 last = (((int64) ((1 << SLICE_BITS) + s + 1)) << (e + FIRST_OCTAVE - SLICE_BITS)) - 1;

			if (IndexByLog(last) > SliceFirst[e][s] + 1)
				elog(ERROR, "leadkpi: sketch slice %d/%d spans two bucket boundaries", e, s);
		}
	TablesReady = true;
}

int32
lk_sketch_index(int64 usec)
{
	int	  e;
	int32 i;

	Assert(usec > 0);
	if (unlikely(!TablesReady))
		BuildIndexTables();
	if (usec < SMALL_VALUES)
		return SmallIndex[usec];
	e = pg_leftmost_one_pos64((uint64) usec);
	i = SliceFirst[e - FIRST_OCTAVE][(usec >> (e - SLICE_BITS)) & ((1 << SLICE_BITS) - 1)];
	return i + (usec > BucketMax[i]);
}

/* Representative value of bucket i: within alpha of everything in it. */
static double
BucketValue(int32 index)
{
	double gamma = (1.0 + LK_SKETCH_ALPHA) / (1.0 - LK_SKETCH_ALPHA);

	return 2.0 * pow(gamma, index) / (gamma + 1.0);
}

/*
 * First slot whose index is >= index.  Indexes are unique sorted integers, so
 * slot j holds an index of at least first + j and at most last - (n-1-j):
 * that bounds the slot to [n-1-(last-index), index-first], a single slot when
 * the buckets are consecutive, as they are in any sizeable sketch.  A binary
 * search finishes what the bounds leave.
 */
static int32
FindSlot(const LkSketch *s, int32 index)
{
	int32 n = s->nbuckets;
	int32 lo;
	int32 hi;

	if (n == 0 || index <= s->buckets[0].index)
		return 0;
	if (index > s->buckets[n - 1].index)
		return n;
	lo = Max(0, n - 1 - (s->buckets[n - 1].index - index));
	hi = Min(n - 1, index - s->buckets[0].index) + 1;

	/*
	 * Branch-free lower bound over [lo, hi): the compiler turns the select
	 * into a conditional move, where a branch would be mispredicted half
	 * the time on every row.
	 */
	{
		const LkSketchBucket *base = s->buckets + lo;
		int32				  len = hi - lo;

		while (len > 1)
		{
			int32 half = len / 2;

			base = (base[half - 1].index < index) ? base + half : base;
			len -= half;
		}
		return (int32) (base - s->buckets) + (base->index < index);
	}
}

/*
 * Small holes between buckets are filled with zero-count buckets while there
 * is spare capacity (using at most half of it): the body of a distribution
 * then becomes one consecutive run, where a bucket is found by subtraction
 * and a new one never shifts the others.  Only holes of up to FILL_MAX are
 * filled, so a state holds at most FILL_MAX + 1 slots per real bucket even on
 * adversarial data (and never more than LK_SKETCH_MAX_INDEX + 1 in all).
 * Zero-count buckets only live in aggregate states; every output drops them.
 */
#define FILL_MAX 8

bool
lk_sketch_add_index(LkSketch *s, int32 index, int64 count)
{
	int32 n = s->nbuckets;
	int32 slot;
	int32 first;
	int32 last;
	int32 lo;
	int32 hi;
	int32 free_fill;

	if (index < 0)
	{
		s->zero_count = lk_add_count(s->zero_count, count);
		return true;
	}
	if (likely(n > 0))
	{
		/* the common case in a consecutive run: slot = index - first */
		uint32 d = (uint32) (index - s->buckets[0].index);

		if (d < (uint32) n && s->buckets[d].index == index)
		{
			s->buckets[d].count = lk_add_count(s->buckets[d].count, count);
			return true;
		}
	}
	slot = FindSlot(s, index);
	if (slot < n && s->buckets[slot].index == index)
	{
		s->buckets[slot].count = lk_add_count(s->buckets[slot].count, count);
		return true;
	}
	if (n >= s->capacity)
		return false;

	/* a new bucket: take the whole hole [lo, hi] around it when there is room */
	free_fill = Min((s->capacity - n - 1) / 2, FILL_MAX);
	first = n > 0 ? s->buckets[0].index : index;
	last = n > 0 ? s->buckets[n - 1].index : index;
	if (n == 0)
		lo = hi = index;
	else if (index > last)
	{
		lo = last + 1;
		hi = index;
	}
	else if (index < first)
	{
		lo = index;
		hi = first - 1;
	}
	else
	{
		lo = s->buckets[slot - 1].index + 1;
		hi = s->buckets[slot].index - 1;
	}
	if (hi - lo > free_fill)
		lo = hi = index;
	memmove(&s->buckets[slot + (hi - lo + 1)], &s->buckets[slot],
			(n - slot) * sizeof(LkSketchBucket));
	for (int32 i = lo; i <= hi; i++)
	{
		LkSketchBucket *b = &s->buckets[slot + (i - lo)];

		b->index = i;
		b->pad = 0;
		b->count = (i == index) ? count : 0;
	}
	s->nbuckets = n + (hi - lo + 1);
	return true;
}

LkSketch *
lk_sketch_new(int32 capacity)
{
	LkSketch *s = palloc0(LK_SKETCH_SIZE(capacity));

	s->capacity = capacity;
	return s;
}

LkSketch *
lk_sketch_from_counts(int64 zero_count, const int64 *counts)
{
	int32	  n = 0;
	LkSketch *s;

	for (int32 i = 0; i <= LK_SKETCH_MAX_INDEX; i++)
		n += (counts[i] != 0);
	s = lk_sketch_new(n);
	s->zero_count = zero_count;
	for (int32 i = 0; i <= LK_SKETCH_MAX_INDEX; i++)
	{
		if (counts[i] != 0)
		{
			s->buckets[s->nbuckets].index = i;
			s->buckets[s->nbuckets].count = counts[i];
			s->nbuckets++;
		}
	}
	return s;
}

int32
lk_sketch_used_buckets(const LkSketch *s)
{
	int32 used = 0;

	for (int32 i = 0; i < s->nbuckets; i++)
		used += (s->buckets[i].count != 0);
	return used;
}

void
lk_sketch_copy_used(LkSketch *dst, const LkSketch *src)
{
	int32 k = 0;

	dst->zero_count = src->zero_count;
	for (int32 i = 0; i < src->nbuckets; i++)
		if (src->buckets[i].count != 0)
			dst->buckets[k++] = src->buckets[i];
	dst->nbuckets = k;
}

LkSketch *
lk_sketch_subtract(const LkSketch *s, const LkSketch *o)
{
	LkSketch *r;
	int32	  j = 0;

	if (o->zero_count > s->zero_count)
		return NULL;
	r = lk_sketch_new(s->nbuckets);
	r->zero_count = s->zero_count - o->zero_count;
	for (int32 i = 0; i < s->nbuckets; i++)
	{
		int64 c = s->buckets[i].count;

		/* o's buckets that s lacks must be empty */
		for (; j < o->nbuckets && o->buckets[j].index < s->buckets[i].index; j++)
			if (o->buckets[j].count != 0)
				return NULL;
		if (j < o->nbuckets && o->buckets[j].index == s->buckets[i].index)
			c -= o->buckets[j++].count;
		if (c < 0)
			return NULL;
		if (c > 0)
		{
			r->buckets[r->nbuckets].index = s->buckets[i].index;
			r->buckets[r->nbuckets].count = c;
			r->nbuckets++;
		}
	}
	for (; j < o->nbuckets; j++)
		if (o->buckets[j].count != 0)
			return NULL;
	return r;
}

int64
lk_sketch_total(const LkSketch *s)
{
	int64 n = s->zero_count;

	for (int32 i = 0; i < s->nbuckets; i++)
		n = lk_add_count(n, s->buckets[i].count);
	return n;
}

int32
lk_sketch_union_buckets(const LkSketch *a, const LkSketch *b)
{
	int32 i = 0;
	int32 j = 0;
	int32 n = 0;

	while (i < a->nbuckets || j < b->nbuckets)
	{
		if (j >= b->nbuckets ||
			(i < a->nbuckets && a->buckets[i].index < b->buckets[j].index))
			i++;
		else if (i >= a->nbuckets || b->buckets[j].index < a->buckets[i].index)
			j++;
		else
			i++, j++;
		n++;
	}
	return n;
}

/* A bucket that lk_sketch_check rejects: index out of range or order, or a negative count. */
static inline bool
BadBucket(const LkSketchBucket *b, int32 prev)
{
	return (uint32) b->index > LK_SKETCH_MAX_INDEX || b->index <= prev || b->count < 0;
}

int32
lk_sketch_union_buckets_checked(const LkSketch *a, const LkSketch *b)
{
	int32 i = 0;
	int32 j = 0;
	int32 n = 0;
	int32 pa = -1;
	int32 pb = -1;

	if (a->zero_count < 0 || b->zero_count < 0)
		return -1;
	/* lk_sketch_union_buckets' walk; each bucket is checked as it is passed */
	while (i < a->nbuckets || j < b->nbuckets)
	{
		bool ta = i < a->nbuckets;
		bool tb = j < b->nbuckets;

		if (!tb || (ta && a->buckets[i].index < b->buckets[j].index))
		{
			if (BadBucket(&a->buckets[i], pa))
				return -1;
			pa = a->buckets[i++].index;
		}
		else if (!ta || b->buckets[j].index < a->buckets[i].index)
		{
			if (BadBucket(&b->buckets[j], pb))
				return -1;
			pb = b->buckets[j++].index;
		}
		else
		{
			if (BadBucket(&a->buckets[i], pa) || BadBucket(&b->buckets[j], pb))
				return -1;
			pa = a->buckets[i++].index;
			pb = b->buckets[j++].index;
		}
		n++;
	}
	return n;
}

void
lk_sketch_merge(LkSketch *dst, const LkSketch *a, const LkSketch *b)
{
	int32 n = lk_sketch_union_buckets(a, b);
	int32 i = a->nbuckets - 1;
	int32 j = b->nbuckets - 1;
	int32 k = n - 1;
	int32 na = a->nbuckets;

	Assert(dst->capacity >= n);
	if (dst != a)
	{
		/* copy a's buckets in first, so the backwards merge below works */
		memcpy(dst->buckets, a->buckets, na * sizeof(LkSketchBucket));
		dst->zero_count = a->zero_count;
	}
	dst->zero_count = lk_add_count(dst->zero_count, b->zero_count);

	/* merge from the back, so dst's own buckets are never overwritten early */
	while (j >= 0)
	{
		if (i >= 0 && dst->buckets[i].index > b->buckets[j].index)
			dst->buckets[k--] = dst->buckets[i--];
		else if (i >= 0 && dst->buckets[i].index == b->buckets[j].index)
		{
			LkSketchBucket m = dst->buckets[i--];

			m.count = lk_add_count(m.count, b->buckets[j--].count);
			dst->buckets[k--] = m;
		}
		else
			dst->buckets[k--] = b->buckets[j--];
	}
	/* what remains of a is already in place */
	dst->nbuckets = n;
}

/* Value of the rank-th smallest element (0-based); rank < total. */
static double
ValueAtRank(const LkSketch *s, int64 rank)
{
	int64 seen = s->zero_count;

	if (rank < seen)
		return 0.0;
	for (int32 i = 0; i < s->nbuckets; i++)
	{
		seen += s->buckets[i].count;
		if (rank < seen)
			return BucketValue(s->buckets[i].index);
	}
	/* unreachable for a valid sketch */
	return s->nbuckets > 0 ? BucketValue(s->buckets[s->nbuckets - 1].index) : 0.0;
}

double
lk_sketch_quantile_bounded(const LkSketch *s, double fraction, double min, double max)
{
	int64  n = lk_sketch_total(s);
	double rank = fraction * (double) (n - 1);
	int64  lo = (int64) floor(rank);
	int64  hi = (int64) ceil(rank);
	double vlo;
	double vhi;

	Assert(n > 0);
	/* the exact extremes are the first and last order statistics */
	vlo = (lo == 0) ? min : (lo == n - 1) ? max :
											ValueAtRank(s, lo);
	if (hi == lo)
		return vlo;
	vhi = (hi == n - 1) ? max : ValueAtRank(s, hi);

	/*
	 * Linear interpolation with non-negative weights keeps the relative error
	 * bound of both ends, so this stays within alpha of percentile_cont.
	 */
	return vlo + (rank - (double) lo) * (vhi - vlo);
}

double
lk_sketch_quantile(const LkSketch *s, double fraction)
{
	int64 n = lk_sketch_total(s);

	return lk_sketch_quantile_bounded(s, fraction, ValueAtRank(s, 0), ValueAtRank(s, n - 1));
}

void
lk_sketch_out(StringInfo buf, const LkSketch *s)
{
	appendStringInfo(buf, "z" INT64_FORMAT, s->zero_count);
	for (int32 i = 0; i < s->nbuckets; i++)
		if (s->buckets[i].count != 0)
			appendStringInfo(buf, " %d:" INT64_FORMAT,
							 s->buckets[i].index, s->buckets[i].count);
}

/* A non-negative decimal int64. */
static bool
ParseInt64(const char **p, int64 *out)
{
	return lk_parse_int64(p, out, 0, PG_INT64_MAX);
}

LkSketch *
lk_sketch_in(const char **p, const char **err)
{
	const char *c = *p;
	int64		zero;
	int32		n = 0;
	int32		cap = 8;
	LkSketch   *s;
	const char *msg;

	if (*c != 'z')
	{
		*err = "sketch must start with z<count>";
		return NULL;
	}
	c++;
	if (!ParseInt64(&c, &zero))
	{
		*err = "invalid zero count in sketch";
		return NULL;
	}
	s = palloc0(LK_SKETCH_SIZE(cap));
	s->zero_count = zero;
	while (*c == ' ' && c[1] >= '0' && c[1] <= '9')
	{
		int64 idx;
		int64 cnt;

		c++;
		if (!ParseInt64(&c, &idx) || *c != ':' || idx > LK_SKETCH_MAX_INDEX)
		{
			*err = "invalid bucket index in sketch";
			return NULL;
		}
		c++;
		if (!ParseInt64(&c, &cnt))
		{
			*err = "invalid bucket count in sketch";
			return NULL;
		}
		if (n == cap)
		{
			cap *= 2;
			s = repalloc(s, LK_SKETCH_SIZE(cap));
		}
		s->buckets[n].index = (int32) idx;
		s->buckets[n].pad = 0;
		s->buckets[n].count = cnt;
		n++;
	}
	s->nbuckets = n;
	s->capacity = n;
	if ((msg = lk_sketch_validate(s)) != NULL)
	{
		*err = msg;
		return NULL;
	}
	*p = c;
	return s;
}

void
lk_sketch_send(StringInfo buf, const LkSketch *s)
{
	pq_sendint64(buf, s->zero_count);
	pq_sendint32(buf, lk_sketch_used_buckets(s));
	for (int32 i = 0; i < s->nbuckets; i++)
	{
		if (s->buckets[i].count == 0)
			continue;
		pq_sendint32(buf, s->buckets[i].index);
		pq_sendint64(buf, s->buckets[i].count);
	}
}

LkSketch *
lk_sketch_recv(StringInfo buf, const char **err)
{
	int64		zero;
	int32		n;
	LkSketch   *s;
	const char *msg;

	/* check lengths before reading, so a short message is our error */
	if (buf->len - buf->cursor < 12)
	{
		*err = "truncated sketch";
		return NULL;
	}
	zero = pq_getmsgint64(buf);
	n = pq_getmsgint(buf, 4);
	if (n < 0 || n > LK_SKETCH_MAX_INDEX + 1 ||
		(int64) (buf->len - buf->cursor) < (int64) n * 12)
	{
		*err = "invalid sketch bucket count";
		return NULL;
	}
	s = palloc0(LK_SKETCH_SIZE(n));
	s->zero_count = zero;
	s->nbuckets = n;
	s->capacity = n;
	for (int32 i = 0; i < n; i++)
	{
		s->buckets[i].index = pq_getmsgint(buf, 4);
		s->buckets[i].count = pq_getmsgint64(buf);
	}
	if ((msg = lk_sketch_validate(s)) != NULL)
	{
		*err = msg;
		return NULL;
	}
	return s;
}

const char *
lk_sketch_check(const LkSketch *s)
{
	int32 prev = -1;

	if (s->zero_count < 0)
		return "negative zero count in sketch";
	for (int32 i = 0; i < s->nbuckets; i++)
	{
		const LkSketchBucket *b = &s->buckets[i];

		/* one unsigned comparison covers 0 <= index <= max as well */
		if ((uint32) b->index > LK_SKETCH_MAX_INDEX)
			return "sketch bucket index out of range";
		if (b->index <= prev)
			return "sketch bucket indexes must be strictly increasing";
		if (b->count < 0)
			return "negative sketch bucket count";
		prev = b->index;
	}
	return NULL;
}

static const char *
SketchValidate(const LkSketch *s, bool allow_empty)
{
	int64		total = s->zero_count;
	const char *msg;

	if ((msg = lk_sketch_check(s)) != NULL)
		return msg;
	for (int32 i = 0; i < s->nbuckets; i++)
	{
		if (s->buckets[i].count == 0 && !allow_empty)
			return "sketch bucket counts must be positive";
		if (__builtin_add_overflow(total, s->buckets[i].count, &total))
			return "sketch total out of range";
	}
	return NULL;
}

const char *
lk_sketch_validate(const LkSketch *s)
{
	return SketchValidate(s, false);
}

const char *
lk_sketch_validate_state(const LkSketch *s)
{
	return SketchValidate(s, true);
}
