-- gen_crm.sql: a deterministic sample CRM in schema crm, the canonical model
-- leadkpi's reports read (see /work/shared/CRM-SCHEMAS.md for the real ones).
--
--   psql -d DB -v scale=2000000 -f test/data/gen_crm.sql     (default 10000 leads)
--
-- crm.leads         one row per lead: first contact, campaign, channel, won/lost
-- crm.stage_events  funnel history 'lead' > 'mql' > 'sql' > 'opportunity' > 'customer',
--                   about 2.5 events per lead, with skips, repeats and a few out of order
-- crm.spend         cost per campaign per day, 2024-01-01 .. 2025-12-31
-- crm.orders        one or two orders per converted lead; leads.revenue is their sum
-- crm.campaign_days view: cost, new leads and orders per campaign and day
--
-- Every random figure is a hash of (lead id, salt), not random(): the data is
-- the same whatever the plan, scan order or number of workers.  Same scale,
-- same rows.  0.1% of leads are dirty (converted_at before first_contact_at).

\if :{?scale}
\else
\set scale 10000
\endif

SET client_min_messages = warning;
SET timezone = 'UTC';
-- only for anything that might still call random(); the generator does not
SELECT setseed(0.42) \g /dev/null

DROP SCHEMA IF EXISTS crm CASCADE;
CREATE SCHEMA crm;

