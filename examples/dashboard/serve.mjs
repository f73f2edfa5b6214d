// A static file server for the built dashboard (build/), on 127.0.0.1 only.
//   node serve.mjs DIR PORT     tries PORT, then the next 20 ports
// Prints the URL once listening.  Range requests are served, so DuckDB-wasm
// in the browser reads the parquet files in parts.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'build');
const firstPort = Number(process.argv[3] ?? 20300);
const types = {
	'.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
	'.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
	'.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
	'.webmanifest': 'application/manifest+json', '.arrow': 'application/vnd.apache.arrow.file'
};

function resolveFile(urlPath) {
	const f = path.join(root, urlPath);
	if (f !== root && !f.startsWith(root + path.sep)) return null;
	// SvelteKit's static adapter writes /x as x.html or x/index.html
	for (const c of [f, path.join(f, 'index.html'), f + '.html']) {
		try {
			if (fs.statSync(c).isFile()) return c;
		} catch {
			/* next candidate */
		}
	}
	return null;
}

const server = http.createServer((req, res) => {
	let urlPath;
	try {
		urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
	} catch {
		res.writeHead(400).end();
		return;
	}
	const file = resolveFile(urlPath);
	if (!file) {
		res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
		return;
	}
	const size = fs.statSync(file).size;
	const headers = {
		'content-type': types[path.extname(file)] ?? 'application/octet-stream',
		'accept-ranges': 'bytes',
		'cache-control': 'no-cache'
	};
	const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
	if (m && (m[1] || m[2])) {
		let start = m[1] ? Number(m[1]) : Math.max(0, size - Number(m[2]));
		let end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
		if (start > end || start >= size) {
			res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
			return;
		}
		res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
		if (req.method === 'HEAD') return res.end();
		fs.createReadStream(file, { start, end }).pipe(res);
		return;
	}
	res.writeHead(200, { ...headers, 'content-length': size });
	if (req.method === 'HEAD') return res.end();
	fs.createReadStream(file).pipe(res);
});

let port = firstPort;
server.on('error', (e) => {
	if (e.code === 'EADDRINUSE' && port < firstPort + 20) {
		server.listen(++port, '127.0.0.1');
	} else {
		console.error(`serve.mjs: ${e.message}`);
		process.exit(1);
	}
});
server.on('listening', () => console.log(`http://127.0.0.1:${port}/`));
server.listen(port, '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
