/*
 * close_forecast.h: the forecast method on close summaries, shared by
 * close_forecast.c (the method, close_forecast() and close_forecast_adjust()
 * on one member) and forecast_segments.c (the whole forecast over segments).
 */
#ifndef LEADKPI_CLOSE_FORECAST_H
#define LEADKPI_CLOSE_FORECAST_H

#include "close_summary.h"

/* What a member, its parent or the root knew at a cutoff: counts, then rates. */
typedef struct Fit
{
	int S,
		A,
		H;
	double *N;	/* [(s*A + a)*H + h-1]: open at a snapshot, window h observed */
	double *W;	/* won in window h */
	double *p;	/* smoothed chance of a win in window h */
	double *a1, /* [hw-1] arrivals in window 1 with window hw observed */
		*w1,	/* of those, won in window hw */
		*q1;	/* smoothed */
	double *al, /* [d] arrivals in window ha >= 2 with window ha+d observed */
		*wl,
		*ql;
	double rev_n, /* wins with a revenue, in window 1 of the snapshots */
		rev,
		rev_sq;
	double mu, /* smoothed mean won revenue */
		m2;	   /* and its second moment */
} Fit;

typedef struct FcOptions
{
	int	   horizon;		 /* windows forecast */
	int	   lookback;	 /* earlier snapshots a fit reads */
	int	   stale_from;	 /* first stale age bucket; nages when none */
	int	   run_periods;	 /* periods of the run rate and the arrival rate */
	int	   season;		 /* snapshots per year for the seasonal factors; 0: none */
	double kappa;		 /* prior strength of a rate, in leads */
	double kappa_amount; /* prior strength of a mean amount, in wins */
} FcOptions;

#define IDX(f, s, a, h) ((((Size) (s)) * (f)->A + (a)) * (f)->H + (h) -1)

typedef struct Row
{
	double pipeline,
		pipeline_var,
		new_leads,
		new_var,
		revenue,
		revenue_var,
		revenue_pipeline,
		run_rate,
		fixed_stage,
		stage_rate,
		actual_pipeline; /* what the open leads forecast from did win (observed windows) */
} Row;

/* What a forecast rests on, beside its rows. */
typedef struct Basis
{
	int64 open,
		stale,
		with_amount;
	double min_cell; /* -1: no open cell */
} Basis;

/* The root's fit at a cutoff, with the baselines' stage timing and rates. */
typedef struct RootFit
{
	Fit	   f;
	double season[CS_MAX_HORIZONS + 1]; /* seasonal factor of arrivals in window h */
} RootFit;

extern double fc_money_double(const LkMoney *m);
extern void	  fc_fit_init(Fit *f, int S, int A, int H);
extern void	  fc_fit_count(Fit *f, const CloseSummary *x, int32 j, int L);
extern void	  fc_fit_count_many(Fit **fits, const CloseSummary *x, const int32 *idx, int ncut, int L);
extern void	  fc_fit_smooth(Fit *f, const Fit *parent, const FcOptions *o);
extern void	  fc_fit_root(RootFit *rf, const CloseSummary *r, int32 j, const FcOptions *o);
extern void	  fc_forecast(const CloseSummary *m, const Fit *f, const Fit *pf, const RootFit *rf, int32 j,
						  const FcOptions *o, Row *rows, Basis *basis, CsBlockView *bj);
extern void	  fc_scale_row(Row *row, double k);
extern void	  fc_adjust(const CloseSummary *r, const int32 *idx, int ncut, const FcOptions *o, double *out);
extern void	  fc_check_same_grid(const CloseSummary *a, const CloseSummary *b);
extern int32 *fc_cutoff_blocks(const CloseSummary *s, ArrayType *ca, int *ncut);
extern void	  fc_options(FunctionCallInfo fcinfo, int first, const CloseSummary *m, FcOptions *o);

#endif /* LEADKPI_CLOSE_FORECAST_H */
