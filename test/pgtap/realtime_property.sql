-- Materialized reports under random change: batches of inserts, updates
-- (campaign, channel, team, owner and cohort moves, conversions, revenue) and deletes on
-- all four inputs, with NULL and '' campaigns, orphan stage events and
-- orders, multi-row statements.  After each batch every live view equals the
-- plain view over the same tables, row for row; after a refresh the stored
-- reports do too (and the live views still do).
BEGIN;
SELECT plan(47);
SET LOCAL TimeZone = 'UTC';
SELECT setseed(0.4242);

CREATE SCHEMA lk_rtp;
CREATE TABLE lk_rtp.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text,
                           converted_at timestamptz, revenue numeric, team text, owner text);
CREATE TABLE lk_rtp.events (lead_id bigint, stage text, occurred_at timestamptz);
CREATE TABLE lk_rtp.orders (lead_id bigint, ordered_at timestamptz, amount numeric);
CREATE TABLE lk_rtp.spend (campaign text, channel text, day date, amount numeric);

-- random picks
CREATE FUNCTION lk_rtp.pick(VARIADIC xs text[]) RETURNS text LANGUAGE sql VOLATILE
RETURN xs[1 + floor(random() * cardinality(xs))::int];
CREATE FUNCTION lk_rtp.at() RETURNS timestamptz LANGUAGE sql VOLATILE
RETURN timestamptz '2024-01-01 00:00+00' + random() * interval '100 days';

