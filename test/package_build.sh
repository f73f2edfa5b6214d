#!/usr/bin/env bash
# Inside a Debian root with debhelper and postgresql-server-dev-all, at the
# top of a copy of the tree (test/roots.sh packages): builds the Debian
# packages the way Debian does and installs the one for PostgreSQL MAJOR,
# then test/package_smoke.sh uses it.  As root.
#   1. the orig tarball: the tree without debian/, as leadkpi-VERSION/;
#      debian/changelog's upstream version must be leadkpi.control's
#   2. debian/control from control.in for the versions this release supports
#   3. dpkg-buildpackage -us -uc (source and binary packages)
#   4. dpkg -i postgresql-MAJOR-leadkpi_*.deb
set -euo pipefail
v=${1:?PostgreSQL major version}
cd "$(dirname "$0")/.."
make -s clean >/dev/null 2>&1 || true
upstream=$(dpkg-parsechangelog -S Version | sed 's/-[^-]*$//')
control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" leadkpi.control)
if [ "$upstream" != "$control" ]; then
    echo "debian/changelog is at $upstream, leadkpi.control at $control"
    exit 1
fi
src=$(basename "$PWD")
tar -C .. --exclude="$src/debian" --transform "s,^$src,leadkpi-$upstream," \
    -czf "../leadkpi_$upstream.orig.tar.gz" "$src"
pg_buildext updatecontrol
if ! dpkg-buildpackage -us -uc > ../build.log 2>&1; then
    tail -n 60 ../build.log
    exit 1
fi
grep -iE "warning|dpkg-source: info: (building|using)" ../build.log || true
ls ../leadkpi_*.dsc ../postgresql-*-leadkpi_*.deb
dpkg -i ../postgresql-"$v"-leadkpi_*.deb
exec bash test/package_smoke.sh "$v"
