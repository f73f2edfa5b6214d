/*
 * close_summary.c: the close model's history (see close_summary.h).  The
 * type and its text and binary I/O, the grid constructor, the aggregate that
 * builds a summary from one row per lead (close_agg) and the ones that merge
 * summaries (rollup, +), equality, and the accessors that list its counts.
 */
#include "close_summary.h"

#include "catalog/pg_type.h"
/* PostgreSQL's headers under -Wextra: unused parameters of their inline functions */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "funcapi.h"
#pragma GCC diagnostic pop
#include "libpq/pqformat.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

/* ---------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------- */

/* A zeroed summary with the given shape; block and cell contents are zero. */
static CloseSummary *
CsAlloc(int H, int A, int S, int32 B, int32 C, uint8 flags)
{
	Size		size = CS_SIZE(H, A, B, C);
	CloseSummary *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->version = CLOSE_SUMMARY_VERSION;
	s->flags = flags;
	s->horizons = (uint8) H;
	s->nages = (uint8) A;
	s->nstages = (uint8) S;
	s->nblocks = B;
	s->ncells = C;
	return s;
}

/* Marks the money fields of a fresh block absent (palloc0 made them 0). */
static void
CsInitBlockMoney(const CloseSummary *s, CsBlock *b)
{
	for (int h = 1; h <= s->horizons; h++)
	{
		lk_money_init(cs_revenue(s, b, h));
		lk_money_init(cs_revenue_sq(s, b, h));
	}
}

static void
CsInitCell(CsCell *c, int32 k, int stage, int age)
{
	c->block = k;
	c->stage = (int16) stage;
	c->age = (int16) age;
	lk_money_init(&c->amount);
	lk_money_init(&c->amount_sq);
}

/* Copies the block descriptions (t, obs, ends) of src into dst, zero counts. */
static void
CsCopyBlockShape(CloseSummary *dst, int32 kd, const CloseSummary *src, int32 ks)
{
	CsBlock    *d = cs_block(dst, kd);
	const CsBlock *b = cs_block(src, ks);

	d->t = b->t;
	d->obs = b->obs;
	for (int h = 1; h <= dst->horizons; h++)
		CS_END(d, h) = CS_END(b, h);
	CsInitBlockMoney(dst, d);
}

/* Adds the counts and sums of block b of src into block d of dst. */
static void
CsAddBlock(CloseSummary *dst, CsBlock *d, const CloseSummary *src, const CsBlock *b)
{
	int			H = dst->horizons;

	for (int h = 1; h <= H; h++)
	{
		CS_ARRIVALS(dst, d, h) = lk_add_count(CS_ARRIVALS(dst, d, h), CS_ARRIVALS(src, b, h));
		CS_CLOSINGS(dst, d, h) = lk_add_count(CS_CLOSINGS(dst, d, h), CS_CLOSINGS(src, b, h));
		CS_REVENUE_N(dst, d, h) = lk_add_count(CS_REVENUE_N(dst, d, h), CS_REVENUE_N(src, b, h));
		lk_money_add(cs_revenue(dst, d, h), cs_revenue(src, b, h), "revenue");
		lk_money_add(cs_revenue_sq(dst, d, h), cs_revenue_sq(src, b, h), "revenue");
	}
	for (int i = 0; i < CS_NEW_PAIRS(H); i++)
		d->data[4 * H + i] = lk_add_count(d->data[4 * H + i], b->data[4 * H + i]);
}

static void
CsAddCell(const CloseSummary *s, CsCell *d, const CsCell *c)
{
	d->n = lk_add_count(d->n, c->n);
	d->amount_n = lk_add_count(d->amount_n, c->amount_n);
	lk_money_add(&d->amount, &c->amount, "expected amount");
	lk_money_add(&d->amount_sq, &c->amount_sq, "expected amount");
	for (int i = 0; i < 2 * s->horizons; i++)
		d->outcome[i] = lk_add_count(d->outcome[i], c->outcome[i]);
}

/*
 * A dense copy of s with room for `nstages` stages (at least s's): the
 * working form of an aggregate's state, where every cell has its place.
 */
static CloseSummary *
CsToDense(const CloseSummary *s, int nstages)
{
	int			S = Max(nstages, s->nstages);
	int			A = s->nages;
	int32		B = s->nblocks;
	CloseSummary *d;

	if (S > CS_MAX_STAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("close_agg: more than %d stages", CS_MAX_STAGES - 1),
				 errhint("Pass at most %d stage times in `reached`.", CS_MAX_STAGES - 1)));
	d = CsAlloc(s->horizons, A, S, B, B * S * A, CS_DENSE);
	d->leads = s->leads;
	d->excluded = s->excluded;
	memcpy(d->age_bounds, s->age_bounds, sizeof(int64) * (A - 1));
	/* blocks: same layout, copied whole */
	memcpy(cs_block(d, 0), cs_block(s, 0), (Size) B * CS_BLOCK_SIZE(s->horizons));
	for (int32 k = 0; k < B; k++)
		for (int st = 0; st < S; st++)
			for (int a = 0; a < A; a++)
				CsInitCell(cs_dense_cell(d, k, st, a), k, st, a);
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);

		if (c->n > 0)
			memcpy(cs_dense_cell(d, c->block, c->stage, c->age), c, CS_CELL_SIZE(s->horizons));
	}
	return d;
}

/*
 * The canonical form of s: cells with leads only, sorted by (block, stage,
 * age), and nstages one more than the highest stage used.  What is stored,
 * printed and compared.  Returns s itself when it is canonical already.
 */
static CloseSummary *
CsCompact(const CloseSummary *s)
{
	int32		n = 0;
	int			top = 0;
	CloseSummary *c;
	int32		j = 0;

	if (!(s->flags & CS_DENSE))
		return (CloseSummary *) s;
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *cell = cs_cell(s, i);

		if (cell->n > 0)
		{
			n++;
			top = Max(top, cell->stage);
		}
	}
	c = CsAlloc(s->horizons, s->nages, top + 1, s->nblocks, n, 0);
	c->leads = s->leads;
	c->excluded = s->excluded;
	memcpy(c->age_bounds, s->age_bounds, sizeof(int64) * (s->nages - 1));
	memcpy(cs_block(c, 0), cs_block(s, 0), (Size) s->nblocks * CS_BLOCK_SIZE(s->horizons));
	/* dense cells are laid out in (block, stage, age) order already */
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *cell = cs_cell(s, i);

		if (cell->n > 0)
			memcpy(cs_cell(c, j++), cell, CS_CELL_SIZE(s->horizons));
	}
	return c;
}

pg_noreturn static void
GridMismatch(const char *fn, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: close summaries of different grids cannot be merged", fn),
			 errdetail("%s.", detail),
			 errhint("Build the summaries with the same close_grid() (period, horizon, age bounds, time zone and as_of).")));
}

/* Errors unless a and b have the same horizons and age bounds. */
static void
CsCheckShape(const CloseSummary *a, const CloseSummary *b, const char *fn)
{
	if (a->horizons != b->horizons)
		GridMismatch(fn, "They have different horizons");
	if (a->nages != b->nages ||
		memcmp(a->age_bounds, b->age_bounds, sizeof(int64) * (a->nages - 1)) != 0)
		GridMismatch(fn, "They have different age buckets");
}

