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
 *
 * Three forms share the header:
 *   - packed (flags 0): what is stored, sent and compared.  After the header,
 *     the blocks' instants (int64[B]), the offsets of their encodings
 *     (int32[B + 1]) and the encodings: per block its windows and, for the
 *     observed windows only, its counts; then its cells with leads, each
 *     with its non-zero outcomes only (a bitmap and varints).  Most cells
 *     have a few leads and one or two outcomes, so this is about 10 times
 *     smaller than fixed-size cells;
 *   - dense (CS_DENSE): an aggregate's working form, fixed-size CsBlock and
 *     CsCell structs for every (block, stage, age), updated in place;
 *   - list (CS_LIST): fixed-size structs of the cells with leads only,
 *     sorted; transient, for text input and validation.
 * Readers go through cs_block_view and cs_next_cell, which read any form.
 */
#ifndef LEADKPI_CLOSE_SUMMARY_H
#define LEADKPI_CLOSE_SUMMARY_H

#include "leadkpi.h"
#include "money.h"

#include "utils/array.h"

/* 2: the packed form (0.2.0 never stored version 1; the text form stays "v1") */
#define CLOSE_SUMMARY_VERSION 2
#define CLOSE_SUMMARY_TEXT_VERSION 1 /* the text form's own: unchanged */

#define CS_MAX_HORIZONS 60 /* windows per block */
#define CS_MAX_AGES 16	   /* age buckets, the last one open-ended */
#define CS_MAX_STAGES 64   /* stage 0 (no stage event yet) .. 63 */
#define CS_MAX_BLOCKS 1000

/* flags; none: packed */
#define CS_DENSE 0x01 /* working form: every (block, stage, age) cell present */
#define CS_LIST 0x02  /* fixed-size cells with leads only, sorted */
#define CS_UNPACKED (CS_DENSE | CS_LIST)

/*
 * One (block, stage, age bucket): the leads open at the block's instant
 * whose furthest stage was `stage` and whose time since reaching it (since
 * first contact for stage 0) fell in age bucket `age`.  Followed by
 * outcome[2H]: won in window 1..H, then lost in window 1..H.
 */
typedef struct CsCell
{
	int16	stage;
	int16	age;
	int32	block;	   /* index of its block */
	int64	n;		   /* open leads */
	int64	amount_n;  /* of those, with an expected amount */
	LkMoney amount;	   /* sum of their expected amounts */
	LkMoney amount_sq; /* sum of their squares, each in cents (scale 4) */
	int64	outcome[FLEXIBLE_ARRAY_MEMBER];
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
	int64 t;   /* usec */
	int32 obs; /* windows observed: 0..H */
	int32 pad;
	int64 data[FLEXIBLE_ARRAY_MEMBER];
} CsBlock;

typedef struct CloseSummary
{
	int32 vl_len_;
	uint8 version;
	uint8 flags;
	uint8 horizons; /* H */
	uint8 nages;	/* age buckets A; A-1 bounds follow */
	uint8 nstages;	/* stages 0..S-1 the cells may use */
	uint8 pad1[3];
	int32 nblocks;
	int32 ncells;							 /* dense: nblocks * nstages * nages; else cells with leads */
	int64 leads;							 /* rows with a first contact */
	int64 excluded;							 /* leads closed before their first contact: never open */
	int64 age_bounds[FLEXIBLE_ARRAY_MEMBER]; /* usec, increasing, > 0 */
											 /* then the blocks, then the cells (dense, list); or the packed data */
} CloseSummary;

/*
 * Every reader detoasts through cs_detoast, which checks the layout (a value
 * damaged on disk gives XX001, not a read out of bounds).
 */
extern struct CloseSummary *cs_detoast(Datum d);

#define DatumGetCloseSummary(d) cs_detoast(d)
#define PG_GETARG_CLOSE_SUMMARY(n) DatumGetCloseSummary(PG_GETARG_DATUM(n))

/* NULL when the header's fields are in range, else what is wrong (its age bounds must be readable). */
extern const char *cs_check_header(const CloseSummary *s);

/* Sizes of the parts, for H windows. */
#define CS_NEW_PAIRS(H) ((H) * ((H) + 1) / 2)
#define CS_BLOCK_SIZE(H) \
	(offsetof(CsBlock, data) + sizeof(int64) * (4 * (Size) (H) + CS_NEW_PAIRS(H)) + sizeof(LkMoney) * 2 * (Size) (H))
