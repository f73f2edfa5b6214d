#!/usr/bin/env bash
# bench/funnel.sh: the funnel benchmark.  Runs against an already-running
# cluster (PGHOST, PGPORT, PGUSER exported) whose database $BENCH_DB (default
# leadkpi_bench) has leadkpi and the crm schema of test/data/gen_crm.sql:
#
#   psql -d leadkpi_bench -v scale=2000000 -f test/data/gen_crm.sql
#   bash bench/funnel.sh
#
# Interleaves, RUNS times (default 5): leadkpi's funnel by campaign, the best
# exact plain SQL for the same funnel, leadkpi's funnel over all events, and
# count(*) over the events.  Prints medians and ratios, and fails unless
# leadkpi and plain SQL give identical step totals per campaign.
set -euo pipefail
cd "$(dirname "$0")"
DB=${BENCH_DB:-leadkpi_bench}
RUNS=${RUNS:-5}
OUT=${BENCH_OUT:-out}
mkdir -p "$OUT"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"
# the same session settings for every query: enough memory that plain SQL's
# sorts stay in memory, and the parallel plans the planner picks by default
SETTINGS="SET work_mem = '1GB'; SET max_parallel_workers_per_gather = 2;"

queries=(leadkpi plain global count join)
declare -A times

run() {   # run <name>: prints milliseconds, saves the result rows
    local q=$1 t
    t=$( { echo "$SETTINGS"; echo '\timing on'; echo "\\o $OUT/funnel_$q.out"; cat "funnel_$q.sql"; } \
         | $PSQL -At 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    [ -n "$t" ] || { echo "query $q failed" >&2; exit 1; }
    echo "$t"
}

$PSQL -Atc "SELECT count(*) FROM crm.stage_events" >/dev/null
echo "== funnel benchmark on $DB: $($PSQL -Atc "SELECT count(*) FROM crm.leads") leads, $($PSQL -Atc "SELECT count(*) FROM crm.stage_events") events, $RUNS interleaved runs"
for i in $(seq 1 "$RUNS"); do
    # rotate the order each run so no query always follows the same one
    for j in 0 1 2 3 4; do
        q=${queries[$(( (i + j) % 5 ))]}
        t=$(run "$q")
        times[$q]="${times[$q]:-} $t"
        printf '   run %d %-8s %10.1f ms\n' "$i" "$q" "$t"
    done
done

if ! diff -q "$OUT/funnel_leadkpi.out" "$OUT/funnel_plain.out" >/dev/null; then
    echo "FAIL: leadkpi and plain SQL disagree" >&2
    diff "$OUT/funnel_leadkpi.out" "$OUT/funnel_plain.out" | head >&2
    exit 1
fi
# the global totals must be the sums of the per-campaign ones
sum=$(awk -F'|' '{for (i = 2; i <= 6; i++) s[i] += $i} END {printf "%d|%d|%d|%d|%d", s[2], s[3], s[4], s[5], s[6]}' "$OUT/funnel_leadkpi.out")
if [ "$sum" != "$(cat "$OUT/funnel_global.out")" ]; then
    echo "FAIL: global funnel $(cat "$OUT/funnel_global.out") != sum by campaign $sum" >&2
    exit 1
fi

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A med
for q in "${queries[@]}"; do med[$q]=$(echo "${times[$q]}" | median); done
echo "== medians (ms); results verified equal: step totals $sum"
printf '   %-52s %10.1f\n' \
    "leadkpi funnel_agg by campaign" "${med[leadkpi]}" \
    "plain SQL (stacked window functions) by campaign" "${med[plain]}" \
    "leadkpi funnel_agg over all events" "${med[global]}" \
    "count(*) over the events" "${med[count]}" \
    "count(*) of the events joined to leads, by campaign" "${med[join]}"
awk -v l="${med[leadkpi]}" -v p="${med[plain]}" -v g="${med[global]}" -v c="${med[count]}" -v j="${med[join]}" 'BEGIN {
    printf "== ratios\n"
    printf "   plain SQL / leadkpi (by campaign):     %6.1fx faster\n", p / l
    printf "   leadkpi by campaign / count(*):        %6.1fx count(*)\n", l / c
    printf "   leadkpi over all events / count(*):    %6.1fx count(*)\n", g / c
    printf "   plain SQL / join floor:                %6.1fx (the ceiling for any query that joins every event to its lead)\n", p / j
    printf "   leadkpi by campaign - join floor:      %6.0f ms of funnel work\n", l - j
}'
