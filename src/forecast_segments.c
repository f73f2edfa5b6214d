/*
 * forecast_segments.c: close_forecast_segments, the whole forecast over the
 * summaries of many members (campaign and channel, possibly per cohort) in
 * one call: members of the same campaign and channel rolled up, their
 * channels (the parents) and everything (the root) too; the method of
 * close_forecast.c on every member at every cutoff, with the root's
 * correction (fc_adjust); the sums per segment (the campaign, the channel or
 * everything); and the calibration of each target cutoff's variance on the
 * cutoffs before it.  forecast_closings() and forecast_backtest() read its
 * rows and add the intervals.
 *
 * Members are taken in the order of their campaign and channel, so the
 * float sums of a segment are the same whatever order the members came in
 * (raw tables and stores give the same forecast).
 */
#include "close_forecast.h"

#include <math.h>

/* PostgreSQL's headers under -Wextra: unused parameters of their inline functions */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "access/htup_details.h"
#include "funcapi.h"
#pragma GCC diagnostic pop
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* the median of a chi-square with one degree of freedom */
#define CHI2_1_MEDIAN 0.454936423119572

typedef struct FsMember
{
	text			   *campaign;
	text			   *channel;
	const CloseSummary *s;
	int					parent; /* its channel's */
	int					segment;
} FsMember;

/* A segment's sums at one cutoff and window. */
typedef struct FsSum
{
	bool   observed;
	int64  actual;
	double actual_revenue,
		actual_pipeline,
		mean,
		var,
		pipeline,
		new_leads,
		rev,
		rev_var,
		rev_pipeline,
		run_rate,
		fixed_stage,
		stage_rate;
	int64 open,
		stale,
		with_amount;
	double min_cell; /* -1: none */
	int64  window_start,
		window_end;
} FsSum;

static int
TextCmp(const text *a, const text *b)
{
	int la,
		lb,
		c;

	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL); /* NULL first */
	la = VARSIZE_ANY_EXHDR(a);
	lb = VARSIZE_ANY_EXHDR(b);
	c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));
	return c != 0 ? c : (la > lb) - (la < lb);
}

static int
MemberCmp(const void *x, const void *y)
{
	const FsMember *a = x,
				   *b = y;
	int c = TextCmp(a->campaign, b->campaign);

	return c != 0 ? c : TextCmp(a->channel, b->channel);
}

/* Sorting member indexes by a key: the channel, or the segment's key. */
static const FsMember *sort_members;
static bool			   sort_by_channel;

static int
IndexCmp(const void *x, const void *y)
{
	const FsMember *a = &sort_members[*(const int *) x],
				   *b = &sort_members[*(const int *) y];
	int c = sort_by_channel ? TextCmp(a->channel, b->channel) : TextCmp(a->campaign, b->campaign);

	return c != 0 ? c : (*(const int *) x > *(const int *) y) - (*(const int *) x < *(const int *) y);
}

static int
CompareDouble(const void *a, const void *b)
{
	double x = *(const double *) a,
		   y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* percentile_cont(0.5) of v[0..n-1] (sorted in place); NaN for none. */
static double
Median(double *v, int n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(double), CompareDouble);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The members from a close_segment[]: the non-NULL summaries with their
 * campaign and channel, sorted, those of the same campaign and channel
 * rolled up into one.
 */
static FsMember *
ReadMembers(ArrayType *arr, int *nout)
{
	Oid	   elemtype = ARR_ELEMTYPE(arr);
	int16  typlen;
	bool   typbyval;
	char   typalign;
	Datum *elems;
	bool  *nulls;
	int	   n,
		m = 0,
		out = 0;
	FsMember *mem;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);
	mem = palloc(sizeof(FsMember) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader t;
		bool			isnull;
		Datum			d;

		if (nulls[i])
			continue;
		t = DatumGetHeapTupleHeader(elems[i]);
		d = GetAttributeByNum(t, 4, &isnull);
		if (isnull)
			continue;
		mem[m].s = DatumGetCloseSummary(d);
		d = GetAttributeByNum(t, 1, &isnull);
		mem[m].campaign = isnull ? NULL : DatumGetTextPP(d);
		d = GetAttributeByNum(t, 2, &isnull);
		mem[m].channel = isnull ? NULL : DatumGetTextPP(d);
		m++;
	}
	qsort(mem, m, sizeof(FsMember), MemberCmp);
	for (int i = 0; i < m;)
	{
		int j = i + 1;

		while (j < m && MemberCmp(&mem[i], &mem[j]) == 0)
			j++;
		mem[out] = mem[i];
		if (j > i + 1)
		{
			CloseSummary *acc = NULL;

			for (int k = i; k < j; k++)
				acc = cs_rollup(acc, mem[k].s, "close_forecast_segments");
			mem[out].s = cs_compact(acc);
		}
		out++;
		i = j;
	}
	*nout = out;
	return mem;
}