#define CS_CELL_SIZE(H) (offsetof(CsCell, outcome) + sizeof(int64) * 2 * (Size) (H))
#define CS_HEADER_SIZE(A) MAXALIGN(offsetof(CloseSummary, age_bounds) + sizeof(int64) * ((A) -1))
#define CS_SIZE(H, A, B, C) \
	(CS_HEADER_SIZE(A) + (Size) (B) *CS_BLOCK_SIZE(H) + (Size) (C) *CS_CELL_SIZE(H))

static inline CsBlock *
cs_block(const CloseSummary *s, int32 k)
{
	Assert(s->flags & CS_UNPACKED);
	return (CsBlock *) ((char *) s + CS_HEADER_SIZE(s->nages) + (Size) k * CS_BLOCK_SIZE(s->horizons));
}

static inline CsCell *
cs_cell(const CloseSummary *s, int32 i)
{
	Assert(s->flags & CS_UNPACKED);
	return (CsCell *) ((char *) s + CS_HEADER_SIZE(s->nages) + (Size) s->nblocks * CS_BLOCK_SIZE(s->horizons) + (Size) i * CS_CELL_SIZE(s->horizons));
}

/* The cell of (block, stage, age) in a dense summary. */
static inline CsCell *
cs_dense_cell(const CloseSummary *s, int32 k, int stage, int age)
{
	return cs_cell(s, (k * s->nstages + stage) * s->nages + age);
}

/* Block arrays; h and ha, hw are 1-based windows. */
#define CS_END(b, h) ((b)->data[(h) -1])
#define CS_ARRIVALS(s, b, h) ((b)->data[(s)->horizons + (h) -1])
#define CS_CLOSINGS(s, b, h) ((b)->data[2 * (s)->horizons + (h) -1])
#define CS_REVENUE_N(s, b, h) ((b)->data[3 * (s)->horizons + (h) -1])
#define CS_NEW_WON(s, b, ha, hw) ((b)->data[4 * (s)->horizons + ((hw) -1) * (hw) / 2 + (ha) -1])

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

#define CS_WON(s, c, h) ((c)->outcome[(h) -1])
#define CS_LOST(s, c, h) ((c)->outcome[(s)->horizons + (h) -1])

/* The packed form's parts. */
static inline const int64 *
cs_packed_t(const CloseSummary *s)
{
	return (const int64 *) ((const char *) s + CS_HEADER_SIZE(s->nages));
}

static inline const int32 *
cs_packed_off(const CloseSummary *s)
{
	return (const int32 *) (cs_packed_t(s) + s->nblocks);
}

static inline const uint8 *
cs_packed_data(const CloseSummary *s)
{
	return (const uint8 *) (cs_packed_off(s) + s->nblocks + 1);
}

/* The instant of block k, in any form. */
static inline int64
cs_block_t(const CloseSummary *s, int32 k)
{
	return (s->flags & CS_UNPACKED) ? cs_block(s, k)->t : cs_packed_t(s)[k];
}

/* The observed windows of block k, in any form (a packed block starts with them, one byte). */
static inline int
cs_block_obs(const CloseSummary *s, int32 k)
{
	return (s->flags & CS_UNPACKED) ? cs_block(s, k)->obs : cs_packed_data(s)[cs_packed_off(s)[k]];
}

/*
 * A block read from any form: its instant, windows and counts (arrays by
 * window h = 1..H, zero beyond the observed ones), and where its cells are,
 * for cs_next_cell.  new_won[(hw - 1) hw / 2 + ha - 1] as in CS_NEW_WON.
 */
typedef struct CsBlockView
{
	int64	t;
	int		obs;
	int64	end[CS_MAX_HORIZONS + 1]; /* end[0] = t */
	int64	arrivals[CS_MAX_HORIZONS + 1];
	int64	closings[CS_MAX_HORIZONS + 1];
	int64	revenue_n[CS_MAX_HORIZONS + 1];
	LkMoney revenue[CS_MAX_HORIZONS + 1];
	LkMoney revenue_sq[CS_MAX_HORIZONS + 1];
	int64	new_won[CS_NEW_PAIRS(CS_MAX_HORIZONS)];
	int32	ncells;
	/* the cells still to read */
	const CloseSummary *s;
	int32				block;
	int32				next; /* unpacked: the next cell's index */
	int32				left; /* cells left */
	const uint8		   *p;	  /* packed: the next cell's bytes */
	const uint8		   *pend;
} CsBlockView;

