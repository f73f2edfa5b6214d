#!/usr/bin/env bash
# TAP: materialized reports refreshed on a schedule by pg_cron, as doc/crm.md
# shows.  The harness starts the cluster with shared_preload_libraries =
# pg_cron and background-worker jobs (there is no TCP listener).  pg_cron 1.4
# schedules by the minute, so this waits for the next minute, at most ~70 s.
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=leadkpi_cron

echo "1..4"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
psql -d $db <<'SQL'
CREATE EXTENSION leadkpi;
CREATE SCHEMA crm;
CREATE TABLE crm.leads (lead_id bigint, first_contact_at timestamptz, campaign text, channel text,
                        converted_at timestamptz);
INSERT INTO crm.leads
SELECT g, current_date - 10 + (g % 5), 'c' || (g % 3), 'email',
       CASE WHEN g % 4 = 0 THEN current_date - 3 END
FROM generate_series(1, 100) g;
SELECT count(*) > 0 AS created FROM create_reports('reports', leads => 'crm.leads', materialized => true) \gset
SQL

before=$(psql -d $db -Atc "SELECT leads FROM reports.kpi_overview")
psql -d $db -c "INSERT INTO crm.leads SELECT g, current_date - 2, 'c1', 'email', NULL FROM generate_series(101, 130) g"
stale=$(psql -d $db -Atc "SELECT leads FROM reports.kpi_overview")
if [ "$before" = 100 ] && [ "$stale" = 100 ]; then
    echo "ok 1 - a materialized report keeps its figures until refreshed"
else
    echo "not ok 1 - a materialized report keeps its figures until refreshed (before $before, after insert $stale)"
fi

job=$(psql -d postgres -Atc "SELECT cron.schedule_in_database('leadkpi-refresh', '* * * * *',
                                 \$\$SELECT count(*) FROM refresh_reports('reports')\$\$, '$db')")
if [ -n "$job" ]; then
    echo "ok 2 - refresh_reports is scheduled with pg_cron (job $job)"
else
    echo "not ok 2 - refresh_reports is scheduled with pg_cron"
fi

status=""
for _ in $(seq 1 75); do
    status=$(psql -d postgres -Atc "SELECT status FROM cron.job_run_details WHERE jobid = $job
                                    AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
if [ "$status" = succeeded ]; then
    echo "ok 3 - the scheduled refresh ran and succeeded"
else
    echo "not ok 3 - the scheduled refresh ran and succeeded (status '${status:-none}')"
    psql -d postgres -Atc "SELECT return_message FROM cron.job_run_details WHERE jobid = $job" | sed 's/^/# /'
fi

after=$(psql -d $db -Atc "SELECT leads FROM reports.kpi_overview")
if [ "$after" = 130 ]; then
    echo "ok 4 - after the scheduled refresh the report counts the new leads ($after)"
else
    echo "not ok 4 - after the scheduled refresh the report counts the new leads ($after)"
fi
psql -d postgres -c "SELECT cron.unschedule($job)" >/dev/null
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