-- one batch of random changes
CREATE FUNCTION lk_rtp.batch(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    next_id bigint := coalesce((SELECT max(lead_id) FROM lk_rtp.leads), 0) + 1;
    i int;
BEGIN
    -- new leads, with events and orders for some
    INSERT INTO lk_rtp.leads
    SELECT next_id + g, lk_rtp.at(), lk_rtp.pick('a', 'b', 'c', NULL, ''), lk_rtp.pick('x', 'y', NULL),
           NULL, NULL, lk_rtp.pick('t1', 't2', NULL), lk_rtp.pick('ann', 'bob', 'cy', NULL)
    FROM generate_series(0, n * 3) AS g;
    UPDATE lk_rtp.leads SET converted_at = first_contact_at + random() * interval '40 days',
                            revenue = round((random() * 1000)::numeric, 2)
     WHERE lead_id >= next_id AND random() < 0.3;
    INSERT INTO lk_rtp.events
    SELECT l.lead_id, s.stage, l.first_contact_at + s.k * random() * interval '5 days'
      FROM lk_rtp.leads l, LATERAL (VALUES (0, 'lead'), (1, 'mql'), (2, 'sql'), (3, 'won')) AS s(k, stage)
     WHERE l.lead_id >= next_id AND random() < 0.7 - 0.15 * s.k;
    INSERT INTO lk_rtp.orders
    SELECT lead_id, coalesce(converted_at, first_contact_at) + random() * interval '3 days', round((random() * 500)::numeric, 2)
      FROM lk_rtp.leads WHERE lead_id >= next_id AND random() < 0.25;
    -- moves of older leads: campaign, channel, cohort (day and month), conversion
    FOR i IN 1..n LOOP
        UPDATE lk_rtp.leads SET campaign = lk_rtp.pick('a', 'b', 'c', NULL, '') WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
        UPDATE lk_rtp.leads SET channel = lk_rtp.pick('x', 'y', NULL) WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
        UPDATE lk_rtp.leads SET team = lk_rtp.pick('t1', 't2', NULL) WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
        UPDATE lk_rtp.leads SET owner = lk_rtp.pick('ann', 'bob', 'cy', NULL) WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
        UPDATE lk_rtp.leads SET first_contact_at = first_contact_at + (random() * 60 - 30) * interval '1 day'
         WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
        UPDATE lk_rtp.leads SET converted_at = CASE WHEN converted_at IS NULL THEN first_contact_at + random() * interval '20 days' END,
                                revenue = CASE WHEN random() < 0.5 THEN round((random() * 900)::numeric, 1) END
         WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
    END LOOP;
    -- a multi-row statement moving many leads at once
    UPDATE lk_rtp.leads SET campaign = CASE WHEN campaign = 'a' THEN 'b' ELSE campaign END, first_contact_at = first_contact_at + interval '1 hour'
     WHERE lead_id % 11 = n % 11;
    UPDATE lk_rtp.leads SET first_contact_at = NULL WHERE lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1) AND random() < 0.5;
    -- deletes: a lead with its events, a lead leaving its events behind (orphans)
    DELETE FROM lk_rtp.events WHERE lead_id IN (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1);
    DELETE FROM lk_rtp.leads WHERE lead_id IN (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 2);
    -- stage events: new, moved in time, renamed (also to a stage outside the funnel), deleted
    INSERT INTO lk_rtp.events SELECT lead_id, lk_rtp.pick('lead', 'mql', 'sql', 'won'), lk_rtp.at()
      FROM lk_rtp.leads ORDER BY random() LIMIT n;
    INSERT INTO lk_rtp.events VALUES (100000 + n, 'lead', lk_rtp.at());   -- a lead that has only events
    UPDATE lk_rtp.events SET occurred_at = occurred_at + random() * interval '10 days' WHERE random() < 0.05;
    UPDATE lk_rtp.events SET stage = lk_rtp.pick('lead', 'mql', 'sql', 'won', 'lost') WHERE random() < 0.03;
    DELETE FROM lk_rtp.events WHERE random() < 0.03;
    -- orders: new, moved to another lead, changed, deleted
    INSERT INTO lk_rtp.orders SELECT lead_id, lk_rtp.at(), round((random() * 300)::numeric, 2) FROM lk_rtp.leads ORDER BY random() LIMIT n;
    UPDATE lk_rtp.orders SET lead_id = (SELECT lead_id FROM lk_rtp.leads ORDER BY random() LIMIT 1) WHERE random() < 0.05;
    UPDATE lk_rtp.orders SET amount = amount + 1, ordered_at = ordered_at - interval '2 days' WHERE random() < 0.05;
    DELETE FROM lk_rtp.orders WHERE random() < 0.03;
    -- spend: new days, moved campaign or day, changed, deleted
    INSERT INTO lk_rtp.spend SELECT lk_rtp.pick('a', 'b', 'c', NULL, ''), lk_rtp.pick('x', 'y', NULL),
                                    date '2024-01-01' + floor(random() * 100)::int, round((random() * 50)::numeric, 2)
      FROM generate_series(1, n);
    UPDATE lk_rtp.spend SET campaign = lk_rtp.pick('a', 'b', 'c', NULL, '') WHERE random() < 0.05;
    UPDATE lk_rtp.spend SET day = day + floor(random() * 40 - 20)::int WHERE random() < 0.05;
    -- a change without a day (the live spend then reads all of it)
    UPDATE lk_rtp.spend SET day = CASE WHEN day IS NULL THEN date '2024-02-01' END WHERE random() < 0.02;
    UPDATE lk_rtp.spend SET amount = amount * 2 WHERE random() < 0.05;
    DELETE FROM lk_rtp.spend WHERE random() < 0.03;
END;
$$;

\ir include/reports_differ.sql

SELECT lk_rtp.batch(12) \g /dev/null
DELETE FROM lk_rtp.events WHERE stage = 'lost';   -- created later, outside the funnel
SELECT lives_ok($$SELECT create_reports('lk_rtp_m', 'lk_rtp.leads', stage_events => 'lk_rtp.events', spend => 'lk_rtp.spend',
                                        orders => 'lk_rtp.orders', stages => '{lead,mql,sql,won}', conversion_window => '30 days',
                                        funnel_modes => 'crm_backfill', materialized => true, time_zone => 'Europe/Berlin')$$,
                'materialized reports over the four inputs');
