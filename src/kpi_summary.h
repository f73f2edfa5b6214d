/*
 * kpi_summary.h: the kpi_summary varlena, shared by the two-step API
 * (kpi_summary.c) and the one-step aggregates (kpi_aggs.c), which use it as
 * their transition state so that every KPI is computed in one place.
 */
#ifndef LEADKPI_KPI_SUMMARY_H
#define LEADKPI_KPI_SUMMARY_H

#include "leadkpi.h"
#include "money.h"
#include "sketch.h"

#define KPI_SUMMARY_VERSION 1

/* flags */
#define KS_NO_SKETCH 0x01 /* a one-step state: cycles are not sketched */
#define KS_ALL_FLAGS 0x01

/*
 * The in-memory and on-disk form are the same, so a transition function can
 * update it in place.  The sketch comes last and may have spare capacity
 * while aggregating; finished summaries are trimmed (see ks_compact).
 */
typedef struct KpiSummary
{
	int32	 vl_len_;
	uint8	 version;
	uint8	 flags;
	uint16	 pad1;
	int32	 pad2;
	int64	 leads;			 /* rows with a first contact */
	int64	 conversions;	 /* of those, rows with a conversion */
	int64	 cycle_n;		 /* conversions with a valid sales cycle */
	int64	 cycle_excluded; /* conversions dated before first contact */
	int64	 cycle_min;		 /* usec; 0 when cycle_n = 0 */
	int64	 cycle_max;
	int128	 cycle_sum; /* usec */
	LkMoney	 cost;
	LkMoney	 revenue; /* of converted leads */
	LkSketch sketch;  /* cycles, unless KS_NO_SKETCH; must be last */
} KpiSummary;

#define KS_SIZE(capacity) (offsetof(KpiSummary, sketch) + LK_SKETCH_SIZE(capacity))

#define DatumGetKpiSummary(d) ((KpiSummary *) PG_DETOAST_DATUM(d))
#define PG_GETARG_KPI_SUMMARY(n) DatumGetKpiSummary(PG_GETARG_DATUM(n))

/* A new, empty summary in the current memory context. */
extern KpiSummary *ks_new(int32 capacity, bool with_sketch);

/*
 * Adds one lead.  `cycle` is the close minus the first contact in usec, and
 * is only read when converted.  May return a new, larger summary.
 */
extern KpiSummary *ks_add_lead(KpiSummary *s, bool converted, int64 cycle);

/* a += b, in place when a has room; returns a or a grown copy. */
extern KpiSummary *ks_merge(KpiSummary *a, const KpiSummary *b);

/*
 * The state of a transition function: the given one when it may be updated
 * in place, else a new one.  Errors outside an aggregate.  Inline: it runs
 * once per row.
 */
static inline KpiSummary *
ks_state(FunctionCallInfo fcinfo, bool with_sketch, const char *fn)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", fn)));
	if (PG_ARGISNULL(0))
		return ks_new(with_sketch ? 8 : 0, with_sketch);

	/*
	 * A transition function only ever sees the state it returned before,
	 * built by ks_new and kept in the aggregate context: never toasted, and
	 * safe to update in place.
	 */
	return (KpiSummary *) PG_GETARG_POINTER(0);
}

#endif /* LEADKPI_KPI_SUMMARY_H */