/*
 * Numbers the distinct keys of the members (by channel, or by campaign)
 * into key[member]; returns how many, and in first[g] a member of each.
 */
static int
GroupMembers(FsMember *mem, int n, bool by_channel, int *key, int *first)
{
	int *order = palloc(sizeof(int) * Max(n, 1));
	int	 g = -1;

	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_members = mem;
	sort_by_channel = by_channel;
	qsort(order, n, sizeof(int), IndexCmp);
	for (int i = 0; i < n; i++)
	{
		const FsMember *a = &mem[order[i]];

		if (i == 0 || (by_channel ? TextCmp(a->channel, mem[order[i - 1]].channel) : TextCmp(a->campaign, mem[order[i - 1]].campaign)) != 0)
			first[++g] = order[i];
		key[order[i]] = g;
	}
	pfree(order);
	return g + 1;
}

/* phi: the calibration of the variance from earlier standardized errors (see forecast_closings). */
static double
Dispersion(double *z2, int n, int counted)
{
	double med = Median(z2, n);
	double k = isnan(med) ? 1.0 : med / CHI2_1_MEDIAN;

	return Max(1.0, (counted * k + 2) / (counted + 2));
}

/* One call's members, their groups, cutoffs and sums, shared by its steps. */
typedef struct FsRun
{
	FsMember *mem;
	int		  nmem,
		npar,
		nseg;
	int			  *seg_first; /* a member of each segment */
	CloseSummary **parents;
	CloseSummary  *root;
	const char	  *by;
	FcOptions	   o;
	int32		  *idx, /* the cutoffs' blocks */
		*tidx;			/* the targets' */
	int ncut,
		ntarget,
		calibration;
	double *adjust; /* the root's correction per cutoff and window */
	FsSum  *sums;	/* per segment, cutoff and window */
} FsRun;

/*
 * The parents (channels), the root and the segments of the members.  The
 * parents and the root are kept dense: they are only read, and every reader
 * reads that form too.
 */
static void
FsGroup(FsRun *r)
{
	FsMember *mem = r->mem;
	int		  nmem = r->nmem;
	int		 *key = palloc(sizeof(int) * nmem);
	int		 *parent_first = palloc(sizeof(int) * nmem);

	r->npar = GroupMembers(mem, nmem, true, key, parent_first);
	r->parents = palloc0(sizeof(CloseSummary *) * r->npar);
	for (int i = 0; i < nmem; i++)
	{
		mem[i].parent = key[i];
		r->parents[key[i]] = cs_rollup(r->parents[key[i]], mem[i].s, "close_forecast_segments");
	}
	for (int p = 0; p < r->npar; p++)
		r->root = cs_rollup(r->root, r->parents[p], "close_forecast_segments");
	r->seg_first = palloc(sizeof(int) * nmem);
	if (r->by == NULL)
	{
		for (int i = 0; i < nmem; i++)
			mem[i].segment = 0;
		r->seg_first[0] = 0;
		r->nseg = 1;
	}
	else
	{
		r->nseg = GroupMembers(mem, nmem, strcmp(r->by, "channel") == 0, key, r->seg_first);
		for (int i = 0; i < nmem; i++)
			mem[i].segment = key[i];
	}
	pfree(key);
}

/* Adds one member's forecast row of window h (scaled by the root's correction) to its segment's sum. */
static void
FsAdd(FsSum *a, Row *row, const Basis *basis, const CsBlockView *bj, int h, double adjust)
{
	fc_scale_row(row, adjust);
	a->window_start = bj->end[h - 1];
	a->window_end = bj->end[h];
	if (h <= bj->obs)
	{
		a->observed = true;
		a->actual = lk_add_count(a->actual, bj->closings[h]);
		a->actual_revenue += fc_money_double(&bj->revenue[h]);
		a->actual_pipeline += row->actual_pipeline;
	}
	a->mean += row->pipeline + row->new_leads;
	a->var += row->pipeline_var + row->new_var;
	a->pipeline += row->pipeline;
	a->new_leads += row->new_leads;
	a->rev += row->revenue;
	a->rev_var += row->revenue_var;
	a->rev_pipeline += row->revenue_pipeline;
	a->run_rate += row->run_rate;
	a->fixed_stage += row->fixed_stage;
	a->stage_rate += row->stage_rate;
	a->open += basis->open;
	a->stale += basis->stale;
	a->with_amount += basis->with_amount;
	if (basis->min_cell >= 0 && (a->min_cell < 0 || basis->min_cell < a->min_cell))
		a->min_cell = basis->min_cell;
}

/*
 * Every member at every cutoff, summed per segment: the root's and parents'
 * fits at every cutoff first, then every member's at once (a member's fit
 * is smoothed towards its parent's, a parent's towards the root's).
 */
