#!/usr/bin/env bash
# TAP: the upgrade from 0.1.0 (CREATE EXTENSION leadkpi VERSION '0.1.0', then
# ALTER EXTENSION leadkpi UPDATE) gives the same catalog as a fresh install of
# the current version, and summaries and reports stored under 0.1.0 still
# read, roll up and print the same.
#
# The catalog is compared attribute by attribute (test/lib/catalog_snapshot.sql:
# every member's identity, arguments, result, volatility, parallel safety,
# strictness, body or C symbol, ACL and COMMENT; aggregates' support functions
# and options; operators; operator classes and families; types and their I/O
# functions; casts; relations).  A difference names the object and the
# attribute, with both values.  An object added in 0.2.0 needs its CREATE in
# sql/upgrade/0.1.0--0.2.0.sql (or a part listed in UPGRADE_PARTS); a changed
# one its ALTER, DROP and CREATE, or CREATE OR REPLACE, and its COMMENT.
# Runs against the cluster test/harness.sh started.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bindir=$(pg_config --bindir)
up=leadkpi_upgraded fresh=leadkpi_fresh
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/leadkpi.control")
PGOPTIONS="-c client_min_messages=warning" psql -d postgres \
    -c "DROP DATABASE IF EXISTS $up" -c "DROP DATABASE IF EXISTS $fresh" \
    -c "CREATE DATABASE $up" -c "CREATE DATABASE $fresh"

# --- 0.1.0, with stored summaries and two report schemas ------------------------
psql -d $up -c "CREATE EXTENSION leadkpi VERSION '0.1.0'"
psql -d $up -f "$top/test/data/fixture-0.1.0/make.sql"     # tables kf, ff: summaries made by 0.1.0
psql -d $up <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA crm;
CREATE VIEW crm.leads AS
SELECT id AS lead_id, first_contact AS first_contact_at, campaign, 'ch' || (id % 2) AS channel,
       converted_at, revenue FROM public.leads;
CREATE VIEW crm.stage_events AS SELECT id AS lead_id, stage, ts AS occurred_at FROM public.events;
CREATE VIEW crm.spend AS
SELECT 'c' || (d % 4) AS campaign, date '2024-01-01' + d AS day, 10.5 + d % 7 AS amount
FROM generate_series(0, 80) d;
SELECT count(*) FROM create_reports('rep', leads => 'crm.leads', stage_events => 'crm.stage_events',
    spend => 'crm.spend', stages => ARRAY['lead','mql','sql','opportunity','customer'],
    conversion_window => '30 days', materialized => true, time_zone => 'UTC') \gset
SELECT count(*) FROM create_reports('rep_plain', leads => 'crm.leads', spend => 'crm.spend', time_zone => 'UTC') \gset
SQL

# What a user reads from the stored summaries and the reports: text forms,
# every figure, rollups, and every report relation's rows.
cat > "$tmp/values.sql" <<SQL
\\i $top/test/data/summary_figures.sql
\\pset format unaligned
\\pset tuples_only on
SELECT 'kpi ' || id, s::text, pg_temp.lk_kpi_figures(s) FROM kf ORDER BY id;
SELECT 'kpi rollup', rollup(s)::text, pg_temp.lk_kpi_figures(rollup(s)) FROM kf;
SELECT 'kpi +', (a.s + b.s)::text FROM kf a JOIN kf b ON b.id = a.id + 1 ORDER BY a.id;
SELECT 'funnel ' || id, f::text, pg_temp.lk_funnel_figures(f) FROM ff ORDER BY id;
SELECT 'funnel rollup ' || grp, rollup(f)::text, pg_temp.lk_funnel_figures(rollup(f)) FROM ff GROUP BY grp ORDER BY grp;
SELECT 'distinct', (SELECT count(*) FROM (SELECT DISTINCT s FROM kf) d), (SELECT count(*) FROM (SELECT DISTINCT f FROM ff) d);
SELECT format('SELECT %L || '' '' || x::text FROM %I.%I x ORDER BY 1;', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('rep', 'rep_plain') AND c.relkind IN ('r', 'v', 'm')
ORDER BY n.nspname, c.relname \\gexec
SQL
psql -d $up -f "$tmp/values.sql" > "$tmp/before.txt"

# --- the upgrade ------------------------------------------------------------------
psql -d $up -c "ALTER EXTENSION leadkpi UPDATE"
psql -d $up -f "$tmp/values.sql" > "$tmp/after.txt"
psql -d $fresh -c "CREATE EXTENSION leadkpi"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }

echo "1..7"
got=$(psql -d $up -Atc "SELECT extversion FROM pg_extension WHERE extname = 'leadkpi'")
if [ "$got" = "$version" ]; then ok "ALTER EXTENSION leadkpi UPDATE goes from 0.1.0 to $version"
else not_ok "ALTER EXTENSION leadkpi UPDATE goes from 0.1.0 to $version (it is at $got)"; fi

# the catalogs, compared in one database
for db in $up $fresh; do
    psql -d $db -c "\\i $top/test/lib/catalog_snapshot.sql" \
        -c "\\copy (SELECT * FROM lk_catalog) TO '$tmp/catalog.$db'"
done
diffs=$(psql -d $up -At <<SQL
CREATE TEMP TABLE cat_up (kind text, identity text, attr text, value text);
CREATE TEMP TABLE cat_fresh (LIKE cat_up);
\\copy cat_up FROM '$tmp/catalog.$up'
\\copy cat_fresh FROM '$tmp/catalog.$fresh'
-- an object missing on one side is one line; otherwise one line an attribute
WITH objs AS (
    SELECT kind, identity, bool_or(u) AS in_up, bool_or(f) AS in_fresh
    FROM (SELECT kind, identity, true AS u, false AS f FROM cat_up
          UNION ALL SELECT kind, identity, false, true FROM cat_fresh) x
    GROUP BY 1, 2)
SELECT line FROM (
    SELECT kind, identity, '' AS attr, format('%s %s: only in a fresh install, missing after the upgrade', kind, identity) AS line
    FROM objs WHERE NOT in_up AND in_fresh
    UNION ALL
    SELECT kind, identity, '', format('%s %s: only after the upgrade, not in a fresh install', kind, identity)
    FROM objs WHERE in_up AND NOT in_fresh
    UNION ALL
    SELECT kind, identity, attr,
           format(E'%s %s: %s differs\n    fresh install: %s\n    upgraded:      %s', kind, identity, attr,
                  coalesce(f.value, '(absent)'), coalesce(u.value, '(absent)'))
    FROM cat_up u FULL JOIN cat_fresh f USING (kind, identity, attr)
    JOIN objs USING (kind, identity)
    WHERE objs.in_up AND objs.in_fresh AND u.value IS DISTINCT FROM f.value) d
ORDER BY kind, identity, attr;
SQL
)
members=$(psql -d $fresh -Atc "SELECT count(*) FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
                                WHERE e.extname = 'leadkpi' AND d.deptype = 'e'")
if [ -z "$diffs" ]; then
    ok "the catalog after the upgrade equals a fresh $version install ($members members, every attribute)"
else
    not_ok "the catalog after the upgrade equals a fresh $version install"
    echo "# $(printf '%s\n' "$diffs" | grep -cv '^    ') objects or attributes differ; fix sql/upgrade/0.1.0--$version.sql:"
    printf '%s\n' "$diffs" | sed 's/^/#   /'
fi

# the snapshot sees what it should: a sanity check of the comparison itself
# (implicit array types, members on PG 17 and later, carry no comment)
count=$(psql -d $fresh -At -c "\\i $top/test/lib/catalog_snapshot.sql" -c "
    SELECT count(DISTINCT identity) FILTER (WHERE kind = 'type') || ' ' ||
           count(DISTINCT identity) FILTER (WHERE kind = 'aggregate') || ' ' ||
           count(DISTINCT identity) FILTER (WHERE kind = 'operator') || ' ' ||
           count(DISTINCT identity) FILTER (WHERE kind = 'operator class') || ' ' ||
           count(*) FILTER (WHERE attr = 'comment' AND value = '(none)' AND kind NOT IN ('operator family', 'schema')
                 AND identity NOT LIKE '%[]')
    FROM lk_catalog")
read -r ntypes naggs nops nopcs nuncommented <<<"$count"
if [ "$ntypes" -ge 2 ] && [ "$naggs" -ge 30 ] && [ "$nops" -ge 5 ] && [ "$nopcs" -ge 2 ]; then
    ok "the comparison covers the types ($ntypes), aggregates ($naggs), operators ($nops) and operator classes ($nopcs)"
else
    not_ok "the comparison covers the types, aggregates, operators and operator classes (saw $count)"
fi
if [ "$nuncommented" -eq 0 ]; then
    ok "every function, aggregate, type, operator and operator class of $version has a COMMENT"
else
    not_ok "every function, aggregate, type, operator and operator class of $version has a COMMENT"
    psql -d $fresh -At -c "\\i $top/test/lib/catalog_snapshot.sql" -c "
        SELECT '#   ' || kind || ' ' || identity FROM lk_catalog
        WHERE attr = 'comment' AND value = '(none)' AND kind NOT IN ('operator family', 'schema')
                 AND identity NOT LIKE '%[]' ORDER BY 1"
fi

# stored summaries and reports read, merge and print the same
if diff -u --label "before the upgrade (0.1.0)" --label "after the upgrade" "$tmp/before.txt" "$tmp/after.txt" > "$tmp/values.diff"; then
    ok "stored summaries and 0.1.0's reports read, roll up and print the same after the upgrade ($(wc -l < "$tmp/before.txt") lines)"
else
    not_ok "stored summaries and 0.1.0's reports read, roll up and print the same after the upgrade"
    head -60 "$tmp/values.diff" | sed 's/^/#   /'
fi

# the 0.1.0 report schemas keep working under the new version
psql -d $up -c "SELECT count(*) FROM refresh_reports('rep')" >/dev/null
psql -d $up -f "$tmp/values.sql" > "$tmp/refreshed.txt"
if diff -u --label "before the upgrade (0.1.0)" --label "refreshed after the upgrade" "$tmp/before.txt" "$tmp/refreshed.txt" > "$tmp/values.diff"; then
    ok "refresh_reports on a report schema made by 0.1.0 works after the upgrade and gives the same figures"
else
    not_ok "refresh_reports on a report schema made by 0.1.0 works after the upgrade and gives the same figures"
    head -60 "$tmp/values.diff" | sed 's/^/#   /'
fi

# re-making them with the new version: the figures of the overview agree
if psql -d $up -Atc "SET client_min_messages = warning;
        SELECT count(*) FROM create_reports('rep', leads => 'crm.leads', stage_events => 'crm.stage_events',
            spend => 'crm.spend', stages => ARRAY['lead','mql','sql','opportunity','customer'],
            conversion_window => '30 days', materialized => true, time_zone => 'UTC')" >/dev/null \
   && psql -d $up -Atc "SELECT leads, conversions, conversion_rate, cost FROM rep.kpi_overview" > "$tmp/overview.after" \
   && grep -q . "$tmp/overview.after" \
   && [ "$(cat "$tmp/overview.after")" = "$(psql -d $up -Atc "SELECT leads(s), conversions(s), conversion_rate(s), round(cost(s), 2)
        FROM (SELECT rollup(s) AS s FROM (SELECT kpi_agg(first_contact_at, converted_at, revenue) AS s FROM crm.leads
              UNION ALL SELECT spend_agg(amount) FROM crm.spend) p) x")" ]; then
    ok "create_reports re-makes a 0.1.0 report schema after the upgrade, with the same overview figures"
else
    not_ok "create_reports re-makes a 0.1.0 report schema after the upgrade, with the same overview figures"
fi
