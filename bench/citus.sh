#!/usr/bin/env bash
# bench/citus.sh (`make bench-citus`): leadkpi on Citus, a coordinator and 2
# workers on this machine, against the same queries on one node.
#
#   1. the sample CRM at BENCH_CITUS_SCALE leads (2,000,000: about 5M stage
#      events), distributed as doc/citus.md says, with an undistributed copy
#      on the coordinator (the one-node reference: plain tables, same server);
#   2. every query checked equal on both, then timed, interleaved, RUNS
#      times (median): wall time (indicative only on a shared machine) and
#      the CPU time of all servers of the cluster (the fair comparison);
#   3. what the coordinator received for each: rows (the workers'
#      pg_stat_statements) and bytes (Citus's EXPLAIN ANALYZE count, or the
#      tasks re-run on the workers where EXPLAIN ANALYZE fails: #4043);
#   4. the same traffic at BENCH_CITUS_TRAFFIC_SCALES leads (about 1M, 2M and
#      4M events): what grows with the event count and what does not.
# Output: bench/out/citus.txt (also printed).
#
# Environment: CITUS_SRC (see test/citus/citus.sh), BENCH_CITUS_SCALE,
# BENCH_CITUS_TRAFFIC_SCALES (empty for none), RUNS (3), KEEP=1,
# BENCH_CITUS_QUERIES (some of the names below, default all).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. "$top/test/lib/cluster.sh"
. "$top/test/citus/citus.sh"

scale=${BENCH_CITUS_SCALE:-2000000}
traffic_scales=${BENCH_CITUS_TRAFFIC_SCALES-403000 806000 1612000}   # empty: none
runs=${RUNS:-3}
out="$top/bench/out"
mkdir -p "$out"
report="$out/citus.txt"

lk_packages 15
lk_build
lk_private_tree
lk_citus_install
# default_statistics_target: see test/citus/run.sh (a leak in kpi_summary's =)
lk_citus_start 2 -c shared_preload_libraries=citus,pg_stat_statements -c default_statistics_target=10 \
    -c shared_buffers=256MB -c work_mem=64MB -c max_wal_size=4GB -c checkpoint_timeout=30min
db=leadkpi_bench
lk_citus_createdb "$db" pg_stat_statements
export PGHOST=$(lk_citus_host coord) PGPORT=$LK_CITUS_PORT PGUSER=postgres PGDATABASE=$db
psql_q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
psql_q -c "CREATE EXTENSION leadkpi" -f bench/citus.sql >/dev/null
shards=$(psql_q -c "SHOW citus.shard_count")

# The queries, @ standing for the schema: crm. (distributed) or local. (one node)
all_names=(funnel_agg two_level_paths two_level_levels two_level_summaries kpi_report funnel_report)
read -r -a names <<< "${BENCH_CITUS_QUERIES:-${all_names[*]}}"
declare -A sql what
what[funnel_agg]="funnel_agg by campaign (events joined to leads)"
sql[funnel_agg]="SELECT l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                   ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
                 FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1"
what[two_level_paths]="funnel_path per lead, funnel_agg(path, 5, window) by campaign"
sql[two_level_paths]="SELECT campaign, funnel_agg(path, 5, interval '90 days') AS fs FROM (
                   SELECT lead_id, funnel_path(occurred_at, stage, ARRAY['lead','mql','sql','opportunity','customer'],
                                               interval '90 days') AS path
                   FROM @stage_events GROUP BY lead_id) p JOIN @leads USING (lead_id) GROUP BY campaign"
what[two_level_levels]="window_funnel per lead, funnel_agg(level, 5) by campaign"
sql[two_level_levels]="SELECT campaign, funnel_agg(level, 5) AS fs FROM (
                   SELECT e.lead_id, l.campaign,
                          window_funnel(interval '90 days', e.occurred_at, e.stage = 'lead', e.stage = 'mql',
                                        e.stage = 'sql', e.stage = 'opportunity', e.stage = 'customer') AS level
                   FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1"
what[two_level_summaries]="funnel_agg per lead, rollup by campaign"
sql[two_level_summaries]="SELECT campaign, rollup(fs) AS fs FROM (
                   SELECT e.lead_id, l.campaign, funnel_agg(e.lead_id, e.occurred_at, e.stage,
                          ARRAY['lead','mql','sql','opportunity','customer'], interval '90 days') AS fs
                   FROM @stage_events e JOIN @leads l USING (lead_id) GROUP BY 1, 2) per_lead GROUP BY 1"
