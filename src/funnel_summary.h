/*
 * funnel_summary.h: the funnel_summary varlena, shared by its type, rollup
 * and accessors (funnel_summary.c), by funnel_agg over events (funnel_agg.c),
 * which builds it in its final function, and by funnel_agg over paths
 * (funnel_path.c), which keeps it as its state.
 */
#ifndef LEADKPI_FUNNEL_SUMMARY_H
#define LEADKPI_FUNNEL_SUMMARY_H

#include "funnel_match.h"
#include "sketch.h"

#define FS_VERSION 1

/*
 * On disk and in memory: this header, nsteps reached counts, then nsteps
 * sketches (time to convert from the previous step; step 1's is empty),
 * each with capacity == nbuckets.  Never read off the wire as a struct:
 * recv and in parse field by field and validate.
 */
typedef struct FunnelSummary
{
	int32  vl_len_;
	uint8  version;
	uint8  nsteps;
	uint16 modes;
	int32  pad;		 /* always 0 */
	int64  window;	 /* usec; -1 when built from levels */
	int64  entities; /* entities seen, level 0 included */
	int64  reached[FLEXIBLE_ARRAY_MEMBER];
} FunnelSummary;

/*
 * A funnel_summary argument, detoasted and checked in O(nsteps) (see
 * fs_detoast).  Readers of the sketches check more.
 */
#define PG_GETARG_FS(n) fs_detoast(PG_GETARG_DATUM(n))

/*
 * Detoasts a funnel_summary and checks what reading its fixed fields relies
 * on: a known version, nsteps in range, the value long enough for its
 * reached counts, and the counts and window in range.  A stored value
 * damaged after it was written fails with XX001.
 */
extern FunnelSummary *fs_detoast(Datum d);

/*
 * For readers of the whole value (output, send): the sketch headers tile
 * the value, every sketch's buckets are in order and in range, and the
 * counts, modes and sketches agree (what input accepts).  O(size); XX001
 * when not.
 */
extern void fs_check_sketches(const FunnelSummary *fs);

/*
 * A new summary in the current memory context, with copies of the counts and
 * sketches; sketches[k] may be NULL (or sketches NULL) for empty ones.
 */
extern FunnelSummary *fs_build(int nsteps, uint32 modes, int64 window, int64 entities,
							   const int64 *reached, LkSketch *const *sketches);

/*
 * The three ways a summary grows, each on an aggregate's own state (under
 * AggCheckCallContext), updated in place; each returns its argument, or a
 * grown copy in the current memory context, which nodeAgg then copies into
 * the aggregate context in place of the old state.
 *
 * fs_merge: a += b (rollup, and the combine function of every funnel_agg
 * form).  Errors (22023) unless both have the same steps, window and modes.
 * A sketch grows only when b has a bucket it lacks, and then to exactly the
 * union, so a summary without spare capacity stays without: rollup has no
 * final function, so its state is its result.
 *
 * fs_add_entity: one entity of level `level`, its path (the step times of
 * the chain that gave it its level: path[0 .. level-1]) giving its times to
 * convert.  Sketches grow by doubling; fs_compact then trims them.
 *
 * fs_compact: a copy without spare capacity or empty buckets, as stored.
 */
extern FunnelSummary *fs_merge(FunnelSummary *a, const FunnelSummary *b);
extern FunnelSummary *fs_add_entity(FunnelSummary *fs, int level, const int64 *path);
extern FunnelSummary *fs_compact(const FunnelSummary *fs);

/*
 * The sketch bucket of a time to convert: from the previous step's time to
 * this step's, along an entity's chain; -1 for the zero bucket (also for a
 * negative difference, which a sorted chain never has).  An overflowing
 * difference (infinite timestamps) counts as the longest time.
 */
static inline int32
fs_ttc_index(int64 from, int64 to)
{
	int64 d;

	if (__builtin_sub_overflow(to, from, &d))
		d = PG_INT64_MAX;
	return d <= 0 ? -1 : lk_sketch_index(d);
}

#endif /* LEADKPI_FUNNEL_SUMMARY_H */
