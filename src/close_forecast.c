/*
 * close_forecast.c: the forecast method, on close summaries (close_summary.h).
 *
 * close_forecast(member, parent, root, cutoffs, ...) forecasts, for each
 * cutoff (a snapshot instant of the grid), the wins in each of the next
 * windows, using only what the summaries knew at that cutoff:
 *
 *   - the open pipeline at the cutoff, cell by cell (stage, age bucket):
 *     its leads times the chance that a lead in that cell wins in window h,
 *     estimated from earlier snapshots whose window h had ended by the
 *     cutoff (fully observed pairs only), smoothed toward the parent's rate
 *     (the channel), the parent's toward the root's (everything), and the
 *     root's toward its stage and overall rates;
 *   - the leads that do not exist yet: the recent arrival rate (with the
 *     root's seasonal factor when a year of history is there) times the
 *     chance that a lead arriving in window ha wins in window h;
 *   - revenue: the expected amounts where known, else the member's mean won
 *     revenue (smoothed the same way);
 *   - variances: Poisson-binomial for the pipeline, Poisson for new leads,
 *     plus the sampling variance of every estimated rate;
 *   - a correction per window from the root's own past (close_forecast_adjust):
 *     the trend of its actual wins over what its rates give, through the
 *     lookback's snapshots (rates pooled over a year lag behind a trend in
 *     conversion), and that ratio a year before the window, relative to the
 *     trend (the season of closings: a December that closes little).
 *
 * It also gives what was actually won (when the window is observed) and the
 * three baselines the backtest compares against.  Everything it returns adds
 * up over members, so a segment's forecast is a sum; the SQL layer combines
 * the variances and calibrates the interval width (sql/forecast.sql).
 */
#include "close_summary.h"

#include <math.h>

/* PostgreSQL's headers under -Wextra: unused parameters of their inline functions */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "funcapi.h"
#pragma GCC diagnostic pop
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

/* What a member, its parent or the root knew at a cutoff: counts, then rates. */
typedef struct Fit
{
	int			S,
				A,
				H;
	double	   *N;				/* [(s*A + a)*H + h-1]: open at a snapshot, window h observed */
	double	   *W;				/* won in window h */
	double	   *p;				/* smoothed chance of a win in window h */
	double	   *a1,				/* [hw-1] arrivals in window 1 with window hw observed */
			   *w1,				/* of those, won in window hw */
			   *q1;				/* smoothed */
	double	   *al,				/* [d] arrivals in window ha >= 2 with window ha+d observed */
			   *wl,
			   *ql;
	double		rev_n,			/* wins with a revenue, in window 1 of the snapshots */
				rev,
				rev_sq;
	double		mu,				/* smoothed mean won revenue */
				m2;				/* and its second moment */
} Fit;

typedef struct FcOptions
{
	int			horizon;		/* windows forecast */
	int			lookback;		/* earlier snapshots a fit reads */
	int			stale_from;		/* first stale age bucket; nages when none */
	int			run_periods;	/* periods of the run rate and the arrival rate */
	int			season;			/* snapshots per year for the seasonal factors; 0: none */
	double		kappa;			/* prior strength of a rate, in leads */
	double		kappa_amount;	/* prior strength of a mean amount, in wins */
} FcOptions;

#define IDX(f, s, a, h) ((((Size) (s)) * (f)->A + (a)) * (f)->H + (h) - 1)

static double
MoneyDouble(const LkMoney *m)
{
	if (!lk_money_present(m))
		return 0.0;
	return (double) m->sum / pow(10.0, m->dscale);
}

