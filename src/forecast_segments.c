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
	FsMember *mem;
	int		  nmem,
		npar,
		nseg;
	int *parent_first,
		*seg_first;
	CloseSummary **parents;
	CloseSummary  *root = NULL;
	const char	  *by;
	FcOptions	   o;
	int32		  *idx,
		*tidx;
	int ncut,
		ntarget,
		calibration,
		S,
		H;
	double	*adjust;
	FsSum	*sums;
	RootFit *rf;
	Fit	   **pfit,
		**fm;
	Row			  *rows;
	Basis		   basis;
	CsBlockView	  *bj;
	ReturnSetInfo *rsi;
	double		  *z2,
		*z2r;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_NULL();
	by = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (by && strcmp(by, "campaign") != 0 && strcmp(by, "channel") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("close_forecast_segments: unknown segment column %s", quote_identifier(by)),
				 errhint("Pass by => NULL (one forecast), 'campaign' or 'channel'.")));
	calibration = PG_GETARG_INT32(4);
	mem = ReadMembers(PG_GETARG_ARRAYTYPE_P(0), &nmem);
	InitMaterializedSRF(fcinfo, 0);
	rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	if (nmem == 0)
		return (Datum) 0;

	/* the parents (channels) and the root */
	{
		int *key = palloc(sizeof(int) * nmem);

		parent_first = palloc(sizeof(int) * nmem);
		npar = GroupMembers(mem, nmem, true, key, parent_first);
		parents = palloc0(sizeof(CloseSummary *) * npar);
		for (int i = 0; i < nmem; i++)
		{
			mem[i].parent = key[i];
			parents[key[i]] = cs_rollup(parents[key[i]], mem[i].s, "close_forecast_segments");
		}
		/* kept dense: they are only read, and every reader reads that form too */
		for (int p = 0; p < npar; p++)
			root = cs_rollup(root, parents[p], "close_forecast_segments");
		seg_first = palloc(sizeof(int) * nmem);
		if (by == NULL)
		{
			for (int i = 0; i < nmem; i++)
				mem[i].segment = 0;
			seg_first[0] = 0;
			nseg = 1;
		}
		else
		{
			nseg = GroupMembers(mem, nmem, strcmp(by, "channel") == 0, key, seg_first);
			for (int i = 0; i < nmem; i++)
				mem[i].segment = key[i];
		}
		pfree(key);
	}
	for (int i = 0; i < nmem; i++)
		fc_check_same_grid(mem[i].s, root);

	fc_options(fcinfo, 5, root, &o);
	H = o.horizon;
	idx = fc_cutoff_blocks(root, PG_GETARG_ARRAYTYPE_P(2), &ncut);
	tidx = fc_cutoff_blocks(root, PG_GETARG_ARRAYTYPE_P(3), &ntarget);
	if (calibration < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_forecast_segments: calibration must not be negative")));
	adjust = palloc(sizeof(double) * Max(ncut, 1) * H);
	fc_adjust(root, idx, ncut, &o, adjust);

	/* every member at every cutoff, summed per segment */
	S = root->nstages;
	sums = palloc0(sizeof(FsSum) * nseg * Max(ncut, 1) * H);
	for (int i = 0; i < nseg * ncut * H; i++)
		sums[i].min_cell = -1;
	/* the root's and parents' fits at every cutoff, then every member's at once */
	rf = palloc0(sizeof(RootFit) * Max(ncut, 1));
	pfit = palloc(sizeof(Fit *) * npar * Max(ncut, 1));
	fm = palloc(sizeof(Fit *) * Max(ncut, 1));
	for (int ci = 0; ci < ncut; ci++)
	{
		fc_fit_init(&rf[ci].f, S, root->nages, root->horizons);
		fc_fit_root(&rf[ci], root, idx[ci], &o);
		fm[ci] = palloc(sizeof(Fit));
		fc_fit_init(fm[ci], S, root->nages, root->horizons);
	}
	for (int p = 0; p < npar; p++)
	{
		Fit **pf = &pfit[p * ncut];

		CHECK_FOR_INTERRUPTS();
		for (int ci = 0; ci < ncut; ci++)
		{
			pf[ci] = palloc(sizeof(Fit));
			fc_fit_init(pf[ci], S, root->nages, root->horizons);
		}
		fc_fit_count_many(pf, parents[p], idx, ncut, o.lookback);
		for (int ci = 0; ci < ncut; ci++)
			fc_fit_smooth(pf[ci], &rf[ci].f, &o);
	}
	rows = palloc(sizeof(Row) * (H + 1));
	bj = palloc(sizeof(CsBlockView));
	for (int i = 0; i < nmem; i++)
	{
		const CloseSummary *m = mem[i].s;

		CHECK_FOR_INTERRUPTS();
		fc_fit_count_many(fm, m, idx, ncut, o.lookback);
		for (int ci = 0; ci < ncut; ci++)
		{
			int32 j = idx[ci];

			fc_fit_smooth(fm[ci], pfit[mem[i].parent * ncut + ci], &o);
			fc_forecast(m, fm[ci], pfit[mem[i].parent * ncut + ci], &rf[ci], j, &o, rows, &basis, bj);
			for (int h = 1; h <= H; h++)
			{
				Row	  *row = &rows[h];
				FsSum *a = &sums[((Size) mem[i].segment * ncut + ci) * H + h - 1];

				fc_scale_row(row, adjust[ci * H + h - 1]);
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
				a->open += basis.open;
				a->stale += basis.stale;
				a->with_amount += basis.with_amount;
				if (basis.min_cell >= 0 && (a->min_cell < 0 || basis.min_cell < a->min_cell))
					a->min_cell = basis.min_cell;
			}
		}
	}

	/* the target cutoffs, each calibrated on the cutoffs before it */
	z2 = palloc(sizeof(double) * Max(ncut, 1));
	z2r = palloc(sizeof(double) * Max(ncut, 1));
	for (int g = 0; g < nseg; g++)
		for (int ti = 0; ti < ntarget; ti++)
		{
			int32 jt = tidx[ti];
			int	  ct = -1;
			int64 t = cs_block_t(root, jt);

			for (int ci = 0; ci < ncut; ci++)
				if (idx[ci] == jt)
					ct = ci;
			if (ct < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("close_forecast_segments: every target must be among the cutoffs")));
			for (int h = 1; h <= H; h++)
			{
				const FsSum *a = &sums[((Size) g * ncut + ct) * H + h - 1];
				int			 n = 0,
					nr = 0,
					counted = 0,
					counted_r = 0;
				double phi,
					rev_phi;
				Datum			v[24];
				bool			nl[24] = { 0 };
				const FsMember *key = &mem[seg_first[g]];
				text		   *segment = by == NULL ? NULL : strcmp(by, "channel") == 0 ? key->channel :
																						   key->campaign;

				for (int ci = 0; ci < ncut; ci++)
				{
					const FsSum *b = &sums[((Size) g * ncut + ci) * H + h - 1];

					/* earlier cutoffs within the calibration, windows ended by the target */
					if (idx[ci] >= jt || idx[ci] < jt - calibration || !b->observed || b->window_end > t)
						continue;
					counted++;
					if (b->var > 0)
						z2[n++] = pow((double) b->actual - b->mean, 2) / b->var;
					counted_r++;
					if (b->rev_var > 0)
						z2r[nr++] = pow(b->actual_revenue - b->rev, 2) / b->rev_var;
				}
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
				phi = Dispersion(z2, n, counted);
				rev_phi = Dispersion(z2r, nr, counted_r);

				/*
				 * Revenue's interval is never relatively narrower than that of
				 * closings: a deal that does not close takes its revenue with
				 * it, so the calibrated count variance, at the mean amount,
				 * is a floor of revenue's.
				 */
				if (a->rev_var > 0 && a->mean > 0)
					rev_phi = Max(rev_phi, pow(a->rev / a->mean, 2) * a->var * phi / a->rev_var);
				v[21] = Float8GetDatum(phi);
				v[22] = Float8GetDatum(rev_phi);
				v[23] = Float8GetDatum(a->actual_pipeline);
				nl[23] = !a->observed;
				tuplestore_putvalues(rsi->setResult, rsi->setDesc, v, nl);
			}
		}
	return (Datum) 0;
}
