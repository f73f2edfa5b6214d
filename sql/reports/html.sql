
-----------------------------------------------------------------------------
-- Reports: report_html(), one self-contained HTML document over a report
-- schema: the four KPIs with their monthly trend, the funnel with its
-- bottleneck, the campaign table, the period covered, the time zone and when
-- it was computed.  Inline CSS and SVG, no script, no external file, so that
-- it can be mailed, archived in a table, or opened from a file.  It reads the
-- report views (the _live ones when the reports are materialized) and lays
-- them out: every figure it prints is a value of a view, rounded for display,
-- with the exact value, the view and the column in data-* attributes.
-----------------------------------------------------------------------------

-- Text for HTML: &, <, >, " and ' as character references, so that a label
-- from CRM data (a campaign called <script>...) is shown as text; control
-- characters (not allowed in HTML) as the replacement character.
CREATE OR REPLACE FUNCTION @extschema@._lk_html(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN regexp_replace(
    replace(replace(replace(replace(replace(coalesce(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;'),
    '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', U&'\FFFD', 'g');
COMMENT ON FUNCTION @extschema@._lk_html(text) IS
'leadkpi internal: escapes text for HTML (& < > " '' as character references; control characters, which HTML forbids, as U+FFFD)';

-- A number as report_html prints it: a count with thousands separators, a
-- rate in per cent to 1 decimal, days to 1 decimal, money with thousands
-- separators and the decimals the view gives it (money_decimals; 2 when the
-- view is exact).  NULL is an en dash.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_number(v numeric, kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN v IS NULL THEN U&'\2013'
            WHEN kind = 'count' THEN btrim(to_char(v, 'FM999,999,999,999,990'))
            WHEN kind = 'rate' THEN to_char(round(v * 100, 1), 'FM999990.0') || ' %'
            WHEN kind = 'days' THEN to_char(round(v, 1), 'FM999999990.0') || ' d'
            -- money: the decimals of the view (money_decimals), 2 when it is exact
            ELSE to_char(v, 'FM999,999,999,999,990' || CASE WHEN scale(v) > 6 THEN '.00'
                                                              WHEN scale(v) > 0 THEN '.' || repeat('0', scale(v)) ELSE '' END) END;
COMMENT ON FUNCTION @extschema@._lk_html_number(numeric, text) IS
'leadkpi internal: a figure as report_html prints it (count, rate in per cent, days, money)';

-- One figure: the printed number in an element carrying the view, the key
-- of its row (no data-key: the one-row overview, or a NULL key such as the
-- leads without a campaign), the column and the exact value, for readers
-- and tests.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_figure(tag text, view_name text, row_key text, col text, v numeric, kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('<%s class="fig" data-view="%s"%s data-col="%s" data-value="%s">%s</%s>',
              tag, @extschema@._lk_html(view_name),
              CASE WHEN row_key IS NULL THEN '' ELSE format(' data-key="%s"', @extschema@._lk_html(row_key)) END,
              @extschema@._lk_html(col),
              @extschema@._lk_html(coalesce(v::text, '')), @extschema@._lk_html(@extschema@._lk_html_number(v, kind)), tag);
COMMENT ON FUNCTION @extschema@._lk_html_figure(text, text, text, text, numeric, text) IS
'leadkpi internal: one printed figure of report_html with its view, row key, column and exact value as data attributes';

-- A sparkline as inline SVG: a polyline through the values (NULLs skipped),
-- scaled to the box; the points are layout, not figures.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_spark(vals numeric[], label text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT format('<svg class="spark" viewBox="0 0 120 32" preserveAspectRatio="none" role="img" aria-label="%s">'
                  '<polyline fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" points="%s"/></svg>',
                  @extschema@._lk_html(label),
                  coalesce(string_agg(format('%s,%s',
                      round(CASE WHEN n.c <= 1 THEN 60 ELSE (v.i - 1) * 120.0 / (n.c - 1) END, 1),
                      round(CASE WHEN m.hi = m.lo THEN 16 ELSE 30 - (v.x - m.lo) / (m.hi - m.lo) * 28 END, 1)), ' ' ORDER BY v.i), ''))
      FROM unnest(vals) WITH ORDINALITY AS v(x, i),
           (SELECT min(y) AS lo, max(y) AS hi FROM unnest(vals) AS y) AS m,
           (SELECT cardinality(vals) AS c) AS n
     WHERE v.x IS NOT NULL;
END;
COMMENT ON FUNCTION @extschema@._lk_html_spark(numeric[], text) IS
'leadkpi internal: an inline SVG sparkline of report_html';

-- The relation report_html reads for a report: name_live when it exists
-- (materialized reports: stored days plus the rows since), else name.  A
-- schema without leadkpi reports is 42P01.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_source(reports_schema name, report text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass(format('%I.%I', reports_schema, report || '_live')) IS NOT NULL THEN
        RETURN report || '_live';
    ELSIF to_regclass(format('%I.%I', reports_schema, report)) IS NOT NULL THEN
        RETURN report;
    END IF;
    RAISE EXCEPTION 'leadkpi: schema % has no report %', quote_ident(reports_schema), report
        USING ERRCODE = '42P01', HINT = 'Create the reports first: SELECT create_reports(''reports'', leads => ...); see doc/crm.md.';
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_html_source(name, text) IS
'leadkpi internal: the view report_html reads for a report (its _live view when materialized)';

-- The style sheet of report_html: a grid of tiles, tables that become
-- stacked cards under 600 px (each figure under its label), so that nothing
-- is cut off or scrolled sideways on a phone.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_style()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ':root{color-scheme:light;--ink:#1f2430;--muted:#5b6472;--line:#d9dde3;--accent:#2f6fde;--warn:#c2410c}'
    || '*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#f5f6f8}'
    || 'main{max-width:1200px;margin:0 auto;padding:24px 16px}h1{font-size:1.6em;margin:0 0 4px;overflow-wrap:anywhere}h2{font-size:1.05em;margin:0 0 8px}'
    || 'section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px;margin:16px 0;min-width:0}'
    || '.meta,.note,.prev,footer{color:var(--muted);font-size:.9em}.meta,footer{margin:0;overflow-wrap:anywhere}'
    || '.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;background:none;border:0;padding:0}'
    || '.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px;min-width:0}'
    || '.tile>p.fig{font-size:1.9em;font-weight:600;margin:0}.note{margin:2px 0 6px}.trend{margin:6px 0 0}'
    || '.spark{display:block;width:100%;height:36px;color:var(--accent)}'
    || 'table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}'
    || 'thead th{font-size:.85em;color:var(--muted);font-weight:600}.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}'
    || 'th[scope=row]{overflow-wrap:anywhere}.barcell{width:36%}.bar{display:block;width:100%;height:14px}.bar rect{fill:var(--accent)}'
    || '.bottleneck .bar rect{fill:var(--warn)}.bottleneck th{color:var(--warn)}.badge{color:#fff;background:var(--warn);border-radius:4px;padding:1px 6px;font-size:.8em;white-space:nowrap}'
    || '@media (max-width:600px){main{padding:12px 8px}section{padding:12px}'
    || '.tiles{grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}.tile{padding:10px}.tile>p.fig{font-size:1.5em}'
    || 'thead{display:none}tbody tr{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:2px 8px;padding:8px 0;border-bottom:1px solid var(--line)}'
    || 'tbody th,tbody td{border:0;padding:0}tbody th[scope=row]{grid-column:1/-1}td.num{text-align:left}'
    || 'td[data-label]::before{content:attr(data-label);display:block;color:var(--muted);font-size:.8em;white-space:normal}'
    || '.funnel th[scope=row]{grid-column:1/3;grid-row:1}.funnel td.flag{grid-column:3;grid-row:1;text-align:right}'
    || '.funnel td.barcell{grid-column:1/-1;width:auto}td[colspan]{grid-column:1/-1}}';
COMMENT ON FUNCTION @extschema@._lk_html_style() IS
'leadkpi internal: the inline style sheet of report_html (tables as stacked cards under 600 px)';

-- The four KPI tiles: the overview's figure (o, the overview row as jsonb),
-- a sparkline of the last months of kpi_by_month, and its last two months.
-- The months are cohorts of first contact, which the notes say: the latest
-- are still converting.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_tiles(reports_schema name, v_over text, v_month text, o jsonb, months integer)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(reports_schema);
    kpi record;
    last_months text[];
    last_values numeric[];
    trend numeric[];
    tiles text := '';
BEGIN
    FOR kpi IN SELECT * FROM (VALUES
        (1, 'conversion_rate', 'Conversion rate', 'rate', 'conversions / leads',
         'by month of first contact; recent months are still converting'),
        (2, 'sales_cycle_median_days', 'Sales cycle (median)', 'days', 'days from first contact to conversion',
         'by month of first contact; recent months have only their quick conversions yet'),
        (3, 'cost_per_lead', 'Cost per lead', 'money', 'spend / leads, matched by month and campaign',
         'by month: its spend / the leads first contacted in it'),
        (4, 'cost_per_order', 'Cost per order', 'money', 'spend / conversions, matched by month and campaign',
         'by month of first contact; recent months are still converting')) AS k(i, col, label, kind, note, trend_note)
        ORDER BY i
    LOOP
        EXECUTE format('SELECT array_agg(v ORDER BY month) FROM (SELECT month, (to_jsonb(%I) #>> ''{}'')::numeric AS v FROM %s.%I ORDER BY month DESC LIMIT %s) AS t',
                       kpi.col, s, v_month, months) INTO trend;
        EXECUTE format('SELECT array_agg(month::text ORDER BY month DESC), array_agg(v ORDER BY month DESC) '
                       'FROM (SELECT month, (to_jsonb(%I) #>> ''{}'')::numeric AS v FROM %s.%I ORDER BY month DESC LIMIT 2) AS t',
                       kpi.col, s, v_month) INTO last_months, last_values;
        tiles := tiles || format(
            '<article class="tile"><h2>%s</h2>%s<p class="note">%s</p>%s<p class="trend">%s</p><p class="note">%s</p></article>',
            @extschema@._lk_html(kpi.label),
            @extschema@._lk_html_figure('p', v_over, NULL, kpi.col, (o ->> kpi.col)::numeric, kpi.kind),
            @extschema@._lk_html(kpi.note),
            @extschema@._lk_html_spark(trend, format('%s by month, the last %s months', kpi.label, months)),
            CASE WHEN last_months IS NULL THEN 'no month yet'
                 ELSE format('<time>%s</time> %s%s', left(last_months[1], 7),
                             @extschema@._lk_html_figure('span', v_month, last_months[1], kpi.col, last_values[1], kpi.kind),
                             CASE WHEN cardinality(last_months) < 2 THEN ''
                                  ELSE format(' <span class="prev">vs <time>%s</time> %s</span>', left(last_months[2], 7),
                                              @extschema@._lk_html_figure('span', v_month, last_months[2], kpi.col, last_values[2], kpi.kind)) END) END,
            @extschema@._lk_html(initcap(left(kpi.trend_note, 1)) || substr(kpi.trend_note, 2)) || '.');
    END LOOP;
    RETURN tiles;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_html_tiles(name, text, text, jsonb, integer) IS
'leadkpi internal: the four KPI tiles of report_html (overview figure, monthly sparkline, the last two months)';

-- The funnel rows: a bar per step scaled to reached (layout), reached, the
-- conversion from the previous step and the median days since it, and the
-- bottleneck marked.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_funnel(reports_schema name, v_fun text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(reports_schema);
    max_reached numeric;
    r record;
    rows text := '';
BEGIN
    EXECUTE format('SELECT max(reached) FROM %s.%I', s, v_fun) INTO max_reached;
    FOR r IN EXECUTE format('SELECT step, stage, reached, conversion_from_previous, median_days_from_previous, is_bottleneck FROM %s.%I ORDER BY step', s, v_fun) LOOP
        rows := rows || format(
            '<tr%s><th scope="row">%s</th><td class="barcell"><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
            '<rect x="0" y="0" height="10" width="%s"/></svg></td><td class="num" data-label="Reached">%s</td>'
            '<td class="num" data-label="From previous">%s</td><td class="num" data-label="Median days from previous">%s</td><td class="flag">%s</td></tr>',
            CASE WHEN r.is_bottleneck THEN ' class="bottleneck"' ELSE '' END,
            @extschema@._lk_html(r.stage),
            CASE WHEN coalesce(max_reached, 0) = 0 THEN 0 ELSE round(100.0 * r.reached / max_reached, 2) END,
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'reached', r.reached, 'count'),
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'conversion_from_previous', (to_jsonb(r.conversion_from_previous) #>> '{}')::numeric, 'rate'),
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'median_days_from_previous', r.median_days_from_previous, 'days'),
            CASE WHEN r.is_bottleneck THEN '<strong class="badge">bottleneck</strong>' ELSE '' END);
    END LOOP;
    RETURN CASE WHEN rows = '' THEN '<tr><td colspan="6">No stage events: the funnel is empty (see the NOTICE of create_reports).</td></tr>' ELSE rows END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_html_funnel(name, text) IS
'leadkpi internal: the funnel rows of report_html';

-- The campaign rows, by leads, at most campaigns of them.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_campaigns(reports_schema name, v_camp text, campaigns integer)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    c record;
    cells text;
    rows text := '';
BEGIN
    FOR r IN EXECUTE format('SELECT campaign, to_jsonb(v) AS j FROM %s.%I AS v ORDER BY leads DESC, campaign NULLS LAST LIMIT %s',
                            quote_ident(reports_schema), v_camp, campaigns) LOOP
        cells := '';
        FOR c IN SELECT * FROM (VALUES (1, 'leads', 'Leads', 'count'), (2, 'conversions', 'Conversions', 'count'),
                                       (3, 'conversion_rate', 'Conversion', 'rate'), (4, 'cost', 'Cost', 'money'),
                                       (5, 'cost_per_lead', 'CPL', 'money'), (6, 'cost_per_order', 'CPO', 'money'),
                                       (7, 'revenue', 'Revenue', 'money')) AS k(i, col, label, kind) ORDER BY i LOOP
            cells := cells || format('<td class="num" data-label="%s">%s</td>', c.label,
                @extschema@._lk_html_figure('span', v_camp, r.campaign, c.col, (r.j ->> c.col)::numeric, c.kind));
        END LOOP;
        rows := rows || format('<tr><th scope="row">%s</th>%s</tr>',
            CASE WHEN r.campaign IS NULL THEN '<em>(no campaign)</em>' ELSE @extschema@._lk_html(r.campaign) END, cells);
    END LOOP;
    RETURN CASE WHEN rows = '' THEN '<tr><td colspan="8">No campaign yet.</td></tr>' ELSE rows END;
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_html_campaigns(name, text, integer) IS
'leadkpi internal: the campaign rows of report_html, by leads';

CREATE OR REPLACE FUNCTION @extschema@.report_html(
    reports_schema name,
    period text DEFAULT 'month',
    months integer DEFAULT 12,
    title text DEFAULT 'Lead KPIs',
    campaigns integer DEFAULT 50)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(reports_schema);
    v_over text; v_month text; v_camp text; v_fun text;
    o jsonb;
    tz text;
    first_month date; last_month date; n_campaigns bigint;
    watermark date;
    spend_line text;
BEGIN
    IF period IS DISTINCT FROM 'month' THEN
        RAISE EXCEPTION 'leadkpi: report_html period must be ''month'', not %', coalesce(quote_literal(period), 'NULL')
            USING ERRCODE = '22023', HINT = 'The trends are read from kpi_by_month; other periods are not reported yet.';
    END IF;
    IF months IS NULL OR months NOT BETWEEN 2 AND 120 OR campaigns IS NULL OR campaigns NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'leadkpi: report_html needs months between 2 and 120 and campaigns between 1 and 10000'
            USING ERRCODE = '22023', HINT = 'E.g. report_html(''reports'', months => 12, campaigns => 50).';
    END IF;
    IF reports_schema IS NULL OR NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = reports_schema) THEN
        RAISE EXCEPTION 'leadkpi: schema % does not exist', coalesce(quote_ident(reports_schema), 'NULL')
            USING ERRCODE = '3F000', HINT = 'Pass the schema create_reports() wrote the reports to, e.g. report_html(''reports'').';
    END IF;
    v_over := @extschema@._lk_html_source(reports_schema, 'kpi_overview');
    v_month := @extschema@._lk_html_source(reports_schema, 'kpi_by_month');
    v_camp := @extschema@._lk_html_source(reports_schema, 'kpi_by_campaign');
    v_fun := @extschema@._lk_html_source(reports_schema, 'funnel_report');
    -- reports of 0.1.0 (before an ALTER EXTENSION UPDATE) lack the columns read here
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = format('%s.%I', s, v_month)::regclass AND attname = 'cost_matched')
       OR NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = format('%s.%I', s, v_fun)::regclass AND attname = 'median_days_from_previous') THEN
        RAISE EXCEPTION 'leadkpi: the reports in schema % were made by an earlier leadkpi, without the columns report_html reads', quote_ident(reports_schema)
            USING ERRCODE = '55000', HINT = 'Re-run create_reports (or the preset) for this schema to get the reports of this version.';
    END IF;
    -- the time zone the reports cut months in, as create_reports wrote it
    tz := substring(obj_description(format('%s.kpi_by_month', s)::regclass, 'pg_class') FROM 'in time zone ([^ ]+) ');
    IF to_regclass(format('%s.kpi_watermark', s)) IS NOT NULL THEN
        EXECUTE format('SELECT stored_before FROM %s.kpi_watermark', s) INTO watermark;
    END IF;

    EXECUTE format('SELECT to_jsonb(v) FROM %s.%I AS v', s, v_over) INTO o;
    -- the months with leads (kpi_by_month also has the months with spend only)
    EXECUTE format('SELECT min(month), max(month) FROM %s.%I WHERE leads > 0', s, v_month) INTO first_month, last_month;
    EXECUTE format('SELECT count(*) FROM %s.%I', s, v_camp) INTO n_campaigns;
    -- spend, and the part of it that cost per lead and per order divide:
    -- the (month, campaign) cells that have leads too
    spend_line := CASE WHEN o ->> 'cost' IS NULL THEN
                           ' No spend: cost per lead and per order need the spend input (create_reports(..., spend => ...)).'
                       ELSE format(' %s spend, of which %s in the months and campaigns that have leads: the base of cost per lead and per order.',
                                   @extschema@._lk_html_figure('span', v_over, NULL, 'cost', (o ->> 'cost')::numeric, 'money'),
                                   @extschema@._lk_html_figure('span', v_over, NULL, 'cost_matched', (o ->> 'cost_matched')::numeric, 'money')) END;

    RETURN '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8"/>'
        || '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        || format('<title>%s</title>', @extschema@._lk_html(title))
        || '<style>' || @extschema@._lk_html_style() || '</style></head><body><main>'
        || format('<header><h1>%s</h1><p class="meta">Report schema <code>%s</code> &#183; leads first contacted %s &#183; time zone %s &#183; computed <time datetime="%s">%s</time>%s</p></header>',
                  @extschema@._lk_html(title), @extschema@._lk_html(reports_schema),
                  CASE WHEN first_month IS NULL THEN 'none yet'
                       ELSE format('<time>%s</time> to <time>%s</time>', to_char(first_month, 'YYYY-MM'), to_char(last_month, 'YYYY-MM')) END,
                  @extschema@._lk_html(coalesce(tz, 'unknown')),
                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                  @extschema@._lk_html(to_char(now() AT TIME ZONE coalesce(tz, 'UTC'), 'YYYY-MM-DD HH24:MI')),
                  CASE WHEN watermark IS NULL THEN ''
                       ELSE format(' (materialized: stored days before <time>%s</time>, the rows since read live)', watermark) END)
        || '<section class="tiles" aria-label="Key indicators">' || @extschema@._lk_html_tiles(reports_schema, v_over, v_month, o, months) || '</section>'
        || format('<section><h2>Overview</h2><p>%s leads, %s conversions, %s revenue.%s</p></section>',
                  @extschema@._lk_html_figure('span', v_over, NULL, 'leads', (o ->> 'leads')::numeric, 'count'),
                  @extschema@._lk_html_figure('span', v_over, NULL, 'conversions', (o ->> 'conversions')::numeric, 'count'),
                  @extschema@._lk_html_figure('span', v_over, NULL, 'revenue', (o ->> 'revenue')::numeric, 'money'),
                  spend_line)
        || '<section><h2>Funnel</h2><table class="funnel"><thead><tr><th scope="col">Stage</th><th scope="col">Share of the first step</th>'
        || '<th scope="col" class="num">Reached</th><th scope="col" class="num">From previous</th><th scope="col" class="num">Median days from previous</th>'
        || '<th scope="col">Bottleneck</th></tr></thead><tbody>'
        || @extschema@._lk_html_funnel(reports_schema, v_fun) || '</tbody></table></section>'
        || format('<section><h2>Campaigns</h2>%s<table class="campaigns"><thead><tr><th scope="col">Campaign</th>'
                  '<th scope="col" class="num">Leads</th><th scope="col" class="num">Conversions</th><th scope="col" class="num">Conversion</th>'
                  '<th scope="col" class="num">Cost</th><th scope="col" class="num">CPL</th><th scope="col" class="num">CPO</th>'
                  '<th scope="col" class="num">Revenue</th></tr></thead><tbody>%s</tbody></table></section>',
                  CASE WHEN n_campaigns > campaigns THEN format('<p class="note">The %s campaigns with the most leads, of %s.</p>', campaigns, n_campaigns) ELSE '' END,
                  @extschema@._lk_html_campaigns(reports_schema, v_camp, campaigns))
        || format('<footer><p>leadkpi %s &#183; every figure is a value of the views %s, %s, %s and %s in <code>%s</code>, rounded for display.</p></footer>',
                  @extschema@._lk_html((SELECT extversion FROM pg_extension WHERE extname = 'leadkpi')),
                  @extschema@._lk_html(v_over), @extschema@._lk_html(v_month), @extschema@._lk_html(v_fun), @extschema@._lk_html(v_camp),
                  @extschema@._lk_html(reports_schema))
        || '</main></body></html>' || E'\n';
END;
$$;
COMMENT ON FUNCTION @extschema@.report_html(name, text, integer, text, integer) IS
'One self-contained HTML document (inline CSS and SVG, no script, no external file) over the reports in reports_schema: the four KPIs with their monthly trend, the funnel with its bottleneck, the campaigns, the period covered, the time zone and when it was computed. Reads the report views (the _live ones when materialized). psql: \o report.html then SELECT report_html(''reports'');';
