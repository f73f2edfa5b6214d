-- gen_crm.sql: a deterministic sample CRM in schema crm, the canonical model
-- leadkpi's reports read (see /work/shared/CRM-SCHEMAS.md for the real ones).
--
--   psql -d DB -v scale=2000000 -f test/data/gen_crm.sql     (default 10000 leads)
--   psql -d DB -v scale=10000 -v cutoff=2025-07-01 -f ...      (the CRM as it stood then)
--
-- crm.leads         one row per lead: first contact, campaign, channel, won/lost,
--                   revenue of won deals, expected_revenue (the deal amount sales
--                   entered, from the 'sql' stage on)
-- crm.stage_events  funnel history 'lead' > 'mql' > 'sql' > 'opportunity' > 'customer',
--                   about 2.5 events per lead, with skips, repeats and a few out of order
-- crm.spend         cost per campaign per day, 2024-01-01 .. 2025-12-31
-- crm.orders        one or two orders per converted lead; leads.revenue is their sum
-- crm.campaign_days view: cost, new leads and orders per campaign and day
--
-- What breaks naive forecasts is built in (see doc/forecast.md):
--   seasonality   new leads by month of year (a summer and a December dip),
--                 weekdays, and growth; wins due in late December slip to January;
--   drift         the chance to win rises by half over the two years;
--   abandonment   40% of the leads that do not win are never marked lost: they
--                 stop moving and stay open for ever;
--   cycles        the sales cycle depends on the channel (median 10 days for
--                 social, 2 months for events), and so does the deal size.
--
-- Every random figure is a hash of (lead id, salt), not random(): the data is
-- the same whatever the plan, scan order or number of workers.  Same scale,
-- same rows.  0.1% of leads are dirty (converted_at before first_contact_at).
--
-- Every lead has one life, drawn in full; the CRM shows the part of it before
-- `cutoff` (default 2026-01-01): later first contacts, stage events, wins,
-- losses and spend are not there yet, and expected_revenue only from the
-- 'sql' stage on.  So the CRM generated with an earlier cutoff is exactly the
-- CRM of the default run as it stood at that instant: the truth a forecast made
-- then can be checked against.  (Orders keep a follow-up after the cutoff, so
-- that revenue stays the sum of the orders.)

\if :{?scale}
\else
\set scale 10000
\endif
\if :{?cutoff}
\else
\set cutoff '2026-01-01 00:00:00+00'
\endif

SET client_min_messages = warning;
SET timezone = 'UTC';
-- JIT would compile the long generated expressions for longer than they run
SET jit = off;
-- only for anything that might still call random(); the generator does not
SELECT setseed(0.42) \g /dev/null

DROP SCHEMA IF EXISTS crm CASCADE;
CREATE SCHEMA crm;

