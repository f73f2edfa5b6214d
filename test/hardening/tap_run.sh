#!/usr/bin/env bash
# bash test/hardening/tap_run.sh script.sh [args]: runs a script that prints
# TAP on the harness's cluster, and fails when the script or any test does
# (`test/harness.sh run` only sees the script's exit status).
set -o pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bash "$(dirname "$0")/../harness.sh" run "$@" | tee "$out"
rc=$?
failed=$(grep -E '^not ok' "$out" | grep -cvE '# *(TODO|SKIP)')
if [ "$failed" -gt 0 ]; then
    echo "== $failed test(s) not ok" >&2
    exit 1
fi
exit $rc
