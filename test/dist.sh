#!/usr/bin/env bash
# make dist: the release archives PGXN takes, leadkpi-VERSION.zip and
# leadkpi-VERSION.tar.gz, made by `git archive` of a commit (default HEAD)
# with the top directory leadkpi-VERSION/.  VERSION is the control file's
# default_version, and META.json must say the same (its version and
# provides.leadkpi.version).  Files marked export-ignore in .gitattributes
# (CI and git files) are left out.
# Environment: DIST_REV (the commit, default HEAD), DISTDIR (default .).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rev=${DIST_REV:-HEAD}
out=${DISTDIR:-.}
version=$(git show "$rev:leadkpi.control" | sed -n "s/^default_version = '\(.*\)'/\1/p")
[ -n "$version" ] || { echo "make dist: no default_version in $rev:leadkpi.control" >&2; exit 1; }
meta=$(git show "$rev:META.json" | /usr/bin/python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["version"], m["provides"]["leadkpi"]["version"])')
if [ "$meta" != "$version $version" ]; then
    echo "make dist: META.json says version/provides.leadkpi.version '$meta', leadkpi.control says $version" >&2
    exit 1
fi
[ "$rev" = HEAD ] && [ -n "$(git status --porcelain --untracked-files=no)" ] \
    && echo "make dist: note: uncommitted changes are not in the archive (it is made from HEAD)" >&2
name=leadkpi-$version
mkdir -p "$out"
git archive --format=zip --prefix="$name/" -o "$out/$name.zip" "$rev"
git archive --format=tar.gz --prefix="$name/" -o "$out/$name.tar.gz" "$rev"
echo "$out/$name.zip"
echo "$out/$name.tar.gz"
