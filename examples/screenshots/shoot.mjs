// examples/screenshots/shoot.mjs: a PNG of a local HTML page in headless
// Chromium, the whole page at a given width, with no npm package: it speaks
// the DevTools protocol over the pipe Chromium opens with
// --remote-debugging-pipe (JSON messages ending in NUL, commands on fd 3,
// replies and events on fd 4).
//
//   node shoot.mjs PAGE.html OUT.png [WIDTH [MAX_HEIGHT]]
//
// The page is loaded from a file: URL with the network off; any request
// that is not a file: or data: URL fails the run, as does a script error.
// Environment: CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [page, out, width = '1280', maxHeight = '4000'] = process.argv.slice(2);
if (!page || !out) {
	console.error('usage: node shoot.mjs PAGE.html OUT.png [WIDTH [MAX_HEIGHT]]');
	process.exit(2);
}
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'leadkpi-shoot-'));
const chrome = spawn(process.env.CHROMIUM ?? '/usr/bin/chromium', [
	'--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--force-color-profile=srgb', '--font-render-hinting=none',
	`--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
chrome.stderr.resume();
const timer = setTimeout(() => fail('timed out after 60 s'), 60000);

let nextId = 1;
const pending = new Map();
const waiters = [];
let buffered = '';
chrome.stdio[4].on('data', (chunk) => {
	buffered += chunk.toString('utf8');
	let end;
	while ((end = buffered.indexOf('\0')) >= 0) {
		const msg = JSON.parse(buffered.slice(0, end));
		buffered = buffered.slice(end + 1);
		if (msg.id && pending.has(msg.id)) {
			const { resolve, reject } = pending.get(msg.id);
			pending.delete(msg.id);
			msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
		} else if (msg.method) {
			onEvent(msg);
		}
	}
});
function send(method, params = {}, sessionId) {
	const id = nextId++;
	chrome.stdio[3].write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
	return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
const problems = [];
function onEvent(msg) {
	if (msg.method === 'Network.requestWillBeSent') {
		const u = msg.params.request.url;
		if (!/^(file|data|about):/.test(u)) problems.push(`request to ${u}`);
	}
	if (msg.method === 'Runtime.exceptionThrown') problems.push(`script error: ${msg.params.exceptionDetails.text}`);
	for (let i = waiters.length - 1; i >= 0; i--)
		if (waiters[i].method === msg.method) waiters.splice(i, 1)[0].resolve(msg.params);
}
const waitFor = (method) => new Promise((resolve) => waiters.push({ method, resolve }));
function fail(why) {
	console.error(`shoot.mjs: ${path.basename(page)}: ${why}`);
	chrome.kill('SIGKILL');
	fs.rmSync(profile, { recursive: true, force: true });
	process.exit(1);
}

try {
	const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
	const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
	const s = (method, params) => send(method, params, sessionId);
	await s('Page.enable');
	await s('Runtime.enable');
	await s('Network.enable');
	const metrics = (height) => s('Emulation.setDeviceMetricsOverride',
		{ width: Number(width), height, deviceScaleFactor: 1, mobile: false });
	await metrics(800);
	const loaded = waitFor('Page.loadEventFired');
	await s('Page.navigate', { url: pathToFileURL(path.resolve(page)).href });
	await loaded;
	const { result } = await s('Runtime.evaluate',
		{ expression: 'Math.ceil(document.documentElement.getBoundingClientRect().height)', returnByValue: true });
	const height = Math.min(Number(maxHeight), Math.max(1, result.value));
	await metrics(height);
	const { data } = await s('Page.captureScreenshot', { format: 'png' });
	if (problems.length) fail(problems.join('; '));
	fs.writeFileSync(out, Buffer.from(data, 'base64'));
	console.error(`shoot.mjs: ${out}: ${width} x ${height} px`);
	const exited = new Promise((resolve) => chrome.once('exit', resolve));
	await send('Browser.close').catch(() => {});
	await exited;
} catch (e) {
	fail(e.stack ?? e);
}
clearTimeout(timer);
fs.rmSync(profile, { recursive: true, force: true });
