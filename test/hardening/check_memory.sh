#!/usr/bin/env bash
# test/hardening/check_memory.sh: `make check-memory`.  The whole test suite
# (pg_regress, pgTAP, the TAP scripts) against a PostgreSQL 15 server built
# with assertions and USE_VALGRIND (test/hardening/pg15_valgrind.sh), every
# server process under valgrind memcheck with PostgreSQL's
# src/tools/valgrind.supp plus test/hardening/valgrind-extra.supp.
# Passes when the suite passes, no server process crashed or failed an
# assertion, and valgrind reported no error at all; the report sorts the
# errors into leadkpi's (a frame in leadkpi.so) and PostgreSQL's.
#
# Environment: CHECK_MEMORY_OUT (check-memory-out/: valgrind logs, the
# server log and the errors), KEEP=1, CHECK_MEMORY_SKIP (TAP scripts to
# leave out, space-separated basenames), CHECK_MEMORY_ONLY (a pg_regress or
# pgTAP file list to run instead of all, for a quick look).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${CHECK_MEMORY_OUT:-$top/check-memory-out}")
t0=$(date +%s)

. "$top/test/lib/cluster.sh"
. "$top/test/hardening/suite.sh"
lk_packages 15
PG_CONFIG=$(bash "$top/test/hardening/pg15_valgrind.sh")
export PG_CONFIG
t_pg=$(date +%s)
prefix=$(dirname "$(dirname "$PG_CONFIG")")

# objects built against the assertion-enabled headers stay out of the tree
hs_build_copy
bindir="$PGBIN"
opts=(-c max_parallel_workers_per_gather=2 -c shared_buffers=256MB -c work_mem=64MB
      -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on
      -c max_worker_processes=16 -c log_min_messages=warning)
lk_start data 5432 "${opts[@]}"
lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -m fast -w stop >/dev/null

# postgres becomes a wrapper that runs the real binary under valgrind; forked
# backends and workers stay under it.  Options as PostgreSQL's buildfarm
# animal skink runs them.
mkdir -p "$LK_TMP/valgrind"
hs_wrap_postgres <<EOF
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=yes --read-var-info=no \\
    --num-callers=40 --leak-check=no --gen-suppressions=all --error-limit=no \\
    --suppressions="$prefix/valgrind.supp" --suppressions="$top/test/hardening/valgrind-extra.supp" \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
    --log-file="$LK_TMP/valgrind/%p.log" "$bindir/postgres.bin" "\$@"
EOF
chown -R postgres:postgres "$LK_TMP/valgrind"
lk_log "starting the server under valgrind"
PGCTLTIMEOUT=600 lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -l "$LK_TMP/data.log" -w \
    -o "-c listen_addresses='' -k $LK_TMP -p 5432 -c fsync=off ${opts[*]}" start >/dev/null
export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
export PSQL="$bindir/psql -X -q -v ON_ERROR_STOP=1"
t_start=$(date +%s)

fail=0
results=()
# under valgrind the server is some 30 times slower: the concurrency test's
# pgbench run needs longer than its 6 s for its refreshes to overlap writes
export LK_CONC_SECONDS=${LK_CONC_SECONDS:-90}
hs_suite "under valgrind" "${CHECK_MEMORY_ONLY:-}" "${CHECK_MEMORY_SKIP:-}"

# a fast shutdown lets every process write its last valgrind words
lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -m fast -w -t 600 stop >/dev/null || true
mkdir -p "$out"
rm -f "$out"/*.log "$out"/errors-*.txt
cp "$LK_TMP/data.log" "$out/server.log"
crashes=$(grep -cE 'terminated by signal|TRAP:|was terminated by exception' "$LK_TMP/data.log" || true)
[ "$crashes" -eq 0 ] || { results+=("server: $crashes crashes or assertion failures (see $out/server.log)"); fail=1; }

# each valgrind error is a block between the markers; sort them by whether a
# frame is in leadkpi.so
read -r nproc nlk npg < <(/usr/bin/python3 - "$LK_TMP/valgrind" "$out" <<'PY'
import glob, os, re, sys
src, out = sys.argv[1], sys.argv[2]
logs = glob.glob(os.path.join(src, '*.log'))
lk, pg = [], []
for f in logs:
    text = open(f, errors='replace').read()
    for block in re.findall(r'VALGRINDERROR-BEGIN\n(.*?)VALGRINDERROR-END', text, re.S):
        (lk if 'leadkpi.so' in block or '/src/' in block and 'leadkpi' in block else pg).append(
            f'== {os.path.basename(f)}\n{block}')
for name, blocks in (('leadkpi', lk), ('postgresql', pg)):
    if blocks:
        open(os.path.join(out, f'errors-{name}.txt'), 'w').write('\n'.join(blocks))
print(len(logs), len(lk), len(pg))
PY
)
cp "$LK_TMP"/valgrind/*.log "$out/" 2>/dev/null || true
find "$out" -name '*.log' -size 0 -delete
if [ "$nlk" -gt 0 ] || [ "$npg" -gt 0 ]; then
    results+=("valgrind: $nlk errors in leadkpi, $npg in PostgreSQL (see $out/errors-*.txt)"); fail=1
else
    results+=("valgrind: 0 errors in $nproc server processes")
fi
t1=$(date +%s)
for r in "${results[@]}"; do lk_log "$r"; done
lk_log "times: server build/cache $((t_pg - t0)) s, start $((t_start - t_pg)) s, pg_regress $((t_reg - t_start)) s," \
       "pgTAP $((t_tap - t_reg)) s, TAP scripts $((t_sh - t_tap)) s, total $((t1 - t0)) s"
if [ "$fail" = 0 ]; then echo "check-memory: 1 passed, 0 failed"; else echo "check-memory: 0 passed, 1 failed"; fi
exit "$fail"
