#!/usr/bin/env bash
# reports_transaction: create_reports and drop_reports inside transaction
# blocks on Citus, with no citus.multi_shard_modify_mode set by the caller.
# Citus refuses a schema command (CREATE SCHEMA, views) after a parallel
# query on a distributed table in the same transaction; create_reports and
# drop_reports set citus.multi_shard_modify_mode = 'sequential' themselves,
# before they read anything, for the rest of the transaction.  A parallel
# query of the caller's before them is still too late to fix: Citus's own
# error, with its hint.  Views over distributed tables are created on the
# workers too, and drop_reports removes them there.  Run by
# test/citus/run.sh (PGHOST, PGBIN exported).
set -uo pipefail
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
q() { PGOPTIONS="-c client_min_messages=error" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
echo "1..9"

create="SELECT count(*) FROM create_reports('tx_rep', leads => 'crm.leads', stage_events => 'crm.stage_events',
          spend => 'crm.spend', orders => 'crm.orders', stages => ARRAY['lead','mql','sql','opportunity','customer'])"
on_workers() { q -c "SELECT string_agg(result, ',' ORDER BY nodename) FROM run_command_on_workers(\$\$$1\$\$)"; }

[ "$(q -c "SHOW citus.multi_shard_modify_mode")" = parallel ]
ok $? "the session's citus.multi_shard_modify_mode is Citus's default, parallel"

out=$(q -c "BEGIN" -c "$create" -c "SELECT count(*) > 0 FROM tx_rep.funnel_by_campaign" -c "SHOW citus.multi_shard_modify_mode" \
        -c "SELECT drop_reports('tx_rep')" -c "$create" -c "COMMIT" 2>&1)
# create_reports returns the relations it made: the same number both times
nrel=${out%%$'\n'*}
[[ "$out" == "$nrel"$'\nt\nsequential\n\n'"$nrel" && "$nrel" -gt 9 ]]
ok $? "in one transaction: create_reports, a query over its views, drop_reports and create_reports again (${out//$'\n'/ })"

nviews=$(q -c "SELECT count(*) FROM pg_views WHERE schemaname = 'tx_rep'")
[ "$(on_workers "SELECT count(*) FROM pg_views WHERE schemaname = 'tx_rep'")" = "$nviews,$nviews" ]
ok $? "the $nviews report views exist on both workers (Citus propagates views over distributed tables)"

[ "$(q -c "SELECT count(*) FROM tx_rep.kpi_by_campaign")" -gt 0 ]
ok $? "the views answer"

[ "$(q -c "BEGIN" -c "SELECT count(*) > 0 FROM tx_rep.kpi_by_campaign" -c "ROLLBACK")" = t ] \
  && out=$(q -c "BEGIN" -c "SELECT drop_reports('tx_rep')" -c "$create" -c "COMMIT" 2>&1) && [[ "$out" == $'\n'"$nrel" ]]
ok $? "drop_reports then create_reports in one transaction block"

out=$(q -c "SELECT count(*) FROM create_reports('tx_mat', leads => 'crm.leads', stage_events => 'crm.stage_events',
                 stages => ARRAY['lead','mql','sql','opportunity','customer'], materialized => true, watch => '[]')" \
        -c "SELECT count(*) > 0 FROM tx_mat.funnel_by_campaign_live" 2>&1)
[[ "$out" == *$'\nt' ]]
ok $? "materialized reports in autocommit (the first fill reads the distributed tables before the live views are created)"

err=$(q -c "BEGIN" -c "SELECT count(*) FROM crm.stage_events" -c "SELECT drop_reports('tx_rep')" -c "COMMIT" 2>&1 >/dev/null)
[[ "$err" == *"because there was a parallel operation on a distributed table in the transaction"* \
   && "$err" == *"citus.multi_shard_modify_mode"* ]]
ok $? "after a parallel query of the caller's in the same transaction: Citus's error, with its hint (${err%%$'\n'*})"

[ "$(q -c "SELECT count(*) FROM pg_views WHERE schemaname = 'tx_rep'")" = "$nviews" ]
ok $? "and nothing was dropped"

q -c "SELECT drop_reports('tx_rep')" -c "DROP SCHEMA tx_rep" -c "SELECT drop_reports('tx_mat')" -c "DROP SCHEMA tx_mat" >/dev/null \
  && [ "$(on_workers "SELECT count(*) FROM pg_namespace WHERE nspname IN ('tx_rep', 'tx_mat')")" = "0,0" ]
ok $? "drop_reports and DROP SCHEMA remove them from the workers too"

exit $((failed > 0))
