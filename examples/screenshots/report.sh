#!/usr/bin/env bash
# make screenshots' producer for the HTML report: report_html() of the demo
# reports (the ten campaigns with the most leads), as Chromium shows it
# 1280 px wide -> DIR/report.png.  Usage: report.sh DIR
# Runs against test/harness.sh's cluster with the demo database.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: report.sh DIR}
PSQL=${PSQL:-psql -X -q -v ON_ERROR_STOP=1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PSQL -d leadkpi_demo -At -c "SELECT report_html('reports', campaigns => 10)" > "$tmp/report.html"
node "$here/shoot.mjs" "$tmp/report.html" "$out/report.png" 1280