-- Uniform in (0, 1) from a 52-bit slice of a 64-bit hash; inlined by the planner.
CREATE OR REPLACE FUNCTION pg_temp.u(id bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((hashint8extended(id, salt) & 4503599627370495)::float8 + 0.5) / 4503599627370496.0;

-- Standard normal (Box-Muller) from two independent uniforms.
CREATE OR REPLACE FUNCTION pg_temp.z(id bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sqrt(-2 * ln(pg_temp.u(id, salt))) * cos(2 * pi() * pg_temp.u(id, salt + 1000));

-- Campaigns: about one per 100 leads, at most 200.  Campaign k gets a share
-- proportional to ln((k+1)/k) ~ 1/k (Zipf), which is what floor((n+1)^u)
-- draws below.  Each campaign belongs to one channel; cost per lead,
-- conversion, the sales cycle (log-normal, median exp(cycle_mu) days) and the
-- deal size (times exp(amount_ln)) depend on the channel.
DROP TABLE IF EXISTS pg_temp.campaigns, pg_temp.arrival_days;
CREATE TEMP TABLE campaigns AS
SELECT k,
       format('c%s-%s', lpad(k::text, 3, '0'), ch.channel) AS campaign,
       ch.channel, ch.p_convert, ch.cpl, ch.cycle_mu, ch.amount_ln,
       ln((k + 1)::float8 / k) / ln(n.ncamp + 1) AS share
FROM (SELECT least(200, greatest(5, :scale / 100))::int AS ncamp) n,
     generate_series(1, n.ncamp) k,
     LATERAL (SELECT * FROM (VALUES
        (0, 'paid_search', 0.11, 45.0,  2.6,  0.00),
        (1, 'social',      0.06, 28.0,  2.3, -0.35),
        (2, 'email',       0.09,  6.0,  3.0, -0.10),
        (3, 'organic',     0.10,  3.0,  3.2,  0.00),
        (4, 'referral',    0.20, 20.0,  3.6,  0.35),
        (5, 'events',      0.14, 120.0, 4.1,  0.70)) v(i, channel, p_convert, cpl, cycle_mu, amount_ln)
      WHERE v.i = (k - 1 + (k - 1) / 6) % 6) ch;
SELECT count(*) AS ncamp FROM campaigns \gset
ANALYZE campaigns;

-- First contacts: a density over the 731 days (growth of 30% over the two
-- years, month-of-year seasonality, weekends at 40%), drawn by its inverse:
-- 4097 quantiles in an array, interpolated linearly, so a lead's time is
-- one array lookup on its hash.
CREATE TEMP TABLE arrival_days AS
SELECT d, w, sum(w) OVER (ORDER BY d) - w AS lo, sum(w) OVER () AS total
FROM (SELECT d::date AS d,
             round((1 + 0.3 * (d::date - date '2024-01-01') / 731.0)
                   * (ARRAY[1.20, 1.15, 1.10, 1.00, 0.95, 0.90, 0.80, 0.65, 1.05, 1.15, 1.10, 0.70])[extract(month FROM d)::int]
                   * CASE WHEN extract(isodow FROM d) >= 6 THEN 0.4 ELSE 1.0 END, 6) AS w
      FROM generate_series(timestamp '2024-01-01', timestamp '2025-12-31', interval '1 day') d) x;
SELECT array_agg(round(secs, 3) ORDER BY i)::text AS arrival_q
FROM (SELECT i, (a.d - date '2024-01-01') * 86400.0 + least((i / 4096.0 * a.total - a.lo) / a.w, 1) * 86400 AS secs
      FROM arrival_days a,
           generate_series(ceil(a.lo / a.total * 4096)::int,
                           CASE WHEN a.d = date '2025-12-31' THEN 4096
                                ELSE ceil((a.lo + a.w) / a.total * 4096)::int - 1 END) i) q \gset

-- A lead's whole life, whatever the cutoff: one row, computed from hashes of
-- its id, stored once for the tables below (and dropped at the end).
--   t_win   when it wins, if it wins (first contact + cycle; late December slips 2 weeks)
--   top     the last stage it reaches (5 when it wins), a stage every `step`
--   t_lost  when it is marked lost, if it is (after its last stage)
--   t_sql   when it reaches 'sql', from which on sales enter an expected amount
-- Each derived figure is computed once per lead (OFFSET 0 keeps the planner
-- from copying a shared expression into every place that uses it).
CREATE UNLOGGED TABLE crm.gen_life AS
SELECT id, c.campaign, c.channel, t.t0, b.wins, b.dirty,
       CASE WHEN b.dirty THEN t.t0 - make_interval(hours => 1 + (pg_temp.u(id, 9) * 500)::int) END AS t_dirty,
       CASE WHEN b.wins THEN w.t_win END AS t_win,
       CASE WHEN b.wins OR b.dirty THEN 5 ELSE b.top END AS top,
       b.step,
       CASE WHEN NOT b.wins AND NOT b.dirty AND pg_temp.u(id, 5) < 0.6
            THEN t.t0 + b.step * (b.top - 1) + make_interval(secs => round(86400 * exp(2.5 + 1.0 * pg_temp.z(id, 7)))) END AS t_lost,
       CASE WHEN b.wins THEN t.t0 + (w.t_win - t.t0) / 2
            WHEN b.top >= 3 AND NOT b.dirty THEN t.t0 + b.step * 2 END AS t_sql,
       b.amount,
       CASE WHEN b.wins THEN round(b.amount * exp(0.3 * pg_temp.z(id, 17))::numeric, 2)
            WHEN b.top >= 3 THEN round(exp(7.2 + c.amount_ln + 0.8 * pg_temp.z(id, 18))::numeric, 2) END AS est
FROM generate_series(1, :scale::bigint) id
     JOIN campaigns c ON c.k = floor(power(:ncamp + 1, pg_temp.u(id, 1)))::int,
     LATERAL (SELECT timestamptz '2024-01-01' + make_interval(secs => floor(
                 q[i + 1] + (x - i) * (q[i + 2] - q[i + 1]))) AS t0
              FROM (SELECT :'arrival_q'::float8[] AS q, pg_temp.u(id, 2) * 4096 AS x,
                           floor(pg_temp.u(id, 2) * 4096)::int AS i OFFSET 0) a OFFSET 0) t,
     LATERAL (SELECT
        pg_temp.u(id, 8) < 0.001 AS dirty,
        NOT (pg_temp.u(id, 8) < 0.001)
          AND pg_temp.u(id, 3) < c.p_convert * (0.8 + 0.4 * extract(epoch FROM t.t0 - timestamptz '2024-01-01') / (731 * 86400)) AS wins,
        1 + (pg_temp.u(id, 11) >= 0.35)::int + (pg_temp.u(id, 11) >= 0.65)::int + (pg_temp.u(id, 11) >= 0.85)::int AS top,
        make_interval(secs => round(86400 * exp(1.2 + 0.8 * pg_temp.z(id, 15)))) AS step,
        round(exp(7.2 + c.amount_ln + 0.8 * pg_temp.z(id, 6))::numeric, 2) AS amount
        OFFSET 0) b,
     LATERAL (SELECT CASE WHEN extract(month FROM r) = 12 AND extract(day FROM r) >= 18
                          THEN r + interval '14 days' ELSE r END AS t_win
              FROM (SELECT t.t0 + make_interval(secs => round(86400 * exp(c.cycle_mu + 0.9 * pg_temp.z(id, 4)))) AS r OFFSET 0) r
              OFFSET 0) w;

CREATE UNLOGGED TABLE crm.leads (
    lead_id          bigint PRIMARY KEY,
    first_contact_at timestamptz NOT NULL,
    campaign         text NOT NULL,
    channel          text NOT NULL,
    converted_at     timestamptz,
    lost_at          timestamptz,
    revenue          numeric(12,2),
    expected_revenue numeric(12,2)
);

-- What the CRM shows at the cutoff: wins and losses after it are not known
-- yet (censored); dirty leads close before they start.
INSERT INTO crm.leads
SELECT id, t0, campaign, channel,
       coalesce(t_dirty, CASE WHEN t_win < :'cutoff' THEN t_win END),
       CASE WHEN t_lost < :'cutoff' THEN t_lost END,
       CASE WHEN dirty OR t_win < :'cutoff' THEN amount END,
       CASE WHEN t_sql < :'cutoff' THEN est END
FROM crm.gen_life
WHERE t0 < :'cutoff';

-- Funnel history.  Leads that win pass all five stages, spread over their
-- sales cycle; the others stop at 'lead' 35%, 'mql' 30%, 'sql' 20% or
-- 'opportunity' 15% of the time, a stage every few days.  Then some realism:
-- 3% of leads past 'mql' skip it, 6% re-enter a stage they reached, 0.5%
-- have 'sql' logged before 'mql'.  Dirty leads close before they start.
-- A lead that will win after the cutoff shows the stages it has reached.
CREATE UNLOGGED TABLE crm.stage_events (
    lead_id     bigint NOT NULL,
    stage       text NOT NULL,
    occurred_at timestamptz NOT NULL
);

INSERT INTO crm.stage_events
SELECT lead_id, stage, occurred_at FROM (
SELECT f.id AS lead_id, (ARRAY['lead','mql','sql','opportunity','customer'])[e.st] AS stage,
       CASE WHEN f.dirty OR f.wins
            THEN date_trunc('second', f.t0 + (coalesce(f.t_dirty, f.t_win) - f.t0) * ((e.pos - 1) / 4))
            ELSE f.t0 + f.step * (e.pos - 1) END AS occurred_at
FROM crm.gen_life f,
     LATERAL (SELECT
        pg_temp.u(f.id, 12) < 0.03 AS skip,
        pg_temp.u(f.id, 13) < 0.06 AS rep,
        pg_temp.u(f.id, 14) < 0.005 AS swap) g,
     -- one event per stage reached, plus one more (s = top + 1) for a re-entry
     generate_series(1, f.top + (g.rep AND f.top >= 2)::int) s,
     LATERAL (SELECT st,
        CASE WHEN s > f.top THEN st + 0.3        -- re-entry, a bit after the first entry
             WHEN st = 2 AND g.swap AND f.top >= 3 THEN 3.5   -- 'mql' logged after 'sql'
             ELSE st END AS pos
        FROM (SELECT CASE WHEN s > f.top
                          THEN 2 + floor(pg_temp.u(f.id, 16) * (f.top - 1))::int
                          ELSE s END AS st) x) e
WHERE f.t0 < :'cutoff' AND NOT (s = 2 AND g.skip AND f.top >= 3)) ev
WHERE occurred_at < :'cutoff';

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
     generate_series(timestamp '2024-01-01', timestamp '2025-12-31', interval '1 day') d
WHERE d < :'cutoff';

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
DROP TABLE crm.gen_life;
CREATE INDEX ON crm.stage_events (lead_id);
CREATE INDEX ON crm.orders (lead_id);
ANALYZE crm.leads, crm.stage_events, crm.orders, crm.spend;