what[kpi_report]="KPI report by campaign (create_reports' kpi_by_campaign)"
sql[kpi_report]="SELECT * FROM rep_@kpi_by_campaign"
what[funnel_report]="funnel report by campaign (create_reports' funnel_by_campaign)"
sql[funnel_report]="SELECT * FROM rep_@funnel_by_campaign"
# how the bytes are counted: Citus's EXPLAIN ANALYZE, or the tasks re-run
declare -A bytes_by=([funnel_agg]=explain [funnel_report]=tasks [two_level_paths]=tasks
                     [two_level_levels]=tasks [two_level_summaries]=tasks [kpi_report]=tasks)
q_of() { local q=${sql[$1]}; q=${q//rep_@/rep_$2.}; echo "${q//@/$2.}"; }

load() {   # load LEADS: the sample CRM, distributed, with its one-node copy and reports
    local t0=$(date +%s)
    sed 's/^SET client_min_messages = warning;/SET client_min_messages = error;/' test/data/gen_crm.sql \
        | psql_q -v scale="$1" >/dev/null
    psql_q -f test/citus/setup.sql >/dev/null
    for s in crm local; do
        PGOPTIONS="-c client_min_messages=error" psql_q -c "SELECT count(*) FROM create_reports('rep_$s', leads => '$s.leads',
            stage_events => '$s.stage_events', spend => '$s.spend', orders => '$s.orders',
            stages => ARRAY['lead','mql','sql','opportunity','customer'], conversion_window => '90 days', time_zone => 'UTC')" >/dev/null
    done
    psql_q -c "VACUUM ANALYZE local.leads, local.stage_events, local.orders, local.spend" >/dev/null
    lk_log "loaded $1 leads, $(psql_q -c "SELECT count(*) FROM crm.stage_events") events in $(( $(date +%s) - t0 )) s"
}

same() {   # same NAME: the query gives the same rows on both
    local a b
    a=$(psql_q -c "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ($(q_of "$1" crm)) t")
    b=$(psql_q -c "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ($(q_of "$1" local)) t")
    [ "$a" = "$b" ] || { lk_log "MISMATCH: $1 differs between Citus and one node"; exit 1; }
}

same_as() {   # same_as NAME OTHER: NAME on Citus gives OTHER's rows on one node
    local a b
    a=$(psql_q -c "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ($(q_of "$1" crm)) t")
    b=$(psql_q -c "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ($(q_of "$2" local)) t")
    [ "$a" = "$b" ] || { lk_log "MISMATCH: $1 on Citus differs from $2 on one node"; exit 1; }
}
check_all() {   # every query the same on both; the two-level funnel the one-pass one
    local n
    for n in "${names[@]}"; do same "$n"; done
    if [[ " ${names[*]} " == *" two_level_paths "* ]]; then same_as two_level_paths funnel_agg; fi
}

traffic() {   # traffic NAME: "rows bytes" the coordinator received
    local q rows bytes
    q=$(q_of "$1" crm)
    # three statements: a worker records a query in pg_stat_statements when
    # its portal closes, for queries with subplans at the end of the
    # coordinator's transaction
    psql_q -c "SELECT run_command_on_workers('SELECT pg_stat_statements_reset()')" >/dev/null
    psql_q -c '\o /dev/null' -c "$q"
    rows=$(psql_q -c "SELECT sum(result::bigint) FROM run_command_on_workers(\$w\$SELECT coalesce(sum(rows), 0)
             FROM pg_stat_statements WHERE query ~ '(leads|stage_events|orders|spend)_[0-9]+'\$w\$)")
    if [ "${bytes_by[$1]}" = explain ]; then
        bytes=$(psql_q -c "SELECT citus_bench.bytes_explain(\$q\$$q\$q\$)")
    else
        read -r trows bytes < <(psql_q -F ' ' -c "SELECT rows, bytes FROM citus_bench.bytes_tasks(\$q\$$q\$q\$)")
        [ "$trows" = "$rows" ] || { lk_log "$1: tasks re-run gave $trows rows, pg_stat_statements $rows"; exit 1; }
    fi
    echo "$rows $bytes"
}

# CPU time of the whole cluster, in clock ticks: every postmaster's own and
# reaped children's time, plus its live children's (backends, cached Citus
# connections, parallel workers).  On a machine shared with other jobs this is
# the fair comparison: Citus runs up to one backend per shard at once, which
# also wins it a bigger share of the machine than one node's 1-3 processes.
cpu_ticks() {
    local total=0 n pm child a b c d
    for n in "${LK_CITUS_NODES[@]}"; do
        pm=$(head -1 "$LK_TMP/$n/postmaster.pid")
        read -r a b c d < <(awk '{print $14, $15, $16, $17}' "/proc/$pm/stat")
        total=$((total + a + b + c + d))
        for child in $(pgrep -P "$pm"); do
            read -r a b < <(awk '{print $14, $15}' "/proc/$child/stat" 2>/dev/null || echo 0 0)
            total=$((total + a + b))
        done
    done
    echo "$total"
}
hz=$(getconf CLK_TCK)

ms() {   # ms SQL: "wall_ms cpu_s": client-side time of the query (rows discarded), cluster CPU
    local c0 c1 t pid i
    c0=$(cpu_ticks)
    t=$("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -c 'SELECT pg_backend_pid()' -c '\timing on' -c '\o /dev/null' -c "$1")
    pid=${t%%$'\n'*}
    t=$(echo "$t" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    # a backend's time reaches its postmaster's only once it has exited and
    # been reaped: wait for the session's backend, then for the workers'
    for i in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.05; done
    sleep 0.5
    c1=$(cpu_ticks)
    echo "$t $(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN {printf "%.2f", d / hz}')"
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# ---------------------------------------------------------------- main scale
load "$scale"
events=$(psql_q -c "SELECT count(*) FROM crm.stage_events")
leads=$(psql_q -c "SELECT count(*) FROM crm.leads")
ncamp=$(psql_q -c "SELECT count(DISTINCT campaign) FROM crm.leads")
check_all
lk_log "results equal on Citus and on one node; timing $runs interleaved runs"
declare -A t_local t_citus c_local c_citus
run_one() {   # run_one NAME SCHEMA: appends wall ms and CPU s
    local w c
    read -r w c < <(ms "$(q_of "$1" "$2")")
    if [ "$2" = local ]; then t_local[$1]="${t_local[$1]:-} $w"; c_local[$1]="${c_local[$1]:-} $c"
    else t_citus[$1]="${t_citus[$1]:-} $w"; c_citus[$1]="${c_citus[$1]:-} $c"; fi
}
for r in $(seq 1 "$runs"); do
    for n in "${names[@]}"; do
        if [ $((r % 2)) = 1 ]; then run_one "$n" local; run_one "$n" crm; else run_one "$n" crm; run_one "$n" local; fi
    done
done
{
    echo "== Citus 2 workers + coordinator, $shards shards, one machine ($(nproc) cores, shared): $leads leads, $events events, $ncamp campaigns"
    echo "   medians of $runs interleaved runs: client-side wall ms (indicative: other jobs share the machine),"
    echo "   CPU s of all servers of the cluster (the fair comparison), rows and bytes the coordinator received (exact)"
    printf '   %-58s %9s %9s %8s %8s %12s %14s\n' query "1 node ms" "citus ms" "1 node s" "citus s" "rows recv" "bytes recv"
    for n in "${names[@]}"; do
        read -r rows bytes < <(traffic "$n")
        printf '   %-58s %9.0f %9.0f %8.2f %8.2f %12d %14d %s\n' "${what[$n]}" \
            "$(echo "${t_local[$n]}" | median)" "$(echo "${t_citus[$n]}" | median)" \
            "$(echo "${c_local[$n]}" | median)" "$(echo "${c_citus[$n]}" | median)" \
            "$rows" "$bytes" "(${bytes_by[$n]})"
    done
} | tee "$report"

# ---------------------------------------------------------------- traffic vs events
traffic_line() {   # one line: leads, events, then rows / bytes of every query
    local n rows bytes line
    line=$(printf '   %9d %9d' "$(psql_q -c "SELECT count(*) FROM crm.leads")" "$(psql_q -c "SELECT count(*) FROM crm.stage_events")")
    for n in "${names[@]}"; do
        read -r rows bytes < <(traffic "$n")
        line+=$(printf ' %26s' "$rows / $bytes")
    done
    echo "$line"
}
lines=("$(traffic_line)")
for s in $traffic_scales; do
    load "$s"
    check_all
    lines+=("$(traffic_line)")
done
{
    echo
    echo "== what the coordinator receives, by event count (rows / bytes)"
    printf '   %9s %9s' leads events
    for n in "${names[@]}"; do printf ' %26s' "$n"; done
    echo
    printf '%s\n' "${lines[@]}" | sort -k2,2n
} | tee -a "$report"
echo "   (two_level_*, kpi_report and funnel_report bytes: partial states re-run on the workers; funnel_agg: Citus's EXPLAIN ANALYZE)" | tee -a "$report"
lk_log "written to $report"
