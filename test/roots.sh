#!/usr/bin/env bash
# Debian roots (debootstrap) for the PostgreSQL versions the host does not
# have, for a fresh-machine test and for the package builds.  As root.
#
#   bash test/roots.sh build NAME            make (or find) the cached root
#   bash test/roots.sh suite PG [MODE]       the harness (test, demo, ...) inside
#                                            the root of PostgreSQL PG (17, 18)
#   bash test/roots.sh fresh                 a new user's path on Debian 12
#   bash test/roots.sh packages PG           dpkg-buildpackage, install, smoke
#   bash test/roots.sh shell NAME            an interactive shell in a root
#   bash test/roots.sh list                  the roots, their keys and caches
#
# Roots (name: release, what is in it):
#   fresh  bookworm: postgresql-15, git, make, gcc, nothing else
#   pg15   bookworm: PostgreSQL 15 with headers, pgTAP, pg_cron, pg_prove and
#          Debian's package build tools (for the package of 15)
#   pg17   trixie:   the same for 17
#   pg18   sid:      the same for 18
# Each root is made once with debootstrap from the host's own Debian mirror and
# kept as a tarball, /var/cache/leadkpi/roots/NAME-KEY.tar.zst, KEY a hash of
# the release and the package list: a change of the list makes a new root.
# Every run unpacks a fresh copy into a work dir, mounts /proc, /sys, /dev and
# a private /dev/shm, and unmounts them and removes the copy on every exit.
# Nothing is installed into the host but debootstrap and zstd (bookworm's).
#
# Environment: LK_ROOTS (cache dir, default /var/cache/leadkpi/roots),
# LK_MIRROR (default: the host's own Debian mirror), LK_ROOT_MAX_AGE (days a
# cached root is used before it is made anew, default 30), PG_CFLAGS (passed
# in).  Work dirs are tmpfs mounts (about 1.5 GB of memory each while in use).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
LK_ROOTS=${LK_ROOTS:-/var/cache/leadkpi/roots}
LK_ROOT_MAX_AGE=${LK_ROOT_MAX_AGE:-30}
ROOTS_FORMAT=1      # bump when the way a root is made changes

log() { printf '== %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "test/roots.sh needs root (debootstrap, mount, chroot)"

# --- what each root holds ------------------------------------------------------
root_release() {
    case $1 in
    fresh|pg15) echo bookworm ;;
    pg17) echo trixie ;;
    pg18) echo sid ;;
    *) die "unknown root $1 (fresh, pg15, pg17, pg18)" ;;
    esac
}

root_packages() {
    local v
    case $1 in
    fresh) echo postgresql-15 git make gcc; return ;;
    pg15|pg17|pg18) v=${1#pg} ;;
    *) die "unknown root $1" ;;
    esac
    # the suite: server, headers, pgTAP, pg_cron, pg_prove, a compiler;
    # the package build: debhelper, pg_buildext (postgresql-server-dev-all)
    echo postgresql-$v postgresql-server-dev-$v postgresql-$v-pgtap postgresql-$v-cron \
        libtap-parser-sourcehandler-pgtap-perl python3-jsonschema make gcc libc6-dev git ca-certificates \
        build-essential debhelper dpkg-dev fakeroot postgresql-server-dev-all
}

root_key() {
    printf 'format=%s release=%s variant=minbase packages=%s\n' "$ROOTS_FORMAT" \
        "$(root_release "$1")" "$(root_packages "$1" | tr ' ' '\n' | sort | tr '\n' ' ')" \
        | sha256sum | cut -c1-12
}

root_tarball() { echo "$LK_ROOTS/$1-$(root_key "$1").tar.zst"; }

