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
	Size		  size = CS_SIZE(H, A, B, C);
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

/* Sets block k of dst (dense or list) to the instant and windows of v, zero counts. */
static void
CsSetBlockShape(CloseSummary *dst, int32 k, const CsBlockView *v)
{
	CsBlock *d = cs_block(dst, k);

	d->t = v->t;
	d->obs = v->obs;
	for (int h = 1; h <= dst->horizons; h++)
		CS_END(d, h) = v->end[h];
	CsInitBlockMoney(dst, d);
}

/* Adds the counts and sums of block view v into block d of dst. */
static void
CsAddBlock(CloseSummary *dst, CsBlock *d, const CsBlockView *v)
{
	int H = dst->horizons;

	for (int h = 1; h <= H; h++)
	{
		CS_ARRIVALS(dst, d, h) = lk_add_count(CS_ARRIVALS(dst, d, h), v->arrivals[h]);
		CS_CLOSINGS(dst, d, h) = lk_add_count(CS_CLOSINGS(dst, d, h), v->closings[h]);
		CS_REVENUE_N(dst, d, h) = lk_add_count(CS_REVENUE_N(dst, d, h), v->revenue_n[h]);
		lk_money_add(cs_revenue(dst, d, h), &v->revenue[h], "revenue");
		lk_money_add(cs_revenue_sq(dst, d, h), &v->revenue_sq[h], "revenue");
	}
	for (int i = 0; i < CS_NEW_PAIRS(H); i++)
		d->data[4 * H + i] = lk_add_count(d->data[4 * H + i], v->new_won[i]);
}

static void
CsAddCell(const CloseSummary *s, CsCell *d, const CsCellView *c)
{
	d->n = lk_add_count(d->n, c->n);
	d->amount_n = lk_add_count(d->amount_n, c->amount_n);
	lk_money_add(&d->amount, &c->amount, "expected amount");
	lk_money_add(&d->amount_sq, &c->amount_sq, "expected amount");
	for (int h = 1; h <= s->horizons; h++)
	{
		CS_WON(s, d, h) = lk_add_count(CS_WON(s, d, h), c->won[h]);
		CS_LOST(s, d, h) = lk_add_count(CS_LOST(s, d, h), c->lost[h]);
	}
}

/* Empty dense cells for block k of d. */
static void
CsInitDenseCells(CloseSummary *d, int32 k)
{
	for (int st = 0; st < d->nstages; st++)
		for (int a = 0; a < d->nages; a++)
			CsInitCell(cs_dense_cell(d, k, st, a), k, st, a);
}

/*
 * A dense copy of s (any form) with room for `nstages` stages (at least
 * s's): the working form of an aggregate's state, where every cell has its
 * place.
 */
static CloseSummary *
CsToDense(const CloseSummary *s, int nstages)
{
	int			  S = Max(nstages, s->nstages);
	int			  A = s->nages;
	int32		  B = s->nblocks;
	CloseSummary *d;
	CsBlockView	 *v = palloc(sizeof(CsBlockView));
	CsCellView	  c;

	if (S > CS_MAX_STAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("close_agg: more than %d stages", CS_MAX_STAGES - 1),
				 errhint("Pass at most %d stage times in `reached`.", CS_MAX_STAGES - 1)));
	d = CsAlloc(s->horizons, A, S, B, B * S * A, CS_DENSE);
	d->leads = s->leads;
	d->excluded = s->excluded;
	memcpy(d->age_bounds, s->age_bounds, sizeof(int64) * (A - 1));
	for (int32 k = 0; k < B; k++)
	{
		cs_block_view(s, k, v);
		CsSetBlockShape(d, k, v);
		CsAddBlock(d, cs_block(d, k), v);
		CsInitDenseCells(d, k);
		while (cs_next_cell(v, &c))
			CsAddCell(d, cs_dense_cell(d, k, c.stage, c.age), &c);
	}
	pfree(v);
	return d;
}

/*
 * The canonical form of s: packed, only cells with leads, nstages one more
 * than the highest stage used.  What is stored, printed and compared.
 * Returns s itself when it is packed already.
 */
