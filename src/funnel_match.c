/*
 * funnel_match.c: the chain matcher shared by window_funnel and funnel_agg,
 * mode parsing, and the event sort.
 *
 * Semantics follow ClickHouse's windowFunnel: events are scanned in
 * (ts, step) order; a step-1 event starts a chain; step i extends a chain at
 * step i-1 when ts <= chain start + window.  The result is the highest step
 * any chain reached.
 */
#include "funnel_match.h"

#include "miscadmin.h"
#include "utils/memutils.h"

typedef struct ModeName
{
	const char *name;
	uint32		bit;
} ModeName;

static const ModeName mode_names[] = {
	{ "strict_order", LK_FM_STRICT_ORDER },
	{ "strict_deduplication", LK_FM_STRICT_DEDUP },
	{ "strict_increase", LK_FM_STRICT_INCREASE },
	{ "strict_once", LK_FM_STRICT_ONCE },
	{ "allow_reentry", LK_FM_ALLOW_REENTRY },
	{ "crm_backfill", LK_FM_CRM_BACKFILL },
};

uint32
lk_funnel_mode_bit(const char *s, int len)
{
	for (int m = 0; m < (int) lengthof(mode_names); m++)
	{
		if (strlen(mode_names[m].name) == (size_t) len &&
			strncmp(mode_names[m].name, s, len) == 0)
			return mode_names[m].bit;
	}
	return 0;
}

const char *
lk_funnel_modes_check(uint32 modes)
{
	if (modes & ~LK_FM_ALL)
		return "unknown funnel mode bits";
	if ((modes & LK_FM_ALLOW_REENTRY) && !(modes & LK_FM_STRICT_ORDER))
		return "allow_reentry requires strict_order";
	if ((modes & LK_FM_CRM_BACKFILL) && modes != LK_FM_CRM_BACKFILL)
		return "crm_backfill cannot be combined with other modes";
	return NULL;
}

uint32
lk_funnel_parse_modes(const char *s, int len)
{
	uint32		modes = 0;
	int			i = 0;
	const char *msg;

	while (i < len)
	{
		int	   b;
		int	   e;
		uint32 bit;

		/* one comma-separated token, spaces trimmed */
		while (i < len && s[i] == ' ')
			i++;
		b = i;
		while (i < len && s[i] != ',')
			i++;
		e = i;
		while (e > b && s[e - 1] == ' ')
			e--;
		bit = lk_funnel_mode_bit(s + b, e - b);
		modes |= bit;
		if (bit == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown funnel mode \"%.*s\"", e - b, s + b),
					 errhint("Valid modes are strict_order, strict_deduplication, strict_increase, strict_once, allow_reentry and crm_backfill, separated by commas.")));
		if (i < len)
		{
			i++; /* the comma */
			if (i == len)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("funnel mode list ends with a comma")));
		}
	}
	if ((msg = lk_funnel_modes_check(modes)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid funnel mode combination: %s", msg),
				 errhint("allow_reentry needs strict_order; crm_backfill stands alone.")));
	return modes;
}

void
lk_funnel_modes_out(StringInfo buf, uint32 modes)
{
	bool first = true;

	for (int m = 0; m < (int) lengthof(mode_names); m++)
	{
		if (modes & mode_names[m].bit)
		{
			if (!first)
				appendStringInfoChar(buf, ',');
			appendStringInfoString(buf, mode_names[m].name);
			first = false;
		}
	}
}

void
lk_funnel_args_differ(const char *fn, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: the %s must be the same in every row of a group", fn, what),
			 errhint("Pass the window, the modes and the steps or stages as constants; to compare several funnels, group by what differs.")));
}

void
lk_funnel_check_nsteps(int64 nsteps, const char *fn)
{
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: a funnel needs between 1 and %d steps, got " INT64_FORMAT,
						fn, LK_FUNNEL_MAX_STEPS, nsteps)));
}

int64
lk_funnel_window_usec(const Interval *w, const char *fn)
{
	int128 usec = (int128) w->time +
				  (int128) w->day * USECS_PER_DAY +
				  (int128) w->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (usec < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the funnel window must not be negative", fn)));
	/* months and days up to 2^31 can exceed int64 microseconds */
	if (usec > PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INTERVAL_FIELD_OVERFLOW),
				 errmsg("%s: the funnel window is too long", fn),
				 errhint("A window of at most about 290,000 years fits.")));
	return (int64) usec;
}

/* ---- sorting -------------------------------------------------------------- */

/* (ts, step, row): the order every mode is defined on */
static inline int
EventCmp(const LkFunnelEvent *a, const LkFunnelEvent *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	return (a->row > b->row) - (a->row < b->row);
}

