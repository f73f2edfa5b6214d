#!/usr/bin/env bash
# worker_fault: a worker stops (immediate shutdown, as in a crash).  Queries that
# need its shards fail with Citus's connection error; writes spanning it
# fail whole; a refresh fails and keeps the stored reports; nothing else
# changes.  After a restart every figure is what it was, plus the writes that
# succeeded.  Run by test/citus/run.sh (PGHOST, LK_TMP, PGBIN exported), last:
# it restarts the worker it stops.
set -uo pipefail
[ -n "${FAULT_DEBUG:-}" ] && set -x
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
echo "1..13"

w2=$LK_TMP/w2
kpi="SELECT md5(string_agg(campaign || s::text, ',' ORDER BY campaign)) FROM (
       SELECT campaign, kpi_agg(first_contact_at, converted_at, revenue) AS s FROM crm.leads GROUP BY 1) c"
funnel="SELECT md5(string_agg(campaign || fs::text, ',' ORDER BY campaign)) FROM (
          SELECT campaign, rollup(fs) AS fs FROM (
            SELECT e.lead_id, l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                   ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
            FROM crm.stage_events e JOIN crm.leads l USING (lead_id) GROUP BY 1, 2) p GROUP BY 1) c"

# (no citus.multi_shard_modify_mode here: create_reports sets it itself;
# Citus tables are watched by change columns or not at all: watch => [])
PGOPTIONS="-c client_min_messages=error" q -c "SELECT count(*) FROM create_reports('fault_rep', leads => 'crm.leads',
        stage_events => 'crm.stage_events', spend => 'crm.spend',
        stages => ARRAY['lead','mql','sql','opportunity','customer'], materialized => true, watch => '[]')" >/dev/null
kpi0=$(q -c "$kpi"); funnel0=$(q -c "$funnel"); leads0=$(q -c "SELECT count(*) FROM crm.leads")
store0=$(q -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM fault_rep.kpi_by_campaign t")
# a lead id whose shard is on the worker that stays up, and one on the worker that stops
id_w1=$(q -c "SELECT i FROM generate_series(20000001, 20000100) i
              JOIN pg_dist_shard_placement p ON p.shardid = get_shard_id_for_distribution_column('crm.leads', i)
              WHERE p.nodename LIKE '%sock_w1' LIMIT 1")

as_pg "$PGBIN/pg_ctl" -D "$w2" -m immediate -w stop >/dev/null
ok $? "worker 2 stopped"

err=$(q -c "$kpi" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"connection to the remote node"*"sock_w2"*"failed"* ]]
ok $? "kpi_agg by campaign fails with Citus's connection error naming the worker (${err%%$'\n'*})"

err=$(q -c "$funnel" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"connection to the remote node"* ]]
ok $? "the funnel fails the same way"

[ "$(q -c "SELECT count(*) > 0 FROM crm.spend" 2>/dev/null)" = t ]
ok $? "the reference table (spend) is still readable from the coordinator's copy"

err=$(q -c "INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel)
            SELECT i, now(), 'fault', 'fault' FROM generate_series(30000001, 30000200) i" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ]
ok $? "an INSERT spanning both workers fails"

q -c "INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel) VALUES ($id_w1, now(), 'fault', 'fault')" >/dev/null 2>&1
ok $? "an INSERT into a shard on the live worker succeeds"

err=$(q -c "SELECT count(*) FROM refresh_reports('fault_rep', full => true)" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"connection to the remote node"* ]]
ok $? "refresh_reports fails with the connection error"

[ "$(q -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM fault_rep.kpi_by_campaign t")" = "$store0" ]
ok $? "the materialized report still holds what it held before the failed refresh"

[ "$(q -c "SELECT isactive FROM pg_dist_node WHERE nodename LIKE '%sock_w2'")" = t ]
ok $? "Citus keeps the worker in its metadata (a stopped worker is not removed)"

as_pg "$PGBIN/pg_ctl" -D "$w2" -l "$LK_TMP/w2.log" -w -o "$(sed 's/^[^ ]* //' "$w2/postmaster.opts")" start >/dev/null
ok $? "worker 2 restarted"

[ "$(q -c "SELECT count(*) FROM crm.leads")" = $((leads0 + 1)) ]
ok $? "after the restart: the leads are the old ones plus the one successful insert, none of the failed 200"

q -c "DELETE FROM crm.leads WHERE lead_id = $id_w1" >/dev/null
[ "$(q -c "$kpi")" = "$kpi0" ] && [ "$(q -c "$funnel")" = "$funnel0" ]
ok $? "kpi_agg and the funnel by campaign give the figures of before the stop"

q -c "SELECT count(*) FROM refresh_reports('fault_rep', full => true)" >/dev/null \
  && [ "$(q -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM fault_rep.kpi_by_campaign t")" = "$store0" ]
ok $? "refresh_reports works again and stores the same figures"

PGOPTIONS="-c client_min_messages=error" q -c "SELECT drop_reports('fault_rep')" -c "DROP SCHEMA fault_rep" >/dev/null
exit $((failed > 0))
