-- spend_by_campaign: the other layout doc/citus.md allows for spend, a hash
-- distributed table by campaign (not co-located with the leads), gives the
-- single-node figures too: the cost KPIs over spend joined to per-day lead
-- and order counts, and create_reports' KPI views.
BEGIN;
SELECT plan(6);
SET client_min_messages = error;

CREATE SCHEMA spend_dist;
CREATE TABLE spend_dist.spend (LIKE local.spend);
SELECT create_distributed_table('spend_dist.spend', 'campaign');
-- the reports before any multi-shard query of this transaction: after one,
-- Citus refuses their DDL (doc/citus.md, "Reports"; t/reports_transaction.sh)
SELECT create_reports('rep_spend_dist', leads => 'crm.leads', spend => 'spend_dist.spend', orders => 'crm.orders',
                      time_zone => 'UTC') \g /dev/null
SELECT create_reports('rep_spend_local', leads => 'local.leads', spend => 'local.spend', orders => 'local.orders',
                      time_zone => 'UTC') \g /dev/null
INSERT INTO spend_dist.spend SELECT * FROM local.spend;

SELECT results_eq(
    format($$SELECT campaign, cost_per_lead(cost, leads)::text, cost_per_order(cost, orders)::text
             FROM (SELECT s.campaign, s.day, s.amount AS cost, coalesce(l.leads, 0) AS leads, coalesce(o.orders, 0) AS orders
                   FROM %s s
                   LEFT JOIN (SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS day, count(*) AS leads
                              FROM %s GROUP BY 1, 2) l USING (campaign, day)
                   LEFT JOIN (SELECT l.campaign, (o.ordered_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders
                              FROM %s o JOIN %s l USING (lead_id) GROUP BY 1, 2) o USING (campaign, day)) x
             GROUP BY 1 ORDER BY 1$$, v.spend, v.leads, v.orders, v.leads),
    format($$SELECT campaign, cost_per_lead(cost, leads)::text, cost_per_order(cost, orders)::text
             FROM local.campaign_days GROUP BY 1 ORDER BY 1$$),
    'cost_per_lead and cost_per_order: spend distributed by campaign joined to per-day counts of the distributed leads')
FROM (VALUES ('spend_dist.spend', 'crm.leads', 'crm.orders')) v(spend, leads, orders);

SELECT results_eq(format('SELECT t::text FROM rep_spend_dist.%I t ORDER BY 1', v),
                  format('SELECT t::text FROM rep_spend_local.%I t ORDER BY 1', v),
                  v || ' with spend distributed by campaign equals one node')
FROM unnest(ARRAY['kpi_overview', 'kpi_by_campaign', 'kpi_by_channel', 'kpi_by_month']) v;
SELECT cmp_ok((SELECT count(*) FROM rep_spend_dist.kpi_by_campaign WHERE cost IS NOT NULL), '>', 0::bigint,
              'the reports see the distributed spend');

SELECT * FROM finish();
ROLLBACK;
