-- bench/realtime_floor.sql: the floor of an incremental refresh of report
-- schema m, in plain SQL, rolled back (bench/realtime.sh times it with a day
-- of changes pending).  What any refresh must do, without computing a
-- single summary:
--   1. the recorded changes consumed, and the changed leads looked up,
--      with their stage events;
--   2. their stored facts read, and their rows of m.lead_facts written
--      (the stored rows back, and a row for each new lead);
--   3. the store rows of every key a changed lead was or is in, and of the
--      day's spend, written (the stored rows back): daily and monthly.
-- The refresh writes fewer store rows than this (only the keys whose
-- summaries differ, per family), so the floor errs high, not low.
BEGIN;
CREATE TEMP TABLE f_changes ON COMMIT DROP AS
    WITH d AS (DELETE FROM m.pending_changes RETURNING kind, lead_id, campaign, day) SELECT * FROM d;
CREATE TEMP TABLE f_ids ON COMMIT DROP AS
    SELECT DISTINCT lead_id FROM f_changes WHERE kind IN ('lead', 'event') AND lead_id IS NOT NULL;
CREATE TEMP TABLE f_new ON COMMIT DROP AS
    SELECT coalesce(l.lead_id, e.lead_id) AS lead_id, (l.first_contact_at AT TIME ZONE 'UTC')::date AS day,
           l.campaign, l.channel, l.team, l.owner, e.t
      FROM m._lk_leads_of(ARRAY(SELECT lead_id FROM f_ids)) AS l
      FULL JOIN (SELECT lead_id, array_agg(occurred_at ORDER BY occurred_at) AS t
                   FROM m._lk_events_of(ARRAY(SELECT lead_id FROM f_ids)) GROUP BY lead_id) AS e ON e.lead_id = l.lead_id;
CREATE TEMP TABLE f_old ON COMMIT DROP AS
    WITH d AS (DELETE FROM m.lead_facts WHERE lead_id = ANY (ARRAY(SELECT lead_id FROM f_ids)) RETURNING *) SELECT * FROM d;
INSERT INTO m.lead_facts SELECT * FROM f_old;
INSERT INTO m.lead_facts (lead_id, day, campaign, channel, team, owner, path)
    SELECT n.lead_id, n.day, n.campaign, n.channel, n.team, n.owner, n.t FROM f_new AS n
     WHERE NOT EXISTS (SELECT FROM f_old AS o WHERE o.lead_id = n.lead_id);
CREATE TEMP TABLE f_keys ON COMMIT DROP AS
    SELECT day, campaign, channel, team, owner FROM f_old WHERE day IS NOT NULL
    UNION SELECT day, campaign, channel, team, owner FROM f_new WHERE day IS NOT NULL;
CREATE TEMP TABLE f_months ON COMMIT DROP AS
    SELECT DISTINCT date_trunc('month', day)::date AS month, campaign, channel, team, owner FROM f_keys;
CREATE TEMP TABLE f_spend ON COMMIT DROP AS
    SELECT DISTINCT campaign, day FROM f_changes WHERE kind = 'spend' AND day IS NOT NULL;
-- (the stores' unique index is over these coalesce expressions)
WITH d AS (DELETE FROM m.kpi_daily AS t USING f_keys AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = coalesce(k.channel, '')
              AND coalesce(t.team, '') = coalesce(k.team, '') AND coalesce(t.owner, '') = coalesce(k.owner, '')
              AND coalesce(t.day, '-infinity') = k.day RETURNING t.*)
INSERT INTO m.kpi_daily SELECT * FROM d;
WITH d AS (DELETE FROM m.funnel_daily AS t USING f_keys AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = coalesce(k.channel, '')
              AND coalesce(t.team, '') = coalesce(k.team, '') AND coalesce(t.owner, '') = coalesce(k.owner, '')
              AND coalesce(t.day, '-infinity') = k.day RETURNING t.*)
INSERT INTO m.funnel_daily SELECT * FROM d;
WITH d AS (DELETE FROM m.kpi_monthly AS t USING f_months AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = coalesce(k.channel, '')
              AND coalesce(t.team, '') = coalesce(k.team, '') AND coalesce(t.owner, '') = coalesce(k.owner, '')
              AND coalesce(t.month, '-infinity') = k.month RETURNING t.*)
INSERT INTO m.kpi_monthly SELECT * FROM d;
WITH d AS (DELETE FROM m.funnel_monthly AS t USING f_months AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = coalesce(k.channel, '')
              AND coalesce(t.team, '') = coalesce(k.team, '') AND coalesce(t.owner, '') = coalesce(k.owner, '')
              AND coalesce(t.month, '-infinity') = k.month RETURNING t.*)
INSERT INTO m.funnel_monthly SELECT * FROM d;
WITH d AS (DELETE FROM m.spend_daily AS t USING f_spend AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = ''
              AND coalesce(t.team, '') = '' AND coalesce(t.owner, '') = ''
              AND coalesce(t.day, '-infinity') = k.day RETURNING t.*)
INSERT INTO m.spend_daily SELECT * FROM d;
WITH d AS (DELETE FROM m.spend_monthly AS t USING (SELECT DISTINCT campaign, date_trunc('month', day)::date AS month FROM f_spend) AS k
            WHERE coalesce(t.campaign, '') = coalesce(k.campaign, '') AND coalesce(t.channel, '') = ''
              AND coalesce(t.team, '') = '' AND coalesce(t.owner, '') = ''
              AND coalesce(t.month, '-infinity') = k.month RETURNING t.*)
INSERT INTO m.spend_monthly SELECT * FROM d;
ROLLBACK;
