-- Every figure a stored summary yields, as one line of text: used by
-- test/data/fixture-0.1.0/make.sh (run once against 0.1.0, which wrote the
-- recorded figures) and by test/t/fixture_0.1.0.sh and test/t/upgrade.sh
-- (run against the current version, which must give the same lines).  Only
-- 0.1.0's accessors are used.  Output settings are fixed so that the text
-- does not depend on the session.
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET DateStyle = 'ISO, YMD';

CREATE FUNCTION pg_temp.lk_kpi_figures(s kpi_summary) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT concat_ws(' | ',
        'leads=' || leads(s), 'conversions=' || conversions(s),
        'excluded=' || cycles_excluded(s),
        'cost=' || coalesce(cost(s)::text, 'null'), 'revenue=' || coalesce(revenue(s)::text, 'null'),
        'conversion_rate=' || coalesce(conversion_rate(s)::text, 'null'),
        'cost_per_lead=' || coalesce(cost_per_lead(s)::text, 'null'),
        'cost_per_order=' || coalesce(cost_per_order(s)::text, 'null'),
        'revenue_per_lead=' || coalesce(revenue_per_lead(s)::text, 'null'),
        'roi=' || coalesce(roi(s)::text, 'null'),
        'cycle_avg=' || coalesce(sales_cycle_avg(s)::text, 'null'),
        'cycle_min=' || coalesce(sales_cycle_min(s)::text, 'null'),
        'cycle_max=' || coalesce(sales_cycle_max(s)::text, 'null'),
        'median=' || coalesce(sales_cycle_median(s)::text, 'null'),
        'p10=' || coalesce(sales_cycle_percentile(s, 0.1)::text, 'null'),
        'p90=' || coalesce(sales_cycle_percentile(s, 0.9)::text, 'null'),
        'p99=' || coalesce(sales_cycle_percentile(s, 0.99)::text, 'null'))
$$;

CREATE FUNCTION pg_temp.lk_funnel_figures(f funnel_summary) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT concat_ws(' | ',
        'nsteps=' || funnel_nsteps(f), 'entities=' || funnel_entities(f),
        'bottleneck=' || coalesce(bottleneck(f)::text, 'null'),
        (SELECT string_agg(format('step %s: reached=%s from_previous=%s from_first=%s drop_off=%s median=%s',
                                  step, reached, coalesce(conversion_from_previous::text, 'null'),
                                  coalesce(conversion_from_first::text, 'null'), drop_off,
                                  coalesce(median_time_from_previous::text, 'null')), ' | ' ORDER BY step)
         FROM funnel_steps(f)))
$$;
