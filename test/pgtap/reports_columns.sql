-- The columns of the report views a person and a BI tool read: durations
-- in days next to the intervals, money rounded to the currency's minor unit
-- (money_decimals) while the aggregates stay exact, cost ratios over the
-- (month, campaign) cells that have both spend and leads, the column order
-- of 0.1.0 kept with the new columns at the end.  Against plain SQL.
BEGIN;
SELECT plan(20);
SET LOCAL TimeZone = 'UTC';

CREATE SCHEMA lk_col;
CREATE TABLE lk_col.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz, revenue numeric);
-- campaign a: Jan and Feb 2024; b: Jan 2024; a 2019 lead without a campaign
INSERT INTO lk_col.leads VALUES
  (1, '2024-01-03 10:00', 'a', 'ads', '2024-01-10 16:00', 100.005),
  (2, '2024-01-04 10:00', 'a', 'ads', NULL, NULL),
  (3, '2024-01-05 10:00', 'a', 'ads', '2024-01-06 10:00', 33.333),
  (4, '2024-02-01 10:00', 'a', 'ads', NULL, NULL),
  (5, '2024-01-20 10:00', 'b', 'mail', '2024-02-20 22:00', 10),
  (6, '2019-05-01 10:00', NULL, NULL, NULL, NULL);
CREATE TABLE lk_col.spend (campaign text, day date, amount numeric);
-- a: Jan (matched) and Mar (no leads of a in Mar); c: Jan, never any lead
INSERT INTO lk_col.spend VALUES ('a', '2024-01-01', 100), ('a', '2024-01-15', 0.001), ('a', '2024-03-01', 50),
                                ('c', '2024-01-02', 1000), ('b', '2024-01-25', 7.777);

SELECT lives_ok($$SELECT create_reports('lk_colr', 'lk_col.leads', spend => 'lk_col.spend')$$, 'reports with the default money_decimals');