CloseSummary *
cs_compact(const CloseSummary *s)
{
	if (!(s->flags & CS_UNPACKED))
		return (CloseSummary *) s;
	return cs_pack(s);
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
CsSameBlockShape(const CloseSummary *a, const CsBlock *x, const CsBlockView *y)
{
	if (x->t != y->t || x->obs != y->obs)
		return false;
	for (int h = 1; h <= a->horizons; h++)
		if (CS_END(x, h) != y->end[h])
			return false;
	return true;
}

/*
 * a + b's shapes when their block instants differ: a new dense summary over
 * the union of the instants (stages up to the higher of both), holding a's
 * counts and lead counts; b's counts are CsMerge's to add.
 */
static CloseSummary *
CsUnion(const CloseSummary *a, const CloseSummary *b, const char *fn, CsBlockView *v)
{
	int32 nb = 0,
		  i = 0,
		  j = 0,
		  k;
	int64		 *ts = palloc(sizeof(int64) * (a->nblocks + b->nblocks));
	CloseSummary *u;
	int			  S = Max(a->nstages, b->nstages);
	CsCellView	  c;

	/* union of the block instants, both sorted */
	while (i < a->nblocks || j < b->nblocks)
	{
		int64 ta = i < a->nblocks ? cs_block(a, i)->t : PG_INT64_MAX;
		int64 tb = j < b->nblocks ? cs_block_t(b, j) : PG_INT64_MAX;

		if (ta == tb)
			ts[nb++] = ta, i++, j++;
		else if (ta < tb)
			ts[nb++] = ta, i++;
		else
			ts[nb++] = tb, j++;
	}
	if (nb > CS_MAX_BLOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: more than %d snapshot instants", fn, CS_MAX_BLOCKS)));
	u = CsAlloc(a->horizons, a->nages, S, nb, nb * S * a->nages, CS_DENSE);
	u->leads = a->leads;
	u->excluded = a->excluded;
	memcpy(u->age_bounds, a->age_bounds, sizeof(int64) * (a->nages - 1));
	/* the shapes: a's blocks, then b's that a lacks */
	for (k = 0, i = 0; k < nb; k++)
	{
		if (i < a->nblocks && cs_block(a, i)->t == ts[k])
		{
			cs_block_view(a, i++, v);
			CsSetBlockShape(u, k, v);
		}
		else
			cs_block(u, k)->t = PG_INT64_MIN; /* to set from b below */
		CsInitDenseCells(u, k);
	}
	for (j = 0, k = 0; j < b->nblocks; j++)
	{
		while (ts[k] != cs_block_t(b, j))
			k++;
		if (cs_block(u, k)->t == PG_INT64_MIN)
		{
			cs_block_view(b, j, v);
			CsSetBlockShape(u, k, v);
		}
	}
	/* a's counts into u: blocks by instant, then its cells */
	for (i = 0, k = 0; i < a->nblocks; i++)
	{
		while (cs_block(u, k)->t != cs_block(a, i)->t)
			k++;
		cs_block_view(a, i, v);
		CsAddBlock(u, cs_block(u, k), v);
		while (cs_next_cell(v, &c))
			CsAddCell(u, cs_dense_cell(u, k, c.stage, c.age), &c);
	}
	pfree(ts);
	return u;
}

/*
 * a + b, where a is a dense summary we own and b any form: updated in place
 * when b has the same block instants and no higher stage, else a new dense
 * summary over the union of the blocks.  A block instant present in both
 * must have the same windows.
 */
static CloseSummary *
CsMerge(CloseSummary *a, const CloseSummary *b, const char *fn)
{
	bool		 same = (a->nblocks == b->nblocks);
	CsBlockView *v = palloc(sizeof(CsBlockView));
	CsCellView	 c;

	Assert(a->flags & CS_DENSE);
	CsCheckShape(a, b, fn);
	for (int32 k = 0; same && k < a->nblocks; k++)
		same = cs_block(a, k)->t == cs_block_t(b, k);

	if (!same)
		a = CsUnion(a, b, fn, v);
	else if (b->nstages > a->nstages)
		a = CsToDense(a, b->nstages);

	/* b's counts into a, matching blocks by instant */
	a->leads = lk_add_count(a->leads, b->leads);
	a->excluded = lk_add_count(a->excluded, b->excluded);
	for (int32 i = 0, ka = 0; i < b->nblocks; i++)
	{
		CsBlock *d;

		while (cs_block(a, ka)->t != cs_block_t(b, i))
			ka++;
		d = cs_block(a, ka);
		cs_block_view(b, i, v);
		if (!CsSameBlockShape(a, d, v))
			GridMismatch(fn, "A snapshot instant has different windows or observed windows");
		CsAddBlock(a, d, v);
		while (cs_next_cell(v, &c))
			CsAddCell(a, cs_dense_cell(a, ka, c.stage, c.age), &c);
	}
	pfree(v);
	return a;
}

/* acc + b, as a dense summary of our own; acc NULL: a dense copy of b. */
CloseSummary *
cs_rollup(CloseSummary *acc, const CloseSummary *b, const char *fn)
{
	if (acc == NULL)
		return CsToDense(b, b->nstages);
	return CsMerge(acc, b, fn);
}

/* ---------------------------------------------------------------------------
 * Validation, shared by text and binary input
 * ------------------------------------------------------------------------- */

static bool
MoneyNonNegative(const LkMoney *m)
{
	return !lk_money_present(m) || m->sum >= 0;
}

/* The header's fields, of any form (its age bounds must be there to read). */
const char *
cs_check_header(const CloseSummary *s)
{
	if (s->horizons < 1 || s->horizons > CS_MAX_HORIZONS)
		return "horizons out of range";
	if (s->nages < 1 || s->nages > CS_MAX_AGES)
		return "number of age buckets out of range";
	for (int a = 0; a < s->nages - 1; a++)
		if (s->age_bounds[a] <= (a == 0 ? 0 : s->age_bounds[a - 1]))
			return "age bounds must be positive and strictly increasing";
	if (s->nstages < 1 || s->nstages > CS_MAX_STAGES)
		return "number of stages out of range";
	if (s->nblocks < 0 || s->nblocks > CS_MAX_BLOCKS || s->ncells < 0)
		return "number of snapshots or cells out of range";
	if (s->leads < 0 || s->excluded < 0 || s->excluded > s->leads)
		return "lead counts are negative or inconsistent";
	return NULL;
}

/* The header's fields, and a list's cells and blocks (the views find a block's cells by their order). */
static const char *
CsValidateHeader(const CloseSummary *s)
{
	int			H = s->horizons;
	const char *bad = cs_check_header(s);

	if (bad != NULL || !(s->flags & CS_LIST))
		return bad;
	for (int32 i = 0; i < s->ncells; i++)
	{
		const CsCell *x = cs_cell(s, i);

		if (x->block < 0 || x->block >= s->nblocks || x->stage < 0 || x->stage >= s->nstages || x->age < 0 ||
			x->age >= s->nages)
			return "a cell is out of range";
		if (i > 0)
		{
			const CsCell *p = cs_cell(s, i - 1);

			if (x->block < p->block ||
				(x->block == p->block && (x->stage < p->stage || (x->stage == p->stage && x->age <= p->age))))
				return "cells must be sorted by snapshot, stage and age, each once";
		}
		if (x->n <= 0)
			return "cell counts are out of range";
	}
	for (int32 k = 0; k < s->nblocks; k++)
		if (cs_block(s, k)->obs < 0 || cs_block(s, k)->obs > H || cs_block(s, k)->pad != 0)
			return "observed windows out of range";
	return NULL;
}

/* The windows of block v (number k): ends, counts, revenue; new-lead wins summed into won_sum. */
static const char *
CsValidateWindows(const CloseSummary *s, const CsBlockView *v, int32 k, int64 *won_sum)
{
	int H = s->horizons;

	for (int h = 1; h <= H; h++)
	{
		int64 arr = v->arrivals[h],
			  clo = v->closings[h],
			  rn = v->revenue_n[h];
		const LkMoney *rev = &v->revenue[h],
					  *rsq = &v->revenue_sq[h];
		int64 new_total = 0;

		if (TIMESTAMP_NOT_FINITE(v->end[h]) || v->end[h] <= v->end[h - 1])
			return "window ends must be finite and strictly increasing after the snapshot";
		if (arr < 0 || clo < 0 || rn < 0 || rn > clo || arr > s->leads || clo > s->leads)
			return "window counts are negative or inconsistent";
		if (lk_money_present(rev) != (rn > 0) || lk_money_present(rsq) != (rn > 0) || !MoneyNonNegative(rsq) ||
			(rn > 0 && rsq->dscale != 4))
			return "window revenue disagrees with its count";
		if (h > v->obs && (arr != 0 || clo != 0))
			return "an unobserved window has counts";
		for (int hw = h; hw <= H; hw++)
		{
			int64 x = v->new_won[(hw - 1) * hw / 2 + h - 1];

			if (x < 0 || (hw > v->obs && x != 0) || __builtin_add_overflow(new_total, x, &new_total))
				return "new-lead wins are negative or in an unobserved window";
			won_sum[(Size) k * H + hw - 1] += x;
		}
		if (new_total > arr)
			return "new-lead wins exceed the arrivals";
	}
	return NULL;
}

/*
 * The cells of block v (number k, its cursor at the start): order, counts,
 * amounts, outcomes; wins summed into won_sum, cells counted into *ncells,
 * the highest stage into *top.
 */
static const char *
CsValidateCells(const CloseSummary *s, CsBlockView *v, CsCellView *c, int32 k, int64 *won_sum, int64 *ncells,
				int *top)
{
	int H = s->horizons;
	int prev_stage = -1,
		prev_age = -1;

	while (cs_next_cell(v, c))
	{
		int64 closed = 0;

		(*ncells)++;
		if (c->stage < prev_stage || (c->stage == prev_stage && c->age <= prev_age))
			return "cells must be sorted by snapshot, stage and age, each once";
		prev_stage = c->stage;
		prev_age = c->age;
		*top = Max(*top, c->stage);
		if (c->n <= 0 || c->n > s->leads || c->amount_n < 0 || c->amount_n > c->n)
			return "cell counts are out of range";
		if (lk_money_present(&c->amount) != (c->amount_n > 0) ||
			lk_money_present(&c->amount_sq) != (c->amount_n > 0) || !MoneyNonNegative(&c->amount_sq) ||
			(c->amount_n > 0 && c->amount_sq.dscale != 4))
			return "cell amounts disagree with their count";
		for (int h = 1; h <= H; h++)
		{
			int64 w = c->won[h],
				  l = c->lost[h];

			if (w < 0 || l < 0 || (h > v->obs && (w != 0 || l != 0)) ||
				__builtin_add_overflow(closed, w, &closed) || __builtin_add_overflow(closed, l, &closed))
				return "cell outcomes are negative or in an unobserved window";
			won_sum[(Size) k * H + h - 1] += w;
		}
		if (closed > c->n)
			return "a cell has more outcomes than leads";
	}
	return NULL;
}

/*
 * NULL when s (packed or list) is a valid summary, else what is wrong.  The
 * packed form's encodings are read with bounds checks (errors of their own).
 * Every window's closings must be the wins of its open and new leads.
 */
static const char *
CsValidate(const CloseSummary *s)
{
	int			 H = s->horizons;
	int			 top = 0;
	int64		 prev_t = 0;
	int64		*won_sum;
	int64		 ncells = 0;
	CsBlockView *v;
	CsCellView	*c;
	const char	*bad;

	if ((bad = CsValidateHeader(s)) != NULL)
		return bad;
	won_sum = palloc0(sizeof(int64) * (Size) Max(s->nblocks, 1) * H);
	v = palloc(sizeof(CsBlockView));
	c = palloc(sizeof(CsCellView));
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		if (TIMESTAMP_NOT_FINITE(v->t) || (k > 0 && v->t <= prev_t))
			return "snapshot instants must be finite and strictly increasing";
		prev_t = v->t;
		if ((bad = CsValidateWindows(s, v, k, won_sum)) != NULL ||
			(bad = CsValidateCells(s, v, c, k, won_sum, &ncells, &top)) != NULL)
			return bad;
		if (!(s->flags & CS_UNPACKED) && v->p != v->pend)
			return "a snapshot has bytes after its last cell";
	}
	if (ncells != s->ncells)
		return "the number of cells disagrees with the snapshots";
	if (s->nstages != top + 1)
		return "number of stages disagrees with the cells";
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		for (int h = 1; h <= H; h++)
			if (won_sum[(Size) k * H + h - 1] != v->closings[h])
				return "wins of open and new leads disagree with the window's closings";
	}
	pfree(won_sum);
	pfree(v);
	pfree(c);
	return NULL;
}