/* The first cell of block k or later (cells are sorted by block). */
static int32
FirstCell(const CloseSummary *x, int32 k)
{
	int32		lo = 0,
				hi = x->ncells;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (cs_cell(x, mid)->block < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
FitInit(Fit *f, int S, int A, int H)
{
	Size		n = (Size) S * A * H;

	memset(f, 0, sizeof(Fit));
	f->S = S;
	f->A = A;
	f->H = H;
	f->N = palloc0(sizeof(double) * n);
	f->W = palloc0(sizeof(double) * n);
	f->p = palloc0(sizeof(double) * n);
	f->a1 = palloc0(sizeof(double) * H);
	f->w1 = palloc0(sizeof(double) * H);
	f->q1 = palloc0(sizeof(double) * H);
	f->al = palloc0(sizeof(double) * H);
	f->wl = palloc0(sizeof(double) * H);
	f->ql = palloc0(sizeof(double) * H);
}

static void
FitReset(Fit *f)
{
	Size		n = (Size) f->S * f->A * f->H;

	memset(f->N, 0, sizeof(double) * n);
	memset(f->W, 0, sizeof(double) * n);
	memset(f->p, 0, sizeof(double) * n);
	memset(f->a1, 0, sizeof(double) * f->H);
	memset(f->w1, 0, sizeof(double) * f->H);
	memset(f->al, 0, sizeof(double) * f->H);
	memset(f->wl, 0, sizeof(double) * f->H);
	f->rev_n = f->rev = f->rev_sq = 0;
}

/*
 * Counts what x knew at the cutoff c = block j's instant: snapshots j-L..j-1,
 * and of each only the windows that had ended by c.
 */
static void
FitCount(Fit *f, const CloseSummary *x, int32 j, int L)
{
	int64		c = cs_block(x, j)->t;
	int			H = f->H;
	int32		k0 = Max(0, j - L);

	FitReset(f);
	/* cells are sorted by block: start at the first of block k0, stop at j */
	for (int32 i = FirstCell(x, k0); i < x->ncells && cs_cell(x, i)->block < j; i++)
	{
		const CsCell *cell = cs_cell(x, i);
		const CsBlock *b;

		if (cell->n == 0)
			continue;
		b = cs_block(x, cell->block);
		for (int h = 1; h <= H && h <= b->obs && CS_END(b, h) <= c; h++)
		{
			f->N[IDX(f, cell->stage, cell->age, h)] += cell->n;
			f->W[IDX(f, cell->stage, cell->age, h)] += CS_WON(x, cell, h);
		}
	}
	for (int32 k = k0; k < j; k++)
	{
		const CsBlock *b = cs_block(x, k);

		for (int hw = 1; hw <= H && hw <= b->obs && CS_END(b, hw) <= c; hw++)
		{
			f->a1[hw - 1] += CS_ARRIVALS(x, b, 1);
			f->w1[hw - 1] += CS_NEW_WON(x, b, 1, hw);
			for (int ha = 2; ha <= hw; ha++)
			{
				f->al[hw - ha] += CS_ARRIVALS(x, b, ha);
				f->wl[hw - ha] += CS_NEW_WON(x, b, ha, hw);
			}
		}
		if (b->obs >= 1 && CS_END(b, 1) <= c)
		{
			f->rev_n += CS_REVENUE_N(x, b, 1);
			f->rev += MoneyDouble(cs_revenue(x, b, 1));
			f->rev_sq += MoneyDouble(cs_revenue_sq(x, b, 1));
		}
	}
}

static inline double
Smooth(double won, double n, double prior, double kappa)
{
	return (won + kappa * prior) / (n + kappa);
}

/*
 * The rates of f: toward the parent's when there is one, else (the root)
 * toward its own stage rate, and that toward its overall rate.  A cell's
 * chances over the windows never add up to more than 1.
 */
static void
FitSmooth(Fit *f, const Fit *parent, const FcOptions *o)
{
	int			S = f->S,
				A = f->A,
				H = f->H;

	for (int h = 1; h <= H; h++)
	{
		double		n0 = 0,
					w0 = 0,
					p0 = 0;

		if (!parent)
		{
			for (int s = 0; s < S; s++)
				for (int a = 0; a < A; a++)
					n0 += f->N[IDX(f, s, a, h)], w0 += f->W[IDX(f, s, a, h)];
			p0 = n0 > 0 ? w0 / n0 : 0;
		}
		for (int s = 0; s < S; s++)
		{
			double		ps = 0;

			if (!parent)
			{
				double		ns = 0,
							ws = 0;

				for (int a = 0; a < A; a++)
					ns += f->N[IDX(f, s, a, h)], ws += f->W[IDX(f, s, a, h)];
				ps = Smooth(ws, ns, p0, o->kappa);
			}
			for (int a = 0; a < A; a++)
			{
				Size		i = IDX(f, s, a, h);
				double		prior = parent ? (s < parent->S ? parent->p[IDX(parent, s, a, h)] : 0) : ps;

				f->p[i] = Smooth(f->W[i], f->N[i], prior, o->kappa);
			}
		}
		if (parent)
		{
			f->q1[h - 1] = Smooth(f->w1[h - 1], f->a1[h - 1], parent->q1[h - 1], o->kappa);
			f->ql[h - 1] = Smooth(f->wl[h - 1], f->al[h - 1], parent->ql[h - 1], o->kappa);
		}
		else
		{
			f->q1[h - 1] = f->a1[h - 1] > 0 ? f->w1[h - 1] / f->a1[h - 1] : 0;
			f->ql[h - 1] = f->al[h - 1] > 0 ? f->wl[h - 1] / f->al[h - 1] : 0;
		}
	}
	for (int s = 0; s < S; s++)
		for (int a = 0; a < A; a++)
		{
			double		sum = 0;

			for (int h = 1; h <= H; h++)
				sum += f->p[IDX(f, s, a, h)];
			if (sum > 1)
				for (int h = 1; h <= H; h++)
					f->p[IDX(f, s, a, h)] /= sum;
		}
	if (parent)
	{
		f->mu = Smooth(f->rev, f->rev_n, parent->mu, o->kappa_amount);
		f->m2 = Smooth(f->rev_sq, f->rev_n, parent->m2, o->kappa_amount);
	}
	else
	{
		f->mu = f->rev_n > 0 ? f->rev / f->rev_n : 0;
		f->m2 = f->rev_n > 0 ? f->rev_sq / f->rev_n : 0;
	}
}

/* Arrivals (or wins, when closings) per usec in windows 1..n of block k, observed by c. */
static double
RatePerUsec(const CloseSummary *x, int32 k, int n, int64 c, bool closings, double *count)
{
	const CsBlock *b;
	double		sum = 0;
	int64		end = 0;

	*count = 0;
	if (k < 0)
		k = 0;
	b = cs_block(x, k);
	if (b->t >= c)
		return 0;
	for (int h = 1; h <= n && h <= b->obs && CS_END(b, h) <= c; h++)
	{
		sum += closings ? CS_CLOSINGS(x, b, h) : CS_ARRIVALS(x, b, h);
		end = CS_END(b, h);
	}
	if (end == 0)
		return 0;
	*count = sum;
	return sum / (double) (end - b->t);
}

/*
 * The root's seasonal factor for window h after cutoff j: the arrival rate a
 * year earlier in that window over the rate in the run-rate periods before
 * it, a year earlier too.  1 without a full year and more of history.
 */
static double
SeasonFactor(const CloseSummary *root, int32 j, int h, const FcOptions *o)
{
	int32		ky = j - o->season;
	int64		c = cs_block(root, j)->t;
	const CsBlock *b;
	const CsBlock *base;
	double		base_rate,
				rate,
				n;

	if (o->season <= 0 || ky - o->run_periods < 0)
		return 1.0;
	b = cs_block(root, ky);
	base = cs_block(root, ky - o->run_periods);
	if (h > b->obs || CS_END(b, h) > c || CS_ARRIVALS(root, b, h) == 0)
		return 1.0;
	/* a year ago every base window must have had leads, or history had not begun */
	for (int i = 1; i <= o->run_periods; i++)
		if (i > base->obs || CS_ARRIVALS(root, base, i) == 0)
			return 1.0;
	rate = CS_ARRIVALS(root, b, h) / (double) (CS_END(b, h) - cs_window_start(b, h));
	base_rate = RatePerUsec(root, ky - o->run_periods, o->run_periods, b->t, false, &n);
	if (!(base_rate > 0))
		return 1.0;
	return Min(Max(rate / base_rate, 0.25), 4.0);
}

/* The fixed stage probabilities of the CRM-style baseline: 10% .. 90%. */
static double
FixedStageChance(int s, int S)
{
	if (s == 0)
		return 0.05;
	if (S <= 2)
		return 0.5;
	return 0.1 + 0.8 * (s - 1) / (double) (S - 2);
}

typedef struct Row
{
	double		pipeline,
				pipeline_var,
				new_leads,
				new_var,
				revenue,
				revenue_var,
				revenue_pipeline,
				run_rate,
				fixed_stage,
				stage_rate;
} Row;

/* What a forecast rests on, beside its rows. */
typedef struct Basis
{
	int64		open,
				stale,
				with_amount;
	double		min_cell;		/* -1: no open cell */
} Basis;

/* The root's fit at a cutoff, with the baselines' stage timing and rates. */
typedef struct RootFit
{
	Fit			f;
	int			timing[CS_MAX_STAGES];	/* window of a stage's median time to win */
	double		stage_rate[CS_MAX_STAGES];	/* share of a stage's leads won within H */
} RootFit;

/* Fits the root at block j: its rates, and per stage the baselines' timing and rate. */
static void
FitRoot(RootFit *rf, const CloseSummary *r, int32 j, const FcOptions *o)
{
	Fit		   *f = &rf->f;
	int			S = f->S,
				H = f->H;
	int64		c = cs_block(r, j)->t;
	double		n[CS_MAX_STAGES] = {0};
	double	   *w = palloc0(sizeof(double) * S * H);

	FitCount(f, r, j, o->lookback);
	FitSmooth(f, NULL, o);
	/* over the snapshots whose every window is known */
	for (int32 i = 0; i < r->ncells; i++)
	{
		const CsCell *cell = cs_cell(r, i);
		const CsBlock *b;

		if (cell->n == 0 || cell->block < j - o->lookback || cell->block >= j || cell->stage >= S)
			continue;
		b = cs_block(r, cell->block);
		if (b->obs < H || CS_END(b, H) > c)
			continue;
		n[cell->stage] += cell->n;
		for (int h = 1; h <= H; h++)
			w[cell->stage * H + h - 1] += CS_WON(r, cell, h);
	}
	for (int st = 0; st < S; st++)
	{
		double		total = 0,
					cum = 0;

		for (int h = 1; h <= H; h++)
			total += w[st * H + h - 1];
		rf->stage_rate[st] = n[st] > 0 ? total / n[st] : 0;
		rf->timing[st] = 1;
		for (int h = 1; h <= H && total > 0; h++)
		{
			cum += w[st * H + h - 1];
			if (cum >= total / 2)
			{
				rf->timing[st] = h;
				break;
			}
		}
	}
	pfree(w);
}

/*
 * The forecast of m at block j, rows[1..horizon], unadjusted: f is m's
 * smoothed fit (the root's when m is the root), rf the root's, r the root
 * (for the seasonal factor of arrivals).
 */
static void
Forecast(const CloseSummary *m, const Fit *f, const RootFit *rf, const CloseSummary *r, int32 j,
		 const FcOptions *o, Row *rows, Basis *basis)
{
	int			S = f->S;
	const CsBlock *bj = cs_block(m, j);
	int64		c = bj->t;
	double		arr_n,
				arr_rate,
				clo_n,
				clo_rate,
				sigma2 = Max(f->m2 - f->mu * f->mu, 0.0);
	double		lambda[CS_MAX_HORIZONS + 1];

	memset(rows, 0, sizeof(Row) * (o->horizon + 1));
	if (basis)
	{
		memset(basis, 0, sizeof(Basis));
		basis->min_cell = -1;
	}
	/* the open pipeline at the cutoff */
	for (int32 i = 0; i < m->ncells; i++)
	{
		const CsCell *cell = cs_cell(m, i);
		double		n = cell->n,
					unknown,
					amount,
					amount_sq;

		if (cell->n == 0 || cell->block != j)
			continue;
		if (cell->age >= o->stale_from)
		{
			if (basis)
				basis->stale += cell->n;
			continue;
		}
		unknown = n - cell->amount_n;
		amount = MoneyDouble(&cell->amount) + unknown * f->mu;
		amount_sq = MoneyDouble(&cell->amount_sq);
		if (basis)
		{
			double		obs = f->N[IDX(f, cell->stage, cell->age, 1)];

			basis->open += cell->n;
			basis->with_amount += cell->amount_n;
			if (basis->min_cell < 0 || obs < basis->min_cell)
				basis->min_cell = obs;
		}
		for (int h = 1; h <= o->horizon; h++)
		{
			Size		x = IDX(f, cell->stage, cell->age, h);
			double		pr = f->p[x];
			double		rate_var = pr * (1 - pr) / (f->N[x] + o->kappa + 1);
			Row		   *row = &rows[h];

			row->pipeline += n * pr;
			row->pipeline_var += n * pr * (1 - pr) + n * n * rate_var;
			row->revenue_pipeline += pr * amount;
			row->revenue_var += pr * (1 - pr) * amount_sq
				+ unknown * (pr * (sigma2 + f->mu * f->mu) - pr * pr * f->mu * f->mu)
				+ amount * amount * rate_var;
		}
		if (cell->stage < S && rf->timing[cell->stage] <= o->horizon)
		{
			rows[rf->timing[cell->stage]].fixed_stage += n * FixedStageChance(cell->stage, S);
			rows[rf->timing[cell->stage]].stage_rate += n * rf->stage_rate[cell->stage];
		}
	}

	/* leads that do not exist yet */
	arr_rate = RatePerUsec(m, j - o->run_periods, o->run_periods, c, false, &arr_n);
	clo_rate = RatePerUsec(m, j - o->run_periods, o->run_periods, c, true, &clo_n);
	for (int ha = 1; ha <= o->horizon; ha++)
	{
		int64		len = CS_END(bj, ha) - cs_window_start(bj, ha);

		lambda[ha] = arr_rate * len * SeasonFactor(r, j, ha, o);
		rows[ha].run_rate = clo_rate * len;
	}
	for (int h = 1; h <= o->horizon; h++)
	{
		Row		   *row = &rows[h];
		double		e = 0;

		for (int ha = 1; ha <= h; ha++)
			e += lambda[ha] * (ha == 1 ? f->q1[h - 1] : f->ql[h - ha]);
		row->new_leads = e;
		/* Poisson, plus the sampling variance of the arrival rate */
		row->new_var = e + e * e / Max(arr_n, 1.0);
		row->revenue = row->revenue_pipeline + e * f->mu;
		row->revenue_var += e * (sigma2 + f->mu * f->mu) + e * e * f->mu * f->mu / Max(arr_n, 1.0);
	}
}

static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Scales a row's expectations by k (variances by k squared); baselines stay. */
static void
ScaleRow(Row *row, double k)
{
	row->pipeline *= k;
	row->new_leads *= k;
	row->revenue *= k;
	row->revenue_pipeline *= k;
	row->pipeline_var *= k * k;
	row->new_var *= k * k;
	row->revenue_var *= k * k;
}

static const CloseSummary *
ArgSummary(FunctionCallInfo fcinfo, int n, const CloseSummary *dflt)
{
	return PG_ARGISNULL(n) ? dflt : PG_GETARG_CLOSE_SUMMARY(n);
}

static void
CheckSameGrid(const CloseSummary *a, const CloseSummary *b)
{
	bool		same = a->horizons == b->horizons && a->nages == b->nages && a->nblocks == b->nblocks &&
		memcmp(a->age_bounds, b->age_bounds, sizeof(int64) * (a->nages - 1)) == 0;

	for (int32 k = 0; same && k < a->nblocks; k++)
		same = cs_block(a, k)->t == cs_block(b, k)->t && cs_block(a, k)->obs == cs_block(b, k)->obs;
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: the member, parent and root summaries have different grids"),
				 errhint("Build all three with the same close_grid().")));
}

