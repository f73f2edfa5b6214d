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
 * the variances and calibrates the interval width (sql/forecast/forecast.sql).
 */
#include "close_forecast.h"

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

double
fc_money_double(const LkMoney *m)
{
	if (!lk_money_present(m))
		return 0.0;
	return (double) m->sum / pow(10.0, m->dscale);
}

void
fc_fit_init(Fit *f, int S, int A, int H)
{
	Size n = (Size) S * A * H;

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
	Size n = (Size) f->S * f->A * f->H;

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
 * Counts what x knew at each cutoff, fits[ci] at block idx[ci]'s instant c:
 * snapshots idx[ci]-L .. idx[ci]-1, and of each only the windows that had
 * ended by c.  One pass over x's blocks, each read once for every cutoff
 * that reads it.
 */
void
fc_fit_count_many(Fit **fits, const CloseSummary *x, const int32 *idx, int ncut, int L)
{
	int			 H = x->horizons;
	CsBlockView *v = palloc(sizeof(CsBlockView));
	CsCellView	 cell;
	int			*use = palloc(sizeof(int) * Max(ncut, 1));
	int64		*cut = palloc(sizeof(int64) * Max(ncut, 1));

	for (int ci = 0; ci < ncut; ci++)
	{
		FitReset(fits[ci]);
		cut[ci] = cs_block_t(x, idx[ci]);
	}
	for (int32 k = 0; k < x->nblocks; k++)
	{
		int nuse = 0;

		for (int ci = 0; ci < ncut; ci++)
			if (k >= idx[ci] - L && k < idx[ci])
				use[nuse++] = ci;
		if (nuse == 0)
			continue;
		cs_block_view(x, k, v);
		for (int u = 0; u < nuse; u++)
		{
			Fit	 *f = fits[use[u]];
			int64 c = cut[use[u]];

			for (int hw = 1; hw <= H && hw <= v->obs && v->end[hw] <= c; hw++)
			{
				int row = (hw - 1) * hw / 2; /* new_won's pairs (ha, hw) of this hw */

				f->a1[hw - 1] += v->arrivals[1];
				f->w1[hw - 1] += v->new_won[row];
				for (int ha = 2; ha <= hw; ha++)
				{
					f->al[hw - ha] += v->arrivals[ha];
					f->wl[hw - ha] += v->new_won[row + ha - 1];
				}
			}
			if (v->obs >= 1 && v->end[1] <= c)
			{
				f->rev_n += v->revenue_n[1];
				f->rev += fc_money_double(&v->revenue[1]);
				f->rev_sq += fc_money_double(&v->revenue_sq[1]);
			}
		}
		while (cs_next_cell(v, &cell))
			for (int u = 0; u < nuse; u++)
			{
				Fit	 *f = fits[use[u]];
				int64 c = cut[use[u]];
				Size  at = IDX(f, cell.stage, cell.age, 1);

				for (int h = 1; h <= H && h <= v->obs && v->end[h] <= c; h++)
				{
					f->N[at + h - 1] += cell.n;
					f->W[at + h - 1] += cell.won[h];
				}
			}
	}
	pfree(v);
	pfree(use);
	pfree(cut);
}

void
fc_fit_count(Fit *f, const CloseSummary *x, int32 j, int L)
{
	fc_fit_count_many(&f, x, &j, 1, L);
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
void
fc_fit_smooth(Fit *f, const Fit *parent, const FcOptions *o)
{
	int S = f->S,
		A = f->A,
		H = f->H;

	for (int h = 1; h <= H; h++)
	{
		double n0 = 0,
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
			double ps = 0;

			if (!parent)
			{
				double ns = 0,
					   ws = 0;

				for (int a = 0; a < A; a++)
					ns += f->N[IDX(f, s, a, h)], ws += f->W[IDX(f, s, a, h)];
				ps = Smooth(ws, ns, p0, o->kappa);
			}
			for (int a = 0; a < A; a++)
			{
				Size   i = IDX(f, s, a, h);
				double prior = parent ? (s < parent->S ? parent->p[IDX(parent, s, a, h)] : 0) : ps;

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
			double sum = 0;

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

/*
 * Arrivals and wins per usec in windows 1..n of block k of x, those ended by
 * c; and their counts.  0 when none had ended.
 */
static void
RatesPerUsec(const CloseSummary *x, int32 k, int n, int64 c, CsBlockView *v,
			 double *arr_rate, double *arr_n, double *clo_rate, double *clo_n)
{
	double arr = 0,
		   clo = 0;
	int64 end = 0;

	*arr_rate = *arr_n = *clo_rate = *clo_n = 0;
	if (k < 0)
		k = 0;
	if (cs_block_t(x, k) >= c)
		return;
	cs_block_view(x, k, v);
	for (int h = 1; h <= n && h <= v->obs && v->end[h] <= c; h++)
	{
		arr += v->arrivals[h];
		clo += v->closings[h];
		end = v->end[h];
	}
	if (end == 0)
		return;
	*arr_n = arr;
	*clo_n = clo;
	*arr_rate = arr / (double) (end - v->t);
	*clo_rate = clo / (double) (end - v->t);
}

/*
 * The root's seasonal factor for window h after cutoff j: the arrival rate a
 * year earlier in that window over the rate in the run-rate periods before
 * it, a year earlier too.  1 without a full year and more of history.
 */
static void
SeasonFactors(const CloseSummary *root, int32 j, const FcOptions *o, double *season)
{
	int32		 ky = j - o->season;
	int64		 c = cs_block_t(root, j);
	CsBlockView *b,
		*base;
	double base_rate,
		base_n,
		ignore,
		ignore_n;
	bool history = true;

	for (int h = 1; h <= root->horizons; h++)
		season[h] = 1.0;
	if (o->season <= 0 || ky - o->run_periods < 0)
		return;
	b = palloc(sizeof(CsBlockView));
	base = palloc(sizeof(CsBlockView));
	cs_block_view(root, ky, b);
	cs_block_view(root, ky - o->run_periods, base);
	/* a year ago every base window must have had leads, or history had not begun */
	for (int i = 1; i <= o->run_periods; i++)
		if (i > base->obs || base->arrivals[i] == 0)
			history = false;
	RatesPerUsec(root, ky - o->run_periods, o->run_periods, b->t, base, &base_rate, &base_n, &ignore, &ignore_n);
	for (int h = 1; history && base_rate > 0 && h <= root->horizons; h++)
	{
		double rate;

		if (h > b->obs || b->end[h] > c || b->arrivals[h] == 0)
			continue;
		rate = b->arrivals[h] / (double) (b->end[h] - b->end[h - 1]);
		season[h] = Min(Max(rate / base_rate, 0.25), 4.0);
	}
	pfree(b);
	pfree(base);
}

/*
 * The fixed stage probabilities of the CRM-style baseline: 10% for the
 * first stage rising evenly to 90% for the last, as CRMs' default deal
 * stages (Salesforce's run from 10% to 90% before closed won); a lead
 * without a stage is no deal yet (0%).
 */
static double
FixedStageChance(int s, int S)
{
	if (s == 0)
		return 0;
	if (S <= 2)
		return 0.5;
	return 0.1 + 0.8 * (s - 1) / (double) (S - 2);
}

/*
 * A stage's median time from reaching it to a win: among the leads that had
 * reached it within the first age bucket (the first week) before a snapshot
 * and won within the windows observed, the median offset of the win from
 * the snapshot (linear within its window, whose offsets from the cutoff are
 * rel[h - 1] .. rel[h]), plus half the first age bucket (their mean age).
 * From f's counts: W of age bucket 0; stage S: every stage.  -1 without wins.
 */
static double
MedianTimeToWin(const Fit *f, int stage, const double *rel, double half_bucket)
{
	double wins[CS_MAX_HORIZONS + 1] = { 0 };
	double total = 0,
		   cum = 0;
	int s0 = stage < f->S ? stage : 0,
		s1 = stage < f->S ? stage + 1 : f->S;

	for (int h = 1; h <= f->H; h++)
	{
		for (int s = s0; s < s1; s++)
			wins[h] += f->W[IDX(f, s, 0, h)];
		total += wins[h];
	}
	if (!(total > 0))
		return -1;
	for (int h = 1; h <= f->H; h++)
	{
		if (wins[h] > 0 && cum + wins[h] >= total / 2)
			return half_bucket + rel[h - 1] + (total / 2 - cum) / wins[h] * (rel[h] - rel[h - 1]);
		cum += wins[h];
	}
	return half_bucket + rel[f->H];
}

/* Fits the root at block j: its rates and the seasonal factors of arrivals. */
void
fc_fit_root(RootFit *rf, const CloseSummary *r, int32 j, const FcOptions *o)
{
	fc_fit_count(&rf->f, r, j, o->lookback);
	fc_fit_smooth(&rf->f, NULL, o);
	SeasonFactors(r, j, o, rf->season);
}

/*
 * The baselines' view of the history (see fc_forecast): per stage its
 * share of leads won in each window (rate[s * H + h - 1]; without the age
 * buckets stale_after leaves out) and the window in
 * which a lead of each age bucket is expected to close (close[s * A + a],
 * 0 when its expected close date has passed or is beyond the horizon).
 */
static void
Baselines(const CloseSummary *m, const Fit *pf, const RootFit *rf, const CsBlockView *bj, const FcOptions *o,
		  double *rate, int *close)
{
	int horizon = o->horizon;
	int S = pf->S,
		A = pf->A,
		H = pf->H;
	double rel[CS_MAX_HORIZONS + 1] = { 0 }; /* all of it: the analyzer cannot see horizon <= H */
	double half_bucket = A > 1 ? m->age_bounds[0] / 2.0 : 0;

	for (int h = 0; h <= H; h++)
		rel[h] = (double) (bj->end[h] - bj->t);
	for (int s = 0; s < S; s++)
	{
		double ttc = MedianTimeToWin(pf, s, rel, half_bucket);

		/* too few fresh leads of the stage won: the segment's, then everyone's */
		if (ttc < 0)
			ttc = MedianTimeToWin(pf, S, rel, half_bucket);
		if (ttc < 0)
			ttc = MedianTimeToWin(&rf->f, s, rel, half_bucket);
		for (int h = 1; h <= H; h++)
		{
			double n = 0,
				   w = 0;

			/* the leads forecast from: without the stale ones when they are left out */
			for (int a = 0; a < A && a < o->stale_from; a++)
				n += pf->N[IDX(pf, s, a, h)], w += pf->W[IDX(pf, s, a, h)];
			rate[s * H + h - 1] = n > 0 ? w / n : 0;
		}
		for (int a = 0; a < A; a++)
		{
			double age_mid = A == 1 ? 0 : a == 0 ? half_bucket :
									  a < A - 1	 ? (m->age_bounds[a - 1] + m->age_bounds[a]) / 2.0 :
												   m->age_bounds[A - 2];
			double left = ttc - age_mid;

			close[s * A + a] = 0;
			for (int h = 1; left >= 0 && h <= horizon && h <= H; h++)
				if (left < rel[h])
				{
					close[s * A + a] = h;
					break;
				}
		}
	}
}

/*
 * The open pipeline of block j (in bj) into rows[1..horizon]: each open,
 * not stale lead's chance of a win in each window from f, with the
 * variance of the count, of its amount (sigma2 that of the amounts, for
 * leads without one) and of the rate; the baselines' fixed_stage and
 * stage_rate (rate and close from Baselines); basis, when asked for, counts
 * what the forecast rests on.
 */
static void
AddOpenPipeline(const Fit *f, CsBlockView *bj, const FcOptions *o, const double *rate, const int *close,
				double sigma2, Row *rows, Basis *basis)
{
	int		   S = f->S;
	CsCellView cell;

	while (cs_next_cell(bj, &cell))
	{
		double n = cell.n,
			   unknown,
			   amount,
			   amount_sq;

		if (cell.age >= o->stale_from)
		{
			if (basis)
				basis->stale += cell.n;
			continue;
		}
		unknown = n - cell.amount_n;
		amount = fc_money_double(&cell.amount) + unknown * f->mu;
		amount_sq = fc_money_double(&cell.amount_sq);
		if (basis)
		{
			double obs = f->N[IDX(f, cell.stage, cell.age, 1)];

			basis->open += cell.n;
			basis->with_amount += cell.amount_n;
			if (basis->min_cell < 0 || obs < basis->min_cell)
				basis->min_cell = obs;
		}
		for (int h = 1; h <= o->horizon; h++)
		{
			Size   x = IDX(f, cell.stage, cell.age, h);
			double pr = f->p[x];
			double rate_var = pr * (1 - pr) / (f->N[x] + o->kappa + 1);
			Row	  *row = &rows[h];

			row->pipeline += n * pr;
			row->pipeline_var += n * pr * (1 - pr) + n * n * rate_var;
			row->revenue_pipeline += pr * amount;
			row->revenue_var += pr * (1 - pr) * amount_sq + unknown * (pr * (sigma2 + f->mu * f->mu) - pr * pr * f->mu * f->mu) + amount * amount * rate_var;
		}
		for (int h = 1; h <= o->horizon && h <= bj->obs; h++)
			rows[h].actual_pipeline += cell.won[h];
		if (cell.stage < S)
		{
			int hc = close[cell.stage * f->A + cell.age];

			if (hc > 0)
				rows[hc].fixed_stage += n * FixedStageChance(cell.stage, S);
			for (int h = 1; h <= o->horizon; h++)
				rows[h].stage_rate += n * rate[cell.stage * f->H + h - 1];
		}
	}
}

/*
 * Leads that do not exist yet, into rows[1..horizon]: arrivals at arr_rate
 * (per microsecond, from arr_n leads) times the root's seasonal factor, each
 * closing in window h at f's chance for a new lead; and the run rate
 * baseline at clo_rate.  The windows' lengths come from bj.
 */
static void
AddNewLeads(const Fit *f, const RootFit *rf, const CsBlockView *bj, const FcOptions *o, double arr_rate,
			double arr_n, double clo_rate, double sigma2, Row *rows)
{
	double lambda[CS_MAX_HORIZONS + 1];

	for (int ha = 1; ha <= o->horizon; ha++)
	{
		int64 len = bj->end[ha] - bj->end[ha - 1];

		lambda[ha] = arr_rate * len * rf->season[ha];
		rows[ha].run_rate = clo_rate * len;
	}
	for (int h = 1; h <= o->horizon; h++)
	{
		Row	  *row = &rows[h];
		double e = 0;

		for (int ha = 1; ha <= h; ha++)
			e += lambda[ha] * (ha == 1 ? f->q1[h - 1] : f->ql[h - ha]);
		row->new_leads = e;
		/* Poisson, plus the sampling variance of the arrival rate */
		row->new_var = e + e * e / Max(arr_n, 1.0);
		row->revenue = row->revenue_pipeline + e * f->mu;
		row->revenue_var += e * (sigma2 + f->mu * f->mu) + e * e * f->mu * f->mu / Max(arr_n, 1.0);
	}
}

/*
 * The forecast of m at block j, rows[1..horizon], unadjusted: f is m's
 * smoothed fit (the root's when m is the root), pf its parent's (the
 * baselines' history), rf the root's.  bj is work space that holds m's
 * block j after.
 *
 * The baselines are the weighted pipelines of the issue, each open lead at
 * a chance by its stage, in their most charitable forms: fixed_stage, a
 * CRM's, at fixed chances (FixedStageChance) in the window of the lead's
 * expected close date, when it reached its stage plus the stage's median
 * time to win (a date already past counts in no coming window, as a CRM's
 * forecast leaves overdue deals in the period they were due); stage_rate
 * at the stage's own chance of a win in each window, from the parent's
 * history (all ages together).
 */
void
fc_forecast(const CloseSummary *m, const Fit *f, const Fit *pf, const RootFit *rf, int32 j,
			const FcOptions *o, Row *rows, Basis *basis, CsBlockView *bj)
{
	int64  c;
	double arr_n,
		arr_rate,
		clo_n,
		clo_rate,
		sigma2 = Max(f->m2 - f->mu * f->mu, 0.0);
	double *rate = palloc(sizeof(double) * f->S * f->H);
	int	   *close = palloc(sizeof(int) * f->S * f->A);

	memset(rows, 0, sizeof(Row) * (o->horizon + 1));
	if (basis)
	{
		memset(basis, 0, sizeof(Basis));
		basis->min_cell = -1;
	}

	/* leads that do not exist yet: the rates before the cutoff */
	c = cs_block_t(m, j);
	RatesPerUsec(m, j - o->run_periods, o->run_periods, c, bj, &arr_rate, &arr_n, &clo_rate, &clo_n);

	/* the open pipeline at the cutoff */
	cs_block_view(m, j, bj);
	Baselines(m, pf, rf, bj, o, rate, close);
	AddOpenPipeline(f, bj, o, rate, close, sigma2, rows, basis);
	AddNewLeads(f, rf, bj, o, arr_rate, arr_n, clo_rate, sigma2, rows);
	pfree(rate);
	pfree(close);
}

static int
CompareDouble(const void *a, const void *b)
{
	double x = *(const double *) a,
		   y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Scales a row's expectations by k (variances by k squared); baselines stay. */
void
fc_scale_row(Row *row, double k)
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

void
fc_check_same_grid(const CloseSummary *a, const CloseSummary *b)
{
	bool same = a->horizons == b->horizons && a->nages == b->nages && a->nblocks == b->nblocks &&
				memcmp(a->age_bounds, b->age_bounds, sizeof(int64) * (a->nages - 1)) == 0;

	for (int32 k = 0; same && k < a->nblocks; k++)
		same = cs_block_t(a, k) == cs_block_t(b, k) && cs_block_obs(a, k) == cs_block_obs(b, k);
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: the member, parent and root summaries have different grids"),
				 errhint("Build all three with the same close_grid().")));
}

/* The cutoffs' block indexes; an error for an instant that is not a snapshot. */
int32 *
fc_cutoff_blocks(const CloseSummary *s, ArrayType *ca, int *ncut)
{
	int64 *cutoffs;
	int32 *idx;

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
			if (cs_block_t(s, k) == cutoffs[ci])
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
void
fc_options(FunctionCallInfo fcinfo, int first, const CloseSummary *m, FcOptions *o)
{
	int A = m->nages;

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
		Interval *st = PG_GETARG_INTERVAL_P(first + 2);
		int64	  us = (int64) st->day * USECS_PER_DAY + st->time;

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
/* y_k of the comment above, with tau wins of shrinkage towards 1 */
#define ADJUST_TAU 20

/*
 * For each snapshot k in [k0, j) whose first window ended by time c (so is
 * known at the cutoff): the root's wins in it, ak[k], and what the rates fr
 * give for its open leads, pk[k].
 */
static void
AdjustObserve(const CloseSummary *r, const Fit *fr, int32 k0, int32 j, int64 c, CsBlockView *v, double *ak,
			  double *pk)
{
	memset(ak, 0, sizeof(double) * r->nblocks);
	memset(pk, 0, sizeof(double) * r->nblocks);
	for (int32 k = k0; k < j; k++)
	{
		CsCellView cell;

		cs_block_view(r, k, v);
		if (v->obs < 1 || v->end[1] > c)
			continue;
		while (cs_next_cell(v, &cell))
		{
			ak[k] += cell.won[1];
			pk[k] += cell.n * fr->p[IDX(fr, cell.stage, cell.age, 1)];
		}
	}
}

/*
 * The factors of cutoff j's windows, out[0..horizon-1], from ak and pk: the
 * weighted line's level at j times the season of each window, both bounded
 * to [1/2, 2]; 1 when no snapshot had expected wins.
 */
static void
AdjustCutoff(const double *ak, const double *pk, int32 k0, int32 j, const FcOptions *o, double *out)
{
	const double tau = ADJUST_TAU;
	double		 sw = 0,
		   sx = 0,
		   sy = 0,
		   sxx = 0,
		   sxy = 0,
		   alpha = 0,
		   beta = 0,
		   level;

	for (int32 k = k0; k < j; k++)
	{
		double y,
			w = pk[k];

		if (!(w > 0))
			continue;
		y = log((ak[k] + tau) / (pk[k] + tau));
		sw += w, sx += w * k, sy += w * y, sxx += w * k * k, sxy += w * k * y;
	}
	if (sw > 0)
	{
		double xm = sx / sw,
			   var = sxx / sw - xm * xm,
			   noise2;
		double res[CS_MAX_BLOCKS];
		int	   nres = 0;

		alpha = sy / sw;
		beta = var > 0 ? (sxy / sw - xm * alpha) / var : 0;
		level = alpha + beta * (j - xm);
		/* the noise of a snapshot's distance from the line: its median, robustly */
		for (int32 k = k0; k < j; k++)
			if (pk[k] > 0)
				res[nres++] = fabs(log((ak[k] + tau) / (pk[k] + tau)) - (alpha + beta * (k - xm)));
		qsort(res, nres, sizeof(double), CompareDouble);
		noise2 = nres > 0 ? pow(1.4826 * res[nres / 2], 2) : 0;
		for (int h = 1; h <= o->horizon; h++)
		{
			int32  ky = j - o->season + h - 1;
			double season = 0;

			/*
			 * A year-ago distance counts as season only as far as it
			 * stands out of the noise (positive-part James-Stein).
			 */
			if (o->season > 0 && ky >= k0 && ky < j && pk[ky] > 0)
			{
				double d = log((ak[ky] + tau) / (pk[ky] + tau)) - (alpha + beta * (ky - xm));

				season = d * Max(0.0, 1 - noise2 / Max(d * d, 1e-12));
			}
			out[h - 1] = exp(Min(Max(level, -M_LN2), M_LN2)) * exp(Min(Max(season, -M_LN2), M_LN2));
		}
	}
	else
		for (int h = 1; h <= o->horizon; h++)
			out[h - 1] = 1.0;
}

void
fc_adjust(const CloseSummary *r, const int32 *idx, int ncut, const FcOptions *o, double *out)
{
	Fit		fr;
	double *ak,
		*pk;
	CsBlockView *v;

	fc_fit_init(&fr, r->nstages, r->nages, r->horizons);
	ak = palloc0(sizeof(double) * r->nblocks);
	pk = palloc0(sizeof(double) * r->nblocks);
	v = palloc(sizeof(CsBlockView));
	for (int ci = 0; ci < ncut; ci++)
	{
		int32 j = idx[ci];
		int32 k0 = Max(0, j - o->lookback);

		fc_fit_count(&fr, r, j, o->lookback);
		fc_fit_smooth(&fr, NULL, o);
		AdjustObserve(r, &fr, k0, j, cs_block_t(r, j), v, ak, pk);
		AdjustCutoff(ak, pk, k0, j, o, &out[ci * o->horizon]);
	}
	pfree(ak);
	pfree(pk);
	pfree(v);
}

PG_FUNCTION_INFO_V1(close_forecast_adjust);
Datum
close_forecast_adjust(PG_FUNCTION_ARGS)
{
	const CloseSummary *r = PG_GETARG_CLOSE_SUMMARY(0);
	FcOptions			o;
	int					ncut;
	int32			   *idx;
	double			   *out;
	Datum			   *d;
	int					dims[2],
		lbs[2] = { 1, 1 };

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	fc_options(fcinfo, 2, r, &o);
	idx = fc_cutoff_blocks(r, PG_GETARG_ARRAYTYPE_P(1), &ncut);
	out = palloc(sizeof(double) * Max(ncut, 1) * o.horizon);
	fc_adjust(r, idx, ncut, &o, out);
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
	Size  len;
	char *bytes; /* a copy of the summary */
	Fit **fits;	 /* per cutoff, fitted on demand */
} FcKept;

typedef struct FcCache
{
	MemoryContext cxt;
	FcOptions	  o;
	int			  ncut;
	int32		 *idx;
	int			  S;
	FcKept		  root;
	RootFit		**roots; /* per cutoff */
	int			  nparents;
	int			  next; /* the parent slot to reuse when full */
	FcKept		  parents[FC_CACHED_PARENTS];
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
	FcCache *fc = (FcCache *) fcinfo->flinfo->fn_extra;

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
		RootFit		 *rf = palloc0(sizeof(RootFit));

		fc_fit_init(&rf->f, fc->S, r->nages, r->horizons);
		fc_fit_root(rf, r, fc->idx[ci], &fc->o);
		fc->roots[ci] = rf;
		MemoryContextSwitchTo(old);
	}
	return fc->roots[ci];
}

static const Fit *
CachedParent(FcCache *fc, const CloseSummary *p, const CloseSummary *r, int ci)
{
	FcKept *k = NULL;

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
		MemoryContext  old = MemoryContextSwitchTo(fc->cxt);
		Fit			  *f = palloc0(sizeof(Fit));

		fc_fit_init(f, fc->S, p->nages, p->horizons);
		fc_fit_count(f, p, fc->idx[ci], fc->o.lookback);
		fc_fit_smooth(f, &rf->f, &fc->o);
		k->fits[ci] = f;
		MemoryContextSwitchTo(old);
	}
	return k->fits[ci];
}

/*
 * close_forecast's argument adjust, when given: root's factors per cutoff
 * and window (close_forecast_adjust's output), checked to fit.
 */
static double *
ArgAdjust(FunctionCallInfo fcinfo, int argno, int ncut, const FcOptions *o)
{
	ArrayType *adj;

	if (PG_ARGISNULL(argno))
		return NULL;
	adj = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(adj) != 2 || ARR_DIMS(adj)[0] != ncut || ARR_DIMS(adj)[1] != o->horizon ||
		array_contains_nulls(adj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast: adjust must be a cutoffs x horizon array without NULLs"),
				 errhint("Pass close_forecast_adjust() of the root with the same cutoffs and options.")));
	return (double *) lk_array_data(adj);
}

/* One row of close_forecast: window h of the cutoff in bj. */
static void
PutForecastRow(ReturnSetInfo *rsi, const CsBlockView *bj, int h, const Row *row, const Basis *basis)
{
	Datum v[21];
	bool  nl[21] = { 0 };
	bool  observed = h <= bj->obs;

	v[0] = TimestampTzGetDatum(bj->t);
	v[1] = Int32GetDatum(h);
	v[2] = TimestampTzGetDatum(bj->end[h - 1]);
	v[3] = TimestampTzGetDatum(bj->end[h]);
	v[4] = Int64GetDatum(bj->closings[h]);
	nl[4] = !observed;
	v[5] = Float8GetDatum(fc_money_double(&bj->revenue[h]));
	nl[5] = !observed;
	v[6] = Float8GetDatum(row->pipeline);
	v[7] = Float8GetDatum(row->pipeline_var);
	v[8] = Float8GetDatum(row->new_leads);
	v[9] = Float8GetDatum(row->new_var);
	v[10] = Float8GetDatum(row->revenue);
	v[11] = Float8GetDatum(row->revenue_var);
	v[12] = Float8GetDatum(row->revenue_pipeline);
	v[13] = Int64GetDatum(basis->open);
	v[14] = Int64GetDatum(basis->stale);
	v[15] = Int64GetDatum(basis->with_amount);
	v[16] = Int64GetDatum((int64) basis->min_cell);
	nl[16] = basis->min_cell < 0;
	v[17] = Float8GetDatum(row->run_rate);
	v[18] = Float8GetDatum(row->fixed_stage);
	v[19] = Float8GetDatum(row->stage_rate);
	v[20] = Int64GetDatum((int64) row->actual_pipeline);
	nl[20] = !observed;
	tuplestore_putvalues(rsi->setResult, rsi->setDesc, v, nl);
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
	int32		  *idx;
	int			   ncut;
	FcOptions	   o;
	int			   S;
	Fit			   fm;
	ReturnSetInfo *rsi;
	Row			  *rows;
	Basis		   basis;
	double		  *adjust;
	FcCache		  *fc;
	CsBlockView	  *bj;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	m = PG_GETARG_CLOSE_SUMMARY(0);
	r = ArgSummary(fcinfo, 2, m);
	p = ArgSummary(fcinfo, 1, r);
	fc_check_same_grid(m, p);
	fc_check_same_grid(m, r);
	idx = fc_cutoff_blocks(m, PG_GETARG_ARRAYTYPE_P(3), &ncut);
	fc_options(fcinfo, 4, m, &o);
	adjust = ArgAdjust(fcinfo, 11, ncut, &o);

	/* the root has every stage any member or parent has */
	S = Max(Max(m->nstages, p->nstages), r->nstages);
	fc = GetCache(fcinfo, r, &o, idx, ncut, S);
	InitMaterializedSRF(fcinfo, 0);
	rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	fc_fit_init(&fm, S, m->nages, m->horizons);
	rows = palloc(sizeof(Row) * (o.horizon + 1));
	bj = palloc(sizeof(CsBlockView));

	for (int ci = 0; ci < ncut; ci++)
	{
		int32		   j = idx[ci];
		const RootFit *rf = CachedRoot(fc, r, ci);
		const Fit	  *f = &rf->f;

		if (m != r)
		{
			fc_fit_count(&fm, m, j, o.lookback);
			fc_fit_smooth(&fm, CachedParent(fc, p, r, ci), &o);
			f = &fm;
		}
		fc_forecast(m, f, m != r ? CachedParent(fc, p, r, ci) : f, rf, j, &o, rows, &basis, bj);
		for (int h = 1; h <= o.horizon; h++)
		{
			if (adjust)
				fc_scale_row(&rows[h], adjust[ci * o.horizon + h - 1]);
			PutForecastRow(rsi, bj, h, &rows[h], &basis);
		}
	}
	return (Datum) 0;
}
