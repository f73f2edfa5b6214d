/*
 * forecast_dist.c: quantiles of the forecast's distributions, from a mean
 * and a variance (what a sum of independent parts keeps exactly).
 *
 * A count of closings is a sum of Bernoulli outcomes (Poisson-binomial)
 * plus Poisson new leads, widened by rate uncertainty and by the
 * calibration.  Its quantiles come from the two-parameter count
 * distribution with the same mean and variance: binomial when the variance
 * is below the mean (the Poisson-binomial's own case), Poisson when equal,
 * negative binomial above.  These match the first two moments exactly and
 * keep the skew of small counts, which a normal curve would lose (and put
 * below zero).  An amount of revenue is positive and right-skewed: a
 * log-normal with the same mean and variance, above the chance that
 * nothing closes at all.
 */
#include "leadkpi.h"

#include <math.h>

#include "utils/float.h"

/*
 * The standard normal quantile, Wichura's algorithm AS 241 (PPND16):
 * relative accuracy about 1e-16.
 */
static double
NormalQuantile(double p)
{
	double		q = p - 0.5,
				r,
				x;

	if (fabs(q) <= 0.425)
	{
		r = 0.180625 - q * q;
		return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r
						+ 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r
					 + 133.14166789178437745) * r + 3.387132872796366608)
			/ (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r
				   + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r
				+ 42.313330701600911252) * r + 1.0);
	}
	r = q < 0 ? p : 1 - p;
	r = sqrt(-log(r));
	if (r <= 5)
	{
		r -= 1.6;
		x = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r
				 + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r
			  + 4.6303378461565452959) * r + 1.42343711074968357734)
			/ (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r
				   + 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r
				+ 2.05319162663775882187) * r + 1.0);
	}
	else
	{
		r -= 5;
		x = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r
				 + 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r
			  + 5.4637849111641143699) * r + 6.6579046435011037772)
			/ (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
				   + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
				+ 0.59983220655588793769) * r + 1.0);
	}
	return q < 0 ? -x : x;
}

static void
CheckArgs(double mean, double var, double q, const char *fn)
{
	if (isnan(mean) || isnan(var) || isinf(mean) || isinf(var))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: mean and variance must be finite", fn),
				 errhint("Pass the mean and variance of a forecast, e.g. from close_forecast().")));
	if (!(q > 0 && q < 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: fraction %g is not between 0 and 1 (exclusive)", fn, q),
				 errhint("Pass the probability below the quantile, e.g. 0.1 for the low end of an 80%% interval.")));
}

/*
 * The q-quantile (the smallest k with P(X <= k) >= q) of a count with this
 * mean and variance, summing the probabilities in log space from 0 up.
 */
static int64
CountQuantile(double mean, double var, double q)
{
	double		cdf = 0;
	double		logp0,
				a,
				b;
	int			kind;			/* 0 binomial, 1 Poisson, 2 negative binomial */
	double		n = 0,
				pr = 0,
				r = 0;

	if (mean <= 0)
		return 0;
	var = Max(var, 0);
	/* far from zero every shape is normal to within a count */
	if (mean > 20000)
		return (int64) Max(0, ceil(mean + NormalQuantile(q) * sqrt(var) - 0.5));
	if (var < mean * (1 - 1e-9))
	{
		kind = 0;
		/* a whole number of trials, at least the mean */
		n = Max(round(mean * mean / (mean - var)), ceil(mean));
		pr = mean / n;
		if (pr >= 1)
			return (int64) n;
	}
	else if (var <= mean * (1 + 1e-9))
		kind = 1;
	else
	{
		kind = 2;
		r = mean * mean / (var - mean);
		pr = mean / var;		/* the chance of a success per trial */
	}
	logp0 = kind == 0 ? 0 : kind == 1 ? -mean : r * log(pr);
	a = kind == 0 ? log(pr) - log1p(-pr) : kind == 1 ? log(mean) : log1p(-pr);
	b = kind == 0 ? lgamma(n + 1) + n * log1p(-pr) : 0;
	for (int64 k = 0;; k++)
	{
		double		lp;

		if (kind == 0)
			lp = b - lgamma(k + 1.0) - lgamma(n - k + 1) + k * a;
		else if (kind == 1)
			lp = logp0 + k * a - lgamma(k + 1.0);
		else
			lp = logp0 + lgamma(k + r) - lgamma(r) - lgamma(k + 1.0) + k * a;
		cdf += exp(lp);
		if (cdf >= q || (kind == 0 && k >= n))
			return k;
		/* a tail the sum cannot reach in floating point */
		if (k > mean + 50 * sqrt(Max(var, mean)) + 50)
			return k;
	}
}

/* P(X = 0) of the count distribution CountQuantile uses. */
static double
CountZero(double mean, double var)
{
	double		n;

	if (mean <= 0)
		return 1;
	var = Max(var, 0);
	if (var < mean * (1 - 1e-9))
	{
		n = Max(round(mean * mean / (mean - var)), ceil(mean));
		return mean >= n ? 0 : exp(n * log1p(-mean / n));
	}
	if (var <= mean * (1 + 1e-9))
		return exp(-mean);
	return exp(mean * mean / (var - mean) * log(mean / var));
}

/* forecast_count_quantile(mean, variance, fraction) */
PG_FUNCTION_INFO_V1(forecast_count_quantile);
Datum
forecast_count_quantile(PG_FUNCTION_ARGS)
{
	double		mean = PG_GETARG_FLOAT8(0),
				var = PG_GETARG_FLOAT8(1),
				q = PG_GETARG_FLOAT8(2);

	CheckArgs(mean, var, q, "forecast_count_quantile");
	PG_RETURN_INT64(CountQuantile(mean, var, q));
}

/*
 * forecast_amount_quantile(mean, variance, fraction [, count_mean,
 * count_variance]): log-normal; with the count of closings it comes from, a
 * log-normal above the chance that nothing closes at all (then the amount
 * is 0), with the moments given that something does.
 */
PG_FUNCTION_INFO_V1(forecast_amount_quantile);
Datum
forecast_amount_quantile(PG_FUNCTION_ARGS)
{
	double		mean = PG_GETARG_FLOAT8(0),
				var = PG_GETARG_FLOAT8(1),
				q = PG_GETARG_FLOAT8(2),
				p0 = 0,
				s2,
				mu;

	CheckArgs(mean, var, q, "forecast_amount_quantile");
	if (PG_NARGS() > 4 && !PG_ARGISNULL(3) && !PG_ARGISNULL(4))
	{
		double		cm = PG_GETARG_FLOAT8(3),
					cv = PG_GETARG_FLOAT8(4);

		CheckArgs(cm, cv, q, "forecast_amount_quantile");
		p0 = CountZero(cm, cv);
		if (q <= p0 || p0 >= 1)
			PG_RETURN_FLOAT8(0);
		/* the amount given at least one closing */
		var = Max((var + mean * mean) / (1 - p0) - pow(mean / (1 - p0), 2), 0);
		mean = mean / (1 - p0);
		q = (q - p0) / (1 - p0);
	}
	if (mean <= 0)
		PG_RETURN_FLOAT8(0);
	if (var <= 0)
		PG_RETURN_FLOAT8(mean);
	s2 = log1p(var / (mean * mean));
	mu = log(mean) - s2 / 2;
	PG_RETURN_FLOAT8(exp(mu + NormalQuantile(q) * sqrt(s2)));
}