/* The cutoffs' block indexes; an error for an instant that is not a snapshot. */
static int32 *
CutoffBlocks(const CloseSummary *s, ArrayType *ca, int *ncut)
{
	int64	   *cutoffs;
	int32	   *idx;

	if (ARR_NDIM(ca) > 1 || array_contains_nulls(ca))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: cutoffs must be a one-dimensional array without NULLs")));
	*ncut = ARR_NDIM(ca) == 0 ? 0 : ARR_DIMS(ca)[0];
	cutoffs = (int64 *) lk_array_data(ca);
	idx = palloc(sizeof(int32) * Max(*ncut, 1));
	for (int ci = 0; ci < *ncut; ci++)
	{
		idx[ci] = -1;
		for (int32 k = 0; k < s->nblocks; k++)
			if (cs_block(s, k)->t == cutoffs[ci])
				idx[ci] = k;
		if (idx[ci] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_forecast: a cutoff is not a snapshot of the summaries' grid"),
					 errhint("Pass snapshot instants, e.g. from close_windows().")));
	}
	return idx;
}

/* The options from arguments first..first+6 (horizon, lookback, stale_after, season, kappa, kappa_amount, run_periods). */
static void
GetOptions(FunctionCallInfo fcinfo, int first, const CloseSummary *m, FcOptions *o)
{
	int			A = m->nages;

	memset(o, 0, sizeof(FcOptions));
	if (PG_ARGISNULL(first) || PG_ARGISNULL(first + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("close_forecast: horizon and lookback must not be NULL")));
	o->horizon = PG_GETARG_INT32(first);
	o->lookback = PG_GETARG_INT32(first + 1);
	o->stale_from = A;
	if (!PG_ARGISNULL(first + 2))
	{
		Interval   *st = PG_GETARG_INTERVAL_P(first + 2);
		int64		us = (int64) st->day * USECS_PER_DAY + st->time;

		o->stale_from = -1;
		for (int a = 0; a < A - 1; a++)
			if (st->month == 0 && m->age_bounds[a] == us)
				o->stale_from = a + 1;
		if (o->stale_from < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_forecast: stale_after must be one of the summary's age bounds"),
					 errhint("Build the grid with stale_after among its age bounds (close_grid does).")));
	}
	o->season = PG_ARGISNULL(first + 3) ? 0 : PG_GETARG_INT32(first + 3);
	o->kappa = PG_ARGISNULL(first + 4) ? 20.0 : PG_GETARG_FLOAT8(first + 4);
	o->kappa_amount = PG_ARGISNULL(first + 5) ? 20.0 : PG_GETARG_FLOAT8(first + 5);
	o->run_periods = PG_ARGISNULL(first + 6) ? 3 : PG_GETARG_INT32(first + 6);
	if (o->horizon < 1 || o->horizon > m->horizons)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: horizon must be between 1 and the summary's %d windows", m->horizons)));
	if (o->lookback < 1 || o->run_periods < 1 || !(o->kappa > 0) || !(o->kappa_amount > 0) || o->season < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: lookback, run_periods, kappa and kappa_amount must be positive, season not negative")));
}

