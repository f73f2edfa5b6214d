/*
 * close_summary.h: the close model's history, a mergeable varlena shared by
 * close_summary.c (the type, close_agg, rollup, accessors) and
 * close_forecast.c (the forecast method that reads it).
 *
 * A summary holds snapshots of a pipeline on a grid of instants t (the
 * "blocks"), each with its H coming windows [t, e1), [e1, e2), ... [e(H-1), eH).
 * Window h is observed when eh is not after the grid's as_of; only observed
 * windows ever hold counts, so every pair (t, h) it counts is fully observed.
 * Per block:
 *   - cells per (stage, age bucket) of the leads open at t: how many, their
 *     expected amounts, and how many of them were won or lost in each
 *     observed window (won and lost are competing outcomes: a lead counts in
 *     at most one window, and in only one of the two);
 *   - the leads that arrived (first contact) in each observed window, and how
 *     many of those won in each observed window from their own on;
 *   - the wins in each observed window, with their revenue (exact sums).
 * Merging adds counts block by block and cell by cell, so rollup is exact,
 * associative and commutative.
 */
#ifndef LEADKPI_CLOSE_SUMMARY_H
#define LEADKPI_CLOSE_SUMMARY_H

#include "leadkpi.h"
#include "money.h"

#include "utils/array.h"

#define CLOSE_SUMMARY_VERSION 1

#define CS_MAX_HORIZONS 60		/* windows per block */
#define CS_MAX_AGES		16		/* age buckets, the last one open-ended */
#define CS_MAX_STAGES	64		/* stage 0 (no stage event yet) .. 63 */
#define CS_MAX_BLOCKS	1000

/* flags */
#define CS_DENSE		0x01	/* working form: every (block, stage, age) cell present */

/*
 * One (block, stage, age bucket): the leads open at the block's instant
 * whose furthest stage was `stage` and whose time since reaching it (since
 * first contact for stage 0) fell in age bucket `age`.  Followed by
 * outcome[2H]: won in window 1..H, then lost in window 1..H.
 */
typedef struct CsCell
{
	int16		stage;
	int16		age;
	int32		block;			/* index of its block */
	int64		n;				/* open leads */
	int64		amount_n;		/* of those, with an expected amount */
	LkMoney		amount;			/* sum of their expected amounts */
	LkMoney		amount_sq;		/* sum of their squares, each in cents (scale 4) */
	int64		outcome[FLEXIBLE_ARRAY_MEMBER];
} CsCell;

/*
 * One snapshot instant t and its windows.  Followed by int64 ends[H],
 * arrivals[H], closings[H], revenue_n[H], new_won[H(H+1)/2], then LkMoney
 * revenue[H], revenue_sq[H].  new_won[(hw-1)hw/2 + ha-1] counts the leads
 * that arrived in window ha and won in window hw >= ha.  closings[h] counts
 * the wins in window h (of leads open at t plus new ones: leads that closed
 * before their first contact are left out, see `excluded`), revenue_n[h]
 * those with a revenue; revenue_sq sums the squares
 * of their revenues, each rounded to cents (scale 4).
 */
typedef struct CsBlock
{
	int64		t;				/* usec */
	int32		obs;			/* windows observed: 0..H */
	int32		pad;
	int64		data[FLEXIBLE_ARRAY_MEMBER];
} CsBlock;

typedef struct CloseSummary
{
	int32		vl_len_;
	uint8		version;
	uint8		flags;
	uint8		horizons;		/* H */
	uint8		nages;			/* age buckets A; A-1 bounds follow */
	uint8		nstages;		/* stages 0..S-1 the cells may use */
	uint8		pad1[3];
	int32		nblocks;
	int32		ncells;			/* dense: nblocks * nstages * nages */
	int64		leads;			/* rows with a first contact */
	int64		excluded;		/* leads closed before their first contact: never open */
	int64		age_bounds[FLEXIBLE_ARRAY_MEMBER];	/* usec, increasing, > 0 */
	/* then the blocks, then the cells */
} CloseSummary;

