/*
 * kpi_aggs.c: the one-step aggregates a user types every day:
 * conversion_rate, sales_cycle_avg, cost_per_lead and cost_per_order.
 *
 * Their state is a kpi_summary without a sketch (a fixed ~150 bytes, updated
 * in place), their combine function is rollup's, and their final functions
 * are the kpi_summary accessors, so each KPI's arithmetic exists only once.
 */
#include "kpi_summary.h"

#include "utils/date.h"

pg_noreturn static void
BadCount(const char *fn, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: %s", fn, detail),
			 errhint("Counts must be non-negative, and a row cannot convert more than its total.")));
}

/* conversion_rate(converted boolean): NULLs are not counted */
PG_FUNCTION_INFO_V1(conversion_rate_accum);
Datum
conversion_rate_accum(PG_FUNCTION_ARGS)
{
	KpiSummary *s = ks_state(fcinfo, false, "conversion_rate");

	if (!PG_ARGISNULL(1))
	{
		s->leads = lk_add_count(s->leads, 1);
		if (PG_GETARG_BOOL(1))
			s->conversions = lk_add_count(s->conversions, 1);
	}
	PG_RETURN_POINTER(s);
}

/* conversion_rate(converted bigint, total bigint): a ratio of sums */
PG_FUNCTION_INFO_V1(conversion_rate_counts_accum);
Datum
conversion_rate_counts_accum(PG_FUNCTION_ARGS)
{
	KpiSummary *s = ks_state(fcinfo, false, "conversion_rate");
	int64		converted;
	int64		total;

	/* a row is a pair: with either count missing it says nothing */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	converted = PG_GETARG_INT64(1);
	total = PG_GETARG_INT64(2);
	if (converted < 0)
		BadCount("conversion_rate", "converted count must not be negative");
	if (total < 0)
		BadCount("conversion_rate", "total count must not be negative");
	if (converted > total)
		BadCount("conversion_rate", "converted count exceeds total count");
	s->leads = lk_add_count(s->leads, total);
	s->conversions = lk_add_count(s->conversions, converted);
	PG_RETURN_POINTER(s);
}

/*
 * sales_cycle_avg(first_contact, closed_at): rows with a NULL are skipped; a
 * close before the first contact is excluded and counted (see
 * cycles_excluded()), never averaged in.
 */
static Datum
CycleAccum(FunctionCallInfo fcinfo, bool is_date)
{
	KpiSummary *s = ks_state(fcinfo, false, "sales_cycle_avg");
	int64		cycle;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	if (is_date)
		cycle = lk_date_diff(PG_GETARG_DATEADT(1), PG_GETARG_DATEADT(2), "sales_cycle_avg");
	else
		cycle = lk_timestamp_diff(PG_GETARG_TIMESTAMP(1), PG_GETARG_TIMESTAMP(2),
								  "sales_cycle_avg");
	PG_RETURN_POINTER(ks_add_lead(s, true, cycle));
}

PG_FUNCTION_INFO_V1(sales_cycle_accum);
Datum
sales_cycle_accum(PG_FUNCTION_ARGS)
{
	return CycleAccum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(sales_cycle_date_accum);
Datum
sales_cycle_date_accum(PG_FUNCTION_ARGS)
{
	return CycleAccum(fcinfo, true);
}

/*
 * cost_per_lead / cost_per_order (cost numeric, count bigint): sum(cost) /
 * sum(count), each sum skipping its own NULLs as sum() does.  An order counts
 * as a converted lead, so the state keeps conversions <= leads.
 */
static Datum
CostAccum(FunctionCallInfo fcinfo, bool per_order)
{
	const char *fn = per_order ? "cost_per_order" : "cost_per_lead";
	KpiSummary *s = ks_state(fcinfo, false, fn);

	if (!PG_ARGISNULL(1))
		lk_money_add_numeric(&s->cost, PG_GETARG_DATUM(1), "cost");
	if (!PG_ARGISNULL(2))
	{
		int64 n = PG_GETARG_INT64(2);

		if (n < 0)
			BadCount(fn, per_order ? "order count must not be negative" : "lead count must not be negative");
		s->leads = lk_add_count(s->leads, n);
		if (per_order)
			s->conversions = lk_add_count(s->conversions, n);
	}
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(cost_per_lead_accum);
Datum
cost_per_lead_accum(PG_FUNCTION_ARGS)
{
	return CostAccum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(cost_per_order_accum);
Datum
cost_per_order_accum(PG_FUNCTION_ARGS)
{
	return CostAccum(fcinfo, true);
}