/*
 * close_forecast_adjust(root, cutoffs, horizon, lookback, stale_after,
 * season, kappa, kappa_amount, run_periods): per cutoff and window, the
 * factor close_forecast scales its expectations by (a 2-D float8[]).
 *
 * The rates pool the lookback's snapshots, so they lag behind a trend in
 * conversion.  For each snapshot k of the lookback, the root's wins in its
 * first window over what the rates give for its open leads, y_k = log of
 * that ratio, follow the trend: a least-squares line through them
 * (weighted by the expected wins) gives the level at the cutoff, exp(line
 * at the cutoff).  With season (snapshots per year), the snapshot a year
 * before window h is among them, and its own distance from the line is the
 * season of closings in that window (a December that closes little), as
 * far as it stands out of the other snapshots' distances (their median
 * absolute distance is the noise).  Both are bounded to [1/2, 2].
 */
PG_FUNCTION_INFO_V1(close_forecast_adjust);
Datum
close_forecast_adjust(PG_FUNCTION_ARGS)
{
	const CloseSummary *r = PG_GETARG_CLOSE_SUMMARY(0);
	FcOptions	o;
	int			ncut;
	int32	   *idx;
	Fit			fr;
	double	   *out;
	Datum	   *d;
	int			dims[2],
				lbs[2] = {1, 1};
	const double tau = 20;
	double	   *ak,
			   *pk;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	GetOptions(fcinfo, 2, r, &o);
	idx = CutoffBlocks(r, PG_GETARG_ARRAYTYPE_P(1), &ncut);
	FitInit(&fr, r->nstages, r->nages, r->horizons);
	out = palloc(sizeof(double) * Max(ncut, 1) * o.horizon);
	ak = palloc0(sizeof(double) * r->nblocks);
	pk = palloc0(sizeof(double) * r->nblocks);
	for (int ci = 0; ci < ncut; ci++)
	{
		int32		j = idx[ci];
		int32		k0 = Max(0, j - o.lookback);
		int64		c = cs_block(r, j)->t;
		double		sw = 0,
					sx = 0,
					sy = 0,
					sxx = 0,
					sxy = 0,
					alpha = 0,
					beta = 0,
					level;

		FitCount(&fr, r, j, o.lookback);
		FitSmooth(&fr, NULL, &o);
		memset(ak, 0, sizeof(double) * r->nblocks);
		memset(pk, 0, sizeof(double) * r->nblocks);
		for (int32 i = 0; i < r->ncells; i++)
		{
			const CsCell *cell = cs_cell(r, i);
			const CsBlock *b;

			if (cell->n == 0 || cell->block < k0 || cell->block >= j)
				continue;
			b = cs_block(r, cell->block);
			if (b->obs < 1 || CS_END(b, 1) > c)
				continue;
			ak[cell->block] += CS_WON(r, cell, 1);
			pk[cell->block] += cell->n * fr.p[IDX(&fr, cell->stage, cell->age, 1)];
		}
		for (int32 k = k0; k < j; k++)
		{
			double		y,
						w = pk[k];

			if (!(w > 0))
				continue;
			y = log((ak[k] + tau) / (pk[k] + tau));
			sw += w, sx += w * k, sy += w * y, sxx += w * k * k, sxy += w * k * y;
		}
		if (sw > 0)
		{
			double		xm = sx / sw,
						var = sxx / sw - xm * xm,
						noise2;
			double		res[CS_MAX_BLOCKS];
			int			nres = 0;

			alpha = sy / sw;
			beta = var > 0 ? (sxy / sw - xm * alpha) / var : 0;
			level = alpha + beta * (j - xm);
			/* the noise of a snapshot's distance from the line: its median, robustly */
			for (int32 k = k0; k < j; k++)
				if (pk[k] > 0)
					res[nres++] = fabs(log((ak[k] + tau) / (pk[k] + tau)) - (alpha + beta * (k - xm)));
			qsort(res, nres, sizeof(double), CompareDouble);
			noise2 = nres > 0 ? pow(1.4826 * res[nres / 2], 2) : 0;
			for (int h = 1; h <= o.horizon; h++)
			{
				int32		ky = j - o.season + h - 1;
				double		season = 0;

				/*
				 * A year-ago distance counts as season only as far as it
				 * stands out of the noise (positive-part James-Stein).
				 */
				if (o.season > 0 && ky >= k0 && ky < j && pk[ky] > 0)
				{
					double		d = log((ak[ky] + tau) / (pk[ky] + tau)) - (alpha + beta * (ky - xm));

					season = d * Max(0.0, 1 - noise2 / Max(d * d, 1e-12));
				}
				out[ci * o.horizon + h - 1] = exp(Min(Max(level, -M_LN2), M_LN2)) *
					exp(Min(Max(season, -M_LN2), M_LN2));
			}
		}
		else
			for (int h = 1; h <= o.horizon; h++)
				out[ci * o.horizon + h - 1] = 1.0;
	}
	d = palloc(sizeof(Datum) * Max(ncut, 1) * o.horizon);
	for (int i = 0; i < ncut * o.horizon; i++)
		d[i] = Float8GetDatum(out[i]);
	dims[0] = ncut;
	dims[1] = o.horizon;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(d, NULL, ncut > 0 ? 2 : 0, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The root's and the parents' fits for every cutoff, kept across the calls
 * of one query (one call per member, with the same root and a few parents):
 * a forecast by campaign would otherwise refit them for every campaign.  A
 * fit is reused only for a summary whose bytes are the same, the same
 * cutoffs and the same options.
 */
#define FC_CACHED_PARENTS 32

typedef struct FcKept
{
	Size		len;
	char	   *bytes;			/* a copy of the summary */
	Fit		  **fits;			/* per cutoff, fitted on demand */
} FcKept;

typedef struct FcCache
{
	MemoryContext cxt;
	FcOptions	o;
	int			ncut;
	int32	   *idx;
	int			S;
	FcKept		root;
	RootFit   **roots;			/* per cutoff */
	int			nparents;
	int			next;			/* the parent slot to reuse when full */
	FcKept		parents[FC_CACHED_PARENTS];
} FcCache;

static bool
KeptIs(const FcKept *k, const CloseSummary *s)
{
	return k->bytes != NULL && k->len == VARSIZE(s) && memcmp(k->bytes, s, k->len) == 0;
}

static void
Keep(MemoryContext cxt, FcKept *k, const CloseSummary *s, int ncut)
{
	k->len = VARSIZE(s);
	k->bytes = MemoryContextAlloc(cxt, k->len);
	memcpy(k->bytes, s, k->len);
	k->fits = MemoryContextAllocZero(cxt, sizeof(Fit *) * Max(ncut, 1));
}

/* The cache for these arguments: the one in fn_extra when they match, else a new one. */
static FcCache *
GetCache(FunctionCallInfo fcinfo, const CloseSummary *r, const FcOptions *o, int32 *idx, int ncut, int S)
{
	FcCache    *fc = (FcCache *) fcinfo->flinfo->fn_extra;

	if (fc && fc->ncut == ncut && fc->S == S && memcmp(&fc->o, o, sizeof(FcOptions)) == 0 &&
		memcmp(fc->idx, idx, sizeof(int32) * ncut) == 0 && KeptIs(&fc->root, r))
		return fc;
	if (fc)
		MemoryContextDelete(fc->cxt);
	else
	{
		/* set up once per FmgrInfo; the context lives as long as it */
		fc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FcCache));
		fcinfo->flinfo->fn_extra = fc;
	}
	memset(fc, 0, sizeof(FcCache));
	fc->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "close_forecast cache", ALLOCSET_DEFAULT_SIZES);
	fc->o = *o;
	fc->ncut = ncut;
	fc->S = S;
	fc->idx = MemoryContextAlloc(fc->cxt, sizeof(int32) * Max(ncut, 1));
	memcpy(fc->idx, idx, sizeof(int32) * ncut);
	Keep(fc->cxt, &fc->root, r, ncut);
	fc->roots = MemoryContextAllocZero(fc->cxt, sizeof(RootFit *) * Max(ncut, 1));
	return fc;
}

