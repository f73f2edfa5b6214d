-- demo.sql: what `make demo` shows: the four lead KPIs over the sample CRM
-- from gen_crm.sql, by campaign and by month, each with one aggregate call.
\set QUIET on
\pset footer off
SET timezone = 'UTC';
SELECT count(*) AS scale_leads FROM crm.leads \gset

\echo
\echo 'leadkpi demo: a sample CRM of' :scale_leads 'leads, 2024-01-01 .. 2025-12-31'
\echo '  conversion %        share of leads that became customers'
\echo '  sales cycle (days)  average time from first contact to conversion'
\echo '                      (a conversion dated before the first contact is left out)'
\echo '  cost per lead       campaign spend / new leads'
\echo '  cost per order      campaign spend / orders'
\echo
\echo '== By campaign: the 15 campaigns with the most leads'
WITH l AS (
    SELECT campaign, channel, count(*) AS leads,
           conversion_rate(converted_at IS NOT NULL) AS conv,
           sales_cycle_avg(first_contact_at, converted_at) AS cycle
    FROM crm.leads GROUP BY campaign, channel
), c AS (
    SELECT campaign, cost_per_lead(cost, leads) AS cpl, cost_per_order(cost, orders) AS cpo
    FROM crm.campaign_days GROUP BY campaign
)
SELECT campaign, channel, leads,
       round(100 * conv::numeric, 1) AS "conversion %",
       round(extract(epoch FROM cycle) / 86400, 1) AS "sales cycle (days)",
       round(cpl::numeric, 2) AS "cost per lead",
       round(cpo::numeric, 2) AS "cost per order"
FROM l JOIN c USING (campaign)
ORDER BY leads DESC, campaign
LIMIT 15;

\echo '== By month of first contact (cost: spend and orders in that month)'
\echo '   Late months convert less: their leads have not had time to close yet.'
WITH l AS (
    SELECT date_trunc('month', first_contact_at)::date AS month, count(*) AS leads,
           conversion_rate(converted_at IS NOT NULL) AS conv,
           sales_cycle_avg(first_contact_at, converted_at) AS cycle
    FROM crm.leads GROUP BY 1
), c AS (
    SELECT date_trunc('month', day)::date AS month,
           cost_per_lead(cost, leads) AS cpl, cost_per_order(cost, orders) AS cpo
    FROM crm.campaign_days GROUP BY 1
)
SELECT to_char(month, 'YYYY-MM') AS month, leads,
       round(100 * conv::numeric, 1) AS "conversion %",
       round(extract(epoch FROM cycle) / 86400, 1) AS "sales cycle (days)",
       round(cpl::numeric, 2) AS "cost per lead",
       round(cpo::numeric, 2) AS "cost per order"
FROM l JOIN c USING (month)
ORDER BY month;
