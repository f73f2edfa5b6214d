#!/usr/bin/env bash
# bench/realtime.sh: materialized reports that refresh incrementally (#11),
# on the sample CRM of test/data/gen_crm.sql.  Run by `make bench-realtime`
# (test/harness.sh starts the cluster and exports PGHOST, PGPORT, PGUSER and
# PSQL); see bench/README.md.  Per scale:
#   1. the data, the plain reports (p), 0.1.0's materialized views (old, for
#      its non-concurrent refresh) and the materialized reports (m; the
#      first fill is timed);
#   2. full rebuilds, interleaved with 0.1.0's refresh; a reader's latency
#      during a full rebuild against without;
#   3. RT_ROUNDS days of changes (bench/realtime_day.sql), each: the live
#      views read with the day pending (interleaved, RT_REPS times), the
#      floors (the stored views alone; the lookups of the changed leads
#      alone; the refresh's reads and writes, bench/realtime_floor.sql), the plain views (first round), then the refresh with its
#      backend's peak memory; in the first round live = plain and, after the
#      refresh, stored = plain are checked;
#   4. at the first scale: the triggers' overhead on a bulk insert of 100k
#      leads and on single-row updates (pgbench), against triggers disabled.
# Output: bench/out/realtime.txt (medians) and bench/out/realtime.csv.
#
# Environment: RT_SCALES (2000000; e.g. "500000 2000000 8000000"),
# RT_CUTOFF (2026-01-01: gen_crm.sql's cutoff, the first day of changes;
# 2025-01-01 keeps one year of history at the same daily volume),
# RT_OWNERS (0; e.g. 40: the leads get an owner and a team, which the
# materialized reports then key their stores by),
# RT_ROUNDS (5), RT_REPS (5), RT_FULL (3 full rebuilds), RT_KEEP=1 keeps
# the databases, RT_SPEND_INDEX=0 leaves out the index on crm.spend (day).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
scales=${RT_SCALES:-2000000}
rounds=${RT_ROUNDS:-5}
reps=${RT_REPS:-5}
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}
bindir=$(pg_config --bindir)
out="$here/out"
mkdir -p "$out"
csv="$out/realtime.csv"
txt="$out/realtime.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "scale,metric,round,rep,value" > "$csv"