static bool
CsSameBlockShape(const CloseSummary *a, const CsBlock *x, const CsBlock *y)
{
	if (x->t != y->t || x->obs != y->obs)
		return false;
	for (int h = 1; h <= a->horizons; h++)
		if (CS_END(x, h) != CS_END(y, h))
			return false;
	return true;
}

/*
 * a + b, where a is a dense summary we own: updated in place when b has the
 * same blocks and no higher stage, else a new dense summary over the union of
 * the blocks.  A block instant present in both must have the same windows.
 */
static CloseSummary *
CsMerge(CloseSummary *a, const CloseSummary *b, const char *fn)
{
	bool		same = (a->nblocks == b->nblocks);
	int32		k;

	Assert(a->flags & CS_DENSE);
	CsCheckShape(a, b, fn);
	for (k = 0; same && k < a->nblocks; k++)
		same = cs_block(a, k)->t == cs_block(b, k)->t;

	if (!same)
	{
		/* union of the block instants, both sorted */
		int32		nb = 0,
					i = 0,
					j = 0;
		int64	   *ts = palloc(sizeof(int64) * (a->nblocks + b->nblocks));
		CloseSummary *u;

		while (i < a->nblocks || j < b->nblocks)
		{
			int64		ta = i < a->nblocks ? cs_block(a, i)->t : PG_INT64_MAX;
			int64		tb = j < b->nblocks ? cs_block(b, j)->t : PG_INT64_MAX;

			if (ta == tb)
			{
				if (!CsSameBlockShape(a, cs_block(a, i), cs_block(b, j)))
					GridMismatch(fn, "A snapshot instant has different windows or observed windows");
				ts[nb++] = ta, i++, j++;
			}
			else if (ta < tb)
				ts[nb++] = ta, i++;
			else
				ts[nb++] = tb, j++;
		}
		if (nb > CS_MAX_BLOCKS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: more than %d snapshot instants", fn, CS_MAX_BLOCKS)));
		u = CsAlloc(a->horizons, a->nages, Max(a->nstages, b->nstages), nb,
					nb * Max(a->nstages, b->nstages) * a->nages, CS_DENSE);
		u->leads = a->leads;
		u->excluded = a->excluded;
		memcpy(u->age_bounds, a->age_bounds, sizeof(int64) * (a->nages - 1));
		for (k = 0, i = 0, j = 0; k < nb; k++)
		{
			if (i < a->nblocks && cs_block(a, i)->t == ts[k])
				CsCopyBlockShape(u, k, a, i++);
			else
				CsCopyBlockShape(u, k, b, j++);
			for (int st = 0; st < u->nstages; st++)
				for (int ag = 0; ag < u->nages; ag++)
					CsInitCell(cs_dense_cell(u, k, st, ag), k, st, ag);
		}
		/* a's counts into u: blocks by instant, then its cells */
		for (i = 0, k = 0; i < a->nblocks; i++)
		{
			while (cs_block(u, k)->t != cs_block(a, i)->t)
				k++;
			CsAddBlock(u, cs_block(u, k), a, cs_block(a, i));
			for (int st = 0; st < a->nstages; st++)
				for (int ag = 0; ag < a->nages; ag++)
				{
					CsCell	   *c = cs_dense_cell(a, i, st, ag);

					if (c->n > 0)
						CsAddCell(u, cs_dense_cell(u, k, st, ag), c);
				}
		}
		pfree(ts);
		a = u;
	}
	else
	{
		for (k = 0; k < a->nblocks; k++)
			if (!CsSameBlockShape(a, cs_block(a, k), cs_block(b, k)))
				GridMismatch(fn, "A snapshot instant has different windows or observed windows");
		if (b->nstages > a->nstages)
			a = CsToDense(a, b->nstages);
	}

	/* b's counts into a, matching blocks by instant */
	a->leads = lk_add_count(a->leads, b->leads);
	a->excluded = lk_add_count(a->excluded, b->excluded);
	for (int32 i = 0, ka = 0; i < b->nblocks; i++)
	{
		while (cs_block(a, ka)->t != cs_block(b, i)->t)
			ka++;
		CsAddBlock(a, cs_block(a, ka), b, cs_block(b, i));
	}
	{
		/* b's cells: dense or sorted by block, so the block pointer only advances */
		int32		ka = 0;

		for (int32 i = 0; i < b->ncells; i++)
		{
			const CsCell *c = cs_cell(b, i);

			if (c->n == 0)
				continue;
			while (cs_block(a, ka)->t != cs_block(b, c->block)->t)
				ka++;
			CsAddCell(a, cs_dense_cell(a, ka, c->stage, c->age), c);
		}
	}
	return a;
}

/* ---------------------------------------------------------------------------
 * Validation, shared by text and binary input
 * ------------------------------------------------------------------------- */

static bool
MoneyNonNegative(const LkMoney *m)
{
	return !lk_money_present(m) || m->sum >= 0;
}

/* NULL when s is a valid canonical summary, else what is wrong. */
static const char *
CsValidate(const CloseSummary *s)
{
	int			H = s->horizons;
	int			top = 0;
	int64		prev_t = 0;
	int64	   *won_sum;

	if (s->flags != 0)
		return "unknown flags";
	if (H < 1 || H > CS_MAX_HORIZONS)
		return "horizons out of range";
	if (s->nages < 1 || s->nages > CS_MAX_AGES)
		return "number of age buckets out of range";
	for (int a = 0; a < s->nages - 1; a++)
		if (s->age_bounds[a] <= (a == 0 ? 0 : s->age_bounds[a - 1]))
			return "age bounds must be positive and strictly increasing";
	if (s->nstages < 1 || s->nstages > CS_MAX_STAGES)
		return "number of stages out of range";
	if (s->nblocks < 0 || s->nblocks > CS_MAX_BLOCKS)
		return "number of snapshots out of range";
	if (s->leads < 0 || s->excluded < 0 || s->excluded > s->leads)
		return "lead counts are negative or inconsistent";

	won_sum = palloc0(sizeof(int64) * (Size) Max(s->nblocks, 1) * H);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		const CsBlock *b = cs_block(s, k);
		int64		prev_end = b->t;

		if (TIMESTAMP_NOT_FINITE(b->t) || (k > 0 && b->t <= prev_t))
			return "snapshot instants must be finite and strictly increasing";
		prev_t = b->t;
		if (b->obs < 0 || b->obs > H || b->pad != 0)
			return "observed windows out of range";
		for (int h = 1; h <= H; h++)
		{
			int64		end = CS_END(b, h);
			int64		arr = CS_ARRIVALS(s, b, h),
						clo = CS_CLOSINGS(s, b, h),
						rn = CS_REVENUE_N(s, b, h);
			const LkMoney *rev = cs_revenue(s, b, h),
					   *rsq = cs_revenue_sq(s, b, h);
			int64		new_total = 0;

			if (TIMESTAMP_NOT_FINITE(end) || end <= prev_end)
				return "window ends must be finite and strictly increasing after the snapshot";
			prev_end = end;
			if (arr < 0 || clo < 0 || rn < 0 || rn > clo || arr > s->leads || clo > s->leads)
				return "window counts are negative or inconsistent";
			if (lk_money_present(rev) != (rn > 0) || lk_money_present(rsq) != (rn > 0) ||
				!MoneyNonNegative(rsq) || (rn > 0 && rsq->dscale != 4))
				return "window revenue disagrees with its count";
			if (h > b->obs && (arr != 0 || clo != 0))
				return "an unobserved window has counts";
			for (int hw = h; hw <= H; hw++)
			{
				int64		x = CS_NEW_WON(s, b, h, hw);

				if (x < 0 || (hw > b->obs && x != 0) || __builtin_add_overflow(new_total, x, &new_total))
					return "new-lead wins are negative or in an unobserved window";
				won_sum[(Size) k * H + hw - 1] += x;
			}
			if (new_total > arr)
				return "new-lead wins exceed the arrivals";
		}
	}
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);
		const CsBlock *b;
		int64		closed = 0;

		if (c->block < 0 || c->block >= s->nblocks || c->stage < 0 || c->stage >= s->nstages ||
			c->age < 0 || c->age >= s->nages)
			return "a cell is out of range";
		if (i > 0)
		{
			const CsCell *p = cs_cell(s, i - 1);

			if (c->block < p->block || (c->block == p->block &&
										(c->stage < p->stage || (c->stage == p->stage && c->age <= p->age))))
				return "cells must be sorted by snapshot, stage and age, each once";
		}
		top = Max(top, c->stage);
		b = cs_block(s, c->block);
		if (c->n <= 0 || c->n > s->leads || c->amount_n < 0 || c->amount_n > c->n)
			return "cell counts are out of range";
		if (lk_money_present(&c->amount) != (c->amount_n > 0) ||
			lk_money_present(&c->amount_sq) != (c->amount_n > 0) || !MoneyNonNegative(&c->amount_sq) ||
			(c->amount_n > 0 && c->amount_sq.dscale != 4))
			return "cell amounts disagree with their count";
		for (int h = 1; h <= s->horizons; h++)
		{
			int64		w = CS_WON(s, c, h),
						l = CS_LOST(s, c, h);

			if (w < 0 || l < 0 || (h > b->obs && (w != 0 || l != 0)) ||
				__builtin_add_overflow(closed, w, &closed) || __builtin_add_overflow(closed, l, &closed))
				return "cell outcomes are negative or in an unobserved window";
			won_sum[(Size) c->block * H + h - 1] += w;
		}
		if (closed > c->n)
			return "a cell has more outcomes than leads";
	}
	if (s->nstages != top + 1)
		return "number of stages disagrees with the cells";
	for (int32 k = 0; k < s->nblocks; k++)
		for (int h = 1; h <= H; h++)
			if (won_sum[(Size) k * H + h - 1] != CS_CLOSINGS(s, cs_block(s, k), h))
				return "wins of open and new leads disagree with the window's closings";
	pfree(won_sum);
	return NULL;
}

