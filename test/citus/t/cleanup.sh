#!/usr/bin/env bash
# cleanup: test/citus/run.sh leaves no server and no temp dir behind when it
# fails with its cluster up, and when it is interrupted (SIGTERM to its
# process group, as Ctrl-C sends SIGINT to it).  Starts two more Citus
# clusters of its own, from the same Citus (cached build or installed).
set -uo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
echo "1..6"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# no postmaster runs on a data dir under $1, and $1 is gone
gone() {
    local i
    for i in $(seq 1 20); do   # an immediate stop returns before the children exit
        pgrep -f -- "-D $1/" >/dev/null || pgrep -f -- "-D \"$1/" >/dev/null || break
        sleep 0.5
    done
    ! pgrep -f -- "$1/" >/dev/null && [ ! -e "$1" ]
}

# 1. a failure with the servers up
( cd "$top" && env -u PGHOST -u PGDATABASE bash test/citus/run.sh fail-after-start ) >"$work/fail.out" 2>&1
rc=$?
tmp=$(sed -n 's/^LK_TMP=//p' "$work/fail.out")
[ $rc -ne 0 ] && [ -n "$tmp" ]
ok $? "run.sh fail-after-start exits non-zero (rc $rc) after starting its cluster in ${tmp:-?}"
gone "$tmp"
ok $? "no server left running on it and its temp dir is removed"

# 2. SIGTERM to the runner's process group while a script runs on the cluster
cat >"$work/hold.sh" <<EOF
touch "$work/up"
sleep 600
EOF
( cd "$top" && exec setsid env -u PGHOST -u PGDATABASE bash test/citus/run.sh run "$work/hold.sh" ) >"$work/term.out" 2>&1 &
pid=$!
for i in $(seq 1 600); do [ -e "$work/up" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
tmp=$(sed -n 's/^LK_TMP=//p' "$work/term.out")
[ -e "$work/up" ] && [ -n "$tmp" ] && pgrep -f -- "$tmp/" >/dev/null
ok $? "run.sh run: the cluster is up in ${tmp:-?} with servers running"
kill -TERM -- -$pid
wait $pid
rc=$?
[ $rc -ne 0 ]
ok $? "SIGTERM ends the runner (rc $rc)"
gone "$tmp"
ok $? "no server left running and the temp dir is removed"

# 3. nothing of ours was left in /tmp by either run
! grep -q "kept " "$work/fail.out" "$work/term.out"
ok $? "neither run kept its temp dir"

exit $((failed > 0))
