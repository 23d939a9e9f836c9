// The browser package works from a bundler: Vite builds a page that imports @gatehouse/spa (the
// wasm becomes an asset), and the built page runs it in headless Chromium.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { build } from 'vite';
import { launchChromium } from './browser.mjs';
import { ROOT } from '../../scripts/lib.mjs';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-vite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('Vite bundles the package and the bundle runs in Chromium', async () => {
  assert.ok(existsSync(join(ROOT, 'pkg', 'package.json')), 'the browser package is built');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><html><body><script type="module" src="/main.js"></script></body></html>');
  writeFileSync(join(dir, 'main.js'), `
    import init, { createGatehouseClient, createPkcePair, pkceChallenge } from '@gatehouse/spa';
    await init();
    const client = await createGatehouseClient({ domain: 'https://auth.example', clientId: 'spa' });
    document.body.dataset.challenge = await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    document.body.dataset.verifier = String((await createPkcePair()).codeVerifier.length);
    document.body.dataset.authenticated = String(await client.isAuthenticated());
  `);
  await build({
    root: dir,
    logLevel: 'silent',
    resolve: { alias: { '@gatehouse/spa': join(ROOT, 'pkg') } },
    build: { outDir: join(dir, 'dist'), target: 'es2022' },
  });
  const assets = readdirSync(join(dir, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the wasm is an asset: ${assets}`);

  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const path = normalize(join(dir, 'dist', new URL(req.url, 'http://x').pathname === '/' ? 'index.html' : new URL(req.url, 'http://x').pathname));
    try {
      const body = readFileSync(path);
      res.writeHead(200, { 'content-type': types[extname(path)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForSelector('body[data-authenticated]', { state: 'attached', timeout: 15000 });
    // RFC 7636 Appendix B, computed by the bundled wasm.
    assert.equal(await page.getAttribute('body', 'data-challenge'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    assert.equal(await page.getAttribute('body', 'data-verifier'), '43');
    assert.equal(await page.getAttribute('body', 'data-authenticated'), 'false');
  } finally {
    await browser.close();
    server.close();
  }
});