pg_noreturn static void
BadInput(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type close_summary: \"%.200s%s\"", input,
					strlen(input) > 200 ? "..." : ""),
			 errdetail("%s.", detail),
			 errhint("Use a value printed by close_summary's output function.")));
}

pg_noreturn static void
BadBinary(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid binary input for type close_summary"),
			 errdetail("%s.", detail)));
}

/* ---------------------------------------------------------------------------
 * Text I/O, one line:
 *   v1 horizons=H ages=B1,..,B(A-1) stages=S leads=N excluded=N blocks=B cells=C
 *   ; block t=T obs=O ends=.. arrivals=.. closings=.. revenue_n=.. revenue=.. revenue_sq=.. new=..
 *   ; cell block=K stage=S age=A n=N amount_n=N amount=M amount_sq=M won=.. lost=..
 * Instants are microseconds since 2000-01-01 00:00 UTC; lists are comma-separated.
 * ------------------------------------------------------------------------- */

static void
OutList(StringInfo buf, const char *key, const int64 *v, int n)
{
	appendStringInfo(buf, " %s=", key);
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, i ? ",%lld" : "%lld", (long long) v[i]);
}

static void
OutMoneyList(StringInfo buf, const char *key, const CloseSummary *s, const CsBlock *b, bool sq)
{
	appendStringInfo(buf, " %s=", key);
	for (int h = 1; h <= s->horizons; h++)
	{
		if (h > 1)
			appendStringInfoChar(buf, ',');
		lk_money_out(buf, sq ? cs_revenue_sq(s, b, h) : cs_revenue(s, b, h));
	}
}

static void
CsOut(StringInfo buf, const CloseSummary *s)
{
	int			H = s->horizons;
	int32		ncells = 0;

	for (int32 i = 0; i < s->ncells; i++)
		ncells += cs_cell(s, i)->n > 0;
	appendStringInfo(buf, "v%d horizons=%d", CLOSE_SUMMARY_VERSION, H);
	OutList(buf, "ages", s->age_bounds, s->nages - 1);
	appendStringInfo(buf, " leads=" INT64_FORMAT " excluded=" INT64_FORMAT " blocks=%d cells=%d",
					 s->leads, s->excluded, s->nblocks, ncells);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		const CsBlock *b = cs_block(s, k);

		appendStringInfo(buf, " ; block t=" INT64_FORMAT " obs=%d", b->t, b->obs);
		OutList(buf, "ends", &CS_END(b, 1), H);
		OutList(buf, "arrivals", &CS_ARRIVALS(s, b, 1), H);
		OutList(buf, "closings", &CS_CLOSINGS(s, b, 1), H);
		OutList(buf, "revenue_n", &CS_REVENUE_N(s, b, 1), H);
		OutMoneyList(buf, "revenue", s, b, false);
		OutMoneyList(buf, "revenue_sq", s, b, true);
		OutList(buf, "new", &CS_NEW_WON(s, b, 1, 1), CS_NEW_PAIRS(H));
	}
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);

		if (c->n == 0)
			continue;
		appendStringInfo(buf, " ; cell block=%d stage=%d age=%d n=" INT64_FORMAT " amount_n=" INT64_FORMAT " amount=",
						 c->block, c->stage, c->age, c->n, c->amount_n);
		lk_money_out(buf, &c->amount);
		appendStringInfoString(buf, " amount_sq=");
		lk_money_out(buf, &c->amount_sq);
		OutList(buf, "won", &CS_WON(s, c, 1), H);
		OutList(buf, "lost", &CS_LOST(s, c, 1), H);
	}
}

/* key=v1,v2,...,vn with n int64 values */
static bool
ParseList(const char **p, const char *key, int64 *out, int n, int64 lo, int64 hi)
{
	if (!lk_parse_lit(p, key))
		return false;
	for (int i = 0; i < n; i++)
		if ((i > 0 && !lk_parse_lit(p, ",")) || !lk_parse_int64(p, &out[i], lo, hi))
			return false;
	return true;
}

static bool
ParseMoneyList(const char **p, const char *key, const CloseSummary *s, CsBlock *b, bool sq)
{
	if (!lk_parse_lit(p, key))
		return false;
	for (int h = 1; h <= s->horizons; h++)
		if ((h > 1 && !lk_parse_lit(p, ",")) ||
			!lk_money_in(p, sq ? cs_revenue_sq(s, b, h) : cs_revenue(s, b, h)))
			return false;
	return true;
}