/*
 * PostgreSQL's sort template, with the comparator inlined and interrupt
 * checks.
 */
#define ST_SORT EventSort
#define ST_ELEMENT_TYPE LkFunnelEvent
#define ST_COMPARE(a, b) EventCmp(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static inline bool
EventsSorted(const LkFunnelEvent *ev, int64 n)
{
	for (int64 i = 1; i < n; i++)
	{
		if (EventCmp(&ev[i - 1], &ev[i]) > 0)
			return false;
		if (unlikely((i & 0xFFFF) == 0))
			CHECK_FOR_INTERRUPTS();
	}
	return true;
}

bool
lk_funnel_sorted(const LkFunnelEvent *ev, int64 n)
{
	return EventsSorted(ev, n);
}

/*
 * CRM histories are short and usually arrive in order.  The template checks
 * for that too, but only after a call and its set-up, which made the sort
 * twice as costly per entity (callgrind: 25 more instructions per entity on
 * 2.5 events per entity), so sorted input never gets there.
 */
void
lk_funnel_sort(LkFunnelEvent *ev, int64 n)
{
	if (!EventsSorted(ev, n))
		EventSort(ev, (size_t) n);
}

/* ---- the rules every mode shares ------------------------------------------ */

/* the bit of a level (1-based) in a set of reached levels */
static inline uint32
Bit(int level)
{
	return (uint32) 1 << (level - 1);
}

/* What one event does to the scan, before any chain is looked at. */
typedef enum EventAction
{
	EV_SKIP,  /* ignore the event */
	EV_STOP,  /* end the scan: the level so far stands */
	EV_START, /* step 1: starts a chain */
	EV_EXTEND /* step k > 1: may extend a chain at k - 1 */
} EventAction;

/*
 * `reached` has bit k - 1 set once some chain reached step k; under
 * strict_order a chain has started exactly when step 1 was reached.
 */
static inline EventAction
Classify(uint32 modes, int nsteps, int k, uint32 reached)
{
	bool started = (reached & Bit(1)) != 0;

	if (k <= 0)
	{
		/* a row matching no step: only strict_order keeps these */
		return ((modes & LK_FM_STRICT_ORDER) && started) ? EV_STOP : EV_SKIP;
	}
	if (k > nsteps)
		return EV_SKIP; /* callers never pass these */
	if (k == 1)
		return EV_START;
	if ((modes & LK_FM_STRICT_DEDUP) && (reached & Bit(k)))
		return EV_STOP; /* a repeated step ends the scan */
	if ((modes & LK_FM_STRICT_ORDER) && started && !(reached & Bit(k - 1)))
	{
		/* out of order: skipped under allow_reentry, else the end */
		return (modes & LK_FM_ALLOW_REENTRY) ? EV_SKIP : EV_STOP;
	}
	return EV_EXTEND;
}

/* ts <= start + window, without overflow for any int64 pair */
static inline bool
InWindow(int64 ts, int64 start, int64 window)
{
	return (int128) ts <= (int128) start + window;
}

static inline int
HighestLevel(uint32 reached)
{
	return reached == 0 ? 0 : 32 - __builtin_clz(reached);
}

/* ---- the greedy matcher: every mode but strict_once ----------------------- */

/*
 * One chain per level, the one with the latest start: a later start leaves
 * the longest window for the next step, so keeping it is enough to find the
 * best chain (ClickHouse keeps the same state).  Levels are 1-based; chain[L]
 * holds the step times of level L's chain, kept only when a path is wanted.
 */
typedef struct Greedy
{
	uint32 reached;
	bool   want_path;
	int64  start[LK_FUNNEL_MAX_STEPS + 1];
	int64  last[LK_FUNNEL_MAX_STEPS + 1];
	int64  chain[LK_FUNNEL_MAX_STEPS + 1][LK_FUNNEL_MAX_STEPS];
} Greedy;

static inline void
GreedyStart(Greedy *g, int64 t)
{
	g->start[1] = g->last[1] = t;
	if (g->want_path)
		g->chain[1][0] = t;
	g->reached |= Bit(1);
}

/* Extends level k - 1's chain to level k; false when t is not allowed. */
static inline bool
GreedyExtend(Greedy *g, int k, int64 t, const LkFunnelParams *p)
{
	int64 s = g->start[k - 1];

	if (!(g->reached & Bit(k - 1)) || !InWindow(t, s, p->window))
		return false;
	if ((p->modes & LK_FM_STRICT_INCREASE) && !(g->last[k - 1] < t))
		return false;
	g->start[k] = s;
	g->last[k] = t;
	if (g->want_path)
	{
		memcpy(g->chain[k], g->chain[k - 1], (k - 1) * sizeof(int64));
		g->chain[k][k - 1] = t;
	}
	g->reached |= Bit(k);
	return true;
}

