#!/usr/bin/env bash
# test/hardening/limits.sh: `make check-limits` (via test/harness.sh run).
# One group holding LIMIT_EVENTS events (default 100M): one funnel entity
# (funnel_agg, window_funnel) and one campaign of funnel_agg over 1M
# entities.  leadkpi.funnel_memory_limit (default 2GB) bounds one group, so
# a group that needs more than the limit must stop with SQLSTATE 54000 and
# its hint, at a peak RSS within the limit (plus the backend's own), never
# a crash or an out-of-memory kill; a group that fits must give a result.
# The backend's peak RSS (VmHWM) at a tenth and a hundredth of LIMIT_EVENTS
# gives the memory per event.  Also the size of stored summaries.  TAP
# output.
set -euo pipefail
bindir=$(dirname "$(head -1 "$($PSQL -d postgres -Atc 'SHOW data_directory')/postmaster.opts" | awk '{print $1}' | tr -d "'\"")")
psql() { "$bindir/psql" -X -q "$@"; }
big=${LIMIT_EVENTS:-100000000}
small=$((big / 10))
db=leadkpi_limits
psql -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION leadkpi"

# run_case SQL: prints "<sqlstate or ok> <peak RSS kB> <seconds>" for SQL
# run in a fresh backend (work_mem does not bound these states)
run_case() {
    local out t0
    t0=$(date +%s.%N)
    out=$(psql -d $db -At -v ON_ERROR_STOP=0 -v VERBOSITY=verbose 2>&1 <<SQL || true
SELECT 'result', left(($1)::text, 60);
-- the backend reads its own peak RSS
SELECT 'VmHWM', substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*(\d+)');
SQL
)
    local state rss
    if grep -q '^result|' <<< "$out"; then state=ok
    elif grep -qE 'ERROR: +[0-9A-Z]{5}' <<< "$out"; then state=$(echo "$out" | sed -n 's/.*ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1)
    elif grep -q 'server closed' <<< "$out"; then state=crash-or-oom-kill
    else state=unknown; fi
    rss=$(echo "$out" | awk -F'|' '/^VmHWM/ {print $2}')
    echo "$state ${rss:-0} $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')"
    echo "$out" | grep -E 'ERROR|HINT|result' | sed 's/^/#   /' >&2
}

ev() { echo "SELECT g, timestamptz '2024-01-01' + ((g * 7919) % 100000000) * interval '1 second' AS ts,
              (g % 5)::int + 1 AS step FROM generate_series(1, $1::bigint) g"; }
echo "1..4"
n=0
per_event=()
# (the library defines the parameter when it loads)
limit_kb=$(psql -d $db -At -c "LOAD 'leadkpi'" -c "SELECT pg_size_bytes(current_setting('leadkpi.funnel_memory_limit')) / 1024")
# the limit plus what a backend holds besides the group's state
slack_kb=$((256 * 1024))
# check NAME BYTES_PER_EVENT SQL_TEMPLATE: the template's @N@ is the event
# count.  The bytes per event are those the limit counts (funnel.md,
# "Memory"): a group of more than limit / that many events is 54000.
check() {
    local name=$1 bpe=$2 tpl=$3 tiny=$((small / 10))
    n=$((n + 1))
    read -r s0 r0 t0 < <(run_case "${tpl//@N@/$tiny}")
    read -r sa ra ta < <(run_case "${tpl//@N@/$small}")
    pe=$(awk -v a="$r0" -v b="$ra" -v n=$((small - tiny)) 'BEGIN {printf "%.1f", (b - a) * 1024 / n}')
    per_event+=("$name: $pe B/event")
    if [ $((big * bpe / 1024)) -gt $((limit_kb + slack_kb)) ] &&
       [ $((limit_kb + slack_kb)) -gt $(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 7 / 10)) ]; then
        # an OOM kill on a shared machine may take another process
        echo "not ok $n - $name with $big events: not run, the limit ($((limit_kb / 1024)) MB) does not fit in 70% of the memory available"
        return 0
    fi
    read -r sb rb tb < <(run_case "${tpl//@N@/$big}")
    local want=ok
    [ $((big * bpe / 1024)) -gt "$limit_kb" ] && want=54000
    if [ "$sa" = ok ] && [ "$sb" = "$want" ] && [ "$rb" -le $((limit_kb + slack_kb)) ]; then
        echo "ok $n - $name with $big events: $sb in ${tb}s, peak RSS $((rb / 1024)) MB (limit $((limit_kb / 1024)) MB);" \
             "$small events: ok, $((ra / 1024)) MB; $pe bytes per event"
    else
        echo "not ok $n - $name with $big events: $sb (expected $want) at a peak RSS of $((rb / 1024)) MB" \
             "(limit $((limit_kb / 1024)) MB); $small events: $sa"
    fi
}
# 92 and 32 bytes per event: FA_BYTES_PER_EVENT, WF_BYTES_PER_EVENT (every
# event matches a step: window_funnel keeps only those)
check "funnel_agg, one entity" 92 \
    "SELECT funnel_agg(1::bigint, ts, step, '1 day') FROM ($(ev @N@)) e"
check "funnel_agg, one campaign of 1M entities" 92 \
    "SELECT funnel_agg(g % 1000000, ts, step, '1 day') FROM ($(ev @N@)) e"
check "window_funnel, one entity" 32 \
    "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3, step = 4, step = 5) FROM ($(ev @N@)) e"

# stored sizes: a summary does not grow with its rows (sketch buckets are
# bounded by the range of cycles), a funnel summary by its steps
n=$((n + 1))
sizes=$(psql -d $db -At -v ON_ERROR_STOP=1 -F' ' -c "
    SELECT pg_column_size(kpi_agg(ts, ts + (g % 10007) * interval '1 minute', g)),
           pg_column_size(spend_agg(g)),
           pg_column_size(funnel_agg(g % 100000, ts, step, '1 day')),
           pg_column_size(funnel_agg(g % 100000, ts, (g % 32)::int + 1, '1 day', NULL, 32))
    FROM ($(ev 1000000)) e")
read -r ks sp fs5 fs32 <<<"$sizes"
if [ -n "$fs32" ]; then
    echo "ok $n - stored sizes: kpi_summary $ks B (1M rows), spend-only $sp B, funnel_summary 5 steps $fs5 B, 32 steps $fs32 B"
else
    echo "not ok $n - stored sizes"
fi
echo "# memory per event: ${per_event[*]}"
psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
