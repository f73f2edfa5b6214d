#!/usr/bin/env bash
# examples/demo_db.sh: the demo database that the example dashboard and the
# README's screenshots read.  Run against test/harness.sh's cluster (PGHOST,
# PGPORT, PGUSER and PSQL exported), e.g. from a script in its `run` mode.
#
# Creates database leadkpi_demo (once: an existing one is kept) with
#   - the sample CRM of test/data/gen_crm.sql in schema crm (DEMO_SCALE leads,
#     default 3000, as `make demo`), and
#   - its reports in schema reports, made by create_reports with
#     materialized => true and refreshed: stored per-day summaries and the
#     *_live views (stored days plus today read live) that dashboards read.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
db=leadkpi_demo
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}

if [ -n "$($PSQL -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    exit 0
fi
printf '== %s\n' "demo database $db: sample CRM of ${DEMO_SCALE:-3000} leads, materialized reports in schema reports" >&2
$PSQL -d postgres -c "CREATE DATABASE $db"
$PSQL -d $db -c "CREATE EXTENSION leadkpi"
$PSQL -d $db -v scale="${DEMO_SCALE:-3000}" -f "$top/test/data/gen_crm.sql"
$PSQL -d $db >/dev/null <<'SQL'
SET TimeZone = 'UTC';
SELECT create_reports('reports',
    leads        => 'crm.leads',
    stage_events => 'crm.stage_events',
    spend        => 'crm.spend',
    orders       => 'crm.orders',
    stages       => ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'],
    conversion_window => '180 days',
    funnel_modes => 'crm_backfill',
    materialized => true);
SELECT refresh_reports('reports');
SQL