/*
 * crm_backfill: extends the highest in-window chain below k, filling the
 * skipped steps with this event's time; with none, starts a chain here.
 */
static void
GreedyBackfill(Greedy *g, int k, int64 t, int64 window)
{
	int	  j = k - 1;
	int64 s;

	while (j >= 1 && !((g->reached & Bit(j)) && InWindow(t, g->start[j], window)))
		j--;
	s = (j >= 1) ? g->start[j] : t;
	for (int m = j + 1; m <= k; m++)
	{
		if ((g->reached & Bit(m)) && g->start[m] > s)
			continue; /* keep a later-starting chain */
		g->start[m] = s;
		g->last[m] = t;
		if (g->want_path)
		{
			if (j >= 1)
				memcpy(g->chain[m], g->chain[j], j * sizeof(int64));
			for (int q = Max(j, 0); q < m; q++)
				g->chain[m][q] = t;
		}
		g->reached |= Bit(m);
	}
}

static int
MatchGreedy(const LkFunnelEvent *ev, int64 n, const LkFunnelParams *p,
			int64 *path)
{
	Greedy g;
	int	   N = p->nsteps;
	bool   backfill = (p->modes & LK_FM_CRM_BACKFILL) != 0;
	int	   level;

	g.reached = 0;
	g.want_path = (path != NULL);
	for (int64 i = 0; i < n; i++)
	{
		int64 t = ev[i].ts;
		int	  k = ev[i].step;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		switch (Classify(p->modes, N, k, g.reached))
		{
			case EV_SKIP:
				continue;
			case EV_STOP:
				break;
			case EV_START:
				GreedyStart(&g, t);
				if (N == 1)
					break;
				continue;
			case EV_EXTEND:
				if (backfill)
					GreedyBackfill(&g, k, t, p->window);
				else if (!GreedyExtend(&g, k, t, p))
					continue;
				if (k == N)
					break;
				continue;
		}
		break; /* EV_STOP, or the last step reached */
	}
	level = HighestLevel(g.reached);
	if (path && level > 0)
		memcpy(path, g.chain[level], level * sizeof(int64));
	return level;
}

/* ---- strict_once ----------------------------------------------------------- */

/*
 * strict_once: a row may fill one step of a chain only, so the latest-start
 * chain is not enough when one row satisfies several steps.  Chains only
 * conflict through rows of the same timestamp, though: once the scan leaves
 * a timestamp, every chain's rows lie in the past and only its start matters.
 * So we keep, per level, the latest-start chain formed at earlier timestamps
 * ("old") and the chains formed at the current timestamp ("cur", with the
 * rows they used there), and fold cur into old when the timestamp changes.
 */
#define ONCE_CAP 32 /* cur chains kept per level and timestamp */

typedef struct OnceChain
{
	int32  origin;					  /* old level it extends, 0 = started here */
	uint32 rows[LK_FUNNEL_MAX_STEPS]; /* rows for steps origin+1.. */
} OnceChain;

/* The cur chains, ONCE_CAP per level 0..nsteps: about 4 kB per step. */
struct OnceState
{
	int		   ncur[LK_FUNNEL_MAX_STEPS + 1];
	OnceChain *cur;
	/* the old chains */
	uint32 oldmask;
	int64  old_start[LK_FUNNEL_MAX_STEPS + 1];
	int64  old_path[LK_FUNNEL_MAX_STEPS + 1][LK_FUNNEL_MAX_STEPS];
};
typedef struct OnceState OnceState;

#define CUR(st, L) (&(st)->cur[(L) *ONCE_CAP])

void
lk_funnel_matcher_init(LkFunnelMatcher *m, const LkFunnelParams *p)
{
	m->p = *p;
	m->once = NULL;
	if (p->modes & LK_FM_STRICT_ONCE)
	{
		m->once = palloc(sizeof(OnceState));
		m->once->cur = palloc((p->nsteps + 1) * ONCE_CAP * sizeof(OnceChain));
	}
}