/*
 * Errors (XX001) unless a value read from a table is a valid summary, as its
 * input would have required: its output must re-read.  A dense working state
 * is ours, from this query, and is checked in its packed form.
 */
static void
CsCheckAll(const CloseSummary *s)
{
	const char *msg = CsValidate(cs_compact(s));

	if (msg != NULL)
		lk_corrupt("close_summary", msg);
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
OutMoneyList(StringInfo buf, const char *key, int H, const LkMoney *m)
{
	appendStringInfo(buf, " %s=", key);
	for (int h = 1; h <= H; h++)
	{
		if (h > 1)
			appendStringInfoChar(buf, ',');
		lk_money_out(buf, &m[h]);
	}
}

static void
CsOut(StringInfo buf, const CloseSummary *s)
{
	int			 H = s->horizons;
	int32		 ncells = 0;
	CsBlockView *v = palloc(sizeof(CsBlockView));
	CsCellView	 c;

	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		while (cs_next_cell(v, &c))
			ncells++;
	}
	appendStringInfo(buf, "v%d horizons=%d", CLOSE_SUMMARY_TEXT_VERSION, H);
	OutList(buf, "ages", s->age_bounds, s->nages - 1);
	appendStringInfo(buf, " leads=" INT64_FORMAT " excluded=" INT64_FORMAT " blocks=%d cells=%d",
					 s->leads, s->excluded, s->nblocks, ncells);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		appendStringInfo(buf, " ; block t=" INT64_FORMAT " obs=%d", v->t, v->obs);
		OutList(buf, "ends", &v->end[1], H);
		OutList(buf, "arrivals", &v->arrivals[1], H);
		OutList(buf, "closings", &v->closings[1], H);
		OutList(buf, "revenue_n", &v->revenue_n[1], H);
		OutMoneyList(buf, "revenue", H, v->revenue);
		OutMoneyList(buf, "revenue_sq", H, v->revenue_sq);
		OutList(buf, "new", v->new_won, CS_NEW_PAIRS(H));
	}
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		while (cs_next_cell(v, &c))
		{
			appendStringInfo(buf, " ; cell block=%d stage=%d age=%d n=" INT64_FORMAT " amount_n=" INT64_FORMAT " amount=",
							 k, c.stage, c.age, c.n, c.amount_n);
			lk_money_out(buf, &c.amount);
			appendStringInfoString(buf, " amount_sq=");
			lk_money_out(buf, &c.amount_sq);
			OutList(buf, "won", &c.won[1], H);
			OutList(buf, "lost", &c.lost[1], H);
		}
	}
	pfree(v);
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