#define DatumGetCloseSummary(d)		((CloseSummary *) PG_DETOAST_DATUM(d))
#define PG_GETARG_CLOSE_SUMMARY(n)	DatumGetCloseSummary(PG_GETARG_DATUM(n))

/* Sizes of the parts, for H windows. */
#define CS_NEW_PAIRS(H)		((H) * ((H) + 1) / 2)
#define CS_BLOCK_SIZE(H) \
	(offsetof(CsBlock, data) + sizeof(int64) * (4 * (Size) (H) + CS_NEW_PAIRS(H)) + sizeof(LkMoney) * 2 * (Size) (H))
#define CS_CELL_SIZE(H)		(offsetof(CsCell, outcome) + sizeof(int64) * 2 * (Size) (H))
#define CS_HEADER_SIZE(A)	MAXALIGN(offsetof(CloseSummary, age_bounds) + sizeof(int64) * ((A) - 1))
#define CS_SIZE(H, A, B, C) \
	(CS_HEADER_SIZE(A) + (Size) (B) * CS_BLOCK_SIZE(H) + (Size) (C) * CS_CELL_SIZE(H))

static inline CsBlock *
cs_block(const CloseSummary *s, int32 k)
{
	return (CsBlock *) ((char *) s + CS_HEADER_SIZE(s->nages) + (Size) k * CS_BLOCK_SIZE(s->horizons));
}

static inline CsCell *
cs_cell(const CloseSummary *s, int32 i)
{
	return (CsCell *) ((char *) s + CS_HEADER_SIZE(s->nages)
					   + (Size) s->nblocks * CS_BLOCK_SIZE(s->horizons)
					   + (Size) i * CS_CELL_SIZE(s->horizons));
}

/* The cell of (block, stage, age) in a dense summary. */
static inline CsCell *
cs_dense_cell(const CloseSummary *s, int32 k, int stage, int age)
{
	return cs_cell(s, (k * s->nstages + stage) * s->nages + age);
}

/* Block arrays; h and ha, hw are 1-based windows. */
#define CS_END(b, h)			((b)->data[(h) - 1])
#define CS_ARRIVALS(s, b, h)	((b)->data[(s)->horizons + (h) - 1])
#define CS_CLOSINGS(s, b, h)	((b)->data[2 * (s)->horizons + (h) - 1])
#define CS_REVENUE_N(s, b, h)	((b)->data[3 * (s)->horizons + (h) - 1])
#define CS_NEW_WON(s, b, ha, hw) ((b)->data[4 * (s)->horizons + ((hw) - 1) * (hw) / 2 + (ha) - 1])

static inline LkMoney *
cs_revenue(const CloseSummary *s, const CsBlock *b, int h)
{
	return (LkMoney *) &b->data[4 * s->horizons + CS_NEW_PAIRS(s->horizons)] + (h - 1);
}

static inline LkMoney *
cs_revenue_sq(const CloseSummary *s, const CsBlock *b, int h)
{
	return (LkMoney *) &b->data[4 * s->horizons + CS_NEW_PAIRS(s->horizons)] + s->horizons + (h - 1);
}

#define CS_WON(s, c, h)		((c)->outcome[(h) - 1])
#define CS_LOST(s, c, h)	((c)->outcome[(s)->horizons + (h) - 1])

/* Start of window h of block b (h >= 1). */
static inline int64
cs_window_start(const CsBlock *b, int h)
{
	return h == 1 ? b->t : CS_END(b, h - 1);
}

/* Age bucket of an age in usec: the number of bounds not above it. */
static inline int
cs_age_bucket(const CloseSummary *s, int64 age)
{
	int			a = 0;

	while (a < s->nages - 1 && age >= s->age_bounds[a])
		a++;
	return a;
}

/*
 * The elements of an array (ARR_DATA_PTR, without its signed/unsigned
 * comparison, which -Wextra reports).
 */
static inline char *
lk_array_data(ArrayType *a)
{
	return (char *) a + (ARR_HASNULL(a) ? (Size) a->dataoffset : (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(a)));
}

#endif							/* LEADKPI_CLOSE_SUMMARY_H */
