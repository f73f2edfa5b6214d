/*
 * funnel_match.h: the one chain matcher behind window_funnel and funnel_agg,
 * its modes, and the event record both aggregates feed it.
 *
 * Both aggregates collect an entity's events, sort them with
 * lk_funnel_sort and call lk_funnel_match, so their levels agree by
 * construction; only the grouping around the matcher differs.
 */
#ifndef LEADKPI_FUNNEL_MATCH_H
#define LEADKPI_FUNNEL_MATCH_H

#include "leadkpi.h"

/* at least 32 steps, as ClickHouse allows; a uint32 holds the reached set */
#define LK_FUNNEL_MAX_STEPS 32

/* mode bits, parsed from the comma-separated `modes` text */
#define LK_FM_STRICT_ORDER 0x01
#define LK_FM_STRICT_DEDUP 0x02
#define LK_FM_STRICT_INCREASE 0x04
#define LK_FM_STRICT_ONCE 0x08
#define LK_FM_ALLOW_REENTRY 0x10
#define LK_FM_CRM_BACKFILL 0x20
#define LK_FM_ALL 0x3F

/*
 * One event: a (row, step) pair.  A row that satisfies several steps gives
 * several events sharing `row`; step 0 is a row that matched no step, kept
 * only under strict_order, where it stops the scan.  16 bytes.
 */
typedef struct LkFunnelEvent
{
	int64  ts;
	uint32 row;	 /* only strict_once looks at it */
	int32  step; /* 0..LK_FUNNEL_MAX_STEPS */
} LkFunnelEvent;

/* Parameters of one funnel, fixed for the whole aggregate. */
typedef struct LkFunnelParams
{
	int64  window; /* >= 0, in the timestamps' unit */
	int	   nsteps; /* 1..LK_FUNNEL_MAX_STEPS */
	uint32 modes;  /* LK_FM_* bits */
} LkFunnelParams;

/*
 * Parses a comma-separated mode list; errors (22023) on an unknown mode or an
 * invalid combination.  NULL or '' means no modes.
 */
extern uint32 lk_funnel_parse_modes(const char *s, int len);

/* The bit of one mode name, 0 when unknown. */
extern uint32 lk_funnel_mode_bit(const char *s, int len);

/* Writes the canonical mode list ("" for none). */
extern void lk_funnel_modes_out(StringInfo buf, uint32 modes);

/* Checks a mode bitmask read from storage; NULL when valid, else a message. */
extern const char *lk_funnel_modes_check(uint32 modes);

/*
 * Errors (22023): the window, modes, steps or stages (`what`) of one group
 * differ between its rows.  A funnel takes them from every row, so that a
 * serial and a parallel plan agree.
 */
pg_noreturn extern void lk_funnel_args_differ(const char *fn, const char *what);

/* Errors (22023) unless 1 <= nsteps <= LK_FUNNEL_MAX_STEPS. */
extern void lk_funnel_check_nsteps(int64 nsteps, const char *fn);

/* A window interval in microseconds (months count 30 days); errors if < 0. */
extern int64 lk_funnel_window_usec(const Interval *w, const char *fn);

/*
 * Sorts events by (ts, step, row), the order every mode is defined on, with
 * lib/sort_template.h: O(n log n), linear on sorted input, interruptible.
 */
extern void lk_funnel_sort(LkFunnelEvent *ev, int64 n);

/* Whether events are already in lk_funnel_sort's order. */
extern bool lk_funnel_sorted(const LkFunnelEvent *ev, int64 n);

/*
 * The matcher of one funnel.  Its scratch memory (strict_once only: about
 * 4 kB per step) is palloc'd in the current memory context, so set it up
 * once per final-function call and match any number of entities with it.
 */
typedef struct LkFunnelMatcher
{
	LkFunnelParams	  p;
	struct OnceState *once; /* strict_once only */
} LkFunnelMatcher;

extern void lk_funnel_matcher_init(LkFunnelMatcher *m, const LkFunnelParams *p);

/*
 * The level of one entity.  `ev` must be sorted by lk_funnel_sort.  Returns
 * the level (0 when step 1 never happened) and, when `path` is not NULL, the
 * timestamps of the steps 1..level of the chain that gave that level in
 * path[0..level-1].  Uses a few kB of stack and the matcher's scratch memory,
 * never memory per event; CHECK_FOR_INTERRUPTS runs every 64k events (1k
 * under strict_once, whose events cost more).
 */
extern int lk_funnel_match(LkFunnelMatcher *m, const LkFunnelEvent *ev, int64 n,
						   int64 *path);

#endif /* LEADKPI_FUNNEL_MATCH_H */