log() { printf '== %s\n' "$*" >&2; }
rec() { echo "$1,$2,$3,$4,$5" >> "$csv"; }
# ms DB SQL: "wall cpu" of SQL in a fresh session: the wall time (planning,
# execution and the rows' transfer, summed over SQL's statements; the rows
# go to /dev/null) and the CPU
# time of its backend (/proc/PID/schedstat; not of parallel workers), in ms.
# On a busy machine the CPU time is the steadier figure.
# With WARM=1, SQL runs once before, in the same session (the plan of a live
# view's function is then prepared, as in a dashboard's pooled connection).
ms() {
    local warmup=""
    [ "${WARM:-0}" = 1 ] && warmup="\\o /dev/null
$2;
\\o"
    $PSQL -d "$1" -At > "$work/ms.out" 2>&1 <<SQL
SELECT pg_backend_pid() AS lkpid \gset
\setenv LKPID :lkpid
$warmup
\! cut -d' ' -f1 /proc/\$LKPID/schedstat > $work/cpu0
\timing on
\o /dev/null
$2;
\o
\timing off
\! cut -d' ' -f1 /proc/\$LKPID/schedstat > $work/cpu1
SQL
    printf '%s %s\n' "$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$work/ms.out" | awk '{t += $1} END {printf "%.1f", t}')" \
        "$(awk -v a="$(cat "$work/cpu0")" -v b="$(cat "$work/cpu1")" 'BEGIN {printf "%.1f", (b - a) / 1e6}')"
}
# rec2 SCALE METRIC ROUND REP "wall cpu": records METRIC_ms and METRIC_cpu_ms
rec2() { rec "$1" "${2}_ms" "$3" "$4" "${5% *}"; rec "$1" "${2}_cpu_ms" "$3" "$4" "${5#* }"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# stat METRIC [SCALE]: the median and range of a metric from the CSV
stat() {
    awk -F, -v m="$1" -v s="${2:-}" '$2 == m && (s == "" || $1 == s) {print $5}' "$csv" > "$work/v"
    printf '%s (%s..%s, n=%s)' "$(median < "$work/v")" "$(sort -n "$work/v" | head -1)" "$(sort -n "$work/v" | tail -1)" "$(wc -l < "$work/v")"
}
load() { cut -d' ' -f1 /proc/loadavg; }

# refresh DB ARGS: runs refresh_reports('m'ARGS) in a fresh session and
# samples its backend's memory every 20 ms; prints "ms rss_anon_peak_mb
# vmhwm_mb cpu_ms" (the CPU time includes the 0.3 s sleep's nothing)
refresh() {
    local db=$1 args=${2:-} pidf=$work/pid peak=0 hwm=0 r h
    rm -f "$pidf"
    $PSQL -d "$db" -At > "$work/refresh.out" 2>&1 <<SQL &
\o $pidf
SELECT pg_backend_pid();
\o /dev/null
\timing on
SELECT count(*) FROM refresh_reports('m'$args);
SELECT pg_sleep(0.3);
SQL
    local bg=$!
    while [ ! -s "$pidf" ] && kill -0 $bg 2>/dev/null; do sleep 0.01; done
    local pid c0 c1
    pid=$(head -1 "$pidf")
    c0=$(cut -d' ' -f1 "/proc/$pid/schedstat" 2>/dev/null || echo 0)
    while kill -0 $bg 2>/dev/null; do
        c1=$(cut -d' ' -f1 "/proc/$pid/schedstat" 2>/dev/null || echo "$c1")
        r=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${r:-0}" -gt "$peak" ] && peak=$r
        [ "${h:-0}" -gt "$hwm" ] && hwm=$h
        sleep 0.02
    done
    wait $bg
    printf '%s %s %s %s\n' "$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$work/refresh.out" | head -1)" $((peak / 1024)) $((hwm / 1024)) \
        "$(awk -v a="$c0" -v b="${c1:-$c0}" 'BEGIN {printf "%.1f", (b - a) / 1e6}')"
}

LIVE="kpi_overview kpi_by_month kpi_by_campaign kpi_by_channel funnel_report funnel_by_campaign"
STAGES="ARRAY['lead','mql','sql','opportunity','customer']"
first_scale=$(echo $scales | cut -d' ' -f1)
cutoff=${RT_CUTOFF:-2026-01-01}

