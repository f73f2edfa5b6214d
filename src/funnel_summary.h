/*
 * funnel_summary.h: the funnel_summary varlena, shared by its type, rollup
 * and accessors (funnel_summary.c) and by funnel_agg over events
 * (funnel_agg.c), which builds it in its final function.
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

#define PG_GETARG_FS(n) ((FunnelSummary *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

/*
 * A new summary in the current memory context, with copies of the counts and
 * sketches; sketches[k] may be NULL (or sketches NULL) for empty ones.
 */
extern FunnelSummary *fs_build(int nsteps, uint32 modes, int64 window, int64 entities,
							   const int64 *reached, LkSketch *const *sketches);

#endif /* LEADKPI_FUNNEL_SUMMARY_H */