-- 0.1.0's columns in their order, then the new ones at the end
SELECT results_eq($$SELECT array_agg(attname::text COLLATE "default" ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_colr.kpi_overview'::regclass AND attnum > 0$$,
    $$VALUES (ARRAY['leads', 'conversions', 'conversion_rate', 'sales_cycle_avg', 'sales_cycle_median', 'cost', 'cost_per_lead', 'cost_per_order',
                    'revenue', 'sales_cycle_avg_days', 'sales_cycle_median_days', 'cost_matched', 'leads_matched', 'conversions_matched'])$$,
    'kpi_overview: the columns of 0.1.0 first, the new ones at the end');
SELECT results_eq($$SELECT array_agg(attname::text COLLATE "default" ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lk_colr.funnel_by_campaign'::regclass AND attnum > 0$$,
    $$VALUES (ARRAY['campaign', 'step', 'stage', 'reached', 'conversion_from_previous', 'conversion_from_first', 'drop_off',
                    'median_time_from_previous', 'is_bottleneck', 'median_days_from_previous'])$$,
    'funnel_by_campaign: the columns of 0.1.0 first, median_days_from_previous at the end');

-- days: the interval's seconds / 86400, to 2 decimals
SELECT results_eq($$SELECT campaign, sales_cycle_avg_days FROM lk_colr.kpi_by_campaign WHERE leads > 0 ORDER BY campaign NULLS LAST$$,
    $$SELECT campaign, round(extract(epoch FROM avg(converted_at - first_contact_at)) / 86400, 2)
      FROM lk_col.leads GROUP BY campaign ORDER BY campaign NULLS LAST$$, 'sales_cycle_avg_days = the average cycle in days, from plain SQL');
SELECT is_empty($$SELECT campaign FROM lk_colr.kpi_by_campaign
                  WHERE sales_cycle_avg_days IS DISTINCT FROM round(extract(epoch FROM sales_cycle_avg) / 86400, 2)
                     OR sales_cycle_median_days IS DISTINCT FROM round(extract(epoch FROM sales_cycle_median) / 86400, 2)$$,
                'the day columns are the interval columns in days');

-- money: rounded in the views, exact in the aggregates
SELECT results_eq($$SELECT campaign, cost, revenue FROM lk_colr.kpi_by_campaign ORDER BY campaign NULLS LAST$$,
    $$VALUES ('a', 150.00::numeric, 133.34::numeric), ('b', 7.78, 10.00), ('c', 1000.00, NULL), (NULL, NULL, NULL)$$,
    'cost and revenue to 2 decimals, half away from zero (150.001 -> 150.00, 133.338 -> 133.34, 7.777 -> 7.78)');
SELECT is((SELECT revenue(rollup(s)) FROM (SELECT kpi_agg(first_contact_at, converted_at, revenue) AS s FROM lk_col.leads WHERE campaign = 'a') x),
          133.338::numeric, 'the aggregates stay exact');
SELECT lives_ok($$SELECT create_reports('lk_colr', 'lk_col.leads', spend => 'lk_col.spend', money_decimals => 0)$$, 'money_decimals => 0');
SELECT results_eq($$SELECT campaign, cost, revenue FROM lk_colr.kpi_by_campaign ORDER BY campaign NULLS LAST$$,
    $$VALUES ('a', 150::numeric, 133::numeric), ('b', 8, 10), ('c', 1000, NULL), (NULL, NULL, NULL)$$, 'money_decimals => 0: whole units');
SELECT lives_ok($$SELECT create_reports('lk_colr', 'lk_col.leads', spend => 'lk_col.spend', money_decimals => NULL)$$, 'money_decimals => NULL');
SELECT results_eq($$SELECT campaign, cost, revenue FROM lk_colr.kpi_by_campaign ORDER BY campaign NULLS LAST$$,
    $$VALUES ('a', 150.001::numeric, 133.338::numeric), ('b', 7.777, 10), ('c', 1000, NULL), (NULL, NULL, NULL)$$, 'money_decimals => NULL: exact');
SELECT throws_ok($$SELECT create_reports('lk_colr', 'lk_col.leads', money_decimals => 7)$$, '22023', NULL, 'money_decimals out of 0..6: 22023');

-- cost ratios of rows that span months and campaigns count only the
-- (month, campaign) cells with both spend and leads: here a in Jan 2024
-- (100.001 over leads 1, 2, 3) and b in Jan 2024 (7.777 over lead 5).  Not
-- a's March spend, not c (no lead), not the 2019 lead without campaign.
SELECT create_reports('lk_colr', 'lk_col.leads', spend => 'lk_col.spend');
CREATE TEMP VIEW exp_cells AS
SELECT l.month, l.campaign, l.leads, l.conversions, s.cost
FROM (SELECT date_trunc('month', first_contact_at)::date AS month, campaign, count(*) AS leads, count(converted_at) AS conversions
        FROM lk_col.leads GROUP BY 1, 2) l
JOIN (SELECT date_trunc('month', day)::date AS month, campaign, sum(amount) AS cost FROM lk_col.spend GROUP BY 1, 2) s
  ON s.month = l.month AND s.campaign IS NOT DISTINCT FROM l.campaign;
SELECT results_eq($$SELECT cost, cost_matched, leads_matched, conversions_matched, cost_per_lead, cost_per_order FROM lk_colr.kpi_overview$$,
    $$SELECT (SELECT round(sum(amount), 2) FROM lk_col.spend), round(sum(cost), 2), sum(leads)::bigint, sum(conversions)::bigint,
             round(sum(cost) / sum(leads), 2), round(sum(cost) / sum(conversions), 2) FROM exp_cells$$,
    'kpi_overview: cost is all spend; the ratios and the matched figures count the cells with both');
SELECT results_eq($$SELECT month, cost, cost_matched, leads_matched, cost_per_lead FROM lk_colr.kpi_by_month ORDER BY month$$,
    $$SELECT m.month, round(c.cost, 2), round(e.cost, 2), coalesce(e.leads, 0)::bigint, round(e.cost / e.leads, 2)
      FROM (SELECT DISTINCT date_trunc('month', first_contact_at)::date AS month FROM lk_col.leads
            UNION SELECT date_trunc('month', day)::date FROM lk_col.spend) m
      LEFT JOIN (SELECT date_trunc('month', day)::date AS month, sum(amount) AS cost FROM lk_col.spend GROUP BY 1) c USING (month)
      LEFT JOIN (SELECT month, sum(cost) AS cost, sum(leads) AS leads FROM exp_cells GROUP BY 1) e USING (month)
      ORDER BY month$$,
    'kpi_by_month: the same rule within each month');
-- a campaign's row is its own cell: its ratio is all its spend over all its leads
SELECT results_eq($$SELECT campaign, cost_per_lead, cost_matched FROM lk_colr.kpi_by_campaign ORDER BY campaign NULLS LAST$$,
    $$VALUES ('a', round(150.001 / 4, 2), 150.00::numeric), ('b', 7.78, 7.78), ('c', NULL, NULL), (NULL, NULL, NULL)$$,
    'kpi_by_campaign: the campaign is the cell');

-- materialized and live reports give the same figures
SELECT lives_ok($$SELECT create_reports('lk_colm', 'lk_col.leads', spend => 'lk_col.spend', materialized => true)$$, 'materialized');
SELECT create_reports('lk_colr_2', 'lk_col.leads', spend => 'lk_col.spend');
SELECT set_eq('SELECT * FROM lk_colm.kpi_overview', 'SELECT * FROM lk_colr_2.kpi_overview', 'materialized overview = plain overview');
SELECT set_eq('SELECT * FROM lk_colm.kpi_by_month_live', 'SELECT * FROM lk_colr_2.kpi_by_month', 'live by month = plain by month');

-- the funnel's days column
CREATE TABLE lk_col.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO lk_col.events VALUES (1, 'new', '2024-01-03 10:00'), (1, 'won', '2024-01-04 16:00'), (2, 'new', '2024-01-04 10:00'),
                                 (3, 'new', '2024-01-05 10:00'), (3, 'won', '2024-01-07 10:00');
SELECT lives_ok($$SELECT create_reports('lk_colr', 'lk_col.leads', stage_events => 'lk_col.events', stages => '{new,won}')$$, 'with a funnel');
SELECT is_empty($$SELECT step FROM lk_colr.funnel_report
                  WHERE median_days_from_previous IS DISTINCT FROM round(extract(epoch FROM median_time_from_previous) / 86400, 2)
                     OR (step = 2) <> (median_days_from_previous BETWEEN 1.2 AND 2.1)$$,
                'median_days_from_previous is median_time_from_previous in days (1.25 and 2 days into step 2)');

SELECT * FROM finish();
ROLLBACK;