static const RootFit *
CachedRoot(FcCache *fc, const CloseSummary *r, int ci)
{
	if (fc->roots[ci] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fc->cxt);
		RootFit    *rf = palloc0(sizeof(RootFit));

		FitInit(&rf->f, fc->S, r->nages, r->horizons);
		FitRoot(rf, r, fc->idx[ci], &fc->o);
		fc->roots[ci] = rf;
		MemoryContextSwitchTo(old);
	}
	return fc->roots[ci];
}

static const Fit *
CachedParent(FcCache *fc, const CloseSummary *p, const CloseSummary *r, int ci)
{
	FcKept	   *k = NULL;

	for (int i = 0; i < fc->nparents && !k; i++)
		if (KeptIs(&fc->parents[i], p))
			k = &fc->parents[i];
	if (!k)
	{
		if (fc->nparents < FC_CACHED_PARENTS)
			k = &fc->parents[fc->nparents++];
		else
		{
			k = &fc->parents[fc->next];
			fc->next = (fc->next + 1) % FC_CACHED_PARENTS;
			/* the slot's old fits stay in the context until the cache goes */
		}
		Keep(fc->cxt, k, p, fc->ncut);
	}
	if (k->fits[ci] == NULL)
	{
		const RootFit *rf = CachedRoot(fc, r, ci);
		MemoryContext old = MemoryContextSwitchTo(fc->cxt);
		Fit		   *f = palloc0(sizeof(Fit));

		FitInit(f, fc->S, p->nages, p->horizons);
		FitCount(f, p, fc->idx[ci], fc->o.lookback);
		FitSmooth(f, &rf->f, &fc->o);
		k->fits[ci] = f;
		MemoryContextSwitchTo(old);
	}
	return k->fits[ci];
}