static void
OnceFold(OnceState *st, int N, int64 gts)
{
	int64 nstart[LK_FUNNEL_MAX_STEPS + 1];
	int	  norigin[LK_FUNNEL_MAX_STEPS + 1];

	/* decide from the pre-fold state, then assign, highest level first */
	for (int L = 1; L <= N; L++)
	{
		norigin[L] = -1;
		for (int c = 0; c < st->ncur[L]; c++)
		{
			int	  o = CUR(st, L)[c].origin;
			int64 s = (o == 0) ? gts : st->old_start[o];

			if (norigin[L] < 0 || s > nstart[L])
			{
				nstart[L] = s;
				norigin[L] = o;
			}
		}
	}
	for (int L = N; L >= 1; L--)
	{
		int o = norigin[L];

		if (o < 0)
			continue;
		if ((st->oldmask & Bit(L)) && st->old_start[L] > nstart[L])
			continue;
		/* the origin level o < L is not yet overwritten: we go downwards */
		if (o > 0)
			memcpy(st->old_path[L], st->old_path[o], o * sizeof(int64));
		for (int q = o; q < L; q++)
			st->old_path[L][q] = gts;
		st->old_start[L] = nstart[L];
		st->oldmask |= Bit(L);
	}
	for (int L = 1; L <= N; L++)
		st->ncur[L] = 0;
}

static void
OnceAdd(OnceState *st, int L, int origin, const uint32 *prefix, int nprefix,
		uint32 row)
{
	OnceChain *c;

	if (st->ncur[L] >= ONCE_CAP)
		return; /* documented bound, see doc/funnel.md */
	/* an identical chain adds nothing */
	for (int i = 0; i < st->ncur[L]; i++)
	{
		OnceChain *d = &CUR(st, L)[i];

		if (d->origin == origin &&
			(nprefix == 0 ||
			 memcmp(d->rows, prefix, nprefix * sizeof(uint32)) == 0) &&
			d->rows[nprefix] == row)
			return;
	}
	c = &CUR(st, L)[st->ncur[L]++];
	c->origin = origin;
	if (nprefix > 0)
		memcpy(c->rows, prefix, nprefix * sizeof(uint32));
	c->rows[nprefix] = row;
}

/*
 * Extends the chains at level k - 1 with row r at time t; true when any
 * chain reached level k.
 */
static bool
OnceExtend(OnceState *st, int k, int64 t, uint32 r, const LkFunnelParams *p)
{
	bool ok = false;

	/* old chains end before t: no row conflict, strictly earlier */
	if ((st->oldmask & Bit(k - 1)) && InWindow(t, st->old_start[k - 1], p->window))
	{
		OnceAdd(st, k, k - 1, NULL, 0, r);
		ok = true;
	}
	/* chains of this timestamp end at t: never strictly increasing */
	if (p->modes & LK_FM_STRICT_INCREASE)
		return ok;
	for (int c = 0; c < st->ncur[k - 1]; c++)
	{
		OnceChain *pc = &CUR(st, k - 1)[c];
		int		   nused = (k - 1) - pc->origin;
		bool	   clash = false;

		for (int q = 0; q < nused; q++)
			clash |= (pc->rows[q] == r);
		/* window: pc was formed at t, so it is within it */
		if (!clash)
		{
			OnceAdd(st, k, pc->origin, pc->rows, nused, r);
			ok = true;
		}
	}
	return ok;
}

/*
 * An event here costs up to a couple of microseconds (32 chains per level,
 * compared row by row) where MatchGreedy's costs tens of nanoseconds, so
 * interrupts are checked every 1024 events rather than every 64k.
 */
static int
MatchOnce(OnceState *st, const LkFunnelEvent *ev, int64 n,
		  const LkFunnelParams *p, int64 *path)
{
	uint32 reached = 0;
	int	   N = p->nsteps;
	int64  gts = 0;
	int	   level;

	st->oldmask = 0;
	for (int L = 0; L <= N; L++)
		st->ncur[L] = 0;
	for (int64 i = 0; i < n; i++)
	{
		int64 t = ev[i].ts;
		int	  k = ev[i].step;

		if ((i & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		if (i > 0 && t != gts)
			OnceFold(st, N, gts);
		gts = t;
		switch (Classify(p->modes, N, k, reached))
		{
			case EV_SKIP:
				continue;
			case EV_STOP:
				break;
			case EV_START:
				OnceAdd(st, 1, 0, NULL, 0, ev[i].row);
				reached |= Bit(1);
				if (N == 1)
					break;
				continue;
			case EV_EXTEND:
				if (!OnceExtend(st, k, t, ev[i].row, p))
					continue;
				reached |= Bit(k);
				if (k == N)
					break;
				continue;
		}
		break; /* EV_STOP, or the last step reached */
	}
	if (n > 0)
		OnceFold(st, N, gts);
	level = HighestLevel(reached);
	if (path && level > 0)
		memcpy(path, st->old_path[level], level * sizeof(int64));
	return level;
}

int
lk_funnel_match(LkFunnelMatcher *m, const LkFunnelEvent *ev, int64 n,
				int64 *path)
{
	if (m->once)
		return MatchOnce(m->once, ev, n, &m->p, path);
	return MatchGreedy(ev, n, &m->p, path);
}
