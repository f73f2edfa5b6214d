#!/usr/bin/env bash
# After `dpkg -i postgresql-NN-leadkpi_*.deb` (test/roots.sh packages, inside
# a Debian root): the package's files are where PostgreSQL looks, a cluster of
# the system's own binaries creates the extension from them and computes a
# KPI that plain SQL checks, 0.1.0 upgrades to the current version, and the
# package's autopkgtest (debian/tests/installcheck: pg_regress against the
# installed package) passes.  As root.
set -euo pipefail
v=${1:?PostgreSQL major version}
cd "$(dirname "$0")/.."
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" leadkpi.control)
bindir=/usr/lib/postgresql/$v/bin
pkg=postgresql-$v-leadkpi

echo "== $pkg $(dpkg-query -W -f '${Version}' "$pkg"): files"
for f in "$($bindir/pg_config --pkglibdir)/leadkpi.so" \
         "$($bindir/pg_config --sharedir)/extension/leadkpi.control" \
         "$($bindir/pg_config --sharedir)/extension/leadkpi--0.1.0.sql" \
         "$($bindir/pg_config --sharedir)/extension/leadkpi--$version.sql" \
         "$($bindir/pg_config --sharedir)/extension/leadkpi--0.1.0--$version.sql"; do
    dpkg -S "$f" | grep -q "^$pkg:" || { echo "not in $pkg: $f"; exit 1; }
done

T=$(mktemp -d)
chown postgres:postgres "$T"
stop() { runuser -u postgres -- "$bindir/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap stop EXIT
runuser -u postgres -- "$bindir/initdb" -D "$T/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- "$bindir/pg_ctl" -D "$T/data" -l "$T/log" -w -o "-c listen_addresses='' -k $T -p 5432" start >/dev/null
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$T" -p 5432 -U postgres "$@"; }

echo "== CREATE EXTENSION leadkpi and a KPI, checked by plain SQL"
got=$(psql -d postgres -At <<'SQL'
CREATE EXTENSION leadkpi;
CREATE TEMP TABLE l AS
SELECT g AS id, timestamptz '2024-01-01' + g * interval '1 hour' AS f,
       CASE WHEN g % 3 = 0 THEN timestamptz '2024-01-01' + g * interval '1 hour' + g * interval '1 day' END AS c
FROM generate_series(1, 1000) g;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'leadkpi')
       AND conversion_rate(c IS NOT NULL) = avg((c IS NOT NULL)::int)::float8
       AND sales_cycle_avg(f, c) = avg(c - f)
       AND leads(kpi_agg(f, c)) = count(*)
FROM l, pg_extension WHERE extname = 'leadkpi' GROUP BY extversion;
SQL
)
[ "$got" = t ] || { echo "smoke query gave '$got'"; exit 1; }

echo "== CREATE EXTENSION leadkpi VERSION '0.1.0', then ALTER EXTENSION leadkpi UPDATE"
psql -d postgres -c "CREATE DATABASE up"
got=$(psql -d up -At -c "CREATE EXTENSION leadkpi VERSION '0.1.0'" -c "ALTER EXTENSION leadkpi UPDATE" \
      -c "SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'")
[ "$got" = "$version" ] || { echo "after the update: '$got'"; exit 1; }

echo "== autopkgtest: debian/tests/installcheck"
debian/tests/installcheck
echo "== $pkg works on PostgreSQL $v"