for scale in $scales; do
    db=leadkpi_rt_$scale
    log "scale $scale: data (load $(load))"
    $PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    $PSQL -d $db -c "CREATE EXTENSION leadkpi"
    t0=$(date +%s.%N)
    $PSQL -d $db -v scale="$scale" -v cutoff="$cutoff" -f "$top/test/data/gen_crm.sql" >/dev/null
    rec $scale gen_s 0 0 "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
    # the index on the spend day that doc/realtime.md asks for (live spend
    # reads the changed days by it); RT_SPEND_INDEX=0 leaves it out
    [ "${RT_SPEND_INDEX:-1}" = 1 ] && $PSQL -d $db -c "CREATE INDEX ON crm.spend (day)" >/dev/null
    # RT_OWNERS=N: the leads get one of N owners (rep0..), in teams of 5,
    # each owner working every campaign (the Odoo and Salesforce presets map
    # them; doc/realtime.md, "Segment columns"); a day's new leads have none
    if [ "${RT_OWNERS:-0}" -gt 0 ]; then
        $PSQL -d $db -c "ALTER TABLE crm.leads ADD COLUMN team text, ADD COLUMN owner text" \
              -c "UPDATE crm.leads SET owner = 'rep' || (lead_id * 7919) % ${RT_OWNERS},
                                       team = 'team' || ((lead_id * 7919) % ${RT_OWNERS}) / 5" >/dev/null
    fi
    $PSQL -d $db -c "VACUUM ANALYZE" >/dev/null
    $PSQL -d $db -c "SELECT count(*) FROM create_reports('p', leads => 'crm.leads', stage_events => 'crm.stage_events', spend => 'crm.spend',
                        orders => 'crm.orders', stages => $STAGES, funnel_modes => 'crm_backfill', time_zone => 'UTC')" >/dev/null
    $PSQL -d $db -f "$here/realtime_old.sql" >/dev/null
    log "scale $scale: materialized reports (the first fill)"
    rec2 $scale create 0 0 "$(ms $db "SELECT count(*) FROM create_reports('m', leads => 'crm.leads', stage_events => 'crm.stage_events',
        spend => 'crm.spend', orders => 'crm.orders', stages => $STAGES, funnel_modes => 'crm_backfill', materialized => true, time_zone => 'UTC')")"
    $PSQL -d $db -c "VACUUM ANALYZE m.lead_facts" >/dev/null
    rec $scale store_rows 0 0 "$($PSQL -d $db -Atc "SELECT (SELECT count(*) FROM m.kpi_daily) || '/' || (SELECT count(*) FROM m.funnel_daily) || '/' || (SELECT count(*) FROM m.kpi_monthly)")"
    # what a changed key's recomputation reads: leads per (day, campaign,
    # channel) key over the 90 days before the cutoff, where most of a
    # day's changes fall; history in days does not enter it
    rec $scale leads_per_recent_key 0 0 "$($PSQL -d $db -Atc "SELECT round(count(*)::numeric / nullif(count(DISTINCT (day, campaign, channel)), 0), 1)
                                                              FROM m.lead_facts WHERE day >= date '$cutoff' - 90")"

    log "scale $scale: full rebuilds against 0.1.0's non-concurrent refresh (load $(load))"
    for i in $(seq 1 "${RT_FULL:-3}"); do
        read -r t rss hwm cpu < <(refresh $db ", full => true")
        rec $scale full_ms 0 $i "$t"; rec $scale full_cpu_ms 0 $i "$cpu"; rec $scale full_rss_mb 0 $i "$rss"; rec $scale full_hwm_mb 0 $i "$hwm"
        rec2 $scale old_refresh 0 $i "$(ms $db "BEGIN; REFRESH MATERIALIZED VIEW old.kpi_watermark; REFRESH MATERIALIZED VIEW old.kpi_daily;
            REFRESH MATERIALIZED VIEW old.spend_daily; REFRESH MATERIALIZED VIEW old.funnel_store; REFRESH MATERIALIZED VIEW old.kpi_overview;
            REFRESH MATERIALIZED VIEW old.kpi_by_campaign; REFRESH MATERIALIZED VIEW old.kpi_by_channel; REFRESH MATERIALIZED VIEW old.kpi_by_month;
            REFRESH MATERIALIZED VIEW old.funnel_report; REFRESH MATERIALIZED VIEW old.funnel_by_campaign; COMMIT")"
        rec2 $scale ref_count_events 0 $i "$(ms $db "SELECT count(*) FROM crm.stage_events")"
        # the floors of a full rebuild: reading the leads (with their orders),
        # and grouping the stage events by lead, as it must to compare them
        rec2 $scale floor_full_leads 0 $i "$(ms $db "SELECT count(*) FROM m.report_leads")"
        rec2 $scale floor_full_events_by_lead 0 $i "$(ms $db "SELECT count(*) FROM (SELECT lead_id, array_agg(occurred_at), array_agg(step)
                                                                FROM m.report_stage_events GROUP BY lead_id) AS e")"
        # and both joined (count(col): the join alone), then that against
        # the stored facts (what a rebuild that writes only what changed
        # must read)
        rec2 $scale floor_full_join 0 $i "$(ms $db "SELECT count(l.converted_at), count(l.revenue), count(e.n) FROM m.report_leads AS l
            FULL JOIN (SELECT lead_id, count(occurred_at) AS n FROM m.report_stage_events GROUP BY lead_id) AS e ON e.lead_id = l.lead_id")"
        rec2 $scale floor_full_join_stored 0 $i "$(ms $db "SELECT count(*) FROM m.lead_facts AS o FULL JOIN (SELECT coalesce(l.lead_id, e.lead_id) AS lead_id,
            l.converted_at, l.revenue, e.n FROM m.report_leads AS l FULL JOIN (SELECT lead_id, count(occurred_at) AS n
            FROM m.report_stage_events GROUP BY lead_id) AS e ON e.lead_id = l.lead_id) AS n ON n.lead_id = o.lead_id
            WHERE o.converted_at IS DISTINCT FROM n.converted_at OR o.revenue IS DISTINCT FROM n.revenue OR o.seen IS DISTINCT FROM n.n")"
    done
    # a reader of the stored reports while a full rebuild runs, and without
    for phase in quiet rebuild; do
        if [ $phase = rebuild ]; then refresh $db ", full => true" > /dev/null & rb=$!; sleep 0.5; fi
        for i in $(seq 1 20); do
            rec2 $scale "reader_during_${phase}" 0 $i "$(ms $db "SELECT * FROM m.kpi_by_campaign")"
            [ $phase = rebuild ] && ! kill -0 $rb 2>/dev/null && break
        done
        [ $phase = rebuild ] && wait $rb
    done

    for round in $(seq 1 "$rounds"); do
        day=$(date -d "$cutoff + $((round - 1)) days" +%F)
        log "scale $scale round $round: a day of changes ($day, load $(load))"
        $PSQL -d $db -v day="$day" -v seed="0.$round" -f "$here/realtime_day.sql" >/dev/null
        rec $scale pending_changes $round 0 "$($PSQL -d $db -Atc "SELECT pending_changes FROM m.report_status")"
        rec $scale pending_leads $round 0 "$($PSQL -d $db -Atc "SELECT pending_leads FROM m.report_status")"
        for rep in $(seq 1 "$reps"); do
            for v in $LIVE; do
                rec2 $scale "live_${v}" $round $rep "$(ms $db "SELECT * FROM m.${v}_live")"
                rec2 $scale "live_${v}_warm" $round $rep "$(WARM=1 ms $db "SELECT * FROM m.${v}_live")"
                rec2 $scale "stored_${v}" $round $rep "$(ms $db "SELECT * FROM m.$v")"
            done
            # the floor of a live read: looking up the changed leads alone
            rec2 $scale floor_lookup_leads $round $rep "$(ms $db "SELECT count(*) FROM m._lk_leads_of(ARRAY(SELECT DISTINCT lead_id FROM m.pending_changes WHERE kind = 'lead'))")"
            rec2 $scale floor_lookup_events $round $rep "$(ms $db "SELECT count(*) FROM m._lk_leads_of(ARRAY(SELECT DISTINCT lead_id FROM m.pending_changes WHERE kind IN ('lead', 'event'))) AS l
                                                                      FULL JOIN m._lk_events_of(ARRAY(SELECT DISTINCT lead_id FROM m.pending_changes WHERE kind IN ('lead', 'event'))) AS e USING (lead_id)")"
            # the floor of the refresh: its reads and writes in plain SQL,
            # rolled back (bench/realtime_floor.sql); three times, as each
            # leaves dead rows behind
            [ "$rep" -le 3 ] && rec2 $scale floor_refresh $round $rep "$(ms $db "$(grep -v '^--' "$here/realtime_floor.sql")")"
        done
        if [ "$round" = 1 ]; then
            for v in $LIVE; do rec2 $scale "plain_${v}" $round 1 "$(ms $db "SELECT * FROM p.$v")"; done
            sed 's/pg_temp\./public./g' "$top/test/pgtap/include/reports_differ.sql" | $PSQL -d $db 2>/dev/null || true
            rec $scale live_equals_plain $round 0 "$($PSQL -d $db -Atc "SELECT reports_differ('m', 'p', '_live') = '{}'")"
        fi
        read -r t rss hwm cpu < <(refresh $db)
        rec $scale refresh_ms $round 0 "$t"; rec $scale refresh_cpu_ms $round 0 "$cpu"
        rec $scale refresh_rss_mb $round 0 "$rss"; rec $scale refresh_hwm_mb $round 0 "$hwm"
        $PSQL -d $db -Atc "SELECT last_refresh FROM m.report_status" > "$work/lr"
        rec $scale refresh_leads_changed $round 0 "$(sed -n 's/.*"leads_changed": \([0-9]*\).*/\1/p' "$work/lr")"
        rec $scale refresh_funnel_keys $round 0 "$(sed -n 's/.*"funnel_keys": \([0-9]*\).*/\1/p' "$work/lr")"
        if [ "$round" = 1 ]; then
            rec $scale stored_equals_plain $round 0 "$($PSQL -d $db -Atc "SELECT reports_differ('m', 'p', '') = '{}'")"
        fi
    done

    if [ "$scale" = "$first_scale" ]; then
        log "scale $scale: trigger overhead (load $(load))"
        for i in 1 2 3 4 5; do
            for mode in on off; do
                [ $mode = off ] && $PSQL -d $db -c "ALTER TABLE crm.leads DISABLE TRIGGER USER"
                rec2 $scale "bulk_insert_100k_triggers_${mode}" 0 $i "$(ms $db "INSERT INTO crm.leads (lead_id, first_contact_at, campaign, channel)
                    SELECT 100000000 + g, now(), 'bulk', 'web' FROM generate_series(1, 100000) AS g")"
                $PSQL -d $db -c "DELETE FROM crm.leads WHERE lead_id > 100000000" >/dev/null
                [ $mode = off ] && $PSQL -d $db -c "ALTER TABLE crm.leads ENABLE TRIGGER USER"
            done
        done
        printf '\\set r random(1, %s)\nUPDATE crm.leads SET revenue = coalesce(revenue, 0) + 1 WHERE lead_id = :r;\n' "$scale" > "$work/upd.sql"
        for i in 1 2 3; do
            for mode in on off; do
                [ $mode = off ] && $PSQL -d $db -c "ALTER TABLE crm.leads DISABLE TRIGGER USER"
                "$bindir/pgbench" -n -d $db -c 1 -T 5 -f "$work/upd.sql" > "$work/pgb.out" 2>&1
                rec $scale "single_update_triggers_${mode}_ms" 0 $i "$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$work/pgb.out")"
                [ $mode = off ] && $PSQL -d $db -c "ALTER TABLE crm.leads ENABLE TRIGGER USER"
            done
        done
        $PSQL -d $db -c "SELECT count(*) FROM refresh_reports('m', full => true)" >/dev/null
    fi
    [ "${RT_KEEP:-0}" = 1 ] || $PSQL -d postgres -c "DROP DATABASE $db"