PG_FUNCTION_INFO_V1(close_summary_in);
Datum
close_summary_in(PG_FUNCTION_ARGS)
{
	const char *input = PG_GETARG_CSTRING(0);
	const char *p = input;
	int64		H,
				B,
				C,
				leads,
				excluded;
	int64		bounds[CS_MAX_AGES];
	int			nb = 0;
	CloseSummary *s;
	int			top = 0;
	const char *msg;

	if (!lk_parse_lit(&p, "v1 "))
		BadInput(input, "It must start with the format version \"v1\"");
	if (!lk_parse_lit(&p, "horizons=") || !lk_parse_int64(&p, &H, 1, CS_MAX_HORIZONS) ||
		!lk_parse_lit(&p, " ages="))
		BadInput(input, "The horizons or age bounds are missing or out of range");
	if (*p >= '0' && *p <= '9')
	{
		do
		{
			if (nb >= CS_MAX_AGES - 1 || !lk_parse_int64(&p, &bounds[nb], 1, PG_INT64_MAX))
				BadInput(input, "The age bounds are malformed or too many");
			nb++;
		} while (lk_parse_lit(&p, ","));
	}
	if (!lk_parse_lit(&p, " leads=") || !lk_parse_int64(&p, &leads, 0, PG_INT64_MAX) ||
		!lk_parse_lit(&p, " excluded=") || !lk_parse_int64(&p, &excluded, 0, PG_INT64_MAX) ||
		!lk_parse_lit(&p, " blocks=") || !lk_parse_int64(&p, &B, 0, CS_MAX_BLOCKS) ||
		!lk_parse_lit(&p, " cells=") ||
		!lk_parse_int64(&p, &C, 0, (int64) CS_MAX_BLOCKS * CS_MAX_STAGES * CS_MAX_AGES))
		BadInput(input, "A count is missing, out of order or out of range");

	/* stages are known only after the cells: allocate with the most, fix below */
	s = CsAlloc((int) H, nb + 1, 1, (int32) B, (int32) C, 0);
	s->leads = leads;
	s->excluded = excluded;
	memcpy(s->age_bounds, bounds, sizeof(int64) * nb);
	for (int32 k = 0; k < B; k++)
	{
		CsBlock    *b = cs_block(s, k);
		int64		obs;

		if (!lk_parse_lit(&p, " ; block t=") || !lk_parse_int64(&p, &b->t, PG_INT64_MIN, PG_INT64_MAX) ||
			!lk_parse_lit(&p, " obs=") || !lk_parse_int64(&p, &obs, 0, H) ||
			!ParseList(&p, " ends=", &CS_END(b, 1), H, PG_INT64_MIN, PG_INT64_MAX) ||
			!ParseList(&p, " arrivals=", &CS_ARRIVALS(s, b, 1), H, 0, PG_INT64_MAX) ||
			!ParseList(&p, " closings=", &CS_CLOSINGS(s, b, 1), H, 0, PG_INT64_MAX) ||
			!ParseList(&p, " revenue_n=", &CS_REVENUE_N(s, b, 1), H, 0, PG_INT64_MAX) ||
			!ParseMoneyList(&p, " revenue=", s, b, false) ||
			!ParseMoneyList(&p, " revenue_sq=", s, b, true) ||
			!ParseList(&p, " new=", &CS_NEW_WON(s, b, 1, 1), CS_NEW_PAIRS(H), 0, PG_INT64_MAX))
			BadInput(input, "A snapshot is missing, malformed or out of range");
		b->obs = (int32) obs;
	}
	for (int32 i = 0; i < C; i++)
	{
		CsCell	   *c = cs_cell(s, i);
		int64		k,
					st,
					ag;

		if (!lk_parse_lit(&p, " ; cell block=") || !lk_parse_int64(&p, &k, 0, B - 1) ||
			!lk_parse_lit(&p, " stage=") || !lk_parse_int64(&p, &st, 0, CS_MAX_STAGES - 1) ||
			!lk_parse_lit(&p, " age=") || !lk_parse_int64(&p, &ag, 0, nb) ||
			!lk_parse_lit(&p, " n=") || !lk_parse_int64(&p, &c->n, 0, PG_INT64_MAX) ||
			!lk_parse_lit(&p, " amount_n=") || !lk_parse_int64(&p, &c->amount_n, 0, PG_INT64_MAX) ||
			!lk_parse_lit(&p, " amount=") || !lk_money_in(&p, &c->amount) ||
			!lk_parse_lit(&p, " amount_sq=") || !lk_money_in(&p, &c->amount_sq) ||
			!ParseList(&p, " won=", &CS_WON(s, c, 1), H, 0, PG_INT64_MAX) ||
			!ParseList(&p, " lost=", &CS_LOST(s, c, 1), H, 0, PG_INT64_MAX))
			BadInput(input, "A cell is missing, malformed or out of range");
		c->block = (int32) k;
		c->stage = (int16) st;
		c->age = (int16) ag;
		top = Max(top, c->stage);
	}
	if (*p != '\0')
		BadInput(input, "Unexpected text after the last cell");
	s->nstages = (uint8) (top + 1);
	if ((msg = CsValidate(s)) != NULL)
		BadInput(input, msg);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(close_summary_out);
Datum
close_summary_out(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	StringInfoData buf;

	initStringInfo(&buf);
	CsOut(&buf, s);
	PG_RETURN_CSTRING(buf.data);
}

/* ---------------------------------------------------------------------------
 * Binary I/O: version, flags (0), horizons, age buckets, stages (bytes);
 * leads, excluded, the age bounds, then per block t, obs, its int64 arrays
 * and money, and per cell its block, stage, age, counts, amounts, outcomes.
 * Only the canonical form is sent: cells with leads, in order.
 * ------------------------------------------------------------------------- */

static void
CsSend(StringInfo buf, const CloseSummary *s)
{
	int			H = s->horizons;
	int32		ncells = 0;
	int			top = 0;

	for (int32 i = 0; i < s->ncells; i++)
		if (cs_cell(s, i)->n > 0)
		{
			ncells++;
			top = Max(top, cs_cell(s, i)->stage);
		}
	pq_sendbyte(buf, CLOSE_SUMMARY_VERSION);
	pq_sendbyte(buf, 0);
	pq_sendbyte(buf, H);
	pq_sendbyte(buf, s->nages);
	pq_sendbyte(buf, top + 1);
	pq_sendint64(buf, s->leads);
	pq_sendint64(buf, s->excluded);
	for (int a = 0; a < s->nages - 1; a++)
		pq_sendint64(buf, s->age_bounds[a]);
	pq_sendint32(buf, s->nblocks);
	pq_sendint32(buf, ncells);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		const CsBlock *b = cs_block(s, k);

		pq_sendint64(buf, b->t);
		pq_sendint32(buf, b->obs);
		for (int i = 0; i < 4 * H + CS_NEW_PAIRS(H); i++)
			pq_sendint64(buf, b->data[i]);
		for (int h = 1; h <= H; h++)
			lk_money_send(buf, cs_revenue(s, b, h));
		for (int h = 1; h <= H; h++)
			lk_money_send(buf, cs_revenue_sq(s, b, h));
	}
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);

		if (c->n == 0)
			continue;
		pq_sendint32(buf, c->block);
		pq_sendbyte(buf, c->stage);
		pq_sendbyte(buf, c->age);
		pq_sendint64(buf, c->n);
		pq_sendint64(buf, c->amount_n);
		lk_money_send(buf, &c->amount);
		lk_money_send(buf, &c->amount_sq);
		for (int j = 0; j < 2 * H; j++)
			pq_sendint64(buf, c->outcome[j]);
	}
}

