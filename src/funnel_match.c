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
	{"strict_order", LK_FM_STRICT_ORDER},
	{"strict_deduplication", LK_FM_STRICT_DEDUP},
	{"strict_increase", LK_FM_STRICT_INCREASE},
	{"strict_once", LK_FM_STRICT_ONCE},
	{"allow_reentry", LK_FM_ALLOW_REENTRY},
	{"crm_backfill", LK_FM_CRM_BACKFILL},
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
		int			b,
					e;
		uint32		bit;

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
			i++;				/* the comma */
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
	bool		first = true;

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
	int128		usec = (int128) w->time +
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

static inline bool
EventLess(const LkFunnelEvent *a, const LkFunnelEvent *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	if (a->step != b->step)
		return a->step < b->step;
	return a->row < b->row;
}

static int
EventCmp(const void *pa, const void *pb)
{
	const LkFunnelEvent *a = pa;
	const LkFunnelEvent *b = pb;

	if (EventLess(a, b))
		return -1;
	return EventLess(b, a) ? 1 : 0;
}

void
lk_funnel_sort(LkFunnelEvent *ev, int64 n)
{
	bool		sorted = true;

	/* CRM histories are short and usually arrive in order: check first */
	for (int64 i = 1; i < n; i++)
	{
		if (EventLess(&ev[i], &ev[i - 1]))
		{
			sorted = false;
			break;
		}
	}
	if (sorted)
		return;
	if (n <= 16)
	{
		for (int64 i = 1; i < n; i++)
		{
			LkFunnelEvent x = ev[i];
			int64		j = i;

			while (j > 0 && EventLess(&x, &ev[j - 1]))
			{
				ev[j] = ev[j - 1];
				j--;
			}
			ev[j] = x;
		}
		return;
	}
	/* pg_qsort is an O(n log n) introsort-like quicksort */
	qsort(ev, n, sizeof(LkFunnelEvent), EventCmp);
}

/* ---- the matcher ---------------------------------------------------------- */

#define BIT(level) (((uint32) 1) << ((level) - 1))

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

/*
 * One chain per level, the one with the latest start: a later start leaves
 * the longest window for the next step, so keeping it is enough to find the
 * best chain (ClickHouse keeps the same state).  Levels are 1-based.
 */
static int
MatchGreedy(const LkFunnelEvent *ev, int64 n, const LkFunnelParams *p,
			int64 *path)
{
	int64		start[LK_FUNNEL_MAX_STEPS + 1];
	int64		last[LK_FUNNEL_MAX_STEPS + 1];
	int64		chain[LK_FUNNEL_MAX_STEPS + 1][LK_FUNNEL_MAX_STEPS];
	uint32		reached = 0;
	bool		started = false;
	int			N = p->nsteps;
	int64		window = p->window;
	bool		order = (p->modes & LK_FM_STRICT_ORDER) != 0;
	bool		dedup = (p->modes & LK_FM_STRICT_DEDUP) != 0;
	bool		increase = (p->modes & LK_FM_STRICT_INCREASE) != 0;
	bool		reentry = (p->modes & LK_FM_ALLOW_REENTRY) != 0;
	bool		backfill = (p->modes & LK_FM_CRM_BACKFILL) != 0;
	int			level;

	for (int64 i = 0; i < n; i++)
	{
		int64		t = ev[i].ts;
		int			k = ev[i].step;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (k <= 0)
		{
			/* a row matching no step: only strict_order keeps these */
			if (order && started)
				break;
			continue;
		}
		if (k > N)
			continue;			/* callers never pass these */
		if (k == 1)
		{
			start[1] = last[1] = t;
			if (path)
				chain[1][0] = t;
			reached |= BIT(1);
			started = true;
			if (N == 1)
				break;
		}
		else if (dedup && (reached & BIT(k)))
			break;				/* a repeated step ends the scan */
		else if (order && started && !(reached & BIT(k - 1)))
		{
			if (reentry)
				continue;
			break;				/* out of order: the level so far stands */
		}
		else if (backfill)
		{
			/*
			 * Extend the highest in-window chain below k, filling the skipped
			 * steps with this event's time; with none, start a chain here.
			 */
			int			j = k - 1;
			int64		s;

			while (j >= 1 && !((reached & BIT(j)) && InWindow(t, start[j], window)))
				j--;
			s = (j >= 1) ? start[j] : t;
			for (int m = j + 1; m <= k; m++)
			{
				if ((reached & BIT(m)) && start[m] > s)
					continue;	/* keep a later-starting chain */
				start[m] = s;
				last[m] = t;
				if (path)
				{
					if (j >= 1)
						memcpy(chain[m], chain[j], j * sizeof(int64));
					for (int q = Max(j, 0); q < m; q++)
						chain[m][q] = t;
				}
				reached |= BIT(m);
			}
			if (k == N)
				break;
		}
		else if (reached & BIT(k - 1))
		{
			int64		s = start[k - 1];
			bool		ok = InWindow(t, s, window);

			if (increase)
				ok = ok && last[k - 1] < t;
			if (ok)
			{
				start[k] = s;
				last[k] = t;
				if (path)
				{
					memcpy(chain[k], chain[k - 1], (k - 1) * sizeof(int64));
					chain[k][k - 1] = t;
				}
				reached |= BIT(k);
				if (k == N)
					break;
			}
		}
	}
	level = HighestLevel(reached);
	if (path && level > 0)
		memcpy(path, chain[level], level * sizeof(int64));
	return level;
}

