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
// 127.0.0.1.  Screenshots go to RESULTS_DIR; with --readme-dir, the README's
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
			`SET search_path = ${schema}, pg_catalog; SELECT coalesce(json_agg(q), '[]') FROM (${query}) AS q`],
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

	async function readTiles() {
		return page.locator('[data-testid=kpi-tiles] > div').evaluateAll((tiles) =>
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
			       round((extract(epoch FROM sales_cycle_avg) / 86400)::numeric, 1) AS cycle_days,
			       round(cost_per_lead, 2) AS cpl, round(cost_per_order, 2) AS cpo,
			       conversion_rate AS raw_rate, extract(epoch FROM sales_cycle_avg) AS raw_cycle,
			       cost_per_lead AS raw_cpl, cost_per_order AS raw_cpo
			FROM kpi_by_month_live WHERE to_char(month, 'YYYY-MM') = '${monthLabel}'`);
		const prev = sql(`
			SELECT conversion_rate AS raw_rate, extract(epoch FROM sales_cycle_avg) AS raw_cycle,
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
			['Sales cycle (days, average)', fixed(m.cycle_days, 1), change('raw_cycle')],
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
		       round((extract(epoch FROM median_time_from_previous) / 86400)::numeric, 1) AS median_days
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
		if (s.median_days !== null)
			check(`funnel label of ${s.stage}: median ${fixed(s.median_days, 1)} days`,
				labelText.includes(`median ${fixed(s.median_days, 1)} days`), labelText);
	}
	const stepRows = await tableRows('funnel-table');
	same(`funnel table: ${steps.length} rows`, stepRows.length, steps.length);
	steps.forEach((s, i) => {
		const r = stepRows[i] ?? [];
		same(`funnel table, ${s.stage}`, JSON.stringify(r.slice(0, 7)), JSON.stringify([
			s.stage, fixed(s.reached, 0), s.from_previous === null ? '-' : s.from_previous, s.from_first, fixed(s.drop_off, 0),
			s.median_days === null ? '-' : fixed(s.median_days, 1), s.is_bottleneck ? 'bottleneck' : ''
		]));
	});

	// --- trends ------------------------------------------------------------------------
	const charts = await page.locator('[data-testid=trends] .chart').count();
	same('four trend charts', charts, 4);

	// --- campaign league table -----------------------------------------------------
	// channel: that of the campaign's leads (report_leads) until the view has one
	const campaigns = sql(`
		SELECT k.campaign, coalesce(c.channel, 'unknown') AS channel, k.leads,
		       to_char(round(100 * k.conversion_rate::numeric, 1), 'FM999999990.0') || '%' AS conversion,
		       round(k.cost_per_lead, 2) AS cpl, round(k.cost_per_order, 2) AS cpo,
		       round(k.revenue, 0) AS revenue, k.revenue AS raw_revenue, k.cost AS raw_cost
		FROM kpi_by_campaign_live AS k
		LEFT JOIN (SELECT campaign, CASE WHEN count(DISTINCT channel) > 1 THEN 'mixed' ELSE min(channel) END AS channel
		           FROM report_leads GROUP BY campaign) AS c ON c.campaign IS NOT DISTINCT FROM k.campaign
		ORDER BY k.revenue DESC NULLS LAST, k.campaign`);
	const leagueRow = (c) => [
		c.campaign ?? '-', c.channel, fixed(c.leads, 0), c.conversion,
		c.cpl === null ? '-' : fixed(c.cpl, 2), c.cpo === null ? '-' : fixed(c.cpo, 2),
		c.revenue === null ? '-' : fixed(c.revenue, 0),
		c.raw_cost === null || Number(c.raw_cost) === 0 ? '-' :
			fixed(100 * ((Number(c.raw_revenue ?? 0) - Number(c.raw_cost)) / Number(c.raw_cost)), 0) + '%'
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
