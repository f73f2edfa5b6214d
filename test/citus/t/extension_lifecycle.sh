#!/usr/bin/env bash
# extension_lifecycle: CREATE EXTENSION leadkpi on the coordinator reaches the
# workers, a worker added later gets it too, and ALTER EXTENSION leadkpi
# UPDATE (0.1.0 to the current version) is applied on every node; the
# aggregates keep pushing down and giving the same figures across the update.
# Uses a database of its own.  Run by test/citus/run.sh (LK_TMP, PGBIN).
set -uo pipefail
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
db=leadkpi_lifecycle
on() { local node=$1; shift; PGOPTIONS="-c client_min_messages=error" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$LK_TMP/sock_$node" "$@"; }
version_on() { on "$1" -d "$db" -c "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'), 'none')"; }
cleanup() { for node in coord w1 w2; do on "$node" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done; }
trap cleanup EXIT
echo "1..7"

current=$(on coord -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'leadkpi'")
for node in coord w1 w2; do
    on "$node" -d postgres -c "CREATE DATABASE $db" && on "$node" -d "$db" -c "CREATE EXTENSION citus"
done >/dev/null
on coord -d "$db" -c "SELECT citus_set_coordinator_host('$LK_TMP/sock_coord', $PGPORT)" \
    -c "SELECT citus_add_node('$LK_TMP/sock_w1', $PGPORT)" >/dev/null

on coord -d "$db" -c "CREATE EXTENSION leadkpi VERSION '0.1.0'" >/dev/null
[ "$(version_on w1)" = 0.1.0 ]
ok $? "CREATE EXTENSION leadkpi VERSION '0.1.0' on the coordinator creates it on the worker"

on coord -d "$db" -c "SELECT citus_add_node('$LK_TMP/sock_w2', $PGPORT)" >/dev/null
[ "$(version_on w2)" = 0.1.0 ]
ok $? "a worker added afterwards gets leadkpi 0.1.0 from citus_add_node"

on coord -d "$db" -c "CREATE TABLE l (id bigint, campaign text, t0 timestamptz, t1 timestamptz, revenue numeric)" \
    -c "SELECT create_distributed_table('l', 'id')" \
    -c "INSERT INTO l SELECT g, 'c' || g % 7, timestamptz '2025-01-01' + g * interval '1 hour',
               CASE WHEN g % 3 = 0 THEN timestamptz '2025-01-01' + g * interval '1 hour' + (g % 50) * interval '1 day' END,
               CASE WHEN g % 3 = 0 THEN g / 10.0 END
        FROM generate_series(1, 5000) g" >/dev/null
kpi="SELECT string_agg(campaign || ' ' || s::text, ',' ORDER BY campaign) FROM (
       SELECT campaign, kpi_agg(t0, t1, revenue) AS s FROM l GROUP BY 1) x"
before=$(on coord -d "$db" -c "$kpi")
plain=$(on coord -d "$db" -c "CREATE TABLE l_local AS SELECT * FROM l" \
        -c "SELECT string_agg(campaign || ' ' || s::text, ',' ORDER BY campaign) FROM (
              SELECT campaign, kpi_agg(t0, t1, revenue) AS s FROM l_local GROUP BY 1) x")
[ -n "$before" ] && [ "$before" = "$plain" ]
ok $? "with 0.1.0 on every node, kpi_agg by campaign equals the single-node result"

on coord -d "$db" -c "ALTER EXTENSION leadkpi UPDATE" >/dev/null
[ "$(version_on coord)" = "$current" ] && [ "$(version_on w1)" = "$current" ] && [ "$(version_on w2)" = "$current" ]
ok $? "ALTER EXTENSION leadkpi UPDATE on the coordinator updates every node to $current"

[ "$(on coord -d "$db" -c "$kpi")" = "$before" ]
ok $? "after the update, the same figures"

on coord -d "$db" -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT campaign, kpi_agg(t0, t1, revenue) FROM l GROUP BY 1" \
    | grep -q "worker_partial_agg('public.kpi_agg(timestamp with time zone,timestamp with time zone,numeric)'"
ok $? "after the update, kpi_agg still runs partially on the workers"

on coord -d "$db" -c "DROP EXTENSION leadkpi CASCADE" >/dev/null
[ "$(version_on w1)" = none ] && [ "$(version_on w2)" = none ]
ok $? "DROP EXTENSION on the coordinator drops it on the workers"

exit $((failed > 0))
