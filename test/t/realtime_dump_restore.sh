#!/usr/bin/env bash
# TAP: pg_dump and pg_restore of a database with materialized reports: the
# stores (tables of the anchor's row type), the pending changes, the
# triggers and their functions (DEPENDS ON EXTENSION) come back and work.
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
src=leadkpi_rt_dump_src dst=leadkpi_rt_dump_dst

echo "1..4"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
    -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
psql -d $src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION leadkpi;
CREATE SCHEMA crm;
CREATE TABLE crm.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
INSERT INTO crm.leads SELECT i, now() - (i % 30) * interval '1 day', 'c' || (i % 3), 'web', NULL FROM generate_series(1, 100) i;
CREATE TABLE crm.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO crm.events SELECT lead_id, 'a', first_contact_at FROM crm.leads;
SELECT count(*) FROM create_reports('r', 'crm.leads', stage_events => 'crm.events', stages => '{a,b}', materialized => true);
INSERT INTO crm.leads VALUES (1000, now(), 'c9', 'web', NULL);   -- pending at the dump
SQL
report="SELECT * FROM r.kpi_by_campaign_live UNION ALL SELECT NULL, *, NULL, NULL FROM r.kpi_overview ORDER BY 1"
before=$(psql -d $src -Atc "$report")
if "$bindir/pg_dump" -d $src -Fc -f "$PGHOST/rt_dump.bin" && "$bindir/pg_restore" -d $dst "$PGHOST/rt_dump.bin"; then
    echo "ok 1 - pg_dump and pg_restore succeed"
else
    echo "not ok 1 - pg_dump and pg_restore succeed"
fi
after=$(psql -d $dst -Atc "$report")
[ -n "$before" ] && [ "$before" = "$after" ] && echo "ok 2 - the stored and live reports, pending change included, are the same" \
    || echo "not ok 2 - the stored and live reports, pending change included, are the same"
psql -d $dst -c "INSERT INTO crm.leads VALUES (1001, now(), 'c9', 'web', NULL)"
[ "$(psql -d $dst -Atc "SELECT leads FROM r.kpi_by_campaign_live WHERE campaign = 'c9'")" = 2 ] \
    && echo "ok 3 - the restored triggers record changes" || echo "not ok 3 - the restored triggers record changes"
psql -d $dst -c "SELECT count(*) FROM refresh_reports('r')" >/dev/null
[ "$(psql -d $dst -Atc "SELECT leads FROM r.kpi_by_campaign WHERE campaign = 'c9'")" = 2 ] \
    && echo "ok 4 - and the restored stores refresh" || echo "not ok 4 - and the restored stores refresh"
rm -f "$PGHOST/rt_dump.bin"
psql -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