static void
FsSumMembers(FsRun *r)
{
	const CloseSummary *root = r->root;
	int					S = root->nstages,
		H = r->o.horizon,
		ncut = r->ncut;
	RootFit		*rf = palloc0(sizeof(RootFit) * Max(ncut, 1));
	Fit		   **pfit = palloc(sizeof(Fit *) * r->npar * Max(ncut, 1));
	Fit		   **fm = palloc(sizeof(Fit *) * Max(ncut, 1));
	Row			*rows = palloc(sizeof(Row) * (H + 1));
	CsBlockView *bj = palloc(sizeof(CsBlockView));
	Basis		 basis;

	r->sums = palloc0(sizeof(FsSum) * r->nseg * Max(ncut, 1) * H);
	for (int i = 0; i < r->nseg * ncut * H; i++)
		r->sums[i].min_cell = -1;
	for (int ci = 0; ci < ncut; ci++)
	{
		fc_fit_init(&rf[ci].f, S, root->nages, root->horizons);
		fc_fit_root(&rf[ci], root, r->idx[ci], &r->o);
		fm[ci] = palloc(sizeof(Fit));
		fc_fit_init(fm[ci], S, root->nages, root->horizons);
	}
	for (int p = 0; p < r->npar; p++)
	{
		Fit **pf = &pfit[p * ncut];

		CHECK_FOR_INTERRUPTS();
		for (int ci = 0; ci < ncut; ci++)
		{
			pf[ci] = palloc(sizeof(Fit));
			fc_fit_init(pf[ci], S, root->nages, root->horizons);
		}
		fc_fit_count_many(pf, r->parents[p], r->idx, ncut, r->o.lookback);
		for (int ci = 0; ci < ncut; ci++)
			fc_fit_smooth(pf[ci], &rf[ci].f, &r->o);
	}
	for (int i = 0; i < r->nmem; i++)
	{
		const FsMember *mi = &r->mem[i];

		CHECK_FOR_INTERRUPTS();
		fc_fit_count_many(fm, mi->s, r->idx, ncut, r->o.lookback);
		for (int ci = 0; ci < ncut; ci++)
		{
			Fit *parent = pfit[mi->parent * ncut + ci];

			fc_fit_smooth(fm[ci], parent, &r->o);
			fc_forecast(mi->s, fm[ci], parent, &rf[ci], r->idx[ci], &r->o, rows, &basis, bj);
			for (int h = 1; h <= H; h++)
				FsAdd(&r->sums[((Size) mi->segment * ncut + ci) * H + h - 1], &rows[h], &basis, bj, h,
					  r->adjust[ci * H + h - 1]);
		}
	}
}

/*
 * phi and rev_phi of segment g's window h at target block jt (time t): the
 * dispersions of its earlier cutoffs within the calibration whose windows
 * ended by the target (so known at the target), z2 and z2r scratch space.
 */
static void
FsCalibrate(const FsRun *r, int g, int h, int32 jt, int64 t, double *z2, double *z2r, double *phi,
			double *rev_phi)
{
	int n = 0,
		nr = 0,
		counted = 0,
		counted_r = 0;

	for (int ci = 0; ci < r->ncut; ci++)
	{
		const FsSum *b = &r->sums[((Size) g * r->ncut + ci) * r->o.horizon + h - 1];

		if (r->idx[ci] >= jt || r->idx[ci] < jt - r->calibration || !b->observed || b->window_end > t)
			continue;
		counted++;
		if (b->var > 0)
			z2[n++] = pow((double) b->actual - b->mean, 2) / b->var;
		counted_r++;
		if (b->rev_var > 0)
			z2r[nr++] = pow(b->actual_revenue - b->rev, 2) / b->rev_var;
	}
	*phi = Dispersion(z2, n, counted);
	*rev_phi = Dispersion(z2r, nr, counted_r);
}

