-- The funnel over all leads (funnel_report_live), one row per step.
-- median_days_from_previous: median_time_from_previous as days, until the
-- view has it.
SELECT step, stage, reached, conversion_from_previous, conversion_from_first, drop_off,
       extract(epoch FROM median_time_from_previous) / 86400 AS median_days_from_previous,
       is_bottleneck
FROM funnel_report_live
ORDER BY step