/* A cell read from any form: won[h] and lost[h] for h = 1..H, zero beyond obs. */
typedef struct CsCellView
{
	int		stage;
	int		age;
	int64	n;
	int64	amount_n;
	LkMoney amount; /* absent when amount_n is 0 */
	LkMoney amount_sq;
	int64	won[CS_MAX_HORIZONS + 1];
	int64	lost[CS_MAX_HORIZONS + 1];
} CsCellView;

/* The packed form of s (any form), newly encoded. */
extern CloseSummary *cs_pack(const CloseSummary *s);

/*
 * A packed summary from the header h (its fields, not its blocks), the
 * blocks' instants and their encodings, as the binary form has them;
 * errors (22P02) unless the encodings read as what the header says.
 */
extern CloseSummary *cs_packed_build(const CloseSummary *h, const int64 *ts, const char *bytes, Size len);

/* Reads block k of s (any form) into v, its cells to follow with cs_next_cell. */
extern void cs_block_view(const CloseSummary *s, int32 k, CsBlockView *v);

/* The next cell with leads of v's block; false after the last. */
extern bool cs_next_cell(CsBlockView *v, CsCellView *c);

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
	int a = 0;

	while (a < s->nages - 1 && age >= s->age_bounds[a])
		a++;
	return a;
}

/*
 * One lead as close_agg counts it: its first contact, its win or loss
 * (DT_NOEND when none; a win outranks a loss), the first time it reached
 * each stage 1..nreach (DT_NOEND when never), and its amounts with their
 * squares in cents (NULL when absent).  Times are finite.
 */
typedef struct CsLead
{
	int64		   fc;
	int64		   won;
	int64		   lost;
	int			   nreach;
	const int64	  *reach;
	const LkMoney *rev;
	const LkMoney *rev_sq;
	const LkMoney *amt;
	const LkMoney *amt_sq;
} CsLead;

/* A dense working copy of an empty grid with room for nstages stages. */
extern CloseSummary *cs_dense_grid(const CloseSummary *grid, int nstages);

/* Adds a lead to a dense summary; returns it, or a copy with room for more stages. */
extern CloseSummary *cs_add_lead(CloseSummary *s, const CsLead *l);

/* The binary output and input of close_summary, for partial states that carry a grid. */
extern Datum close_summary_send(PG_FUNCTION_ARGS);
extern Datum close_summary_recv(PG_FUNCTION_ARGS);

/* Is aggregate argument argno (1-based) the same in every row: a constant or a parameter? */
extern bool cs_grid_is_constant(FunctionCallInfo fcinfo, int argno);

/*
 * The grid, argument argno of an aggregate's transition call (as in fcinfo,
 * where 0 is the state: the aggregate's 1-based argument number),
 * detoasted once per value rather than once per row (cached in fn_extra).
 * first_row: the call starts a group's state.  *same is true when the states
 * of this call were built from this very grid, so need no cs_check_grid.
 */
extern const CloseSummary *cs_grid_arg(FunctionCallInfo fcinfo, int argno, bool first_row, bool *same);

/* Errors (22023, naming fn) unless grid has the blocks and windows of state. */
extern void cs_check_grid(const CloseSummary *state, const CloseSummary *grid, const char *fn);

/* acc + b as a dense summary we own (a dense copy of b when acc is NULL); fn names errors. */
extern CloseSummary *cs_rollup(CloseSummary *acc, const CloseSummary *b, const char *fn);

/* The canonical (stored) form of a summary; s itself when it is already. */
extern CloseSummary *cs_compact(const CloseSummary *s);

/*
 * The elements of an array (ARR_DATA_PTR, without its signed/unsigned
 * comparison, which -Wextra reports); void *, as the element type is the
 * caller's.
 */
static inline void *
lk_array_data(ArrayType *a)
{
	return (char *) a + (ARR_HASNULL(a) ? (Size) a->dataoffset : (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(a)));
}

#endif /* LEADKPI_CLOSE_SUMMARY_H */