static CloseSummary *
CsRecv(StringInfo buf)
{
	int			H,
				A,
				S;
	int32		B,
				C;
	int64		leads,
				excluded;
	int64		bounds[CS_MAX_AGES];
	CloseSummary *s;
	const char *msg;

#define NEED(n) do { if (buf->len - buf->cursor < (int) (n)) BadBinary("The value is truncated"); } while (0)
	NEED(5 + 16);
	if (pq_getmsgbyte(buf) != CLOSE_SUMMARY_VERSION)
		BadBinary("Unknown format version");
	if (pq_getmsgbyte(buf) != 0)
		BadBinary("Unknown flags");
	H = pq_getmsgbyte(buf);
	A = pq_getmsgbyte(buf);
	S = pq_getmsgbyte(buf);
	if (H < 1 || H > CS_MAX_HORIZONS || A < 1 || A > CS_MAX_AGES || S < 1 || S > CS_MAX_STAGES)
		BadBinary("The horizons, age buckets or stages are out of range");
	leads = pq_getmsgint64(buf);
	excluded = pq_getmsgint64(buf);
	NEED(8 * (A - 1) + 8);
	for (int a = 0; a < A - 1; a++)
		bounds[a] = pq_getmsgint64(buf);
	B = (int32) pq_getmsgint(buf, 4);
	C = (int32) pq_getmsgint(buf, 4);
	if (B < 0 || B > CS_MAX_BLOCKS || C < 0 || C > B * S * A)
		BadBinary("The number of snapshots or cells is out of range");
	/* the rest must be exactly as long as the counts say */
	if ((Size) (buf->len - buf->cursor) !=
		(Size) B * (12 + 8 * (4 * H + CS_NEW_PAIRS(H)) + 40 * H) +
		(Size) C * (6 + 16 + 40 + 16 * H))
		BadBinary("The length disagrees with the number of snapshots and cells");
	s = CsAlloc(H, A, S, B, C, 0);
	s->leads = leads;
	s->excluded = excluded;
	memcpy(s->age_bounds, bounds, sizeof(int64) * (A - 1));
	for (int32 k = 0; k < B; k++)
	{
		CsBlock    *b = cs_block(s, k);

		b->t = pq_getmsgint64(buf);
		b->obs = (int32) pq_getmsgint(buf, 4);
		for (int i = 0; i < 4 * H + CS_NEW_PAIRS(H); i++)
			b->data[i] = pq_getmsgint64(buf);
		for (int h = 1; h <= H; h++)
			if (!lk_money_recv(buf, cs_revenue(s, b, h)))
				BadBinary("A revenue is malformed");
		for (int h = 1; h <= H; h++)
			if (!lk_money_recv(buf, cs_revenue_sq(s, b, h)))
				BadBinary("A revenue is malformed");
	}
	for (int32 i = 0; i < C; i++)
	{
		CsCell	   *c = cs_cell(s, i);

		c->block = (int32) pq_getmsgint(buf, 4);
		c->stage = (int16) pq_getmsgbyte(buf);
		c->age = (int16) pq_getmsgbyte(buf);
		c->n = pq_getmsgint64(buf);
		c->amount_n = pq_getmsgint64(buf);
		if (!lk_money_recv(buf, &c->amount) || !lk_money_recv(buf, &c->amount_sq))
			BadBinary("An expected amount is malformed");
		for (int j = 0; j < 2 * H; j++)
			c->outcome[j] = pq_getmsgint64(buf);
	}
#undef NEED
	if ((msg = CsValidate(s)) != NULL)
		BadBinary(msg);
	return s;
}

PG_FUNCTION_INFO_V1(close_summary_recv);
Datum
close_summary_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(CsRecv((StringInfo) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(close_summary_from_bytes);
Datum
close_summary_from_bytes(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	lk_read_bytes(&buf, PG_GETARG_BYTEA_PP(0));
	PG_RETURN_POINTER(CsRecv(&buf));
}

PG_FUNCTION_INFO_V1(close_summary_send);
Datum
close_summary_send(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	CsSend(&buf, s);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------------
 * The grid: an empty summary that fixes the snapshots, their windows and the
 * age buckets.  close_grid() in SQL computes the instants in a time zone.
 * ------------------------------------------------------------------------- */

pg_noreturn static void
BadGrid(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("close_summary_grid: %s", msg),
			 errhint("%s", hint)));
}

/* The elements of a one-dimensional array without NULLs, or an error. */
static int64 *
ArrayInt64(ArrayType *a, int *n, const char *what)
{
	if (ARR_NDIM(a) > 1 || array_contains_nulls(a))
		BadGrid(psprintf("%s must be a one-dimensional array without NULLs", what),
				"Build the grid with close_grid().");
	*n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	return (int64 *) lk_array_data(a);
}

/*
 * close_summary_grid(snapshots timestamptz[], ends timestamptz[], as_of
 * timestamptz, age_bounds interval[]): snapshot k's windows end at
 * ends[k*H+1 .. k*H+H]; a window is observed when it ends at or before as_of.
 */
PG_FUNCTION_INFO_V1(close_summary_grid);
Datum
close_summary_grid(PG_FUNCTION_ARGS)
{
	int			nt,
				ne,
				na;
	int64	   *ts = ArrayInt64(PG_GETARG_ARRAYTYPE_P(0), &nt, "snapshots");
	int64	   *ends = ArrayInt64(PG_GETARG_ARRAYTYPE_P(1), &ne, "ends");
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(2);
	ArrayType  *ab = PG_GETARG_ARRAYTYPE_P(3);
	Interval   *ages;
	int			H;
	CloseSummary *s;

	if (nt < 1 || nt > CS_MAX_BLOCKS)
		BadGrid(psprintf("between 1 and %d snapshots are needed, not %d", CS_MAX_BLOCKS, nt),
				"Ask for fewer snapshots.");
	if (ne % nt != 0 || ne / nt < 1 || ne / nt > CS_MAX_HORIZONS)
		BadGrid(psprintf("%d window ends do not make 1 to %d windows for each of %d snapshots",
						 ne, CS_MAX_HORIZONS, nt), "Pass horizon times as many ends as snapshots.");
	H = ne / nt;
	if (ARR_NDIM(ab) > 1 || array_contains_nulls(ab))
		BadGrid("age_bounds must be a one-dimensional array without NULLs", "E.g. ARRAY['7 days', '30 days']::interval[].");
	na = ARR_NDIM(ab) == 0 ? 0 : ARR_DIMS(ab)[0];
	if (na > CS_MAX_AGES - 1)
		BadGrid(psprintf("at most %d age bounds, not %d", CS_MAX_AGES - 1, na), "Pass fewer age bounds.");
	if (TIMESTAMP_NOT_FINITE(as_of))
		BadGrid("as_of must be finite", "Pass a real instant, e.g. now().");
	ages = (Interval *) lk_array_data(ab);
	s = CsAlloc(H, na + 1, 1, nt, 0, 0);
	for (int a = 0; a < na; a++)
	{
		int64		us;

		if (ages[a].month != 0 ||
			__builtin_mul_overflow((int64) ages[a].day, USECS_PER_DAY, &us) ||
			__builtin_add_overflow(us, ages[a].time, &us))
			BadGrid("age bounds must be in days, hours or smaller units, not months",
					"Write '90 days' rather than '3 months'.");
		if (us <= (a == 0 ? 0 : s->age_bounds[a - 1]))
			BadGrid("age bounds must be positive and strictly increasing", "E.g. ARRAY['7 days', '30 days', '90 days'].");
		s->age_bounds[a] = us;
	}
	for (int k = 0; k < nt; k++)
	{
		CsBlock    *b = cs_block(s, k);
		int64		prev;

		if (TIMESTAMP_NOT_FINITE(ts[k]) || (k > 0 && ts[k] <= ts[k - 1]) || ts[k] > as_of)
			BadGrid("snapshots must be finite, strictly increasing and not after as_of",
					"Build the grid with close_grid().");
		b->t = ts[k];
		prev = ts[k];
		for (int h = 1; h <= H; h++)
		{
			int64		e = ends[k * H + h - 1];

			if (TIMESTAMP_NOT_FINITE(e) || e <= prev)
				BadGrid("each snapshot's window ends must be finite and strictly increasing after it",
						"Build the grid with close_grid().");
			CS_END(b, h) = e;
			if (e <= as_of)
				b->obs = h;
			prev = e;
		}
		CsInitBlockMoney(s, b);
	}
	PG_RETURN_POINTER(s);
}

/* ---------------------------------------------------------------------------
 * stage_reach(step, occurred_at): per lead, the first time it reached each
 * stage, as close_agg's `reached` input (element k = step k, NULL when not
 * reached).  The state is a timestamptz[] without NULLs, 'infinity' standing
 * for "not reached", so that it is a valid array wherever it travels (a
 * parallel worker, Citus) and is updated in place; the final function turns
 * 'infinity' into NULL.
 * ------------------------------------------------------------------------- */

/* A timestamptz[] of n elements, all 'infinity'. */
static ArrayType *
ReachArray(int n)
{
	Size		nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * n;
	ArrayType  *a = palloc0(nbytes);
	int64	   *v;

	SET_VARSIZE(a, nbytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = TIMESTAMPTZOID;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	v = (int64 *) lk_array_data(a);
	for (int i = 0; i < n; i++)
		v[i] = DT_NOEND;
	return a;
}

static int
ReachLength(ArrayType *a)
{
	if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("stage_reach: a state must be a one-dimensional timestamptz[]")));
	return ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
}

