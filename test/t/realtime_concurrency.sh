#!/usr/bin/env bash
# TAP: materialized reports under concurrent load, with pgbench: writers
# insert and update leads, stage events and spend; readers compare each live
# view with the plain view in the same REPEATABLE READ snapshot (a torn read
# raises an error); two refreshers run refresh_reports every second, at the
# same time.  No client may fail (pgbench exits non-zero when one aborts),
# the server must log no deadlock, and after the load a refresh makes the
# stored reports equal the plain ones.  About 10 s.
set -euo pipefail
bindir=$(pg_config --bindir)
here=$(cd "$(dirname "$0")" && pwd)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=leadkpi_rt_conc
secs=${LK_CONC_SECONDS:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "1..6"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION leadkpi;
CREATE SCHEMA rc;
CREATE SEQUENCE rc.ids START 100000;
CREATE TABLE rc.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text,
                       converted_at timestamptz, revenue numeric);
CREATE TABLE rc.events (lead_id bigint, stage text, occurred_at timestamptz);
CREATE INDEX ON rc.events (lead_id);
CREATE TABLE rc.spend (campaign text, day date, amount numeric);
INSERT INTO rc.leads SELECT i, timestamptz '2024-01-01' + (i % 90) * interval '1 day' + (i % 7) * interval '3 hours',
                            'c' || (i % 6), CASE WHEN i % 3 = 0 THEN 'web' ELSE 'mail' END,
                            CASE WHEN i % 5 = 0 THEN timestamptz '2024-01-10' + (i % 90) * interval '1 day' END,
                            CASE WHEN i % 5 = 0 THEN i % 100 END
FROM generate_series(1, 2000) AS i;
INSERT INTO rc.events SELECT lead_id, 'lead', first_contact_at FROM rc.leads;
INSERT INTO rc.events SELECT lead_id, 'won', converted_at FROM rc.leads WHERE converted_at IS NOT NULL;
INSERT INTO rc.spend SELECT 'c' || c, date '2024-01-01' + d, 10 + c FROM generate_series(0, 5) c, generate_series(0, 89) d;
SELECT count(*) FROM create_reports('rc_m', 'rc.leads', stage_events => 'rc.events', spend => 'rc.spend',
                                    stages => '{lead,mql,won}', materialized => true, time_zone => 'UTC');
SELECT count(*) FROM create_reports('rc_p', 'rc.leads', stage_events => 'rc.events', spend => 'rc.spend',
                                    stages => '{lead,mql,won}', time_zone => 'UTC');
SQL
sed 's/pg_temp\./rc./g' "$here/../pgtap/include/reports_differ.sql" | psql -d $db
psql -d $db <<'SQL'
CREATE FUNCTION rc.check_live() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d text[] := rc.reports_differ('rc_m', 'rc_p', '_live');
BEGIN
    IF cardinality(d) > 0 THEN
        RAISE EXCEPTION 'torn read: the live views differ from the plain ones in one snapshot: %', d;
    END IF;
END;
$$;
SQL

cat > "$work/writer.sql" <<'SQL'
\set r random(1, 2000)
\set c random(0, 6)
\set d random(0, 95)
BEGIN;
UPDATE rc.leads SET campaign = 'c' || :c, first_contact_at = timestamptz '2024-01-01' + :d * interval '1 day' WHERE lead_id = :r;
INSERT INTO rc.events VALUES (:r, 'mql', timestamptz '2024-01-02' + :d * interval '1 day');
INSERT INTO rc.leads (lead_id, first_contact_at, campaign, channel) VALUES (nextval('rc.ids'), now() - :d * interval '1 day', 'c' || :c, 'web');
UPDATE rc.spend SET amount = amount + 1 WHERE campaign = 'c' || :c AND day = date '2024-01-01' + :d;
COMMIT;
BEGIN;
UPDATE rc.leads SET converted_at = CASE WHEN converted_at IS NULL THEN now() END, revenue = :d WHERE lead_id = :r;
DELETE FROM rc.events WHERE lead_id = :r AND stage = 'mql';
INSERT INTO rc.spend VALUES ('c' || :c, date '2024-01-01' + :d, 1);
COMMIT;
SQL
cat > "$work/reader.sql" <<'SQL'
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT rc.check_live();
COMMIT;
SQL
cat > "$work/refresher.sql" <<'SQL'
SELECT count(*) FROM refresh_reports('rc_m');
\sleep 1 s
SQL

pgbench="$bindir/pgbench -n -d $db -T $secs"
$pgbench -c 2 -f "$work/writer.sql" > "$work/writer.log" 2>&1 & w=$!
$pgbench -c 2 -f "$work/reader.sql" > "$work/reader.log" 2>&1 & r=$!
$pgbench -c 2 -f "$work/refresher.sql" > "$work/refresher.log" 2>&1 & f=$!
ok=0
for p in $w $r $f; do wait $p || ok=1; done
tx() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/$1.log"; }
failed() { sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/$1.log"; }

if [ $ok = 0 ] && ! grep -q 'aborted\|ERROR' "$work"/*.log; then
    echo "ok 1 - writers, readers and two refreshers ran without an error ($(tx writer) writes, $(tx reader) reads, $(tx refresher) refreshes)"
else
    echo "not ok 1 - writers, readers and two refreshers ran without an error"
    grep -h 'aborted\|ERROR' "$work"/*.log | head -5 | sed 's/^/# /'
fi
if [ "$(tx writer)" -gt 10 ] && [ "$(tx refresher)" -ge 4 ]; then
    echo "ok 2 - the load was real: writes and refreshes overlapped"
else
    echo "not ok 2 - the load was real: writes and refreshes overlapped ($(tx writer) writes, $(tx refresher) refreshes)"
fi
if [ "$(tx reader)" -gt 5 ] && ! grep -q 'torn read' "$work/reader.log"; then
    echo "ok 3 - every read of the live views equalled the plain views in the same snapshot ($(tx reader) reads)"
else
    echo "not ok 3 - every read of the live views equalled the plain views in the same snapshot ($(tx reader) reads)"
    { grep -h 'torn read' "$work/reader.log" || true; } | head -3 | sed 's/^/# /'
fi
log=$PGHOST/data.log
if [ ! -f "$log" ] || ! grep -q 'deadlock detected' "$log"; then
    echo "ok 4 - no deadlock"
else
    echo "not ok 4 - no deadlock"
    grep -A3 'deadlock detected' "$log" | head -8 | sed 's/^/# /'
fi
psql -d $db -c "SELECT count(*) FROM refresh_reports('rc_m')" >/dev/null
diff=$(psql -d $db -Atc "SELECT rc.reports_differ('rc_m', 'rc_p', '') || rc.reports_differ('rc_m', 'rc_p', '_live')")
if [ "$diff" = "{}" ]; then
    echo "ok 5 - after the load, a refresh: stored and live reports equal the plain ones"
else
    echo "not ok 5 - after the load, a refresh: stored and live reports equal the plain ones ($diff)"
fi
if psql -d $db -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT refresh_reports('rc_m'); COMMIT" >/dev/null 2>"$work/rr.err"; then
    echo "not ok 6 - refresh_reports refuses REPEATABLE READ (it must see the refresh it waited for)"
else
    grep -q '25001\|READ COMMITTED' "$work/rr.err" && echo "ok 6 - refresh_reports refuses REPEATABLE READ (it must see the refresh it waited for)" \
        || { echo "not ok 6 - refresh_reports refuses REPEATABLE READ"; sed 's/^/# /' "$work/rr.err"; }
fi
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
