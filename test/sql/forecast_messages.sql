-- What a user sees: a forecast over a tiny CRM, its NOTICE, and the errors
-- with their hints.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE SCHEMA fm_crm;
CREATE TABLE fm_crm.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text,
                           converted_at timestamptz, lost_at timestamptz, revenue numeric);
INSERT INTO fm_crm.leads
SELECT i, timestamptz '2024-01-01' + i * interval '1 day',
       CASE WHEN i % 2 = 0 THEN 'spring' ELSE 'webinar' END, CASE WHEN i % 2 = 0 THEN 'ads' ELSE 'email' END,
       CASE WHEN i % 4 = 0 THEN timestamptz '2024-01-01' + i * interval '1 day' + (10 + i % 20) * interval '1 day' END,
       CASE WHEN i % 4 = 1 THEN timestamptz '2024-01-01' + i * interval '1 day' + (5 + i % 30) * interval '1 day' END,
       CASE WHEN i % 4 = 0 THEN 100 + i END
FROM generate_series(0, 364) i;
CREATE TABLE fm_crm.stage_events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO fm_crm.stage_events
SELECT lead_id, 'lead', first_contact_at FROM fm_crm.leads
UNION ALL SELECT lead_id, 'deal', first_contact_at + interval '5 days' FROM fm_crm.leads WHERE lead_id % 3 <> 2;
SELECT count(*) FROM create_reports('fm_rep', leads => 'fm_crm.leads', stage_events => 'fm_crm.stage_events',
                                    stages => ARRAY['lead', 'deal'], time_zone => 'UTC');

SELECT segment, period_start, h, round(closings::numeric, 2) AS closings, closings_low, closings_high,
       round((from_pipeline + from_new_leads - closings)::numeric, 9) AS parts_add_up, open_leads, stale_leads, amount_basis
FROM forecast_closings('fm_rep', as_of => '2025-01-01', horizon => 3, by => 'channel');
SELECT method, measure, h, cutoffs FROM forecast_backtest('fm_rep', as_of => '2025-01-01', horizon => 2, cutoffs => 3);

-- errors
SELECT * FROM forecast_closings('fm_rep', as_of => '2025-01-01', horizon => 0);
SELECT * FROM forecast_closings('fm_rep', as_of => '2025-01-01', level => 1.2);
SELECT * FROM forecast_closings('fm_rep', as_of => '2023-01-01');
SELECT * FROM forecast_closings('fm_rep', as_of => '2025-01-01', by => 'region');
SELECT * FROM forecast_closings('fm_rep', as_of => '2025-01-01', period => 'day');
SELECT * FROM forecast_closings('fm_rep', as_of => '2025-01-01', stale_after => '2 months');
SELECT * FROM forecast_closings('fm_nothing');
SELECT * FROM forecast_backtest('fm_rep', as_of => '2025-01-01', cutoffs => 0);
SELECT close_agg(first_contact_at, converted_at, lost_at, revenue, NULL, NULL, NULL) FROM fm_crm.leads;
SELECT close_agg('infinity', NULL, NULL, NULL, NULL, NULL, close_grid('2025-01-01'));
SELECT forecast_count_quantile(10, 5, 1.5);