/* dst[i] = min(dst[i], src[i]) for src's elements (NULL meaning not reached) */
static void
ReachMin(ArrayType *dst, ArrayType *src)
{
	int			n = ReachLength(src);
	bits8	   *nulls = ARR_NULLBITMAP(src);
	int64	   *v = (int64 *) lk_array_data(src);
	int64	   *d = (int64 *) lk_array_data(dst);

	for (int i = 0; i < n; i++)
		if (!nulls || (nulls[i / 8] & (1 << (i % 8))))
		{
			d[i] = Min(d[i], *v);
			v++;
		}
}

/* A fresh state with room for n steps holding src's times. */
static ArrayType *
ReachCopy(ArrayType *src, int n)
{
	ArrayType  *a = ReachArray(Max(n, ReachLength(src)));

	ReachMin(a, src);
	return a;
}

PG_FUNCTION_INFO_V1(stage_reach_accum);
Datum
stage_reach_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	int32		step;
	TimestampTz at;
	int64	   *d;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stage_reach_accum called in non-aggregate context")));
	/* our own state from the row before: a plain array in the aggregate context */
	a = PG_ARGISNULL(0) ? ReachArray(0) : (ArrayType *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(a);
	step = PG_GETARG_INT32(1);
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (step < 1 || step > CS_MAX_STAGES - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage_reach: step %d is not between 1 and %d", step, CS_MAX_STAGES - 1),
				 errhint("Steps are 1-based positions in the funnel's list of stages.")));
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("stage_reach: infinite timestamps cannot be a stage's time"),
				 errhint("Filter out stage events whose time is 'infinity' or '-infinity'.")));
	if (step > ReachLength(a))
		a = ReachCopy(a, step);
	d = (int64 *) lk_array_data(a);
	d[step - 1] = Min(d[step - 1], at);
	PG_RETURN_POINTER(a);
}

/* Combine: the earlier time of each step. */
PG_FUNCTION_INFO_V1(stage_reach_combine);
Datum
stage_reach_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *b;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stage_reach_combine called in non-aggregate context")));
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	b = PG_GETARG_ARRAYTYPE_P(1);
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(ReachCopy(b, 0));
	a = PG_GETARG_ARRAYTYPE_P(0);
	/* a copy we own, of the longer length and without NULLs */
	a = ReachCopy(a, ReachLength(b));
	ReachMin(a, b);
	PG_RETURN_POINTER(a);
}

/* Final: NULL for the steps not reached; NULL for a lead with no stage. */
PG_FUNCTION_INFO_V1(stage_reach_final);
Datum
stage_reach_final(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	int			n;
	int64	   *v;
	Datum	   *d;
	bool	   *nulls;
	int			dims[1],
				lbs[1] = {1};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a = PG_GETARG_ARRAYTYPE_P(0);
	n = ReachLength(a);
	if (n == 0)
		PG_RETURN_NULL();
	v = (int64 *) lk_array_data(a);
	d = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		nulls[i] = (v[i] == DT_NOEND);
		d[i] = TimestampTzGetDatum(v[i]);
	}
	dims[0] = n;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(d, nulls, 1, dims, lbs, TIMESTAMPTZOID,
											 sizeof(int64), true, TYPALIGN_DOUBLE));
}

/* ---------------------------------------------------------------------------
 * close_agg(first_contact_at, converted_at, lost_at, revenue, reached,
 *           expected_amount, grid): one row per lead
 * ------------------------------------------------------------------------- */

static inline void
CheckFinite(TimestampTz t)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("close_agg: infinite timestamps cannot be placed in a window"),
				 errhint("Filter out rows whose first contact, close or stage times are 'infinity' or '-infinity'.")));
}

/* 1-based observed window of block b that holds instant x >= b->t; 0 when none does. */
static inline int
CsWindow(const CsBlock *b, int64 x)
{
	for (int h = 1; h <= b->obs; h++)
		if (x < CS_END(b, h))
			return h;
	return 0;
}

/* Is the aggregate's grid argument (argument `argno`) the same in every row? */
static bool
GridIsConstant(FunctionCallInfo fcinfo, int argno)
{
	Aggref	   *ag = AggGetAggref(fcinfo);
	TargetEntry *te;

	if (ag == NULL || list_length(ag->args) < argno)
		return false;
	te = (TargetEntry *) list_nth(ag->args, argno - 1);
	/* a parameter cannot change during one aggregation: a new one rescans it */
	return IsA(te->expr, Const) || IsA(te->expr, Param);
}

