// test/html/test.mjs: report_html() documents in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), as a reader would open them
// from a file.  Run by test/html/run.sh (make test-html).
//
//   node test.mjs OUTDIR NAME=FILE.html [NAME=FILE.html ...]
//
// For each document and each width (1280 px, a laptop; 390 px, a phone):
//   - no request leaves the file (no external resource), no console error,
//     no page error, no dialog (a CRM label run as script would open one),
//     no <script> element in the DOM;
//   - no horizontal overflow: the page is no wider than the window
//     (scrollWidth <= innerWidth), no element sticks out of the window or
//     out of its section, and no clipping box hides part of its content;
//   - every figure (an element with data-view) is visible, and the same set
//     of figures is shown at both widths;
//   - screenshots: the full page, OUTDIR/NAME-WIDTH.png, and the first
//     screen, OUTDIR/NAME-WIDTH-top.png.
// It writes every figure to OUTDIR/figures.tsv (name, view, key, key_null,
// col, value, printed) for run.sh to compare with the views in psql, and
// prints one line per check and "N passed, N failed".
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [outdir, ...docs] = process.argv.slice(2);
if (!outdir || docs.length === 0) {
    console.error('usage: node test.mjs OUTDIR NAME=FILE.html ...');
    process.exit(2);
}
const widths = [1280, 390];
let passed = 0, failed = 0;
function check(ok, what, detail) {
    if (ok) { passed++; console.log(`ok - ${what}`); }
    else { failed++; console.log(`not ok - ${what}${detail ? `\n#   ${detail}` : ''}`); }
}

// the flags Debian's Chromium needs here: no sandbox as root, no GPU, and
// no background connections (this machine's network is closed)
const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--font-render-hinting=none'],
});

// What the page shows, measured in the page.
function measure() {
    const W = window.innerWidth;
    const out = { scrollWidth: document.documentElement.scrollWidth, innerWidth: W, outside: [], spill: [], clipped: [],
                  scripts: document.querySelectorAll('script').length, figures: [] };
    const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\s+/g, '.') : '')
        + (el.textContent ? ` "${el.textContent.trim().slice(0, 40)}"` : '');
    for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.left < -0.5 || r.right > W + 0.5) out.outside.push(`${name(el)} [${r.left.toFixed(1)}, ${r.right.toFixed(1)}]`);
        const box = el.parentElement && el.parentElement.closest('section, header, footer, article');
        if (box) {
            const b = box.getBoundingClientRect();
            if (r.left < b.left - 0.5 || r.right > b.right + 0.5)
                out.spill.push(`${name(el)} [${r.left.toFixed(1)}, ${r.right.toFixed(1)}] out of ${name(box).slice(0, 30)} [${b.left.toFixed(1)}, ${b.right.toFixed(1)}]`);
        }
        const st = getComputedStyle(el);
        if (st.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1)
            out.clipped.push(`${name(el)} (overflow-x ${st.overflowX}: ${el.scrollWidth} > ${el.clientWidth})`);
    }
    for (const el of document.querySelectorAll('[data-view]')) {
        const r = el.getBoundingClientRect();
        out.figures.push({ view: el.dataset.view, key: el.dataset.key ?? '', keyNull: !el.hasAttribute('data-key'),
                           col: el.dataset.col, value: el.dataset.value, printed: el.textContent,
                           visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden' });
    }
    return out;
}

const rows = [];
for (const doc of docs) {
    const [name, file] = doc.split('=');
    const url = pathToFileURL(resolve(file)).href;
    const seen = {};
    for (const width of widths) {
        const what = `${name} at ${width} px`;
        const context = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
        const page = await context.newPage();
        const external = [], errors = [], dialogs = [];
        await page.route('**/*', (route) => {
            if (route.request().url() === url) return route.continue();
            external.push(route.request().url());
            return route.abort();
        });
        page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
        page.on('pageerror', (e) => errors.push(String(e)));
        page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
        await page.goto(url, { waitUntil: 'load' });
        const m = await page.evaluate(measure);
        await page.screenshot({ path: `${outdir}/${name}-${width}.png`, fullPage: true });
        await page.screenshot({ path: `${outdir}/${name}-${width}-top.png` });
        await context.close();

        check(external.length === 0, `${what}: no request leaves the file`, external.join(' '));
        check(errors.length === 0 && dialogs.length === 0 && m.scripts === 0, `${what}: no console error, no dialog, no script element`,
              [...errors, ...dialogs.map((d) => `dialog: ${d}`), m.scripts ? `${m.scripts} script elements` : ''].join(' '));
        check(m.scrollWidth <= m.innerWidth, `${what}: no horizontal scroll (scrollWidth ${m.scrollWidth} <= innerWidth ${m.innerWidth})`);
        check(m.outside.length === 0, `${what}: every element inside the window`, m.outside.slice(0, 5).join('; '));
        check(m.spill.length === 0, `${what}: every element inside its section`, m.spill.slice(0, 5).join('; '));
        check(m.clipped.length === 0, `${what}: nothing clipped or scrolled sideways`, m.clipped.slice(0, 5).join('; '));
        const hidden = m.figures.filter((f) => !f.visible);
        check(m.figures.length > 0 && hidden.length === 0, `${what}: ${m.figures.length} figures, all visible`,
              hidden.slice(0, 5).map((f) => `${f.view}/${f.key}/${f.col}`).join('; '));
        seen[width] = m.figures.map((f) => `${f.view}\t${f.key}\t${f.col}\t${f.value}`).sort().join('\n');
        if (width === widths[0])
            for (const f of m.figures)
                rows.push([name, f.view, f.key, f.keyNull ? 't' : 'f', f.col, f.value, f.printed]
                    .map((x) => String(x).replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c])).join('\t'));
    }
    check(seen[widths[0]] === seen[widths[1]], `${name}: the same figures at ${widths.join(' and ')} px`);
}
await browser.close();
writeFileSync(`${outdir}/figures.tsv`, rows.join('\n') + '\n');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
