# test/citus/citus.sh: Citus for the test and bench runners.  Sourced after
# test/lib/cluster.sh (it needs lk_log, lk_as_pg, LK_TMP, PGBIN, LK_CLUSTERS).
#
#   lk_citus_install    make citus.so and its extension files available in the
#                       private tree ($LK_TMP/pg), from (first that applies):
#                         - the PostgreSQL that pg_config names, if Citus is
#                           installed there (lk_private_tree copied it already);
#                         - CITUS_SRC=path/to/citus-X.Y.Z.tar.xz: built once
#                           into a cache, /var/cache/leadkpi/citus/<version>-<hash>
#                           (CITUS_CACHE overrides), then copied into the tree.
#                       Nothing is written to system directories except the
#                       Debian build dependencies (apt-get, as root) and the cache.
#   lk_citus_start N [-c opt=value ...]
#                       initdb and start a coordinator (coord) and N workers
#                       (w1..wN) in $LK_TMP, on unix sockets only, with citus
#                       preloaded (later -c options win); stopped and removed
#                       with every other cluster of cluster.sh on every exit
#   lk_citus_createdb DB [EXTENSION ...]
#                       DB with citus (and the extensions) on every node, the
#                       coordinator registered and the workers added
#   lk_citus_host NODE, lk_citus_psql NODE [psql args]
#                       the socket dir of a node, psql on it
#
# The build recipe follows /work/shared/tools/build-citus.sh (the project's
# shared tooling, not used at run time): the same Debian dependencies,
# configure --without-libcurl, and its one local fix for PostgreSQL 15.18+.

LK_CITUS_RECIPE=1    # bump when the recipe below changes: it is part of the cache key

# Debian 12 packages Citus's configure and build need on top of the server headers.
lk_citus_deps=(liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev
               libpam0g-dev libreadline-dev zlib1g-dev libicu-dev flex bison autoconf
               make gcc xz-utils perl)

lk_citus_build_deps() {
    local p missing=()
    for p in "${lk_citus_deps[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        lk_log "building Citus needs: ${missing[*]}; install them as root"
        return 1
    fi
    lk_log "installing Citus build dependencies: ${missing[*]}"
    lk_apt_install "${missing[@]}"
}

