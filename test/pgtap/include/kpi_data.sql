-- Deterministic generated CRM data shared by the kpi_*.sql pgTAP files
-- (included with \ir, inside their transaction): tap_leads, tap_spend, tap_daily.
SET LOCAL timezone = 'America/New_York';
SELECT setseed(0.4242);
CREATE TABLE tap_leads AS
WITH r AS MATERIALIZED (
    SELECT g AS id, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
           random() AS r5, random() AS r6, random() AS r7, random() AS r8
    FROM generate_series(1, 30000) g
), shaped AS (
    SELECT id,
           'c' || floor(r1 * r1 * 6)::int AS campaign,
           (ARRAY['email', 'ads', 'social', 'referral'])[1 + floor(r2 * 4)::int] AS channel,
           CASE WHEN r3 < 0.03 THEN NULL
                ELSE timestamptz '2025-01-01 00:00:00+00' + r3 * interval '365 days' END AS first_contact,
           CASE WHEN r4 >= 0.45 THEN NULL                                   -- open lead
                WHEN r4 < 0.02 THEN interval '0'                            -- zero-length cycle
                WHEN r4 < 0.03 THEN -(r5 * interval '20 days')              -- converted before first contact
                ELSE make_interval(secs => exp(r5 * ln(365.0 * 86400))) -- 1 s .. 1 year, log-uniform
                     + r6 * interval '1 second' END AS cycle,
           CASE WHEN r7 < 0.1 THEN NULL
                WHEN r7 < 0.2 THEN round((r8 * 9000)::numeric, 0)
                WHEN r7 < 0.25 THEN round((r8 * 900)::numeric, 3)
                ELSE round((r8 * 5000)::numeric, 2) END AS revenue
    FROM r
)
SELECT id, campaign, channel, first_contact,
       first_contact + cycle AS converted_at,
       -- rows without a first contact still carry conversions: they are not leads
       CASE WHEN first_contact IS NULL AND cycle IS NOT NULL
            THEN timestamptz '2025-06-01 00:00:00+00' END AS orphan_converted_at,
       revenue
FROM shaped;
UPDATE tap_leads SET converted_at = orphan_converted_at WHERE orphan_converted_at IS NOT NULL;
ALTER TABLE tap_leads DROP COLUMN orphan_converted_at,
    ADD COLUMN first_ts timestamp, ADD COLUMN conv_ts timestamp,
    ADD COLUMN first_d date, ADD COLUMN conv_d date, ADD COLUMN converted boolean;
UPDATE tap_leads SET first_ts = first_contact::timestamp, conv_ts = converted_at::timestamp,
    first_d = first_contact::date, conv_d = converted_at::date,
    converted = CASE WHEN id % 97 = 0 THEN NULL ELSE converted_at IS NOT NULL END;

-- Spend rows: cents, credits (negative), a few NULLs, a few 3-decimal amounts.
CREATE TABLE tap_spend AS
SELECT c.campaign, ch.channel, d::date AS day,
       CASE WHEN random() < 0.02 THEN NULL
            WHEN random() < 0.05 THEN -round((random() * 80)::numeric, 2)
            WHEN random() < 0.01 THEN round((random() * 100)::numeric, 3)
            ELSE round((random() * 300)::numeric, 2) END AS cost
FROM (SELECT 'c' || i AS campaign FROM generate_series(0, 5) i) c,
     (VALUES ('email'), ('ads'), ('social'), ('referral')) ch(channel),
     generate_series(date '2025-01-01', date '2025-12-31', interval '1 day') d;

-- Pre-aggregated daily counts: converted <= total, some NULLs and zero totals.
CREATE TABLE tap_daily AS
SELECT campaign, day, n AS total, conv AS converted, cost
FROM (
    SELECT 'c' || (i % 6) AS campaign, date '2025-01-01' + (i / 6) AS day,
           CASE WHEN random() < 0.03 THEN NULL ELSE t END AS n,
           CASE WHEN random() < 0.03 THEN NULL ELSE floor(t * random())::bigint END AS conv,
           CASE WHEN random() < 0.03 THEN NULL ELSE round((random() * 500 - 25)::numeric, 2) END AS cost
    FROM (SELECT i, CASE WHEN random() < 0.05 THEN 0 ELSE floor(random() * 60)::bigint END AS t
          FROM generate_series(0, 6 * 365 - 1) i) x
) y;
