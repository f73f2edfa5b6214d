#!/usr/bin/env bash
# make screenshots' producer for the psql charts: a psql session over the
# demo reports with funnel_chart() and sparkline(), run for real (psql's
# aligned format), drawn as a terminal in HTML and shot by Chromium ->
# DIR/psql-chart.png.  Usage: psql_chart.sh DIR
# Runs against test/harness.sh's cluster with the demo database.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: psql_chart.sh DIR}
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The session: each query as typed at psql's prompt, then what psql prints.
queries=(
"SELECT stage, bar, reached, pct_of_previous, bottleneck
FROM funnel_chart((SELECT rollup(fs) FROM reports.funnel_store),
                  ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer'], 30);"
"SELECT sparkline(array_agg(conversion_rate ORDER BY month)) AS conversion_rate,
       sparkline(array_agg(cost_per_lead::float8 ORDER BY month)) AS cost_per_lead
FROM reports.kpi_by_month_live;"
)
{
    for q in "${queries[@]}"; do
        # psql's prompts: "db=# " on the first line, "db-# " on the next ones
        printf '%s\n' "$q" | sed '1s/^/leadkpi_demo=# /; 2,$s/^/leadkpi_demo-# /'
        $PSQL -d leadkpi_demo -P pager=off -c "$q"    # ends with an empty line
    done
    printf 'leadkpi_demo=# '
} > "$tmp/session.txt"

# HTML-escape, colour the prompts, size the page to the longest line
# (DejaVu Sans Mono at 15 px: 9.04 px a character)
cols=$(wc -L < "$tmp/session.txt")
width=$(( (cols * 904 + 99) / 100 + 56 ))
{
    cat <<'HTML'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>psql</title>
<style>
  html, body { margin: 0; background: #1d2430; }
  pre { margin: 0; padding: 20px 28px; color: #e6e9ef; font: 15px/1.25 "DejaVu Sans Mono", monospace; }
  .p { color: #7fd1b9; }
</style></head><body><pre>
HTML
    sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g' \
        -e 's/^\(leadkpi_demo[=-]# \)/<span class="p">\1<\/span>/' "$tmp/session.txt"
    echo '</pre></body></html>'
} > "$tmp/session.html"
node "$here/shoot.mjs" "$tmp/session.html" "$out/psql-chart.png" "$width"