-- the leads have a team and an owner: stores without them, which the
-- reports not by team or owner read (every comparison below covers them)
SELECT ok(to_regclass('lk_rtp_m.kpi_monthly_campaign') IS NOT NULL AND to_regclass('lk_rtp_m.funnel_monthly_campaign') IS NOT NULL,
          'with team and owner, stores without them too');
SELECT ok(pg_get_viewdef('lk_rtp_m.kpi_overview') LIKE '%kpi_monthly_campaign%'
          AND pg_get_viewdef('lk_rtp_m.kpi_by_campaign_live') LIKE '%kpi_campaign_rows_live%'
          AND pg_get_viewdef('lk_rtp_m.funnel_report') LIKE '%funnel_monthly_campaign%'
          AND pg_get_viewdef('lk_rtp_m.funnel_by_campaign_live') LIKE '%funnel_campaign_rows_live%'
          AND pg_get_viewdef('lk_rtp_m.kpi_by_owner') NOT LIKE '%monthly_campaign%'
          AND pg_get_viewdef('lk_rtp_m.kpi_by_team_live') NOT LIKE '%campaign_rows_live%',
          'which the reports not by team or owner read');
SELECT create_reports('lk_rtp_p', 'lk_rtp.leads', stage_events => 'lk_rtp.events', spend => 'lk_rtp.spend', orders => 'lk_rtp.orders',
                      stages => '{lead,mql,sql,won}', conversion_window => '30 days', funnel_modes => 'crm_backfill',
                      time_zone => 'Europe/Berlin') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''), '{}', 'the first fill equals the plain reports');
SELECT cmp_ok((SELECT count(*) FROM lk_rtp.leads), '>', 30::bigint, 'with some leads');