host_mirror() {
    local m=${LK_MIRROR:-}
    [ -n "$m" ] || m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

host_tools() {
    local need=()
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
    command -v zstd >/dev/null 2>&1 || need+=(zstd)
    command -v git >/dev/null 2>&1 || need+=(git)
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing on the host: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# --- mounts and cleanup ----------------------------------------------------------
WORK_DIRS=()

# Unmounts everything below $1, deepest first.
umount_below() {
    local d=$1 m
    findmnt -rn -o TARGET | awk -v d="$d/" 'index($0, d) == 1' | sort -r | while read -r m; do
        umount -l "$m" || true
    done
}

# The same, then $1 itself (a work dir's tmpfs).
umount_under() {
    umount_below "$1"
    if mountpoint -q "$1"; then umount -l "$1" || true; fi
}

# A work dir on its own tmpfs: unpacking is faster, and removing it is an
# unmount (deleting a root's 40,000 files takes a minute on some disks).
# work_dir TEMPLATE: sets WD.
WD=""
work_dir() {
    WD=$(mktemp -d "$1")
    WORK_DIRS+=("$WD")
    mount -t tmpfs -o size=8g,mode=755 tmpfs "$WD"
}

# Ends the processes we left running inside the root at $1 (by pid: only
# processes whose root directory is that work dir).
kill_inside() {
    local d=$1 p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$r" = "$d" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$? d
    trap - EXIT INT TERM
    for d in "${WORK_DIRS[@]}"; do
        [ -d "$d" ] || continue
        kill_inside "$d"
        umount_under "$d"
        if findmnt -rn -o TARGET | awk -v d="$d" '$0 == d || index($0, d "/") == 1' | grep -q .; then
            log "still mounted below $d; not removing it"
        else
            rm -rf --one-file-system "$d"
            rm -f "$d.log"
        fi
    done
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- making and caching a root ---------------------------------------------------
build_root() {
    local name=$1 tarball rel pkgs mirror b t0 lock
    tarball=$(root_tarball "$name")
    mkdir -p "$LK_ROOTS"
    exec {lock}>"$LK_ROOTS/$name.lock"
    flock "$lock"
    if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime +"$LK_ROOT_MAX_AGE")" ]; then
        flock -u "$lock"
        return 0
    fi
    host_tools
    rel=$(root_release "$name")
    pkgs=$(root_packages "$name")
    mirror=$(host_mirror)
    work_dir "$LK_ROOTS/build.$name.XXXXXX"
    b=$WD
    t0=$SECONDS
    log "making root $name: debootstrap $rel from $mirror with: $pkgs"
    if ! debootstrap --variant=minbase --include="${pkgs// /,}" "$rel" "$b" "$mirror" >"$b.log" 2>&1; then
        tail -n 30 "$b.log" >&2
        [ -f "$b/debootstrap/debootstrap.log" ] && tail -n 30 "$b/debootstrap/debootstrap.log" >&2
        rm -f "$b.log"
        die "debootstrap of $name failed"
    fi
    rm -f "$b.log"
    umount_below "$b"       # what debootstrap left mounted, if anything
    # no daemons are started by package scripts inside the root
    printf '#!/bin/sh\nexit 101\n' > "$b/usr/sbin/policy-rc.d"
    chmod 755 "$b/usr/sbin/policy-rc.d"
    rm -rf "$b"/var/cache/apt/archives/*.deb
    chmod 755 "$b"
    tar -C "$b" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
    mv "$tarball.tmp" "$tarball"
    # older roots of the same name (another package list) are of no use now
    find "$LK_ROOTS" -maxdepth 1 -name "$name-*.tar.zst" ! -path "$tarball" -delete
    log "root $name ready in $((SECONDS - t0)) s: $tarball ($(du -h "$tarball" | cut -f1))"
    flock -u "$lock"
}

# Unpacks a fresh copy of root $1 and mounts what it needs; sets W.
W=""
enter_root() {
    local name=$1
    build_root "$name"
    work_dir "${LK_ROOT_WORK:-/var/tmp}/leadkpi-$name.XXXXXX"
    W=$WD
    zstd -q -dc "$(root_tarball "$name")" | tar -C "$W" --numeric-owner -xf -
    chmod 755 "$W"      # the root's / (mktemp made it 0700): postgres must traverse it
    mount --bind /proc "$W/proc"
    mount --bind /sys "$W/sys"
    mount --bind /dev "$W/dev"
    # apt's log wants a pty; without /dev/pts on the host it only complains
    if mountpoint -q /dev/pts; then mount --bind /dev/pts "$W/dev/pts"; fi
    mount -t tmpfs -o mode=1777,size=4g tmpfs "$W/dev/shm"
    cp /etc/resolv.conf "$W/etc/resolv.conf"
    mkdir -p "$W/src" "$W/out"
}

# The working tree (tracked and untracked, not ignored files) into /src;
# outside a git checkout, the directory as it is.
copy_tree() {
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z -co --exclude-standard \
            | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$W/src" -xf -
    else
        tar -C "$top" --exclude-vcs -cf - . | tar -C "$W/src" -xf -
    fi
}

# in_root CMD: runs CMD (a bash script) in the root, with a clean environment.
in_root() {
    chroot "$W" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive LK_IN_ROOT=1 \
        ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"} ${CI:+CI="$CI"} \
        /bin/bash -euo pipefail -c "$1"
}

pg_root() {
    case $1 in
    15|17|18) echo "pg$1" ;;
    16) die "PostgreSQL 16 is in no Debian release here: it is built by the guards but untested" ;;
    *) die "no root for PostgreSQL $1 (15, 17, 18)" ;;
    esac
}

# --- modes -------------------------------------------------------------------
# main is parsed whole before it runs, so editing this file while a run is
# under way does not change what that run executes.
main() {
    local cmd=${1:-} v mode n t sha t0
    shift || true
    case $cmd in
    build)
        for n in "$@"; do root_release "$n" >/dev/null; done
        for n in "$@"; do build_root "$n"; done
        ;;
    list)
        for n in fresh pg15 pg17 pg18; do
            t=$(root_tarball "$n")
            printf '%-6s %-9s %s %s\n' "$n" "$(root_release "$n")" "$t" "$([ -f "$t" ] && echo cached || echo missing)"
        done
        ;;
    suite)
        v=${1:?PostgreSQL major version}
        mode=${2:-test}
        n=$(pg_root "$v")
        enter_root "$n"
        copy_tree
        log "PostgreSQL $v ($(root_release "$n") root): make $mode"
        t0=$SECONDS
        in_root "cd /src && LK_PG=$v PG_CONFIG=/usr/lib/postgresql/$v/bin/pg_config bash test/harness.sh $mode"
        log "PostgreSQL $v: $mode passed in $((SECONDS - t0)) s"
        ;;
    fresh)
        # A new user's path: a clone of the current commit on a Debian 12 with
        # only postgresql-15, git, make and gcc, then the README's two commands.
        sha=$(git -C "$top" rev-parse HEAD)
        [ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] \
            || log "note: uncommitted changes are not in the clone; testing commit $sha"
        enter_root fresh
        git -C "$top" bundle create -q "$W/root/leadkpi.bundle" HEAD
        t0=$SECONDS
        in_root "cd /root && git clone -q leadkpi.bundle leadkpi && cd leadkpi && git -c advice.detachedHead=false checkout -q $sha \
                 && make demo && make test"
        log "fresh Debian 12: make demo and make test passed in $((SECONDS - t0)) s"
        ;;
    packages)
        v=${1:?PostgreSQL major version}
        n=$(pg_root "$v")
        enter_root "$n"
        copy_tree
        t0=$SECONDS
        # build, install and use the packages (test/package_build.sh,
        # test/package_smoke.sh)
        in_root "cd /src && bash test/package_build.sh $v"
        mkdir -p "$top/build/debs"
        cp "$W"/postgresql-"$v"-leadkpi_*.deb "$top/build/debs/"
        log "PostgreSQL $v: package built, installed and used in $((SECONDS - t0)) s; copied to build/debs/"
        ;;
    shell)
        n=${1:?root name}
        root_release "$n" >/dev/null
        enter_root "$n"
        copy_tree
        log "root $n at $W (the working tree is in /src); exit the shell to unmount and remove it"
        chroot "$W" /bin/bash -i || true
        ;;
    *)
        sed -n '2,30p' "$0" >&2
        exit 2
        ;;
    esac
}

main "$@"; exit $?
