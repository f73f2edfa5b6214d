#!/usr/bin/env bash
# TAP: crash safety of refresh_reports.  The refreshing backend is killed
# with SIGKILL in the middle of a full rebuild (held up, after it wrote
# lead_facts and the KPI stores, by a lock another session holds on
# funnel_daily, so the kill lands mid-refresh at any speed); the server
# restarts (crash
# recovery); the stores are those of the last committed refresh, the
# changes recorded before are still pending, the live views equal the plain
# ones, and the next refresh brings the stored reports up to date.  The
# test runs its own throwaway cluster, with the binaries of the one the
# harness started (a crash restarts every backend of a cluster).  ~5 s.
set -euo pipefail
psql_h() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p 5499 "$@"; }

echo "1..6"
# the harness cluster's binaries (its private install has leadkpi)
# (from postmaster.opts, not the postmaster's /proc exe: under check-memory
# that is valgrind, and bin/postgres a wrapper that runs it)
bin=$(dirname "$(head -1 "$("$(pg_config --bindir)/psql" -X -Atc "SHOW data_directory" -d postgres)/postmaster.opts" | awk '{print $1}' | tr -d "'\"")")
work=$(mktemp -d /tmp/leadkpi-crash.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() { as_pg "$bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$work/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w -o "-c listen_addresses='' -k $work -p 5499" start >/dev/null
export PGUSER=postgres

psql_h -d postgres >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION leadkpi;
CREATE SCHEMA cr;
CREATE TABLE cr.leads (lead_id bigint PRIMARY KEY, first_contact_at timestamptz, campaign text, channel text, converted_at timestamptz);
CREATE TABLE cr.events (lead_id bigint, stage text, occurred_at timestamptz);
INSERT INTO cr.leads SELECT i, timestamptz '2024-01-01' + (i % 365) * interval '1 day', 'c' || (i % 50), 'web',
                            CASE WHEN i % 5 = 0 THEN timestamptz '2024-01-09' + (i % 365) * interval '1 day' END
FROM generate_series(1, 5000) AS i;
INSERT INTO cr.events SELECT lead_id, 'lead', first_contact_at FROM cr.leads;
INSERT INTO cr.events SELECT lead_id, 'won', converted_at FROM cr.leads WHERE converted_at IS NOT NULL;
SELECT count(*) FROM create_reports('cr_m', 'cr.leads', stage_events => 'cr.events', stages => '{lead,won}', materialized => true, time_zone => 'UTC');
SELECT count(*) FROM create_reports('cr_p', 'cr.leads', stage_events => 'cr.events', stages => '{lead,won}', time_zone => 'UTC');
-- changes pending, and the stores as they are
UPDATE cr.leads SET campaign = 'c' || (lead_id % 7) WHERE lead_id % 97 = 0;
UPDATE cr.leads SET converted_at = now() WHERE lead_id % 89 = 0 AND converted_at IS NULL;
CREATE TABLE cr.stored_before AS SELECT * FROM cr_m.kpi_by_campaign;
SQL
sed 's/pg_temp\./cr./g' "$(dirname "$0")/../pgtap/include/reports_differ.sql" | psql_h -d postgres
pending=$(psql_h -d postgres -Atc "SELECT pending_changes FROM cr_m.report_status")

# a full rebuild, held up at funnel_daily, killed there
psql_h -d postgres -c "BEGIN" -c "LOCK TABLE cr_m.funnel_daily IN EXCLUSIVE MODE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
psql_h -d postgres -c "SELECT count(*) FROM refresh_reports('cr_m', full => true)" >/dev/null 2>&1 &
victim=""
for _ in $(seq 1 600); do   # up to ~30 s: the machine may be busy
    victim=$(psql_h -d postgres -Atc "SELECT pid FROM pg_stat_activity WHERE query LIKE '%refresh_reports(''cr_m''%'
                                       AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    [ -n "$victim" ] && break
    sleep 0.05
done
if [ -n "$victim" ] && kill -9 "$victim"; then
    echo "ok 1 - the refreshing backend was killed (SIGKILL) in the middle of a full rebuild"
else
    echo "not ok 1 - the refreshing backend was killed (SIGKILL) in the middle of a full rebuild (no refresh waiting)"
fi
wait || true
up=no
for _ in $(seq 1 100); do
    if psql_h -d postgres -Atc "SELECT 1" >/dev/null 2>&1; then up=yes; break; fi
    sleep 0.1
done
if [ $up = yes ] && grep -q 'terminated by signal 9' "$work/log"; then
    echo "ok 2 - the server went through crash recovery and is back"
else
    echo "not ok 2 - the server went through crash recovery and is back"
fi
same=$(psql_h -d postgres -Atc "SELECT count(*) = 0 FROM ((TABLE cr.stored_before EXCEPT ALL TABLE cr_m.kpi_by_campaign) UNION ALL (TABLE cr_m.kpi_by_campaign EXCEPT ALL TABLE cr.stored_before)) AS d")
if [ "$same" = t ]; then
    echo "ok 3 - the stores are those of the last committed refresh"
else
    echo "not ok 3 - the stores are those of the last committed refresh"
fi
now=$(psql_h -d postgres -Atc "SELECT pending_changes FROM cr_m.report_status")
if [ "$now" = "$pending" ] && [ "$pending" -gt 0 ]; then
    echo "ok 4 - the changes recorded before the crash are still pending ($now)"
else
    echo "not ok 4 - the changes recorded before the crash are still pending (before $pending, after $now)"
fi
live=$(psql_h -d postgres -Atc "SELECT cr.reports_differ('cr_m', 'cr_p', '_live')")
[ "$live" = "{}" ] && echo "ok 5 - the live views equal the plain ones" || echo "not ok 5 - the live views equal the plain ones ($live)"
psql_h -d postgres -c "SELECT count(*) FROM refresh_reports('cr_m')" >/dev/null
stored=$(psql_h -d postgres -Atc "SELECT cr.reports_differ('cr_m', 'cr_p', '') || cr.reports_differ('cr_m', 'cr_p', '_live')")
[ "$stored" = "{}" ] && echo "ok 6 - a refresh recovers: stored reports equal the plain ones" \
    || echo "not ok 6 - a refresh recovers: stored reports equal the plain ones ($stored)"