-- Uniform in (0, 1) from a 52-bit slice of a 64-bit hash; inlined by the planner.
CREATE FUNCTION pg_temp.u(id bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((hashint8extended(id, salt) & 4503599627370495)::float8 + 0.5) / 4503599627370496.0;

-- Standard normal (Box-Muller) from two independent uniforms.
CREATE FUNCTION pg_temp.z(id bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sqrt(-2 * ln(pg_temp.u(id, salt))) * cos(2 * pi() * pg_temp.u(id, salt + 1000));

-- Campaigns: about one per 100 leads, at most 200.  Campaign k gets a share
-- proportional to ln((k+1)/k) ~ 1/k (Zipf), which is what floor((n+1)^u)
-- draws below.  Each campaign belongs to one channel; cost per lead and
-- conversion depend on the channel.
CREATE TEMP TABLE campaigns AS
SELECT k,
       format('c%s-%s', lpad(k::text, 3, '0'), ch.channel) AS campaign,
       ch.channel, ch.p_convert, ch.cpl,
       ln((k + 1)::float8 / k) / ln(n.ncamp + 1) AS share
FROM (SELECT least(200, greatest(5, :scale / 100))::int AS ncamp) n,
     generate_series(1, n.ncamp) k,
     LATERAL (SELECT * FROM (VALUES
        (0, 'paid_search', 0.11, 45.0),
        (1, 'social',      0.06, 28.0),
        (2, 'email',       0.09,  6.0),
        (3, 'organic',     0.10,  3.0),
        (4, 'referral',    0.20, 20.0),
        (5, 'events',      0.14, 120.0)) v(i, channel, p_convert, cpl)
      WHERE v.i = (k - 1 + (k - 1) / 6) % 6) ch;
SELECT count(*) AS ncamp FROM campaigns \gset

CREATE UNLOGGED TABLE crm.leads (
    lead_id          bigint PRIMARY KEY,
    first_contact_at timestamptz NOT NULL,
    campaign         text NOT NULL,
    channel          text NOT NULL,
    converted_at     timestamptz,
    lost_at          timestamptz,
    revenue          numeric(12,2)
);

-- Sales cycle: log-normal, median about 3 weeks, from hours to many months.
-- Conversions that would land after 2025-12-31 are not known yet (censored).
INSERT INTO crm.leads
SELECT id, t0, c.campaign, c.channel,
       CASE WHEN dirty THEN t0 - make_interval(hours => 1 + (pg_temp.u(id, 9) * 500)::int)
            WHEN won AND t0 + cycle < '2026-01-01' THEN t0 + cycle END,
       CASE WHEN NOT won AND NOT dirty AND pg_temp.u(id, 5) < 0.6
                 AND t0 + lost_after < '2026-01-01' THEN t0 + lost_after END,
       CASE WHEN dirty OR (won AND t0 + cycle < '2026-01-01')
            THEN round(exp(7.2 + 0.8 * pg_temp.z(id, 6))::numeric, 2) END
FROM generate_series(1, :scale::bigint) id
     JOIN campaigns c ON c.k = floor(power(:ncamp + 1, pg_temp.u(id, 1)))::int,
     LATERAL (SELECT
        timestamptz '2024-01-01' + make_interval(secs => floor(pg_temp.u(id, 2) * 731 * 86400)) AS t0,
        pg_temp.u(id, 3) < c.p_convert AS won,
        pg_temp.u(id, 8) < 0.001 AS dirty,
        make_interval(secs => round(86400 * exp(3.0 + 1.1 * pg_temp.z(id, 4)))) AS cycle,
        make_interval(secs => round(86400 * exp(2.5 + 1.0 * pg_temp.z(id, 7)))) AS lost_after) r;

-- Funnel history.  Converted leads pass all five stages, spread over their
-- sales cycle; the others stop at 'lead' 35%, 'mql' 30%, 'sql' 20% or
-- 'opportunity' 15% of the time, a stage every few days.  Then some realism:
-- 3% of leads past 'mql' skip it, 6% re-enter a stage they reached, 0.5%
-- have 'sql' logged before 'mql'.  Dirty leads close before they start.
CREATE UNLOGGED TABLE crm.stage_events (
    lead_id     bigint NOT NULL,
    stage       text NOT NULL,
    occurred_at timestamptz NOT NULL
);

INSERT INTO crm.stage_events
SELECT l.lead_id, (ARRAY['lead','mql','sql','opportunity','customer'])[e.st],
       CASE WHEN l.converted_at IS NOT NULL
            THEN date_trunc('second', l.first_contact_at + (l.converted_at - l.first_contact_at) * ((e.pos - 1) / 4))
            ELSE l.first_contact_at + f.step * (e.pos - 1) END
FROM crm.leads l,
     LATERAL (SELECT
        CASE WHEN l.converted_at IS NOT NULL THEN 5
             ELSE 1 + (pg_temp.u(l.lead_id, 11) >= 0.35)::int
                    + (pg_temp.u(l.lead_id, 11) >= 0.65)::int
                    + (pg_temp.u(l.lead_id, 11) >= 0.85)::int END AS top,
        pg_temp.u(l.lead_id, 12) < 0.03 AS skip,
        pg_temp.u(l.lead_id, 13) < 0.06 AS rep,
        pg_temp.u(l.lead_id, 14) < 0.005 AS swap,
        make_interval(secs => round(86400 * exp(1.2 + 0.8 * pg_temp.z(l.lead_id, 15)))) AS step) f,
     -- one event per stage reached, plus one more (s = top + 1) for a re-entry
     generate_series(1, f.top + (f.rep AND f.top >= 2)::int) s,
     LATERAL (SELECT st,
        CASE WHEN s > f.top THEN st + 0.3        -- re-entry, a bit after the first entry
             WHEN st = 2 AND f.swap AND f.top >= 3 THEN 3.5   -- 'mql' logged after 'sql'
             ELSE st END AS pos
        FROM (SELECT CASE WHEN s > f.top
                          THEN 2 + floor(pg_temp.u(l.lead_id, 16) * (f.top - 1))::int
                          ELSE s END AS st) x) e
WHERE NOT (s = 2 AND f.skip AND f.top >= 3);

-- Orders: one per converted lead at its close, and for 15% a follow-up order
-- weeks later.  Revenue is their sum, split 60/40.
CREATE UNLOGGED TABLE crm.orders (
    lead_id    bigint NOT NULL,
    ordered_at timestamptz NOT NULL,
    amount     numeric(12,2) NOT NULL
);

INSERT INTO crm.orders
SELECT l.lead_id,
       CASE WHEN o = 1 THEN l.converted_at
            ELSE l.converted_at + make_interval(secs => round(86400 * exp(3.5 + 0.5 * pg_temp.z(l.lead_id, 32)))) END,
       CASE WHEN NOT two THEN l.revenue
            WHEN o = 1 THEN round(l.revenue * 0.6, 2)
            ELSE l.revenue - round(l.revenue * 0.6, 2) END
FROM crm.leads l,
     LATERAL (SELECT pg_temp.u(l.lead_id, 31) < 0.15 AS two) f,
     generate_series(1, 1 + f.two::int) o
WHERE l.converted_at IS NOT NULL;

-- Spend: one row per campaign per day.  A campaign's budget follows its
-- expected lead volume times its channel's cost per lead, with weekday and
-- day-to-day noise, in cents.
CREATE UNLOGGED TABLE crm.spend (
    campaign text NOT NULL,
    day      date NOT NULL,
    amount   numeric(12,2) NOT NULL
);

INSERT INTO crm.spend
SELECT c.campaign, d::date,
       round((:scale * c.share / 731 * c.cpl
              * CASE WHEN extract(isodow FROM d) >= 6 THEN 0.6 ELSE 1.16 END
              * (0.7 + 0.6 * pg_temp.u(c.k * 100000 + (d::date - date '2024-01-01'), 41)))::numeric, 2)
FROM campaigns c,
     generate_series(timestamp '2024-01-01', timestamp '2025-12-31', interval '1 day') d;

-- What cost_per_lead / cost_per_order read: cost, new leads and orders per
-- campaign and day.  A view, so there is no copy to keep in sync.
CREATE VIEW crm.campaign_days AS
SELECT s.campaign, s.day, s.amount AS cost,
       coalesce(l.leads, 0) AS leads, coalesce(o.orders, 0) AS orders
FROM crm.spend s
LEFT JOIN (SELECT campaign, (first_contact_at AT TIME ZONE 'UTC')::date AS day, count(*) AS leads
           FROM crm.leads GROUP BY 1, 2) l USING (campaign, day)
LEFT JOIN (SELECT l.campaign, (o.ordered_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders
           FROM crm.orders o JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) o USING (campaign, day);

-- Reports join events and orders to leads and filter leads by time.
CREATE INDEX ON crm.stage_events (lead_id);
CREATE INDEX ON crm.orders (lead_id);
ANALYZE crm.leads, crm.stage_events, crm.orders, crm.spend;