/* " ; block t=... new=...": one snapshot of the text form into b. */
static bool
ParseBlock(const char **p, const CloseSummary *s, CsBlock *b)
{
	int	  H = s->horizons;
	int64 obs;

	if (!lk_parse_lit(p, " ; block t=") || !lk_parse_int64(p, &b->t, PG_INT64_MIN, PG_INT64_MAX) ||
		!lk_parse_lit(p, " obs=") || !lk_parse_int64(p, &obs, 0, H) ||
		!ParseList(p, " ends=", &CS_END(b, 1), H, PG_INT64_MIN, PG_INT64_MAX) ||
		!ParseList(p, " arrivals=", &CS_ARRIVALS(s, b, 1), H, 0, PG_INT64_MAX) ||
		!ParseList(p, " closings=", &CS_CLOSINGS(s, b, 1), H, 0, PG_INT64_MAX) ||
		!ParseList(p, " revenue_n=", &CS_REVENUE_N(s, b, 1), H, 0, PG_INT64_MAX) ||
		!ParseMoneyList(p, " revenue=", s, b, false) || !ParseMoneyList(p, " revenue_sq=", s, b, true) ||
		!ParseList(p, " new=", &CS_NEW_WON(s, b, 1, 1), CS_NEW_PAIRS(H), 0, PG_INT64_MAX))
		return false;
	b->obs = (int32) obs;
	return true;
}

/* " ; cell block=... lost=...": one cell of the text form into c (B blocks, s->nages ages). */
static bool
ParseCell(const char **p, const CloseSummary *s, CsCell *c, int32 B)
{
	int	  H = s->horizons;
	int64 k,
		st,
		ag;

	if (!lk_parse_lit(p, " ; cell block=") || !lk_parse_int64(p, &k, 0, B - 1) || !lk_parse_lit(p, " stage=") ||
		!lk_parse_int64(p, &st, 0, CS_MAX_STAGES - 1) || !lk_parse_lit(p, " age=") ||
		!lk_parse_int64(p, &ag, 0, s->nages - 1) || !lk_parse_lit(p, " n=") ||
		!lk_parse_int64(p, &c->n, 0, PG_INT64_MAX) || !lk_parse_lit(p, " amount_n=") ||
		!lk_parse_int64(p, &c->amount_n, 0, PG_INT64_MAX) || !lk_parse_lit(p, " amount=") ||
		!lk_money_in(p, &c->amount) || !lk_parse_lit(p, " amount_sq=") || !lk_money_in(p, &c->amount_sq) ||
		!ParseList(p, " won=", &CS_WON(s, c, 1), H, 0, PG_INT64_MAX) ||
		!ParseList(p, " lost=", &CS_LOST(s, c, 1), H, 0, PG_INT64_MAX))
		return false;
	c->block = (int32) k;
	c->stage = (int16) st;
	c->age = (int16) ag;
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
	int64		  bounds[CS_MAX_AGES];
	int			  nb = 0;
	CloseSummary *s;
	int			  top = 0;
	const char	 *msg;

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
	s = CsAlloc((int) H, nb + 1, 1, (int32) B, (int32) C, CS_LIST);
	s->leads = leads;
	s->excluded = excluded;
	memcpy(s->age_bounds, bounds, sizeof(int64) * nb);
	for (int32 k = 0; k < B; k++)
		if (!ParseBlock(&p, s, cs_block(s, k)))
			BadInput(input, "A snapshot is missing, malformed or out of range");
	for (int32 i = 0; i < C; i++)
	{
		CsCell *c = cs_cell(s, i);

		if (!ParseCell(&p, s, c, (int32) B))
			BadInput(input, "A cell is missing, malformed or out of range");
		top = Max(top, c->stage);
	}
	if (*p != '\0')
		BadInput(input, "Unexpected text after the last cell");
	s->nstages = (uint8) (top + 1);
	if ((msg = CsValidate(s)) != NULL)
		BadInput(input, msg);
	PG_RETURN_POINTER(cs_pack(s));
}

PG_FUNCTION_INFO_V1(close_summary_out);
Datum
close_summary_out(PG_FUNCTION_ARGS)
{
	CloseSummary  *s = PG_GETARG_CLOSE_SUMMARY(0);
	StringInfoData buf;

	CsCheckAll(s);
	initStringInfo(&buf);
	CsOut(&buf, s);
	PG_RETURN_CSTRING(buf.data);
}

/* ---------------------------------------------------------------------------
 * Binary I/O (version 2): version, flags (0), horizons, age buckets, stages
 * (bytes); leads, excluded, the age bounds; the number of snapshots and of
 * cells; each snapshot's instant; the length of the encodings and the
 * encodings (close_pack.c).  The input re-packs what it read and refuses a
 * value that does not come out byte for byte the same, so that every
 * summary has one binary form.
 * ------------------------------------------------------------------------- */