# lk_apt_install PKG...: apt-get install, waiting for the dpkg lock (other
# jobs on the machine may be installing too); refreshes the lists only when
# the install from the current lists fails.
lk_apt_install() {
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null 2>&1 && return 0
        apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || sleep $((try * 5))
    done
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

# The cache key: the tarball's content, the exact server (minor releases
# change headers, see the fix below) and the recipe.
lk_citus_cache_dir() {
    local src=$1 top key
    top=$(tar -tJf "$src" | head -1)
    top=${top%%/*}                       # citus-13.2.2
    key=$({ sha256sum <"$src"; "$PG_CONFIG" --version; "$PG_CONFIG" --includedir-server;
            echo "recipe $LK_CITUS_RECIPE"; } | sha256sum | cut -c1-12)
    echo "${CITUS_CACHE:-/var/cache/leadkpi/citus}/${top#citus-}-$key"
}

# lk_citus_build SRC: builds SRC into the cache unless it is there; prints the
# cache dir.  A DESTDIR install, moved into place only when complete, under a
# lock so that two runners never build the same key at once.
lk_citus_build() {
    local src=$1 cache work srcdir t0 t1 incdir
    [ -f "$src" ] || { lk_log "CITUS_SRC=$src: no such file"; return 1; }
    cache=$(lk_citus_cache_dir "$src")
    mkdir -p "$(dirname "$cache")"
    exec 9>"$cache.lock"
    flock 9
    if [ -f "$cache/.complete" ]; then
        flock -u 9
        lk_log "Citus from cache $cache"
        echo "$cache"
        return 0
    fi
    lk_citus_build_deps || return 1
    incdir=$("$PG_CONFIG" --includedir-server)
    [ -f "$incdir/postgres.h" ] || { lk_log "building Citus needs the server headers (postgresql-server-dev-NN)"; return 1; }
    work=$(mktemp -d /tmp/leadkpi-citus-build.XXXXXX)
    lk_log "building Citus from $src in $work (cold: several minutes)"
    t0=$(date +%s)
    tar -C "$work" -xJf "$src"
    srcdir=$(echo "$work"/citus-*)
    # PostgreSQL 15.18+ declares have_createdb_privilege() in
    # commands/dbcommands.h; Citus 13.2.2 defines its own static copy for
    # PG < 16, which then clashes.  Compile the copy out when the server has it.
    if grep -q 'have_createdb_privilege' "$incdir/commands/dbcommands.h" \
       && grep -q '^have_createdb_privilege(void)' "$srcdir/src/include/pg_version_compat.h"; then
        perl -0pi -e 's/(static inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n)/#if 0 \/* declared by this PostgreSQL already (15.18+) *\/\n$1#endif\n/s' \
            "$srcdir/src/include/pg_version_compat.h"
        grep -q 'declared by this PostgreSQL already' "$srcdir/src/include/pg_version_compat.h" \
            || { lk_log "the have_createdb_privilege fix did not apply"; rm -rf "$work"; return 1; }
        lk_log "applied the have_createdb_privilege fix for PostgreSQL 15.18+"
    fi
    if ! ( cd "$srcdir" \
           && ./configure --without-libcurl PG_CONFIG="$PG_CONFIG" >"$work/configure.log" 2>&1 \
           && make -j"$(nproc)" >"$work/make.log" 2>&1 \
           && make install DESTDIR="$work/root" >"$work/install.log" 2>&1 ); then
        tail -30 "$work"/*.log >&2
        lk_log "Citus build failed; logs in $work"
        return 1
    fi
    t1=$(date +%s)
    echo "built $(basename "$srcdir") in $((t1 - t0)) s on $(nproc) cores, $(date -u +%FT%TZ)" >"$work/root/.complete"
    rm -rf "$cache"
    mv "$work/root" "$cache"
    rm -rf "$work"
    flock -u 9
    lk_log "Citus built in $((t1 - t0)) s into $cache"
    echo "$cache"
}

lk_citus_install() {
    local pkglibdir cache
    # the runners look for server processes with pgrep
    if ! command -v pgrep >/dev/null 2>&1; then
        [ "$(id -u)" -eq 0 ] || { lk_log "needs pgrep: apt-get install procps"; return 1; }
        lk_apt_install procps
    fi
    pkglibdir=$("$PG_CONFIG" --pkglibdir)
    if [ -n "${CITUS_SRC:-}" ]; then
        cache=$(lk_citus_build "$CITUS_SRC") || return 1
        # the DESTDIR tree mirrors the system paths, as the private tree does
        cp -a "$cache/." "$LK_TMP/pg/"
        rm -f "$LK_TMP/pg/.complete"
    elif [ -f "$pkglibdir/citus.so" ]; then
        lk_log "using the Citus installed in $pkglibdir"
    else
        lk_log "no Citus: install one into $pkglibdir, or pass CITUS_SRC=path/to/citus-X.Y.Z.tar.xz"
        return 1
    fi
    [ -f "$LK_TMP/pg$pkglibdir/citus.so" ] || { lk_log "citus.so missing from the private tree"; return 1; }
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$LK_TMP/pg"
    return 0
}

# Nodes listen on unix sockets only: Citus connects to a node with libpq,
# and a node name that is a directory is a socket dir to libpq, so no TCP port
# is opened and nothing collides with other clusters on the machine.
LK_CITUS_NODES=()
LK_CITUS_PORT=${LK_CITUS_PORT:-5432}

lk_citus_start() {
    local n=${1:-2} i name
    shift || true
    for ((i = 0; i <= n; i++)); do
        if [ "$i" -eq 0 ]; then name=coord; else name=w$i; fi
        mkdir -p "$LK_TMP/sock_$name"
        [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$LK_TMP/sock_$name"
        lk_as_pg "$PGBIN/initdb" -D "$LK_TMP/$name" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
        LK_CLUSTERS+=("$name")
        lk_as_pg "$PGBIN/pg_ctl" -D "$LK_TMP/$name" -l "$LK_TMP/$name.log" -w \
            -o "-c listen_addresses='' -k $LK_TMP/sock_$name -p $LK_CITUS_PORT -c fsync=off \
                -c shared_preload_libraries=citus -c citus.local_hostname=$LK_TMP/sock_$name \
                -c max_connections=200 $*" start >/dev/null
        LK_CITUS_NODES+=("$name")
    done
}

# lk_citus_host NODE: the PGHOST of a node
lk_citus_host() { echo "$LK_TMP/sock_$1"; }

lk_citus_psql() {
    local node=$1
    shift
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(lk_citus_host "$node")" -p "$LK_CITUS_PORT" -U postgres "$@"
}

# lk_citus_createdb DB [extensions...]: a database on every node, with citus
# and the given extensions.  Citus leaves CREATE DATABASE alone unless
# citus.enable_create_database_propagation is on, and node membership is
# per database: create it on each node, then register the nodes in it.
lk_citus_createdb() {
    local db=$1 name e
    shift
    for name in "${LK_CITUS_NODES[@]}"; do
        lk_citus_psql "$name" -d postgres -c "CREATE DATABASE $db" >/dev/null
        lk_citus_psql "$name" -d "$db" -c "CREATE EXTENSION citus" >/dev/null
        for e in "$@"; do lk_citus_psql "$name" -d "$db" -c "CREATE EXTENSION $e" >/dev/null; done
    done
    lk_citus_psql coord -d "$db" -c "SELECT citus_set_coordinator_host('$LK_TMP/sock_coord', $LK_CITUS_PORT)" >/dev/null
    for name in "${LK_CITUS_NODES[@]:1}"; do
        lk_citus_psql coord -d "$db" -c "SELECT citus_add_node('$LK_TMP/sock_$name', $LK_CITUS_PORT)" >/dev/null
    done
}