/* Errors unless the grid is the one the state was built from. */
static void
CheckGrid(const CloseSummary *state, const CloseSummary *grid)
{
	CsCheckShape(state, grid, "close_agg");
	if (state->nblocks != grid->nblocks)
		GridMismatch("close_agg", "The grid changed between rows");
	for (int32 k = 0; k < grid->nblocks; k++)
		if (!CsSameBlockShape(state, cs_block(state, k), cs_block(grid, k)))
			GridMismatch("close_agg", "The grid changed between rows");
}

/* The summary of one amount and of its square in cents, or absent ones for NULL. */
static void
MoneyAndSquare(FunctionCallInfo fcinfo, int argno, LkMoney *m, LkMoney *sq, const char *what)
{
	lk_money_init(m);
	if (!PG_ARGISNULL(argno))
		lk_money_add_numeric(m, PG_GETARG_DATUM(argno), what);
	lk_money_square_cents(sq, m, what);
}

PG_FUNCTION_INFO_V1(close_agg_accum);
Datum
close_agg_accum(PG_FUNCTION_ARGS)
{
	CloseSummary *s;
	CloseSummary *grid;
	TimestampTz fc,
				won = 0,
				lost = 0,
				close;
	bool		has_won,
				has_lost;
	int64		reach[CS_MAX_STAGES];
	bool		has_reach[CS_MAX_STAGES];
	int			nreach = 0;
	LkMoney		rev,
				rev_sq,
				amt,
				amt_sq;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_agg_accum called in non-aggregate context")));
	if (PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("close_agg: the grid must not be NULL"),
				 errhint("Pass close_grid(as_of, ...).")));
	grid = PG_GETARG_CLOSE_SUMMARY(7);
	if (PG_ARGISNULL(0))
	{
		/* the first row: a dense working copy of the grid */
		if (grid->ncells != 0 || grid->leads != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_agg: the grid must be an empty summary"),
					 errhint("Pass close_grid(as_of, ...), not a summary with counts.")));
		s = CsToDense(grid, 1);
		for (int32 k = 0; k < s->nblocks; k++)
		{
			/* a grid value with counts is refused above; make sure of the blocks */
			CsBlock    *b = cs_block(s, k);

			memset(&CS_ARRIVALS(s, b, 1), 0, sizeof(int64) * (3 * s->horizons + CS_NEW_PAIRS(s->horizons)));
			CsInitBlockMoney(s, b);
		}
	}
	else
	{
		/*
		 * The state we returned before: ours, dense, in the aggregate context.
		 * A grid that is not a constant is checked in every row.
		 */
		s = (CloseSummary *) PG_GETARG_POINTER(0);
		if (!GridIsConstant(fcinfo, 7))
			CheckGrid(s, grid);
	}

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);	/* no first contact: not a lead */
	fc = PG_GETARG_TIMESTAMPTZ(1);
	CheckFinite(fc);
	has_won = !PG_ARGISNULL(2);
	has_lost = !has_won && !PG_ARGISNULL(3);	/* a win outranks a loss */
	if (has_won)
		CheckFinite(won = PG_GETARG_TIMESTAMPTZ(2));
	if (has_lost)
		CheckFinite(lost = PG_GETARG_TIMESTAMPTZ(3));
	close = has_won ? won : has_lost ? lost : DT_NOEND;
	s->leads = lk_add_count(s->leads, 1);
	if (close < fc)
		s->excluded = lk_add_count(s->excluded, 1);

	if (!PG_ARGISNULL(5))
	{
		ArrayType  *ra = PG_GETARG_ARRAYTYPE_P(5);
		bits8	   *nulls = ARR_NULLBITMAP(ra);
		int64	   *v = (int64 *) lk_array_data(ra);

		if (ARR_NDIM(ra) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("close_agg: reached must be a one-dimensional array")));
		nreach = ARR_NDIM(ra) == 0 ? 0 : ARR_DIMS(ra)[0];
		if (nreach > CS_MAX_STAGES - 1)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("close_agg: more than %d stages", CS_MAX_STAGES - 1),
					 errhint("Pass at most %d stage times in `reached`.", CS_MAX_STAGES - 1)));
		for (int i = 0; i < nreach; i++)
		{
			has_reach[i + 1] = !nulls || (nulls[i / 8] & (1 << (i % 8)));
			if (has_reach[i + 1])
			{
				CheckFinite(reach[i + 1] = *v++);
			}
		}
	}
	if (has_won)
		MoneyAndSquare(fcinfo, 4, &rev, &rev_sq, "revenue");
	else
	{
		lk_money_init(&rev);
		lk_money_init(&rev_sq);
	}
	MoneyAndSquare(fcinfo, 6, &amt, &amt_sq, "expected amount");

	for (int32 k = 0; k < s->nblocks; k++)
	{
		CsBlock    *b = cs_block(s, k);
		int64		t = b->t;

		if (b->obs == 0 && (fc >= t || close < t))
		{
			/* nothing observed: only the open pipeline at t is counted */
			continue;
		}
		if (fc < t && close >= t)
		{
			/* open at t: its furthest stage reached before t, and since when */
			int			st = 0;
			int64		since = fc;
			CsCell	   *c;
			int			h;

			for (int i = 1; i <= nreach; i++)
				if (has_reach[i] && reach[i] < t)
					st = i, since = reach[i];
			if (st >= s->nstages)
			{
				s = CsToDense(s, st + 1);
				b = cs_block(s, k);
			}
			c = cs_dense_cell(s, k, st, cs_age_bucket(s, t - since));
			c->n++;
			if (lk_money_present(&amt))
			{
				c->amount_n++;
				lk_money_add(&c->amount, &amt, "expected amount");
				lk_money_add(&c->amount_sq, &amt_sq, "expected amount");
			}
			if (has_won && (h = CsWindow(b, won)) > 0)
				CS_WON(s, c, h)++;
			else if (has_lost && (h = CsWindow(b, lost)) > 0)
				CS_LOST(s, c, h)++;
		}
		else if (fc >= t)
		{
			/* arrives after t */
			int			ha = CsWindow(b, fc);

			if (ha > 0)
			{
				int			hw;

				CS_ARRIVALS(s, b, ha)++;
				if (has_won && won >= fc && (hw = CsWindow(b, won)) > 0)
					CS_NEW_WON(s, b, ha, hw)++;
			}
		}
		if (has_won && won >= t && won >= fc)
		{
			int			h = CsWindow(b, won);

			if (h > 0)
			{
				CS_CLOSINGS(s, b, h)++;
				if (lk_money_present(&rev))
				{
					CS_REVENUE_N(s, b, h)++;
					lk_money_add(cs_revenue(s, b, h), &rev, "revenue");
					lk_money_add(cs_revenue_sq(s, b, h), &rev_sq, "revenue");
				}
			}
		}
	}
	PG_RETURN_POINTER(s);
}

/*
 * Combine function of close_agg, and rollup's transition function.  STRICT:
 * the executor copies the first input into the aggregate context; we work on
 * a dense copy of our own from then on.
 */