done

{
    echo "Materialized reports (#11), $(date -u +%F), commit $(git -C "$top" rev-parse --short HEAD), PostgreSQL $($PSQL -d postgres -Atc 'SHOW server_version'),"
    echo "$(nproc) cores, load average at the end $(load); medians (min..max, n). Wall times in ms from psql (planning, execution, transfer)."
    echo "The reference query (count(*) over the stage events) shows the machine's state: compare it between runs."
    for scale in $scales; do
        echo
        echo "== scale $scale leads"
        for m in gen_s create_ms create_cpu_ms store_rows leads_per_recent_key ref_count_events_ms ref_count_events_cpu_ms \
                 full_ms full_cpu_ms old_refresh_ms old_refresh_cpu_ms full_rss_mb full_hwm_mb \
                 floor_full_leads_ms floor_full_leads_cpu_ms floor_full_events_by_lead_ms floor_full_events_by_lead_cpu_ms \
                 floor_full_join_ms floor_full_join_cpu_ms floor_full_join_stored_ms floor_full_join_stored_cpu_ms \
                 reader_during_quiet_ms reader_during_rebuild_ms pending_changes pending_leads \
                 refresh_ms refresh_cpu_ms floor_refresh_ms floor_refresh_cpu_ms refresh_rss_mb refresh_hwm_mb refresh_leads_changed refresh_funnel_keys \
                 $(for v in $LIVE; do echo live_${v}_ms live_${v}_cpu_ms live_${v}_warm_ms live_${v}_warm_cpu_ms stored_${v}_ms stored_${v}_cpu_ms plain_${v}_ms plain_${v}_cpu_ms; done) \
                 floor_lookup_leads_ms floor_lookup_leads_cpu_ms floor_lookup_events_ms floor_lookup_events_cpu_ms \
                 live_equals_plain stored_equals_plain \
                 bulk_insert_100k_triggers_on_ms bulk_insert_100k_triggers_on_cpu_ms bulk_insert_100k_triggers_off_ms bulk_insert_100k_triggers_off_cpu_ms \
                 single_update_triggers_on_ms single_update_triggers_off_ms; do
            grep -q ",$m," "$csv" && printf '%-34s %s\n' "$m" "$(stat $m $scale)"
        done
    done
} | tee "$txt"
