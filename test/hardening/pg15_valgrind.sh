#!/usr/bin/env bash
# test/hardening/pg15_valgrind.sh: a PostgreSQL 15 server for `make
# check-memory` and `make check-asan`, built from Debian's own source package
# with assertions and USE_VALGRIND (Debian's server has neither), plus pgTAP
# and pg_cron for it.  Cached under $LK_PGV_CACHE/<source version>, so it is
# built once per Debian source version (cold: about 10 minutes on 2 cores).
#
#   bash test/hardening/pg15_valgrind.sh     prints the install's pg_config path
#
# Needs root for apt (a deb-src sources file of its own, build dependencies).
# Environment: LK_PGV_CACHE (/var/cache/leadkpi/pg15-valgrind), LK_PGV_CFLAGS.
set -euo pipefail

cache=${LK_PGV_CACHE:-/var/cache/leadkpi/pg15-valgrind}
cflags=${LK_PGV_CFLAGS:--O1 -g -fno-omit-frame-pointer}
log() { printf '== %s\n' "$*" >&2; }

# deb-src lines in a separate file, from the host's own Debian mirrors; the
# host's deb lines are left alone.
srcfile=/etc/apt/sources.list.d/leadkpi-deb-src.sources
if ! apt-cache showsrc postgresql-15 2>/dev/null | grep "^Version:" >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { log "no deb-src for postgresql-15; run as root to add $srcfile"; exit 1; }
    main=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    sec=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    main=${main:-http://deb.debian.org/debian}
    sec=${sec:-http://deb.debian.org/debian-security}
    log "adding deb-src for bookworm in $srcfile"
    cat > "$srcfile" <<EOF
# added by leadkpi's test/hardening/pg15_valgrind.sh (make check-memory)
Types: deb-src
URIs: $main
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
fi

# Source versions the archive lists, newest first.  The cache key is the
# newest one that is either built already or downloadable (Debian's security
# archive lists sources it may not serve; then the point release in bookworm
# is used).
versions() {
    local vs v i
    mapfile -t vs < <(apt-cache showsrc "$1" | awk '/^Version:/ {print $2}' | sort -u)
    for ((i = 0; i < ${#vs[@]}; i++)); do      # a few entries: selection sort
        for ((v = i + 1; v < ${#vs[@]}; v++)); do
            if dpkg --compare-versions "${vs[v]}" gt "${vs[i]}"; then
                set -- "${vs[i]}"; vs[i]=${vs[v]}; vs[v]=$1
            fi
        done
    done
    [ ${#vs[@]} -eq 0 ] || printf '%s\n' "${vs[@]}"
}
dl="$cache/download"
mkdir -p "$dl"
ver=""
for v in $(versions postgresql-15); do
    if [ -f "$cache/$v/.complete" ]; then ver=$v; break; fi
    if (cd "$dl" && apt-get source --download-only -qq "postgresql-15=$v" >/dev/null 2>&1); then ver=$v; break; fi
    log "postgresql-15 $v: source not downloadable, trying an older one"
done
[ -n "$ver" ] || { log "no postgresql-15 source could be had (apt-cache showsrc postgresql-15)"; exit 1; }
# a prefix containing "postgres" keeps Debian-like paths: bin/, lib/, share/
# side by side, so test/lib/cluster.sh's private-tree copy works unchanged
prefix="$cache/$ver/postgresql"
stamp="$cache/$ver/.complete"
if [ -f "$stamp" ]; then
    echo "$prefix/bin/pg_config"
    exit 0
fi

need=()
for p in dpkg-dev gcc make bison flex pkg-config zlib1g-dev libreadline-dev valgrind \
         postgresql-15-pgtap postgresql-15-cron; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

t0=$(date +%s)
build="$cache/$ver/build"
rm -rf "$build" "$prefix"
mkdir -p "$build"
cd "$build"
log "unpacking postgresql-15 $ver"
dpkg-source -x --no-check "$dl/postgresql-15_${ver#*:}.dsc" src >/dev/null
srcdir=src
cd "$srcdir"
log "configure (cassert, debug, USE_VALGRIND, $cflags)"
./configure --prefix="$prefix" --enable-cassert --enable-debug --with-zlib \
    CFLAGS="$cflags" CPPFLAGS="-DUSE_VALGRIND" >"$build/configure.log" 2>&1 \
    || { tail -30 "$build/configure.log"; exit 1; }
log "make (log in $build/make.log)"
{ make -j"$(nproc)" && make install && make -C contrib/pageinspect install; } >"$build/make.log" 2>&1 \
    || { tail -40 "$build/make.log"; exit 1; }
cp src/tools/valgrind.supp "$prefix/valgrind.supp"

# pgTAP is SQL only: Debian's package files serve this server too
cp /usr/share/postgresql/15/extension/pgtap* "$prefix/share/extension/"

# pg_cron: Debian's archive serves no pg-cron source here, so Debian's own
# binary module is copied in.  It loads (the module magic checks the major
# version and the ABI constants, not assertions), and it is PostgreSQL's
# background-worker code, not leadkpi's, under valgrind.
cp /usr/lib/postgresql/15/lib/pg_cron.so "$prefix/lib/"
cp /usr/share/postgresql/15/extension/pg_cron* "$prefix/share/extension/"

# keep the logs, drop the rest of the build
find "$build" -mindepth 1 -maxdepth 1 ! -name '*.log' -exec rm -rf {} +
echo "$ver built in $(( $(date +%s) - t0 )) s" > "$stamp"
log "$(cat "$stamp")"
echo "$prefix/bin/pg_config"
