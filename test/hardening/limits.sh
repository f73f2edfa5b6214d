#!/usr/bin/env bash
# test/hardening/limits.sh: `make check-limits` (via test/harness.sh run).
# One group holding LIMIT_EVENTS events (default 100M): one funnel entity
# (funnel_agg, window_funnel) and one campaign of funnel_agg over 1M
# entities.  Each must give a result or a clean error (SQLSTATE 54000 with a
# hint), never a crash or an out-of-memory kill.  The backend's peak RSS
# (VmHWM) is measured at LIMIT_EVENTS and at a tenth of it; their difference
# gives the memory per event.  Also the size of stored summaries.  TAP output.
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
check() {
    local name=$1 sql_small=$2 sql_big=$3 a b
    n=$((n + 1))
    read -r sa ra ta < <(run_case "$sql_small")
    # on a shared machine an OOM kill may take another process: when the
    # small run's peak, scaled up, would not fit in 70% of the memory
    # available, the big run is not started and the case fails
    avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    if [ "$sa" = ok ] && [ $((ra * (big / small))) -gt $((avail * 7 / 10)) ]; then
        echo "not ok $n - $name with $big events: not run; $small events peaked at $((ra / 1024)) MB," \
             "so $big would need about $((ra * (big / small) / 1048576)) GB (available: $((avail / 1048576)) GB) and no bound stops it"
        per_event+=("$name: about $(awk -v a="$ra" -v n=$small 'BEGIN {printf "%.0f", a * 1024 / n}') B/event at $small events")
        return 0
    fi
    read -r sb rb tb < <(run_case "$sql_big")
    pe=$(awk -v a="$ra" -v b="$rb" -v n=$((big - small)) 'BEGIN {printf "%.1f", (b - a) * 1024 / n}')
    per_event+=("$name: $pe B/event")
    if [ "$sb" = ok ] || [ "$sb" = 54000 ]; then
        echo "ok $n - $name with $big events: $sb in ${tb}s, peak RSS $((rb / 1024)) MB ($small events: $((ra / 1024)) MB); $pe bytes per event"
    else
        echo "not ok $n - $name with $big events: $sb (expected a result or 54000), peak RSS $((rb / 1024)) MB"
    fi
}
check "funnel_agg, one entity" \
    "SELECT funnel_agg(1::bigint, ts, step, '1 day') FROM ($(ev $small)) e" \
    "SELECT funnel_agg(1::bigint, ts, step, '1 day') FROM ($(ev $big)) e"
check "funnel_agg, one campaign of 1M entities" \
    "SELECT funnel_agg(g % 1000000, ts, step, '1 day') FROM ($(ev $small)) e" \
    "SELECT funnel_agg(g % 1000000, ts, step, '1 day') FROM ($(ev $big)) e"
check "window_funnel, one entity" \
    "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3) FROM ($(ev $small)) e" \
    "SELECT window_funnel('1 day', ts, step = 1, step = 2, step = 3) FROM ($(ev $big)) e"

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
