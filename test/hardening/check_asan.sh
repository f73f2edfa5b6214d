#!/usr/bin/env bash
# test/hardening/check_asan.sh: `make check-asan`.  The whole test suite
# (pg_regress, pgTAP, the TAP scripts) with leadkpi built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc -fsanitize=
# address,undefined), in the assertion-enabled PostgreSQL 15 of
# `make check-memory` (test/hardening/pg15_valgrind.sh, built once and
# cached; not run under valgrind here).  The server binary is not
# instrumented; an instrumented module needs the ASan runtime loaded first,
# so bin/postgres of a private install becomes a wrapper that preloads
# libasan (LD_PRELOAD) into every server process, including the clusters
# the TAP scripts start from the same install.
#
# Why not Debian's server: with libasan preloaded, Debian's postgres (and
# psql, and any program linked with libgnutls30, which libldap pulls in)
# hangs at start-up in bindtextdomain(), on glibc's _nl_state_lock, whose
# reader count has gone below zero once libgnutls' constructor ran under the
# ASan runtime (gcc 12's libasan8 and clang 14's runtime alike).  The
# source build has no LDAP, so no gnutls.
#
# What it finds: in leadkpi's code, reads and writes outside a malloc'd
# block, the stack or globals, and undefined behaviour (signed overflow,
# shifts, misaligned or null pointers, out-of-range conversions); and the
# server's assertions.  Not overruns inside PostgreSQL's memory contexts
# (palloc carves chunks out of big malloc'd blocks and tells only valgrind
# about them): that is `make check-memory`.  Leak detection is off:
# PostgreSQL frees by context reset and process exit, on purpose.
#
# Passes when the suite passes, no server process crashed or failed an
# assertion, and neither sanitizer reported anything.  Reports and the
# server log are kept in CHECK_ASAN_OUT (check-asan-out/).  CHECK_ASAN_ONLY
# and CHECK_ASAN_SKIP as CHECK_MEMORY_ONLY and CHECK_MEMORY_SKIP of
# check_memory.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${CHECK_ASAN_OUT:-$top/check-asan-out}")
t0=$(date +%s)

. "$top/test/lib/cluster.sh"
. "$top/test/hardening/suite.sh"
lk_packages 15
PG_CONFIG=$(bash "$top/test/hardening/pg15_valgrind.sh")
export PG_CONFIG
# gcc's sanitizer runtimes (Debian: libasan8 and libubsan1, which gcc-12 pulls in)
libasan=$(realpath "$(gcc -print-file-name=libasan.so)")
[ -f "$libasan" ] || { apt-get install -y -qq libasan8 libubsan1 >/dev/null; libasan=$(realpath "$(gcc -print-file-name=libasan.so)"); }

# instrumented objects stay out of the tree
hs_build_copy "-fsanitize=address,undefined -fno-omit-frame-pointer -g"
ldd leadkpi.so | grep -q libasan || { lk_log "leadkpi.so is not linked with libasan"; exit 1; }
bindir="$PGBIN"
opts=(-c max_parallel_workers_per_gather=2 -c shared_buffers=256MB -c work_mem=64MB -c shared_preload_libraries=pg_cron -c cron.database_name=postgres
      -c cron.use_background_workers=on -c max_worker_processes=16 -c log_min_messages=warning)
lk_start data 5432 "${opts[@]}"
lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -m fast -w stop >/dev/null

mkdir -p "$LK_TMP/san"
hs_wrap_postgres <<EOF
#!/bin/sh
LD_PRELOAD="$libasan" \\
ASAN_OPTIONS="detect_leaks=0:log_path=$LK_TMP/san/asan:detect_stack_use_after_return=0" \\
UBSAN_OPTIONS="print_stacktrace=1:log_path=$LK_TMP/san/ubsan" \\
exec "$bindir/postgres.bin" "\$@"
EOF
chown -R postgres:postgres "$LK_TMP/san"
lk_log "starting the server with libasan preloaded"
lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -l "$LK_TMP/data.log" -w \
    -o "-c listen_addresses='' -k $LK_TMP -p 5432 -c fsync=off ${opts[*]}" start >/dev/null
export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
export PSQL="$bindir/psql -X -q -v ON_ERROR_STOP=1"
# the module really is the instrumented one, in a server that has the runtime
$PSQL -d postgres -Atc "CREATE EXTENSION leadkpi; SELECT leads(kpi_agg(now(), now())); DROP EXTENSION leadkpi" >/dev/null
grep -q libasan "/proc/$(head -1 "$LK_TMP/data/postmaster.pid")/maps" || { lk_log "libasan is not loaded in the server"; exit 1; }
t_start=$(date +%s)

fail=0
results=()
hs_suite "with ASan and UBSan" "${CHECK_ASAN_ONLY:-}" "${CHECK_ASAN_SKIP:-}"

lk_as_pg "$bindir/pg_ctl" -D "$LK_TMP/data" -m fast -w -t 600 stop >/dev/null || true
mkdir -p "$out"
rm -f "$out"/asan.* "$out"/ubsan.* "$out"/server.log
cp "$LK_TMP/data.log" "$out/server.log"
cp "$LK_TMP"/san/* "$out/" 2>/dev/null || true
crashes=$(grep -cE 'terminated by signal|TRAP:|was terminated by exception' "$LK_TMP/data.log" || true)
[ "$crashes" -eq 0 ] || { results+=("server: $crashes crashes or assertion failures (see $out/server.log)"); fail=1; }
nasan=$(cat "$LK_TMP"/san/asan.* 2>/dev/null | grep -c 'ERROR: AddressSanitizer' || true)
nubsan=$(cat "$LK_TMP"/san/ubsan.* 2>/dev/null | grep -c 'runtime error:' || true)
if [ "$nasan" -gt 0 ] || [ "$nubsan" -gt 0 ]; then
    results+=("sanitizers: $nasan AddressSanitizer errors, $nubsan UBSan runtime errors (see $out/asan.*, ubsan.*)"); fail=1
    cat "$LK_TMP"/san/* 2>/dev/null | grep -E 'ERROR: AddressSanitizer|runtime error:' | sort | uniq -c | head -20 >&2
else
    results+=("sanitizers: 0 AddressSanitizer errors, 0 UBSan runtime errors")
fi
t1=$(date +%s)
for r in "${results[@]}"; do lk_log "$r"; done
lk_log "times: build $((t_start - t0)) s, pg_regress $((t_reg - t_start)) s, pgTAP $((t_tap - t_reg)) s," \
       "TAP scripts $((t_sh - t_tap)) s, total $((t1 - t0)) s"
if [ "$fail" = 0 ]; then echo "check-asan: 1 passed, 0 failed"; else echo "check-asan: 0 passed, 1 failed"; fi
exit "$fail"