PG_FUNCTION_INFO_V1(close_summary_combine);
Datum
close_summary_combine(PG_FUNCTION_ARGS)
{
	CloseSummary *a = PG_GETARG_CLOSE_SUMMARY(0);
	CloseSummary *b = PG_GETARG_CLOSE_SUMMARY(1);

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("close_summary_combine called in non-aggregate context")));
	if (!(a->flags & CS_DENSE))
		a = CsToDense(a, b->nstages);
	PG_RETURN_POINTER(CsMerge(a, b, "rollup"));
}

/* Final function of close_agg and rollup: the canonical form. */
PG_FUNCTION_INFO_V1(close_summary_final);
Datum
close_summary_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(CsCompact(PG_GETARG_CLOSE_SUMMARY(0)));
}

/* close_summary + close_summary */
PG_FUNCTION_INFO_V1(close_summary_add);
Datum
close_summary_add(PG_FUNCTION_ARGS)
{
	CloseSummary *a = PG_GETARG_CLOSE_SUMMARY(0);
	CloseSummary *b = PG_GETARG_CLOSE_SUMMARY(1);

	PG_RETURN_POINTER(CsCompact(CsMerge(CsToDense(a, b->nstages), b, "+")));
}

/* = and <> and the hash opclass: see lk_send_equal */
PG_FUNCTION_INFO_V1(close_summary_eq);
Datum
close_summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lk_send_equal(close_summary_send, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(close_summary_ne);
Datum
close_summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!lk_send_equal(close_summary_send, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(close_summary_hash);
Datum
close_summary_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32(lk_send_hash(close_summary_send, PG_GETARG_DATUM(0)));
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(close_summary_leads);
Datum
close_summary_leads(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_CLOSE_SUMMARY(0)->leads);
}

PG_FUNCTION_INFO_V1(close_summary_excluded);
Datum
close_summary_excluded(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_CLOSE_SUMMARY(0)->excluded);
}

PG_FUNCTION_INFO_V1(close_summary_horizons);
Datum
close_summary_horizons(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_CLOSE_SUMMARY(0)->horizons);
}

/* close_age_bounds(s): the age bucket bounds as intervals */
PG_FUNCTION_INFO_V1(close_summary_age_bounds);
Datum
close_summary_age_bounds(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	Datum	   *d = palloc(sizeof(Datum) * Max(s->nages - 1, 1));

	for (int a = 0; a < s->nages - 1; a++)
		d[a] = IntervalPGetDatum(lk_interval_from_usec(s->age_bounds[a]));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, s->nages - 1, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE));
}

/* A set-returning accessor's materialized result and its row builder. */
typedef struct SrfOut
{
	ReturnSetInfo *rsi;
	Datum		values[12];
	bool		nulls[12];
} SrfOut;

static void
SrfBegin(FunctionCallInfo fcinfo, SrfOut *o)
{
	InitMaterializedSRF(fcinfo, 0);
	o->rsi = (ReturnSetInfo *) fcinfo->resultinfo;
}

static void
SrfRow(SrfOut *o)
{
	tuplestore_putvalues(o->rsi->setResult, o->rsi->setDesc, o->values, o->nulls);
	memset(o->nulls, 0, sizeof(o->nulls));
}

static Datum
MoneyOrNull(const LkMoney *m, bool *isnull)
{
	*isnull = !lk_money_present(m);
	return *isnull ? (Datum) 0 : lk_money_numeric(m);
}

/*
 * close_history(s): per snapshot, stage, age bucket and observed window: the
 * leads open at the snapshot (observed), and how many of them were won and
 * lost in that window.  Windows not observed yet are left out.
 */
PG_FUNCTION_INFO_V1(close_summary_history);
Datum
close_summary_history(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	SrfOut		o = {0};

	SrfBegin(fcinfo, &o);
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);
		const CsBlock *b = cs_block(s, c->block);

		if (c->n == 0)
			continue;
		for (int h = 1; h <= b->obs; h++)
		{
			o.values[0] = TimestampTzGetDatum(b->t);
			o.values[1] = Int32GetDatum(c->stage);
			o.values[2] = Int32GetDatum(c->age);
			o.values[3] = Int32GetDatum(h);
			o.values[4] = Int64GetDatum(c->n);
			o.values[5] = Int64GetDatum(CS_WON(s, c, h));
			o.values[6] = Int64GetDatum(CS_LOST(s, c, h));
			SrfRow(&o);
		}
	}
	return (Datum) 0;
}

/*
 * close_pipeline(s): per snapshot, stage and age bucket, the leads open at
 * the snapshot, how many have an expected amount, and their sum.
 */
PG_FUNCTION_INFO_V1(close_summary_pipeline);
Datum
close_summary_pipeline(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	SrfOut		o = {0};

	SrfBegin(fcinfo, &o);
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *c = cs_cell(s, i);

		if (c->n == 0)
			continue;
		o.values[0] = TimestampTzGetDatum(cs_block(s, c->block)->t);
		o.values[1] = Int32GetDatum(c->stage);
		o.values[2] = Int32GetDatum(c->age);
		o.values[3] = Int64GetDatum(c->n);
		o.values[4] = Int64GetDatum(c->amount_n);
		o.values[5] = MoneyOrNull(&c->amount, &o.nulls[5]);
		SrfRow(&o);
	}
	return (Datum) 0;
}

/*
 * close_windows(s): per snapshot and window: its bounds, whether it is
 * observed, the leads that arrived in it, the wins in it and their revenue.
 */
PG_FUNCTION_INFO_V1(close_summary_windows);
Datum
close_summary_windows(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	SrfOut		o = {0};

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		const CsBlock *b = cs_block(s, k);

		for (int h = 1; h <= s->horizons; h++)
		{
			o.values[0] = TimestampTzGetDatum(b->t);
			o.values[1] = Int32GetDatum(h);
			o.values[2] = TimestampTzGetDatum(cs_window_start(b, h));
			o.values[3] = TimestampTzGetDatum(CS_END(b, h));
			o.values[4] = BoolGetDatum(h <= b->obs);
			o.nulls[5] = o.nulls[6] = o.nulls[7] = (h > b->obs);
			o.values[5] = Int64GetDatum(CS_ARRIVALS(s, b, h));
			o.values[6] = Int64GetDatum(CS_CLOSINGS(s, b, h));
			o.values[7] = Int64GetDatum(CS_REVENUE_N(s, b, h));
			o.values[8] = MoneyOrNull(cs_revenue(s, b, h), &o.nulls[8]);
			SrfRow(&o);
		}
	}
	return (Datum) 0;
}

/*
 * close_new_leads(s): per snapshot, arrival window and win window (both
 * observed), the leads that arrived in the first and won in the second.
 */
PG_FUNCTION_INFO_V1(close_summary_new_leads);
Datum
close_summary_new_leads(PG_FUNCTION_ARGS)
{
	CloseSummary *s = PG_GETARG_CLOSE_SUMMARY(0);
	SrfOut		o = {0};

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		const CsBlock *b = cs_block(s, k);

		for (int hw = 1; hw <= b->obs; hw++)
			for (int ha = 1; ha <= hw; ha++)
			{
				o.values[0] = TimestampTzGetDatum(b->t);
				o.values[1] = Int32GetDatum(ha);
				o.values[2] = Int32GetDatum(hw);
				o.values[3] = Int64GetDatum(CS_NEW_WON(s, b, ha, hw));
				SrfRow(&o);
			}
	}
	return (Datum) 0;
}
