#!/usr/bin/env bash
# TAP: lk_packages (test/lib/cluster.sh) asks for the server headers exactly
# when postgres.h is missing.  On Debian, pg_config (postgresql-common) and
# pgxs.mk (postgresql-client-NN) exist without them: the README's commands
# failed on a fresh Debian 12 with "postgres.h: No such file or directory"
# while an older check, on pgxs.mk, passed.  Uses a fake pg_config and
# LK_PACKAGES_DRY_RUN=1, so nothing is installed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/inc" "$tmp/pgxs"
touch "$tmp/pgxs/pgxs.mk"
cat > "$tmp/pg_config" <<FAKE
#!/bin/sh
case "\$1" in
--includedir-server) echo "$tmp/inc" ;;
--pgxs) echo "$tmp/pgxs/pgxs.mk" ;;
*) exit 1 ;;
esac
FAKE
chmod +x "$tmp/pg_config"

# wanted MAJOR PG_CONFIG: the packages lk_packages would install, one a line
wanted() {
    (PG_CONFIG=$2 LK_PACKAGES_DRY_RUN=1 KEEP=0; . "$top/test/lib/cluster.sh"; lk_packages "$1") | tr ' ' '\n'
}

n=0
check() {   # check DESCRIPTION COMMAND...
    local d=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}

echo "1..4"
check "pg_config and pgxs.mk without postgres.h: asks for postgresql-server-dev-15" \
    grep -qx postgresql-server-dev-15 <(wanted 15 "$tmp/pg_config")
check "the same for PostgreSQL 17 asks for postgresql-server-dev-17" \
    grep -qx postgresql-server-dev-17 <(wanted 17 "$tmp/pg_config")
check "no pg_config at all: asks for postgresql-server-dev-15" \
    grep -qx postgresql-server-dev-15 <(wanted 15 "$tmp/no-such-pg_config")
touch "$tmp/inc/postgres.h"
check "with postgres.h in --includedir-server: no server-dev package" \
    bash -c "! grep -q '^postgresql-server-dev' <(cat)" < <(wanted 15 "$tmp/pg_config")
