#!/usr/bin/env bash
# examples/screenshots.sh OUTDIR PRODUCER...: `make screenshots`.  Run by
# test/harness.sh in its `run` mode (a throwaway cluster, PGHOST/PGPORT/PGUSER/
# PSQL exported).  Makes the demo database (examples/demo_db.sh), runs each
# producer script with OUTDIR, then shrinks the PNGs it wrote (pngquant,
# lossless-looking 256-colour palettes) and lists them with their sizes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: screenshots.sh OUTDIR PRODUCER...}
shift
case "$out" in /*) ;; *) out=$top/$out ;; esac
mkdir -p "$out"

if ! command -v pngquant >/dev/null 2>&1; then
    printf '== %s\n' "installing pngquant" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pngquant >/dev/null
fi
bash "$top/examples/demo_db.sh"

stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
for producer in "$@"; do
    printf '== %s\n' "screenshots: $producer" >&2
    bash "$top/$producer" "$out"
done
# the PNGs written by this run, as small as a palette makes them
find "$out" -name '*.png' -newer "$stamp" -print0 |
    while IFS= read -r -d '' png; do
        # exit 98/99: already smaller than a palette would make it; kept as is
        pngquant --force --skip-if-larger --strip --quality=70-95 --speed 1 --ext .png "$png" || true
    done
find "$out" -name '*.png' -newer "$stamp" -printf '%p\t%k KiB\n' >&2