-- batches: live after each, stored after a refresh every other batch
SELECT lk_rtp.batch(2) \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'), '{}', 'batch 1: the live views equal the plain ones');
SELECT lk_rtp.batch(3) \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'), '{}', 'batch 2: the live views equal the plain ones');
SELECT ok((SELECT pending_changes > 0 FROM lk_rtp_m.report_status), 'the changes are pending');
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '') = '{}', false, 'the stored reports lag behind until a refresh');
SELECT refresh_reports('lk_rtp_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''), '{}', 'after a refresh the stored reports equal the plain ones');
SELECT is((SELECT pending_changes FROM lk_rtp_m.report_status), 0::bigint, 'and nothing is pending');

CREATE TEMP TABLE lk_rtp_steps AS SELECT b FROM generate_series(3, 14) AS b;
-- the incremental refreshes by their keys, however many (the stores are
-- small here: by default more than a quarter of a store recomputes it all)
SET leadkpi.refresh_all_keys_fraction = 1000;
ANALYZE lk_rtp_m.kpi_daily, lk_rtp_m.funnel_daily;
-- in a DO block: batch, check live, refresh on even batches, check stored
CREATE TEMP TABLE lk_rtp_results (b int, what text, diff text[]);
CREATE TEMP TABLE lk_rtp_refreshes (b int, stats jsonb);
DO $$
DECLARE
    b int;
BEGIN
    FOR b IN SELECT * FROM lk_rtp_steps ORDER BY 1 LOOP
        PERFORM lk_rtp.batch(1 + (b % 5));
        INSERT INTO lk_rtp_results VALUES (b, 'live', pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'));
        IF b % 2 = 0 THEN
            PERFORM refresh_reports('lk_rtp_m', full => b % 6 = 0);
            INSERT INTO lk_rtp_refreshes SELECT b, last_refresh FROM lk_rtp_m.report_status;
            INSERT INTO lk_rtp_results VALUES (b, 'stored', pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''));
            INSERT INTO lk_rtp_results VALUES (b, 'live after refresh', pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'));
        END IF;
    END LOOP;
END;
$$;
SELECT is(diff, '{}', format('batch %s: %s equal the plain reports', b, what)) FROM lk_rtp_results ORDER BY b, what;
-- the incremental refreshes took both ways to a changed key's rows
SELECT cmp_ok((SELECT sum((stats ->> 'keys_derived')::int) FROM lk_rtp_refreshes WHERE NOT (stats ->> 'full')::boolean), '>', 0::bigint,
              'the refreshes derived changed keys from the changed leads alone');
SELECT cmp_ok((SELECT sum((stats ->> 'keys_recomputed')::int) FROM lk_rtp_refreshes WHERE NOT (stats ->> 'full')::boolean), '>', 0::bigint,
              'and recomputed those they could not derive exactly');
-- derived rows are the very bytes a recomputation gives: after an
-- incremental refresh a full rebuild finds nothing to write
SELECT refresh_reports('lk_rtp_m') \g /dev/null
SELECT refresh_reports('lk_rtp_m', full => true) \g /dev/null
SELECT is((SELECT last_refresh ->> 'rows_written' FROM lk_rtp_m.report_status), '0',
          'after an incremental refresh, a full rebuild writes no row');

-- spend changes that all name a campaign and a day (the live spend then
-- reads the stored days of each changed campaign's month by the store's
-- (campaign, day) index), on top of the pending changes of the last batches
SELECT refresh_reports('lk_rtp_m') \g /dev/null
INSERT INTO lk_rtp.spend VALUES ('a', 'x', date '2024-02-10', 7.25), ('', NULL, date '2024-03-31', 1), ('c', 'y', date '2024-01-01', 2.5),
                                ('b', 'x', date '2024-06-15', 3);   -- a new key (no stored day)
UPDATE lk_rtp.spend SET amount = amount + 1 WHERE campaign = 'b' AND day BETWEEN date '2024-02-01' AND date '2024-02-07';
DELETE FROM lk_rtp.spend WHERE ctid = (SELECT ctid FROM lk_rtp.spend WHERE campaign = 'c' AND day IS NOT NULL ORDER BY day DESC LIMIT 1);
SELECT ok((SELECT count(*) > 0 AND bool_and(campaign IS NOT NULL AND day IS NOT NULL) FROM lk_rtp_m.pending_changes WHERE kind = 'spend'),
          'spend changes pending, each with a campaign and a day');
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'), '{}', 'with them the live views equal the plain ones');
-- (with statistics, so that the refresh recomputes those keys rather than
-- every key, as it does when they are more than a quarter of the store)
ANALYZE lk_rtp_m.spend_daily;
SELECT refresh_reports('lk_rtp_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''), '{}', 'and after a refresh (by those keys) the stored ones too');
SELECT cmp_ok((SELECT (last_refresh ->> 'spend_keys')::int FROM lk_rtp_m.report_status), '>', 0, 'which recomputed the spend keys');
-- and a spend change without a campaign (the range of its days is read)
INSERT INTO lk_rtp.spend VALUES (NULL, 'y', date '2024-03-03', 4), ('c', NULL, date '2024-07-01', 5);
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'), '{}', 'a change without a campaign: the live views equal the plain ones');
SELECT refresh_reports('lk_rtp_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''), '{}', 'and after a refresh the stored ones too');

-- a truncate asks for a full rebuild; the live views stay right meanwhile
TRUNCATE lk_rtp.spend;
SELECT ok((SELECT rebuild_pending FROM lk_rtp_m.report_status), 'TRUNCATE asks for a full rebuild');
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', '_live'), '{}', 'after a TRUNCATE the live views equal the plain ones');
SELECT refresh_reports('lk_rtp_m') \g /dev/null
SELECT is(pg_temp.reports_differ('lk_rtp_m', 'lk_rtp_p', ''), '{}', 'and after the rebuild the stored ones too');

SELECT * FROM finish();
ROLLBACK;
