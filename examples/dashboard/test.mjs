// examples/dashboard/test.mjs: the built dashboard in headless Chromium,
// checked against the report views read with psql.
//
//   node test.mjs URL RESULTS_DIR [--readme-dir DIR]
//
// Every figure the page shows is compared with the same view column read in
// SQL (rounded in SQL to the digits the page shows); the changes against the
// previous month are recomputed here from the two months' rows.  Also: the
// funnel has one bar per stage and the bottleneck's bar is the red one, the
// channel filter filters, there are no console errors and no requests leave
// 127.0.0.1.  The forecast's figures are forecast_closings() called again
// at the instant the page names.  Screenshots go to RESULTS_DIR; with --readme-dir, the README's
// PNGs go to DIR.
//
// Environment: PSQL (the psql command; test/harness.sh exports it), PGHOST,
// PGPORT, PGUSER; DASHBOARD_DB (leadkpi_demo), DASHBOARD_SCHEMA (reports).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const readmeAt = args.indexOf('--readme-dir');
const readmeDir = readmeAt >= 0 ? args.splice(readmeAt, 2)[1] : null;
const [url, resultsDir = 'test-results'] = args;
if (!url) {
	console.error('usage: node test.mjs URL RESULTS_DIR [--readme-dir DIR]');
	process.exit(2);
}
const db = process.env.DASHBOARD_DB ?? 'leadkpi_demo';
const schema = process.env.DASHBOARD_SCHEMA ?? 'reports';
fs.mkdirSync(resultsDir, { recursive: true });

// --- TAP-style results ---------------------------------------------------------
let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
	if (ok) {
		passed++;
		console.log(`ok ${passed + failed} - ${name}`);
	} else {
		failed++;
		console.log(`not ok ${passed + failed} - ${name}`);
		if (detail) console.log(`  # ${String(detail).replaceAll('\n', '\n  # ')}`);
	}
	return ok;
}
function same(name, shown, expected) {
	return check(name, shown === expected, `shown ${JSON.stringify(shown)}, views say ${JSON.stringify(expected)}`);
}

// --- the views, read with psql ---------------------------------------------------
const psqlArgv = (process.env.PSQL ?? 'psql -X -q').trim().split(/\s+/);
function sql(query) {
	const out = execFileSync(
		psqlArgv[0],
		[...psqlArgv.slice(1), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c',
			`SET search_path = ${schema}, pg_catalog; SET client_min_messages = warning; SELECT coalesce(json_agg(q), '[]') FROM (${query}) AS q`],
		{ encoding: 'utf8' }
	);
	return JSON.parse(out);
}

// A number as the page prints it: thousands separators, '%', signs.
const num = (s) => Number(String(s).replace(/\u2212/g, '-').replace(/[^0-9.\-]/g, ''));
// The page's formats: "#,##0.00", "#,##0.0", pct1 (0.0%), num0.
const group = (s) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const fixed = (x, d) => {
	const [i, f] = Number(x).toFixed(d).split('.');
	return group(i) + (f === undefined ? '' : '.' + f);
};