/*
 * strict_once: a row may fill one step of a chain only, so the latest-start
 * chain is not enough when one row satisfies several steps.  Chains only
 * conflict through rows of the same timestamp, though: once the scan leaves
 * a timestamp, every chain's rows lie in the past and only its start matters.
 * So we keep, per level, the latest-start chain formed at earlier timestamps
 * ("old") and the chains formed at the current timestamp ("cur", with the
 * rows they used there), and fold cur into old when the timestamp changes.
 */
#define ONCE_CAP 32				/* cur chains kept per level and timestamp */

typedef struct OnceChain
{
	int32		origin;			/* old level it extends, 0 = started here */
	uint32		rows[LK_FUNNEL_MAX_STEPS];	/* rows for steps origin+1.. */
} OnceChain;

typedef struct OnceState
{
	int			ncur[LK_FUNNEL_MAX_STEPS + 1];
	OnceChain	cur[LK_FUNNEL_MAX_STEPS + 1][ONCE_CAP];
} OnceState;

static OnceState *once_state = NULL;

static void
OnceFold(OnceState *st, int N, int64 gts, uint32 *oldmask, int64 *old_start,
		 int64 (*old_path)[LK_FUNNEL_MAX_STEPS])
{
	int64		nstart[LK_FUNNEL_MAX_STEPS + 1];
	int			norigin[LK_FUNNEL_MAX_STEPS + 1];

	/* decide from the pre-fold state, then assign, highest level first */
	for (int L = 1; L <= N; L++)
	{
		norigin[L] = -1;
		for (int c = 0; c < st->ncur[L]; c++)
		{
			int			o = st->cur[L][c].origin;
			int64		s = (o == 0) ? gts : old_start[o];

			if (norigin[L] < 0 || s > nstart[L])
			{
				nstart[L] = s;
				norigin[L] = o;
			}
		}
	}
	for (int L = N; L >= 1; L--)
	{
		int			o = norigin[L];

		if (o < 0)
			continue;
		if ((*oldmask & BIT(L)) && old_start[L] > nstart[L])
			continue;
		/* the origin level o < L is not yet overwritten: we go downwards */
		if (o > 0)
			memcpy(old_path[L], old_path[o], o * sizeof(int64));
		for (int q = o; q < L; q++)
			old_path[L][q] = gts;
		old_start[L] = nstart[L];
		*oldmask |= BIT(L);
	}
	for (int L = 1; L <= N; L++)
		st->ncur[L] = 0;
}

