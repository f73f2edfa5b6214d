#!/usr/bin/env bash
# TAP: pg_dump and restore of a database holding kpi_summary values (a table
# and a materialized view with a unique index) gives identical accessor results.
# Runs against the cluster test/harness.sh started (PGHOST etc. exported).
set -euo pipefail
bindir=$(pg_config --bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
src=leadkpi_dump_src dst=leadkpi_dump_dst

echo "1..3"
PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
psql -d $src <<'SQL'
CREATE EXTENSION leadkpi;
CREATE TABLE leads AS
SELECT g AS id, 'c' || (g % 5) AS campaign,
       timestamptz '2024-01-01 00:00+00' + g * interval '61 minutes' AS first_contact,
       CASE WHEN g % 4 = 0 THEN timestamptz '2024-01-01 00:00+00' + g * interval '61 minutes'
                                + (g % 97) * interval '17 hours' END AS converted_at,
       (g % 13) * 10.5 AS revenue
FROM generate_series(1, 5000) g;
CREATE TABLE stored AS SELECT campaign, kpi_agg(first_contact, converted_at, revenue) AS s FROM leads GROUP BY 1;
CREATE MATERIALIZED VIEW daily AS
SELECT campaign, first_contact::date AS day, kpi_agg(first_contact, converted_at, revenue) AS s
FROM leads GROUP BY 1, 2;
CREATE UNIQUE INDEX ON daily (campaign, day);
SQL

report="SELECT campaign, leads(s), conversions(s), revenue(s), conversion_rate(s), sales_cycle_avg(s),
               sales_cycle_median(s), sales_cycle_percentile(s, 0.9), s::text
        FROM (SELECT campaign, s FROM stored UNION ALL SELECT campaign || '/daily', rollup(s) FROM daily GROUP BY 1) x
        ORDER BY 1"

before=$(psql -d $src -At -c "$report")
if "$bindir/pg_dump" -d $src -Fc -f "$PGHOST/dump.bin" && "$bindir/pg_restore" -d $dst "$PGHOST/dump.bin"; then
    echo "ok 1 - pg_dump and pg_restore succeed"
else
    echo "not ok 1 - pg_dump and pg_restore succeed"
fi
after=$(psql -d $dst -At -c "$report")
if [ -n "$before" ] && [ "$before" = "$after" ]; then
    echo "ok 2 - accessor results are identical after restore ($(wc -l <<<"$before") rows)"
else
    echo "not ok 2 - accessor results are identical after restore"
    diff <(echo "$before") <(echo "$after") | head -20 | sed 's/^/# /'
fi
if psql -d $dst -c "REFRESH MATERIALIZED VIEW CONCURRENTLY daily" && \
   [ "$(psql -d $dst -At -c "$report")" = "$before" ]; then
    echo "ok 3 - the restored materialized view refreshes concurrently to the same figures"
else
    echo "not ok 3 - the restored materialized view refreshes concurrently to the same figures"
fi
psql -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
