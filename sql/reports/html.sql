
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
-- from CRM data (a campaign called <script>...) is shown as text.
CREATE OR REPLACE FUNCTION @extschema@._lk_html(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(coalesce(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION @extschema@._lk_html(text) IS
'leadkpi internal: escapes text for HTML (& < > " '')';

-- A number as report_html prints it: a count with thousands separators, a
-- rate in per cent to 1 decimal, days to 1 decimal, money with thousands
-- separators and the decimals the view gives it.  NULL is an en dash.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_number(v numeric, kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN v IS NULL THEN U&'\2013'
            WHEN kind = 'count' THEN btrim(to_char(v, 'FM999,999,999,999,990'))
            WHEN kind = 'rate' THEN to_char(round(v * 100, 1), 'FM999990.0') || ' %'
            WHEN kind = 'days' THEN to_char(round(v, 1), 'FM999999990.0') || ' d'
            ELSE to_char(v, 'FM999,999,999,999,990' || CASE WHEN scale(v) > 0 THEN '.' || repeat('0', scale(v)) ELSE '' END) END;
COMMENT ON FUNCTION @extschema@._lk_html_number(numeric, text) IS
'leadkpi internal: a figure as report_html prints it (count, rate in per cent, days, money)';

-- One figure: the printed number in an element carrying the view, the key
-- of its row, the column and the exact value, for readers and tests.
CREATE OR REPLACE FUNCTION @extschema@._lk_html_figure(tag text, view_name text, row_key text, col text, v numeric, kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('<%s class="fig" data-view="%s" data-key="%s" data-col="%s" data-value="%s">%s</%s>',
              tag, @extschema@._lk_html(view_name), @extschema@._lk_html(row_key), @extschema@._lk_html(col),
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
    o record;
    r record;
    tz text;
    first_month date; last_month date; n_campaigns bigint;
    watermark date;
    tiles text := '';
    funnel text := '';
    camp text := '';
    max_reached numeric;
    kpi record;
    cur_m record; prev_m record;
    trend numeric[];
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
    -- the time zone the reports cut months in, as create_reports wrote it
    tz := substring(obj_description(format('%s.kpi_by_month', s)::regclass, 'pg_class') FROM 'in time zone ([^ ]+) ');
    IF to_regclass(format('%s.kpi_watermark', s)) IS NOT NULL THEN
        EXECUTE format('SELECT stored_before FROM %s.kpi_watermark', s) INTO watermark;
    END IF;

    EXECUTE format('SELECT * FROM %s.%I', s, v_over) INTO o;
    EXECUTE format('SELECT min(month), max(month) FROM %s.%I', s, v_month) INTO first_month, last_month;

    -- the four KPIs: the overview's figure, the monthly trend, the last two months
    FOR kpi IN SELECT * FROM (VALUES
        (1, 'conversion_rate', 'Conversion rate', 'rate', 'conversions / leads'),
        (2, 'sales_cycle_median_days', 'Sales cycle (median)', 'days', 'days from first contact to conversion'),
        (3, 'cost_per_lead', 'Cost per lead', 'money', 'spend / leads, matched by month and campaign'),
        (4, 'cost_per_order', 'Cost per order', 'money', 'spend / conversions, matched by month and campaign')) AS k(i, col, label, kind, note)
        ORDER BY i
    LOOP
        EXECUTE format('SELECT array_agg(v ORDER BY month) FROM (SELECT month, (to_jsonb(%I) #>> ''{}'')::numeric AS v FROM %s.%I ORDER BY month DESC LIMIT %s) AS t',
                       kpi.col, s, v_month, months) INTO trend;
        EXECUTE format('SELECT month, (to_jsonb(%I) #>> ''{}'')::numeric AS v FROM %s.%I ORDER BY month DESC LIMIT 1', kpi.col, s, v_month) INTO cur_m;
        EXECUTE format('SELECT month, (to_jsonb(%I) #>> ''{}'')::numeric AS v FROM %s.%I ORDER BY month DESC OFFSET 1 LIMIT 1', kpi.col, s, v_month) INTO prev_m;
        tiles := tiles || format(
            '<article class="tile"><h2>%s</h2>%s<p class="note">%s</p>%s<p class="trend">%s</p></article>',
            @extschema@._lk_html(kpi.label),
            @extschema@._lk_html_figure('p', v_over, '', kpi.col, (to_jsonb(o) ->> kpi.col)::numeric, kpi.kind),
            @extschema@._lk_html(kpi.note),
            @extschema@._lk_html_spark(trend, format('%s by month, the last %s months', kpi.label, months)),
            CASE WHEN cur_m.month IS NULL THEN 'no month yet'
                 ELSE format('<time>%s</time> %s%s', to_char(cur_m.month, 'YYYY-MM'),
                             @extschema@._lk_html_figure('span', v_month, cur_m.month::text, kpi.col, cur_m.v, kpi.kind),
                             CASE WHEN prev_m.month IS NULL THEN ''
                                  ELSE format(' <span class="prev">vs <time>%s</time> %s</span>', to_char(prev_m.month, 'YYYY-MM'),
                                              @extschema@._lk_html_figure('span', v_month, prev_m.month::text, kpi.col, prev_m.v, kpi.kind)) END) END);
    END LOOP;

    -- the funnel: a bar per step scaled to reached, the bottleneck marked
    EXECUTE format('SELECT max(reached) FROM %s.%I', s, v_fun) INTO max_reached;
    FOR r IN EXECUTE format('SELECT step, stage, reached, conversion_from_previous, median_days_from_previous, is_bottleneck FROM %s.%I ORDER BY step', s, v_fun) LOOP
        funnel := funnel || format(
            '<tr%s><th scope="row">%s</th><td class="barcell"><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
            '<rect x="0" y="0" height="10" width="%s"/></svg></td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>',
            CASE WHEN r.is_bottleneck THEN ' class="bottleneck"' ELSE '' END,
            @extschema@._lk_html(r.stage),
            CASE WHEN coalesce(max_reached, 0) = 0 THEN 0 ELSE round(100.0 * r.reached / max_reached, 2) END,
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'reached', r.reached, 'count'),
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'conversion_from_previous', (to_jsonb(r.conversion_from_previous) #>> '{}')::numeric, 'rate'),
            @extschema@._lk_html_figure('span', v_fun, r.step::text, 'median_days_from_previous', r.median_days_from_previous, 'days'),
            CASE WHEN r.is_bottleneck THEN '<strong class="badge">bottleneck</strong>' ELSE '' END);
    END LOOP;
    IF funnel = '' THEN
        funnel := '<tr><td colspan="6">No stage events: the funnel is empty (see the NOTICE of create_reports).</td></tr>';
    END IF;

    -- the campaigns, by leads
    EXECUTE format('SELECT count(*) FROM %s.%I', s, v_camp) INTO n_campaigns;
    FOR r IN EXECUTE format('SELECT campaign, leads, conversions, conversion_rate, cost, cost_per_lead, cost_per_order, revenue '
                            'FROM %s.%I ORDER BY leads DESC, campaign NULLS LAST LIMIT %s', s, v_camp, campaigns) LOOP
        camp := camp || format('<tr><th scope="row">%s</th><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td>'
                               '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
            CASE WHEN r.campaign IS NULL THEN '<em>(no campaign)</em>' ELSE @extschema@._lk_html(r.campaign) END,
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'leads', r.leads, 'count'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'conversions', r.conversions, 'count'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'conversion_rate', (to_jsonb(r.conversion_rate) #>> '{}')::numeric, 'rate'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'cost', r.cost, 'money'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'cost_per_lead', r.cost_per_lead, 'money'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'cost_per_order', r.cost_per_order, 'money'),
            @extschema@._lk_html_figure('span', v_camp, coalesce(r.campaign, ''), 'revenue', r.revenue, 'money'));
    END LOOP;

    RETURN '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8"/>'
        || '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        || format('<title>%s</title>', @extschema@._lk_html(title))
        || '<style>'
        || ':root{color-scheme:light;--ink:#1f2430;--muted:#5b6472;--line:#d9dde3;--accent:#2f6fde;--warn:#c2410c}'
        || '*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#f5f6f8}'
        || 'main{max-width:1200px;margin:0 auto;padding:24px 16px}h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.05em;margin:0 0 8px}'
        || 'section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px;margin:16px 0;min-width:0}'
        || '.meta,.note,.prev,footer{color:var(--muted);font-size:.9em}.meta{margin:0;overflow-wrap:anywhere}'
        || '.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;background:none;border:0;padding:0}'
        || '.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px;min-width:0}'
        || '.tile>p.fig{font-size:1.9em;font-weight:600;margin:0}.note{margin:2px 0 6px}.trend{margin:6px 0 0}'
        || '.spark{display:block;width:100%;height:36px;color:var(--accent)}'
        || 'table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}'
        || 'thead th{font-size:.85em;color:var(--muted);font-weight:600}.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}'
        || '.funnel th[scope=row]{overflow-wrap:anywhere}.barcell{width:40%}.bar{display:block;width:100%;height:14px}.bar rect{fill:var(--accent)}'
        || '.bottleneck .bar rect{fill:var(--warn)}.bottleneck th{color:var(--warn)}.badge{color:#fff;background:var(--warn);border-radius:4px;padding:1px 6px;font-size:.8em}'
        || '.scroll{overflow-x:auto;max-width:100%}'
        || '@media (max-width:600px){main{padding:12px 8px}.barcell{width:30%}.funnel td:nth-child(5),.funnel th.days{display:none}th,td{padding:5px 4px}}'
        || '</style></head><body><main>'
        || format('<header><h1>%s</h1><p class="meta">Reports <code>%s</code> &#183; months of first contact %s &#183; time zone %s &#183; computed <time datetime="%s">%s</time>%s</p></header>',
                  @extschema@._lk_html(title), @extschema@._lk_html(reports_schema),
                  CASE WHEN first_month IS NULL THEN 'none yet'
                       ELSE format('<time>%s</time> to <time>%s</time>', to_char(first_month, 'YYYY-MM'), to_char(last_month, 'YYYY-MM')) END,
                  @extschema@._lk_html(coalesce(tz, 'unknown')),
                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                  @extschema@._lk_html(to_char(now() AT TIME ZONE coalesce(tz, 'UTC'), 'YYYY-MM-DD HH24:MI')),
                  CASE WHEN watermark IS NULL THEN ''
                       ELSE format(' (materialized: stored days before <time>%s</time>, the rows since read live)', watermark) END)
        || '<section class="tiles" aria-label="Key indicators">' || tiles || '</section>'
        || format('<section><h2>Overview</h2><p>%s leads, %s conversions, %s revenue, %s spend.</p></section>',
                  @extschema@._lk_html_figure('span', v_over, '', 'leads', o.leads, 'count'),
                  @extschema@._lk_html_figure('span', v_over, '', 'conversions', o.conversions, 'count'),
                  @extschema@._lk_html_figure('span', v_over, '', 'revenue', o.revenue, 'money'),
                  @extschema@._lk_html_figure('span', v_over, '', 'cost', o.cost, 'money'))
        || '<section><h2>Funnel</h2><table class="funnel"><thead><tr><th scope="col">Stage</th><th scope="col">Reached</th>'
        || '<th scope="col" class="num">Leads</th><th scope="col" class="num">From previous</th><th scope="col" class="num days">Median days</th><th scope="col"></th></tr></thead><tbody>'
        || funnel || '</tbody></table></section>'
        || format('<section><h2>Campaigns</h2>%s<div class="scroll"><table class="campaigns"><thead><tr><th scope="col">Campaign</th>'
                  '<th scope="col" class="num">Leads</th><th scope="col" class="num">Conversions</th><th scope="col" class="num">Conversion</th>'
                  '<th scope="col" class="num">Cost</th><th scope="col" class="num">CPL</th><th scope="col" class="num">CPO</th>'
                  '<th scope="col" class="num">Revenue</th></tr></thead><tbody>%s</tbody></table></div></section>',
                  CASE WHEN n_campaigns > campaigns THEN format('<p class="note">The %s campaigns with the most leads, of %s.</p>', campaigns, n_campaigns) ELSE '' END,
                  CASE WHEN camp = '' THEN '<tr><td colspan="8">No campaign yet.</td></tr>' ELSE camp END)
        || format('<footer><p>leadkpi %s &#183; every figure is a value of the views %s, %s, %s and %s in <code>%s</code>, rounded for display.</p></footer>',
                  @extschema@._lk_html((SELECT extversion FROM pg_extension WHERE extname = 'leadkpi')),
                  @extschema@._lk_html(v_over), @extschema@._lk_html(v_month), @extschema@._lk_html(v_fun), @extschema@._lk_html(v_camp),
                  @extschema@._lk_html(reports_schema))
        || '</main></body></html>' || E'\n';
END;
$$;
COMMENT ON FUNCTION @extschema@.report_html(name, text, integer, text, integer) IS
'One self-contained HTML document (inline CSS and SVG, no script, no external file) over the reports in reports_schema: the four KPIs with their monthly trend, the funnel with its bottleneck, the campaigns, the period covered, the time zone and when it was computed. Reads the report views (the _live ones when materialized). psql: \o report.html then SELECT report_html(''reports'');';
