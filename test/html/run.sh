#!/usr/bin/env bash
# test/html/run.sh: make test-html.  report_html() as a reader sees it, in
# headless Chromium, run by test/harness.sh in its `run` mode (a throwaway
# cluster; PGHOST, PGPORT, PGUSER and PSQL exported):
#   bash test/harness.sh run test/html/run.sh [OUTDIR]
#
#  1. Debian packages: chromium, tidy, nodejs, npm (installed when missing);
#     playwright-core from package-lock.json (npm ci, npm's cache in
#     LEADKPI_NPM_CACHE, default /var/cache/leadkpi/npm).  No browser is
#     downloaded: playwright drives /usr/bin/chromium.
#  2. The sample CRM (test/data/gen_crm.sql, HTML_SCALE leads, default 3000)
#     with hostile labels, and four report schemas (fixture.sql): plain,
#     materialized, hostile stage names without spend, leads only.
#  3. report_html() of each into OUTDIR (default test/html/out), checked by
#     tidy (HTML5: no error, no warning).
#  4. test.mjs: each page at 1280 and 390 px: no overflow, nothing cut off,
#     no external request, no script run; screenshots; the figures shown.
#  5. check_figures.sql: every figure equals its view read in psql.
# Prints one line per check, the time of each phase, and "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$here/out}" && cd "${1:-$here/out}" && pwd)
cache=${LEADKPI_NPM_CACHE:-/var/cache/leadkpi/npm}
db=leadkpi_html
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}
log() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
t0=$(now); tphase=$t0
phase() { local t; t=$(now); log "$(awk -v a="$tphase" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s: $*"; tphase=$t; }
passed=0 failed=0
count() { # count the ok / not ok lines of a check's output, passing it on
    local line
    while IFS= read -r line; do
        printf '%s\n' "$line"
        case "$line" in
            "ok - "*) passed=$((passed + 1)) ;;
            "not ok - "*) failed=$((failed + 1)) ;;
            [0-9]*" passed, "[0-9]*" failed") ;;
        esac
    done
}

# --- 1. packages ---------------------------------------------------------------
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v tidy >/dev/null 2>&1 || need+=(tidy)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${need[*]}; install them as root (apt-get install ${need[*]})"
        exit 1
    fi
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
phase "Debian packages"
cd "$here"
lock=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.leadkpi-lock 2>/dev/null)" != "$lock" ]; then
    mkdir -p "$cache"
    npm ci --cache "$cache" --prefer-offline --no-audit --no-fund --loglevel=error >&2
    echo "$lock" > node_modules/.leadkpi-lock
fi
phase "npm packages (playwright-core)"

# --- 2. the fixture --------------------------------------------------------------
PGOPTIONS="-c client_min_messages=warning" $PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
$PSQL -d $db -c "CREATE EXTENSION leadkpi"
$PSQL -d $db -v scale="${HTML_SCALE:-3000}" -f "$top/test/data/gen_crm.sql" >/dev/null
$PSQL -d $db -f "$here/fixture.sql" >/dev/null
phase "sample CRM and report schemas"

# --- 3. the documents, and tidy ----------------------------------------------------
pages="sample:html_sample,materialized:html_mat,hostile:html_hostile,leads_only:html_leads"
docs=()
for p in ${pages//,/ }; do
    name=${p%%:*} schema=${p#*:}
    title="Lead KPIs"
    [ "$name" = hostile ] && title='<b>Q1 "review"</b> & <script>alert(1)</script>'
    $PSQL -d $db -At -v schema="$schema" -v title="$title" > "$out/$name.html" <<<"SELECT report_html(:'schema', title => :'title')"
    docs+=("$name=$out/$name.html")
done
phase "report_html of ${#docs[@]} schemas"
for d in "${docs[@]}"; do
    name=${d%%=*} file=${d#*=}
    if msgs=$(tidy -q -e --show-warnings yes --gnu-emacs yes "$file" 2>&1); then
        echo "ok - $name: tidy finds no error and no warning"
    else
        echo "not ok - $name: tidy finds no error and no warning"
        printf '%s\n' "$msgs" | head -10 | sed 's/^/#   /'
    fi
done > "$out/tidy.txt"
count < "$out/tidy.txt"
phase "tidy"

# --- 4. the browser ---------------------------------------------------------------
node "$here/test.mjs" "$out" "${docs[@]}" > "$out/browser.txt" || true
count < "$out/browser.txt"
phase "Chromium: 2 widths x ${#docs[@]} pages, screenshots in $out"

# --- 5. the figures against the views --------------------------------------------
if [ -s "$out/figures.tsv" ]; then
    $PSQL -d $db -At -v pages="$pages" -f "$here/check_figures.sql" < "$out/figures.tsv" > "$out/figures.txt"
    count < "$out/figures.txt"
else
    echo "not ok - the browser wrote the figures it showed" > "$out/figures.txt"
    count < "$out/figures.txt"
fi
phase "figures against the views"
$PSQL -d postgres -c "DROP DATABASE $db"
log "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
