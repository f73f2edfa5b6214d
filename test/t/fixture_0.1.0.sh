#!/usr/bin/env bash
# TAP: summaries written by leadkpi 0.1.0 (test/data/fixture-0.1.0/, made by
# its make.sh from the tag v0.1.0) read back in this version, from their text
# form, from kpi_summary_send's bytes (kpi_summary_from_bytes) and through
# binary COPY (the types' receive functions), to the figures 0.1.0 gave, and
# roll up to the figures 0.1.0 gave.  A change of the on-disk format must keep
# reading these.  Runs against the cluster test/harness.sh started.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fx=$top/test/data/fixture-0.1.0
bindir=$(pg_config --bindir)
db=leadkpi_fixture
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

PGOPTIONS="-c client_min_messages=warning" psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db -c "CREATE EXTENSION leadkpi"
psql -d $db <<SQL
CREATE TABLE kpi_rec (id int, note text, txt text, hex text, figures text);
CREATE TABLE funnel_rec (id int, grp text, note text, txt text, hex text, figures text);
CREATE TABLE rollup_rec (name text, txt text, figures text);
CREATE TABLE kpi_bin (id int, s kpi_summary);
CREATE TABLE funnel_bin (id int, f funnel_summary);
\copy kpi_rec FROM '$fx/kpi.tsv'
\copy funnel_rec FROM '$fx/funnel.tsv'
\copy rollup_rec FROM '$fx/rollup.tsv'
\copy kpi_bin FROM '$fx/kpi.copy' (FORMAT binary)
\copy funnel_bin FROM '$fx/funnel.copy' (FORMAT binary)
SQL

n=0
# check DESCRIPTION SQL: SQL lists what differs, one line each; none is a pass.
check() {
    local out
    n=$((n + 1))
    out=$(psql -d $db -At -c "\\i $top/test/data/summary_figures.sql" -c "$2" 2>&1) || true
    if [ -z "$out" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '%s\n' "$out" | head -20 | sed 's/^/#   /'
    fi
}

echo "1..10"
check "the fixture is complete (7 kpi, 7 funnel, 6 rollup rows; 7 and 7 binary)" "
    SELECT format('%s: %s rows', t, c) FROM (VALUES
        ('kpi_rec', (SELECT count(*) FROM kpi_rec), 7), ('funnel_rec', (SELECT count(*) FROM funnel_rec), 7),
        ('rollup_rec', (SELECT count(*) FROM rollup_rec), 6), ('kpi_bin', (SELECT count(*) FROM kpi_bin), 7),
        ('funnel_bin', (SELECT count(*) FROM funnel_bin), 7)) v(t, c, want) WHERE c <> want"
check "kpi_summary: 0.1.0's text form reads back to 0.1.0's figures" "
    SELECT format('id %s (%s): %s, 0.1.0 gave %s', id, note, pg_temp.lk_kpi_figures(txt::kpi_summary), figures)
    FROM kpi_rec WHERE pg_temp.lk_kpi_figures(txt::kpi_summary) IS DISTINCT FROM figures"
check "kpi_summary: 0.1.0's kpi_summary_send bytes read back (kpi_summary_from_bytes) to 0.1.0's figures" "
    SELECT format('id %s (%s): %s, 0.1.0 gave %s', id, note, pg_temp.lk_kpi_figures(kpi_summary_from_bytes(decode(hex, 'hex'))), figures)
    FROM kpi_rec WHERE pg_temp.lk_kpi_figures(kpi_summary_from_bytes(decode(hex, 'hex'))) IS DISTINCT FROM figures"
check "kpi_summary: 0.1.0's binary COPY reads back (kpi_summary_recv) to 0.1.0's figures" "
    SELECT format('id %s: %s, 0.1.0 gave %s', id, pg_temp.lk_kpi_figures(b.s), r.figures)
    FROM kpi_rec r FULL JOIN kpi_bin b USING (id) WHERE pg_temp.lk_kpi_figures(b.s) IS DISTINCT FROM r.figures"
check "kpi_summary: the three readings are equal, and a v1 value prints exactly as 0.1.0 printed it" "
    SELECT format('id %s: text %s, bytes %s, copy %s', id, r.txt::kpi_summary, kpi_summary_from_bytes(decode(hex, 'hex')), b.s)
    FROM kpi_rec r JOIN kpi_bin b USING (id)
    WHERE NOT (r.txt::kpi_summary = b.s AND b.s = kpi_summary_from_bytes(decode(hex, 'hex')))
       OR (b.s::text LIKE 'v1 %' AND b.s::text <> r.txt)"
check "kpi_summary: rollup of 0.1.0's summaries gives 0.1.0's rollup" "
    SELECT format('now %s, 0.1.0 gave %s', (SELECT pg_temp.lk_kpi_figures(rollup(s)) FROM kpi_bin), figures)
    FROM rollup_rec WHERE name = 'kpi all'
      AND (SELECT pg_temp.lk_kpi_figures(rollup(s)) FROM kpi_bin) IS DISTINCT FROM figures"
check "funnel_summary: 0.1.0's text form reads back to 0.1.0's figures" "
    SELECT format('id %s (%s): %s, 0.1.0 gave %s', id, note, pg_temp.lk_funnel_figures(txt::funnel_summary), figures)
    FROM funnel_rec WHERE pg_temp.lk_funnel_figures(txt::funnel_summary) IS DISTINCT FROM figures"
check "funnel_summary: 0.1.0's binary COPY (funnel_summary_send bytes) reads back to 0.1.0's figures" "
    SELECT format('id %s: %s, 0.1.0 gave %s', id, pg_temp.lk_funnel_figures(b.f), r.figures)
    FROM funnel_rec r FULL JOIN funnel_bin b USING (id) WHERE pg_temp.lk_funnel_figures(b.f) IS DISTINCT FROM r.figures"
check "funnel_summary: text and binary readings are equal, and a v1 value prints exactly as 0.1.0 printed it" "
    SELECT format('id %s: text %s, copy %s', id, r.txt::funnel_summary, b.f)
    FROM funnel_rec r JOIN funnel_bin b USING (id)
    WHERE NOT (r.txt::funnel_summary = b.f) OR (b.f::text LIKE 'v1;%' AND b.f::text <> r.txt)"
check "funnel_summary: rollup of each group of 0.1.0's summaries gives 0.1.0's rollup" "
    SELECT format('%s: now %s, 0.1.0 gave %s', r.name, x.figures, r.figures)
    FROM rollup_rec r FULL JOIN (SELECT 'funnel ' || grp AS name, pg_temp.lk_funnel_figures(rollup(b.f)) AS figures
                                 FROM funnel_bin b JOIN funnel_rec USING (id) GROUP BY grp) x USING (name)
    WHERE r.name LIKE 'funnel %' AND x.figures IS DISTINCT FROM r.figures"
