# test/lib/cluster.sh: sourced by test/harness.sh and the other runners (bench,
# citus, memory checks).  Private installs and throwaway clusters:
#   lk_packages       install the Debian packages the tests need (as root)
#   lk_build          build the extension
#   lk_private_tree   copy PostgreSQL's install tree into $LK_TMP/pg and install
#                     leadkpi there (PostgreSQL is relocatable, so nothing is
#                     written to system directories); sets PGBIN
#   lk_start NAME PORT [-c opt=value ...]
#                     initdb and start a cluster in $LK_TMP/NAME, on a private
#                     socket dir and no TCP (the port only names the socket)
# Every cluster started is stopped, and $LK_TMP removed (KEEP=1 keeps it), on
# every exit path of the sourcing script.
# Environment: PG_CONFIG (pg_config), PG_CFLAGS (e.g. -Werror),
# LK_PACKAGES_DRY_RUN=1 (lk_packages prints what it would install).

lk_log() { printf '== %s\n' "$*" >&2; }

PG_CONFIG=${PG_CONFIG:-pg_config}

if [ "$(id -u)" -eq 0 ]; then
    lk_as_pg() { runuser -u postgres -- "$@"; }
else
    lk_as_pg() { "$@"; }
fi

# lk_packages MAJOR: what make test needs, for PostgreSQL MAJOR (default 15).
lk_packages() {
    local v=${1:-15} need=()
    [ -x "/usr/lib/postgresql/$v/bin/initdb" ] || need+=("postgresql-$v")
    # pg_config and pgxs.mk ship without the server headers on Debian
    # (postgresql-common, postgresql-client-NN): only postgres.h proves them.
    command -v "$PG_CONFIG" >/dev/null 2>&1 \
        && [ -f "$("$PG_CONFIG" --includedir-server 2>/dev/null)/postgres.h" ] || need+=("postgresql-server-dev-$v")
    [ -f "/usr/share/postgresql/$v/extension/pgtap.control" ] || need+=("postgresql-$v-pgtap")
    command -v pg_prove >/dev/null 2>&1 || need+=(libtap-parser-sourcehandler-pgtap-perl)
    [ -f "/usr/share/postgresql/$v/extension/pg_cron.control" ] || need+=("postgresql-$v-cron")
    # test/t/meta.sh validates META.json with Debian's python3-jsonschema
    /usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 || need+=(python3-jsonschema)
    command -v make >/dev/null 2>&1 || need+=(make)
    command -v gcc >/dev/null 2>&1 || need+=(gcc)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "${LK_PACKAGES_DRY_RUN:-0}" = 1 ]; then
        echo "${need[*]}"       # test/t/packages.sh: what would be installed
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        lk_log "missing packages: ${need[*]}; install them as root (apt-get install ${need[*]})"
        return 1
    fi
    lk_log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

lk_build() {
    lk_log "building"
    make -s PG_CONFIG="$PG_CONFIG" ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"} >/dev/null
}

LK_TMP=$(mktemp -d /tmp/leadkpi.XXXXXX)
LK_CLUSTERS=()
PGBIN=""

lk_cleanup() {
    local rc=$? c
    trap - EXIT INT TERM
    for c in "${LK_CLUSTERS[@]}"; do
        [ -f "$LK_TMP/$c/postmaster.pid" ] && lk_as_pg "$PGBIN/pg_ctl" -D "$LK_TMP/$c" -m immediate -w stop >/dev/null 2>&1
    done
    if [ "${KEEP:-0}" = 1 ]; then lk_log "kept $LK_TMP"; else rm -rf "$LK_TMP"; fi
    exit $rc
}
trap lk_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lk_private_tree() {
    local pkglibdir sharedir libroot
    pkglibdir=$("$PG_CONFIG" --pkglibdir)
    sharedir=$("$PG_CONFIG" --sharedir)
    libroot=$(dirname "$pkglibdir")      # e.g. /usr/lib/postgresql/15
    lk_log "installing into $LK_TMP/pg"
    mkdir -p "$LK_TMP/pg$(dirname "$libroot")" "$LK_TMP/pg$(dirname "$sharedir")"
    cp -a "$libroot" "$LK_TMP/pg$(dirname "$libroot")/"
    cp -a "$sharedir" "$LK_TMP/pg$(dirname "$sharedir")/"
    make -s install DESTDIR="$LK_TMP/pg" PG_CONFIG="$PG_CONFIG" >/dev/null
    PGBIN="$LK_TMP/pg$("$PG_CONFIG" --bindir)"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$LK_TMP"
    return 0
}

# lk_start NAME PORT [-c opt=value ...]; the socket dir is $LK_TMP.
lk_start() {
    local name=$1 port=$2
    shift 2
    lk_as_pg "$PGBIN/initdb" -D "$LK_TMP/$name" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    LK_CLUSTERS+=("$name")
    lk_as_pg "$PGBIN/pg_ctl" -D "$LK_TMP/$name" -l "$LK_TMP/$name.log" -w \
        -o "-c listen_addresses='' -k $LK_TMP -p $port -c fsync=off $*" start >/dev/null
}
