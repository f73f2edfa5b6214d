#!/usr/bin/env bash
# TAP: materialized reports made by leadkpi 0.1.0 (materialized views) after
# ALTER EXTENSION leadkpi UPDATE: refresh_reports refreshes them as before,
# with a NOTICE; create_reports run again replaces them by stores that
# refresh incrementally; drop_reports then leaves nothing.  ~2 s.
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=leadkpi_rt_upgrade

echo "1..5"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION leadkpi VERSION '0.1.0';
CREATE SCHEMA crm;
CREATE TABLE crm.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO crm.leads SELECT i, now() - (i % 30) * interval '1 day', 'c' || (i % 3), 'web', NULL FROM generate_series(1, 100) i;
CREATE TABLE crm.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO crm.events SELECT lead_id, 'a', first_contact_at FROM crm.leads;
SELECT count(*) FROM create_reports('r', 'crm.leads', stage_events => 'crm.events', stages => '{a,b}', materialized => true);
ALTER EXTENSION leadkpi UPDATE;
INSERT INTO crm.leads VALUES (1000, now() - interval '2 days', 'c9', 'web', NULL);
SQL
note=$(psql -d $db -c "SELECT count(*) FROM refresh_reports('r')" 2>&1 >/dev/null)
leads=$(psql -d $db -Atc "SELECT leads FROM r.kpi_by_campaign WHERE campaign = 'c9'")
if grep -q 'leadkpi 0.1.0' <<<"$note" && [ "$leads" = 1 ]; then
    echo "ok 1 - after the update, a 0.1.0 schema is refreshed as before, with a NOTICE to re-create it"
else
    echo "not ok 1 - after the update, a 0.1.0 schema is refreshed as before ($leads; $note)"
fi
if psql -d $db -c "SELECT count(*) FROM create_reports('r', 'crm.leads', stage_events => 'crm.events', stages => '{a,b}', materialized => true)" >/dev/null; then
    echo "ok 2 - create_reports replaces its materialized views"
else
    echo "not ok 2 - create_reports replaces its materialized views"
fi
kinds=$(psql -d $db -Atc "SELECT string_agg(DISTINCT relkind::text, '' ORDER BY relkind::text) FROM pg_class WHERE relnamespace = 'r'::regnamespace AND relkind IN ('r', 'm', 'v')")
[ "$kinds" = rv ] && echo "ok 3 - by stores in tables and views ($kinds)" || echo "not ok 3 - by stores in tables and views ($kinds)"
psql -d $db -c "INSERT INTO crm.leads VALUES (1001, now() - interval '40 days', 'c9', 'web', now())"
live=$(psql -d $db -Atc "SELECT leads || '/' || conversions FROM r.kpi_by_campaign_live WHERE campaign = 'c9'")
[ "$live" = 2/1 ] && echo "ok 4 - whose live views show every change" || echo "not ok 4 - whose live views show every change ($live)"
psql -d $db -c "SELECT drop_reports('r')" >/dev/null
left=$(psql -d $db -Atc "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'r'::regnamespace) + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'leadkpi %')")
[ "$left" = 0 ] && echo "ok 5 - drop_reports leaves nothing" || echo "not ok 5 - drop_reports leaves nothing ($left)"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE $db"