/*
 * close_forecast(member, parent, root, cutoffs timestamptz[], horizon int,
 *                lookback int, stale_after interval, season int,
 *                kappa float8, kappa_amount float8, run_periods int,
 *                adjust float8[])
 */
PG_FUNCTION_INFO_V1(close_forecast);
Datum
close_forecast(PG_FUNCTION_ARGS)
{
	const CloseSummary *m,
			   *p,
			   *r;
	int32	   *idx;
	int			ncut;
	FcOptions	o;
	int			S;
	Fit			fm;
	ReturnSetInfo *rsi;
	Row		   *rows;
	Basis		basis;
	ArrayType  *adj = NULL;
	double	   *adjust = NULL;
	FcCache    *fc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	m = PG_GETARG_CLOSE_SUMMARY(0);
	r = ArgSummary(fcinfo, 2, m);
	p = ArgSummary(fcinfo, 1, r);
	CheckSameGrid(m, p);
	CheckSameGrid(m, r);
	idx = CutoffBlocks(m, PG_GETARG_ARRAYTYPE_P(3), &ncut);
	GetOptions(fcinfo, 4, m, &o);
	if (!PG_ARGISNULL(11))
	{
		adj = PG_GETARG_ARRAYTYPE_P(11);
		if (ARR_NDIM(adj) != 2 || ARR_DIMS(adj)[0] != ncut || ARR_DIMS(adj)[1] != o.horizon ||
			array_contains_nulls(adj))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_forecast: adjust must be a cutoffs x horizon array without NULLs"),
					 errhint("Pass close_forecast_adjust() of the root with the same cutoffs and options.")));
		adjust = (double *) lk_array_data(adj);
	}

	/* the root has every stage any member or parent has */
	S = Max(Max(m->nstages, p->nstages), r->nstages);
	fc = GetCache(fcinfo, r, &o, idx, ncut, S);
	InitMaterializedSRF(fcinfo, 0);
	rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	FitInit(&fm, S, m->nages, m->horizons);
	rows = palloc(sizeof(Row) * (o.horizon + 1));

	for (int ci = 0; ci < ncut; ci++)
	{
		int32		j = idx[ci];
		const CsBlock *bj = cs_block(m, j);
		const RootFit *rf = CachedRoot(fc, r, ci);
		const Fit  *f = &rf->f;

		if (m != r)
		{
			FitCount(&fm, m, j, o.lookback);
			FitSmooth(&fm, CachedParent(fc, p, r, ci), &o);
			f = &fm;
		}
		Forecast(m, f, rf, r, j, &o, rows, &basis);
		for (int h = 1; h <= o.horizon; h++)
		{
			Row		   *row = &rows[h];
			Datum		v[20];
			bool		nl[20] = {0};
			bool		observed = h <= bj->obs;

			if (adjust)
				ScaleRow(row, adjust[ci * o.horizon + h - 1]);
			v[0] = TimestampTzGetDatum(bj->t);
			v[1] = Int32GetDatum(h);
			v[2] = TimestampTzGetDatum(cs_window_start(bj, h));
			v[3] = TimestampTzGetDatum(CS_END(bj, h));
			v[4] = Int64GetDatum(CS_CLOSINGS(m, bj, h));
			nl[4] = !observed;
			v[5] = Float8GetDatum(MoneyDouble(cs_revenue(m, bj, h)));
			nl[5] = !observed;
			v[6] = Float8GetDatum(row->pipeline);
			v[7] = Float8GetDatum(row->pipeline_var);
			v[8] = Float8GetDatum(row->new_leads);
			v[9] = Float8GetDatum(row->new_var);
			v[10] = Float8GetDatum(row->revenue);
			v[11] = Float8GetDatum(row->revenue_var);
			v[12] = Float8GetDatum(row->revenue_pipeline);
			v[13] = Int64GetDatum(basis.open);
			v[14] = Int64GetDatum(basis.stale);
			v[15] = Int64GetDatum(basis.with_amount);
			v[16] = Int64GetDatum((int64) basis.min_cell);
			nl[16] = basis.min_cell < 0;
			v[17] = Float8GetDatum(row->run_rate);
			v[18] = Float8GetDatum(row->fixed_stage);
			v[19] = Float8GetDatum(row->stage_rate);
			tuplestore_putvalues(rsi->setResult, rsi->setDesc, v, nl);
		}
	}
	return (Datum) 0;
}
