#!/usr/bin/env bash
# TAP: materialized reports refreshed on a schedule by pg_cron, as doc/crm.md
# shows, and report_html() archived by a job, as doc/reports.md shows.  The harness starts the cluster with shared_preload_libraries =
# pg_cron and background-worker jobs (there is no TCP listener).  pg_cron 1.4
# schedules by the minute, so this waits for the next minute or two.
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=leadkpi_cron

echo "1..6"
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
CREATE TABLE report_archive (
    created_at timestamptz NOT NULL DEFAULT now(),
    period     text NOT NULL,
    html       text NOT NULL);
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

# doc/reports.md's weekly job, every minute here
archive_job=$(psql -d postgres -Atc "SELECT cron.schedule_in_database('leadkpi-weekly-report', '* * * * *',
    \$\$INSERT INTO report_archive (period, html) SELECT 'month', report_html('reports')\$\$, '$db')")

# job_status JOB SECONDS: 'succeeded' once a run of the job succeeded (the
# job is then unscheduled, so it runs once), waiting at most SECONDS; else
# the status of its last finished run, empty when none.  pg_cron starts a
# job at a minute boundary only if a background worker is free: on a busy
# machine (the suite runs its TAP scripts in parallel) a minute can pass
# without a run, so this waits over two boundaries.
job_status() {
    local status="" i
    for i in $(seq 1 "$2"); do
        status=$(psql -d postgres -Atc "SELECT status FROM cron.job_run_details WHERE jobid = $1
                                        AND status IN ('succeeded', 'failed')
                                        ORDER BY status = 'succeeded' DESC, runid DESC LIMIT 1")
        [ "$status" = succeeded ] && break
        sleep 1
    done
    [ "$status" = succeeded ] && psql -d postgres -Atc "SELECT cron.unschedule($1)" >/dev/null
    echo "$status"
}
# on failure: every run of the job, to stderr (prove shows it)
job_runs() {
    psql -d postgres -Atc "SELECT runid, status, start_time, end_time, return_message FROM cron.job_run_details
                           WHERE jobid = $1 ORDER BY runid" | sed 's/^/# /' >&2
}
status=$(job_status "$job" 150)
if [ "$status" = succeeded ]; then
    echo "ok 3 - the scheduled refresh ran and succeeded"
else
    echo "not ok 3 - the scheduled refresh ran and succeeded (status '${status:-none}')"
    job_runs "$job"
fi

after=$(psql -d $db -Atc "SELECT leads FROM reports.kpi_overview")
if [ "$after" = 130 ]; then
    echo "ok 4 - after the scheduled refresh the report counts the new leads ($after)"
else
    echo "not ok 4 - after the scheduled refresh the report counts the new leads ($after)"
fi
archived=$(job_status "$archive_job" 90)
if [ "$archived" = succeeded ]; then
    echo "ok 5 - the scheduled report_html job ran and succeeded"
else
    echo "not ok 5 - the scheduled report_html job ran and succeeded (status '${archived:-none}')"
    job_runs "$archive_job"
fi
row=$(psql -d $db -Atc "SELECT period || ' ' || (html LIKE '<!DOCTYPE html>%data-view=\"kpi_overview_live\"%</html>' || chr(10)) FROM report_archive")
if [ "$row" = "month true" ]; then
    echo "ok 6 - report_archive holds one document, read from the live views"
else
    echo "not ok 6 - report_archive holds one document, read from the live views ('$row')"
fi
psql -d postgres -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid IN ($job, $archive_job)" >/dev/null
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
