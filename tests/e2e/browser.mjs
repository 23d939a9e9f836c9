// Headless Chromium (Debian's, driven by playwright-core) and a static server for test pages.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from '../../scripts/lib.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Serves `routes` ({ path: [contentType, fileOrText] }) on a loopback port; unknown paths → `/`. */
export async function serveStatic(routes) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const [type, body] = routes[path] || routes['/'];
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((resolve) => server.close(resolve)) };
}

export const file = (...parts) => readFileSync(join(ROOT, ...parts));