/* One output row: a segment's sums at a target cutoff (time t) and window h, with phi and rev_phi. */
static void
FsPutRow(ReturnSetInfo *rsi, text *segment, int64 t, int h, const FsSum *a, double phi, double rev_phi)
{
	Datum v[24];
	bool  nl[24] = { 0 };

	v[0] = PointerGetDatum(segment);
	nl[0] = segment == NULL;
	v[1] = TimestampTzGetDatum(t);
	v[2] = Int32GetDatum(h);
	v[3] = TimestampTzGetDatum(a->window_start);
	v[4] = TimestampTzGetDatum(a->window_end);
	v[5] = Float8GetDatum((double) a->actual);
	nl[5] = !a->observed;
	v[6] = Float8GetDatum(a->actual_revenue);
	nl[6] = !a->observed;
	v[7] = Float8GetDatum(a->mean);
	v[8] = Float8GetDatum(a->var);
	v[9] = Float8GetDatum(a->pipeline);
	v[10] = Float8GetDatum(a->new_leads);
	v[11] = Float8GetDatum(a->rev);
	v[12] = Float8GetDatum(a->rev_var);
	v[13] = Float8GetDatum(a->rev_pipeline);
	v[14] = Int64GetDatum(a->open);
	v[15] = Int64GetDatum(a->stale);
	v[16] = Int64GetDatum(a->with_amount);
	v[17] = Int64GetDatum((int64) a->min_cell);
	nl[17] = a->min_cell < 0;
	v[18] = Float8GetDatum(a->run_rate);
	v[19] = Float8GetDatum(a->fixed_stage);
	v[20] = Float8GetDatum(a->stage_rate);
	v[21] = Float8GetDatum(phi);
	v[22] = Float8GetDatum(rev_phi);
	v[23] = Float8GetDatum(a->actual_pipeline);
	nl[23] = !a->observed;
	tuplestore_putvalues(rsi->setResult, rsi->setDesc, v, nl);
}

/* The target cutoffs' rows, each calibrated on the cutoffs before it. */
static void
FsEmitTargets(const FsRun *r, ReturnSetInfo *rsi)
{
	int		H = r->o.horizon;
	double *z2 = palloc(sizeof(double) * Max(r->ncut, 1));
	double *z2r = palloc(sizeof(double) * Max(r->ncut, 1));

	for (int g = 0; g < r->nseg; g++)
		for (int ti = 0; ti < r->ntarget; ti++)
		{
			int32			jt = r->tidx[ti];
			int				ct = -1;
			int64			t = cs_block_t(r->root, jt);
			const FsMember *key = &r->mem[r->seg_first[g]];
			text		   *segment = r->by == NULL					? NULL :
									  strcmp(r->by, "channel") == 0 ? key->channel :
																	  key->campaign;

			for (int ci = 0; ci < r->ncut; ci++)
				if (r->idx[ci] == jt)
					ct = ci;
			if (ct < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("close_forecast_segments: every target must be among the cutoffs")));
			for (int h = 1; h <= H; h++)
			{
				const FsSum *a = &r->sums[((Size) g * r->ncut + ct) * H + h - 1];
				double		 phi,
					rev_phi;

				FsCalibrate(r, g, h, jt, t, z2, z2r, &phi, &rev_phi);

				/*
				 * Revenue's interval is never relatively narrower than that of
				 * closings: a deal that does not close takes its revenue with
				 * it, so the calibrated count variance, at the mean amount,
				 * is a floor of revenue's.
				 */
				if (a->rev_var > 0 && a->mean > 0)
					rev_phi = Max(rev_phi, pow(a->rev / a->mean, 2) * a->var * phi / a->rev_var);
				FsPutRow(rsi, segment, t, h, a, phi, rev_phi);
			}
		}
}

/*
 * close_forecast_segments(members close_segment[], by text,
 *     cutoffs timestamptz[], targets timestamptz[], calibration integer,
 *     horizon, lookback, stale_after, season, kappa, kappa_amount,
 *     run_periods)
 * One row per segment, target cutoff and window.
 */
PG_FUNCTION_INFO_V1(close_forecast_segments);
Datum
close_forecast_segments(PG_FUNCTION_ARGS)
{
	FsRun		   r = { 0 };
	ReturnSetInfo *rsi;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_NULL();
	r.by = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (r.by && strcmp(r.by, "campaign") != 0 && strcmp(r.by, "channel") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("close_forecast_segments: unknown segment column %s", quote_identifier(r.by)),
				 errhint("Pass by => NULL (one forecast), 'campaign' or 'channel'.")));
	r.calibration = PG_GETARG_INT32(4);
	r.mem = ReadMembers(PG_GETARG_ARRAYTYPE_P(0), &r.nmem);
	InitMaterializedSRF(fcinfo, 0);
	rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	if (r.nmem == 0)
		return (Datum) 0;

	FsGroup(&r);
	for (int i = 0; i < r.nmem; i++)
		fc_check_same_grid(r.mem[i].s, r.root);
	fc_options(fcinfo, 5, r.root, &r.o);
	r.idx = fc_cutoff_blocks(r.root, PG_GETARG_ARRAYTYPE_P(2), &r.ncut);
	r.tidx = fc_cutoff_blocks(r.root, PG_GETARG_ARRAYTYPE_P(3), &r.ntarget);
	if (r.calibration < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast_segments: calibration must not be negative")));
	r.adjust = palloc(sizeof(double) * Max(r.ncut, 1) * r.o.horizon);
	fc_adjust(r.root, r.idx, r.ncut, &r.o, r.adjust);

	FsSumMembers(&r);
	FsEmitTargets(&r, rsi);
	return (Datum) 0;
}
