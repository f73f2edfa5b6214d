#!/usr/bin/env bash
# reports_transaction: create_reports inside a transaction block on Citus.
# After a parallel query on a distributed table, Citus refuses to propagate
# CREATE SCHEMA (and views) to the workers in the same transaction; with
# citus.multi_shard_modify_mode = 'sequential' set first, it works.  Views
# over distributed tables are created on the workers too, and drop_reports
# removes them there.  Run by test/citus/run.sh (PGHOST, PGBIN exported).
set -uo pipefail
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
q() { PGOPTIONS="-c client_min_messages=error" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
echo "1..6"

create="SELECT count(*) FROM create_reports('tx_rep', leads => 'crm.leads', stage_events => 'crm.stage_events',
          spend => 'crm.spend', orders => 'crm.orders', stages => ARRAY['lead','mql','sql','opportunity','customer'])"
on_workers() { q -c "SELECT string_agg(result, ',' ORDER BY nodename) FROM run_command_on_workers(\$\$$1\$\$)"; }

err=$(q -c "BEGIN" -c "SELECT count(*) FROM crm.stage_events" -c "$create" -c "COMMIT" 2>&1 >/dev/null)
[[ "$err" == *"cannot run schema command because there was a parallel operation on a distributed table in the transaction"* \
   && "$err" == *"citus.multi_shard_modify_mode"* ]]
ok $? "create_reports after a parallel query in the same transaction: Citus's error, with its hint (${err%%$'\n'*})"

[ "$(q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'tx_rep'")" = 0 ]
ok $? "and nothing was created"

out=$(q -c "BEGIN" -c "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'" -c "SELECT count(*) FROM crm.stage_events" \
        -c "$create" -c "COMMIT" 2>&1)
[[ "$out" == *$'\n'9 ]]
ok $? "with citus.multi_shard_modify_mode = 'sequential' first, create_reports works in a transaction"

[ "$(on_workers "SELECT count(*) FROM pg_views WHERE schemaname = 'tx_rep'")" = "9,9" ]
ok $? "the 9 report views exist on both workers (Citus propagates views over distributed tables)"

[ "$(q -c "SELECT count(*) FROM tx_rep.kpi_by_campaign")" -gt 0 ]
ok $? "the views answer"

q -c "SELECT drop_reports('tx_rep')" -c "DROP SCHEMA tx_rep" >/dev/null \
  && [ "$(on_workers "SELECT count(*) FROM pg_namespace WHERE nspname = 'tx_rep'")" = "0,0" ]
ok $? "drop_reports and DROP SCHEMA remove them from the workers too"

exit $((failed > 0))
