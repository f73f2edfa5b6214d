#!/usr/bin/env bash
# TAP: the install script's first statement refuses servers older than 15
# with SQLSTATE 0A000 and a message naming the minimum.  No such server is
# available here, so the check runs on this one with the version it reads
# replaced by 14.11's; on a real 14 it is untested.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bindir=$(pg_config --bindir)
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/leadkpi.control")
n=0
check_script() {   # check_script FILE: its version check, fed 14.11, must refuse
    local block out
    block=$(awk '/^DO \$\$/ {on = 1} on {print} on && /^\$\$;/ {exit}' "$1")
    n=$((n + 1))
    if ! grep -q "server_version_num" <<<"$block"; then
        echo "not ok $n - $(basename "$1") starts with a version check"; return
    fi
    block=${block//"current_setting('server_version_num')"/"'140011'"}
    block=${block//"current_setting('server_version')"/"'14.11'"}
    out=$("$bindir/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
          -c '\set VERBOSITY verbose' -c "$block" 2>&1) && out="(no error) $out"
    if grep -q 'ERROR:  0A000: leadkpi requires PostgreSQL 15 or later, this is 14.11' <<<"$out"; then
        echo "ok $n - $(basename "$1") refuses PostgreSQL 14 with 0A000, naming the minimum"
    else
        echo "not ok $n - $(basename "$1") refuses PostgreSQL 14 with 0A000, naming the minimum"
        sed 's/^/#   /' <<<"$out"
    fi
}
echo "1..3"
check_script "$top/sql/leadkpi--$version.sql"
check_script "$top/sql/leadkpi--0.1.0.sql"
# and the same block, fed this server's version, passes
block=$(awk '/^DO \$\$/ {on = 1} on {print} on && /^\$\$;/ {exit}' "$top/sql/leadkpi--$version.sql")
if "$bindir/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -c "$block" >/dev/null 2>&1; then
    echo "ok 3 - the check passes on this server ($("$bindir/psql" -X -At -d postgres -c 'SHOW server_version'))"
else
    echo "not ok 3 - the check passes on this server"
fi
