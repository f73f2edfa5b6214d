#!/usr/bin/env bash
# examples/dashboard/run.sh MODE: the example dashboard (Evidence) over the
# demo database.  Run by test/harness.sh in its `run` mode, which starts a
# throwaway cluster, exports PGHOST, PGPORT, PGUSER and PSQL, and stops the
# cluster when this script ends:
#   bash test/harness.sh run examples/dashboard/run.sh serve           make dashboard
#   bash test/harness.sh run examples/dashboard/run.sh test            make test-dashboard
#   bash test/harness.sh run examples/dashboard/run.sh screenshot DIR  (make screenshots)
#   bash test/harness.sh run examples/dashboard/run.sh sql             make check-dashboard-sql
#
# Steps: Debian packages (nodejs, chromium), the demo database
# (examples/demo_db.sh), the npm packages of package-lock.json, Evidence's
# `sources` (the source queries, run on the cluster), `build` (a static site
# in build/), then a static server on 127.0.0.1 (serve.mjs) and, for test and
# screenshot, headless Chromium (test.mjs).
#
# Environment:
#   DEMO_SCALE          leads in the sample CRM (default 3000)
#   DASHBOARD_PORT      first port tried for the server (default 20300; the
#                       next free one is taken)
#   DASHBOARD_DEV=1     serve: Evidence's dev server (live edits of pages/ and
#                       sources/, slower first load) instead of the built site
#   LEADKPI_NPM_CACHE   npm's cache and the node_modules snapshots
#                       (default /var/cache/leadkpi/npm)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mode=${1:-serve}
log() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cache=${LEADKPI_NPM_CACHE:-/var/cache/leadkpi/npm}
port=${DASHBOARD_PORT:-20300}

# --- Debian packages ---------------------------------------------------------
need=()
if [ "$mode" != sql ]; then
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    command -v zstd >/dev/null 2>&1 || need+=(zstd)
fi
case "$mode" in test|screenshot) [ -x /usr/bin/chromium ] || need+=(chromium) ;; esac
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${need[*]}; install them as root (apt-get install ${need[*]})"
        exit 1
    fi
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- the demo database ---------------------------------------------------------
bash "$top/examples/demo_db.sh"

# sql: only the source queries, with psql against the demo reports (no npm, no
# browser): each must run and return rows.  Seconds; catches a view or column
# the dashboard reads that the reports no longer have.
if [ "$mode" = sql ]; then
    pass=0 fail=0
    for q in "$here"/sources/leadkpi/*.sql; do
        # the query without its comments, counted
        if n=$($PSQL -d leadkpi_demo -At -c "SET search_path = reports" \
                     -c "SELECT count(*) FROM ($(sed 's/--.*$//' "$q")) AS q" 2>&1) && [ "$n" -gt 0 ] 2>/dev/null; then
            pass=$((pass + 1)); echo "ok - $(basename "$q"): $n rows"
        else
            fail=$((fail + 1)); echo "not ok - $(basename "$q"): ${n:-no rows}"
        fi
    done
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

# --- npm packages --------------------------------------------------------------
# node_modules is kept while it matches package-lock.json.  A fresh checkout
# unpacks a snapshot of it from the cache, or runs `npm ci` from npm's cache
# there and leaves a snapshot for the next run.
cd "$here"
lock=$(sha256sum package-lock.json | cut -c1-16)
stamp=node_modules/.leadkpi-lock
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock" ]; then
    mkdir -p "$cache"
    snap="$cache/node_modules-$lock.tar.zst"
    t0=$(now)
    rm -rf node_modules
    if [ -f "$snap" ] && tar -I zstd -xf "$snap"; then
        log "node_modules from $snap ($(secs "$t0") s)"
    else
        rm -rf node_modules
        log "npm ci (cache $cache)"
        npm ci --cache "$cache" --prefer-offline --no-audit --no-fund --loglevel=error >&2
        log "npm ci took $(secs "$t0") s"
        rm -f "$cache"/node_modules-*.tar.zst
        tar -I 'zstd -3 -T0' -cf "$snap.tmp" node_modules && mv "$snap.tmp" "$snap"
    fi
    echo "$lock" > "$stamp"
fi

# --- Evidence: source queries, then the site -----------------------------------
# The connection is leadkpi's source (sources/leadkpi/connection.yaml) with the
# cluster's socket; no usage statistics are sent (this machine is offline).
export EVIDENCE_SOURCE__leadkpi__host=$PGHOST
export EVIDENCE_SOURCE__leadkpi__port=$PGPORT
export EVIDENCE_SOURCE__leadkpi__user=$PGUSER
export EVIDENCE_SOURCE__leadkpi__database=leadkpi_demo
export EVIDENCE_SOURCE__leadkpi__schema=reports
export SEND_ANONYMOUS_USAGE_STATS=no
export TZ=UTC          # dates (month) are read and written as UTC midnights
evidence=$here/node_modules/.bin/evidence

t0=$(now)
log "evidence sources"
"$evidence" sources >&2
log "sources took $(secs "$t0") s"

tmp=$(mktemp -d)
server=""
stop_server() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM -- "-$server" 2>/dev/null || kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    server=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server CMD...: in its own process group (so that stopping it stops its
# children too); waits for its URL line and sets $url.
start_server() {
    local out=$tmp/server.log i
    : > "$out"
    setsid "$@" > "$out" 2>&1 &
    server=$!
    for i in $(seq 1 600); do
        url=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*/' "$out" || true)
        [ -n "$url" ] && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.5
    done
    cat "$out" >&2
    log "the dashboard server did not start"
    exit 1
}

if [ "$mode" = serve ] && [ "${DASHBOARD_DEV:-0}" = 1 ]; then
    # NO_COLOR: vite prints the port in bold when CI is set
    NO_COLOR=1 start_server "$evidence" dev --host 127.0.0.1 --port "$port"
else
    t0=$(now)
    log "evidence build (a few minutes)"
    rm -rf build
    "$evidence" build > "$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log" >&2; exit 1; }
    log "build took $(secs "$t0") s: $(du -sh build | cut -f1) in $here/build"
    start_server node "$here/serve.mjs" "$here/build" "$port"
fi

case "$mode" in
serve)
    log "dashboard at $url  (Ctrl-C stops it and the cluster)"
    wait "$server" || true
    ;;
test)
    t0=$(now)
    node "$here/test.mjs" "$url" "$here/test-results"
    log "browser test took $(secs "$t0") s"
    ;;
screenshot)
    out=${2:?screenshot needs an output directory}
    mkdir -p "$out"
    node "$here/test.mjs" "$url" "$here/test-results" --readme-dir "$out"
    ;;
*)
    log "unknown mode $mode (serve, test, screenshot)"; exit 2 ;;
esac
