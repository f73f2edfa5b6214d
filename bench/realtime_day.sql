-- bench/realtime_day.sql: one day of CRM changes on the sample CRM of
-- test/data/gen_crm.sql, as issue #11 defines it, whatever the scale:
--
--   psql -d DB -v day=2026-01-01 -v seed=0.1 -f bench/realtime_day.sql
--
--   2,700 new leads first contacted that day, each with a 'lead' stage event
--         (30% also 'mql'), in the campaigns of randomly drawn leads (so the
--         campaign mix follows the data's Zipf shares);
--     300 conversions of open older leads, each with an order and a
--         'customer' event; their first contact is drawn with a weight
--         following the data's sales cycle (log-normal, median ~3 weeks), so
--         most are weeks old and some are many months old;
--   2,000 stage events of open older leads (a weight for a stage every few
--         days: log-normal, median 10 days);
--     one day of spend: a row per campaign;
--   a few updates and deletes: 10 campaign moves, 5 cohort moves (first
--         contact a few days earlier), 5 channel changes, 5 leads deleted
--         with their events and orders, 10 stage events deleted, 5 spend
--         rows of past days corrected.
-- Each part is one statement, in one transaction per part.

\if :{?day}
\else
\set day 2026-01-01
\endif
\if :{?seed}
\else
\set seed 0.1
\endif
SET client_min_messages = warning;
SELECT setseed(:seed) \g /dev/null

-- new leads
CREATE TEMP TABLE day_new AS
SELECT m.top + g AS lead_id, timestamptz :'day' + random() * interval '86399 seconds' AS at,
       1 + floor(random() * m.top)::bigint AS like_id
FROM (SELECT max(lead_id) AS top FROM crm.leads) m, generate_series(1, 2700) g;
INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel)
SELECT n.lead_id, n.at, l.campaign, l.channel FROM day_new n
-- (the first lead from like_id on: like_id itself unless an earlier cutoff left it out)
CROSS JOIN LATERAL (SELECT campaign, channel FROM crm.leads WHERE lead_id >= n.like_id ORDER BY lead_id LIMIT 1) l;
INSERT INTO crm.stage_events
SELECT lead_id, 'lead', at FROM day_new
UNION ALL
SELECT lead_id, 'mql', at + interval '2 hours' FROM day_new WHERE random() < 0.3;

-- older open leads, drawn with a weight by age (Efraimidis-Spirakis: the
-- smallest -ln(u)/w): w = the log-normal density of the age in days
CREATE TEMP TABLE day_open AS
SELECT lead_id, extract(epoch FROM timestamptz :'day' - first_contact_at) / 86400 AS age
FROM crm.leads
WHERE converted_at IS NULL AND lost_at IS NULL AND first_contact_at < timestamptz :'day' - interval '1 hour';
CREATE TEMP TABLE day_conv AS
SELECT lead_id FROM day_open
ORDER BY -ln(random()) * age * exp((ln(age) - 3.0) ^ 2 / (2 * 1.1 ^ 2)) LIMIT 300;
CREATE TEMP TABLE day_step AS
SELECT lead_id FROM day_open WHERE lead_id NOT IN (SELECT lead_id FROM day_conv)
ORDER BY -ln(random()) * age * exp((ln(age) - ln(10)) ^ 2 / (2 * 1.0 ^ 2)) LIMIT 2000;

-- conversions: the lead, its order, its 'customer' stage
CREATE TEMP TABLE day_conv_at AS
SELECT lead_id, timestamptz :'day' + random() * interval '86399 seconds' AS at, round((exp(7.2 + 0.8 * random())::numeric), 2) AS amount
FROM day_conv;
UPDATE crm.leads l SET converted_at = c.at, revenue = c.amount FROM day_conv_at c WHERE l.lead_id = c.lead_id;
INSERT INTO crm.orders SELECT lead_id, at, amount FROM day_conv_at;
INSERT INTO crm.stage_events SELECT lead_id, 'customer', at FROM day_conv_at;

-- stage events of older leads
INSERT INTO crm.stage_events
SELECT lead_id, (ARRAY['mql', 'sql', 'opportunity'])[1 + floor(random() * 3)::int], timestamptz :'day' + random() * interval '86399 seconds'
FROM day_step;

-- a day of spend
INSERT INTO crm.spend
SELECT campaign, date :'day', round((random() * 500)::numeric, 2) FROM (SELECT DISTINCT campaign FROM crm.spend) c;

-- updates and deletes
-- (lead 7's campaign; with an earlier cutoff lead 7 may not exist yet)
UPDATE crm.leads SET campaign = coalesce((SELECT campaign FROM crm.leads WHERE lead_id = 7),
                                         (SELECT campaign FROM crm.leads ORDER BY lead_id LIMIT 1))
WHERE lead_id IN (SELECT lead_id FROM day_open ORDER BY random() LIMIT 10);
UPDATE crm.leads SET first_contact_at = first_contact_at - interval '3 days'
WHERE lead_id IN (SELECT lead_id FROM day_open ORDER BY random() LIMIT 5);
UPDATE crm.leads SET channel = 'referral'
WHERE lead_id IN (SELECT lead_id FROM day_open ORDER BY random() LIMIT 5);
CREATE TEMP TABLE day_gone AS SELECT lead_id FROM day_open ORDER BY random() LIMIT 5;
DELETE FROM crm.stage_events WHERE lead_id IN (SELECT lead_id FROM day_gone);
DELETE FROM crm.orders WHERE lead_id IN (SELECT lead_id FROM day_gone);
DELETE FROM crm.leads WHERE lead_id IN (SELECT lead_id FROM day_gone);
DELETE FROM crm.stage_events WHERE ctid IN (SELECT ctid FROM crm.stage_events WHERE lead_id IN (SELECT lead_id FROM day_step) LIMIT 10);
UPDATE crm.spend SET amount = amount + 1
WHERE ctid IN (SELECT ctid FROM crm.spend WHERE day BETWEEN date :'day' - 40 AND date :'day' - 1 LIMIT 5);

DROP TABLE day_new, day_open, day_conv, day_step, day_conv_at, day_gone;
