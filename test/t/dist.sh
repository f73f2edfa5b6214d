#!/usr/bin/env bash
# TAP: make dist gives the archives PGXN takes: everything under
# leadkpi-VERSION/, with META.json, the control file, LICENSE, the Makefile
# and the released scripts, and no CI files; a META.json that disagrees with
# the control file is refused.
# Needs a git checkout (skipped in a copy without .git, as inside the roots).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
if ! git -C "$top" rev-parse --git-dir >/dev/null 2>&1 || ! command -v git >/dev/null; then
    echo "1..0 # skip not a git checkout"
    exit 0
fi
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/leadkpi.control")
name=leadkpi-$version
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() { local d=$1; shift; n=$((n + 1)); if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi; }

echo "1..6"
check "make dist writes $name.zip and $name.tar.gz" \
    bash -c "make -s -C '$top' dist DISTDIR='$tmp' >/dev/null && [ -s '$tmp/$name.zip' ] && [ -s '$tmp/$name.tar.gz' ]"
tar -tzf "$tmp/$name.tar.gz" > "$tmp/tar.list"
/usr/bin/python3 -c "import zipfile, sys; print('\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))" "$tmp/$name.zip" > "$tmp/zip.list"
check "every entry of both archives is under $name/" \
    bash -c "! grep -v '^$name/' '$tmp/tar.list' '$tmp/zip.list'"
check "both archives hold the same files" bash -c "diff <(sort '$tmp/tar.list') <(sort '$tmp/zip.list') >/dev/null"
check "they hold META.json, leadkpi.control, LICENSE, Makefile, the 0.1.0 script and the upgrade delta" \
    bash -c "for f in META.json leadkpi.control LICENSE Makefile sql/leadkpi--0.1.0.sql sql/upgrade/0.1.0--$version.sql debian/control.in; do
                 grep -qx '$name/'\$f '$tmp/tar.list' || { echo \"# missing \$f\"; exit 1; }; done"
check "and no CI or git files" bash -c "! grep -E '^$name/(\\.ci/|\\.git)' '$tmp/tar.list'"
# a dist whose META.json disagrees with the control file is refused: a commit
# object with another META.json version (no ref, no worktree: only objects)
export GIT_INDEX_FILE=$tmp/index
git -C "$top" read-tree HEAD
blob=$(git -C "$top" show HEAD:META.json | sed 's/"version": "[0-9.]*",/"version": "9.9.9",/' | git -C "$top" hash-object -w --stdin)
git -C "$top" update-index --cacheinfo "100644,$blob,META.json"
bad=$(git -C "$top" -c user.name=test -c user.email=test@invalid commit-tree "$(git -C "$top" write-tree)" -p HEAD -m "META.json 9.9.9")
unset GIT_INDEX_FILE
check "make dist refuses a META.json whose version is not the control file's" \
    bash -c "! make -s -C '$top' dist DIST_REV=$bad DISTDIR='$tmp/bad' >/dev/null 2>&1 && [ ! -e '$tmp/bad/$name.zip' ]"
