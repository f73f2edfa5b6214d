/*
 * sketch.h: leadkpi's one mergeable quantile sketch, for durations.
 *
 * DDSketch-style logarithmic buckets over microseconds: bucket i holds the
 * values in (gamma^(i-1), gamma^i], with gamma = (1 + alpha) / (1 - alpha) and
 * alpha = 1%.  Every estimate is within 1% of a true order statistic, and
 * merging two sketches adds bucket counts, which is exact, associative and
 * commutative.  Zero durations have a bucket of their own.
 *
 * A sketch lives inside a varlena summary as a header followed by `capacity`
 * bucket slots, of which the first `nbuckets` are used, sorted by index.
 * Inside an aggregate's state some of them may have a count of 0 (see
 * lk_sketch_add_index); stored and printed sketches never do.
 */
#ifndef LEADKPI_SKETCH_H
#define LEADKPI_SKETCH_H

#include "leadkpi.h"

#include <math.h>

#define LK_SKETCH_ALPHA 0.01
/* gamma^LK_SKETCH_MAX_INDEX exceeds the int64 range of microseconds */
#define LK_SKETCH_MAX_INDEX 2200

typedef struct LkSketchBucket
{
	int32 index;
	int32 pad; /* always 0, keeps count 8-byte aligned */
	int64 count;
} LkSketchBucket;

typedef struct LkSketch
{
	int64		   zero_count; /* durations of exactly zero */
	int32		   nbuckets;   /* used slots */
	int32		   capacity;   /* allocated slots */
	LkSketchBucket buckets[FLEXIBLE_ARRAY_MEMBER];
} LkSketch;

#define LK_SKETCH_SIZE(capacity) \
	(offsetof(LkSketch, buckets) + (Size) (capacity) * sizeof(LkSketchBucket))

/* Bucket index of a positive duration in microseconds. */
extern int32 lk_sketch_index(int64 usec);

/*
 * Adds `count` values at bucket `index` (index < 0 means the zero bucket).
 * Returns false, changing nothing, when a new bucket is needed and the sketch
 * is full; the caller grows its varlena and retries.  May fill a hole with
 * zero-count buckets when there is spare capacity.
 */
extern bool lk_sketch_add_index(LkSketch *s, int32 index, int64 count);

/* An empty sketch with room for `capacity` buckets, palloc'd. */
extern LkSketch *lk_sketch_new(int32 capacity);

/*
 * A sketch from counts by bucket: zero_count zero durations and counts[i]
 * values in bucket i, for i in 0..LK_SKETCH_MAX_INDEX.  palloc'd, holding
 * only the non-zero buckets (capacity == nbuckets), as stored sketches do.
 */
extern LkSketch *lk_sketch_from_counts(int64 zero_count, const int64 *counts);

/* Buckets with a non-zero count, and a copy of only those (dst has room). */
extern int32 lk_sketch_used_buckets(const LkSketch *s);
extern void	 lk_sketch_copy_used(LkSketch *dst, const LkSketch *src);

/*
 * s - o, a new sketch holding only the non-zero buckets, when o is a part of
 * s (every bucket of o holds at most what s's holds); else NULL.  Both must
 * have their buckets in order (checked by the caller).
 */
extern LkSketch *lk_sketch_subtract(const LkSketch *s, const LkSketch *o);

/* Number of values in the sketch. */
extern int64 lk_sketch_total(const LkSketch *s);

/* Number of distinct bucket indexes in the union of a and b. */
extern int32 lk_sketch_union_buckets(const LkSketch *a, const LkSketch *b);

/*
 * The same count for sketches read from stored values, checking both as
 * lk_sketch_check does in the same walk (the caller has checked that their
 * nbuckets fit their values): -1 when one fails.  lk_sketch_merge needs
 * both in order.
 */
extern int32 lk_sketch_union_buckets_checked(const LkSketch *a, const LkSketch *b);

/*
 * Writes a + b into dst, whose capacity must be at least
 * lk_sketch_union_buckets(a, b).  dst may be the same memory as a.
 */
extern void lk_sketch_merge(LkSketch *dst, const LkSketch *a, const LkSketch *b);

/*
 * Estimated fraction-quantile in microseconds, interpolated between the two
 * neighbouring order statistics as percentile_cont does.  Requires a
 * non-empty sketch and 0 <= fraction <= 1.
 */
extern double lk_sketch_quantile(const LkSketch *s, double fraction);

/*
 * The same, when the exact minimum and maximum are known: they stand for the
 * first and last order statistics, so fractions 0 and 1 are exact.
 */
extern double lk_sketch_quantile_bounded(const LkSketch *s, double fraction,
										 double min, double max);

/*
 * An estimate in microseconds as an int64: the top bucket's value can exceed
 * the int64 range, where a plain cast is undefined, so it saturates.
 */
static inline int64
lk_sketch_usec(double v)
{
	if (!(v > 0)) /* also NaN */
		return 0;
	if (v >= 9223372036854775808.0) /* 2^63 */
		return PG_INT64_MAX;
	return (int64) llround(v); /* below 2^63 doubles are 1024 apart: no overflow */
}

/* Text form: "z<zero_count>" then " <index>:<count>" per bucket. */
extern void lk_sketch_out(StringInfo buf, const LkSketch *s);

/*
 * Parses the text form at *p, stopping at the first character that cannot
 * continue it.  Returns a palloc'd sketch with capacity == nbuckets, or NULL
 * (with *err set) on malformed input.
 */
extern LkSketch *lk_sketch_in(const char **p, const char **err);

/* Binary form, used by send/recv: counts and buckets, validated on receipt. */
extern void		 lk_sketch_send(StringInfo buf, const LkSketch *s);
extern LkSketch *lk_sketch_recv(StringInfo buf, const char **err);

/*
 * Checks what every input function must check: indexes strictly increasing
 * and in range, counts positive, the total within int64.  Returns NULL when
 * valid, else a message.
 */
extern const char *lk_sketch_validate(const LkSketch *s);

/*
 * lk_sketch_validate for an aggregate's transition state, which may hold
 * buckets of count zero (spare capacity) until its final function: Citus
 * prints partial states of the workers with the type's output function.
 */
extern const char *lk_sketch_validate_state(const LkSketch *s);

/*
 * The part of lk_sketch_validate that reading and merging a sketch rely on
 * to stay within its buckets: indexes strictly increasing and in range,
 * counts not negative (aggregate states hold zero counts).  O(nbuckets), for
 * sketches read from a stored value; the caller has checked that nbuckets
 * fits the value's size.  NULL when it holds, else a message.
 */
extern const char *lk_sketch_check(const LkSketch *s);

#endif /* LEADKPI_SKETCH_H */