static void
CsSend(StringInfo buf, const CloseSummary *s)
{
	const CloseSummary *p = cs_compact(s);
	const int32		   *off = cs_packed_off(p);

	pq_sendbyte(buf, CLOSE_SUMMARY_VERSION);
	pq_sendbyte(buf, 0);
	pq_sendbyte(buf, p->horizons);
	pq_sendbyte(buf, p->nages);
	pq_sendbyte(buf, p->nstages);
	pq_sendint64(buf, p->leads);
	pq_sendint64(buf, p->excluded);
	for (int a = 0; a < p->nages - 1; a++)
		pq_sendint64(buf, p->age_bounds[a]);
	pq_sendint32(buf, p->nblocks);
	pq_sendint32(buf, p->ncells);
	for (int32 k = 0; k < p->nblocks; k++)
		pq_sendint64(buf, cs_packed_t(p)[k]);
	pq_sendint32(buf, off[p->nblocks]);
	pq_sendbytes(buf, (const char *) cs_packed_data(p), off[p->nblocks]);
}

static CloseSummary *
CsRecv(StringInfo buf)
{
	CloseSummary *h = palloc0(offsetof(CloseSummary, age_bounds) + sizeof(int64) * CS_MAX_AGES);
	int64		 *ts;
	int32		  len;
	CloseSummary *s,
		*again;
	const char *msg;

#define NEED(n) \
	do \
	{ \
		if (buf->len - buf->cursor < (int) (n)) \
			BadBinary("The value is truncated"); \
	} while (0)
	NEED(5 + 16);
	if (pq_getmsgbyte(buf) != CLOSE_SUMMARY_VERSION)
		BadBinary("Unknown format version");
	if (pq_getmsgbyte(buf) != 0)
		BadBinary("Unknown flags");
	h->version = CLOSE_SUMMARY_VERSION;
	h->horizons = pq_getmsgbyte(buf);
	h->nages = pq_getmsgbyte(buf);
	h->nstages = pq_getmsgbyte(buf);
	if (h->horizons < 1 || h->horizons > CS_MAX_HORIZONS || h->nages < 1 || h->nages > CS_MAX_AGES ||
		h->nstages < 1 || h->nstages > CS_MAX_STAGES)
		BadBinary("The horizons, age buckets or stages are out of range");
	h->leads = pq_getmsgint64(buf);
	h->excluded = pq_getmsgint64(buf);
	NEED(8 * (h->nages - 1) + 8);
	for (int a = 0; a < h->nages - 1; a++)
		h->age_bounds[a] = pq_getmsgint64(buf);
	h->nblocks = (int32) pq_getmsgint(buf, 4);
	h->ncells = (int32) pq_getmsgint(buf, 4);
	if (h->nblocks < 0 || h->nblocks > CS_MAX_BLOCKS || h->ncells < 0 ||
		h->ncells > h->nblocks * h->nstages * h->nages)
		BadBinary("The number of snapshots or cells is out of range");
	NEED((Size) 8 * h->nblocks + 4);
	ts = palloc(sizeof(int64) * Max(h->nblocks, 1));
	for (int32 k = 0; k < h->nblocks; k++)
		ts[k] = pq_getmsgint64(buf);
	len = (int32) pq_getmsgint(buf, 4);
	if (len < 0 || len != buf->len - buf->cursor)
		BadBinary("The length disagrees with the encodings");
	s = cs_packed_build(h, ts, pq_getmsgbytes(buf, len), len);
#undef NEED
	if ((msg = CsValidate(s)) != NULL)
		BadBinary(msg);
	again = cs_pack(s);
	if (VARSIZE(again) != VARSIZE(s) || memcmp(again, s, VARSIZE(s)) != 0)
		BadBinary("The value is not in its canonical form");
	pfree(again);
	pfree(h);
	pfree(ts);
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

/*
 * The bytes = and hash compare: the binary form, which needs only what
 * cs_detoast checks (= and hash run per row in joins and ANALYZE).
 */
static Datum
CsSendBytes(PG_FUNCTION_ARGS)
{
	CloseSummary  *s = PG_GETARG_CLOSE_SUMMARY(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	CsSend(&buf, s);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* What leaves the server is checked whole, so that it re-reads (dump and restore). */
PG_FUNCTION_INFO_V1(close_summary_send);
Datum
close_summary_send(PG_FUNCTION_ARGS)
{
	CsCheckAll(PG_GETARG_CLOSE_SUMMARY(0));
	return CsSendBytes(fcinfo);
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
	int nt,
		ne,
		na;
	int64		 *ts = ArrayInt64(PG_GETARG_ARRAYTYPE_P(0), &nt, "snapshots");
	int64		 *ends = ArrayInt64(PG_GETARG_ARRAYTYPE_P(1), &ne, "ends");
	TimestampTz	  as_of = PG_GETARG_TIMESTAMPTZ(2);
	ArrayType	 *ab = PG_GETARG_ARRAYTYPE_P(3);
	Interval	 *ages;
	int			  H;
	CloseSummary *s;

	if (nt < 1 || nt > CS_MAX_BLOCKS)
		BadGrid(psprintf("between 1 and %d snapshots are needed, not %d", CS_MAX_BLOCKS, nt),
				"Ask for fewer snapshots.");
	if (ne % nt != 0 || ne / nt < 1 || ne / nt > CS_MAX_HORIZONS)
		BadGrid(psprintf("%d window ends do not make 1 to %d windows for each of %d snapshots",
						 ne, CS_MAX_HORIZONS, nt),
				"Pass horizon times as many ends as snapshots.");
	H = ne / nt;
	if (ARR_NDIM(ab) > 1 || array_contains_nulls(ab))
		BadGrid("age_bounds must be a one-dimensional array without NULLs", "E.g. ARRAY['7 days', '30 days']::interval[].");
	na = ARR_NDIM(ab) == 0 ? 0 : ARR_DIMS(ab)[0];
	if (na > CS_MAX_AGES - 1)
		BadGrid(psprintf("at most %d age bounds, not %d", CS_MAX_AGES - 1, na), "Pass fewer age bounds.");
	if (TIMESTAMP_NOT_FINITE(as_of))
		BadGrid("as_of must be finite", "Pass a real instant, e.g. now().");
	ages = (Interval *) lk_array_data(ab);
	s = CsAlloc(H, na + 1, 1, nt, 0, CS_LIST);
	for (int a = 0; a < na; a++)
	{
		int64 us;

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
		CsBlock *b = cs_block(s, k);
		int64	 prev;

		if (TIMESTAMP_NOT_FINITE(ts[k]) || (k > 0 && ts[k] <= ts[k - 1]) || ts[k] > as_of)
			BadGrid("snapshots must be finite, strictly increasing and not after as_of",
					"Build the grid with close_grid().");
		b->t = ts[k];
		prev = ts[k];
		for (int h = 1; h <= H; h++)
		{
			int64 e = ends[k * H + h - 1];

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
	PG_RETURN_POINTER(cs_pack(s));
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
	Size	   nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * n;
	ArrayType *a = palloc0(nbytes);
	int64	  *v;

	SET_VARSIZE(a, nbytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = TIMESTAMPTZOID;
	ARR_DIMS(a)
	[0] = n;
	ARR_LBOUND(a)
	[0] = 1;
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
	int	   n = ReachLength(src);
	bits8 *nulls = ARR_NULLBITMAP(src);
	int64 *v = (int64 *) lk_array_data(src);
	int64 *d = (int64 *) lk_array_data(dst);

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
	ArrayType *a = ReachArray(Max(n, ReachLength(src)));

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
	ArrayType *a,
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
	ArrayType *a;
	int		   n;
	int64	  *v;
	Datum	  *d;
	bool	  *nulls;
	int		   dims[1],
		lbs[1] = { 1 };

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
bool
cs_grid_is_constant(FunctionCallInfo fcinfo, int argno)
{
	Aggref		*ag = AggGetAggref(fcinfo);
	TargetEntry *te;

	if (ag == NULL || list_length(ag->args) < argno)
		return false;
	te = (TargetEntry *) list_nth(ag->args, argno - 1);
	/* a parameter cannot change during one aggregation: a new one rescans it */
	return IsA(te->expr, Const) || IsA(te->expr, Param);
}

/*
 * The grid argument of an aggregate call, kept detoasted in fn_extra with
 * the bytes it was passed in (`raw`, a copy): a grid read from a table (a
 * join, or SELECT g FROM grids) comes toasted, and decompressing it in every
 * row cost more than the row's own work.  all_same stays true while every
 * row of the call passed those very bytes: the states were then all built
 * from this grid.
 */
typedef struct CsGridCache
{
	bool			constant; /* a constant or a parameter (cs_grid_is_constant) */
	bool			all_same;
	struct varlena *raw;
	CloseSummary   *grid;
} CsGridCache;

const CloseSummary *
cs_grid_arg(FunctionCallInfo fcinfo, int argno, bool first_row, bool *same)
{
	CsGridCache	   *c = (CsGridCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(argno);
	Size			len = VARSIZE_ANY(raw);
	MemoryContext	old;
	CloseSummary   *grid;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CsGridCache));
		c->constant = cs_grid_is_constant(fcinfo, argno);
		c->all_same = true;
		fcinfo->flinfo->fn_extra = c;
	}
	/*
	 * A constant's or parameter's value only changes with a new aggregation;
	 * other values are recognized by their bytes, unless these point at
	 * memory (indirect or expanded), which may change under the same bytes.
	 */
	else if ((c->constant && !first_row) ||
			 ((!VARATT_IS_EXTERNAL(raw) || VARATT_IS_EXTERNAL_ONDISK(raw)) && VARSIZE_ANY(c->raw) == len &&
			  memcmp(c->raw, raw, len) == 0))
	{
		*same = c->constant || c->all_same;
		return c->grid;
	}
	else
	{
		c->all_same = false;
		pfree(c->raw);
		pfree(c->grid);
	}
	grid = DatumGetCloseSummary(PointerGetDatum(raw));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c->raw = palloc(len);
	memcpy(c->raw, raw, len);
	c->grid = palloc(VARSIZE(grid));
	memcpy(c->grid, grid, VARSIZE(grid));
	MemoryContextSwitchTo(old);
	if ((Pointer) grid != (Pointer) raw)
		pfree(grid);
	*same = c->constant || c->all_same;
	return c->grid;
}

/* Errors unless the grid is the one the state was built from. */
void
cs_check_grid(const CloseSummary *state, const CloseSummary *grid, const char *fn)
{
	CsBlockView *x,
		*y;

	CsCheckShape(state, grid, fn);
	if (state->nblocks != grid->nblocks)
		GridMismatch(fn, "The grid changed between rows");
	x = palloc(sizeof(CsBlockView));
	y = palloc(sizeof(CsBlockView));
	for (int32 k = 0; k < grid->nblocks; k++)
	{
		cs_block_view(state, k, x);
		cs_block_view(grid, k, y);
		if (x->t != y->t || x->obs != y->obs ||
			memcmp(&x->end[1], &y->end[1], sizeof(int64) * state->horizons) != 0)
			GridMismatch(fn, "The grid changed between rows");
	}
	pfree(x);
	pfree(y);
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

/*
 * The helpers below are inlined into cs_add_lead's loop over snapshots,
 * which runs for every lead: they take the lead's times by value, as
 * PostgreSQL builds with -fno-strict-aliasing and a time read through l
 * would be reloaded after every count they add.
 */

/*
 * A lead open at block *b (number k) in stage st and age bucket age, into
 * its cell: its expected amount (l->amt), and its win or loss in an
 * observed window.  Returns s, or a copy with room for stage st (then *b
 * is the copy's block).
 */
static inline CloseSummary *
CsAddOpen(CloseSummary *s, int32 k, CsBlock **b, int st, int age, const CsLead *l, int64 won, int64 lost,
		  bool has_won, bool has_lost)
{
	CsCell *c;
	int		h;

	if (st >= s->nstages)
	{
		s = CsToDense(s, st + 1);
		*b = cs_block(s, k);
	}
	c = cs_dense_cell(s, k, st, age);
	c->n++;
	if (l->amt)
	{
		c->amount_n++;
		lk_money_add(&c->amount, l->amt, "expected amount");
		lk_money_add(&c->amount_sq, l->amt_sq, "expected amount");
	}
	if (has_won && (h = CsWindow(*b, won)) > 0)
		CS_WON(s, c, h) += 1;
	else if (has_lost && (h = CsWindow(*b, lost)) > 0)
		CS_LOST(s, c, h) += 1;
	return s;
}

/* A lead that arrives (fc) after b's instant: its arrival window, and its win there as a new lead's. */
static inline void
CsAddArrival(CloseSummary *s, CsBlock *b, int64 fc, int64 won, bool has_won)
{
	int ha = CsWindow(b, fc);
	int hw;

	if (ha == 0)
		return;
	CS_ARRIVALS(s, b, ha) += 1;
	if (has_won && won >= fc && (hw = CsWindow(b, won)) > 0)
		CS_NEW_WON(s, b, ha, hw) += 1;
}

/* A win at or after b's instant: the closings of its window, and their revenue (l->rev). */
static inline void
CsAddClosing(CloseSummary *s, CsBlock *b, int64 won, const CsLead *l)
{
	int h = CsWindow(b, won);

	if (h == 0)
		return;
	CS_CLOSINGS(s, b, h) += 1;
	if (l->rev)
	{
		CS_REVENUE_N(s, b, h) += 1;
		lk_money_add(cs_revenue(s, b, h), l->rev, "revenue");
		lk_money_add(cs_revenue_sq(s, b, h), l->rev_sq, "revenue");
	}
}

/*
 * Adds one lead to the dense summary s (see CsLead); returns s, or a copy
 * with room for more stages when the lead reached a higher one.
 */
CloseSummary *
cs_add_lead(CloseSummary *s, const CsLead *l)
{
	int64 fc = l->fc;
	int64 won = l->won,
		  lost = l->lost;
	bool has_won = won != DT_NOEND,
		 has_lost = !has_won && lost != DT_NOEND; /* a win outranks a loss */
	int64 close = has_won ? won : has_lost ? lost :
											 DT_NOEND;
	int64 last = Max(fc, close);
	int	  H = s->horizons;
	/* its stages in the order reached: the furthest one before t only grows with t */
	int64 rt[CS_MAX_STAGES];
	int	  rs[CS_MAX_STAGES];
	int	  nr = 0,
		next = 0,
		st = 0,
		age = 0;
	int64 since = fc;

	/* insertion sort of a handful of stages (a helper cost 14 instructions a lead) */
	for (int i = 1; i <= l->nreach; i++)
	{
		int j = nr++;

		if (l->reach[i - 1] == DT_NOEND)
		{
			nr--;
			continue;
		}
		while (j > 0 && rt[j - 1] > l->reach[i - 1])
		{
			rt[j] = rt[j - 1];
			rs[j] = rs[j - 1];
			j--;
		}
		rt[j] = l->reach[i - 1];
		rs[j] = i;
	}

	Assert(s->flags & CS_DENSE);
	s->leads = lk_add_count(s->leads, 1);
	if (close < fc)
		s->excluded = lk_add_count(s->excluded, 1);

	for (int32 k = 0; k < s->nblocks; k++)
	{
		CsBlock *b = cs_block(s, k);
		int64	 t = b->t;

		/* after its first contact and its close: no later snapshot sees it */
		if (t > last)
			break;
		/* its first contact after every window: nothing to count */
		if (fc >= CS_END(b, H))
			continue;
		/* nothing observed: only the open pipeline at t is counted */
		if (b->obs == 0 && (fc >= t || close < t))
			continue;
		if (fc < t && close >= t)
		{
			/* open at t: its furthest stage reached before t, and since when */
			for (; next < nr && rt[next] < t; next++)
				if (rs[next] > st)
				{
					st = rs[next];
					since = rt[next];
					age = 0;
				}
			while (age < s->nages - 1 && t - since >= s->age_bounds[age])
				age++;
			s = CsAddOpen(s, k, &b, st, age, l, won, lost, has_won, has_lost);
		}
		else if (fc >= t)
			CsAddArrival(s, b, fc, won, has_won); /* arrives after t */
		if (has_won && won >= t && won >= fc)
			CsAddClosing(s, b, won, l);
	}
	return s;
}

/* A dense working copy of an empty grid, the start of an aggregate's state. */
CloseSummary *
cs_dense_grid(const CloseSummary *grid, int nstages)
{
	CloseSummary *s;

	if (grid->ncells != 0 || grid->leads != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_agg: the grid must be an empty summary"),
				 errhint("Pass close_grid(as_of, ...), not a summary with counts.")));
	s = CsToDense(grid, nstages);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		/* a grid value with counts is refused above; make sure of the blocks */
		CsBlock *b = cs_block(s, k);

		memset(&CS_ARRIVALS(s, b, 1), 0, sizeof(int64) * (3 * s->horizons + CS_NEW_PAIRS(s->horizons)));
		CsInitBlockMoney(s, b);
	}
	return s;
}

/* close_agg's argument reached into reach[] (NULL elements: DT_NOEND); returns its length. */
static inline int
ArgReached(ArrayType *ra, int64 *reach)
{
	bits8 *nulls = ARR_NULLBITMAP(ra);
	int64 *v = (int64 *) lk_array_data(ra);
	int	   n;

	if (ARR_NDIM(ra) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("close_agg: reached must be a one-dimensional array")));
	n = ARR_NDIM(ra) == 0 ? 0 : ARR_DIMS(ra)[0];
	if (n > CS_MAX_STAGES - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("close_agg: more than %d stages", CS_MAX_STAGES - 1),
				 errhint("Pass at most %d stage times in `reached`.", CS_MAX_STAGES - 1)));
	for (int i = 0; i < n; i++)
	{
		reach[i] = DT_NOEND;
		if (!nulls || (nulls[i / 8] & (1 << (i % 8))))
			CheckFinite(reach[i] = *v++);
	}
	return n;
}

PG_FUNCTION_INFO_V1(close_agg_accum);
Datum
close_agg_accum(PG_FUNCTION_ARGS)
{
	CloseSummary	   *s;
	const CloseSummary *grid;
	bool				same;
	CsLead				l = { 0 };
	int64				reach[CS_MAX_STAGES];
	LkMoney				rev,
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
	grid = cs_grid_arg(fcinfo, 7, PG_ARGISNULL(0), &same);
	if (PG_ARGISNULL(0))
		s = cs_dense_grid(grid, 1); /* the first row */
	else
	{
		/*
		 * The state we returned before: ours, dense, in the aggregate context.
		 * A grid that may differ from the one it was built from is checked.
		 */
		s = (CloseSummary *) PG_GETARG_POINTER(0);
		if (!same)
			cs_check_grid(s, grid, "close_agg");
	}

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s); /* no first contact: not a lead */
	l.fc = PG_GETARG_TIMESTAMPTZ(1);
	CheckFinite(l.fc);
	l.won = l.lost = DT_NOEND;
	if (!PG_ARGISNULL(2))
		CheckFinite(l.won = PG_GETARG_TIMESTAMPTZ(2));
	else if (!PG_ARGISNULL(3))
		CheckFinite(l.lost = PG_GETARG_TIMESTAMPTZ(3));

	if (!PG_ARGISNULL(5))
	{
		l.nreach = ArgReached(PG_GETARG_ARRAYTYPE_P(5), reach);
		l.reach = reach;
	}
	if (l.won != DT_NOEND && !PG_ARGISNULL(4))
	{
		MoneyAndSquare(fcinfo, 4, &rev, &rev_sq, "revenue");
		l.rev = &rev;
		l.rev_sq = &rev_sq;
	}
	if (!PG_ARGISNULL(6))
	{
		MoneyAndSquare(fcinfo, 6, &amt, &amt_sq, "expected amount");
		l.amt = &amt;
		l.amt_sq = &amt_sq;
	}
	PG_RETURN_POINTER(cs_add_lead(s, &l));
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
	PG_RETURN_POINTER(cs_compact(PG_GETARG_CLOSE_SUMMARY(0)));
}

/* close_summary + close_summary */
PG_FUNCTION_INFO_V1(close_summary_add);
Datum
close_summary_add(PG_FUNCTION_ARGS)
{
	CloseSummary *a = PG_GETARG_CLOSE_SUMMARY(0);
	CloseSummary *b = PG_GETARG_CLOSE_SUMMARY(1);

	PG_RETURN_POINTER(cs_compact(CsMerge(CsToDense(a, b->nstages), b, "+")));
}

/* = and <> and the hash opclass: see lk_send_equal */
PG_FUNCTION_INFO_V1(close_summary_eq);
Datum
close_summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lk_send_equal(CsSendBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(close_summary_ne);
Datum
close_summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!lk_send_equal(CsSendBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(close_summary_hash);
Datum
close_summary_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32(lk_send_hash(CsSendBytes, PG_GETARG_DATUM(0)));
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
	Datum		 *d = palloc(sizeof(Datum) * Max(s->nages - 1, 1));

	for (int a = 0; a < s->nages - 1; a++)
		d[a] = IntervalPGetDatum(lk_interval_from_usec(s->age_bounds[a]));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, s->nages - 1, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE));
}

