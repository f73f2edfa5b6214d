#!/usr/bin/env bash
# Makes the 0.1.0 fixture in this directory: summaries written by leadkpi
# 0.1.0 itself, kept so that every later version is tested on reading them
# (test/t/fixture_0.1.0.sh).  Run once, from any checkout, as root:
#     bash test/data/fixture-0.1.0/make.sh
# It exports the tag v0.1.0 with `git archive` into a temp dir, builds and
# installs that version into a private PostgreSQL tree and cluster
# (test/lib/cluster.sh of this checkout), runs make.sql there and writes:
#   kpi.copy, funnel.copy  COPY ... (FORMAT binary) of (id int, summary):
#                          the bytes of kpi_summary_send / funnel_summary_send
#   kpi.tsv, funnel.tsv    id, [group,] note, text form, send output in hex,
#                          the figures of ../summary_figures.sql
#   rollup.tsv             rollup of all kpi rows and of each funnel group:
#                          name, text form, figures
# Made with PostgreSQL 15 on Debian 12 (the only version 0.1.0 was built on).
# Never re-make it once committed: it is the record of what 0.1.0 wrote.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$top/test/lib/cluster.sh"

old=$LK_TMP/v0.1.0
mkdir -p "$old"
git -C "$top" archive v0.1.0 | tar -C "$old" -xf -
grep -q "default_version = '0.1.0'" "$old/leadkpi.control"
lk_packages 15
cd "$old"
lk_build
lk_private_tree
lk_start data 5432
export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
psql="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -d postgres"
$psql -c "CREATE EXTENSION leadkpi" -c "SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'" -At \
    | grep -qx 0.1.0
out=$LK_TMP/out
mkdir -p "$out"
chmod 777 "$out"
$psql -f "$here/make.sql"
$psql <<SQL
\i $top/test/data/summary_figures.sql
\copy (SELECT id, s FROM kf ORDER BY id) TO '$out/kpi.copy' (FORMAT binary)
\copy (SELECT id, f FROM ff ORDER BY id) TO '$out/funnel.copy' (FORMAT binary)
\copy (SELECT id, note, s::text, encode(kpi_summary_send(s), 'hex'), pg_temp.lk_kpi_figures(s) FROM kf ORDER BY id) TO '$out/kpi.tsv'
\copy (SELECT id, grp, note, f::text, encode(funnel_summary_send(f), 'hex'), pg_temp.lk_funnel_figures(f) FROM ff ORDER BY id) TO '$out/funnel.tsv'
\copy (SELECT 'kpi all', rollup(s)::text, pg_temp.lk_kpi_figures(rollup(s)) FROM kf UNION ALL SELECT * FROM (SELECT 'funnel ' || grp, rollup(f)::text, pg_temp.lk_funnel_figures(rollup(f)) FROM ff GROUP BY grp ORDER BY grp) g) TO '$out/rollup.tsv'
SQL
cp "$out"/kpi.copy "$out"/funnel.copy "$out"/kpi.tsv "$out"/funnel.tsv "$out"/rollup.tsv "$here/"
echo "fixture written to $here"