// --- the browser ----------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'leadkpi-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
	executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
	headless: true,
	// offline machine: no background connections; root: no sandbox
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
		'--disable-component-update', '--disable-sync'],
	viewport: { width: 1280, height: 900 },
	deviceScaleFactor: 1
});
const consoleErrors = [];
const external = [];
try {
	const page = await browser.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error') consoleErrors.push(m.text());
	});
	page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
	page.on('request', (r) => {
		const u = new URL(r.url());
		if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return;
		if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') external.push(r.url());
	});

	const t0 = Date.now();
	await page.goto(url, { waitUntil: 'networkidle', timeout: 120000 });
	await page.locator('[data-testid=funnel] svg').first().waitFor({ timeout: 60000 });
	await page.waitForTimeout(1000);
	console.log(`# page ready in ${Date.now() - t0} ms`);

	// --- KPI tiles -----------------------------------------------------------------
	const months = sql(`SELECT month, to_char(month, 'YYYY-MM') AS label FROM kpi_by_month_live ORDER BY month DESC`);
	check('kpi_by_month_live has two months or more', months.length >= 2, `${months.length} months`);

	async function readTiles(testid = 'kpi-tiles') {
		return page.locator(`[data-testid=${testid}] > div`).evaluateAll((tiles) =>
			tiles.map((t) => ({
				title: t.querySelector('p')?.textContent.trim(),
				value: t.querySelector('div.relative')?.textContent.trim(),
				arrow: t.querySelector('.font-\\[system-ui\\]')?.textContent.trim() ?? null,
				change: t.querySelector('p.text-xs span span span:nth-of-type(2)')?.textContent.trim() ?? null
			}))
		);
	}

	async function checkTiles(monthLabel) {
		const [m] = sql(`
			SELECT to_char(month, 'YYYY-MM') AS label, leads, conversions,
			       to_char(round(100 * conversion_rate::numeric, 1), 'FM999999990.0') || '%' AS conversion_rate,
			       sales_cycle_avg_days AS cycle_days,
			       round(cost_per_lead, 2) AS cpl, round(cost_per_order, 2) AS cpo,
			       conversion_rate AS raw_rate, sales_cycle_avg_days AS raw_cycle,
			       cost_per_lead AS raw_cpl, cost_per_order AS raw_cpo
			FROM kpi_by_month_live WHERE to_char(month, 'YYYY-MM') = '${monthLabel}'`);
		const prev = sql(`
			SELECT conversion_rate AS raw_rate, sales_cycle_avg_days AS raw_cycle,
			       cost_per_lead AS raw_cpl, cost_per_order AS raw_cpo
			FROM kpi_by_month_live
			WHERE month = (to_date('${monthLabel}', 'YYYY-MM') - interval '1 month')::date`)[0];
		const shownMonth = await page.locator('p', { hasText: 'new leads' }).first().textContent();
		check(`the tiles are of month ${monthLabel}`, shownMonth.includes(`Month ${monthLabel}:`), shownMonth);
		check(`month ${monthLabel}: leads and conversions`,
			shownMonth.includes(`${fixed(m.leads, 0)} new leads, ${fixed(m.conversions, 0)} of them`), shownMonth);

		const tiles = await readTiles();
		check('four KPI tiles', tiles.length === 4, JSON.stringify(tiles));
		const byTitle = Object.fromEntries(tiles.map((t) => [t.title, t]));
		// relative change against the previous month, recomputed from the rows
		const change = (k) => (prev && prev[k] != null && Number(prev[k]) !== 0 ? Number(m[k]) / Number(prev[k]) - 1 : null);
		const expected = [
			['Conversion rate', m.conversion_rate, change('raw_rate')],
			['Sales cycle (days, average)', fixed(m.cycle_days, 2), change('raw_cycle')],
			['Cost per lead', fixed(m.cpl, 2), change('raw_cpl')],
			['Cost per order', fixed(m.cpo, 2), change('raw_cpo')]
		];
		for (const [title, value, ch] of expected) {
			const t = byTitle[title];
			if (!check(`tile "${title}" is shown`, Boolean(t))) continue;
			same(`${monthLabel} ${title}: ${value}`, t.value, value);
			if (ch === null) {
				check(`${monthLabel} ${title}: no change shown without a previous month`, t.arrow === null || !/\d/.test(t.change ?? ''), JSON.stringify(t));
			} else {
				const want = `${ch >= 0 ? '▲' : '▼'} ${fixed(100 * ch, 1)}%`;
				same(`${monthLabel} ${title} vs previous month: ${want}`, `${t.arrow} ${t.change}`, want);
			}
		}
	}

	// pick(dropdown, option): open an Evidence dropdown, search, click the option
	async function pick(title, option) {
		await page.locator(`button[aria-label="${title}"]`).click();
		await page.locator('[data-cmdk-input]').fill(option);
		await page.getByRole('option', { name: option, exact: true }).click();
	}

	// tableRows(testid): the cells of the shown rows of an Evidence DataTable
	// (a closed full-screen copy of the table sits beside it, not displayed)
	function tableRows(testid) {
		return page.locator(`[data-testid=${testid}] tr`).evaluateAll((rows) =>
			rows
				.filter((r) => r.offsetParent !== null && r.querySelector('td[role=cell]'))
				.map((r) => Array.from(r.querySelectorAll('td[role=cell]')).map((td) => td.textContent.trim()))
		);
	}

	// the default period: the latest month
	await checkTiles(months[0].label);

	// another month, picked in the dropdown
	const other = months[1].label;
	await pick('Month of first contact', other);
	await page.keyboard.press('Escape');
	await page.locator('p', { hasText: `Month ${other}:` }).first().waitFor({ timeout: 30000 });
	await page.waitForTimeout(500);
	await checkTiles(other);

	// --- funnel ----------------------------------------------------------------------
	const steps = sql(`
		SELECT step, stage, reached, is_bottleneck, drop_off,
		       to_char(round(100 * conversion_from_previous::numeric, 1), 'FM999999990.0') || '%' AS from_previous,
		       to_char(round(100 * conversion_from_first::numeric, 1), 'FM999999990.0') || '%' AS from_first,
		       median_days_from_previous AS median_days,
		       round(extract(epoch FROM median_time_from_previous) / 86400, 2) AS median_days_from_interval
		FROM funnel_report_live ORDER BY step`);
	const bars = await page.locator('[data-testid=funnel] svg path').evaluateAll((paths) =>
		paths
			.filter((p) => p.getAttribute('fill') && p.getAttribute('fill') !== 'none' && p.getAttribute('fill-opacity') !== '0')
			.map((p) => ({ fill: p.getAttribute('fill'), top: p.getBBox().y }))
			.sort((a, b) => a.top - b.top)
	);
	same(`funnel bars: ${steps.length}, one per stage`, bars.length, steps.length);
	const redBars = bars.map((b, i) => (b.fill.toLowerCase() === '#dc2626' ? i + 1 : null)).filter(Boolean);
	const bottlenecks = steps.filter((s) => s.is_bottleneck).map((s) => s.step);
	same(`the red bars are the bottleneck steps ${JSON.stringify(bottlenecks)}`, JSON.stringify(redBars), JSON.stringify(bottlenecks));

	const labels = await page.locator('[data-testid=funnel] svg text').allTextContents();
	const labelText = labels.join('\n');
	for (const s of steps) {
		check(`funnel label of ${s.stage}: ${fixed(s.reached, 0)} reached`, labelText.includes(`${s.stage}: ${fixed(s.reached, 0)}`), labelText);
		// the view's days column is its interval in days (checked here too)
		same(`funnel ${s.stage}: median_days_from_previous is the interval in days`, s.median_days, s.median_days_from_interval);
		if (s.median_days !== null)
			check(`funnel label of ${s.stage}: median ${fixed(s.median_days, 2)} days`,
				labelText.includes(`median ${fixed(s.median_days, 2)} days`), labelText);
	}
	const stepRows = await tableRows('funnel-table');
	same(`funnel table: ${steps.length} rows`, stepRows.length, steps.length);
	steps.forEach((s, i) => {
		const r = stepRows[i] ?? [];
		same(`funnel table, ${s.stage}`, JSON.stringify(r.slice(0, 7)), JSON.stringify([
			s.stage, fixed(s.reached, 0), s.from_previous === null ? '-' : s.from_previous, s.from_first, fixed(s.drop_off, 0),
			s.median_days === null ? '-' : fixed(s.median_days, 2), s.is_bottleneck ? 'bottleneck' : ''
		]));
	});

	// --- trends ------------------------------------------------------------------------
	const charts = await page.locator('[data-testid=trends] .chart').count();
	same('four trend charts', charts, 4);

	// --- campaign league table -----------------------------------------------------
	// channel and roi: the view's own columns (no single channel: 'unknown')
	const campaigns = sql(`
		SELECT k.campaign, coalesce(k.channel, 'unknown') AS channel, k.leads,
		       to_char(round(100 * k.conversion_rate::numeric, 1), 'FM999999990.0') || '%' AS conversion,
		       round(k.cost_per_lead, 2) AS cpl, round(k.cost_per_order, 2) AS cpo,
		       k.revenue, k.roi
		FROM kpi_by_campaign_live AS k
		ORDER BY k.revenue DESC NULLS LAST, k.campaign`);
	const leagueRow = (c) => [
		c.campaign ?? '-', c.channel, fixed(c.leads, 0), c.conversion,
		c.cpl === null ? '-' : fixed(c.cpl, 2), c.cpo === null ? '-' : fixed(c.cpo, 2),
		c.revenue === null ? '-' : fixed(c.revenue, 2),
		c.roi === null ? '-' : fixed(100 * Number(c.roi), 0) + '%'
	];
	const readLeague = () => tableRows('league');
	let league = await readLeague();
	check('league table shows its first page', league.length === Math.min(15, campaigns.length), `${league.length} rows`);
	league.forEach((r, i) => same(`league row ${i + 1} (${campaigns[i]?.campaign})`, JSON.stringify(r), JSON.stringify(leagueRow(campaigns[i]))));

	const channel = campaigns.map((c) => c.channel).sort()[0];
	await pick('Channel', channel);
	await page.keyboard.press('Escape');
	const inChannel = campaigns.filter((c) => c.channel === channel);
	await page.waitForFunction(
		(n) => Array.from(document.querySelectorAll('[data-testid=league] tr'))
			.filter((r) => r.offsetParent !== null && r.querySelector('td[role=cell]')).length === n,
		Math.min(15, inChannel.length), { timeout: 30000 }
	).catch(() => {});
	league = await readLeague();
	same(`channel filter "${channel}": ${Math.min(15, inChannel.length)} rows`, league.length, Math.min(15, inChannel.length));
	league.forEach((r, i) => same(`channel ${channel}, row ${i + 1} (${inChannel[i]?.campaign})`, JSON.stringify(r), JSON.stringify(leagueRow(inChannel[i]))));

	// --- forecast ---------------------------------------------------------------------
	// The page shows forecast_closings() at the instant it names; the same call
	// here, at that instant, must give every figure shown.
	const [{ ext }] = sql(`SELECT quote_ident(extnamespace::regnamespace::text) AS ext FROM pg_extension WHERE extname = 'leadkpi'`);
	const asOfText = (await page.locator('[data-testid=forecast-asof]').textContent()).replace(/\s+/g, ' ');
	const asOf = /as of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/.exec(asOfText)?.[1];
	if (check('the forecast names its instant', Boolean(asOf), asOfText)) {
		// the page's rule (sources/leadkpi/forecast.sql): now, or the month after
		// the latest first contact when that is earlier
		const [rule] = sql(`
			SELECT to_char(m AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS month_after, m < now() AS before_now,
			       '${asOf}+00'::timestamptz <= now() AS shown_not_future
			FROM (SELECT date_trunc('month', max(first_contact_at)) + interval '1 month' AS m FROM report_leads) AS q`);
		check(`the forecast's instant ${asOf} is not in the future`, rule.shown_not_future);
		if (rule.before_now) same(`the forecast is as of the month after the latest lead`, asOf, rule.month_after);

		const fc = sql(`
			SELECT f.h, to_char(f.period_start, 'YYYY-MM') AS period, f.open_leads,
			       round(f.closings::numeric, 1) AS closings, f.closings_low, f.closings_high,
			       round(f.from_pipeline::numeric, 1) AS from_pipeline, round(f.from_new_leads::numeric, 1) AS from_new_leads,
			       f.revenue, f.revenue_low, f.revenue_high, f.revenue_from_pipeline,
			       round(sum(f.closings) OVER ()::numeric, 1) AS closings_total, sum(f.revenue) OVER () AS revenue_total,
			       abs(f.closings - f.from_pipeline - f.from_new_leads) < 1e-9 AS parts_add_up
			FROM ${ext}.forecast_closings('${schema}', as_of => '${asOf}+00'::timestamptz, period => 'month',
			                              horizon => 6, level => 0.8) AS f
			ORDER BY f.h`);
		same('forecast: 6 months', fc.length, 6);
		check('forecast: closings = from pipeline + from new leads, every month', fc.every((r) => r.parts_add_up));
		check('forecast: low <= closings <= high, every month',
			fc.every((r) => r.closings_low <= Number(r.closings) + 0.05 && Number(r.closings) - 0.05 <= r.closings_high), JSON.stringify(fc));
		const first = fc[0];
		check(`forecast text: ${fixed(first.open_leads, 0)} open leads`, asOfText.includes(`from the ${fixed(first.open_leads, 0)} open leads`), asOfText);
		const ftiles = Object.fromEntries((await readTiles('forecast-tiles')).map((t) => [t.title, t.value]));
		for (const [title, want] of [
			['Closings, first month', fixed(first.closings, 1)],
			['Revenue, first month', fixed(first.revenue, 2)],
			['Closings, all months', fixed(first.closings_total, 1)],
			['Revenue, all months', fixed(first.revenue_total, 2)]
		])
			same(`forecast tile "${title}": ${want}`, ftiles[title], want);
		const interval = (await page.locator('[data-testid=forecast-interval]').textContent()).replace(/\s+/g, ' ');
		const wantInterval = `First month, ${first.period}: between ${fixed(first.closings_low, 0)} and ${fixed(first.closings_high, 0)} closings ` +
			`(${fixed(first.from_pipeline, 1)} expected from the open pipeline, ${fixed(first.from_new_leads, 1)} from new leads), ` +
			`and between ${fixed(first.revenue_low, 2)} and ${fixed(first.revenue_high, 2)} of revenue, with 80% probability.`;
		check(`forecast interval of ${first.period}: ${fixed(first.closings_low, 0)} to ${fixed(first.closings_high, 0)} closings, ` +
			`${fixed(first.revenue_low, 2)} to ${fixed(first.revenue_high, 2)} revenue`, interval.includes(wantInterval), `shown: ${interval}\nwant: ${wantInterval}`);
		const frows = await tableRows('forecast-table');
		same('forecast table: 6 rows', frows.length, fc.length);
		fc.forEach((r, i) => same(`forecast table, ${r.period}`, JSON.stringify(frows[i] ?? []), JSON.stringify([
			r.period, fixed(r.closings, 1), fixed(r.closings_low, 0), fixed(r.closings_high, 0),
			fixed(r.from_pipeline, 1), fixed(r.from_new_leads, 1),
			fixed(r.revenue, 2), fixed(r.revenue_low, 2), fixed(r.revenue_high, 2), fixed(r.revenue_from_pipeline, 2)
		])));
		same('two forecast charts', await page.locator('[data-testid=forecast-charts] .chart').count(), 2);
	}

	// --- screenshots -------------------------------------------------------------------
	await page.goto(url, { waitUntil: 'networkidle', timeout: 120000 });
	await page.locator('[data-testid=funnel] svg').first().waitFor({ timeout: 60000 });
	await page.waitForTimeout(1500);
	// from the top: the header is sticky, and SvelteKit restores the scroll position
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.waitForTimeout(300);
	await page.screenshot({ path: path.join(resultsDir, 'dashboard-full.png'), fullPage: true });
	console.log(`# screenshot ${path.join(resultsDir, 'dashboard-full.png')}`);
	if (readmeDir) {
		fs.mkdirSync(readmeDir, { recursive: true });
		// the README's picture: the tiles and the funnel, 1280 px wide
		const end = await page.locator('[data-testid=funnel-table]').evaluate((e) => e.getBoundingClientRect().bottom + window.scrollY);
		const file = path.join(readmeDir, 'dashboard.png');
		await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: Math.ceil(end) + 12 } });
		console.log(`# screenshot ${file}`);
	}

	check('no console errors', consoleErrors.length === 0, consoleErrors.join('\n'));
	check('no requests beyond 127.0.0.1', external.length === 0, external.join('\n'));
} catch (e) {
	check('the test ran to its end', false, e.stack ?? e);
} finally {
	await browser.close();
	fs.rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