/* A set-returning accessor's materialized result and its row builder. */
typedef struct SrfOut
{
	ReturnSetInfo *rsi;
	Datum		   values[12];
	bool		   nulls[12];
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
	SrfOut		  o = { 0 };
	CsBlockView	 *v = palloc(sizeof(CsBlockView));
	CsCellView	  c;

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		while (cs_next_cell(v, &c))
			for (int h = 1; h <= v->obs; h++)
			{
				o.values[0] = TimestampTzGetDatum(v->t);
				o.values[1] = Int32GetDatum(c.stage);
				o.values[2] = Int32GetDatum(c.age);
				o.values[3] = Int32GetDatum(h);
				o.values[4] = Int64GetDatum(c.n);
				o.values[5] = Int64GetDatum(c.won[h]);
				o.values[6] = Int64GetDatum(c.lost[h]);
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
	SrfOut		  o = { 0 };
	CsBlockView	 *v = palloc(sizeof(CsBlockView));
	CsCellView	  c;

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		while (cs_next_cell(v, &c))
		{
			o.values[0] = TimestampTzGetDatum(v->t);
			o.values[1] = Int32GetDatum(c.stage);
			o.values[2] = Int32GetDatum(c.age);
			o.values[3] = Int64GetDatum(c.n);
			o.values[4] = Int64GetDatum(c.amount_n);
			o.values[5] = MoneyOrNull(&c.amount, &o.nulls[5]);
			SrfRow(&o);
		}
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
	SrfOut		  o = { 0 };
	CsBlockView	 *v = palloc(sizeof(CsBlockView));

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		for (int h = 1; h <= s->horizons; h++)
		{
			o.values[0] = TimestampTzGetDatum(v->t);
			o.values[1] = Int32GetDatum(h);
			o.values[2] = TimestampTzGetDatum(v->end[h - 1]);
			o.values[3] = TimestampTzGetDatum(v->end[h]);
			o.values[4] = BoolGetDatum(h <= v->obs);
			o.nulls[5] = o.nulls[6] = o.nulls[7] = (h > v->obs);
			o.values[5] = Int64GetDatum(v->arrivals[h]);
			o.values[6] = Int64GetDatum(v->closings[h]);
			o.values[7] = Int64GetDatum(v->revenue_n[h]);
			o.values[8] = MoneyOrNull(&v->revenue[h], &o.nulls[8]);
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
	SrfOut		  o = { 0 };
	CsBlockView	 *v = palloc(sizeof(CsBlockView));

	SrfBegin(fcinfo, &o);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		cs_block_view(s, k, v);
		for (int hw = 1; hw <= v->obs; hw++)
			for (int ha = 1; ha <= hw; ha++)
			{
				o.values[0] = TimestampTzGetDatum(v->t);
				o.values[1] = Int32GetDatum(ha);
				o.values[2] = Int32GetDatum(hw);
				o.values[3] = Int64GetDatum(v->new_won[(hw - 1) * hw / 2 + ha - 1]);
				SrfRow(&o);
			}
	}
	return (Datum) 0;
}