static void
OnceAdd(OnceState *st, int L, int origin, const uint32 *prefix, int nprefix,
		uint32 row)
{
	OnceChain  *c;

	if (st->ncur[L] >= ONCE_CAP)
		return;					/* documented bound, see doc/funnel.md */
	/* an identical chain adds nothing */
	for (int i = 0; i < st->ncur[L]; i++)
	{
		OnceChain  *d = &st->cur[L][i];

		if (d->origin == origin &&
			(nprefix == 0 ||
			 memcmp(d->rows, prefix, nprefix * sizeof(uint32)) == 0) &&
			d->rows[nprefix] == row)
			return;
	}
	c = &st->cur[L][st->ncur[L]++];
	c->origin = origin;
	if (nprefix > 0)
		memcpy(c->rows, prefix, nprefix * sizeof(uint32));
	c->rows[nprefix] = row;
}

static int
MatchOnce(const LkFunnelEvent *ev, int64 n, const LkFunnelParams *p,
		  int64 *path)
{
	OnceState  *st;
	uint32		oldmask = 0;
	int64		old_start[LK_FUNNEL_MAX_STEPS + 1];
	int64		old_path[LK_FUNNEL_MAX_STEPS + 1][LK_FUNNEL_MAX_STEPS];
	uint32		reached = 0;
	bool		started = false;
	int			N = p->nsteps;
	bool		order = (p->modes & LK_FM_STRICT_ORDER) != 0;
	bool		dedup = (p->modes & LK_FM_STRICT_DEDUP) != 0;
	bool		increase = (p->modes & LK_FM_STRICT_INCREASE) != 0;
	bool		reentry = (p->modes & LK_FM_ALLOW_REENTRY) != 0;
	int64		gts = 0;
	int			level;

	if (once_state == NULL)
		once_state = MemoryContextAlloc(TopMemoryContext, sizeof(OnceState));
	st = once_state;
	for (int L = 1; L <= N; L++)
		st->ncur[L] = 0;

	for (int64 i = 0; i < n; i++)
	{
		int64		t = ev[i].ts;
		int			k = ev[i].step;
		uint32		r = ev[i].row;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (i == 0 || t != gts)
		{
			if (i > 0)
				OnceFold(st, N, gts, &oldmask, old_start, old_path);
			gts = t;
		}
		if (k <= 0)
		{
			if (order && started)
				break;
			continue;
		}
		if (k > N)
			continue;
		if (k == 1)
		{
			OnceAdd(st, 1, 0, NULL, 0, r);
			reached |= BIT(1);
			started = true;
			if (N == 1)
				break;
		}
		else if (dedup && (reached & BIT(k)))
			break;
		else if (order && started && !(reached & BIT(k - 1)))
		{
			if (reentry)
				continue;
			break;
		}
		else if (reached & BIT(k - 1))
		{
			bool		ok = false;

			/* old chains end before t: no row conflict, strictly earlier */
			if ((oldmask & BIT(k - 1)) && InWindow(t, old_start[k - 1], p->window))
			{
				OnceAdd(st, k, k - 1, NULL, 0, r);
				ok = true;
			}
			/* chains of this timestamp end at t: never strictly increasing */
			if (!increase)
			{
				for (int c = 0; c < st->ncur[k - 1]; c++)
				{
					OnceChain  *pc = &st->cur[k - 1][c];
					int			nused = (k - 1) - pc->origin;
					bool		clash = false;

					for (int q = 0; q < nused; q++)
						clash |= (pc->rows[q] == r);
					/* window: pc was formed at t, so it is within it */
					if (!clash)
					{
						OnceAdd(st, k, pc->origin, pc->rows, nused, r);
						ok = true;
					}
				}
			}
			if (ok)
			{
				reached |= BIT(k);
				if (k == N)
					break;
			}
		}
	}
	if (n > 0)
		OnceFold(st, N, gts, &oldmask, old_start, old_path);
	level = HighestLevel(reached);
	if (path && level > 0)
		memcpy(path, old_path[level], level * sizeof(int64));
	return level;
}

int
lk_funnel_match(const LkFunnelEvent *ev, int64 n, const LkFunnelParams *p,
				int64 *path)
{
	if (p->modes & LK_FM_STRICT_ONCE)
		return MatchOnce(ev, n, p, path);
	return MatchGreedy(ev, n, p, path);
}
