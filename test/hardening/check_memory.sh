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
lk_packages 15
PG_CONFIG=$(bash "$top/test/hardening/pg15_valgrind.sh")
export PG_CONFIG
t_pg=$(date +%s)
prefix=$(dirname "$(dirname "$PG_CONFIG")")

# objects built against the assertion-enabled headers stay out of the tree
mkdir -p "$LK_TMP/src"
(cd "$top" && cp -a Makefile leadkpi.control src sql test expected "$LK_TMP/src/")
cd "$LK_TMP/src"
make -s clean >/dev/null 2>&1 || true
lk_build
lk_private_tree
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
mv "$bindir/postgres" "$bindir/postgres.bin"
cat > "$bindir/postgres" <<EOF
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=yes --read-var-info=no \\
    --num-callers=40 --leak-check=no --gen-suppressions=all --error-limit=no \\
    --suppressions="$prefix/valgrind.supp" --suppressions="$top/test/hardening/valgrind-extra.supp" \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
    --log-file="$LK_TMP/valgrind/%p.log" "$bindir/postgres.bin" "\$@"
EOF
chmod 755 "$bindir/postgres"
chown -R postgres:postgres "$LK_TMP/valgrind" "$bindir/postgres"
lk_log "starting the server under valgrind"
PGCTLTIMEOUT=600 lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -l "$LK_TMP/data.log" -w \
    -o "-c listen_addresses='' -k $LK_TMP -p 5432 -c fsync=off ${opts[*]}" start >/dev/null
export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
export PSQL="$bindir/psql -X -q -v ON_ERROR_STOP=1"
t_start=$(date +%s)

fail=0
results=()
lk_log "pg_regress under valgrind"
rm -rf results regression.diffs regression.out
regress=()
[ -n "${CHECK_MEMORY_ONLY:-}" ] && for f in $CHECK_MEMORY_ONLY; do [ -f "test/sql/$f.sql" ] && regress+=("$f"); done
if make -s installcheck PG_CONFIG="$PG_CONFIG" ${CHECK_MEMORY_ONLY:+REGRESS="${regress[*]:-}"}; then
    results+=("pg_regress: passed")
else
    [ -f regression.diffs ] && head -100 regression.diffs
    results+=("pg_regress: FAILED"); fail=1
fi
t_reg=$(date +%s)

lk_log "pgTAP under valgrind"
$PSQL -d postgres -c "CREATE DATABASE leadkpi_tap"
$PSQL -d leadkpi_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION leadkpi;"
tap=(test/pgtap/*.sql)
if [ -n "${CHECK_MEMORY_ONLY:-}" ]; then
    tap=(); for f in $CHECK_MEMORY_ONLY; do [ -f "test/pgtap/$f.sql" ] && tap+=("test/pgtap/$f.sql"); done
fi
if [ ${#tap[@]} -eq 0 ] || pg_prove -d leadkpi_tap --failures "${tap[@]}"; then
    results+=("pgTAP: passed (${#tap[@]} files)")
else
    results+=("pgTAP: FAILED"); fail=1
fi
t_tap=$(date +%s)

lk_log "TAP scripts under valgrind"
scripts=()
for s in test/t/*.sh; do
    case " ${CHECK_MEMORY_SKIP:-} " in *" $(basename "$s") "*) lk_log "skipping $s"; continue ;; esac
    [ -n "${CHECK_MEMORY_ONLY:-}" ] && continue
    scripts+=("$s")
done
# the TAP scripts read pg_config for their client tools: Debian's are fine
if [ ${#scripts[@]} -eq 0 ] || PATH=/usr/bin:$PATH prove --exec bash "${scripts[@]}"; then
    results+=("TAP scripts: passed (${#scripts[@]} scripts)")
else
    results+=("TAP scripts: FAILED"); fail=1
fi
t_sh=$(date +%s)

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
