-- The funnel over all leads (funnel_report_live), one row per step, with
-- the median time from the step before in days (the view's numeric
-- companion of median_time_from_previous).
SELECT step, stage, reached, conversion_from_previous, conversion_from_first, drop_off,
       median_days_from_previous, is_bottleneck
FROM funnel_report_live
ORDER BY step
