// Size report (not a test): what an SPA ships for each login library, built the same way —
// an ESM entry bundled and minified by esbuild, then gzip -9 — side by side.
//   Gatehouse: pkg/ (its client index.js with the wasm-bindgen glue, and the .wasm, which the
//   browser fetches separately)
//   @auth0/auth0-spa-js 2.x and oidc-client-ts 3.x from node_modules.
// Run `npm run build:spa` (or npm test) first. If twiggy is in the tools cache (optional:
// `cargo install --root ~/.cache/gatehouse-tools twiggy --version 0.8.0`), it also lists what
// dominates the wasm.
import { build } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { ROOT, TOOLS } from '../scripts/lib.mjs';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-size-'));
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1).padStart(7);

async function bundle(name, source) {
  const entry = join(dir, `${name}.mjs`);
  writeFileSync(entry, source);
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, absWorkingDir: ROOT, nodePaths: [join(ROOT, 'node_modules')], logLevel: 'silent', external: ['*.wasm'] });
  return out.outputFiles[0].contents;
}

if (!existsSync(join(ROOT, 'pkg', 'gatehouse_spa_bg.wasm'))) {
  console.error('build the browser package first: npm run build:spa');
  process.exit(1);
}
const rows = [];
const glue = await bundle('gatehouse', `export { default, createGatehouseClient } from ${JSON.stringify(join(ROOT, 'pkg', 'index.js'))};`);
const wasm = readFileSync(join(ROOT, 'pkg', 'gatehouse_spa_bg.wasm'));
rows.push(['@gatehouse/spa (JS: client + glue)', glue.length, gz(glue)]);
rows.push(['@gatehouse/spa (.wasm)', wasm.length, gz(wasm)]);
rows.push(['@gatehouse/spa total', glue.length + wasm.length, gz(glue) + gz(wasm)]);
const auth0 = await bundle('auth0', `export { createAuth0Client } from '@auth0/auth0-spa-js';`);
rows.push(['@auth0/auth0-spa-js', auth0.length, gz(auth0)]);
const oidc = await bundle('oidc', `export { UserManager } from 'oidc-client-ts';`);
rows.push(['oidc-client-ts (UserManager)', oidc.length, gz(oidc)]);

console.log('| what | minified KiB | gzip -9 KiB |\n|---|---:|---:|');
for (const [name, raw, zipped] of rows) console.log(`| ${name} | ${kb(raw)} | ${kb(zipped)} |`);
const goal = 18 * 1024;
const total = rows[2][2];
console.log(`\ngoal ≤ 18 KiB gzip: ${total <= goal ? 'met' : `not met (${kb(total).trim()} KiB)`}`);

// What dominates the wasm: twiggy's top 10 on the module as wasm-bindgen leaves it, with its
// function names kept (wasm-opt then shrinks it further; the names are stripped in pkg/).
const twiggy = join(TOOLS, 'bin', 'twiggy');
const bindgen = join(TOOLS, 'bin', 'wasm-bindgen');
const named = join(ROOT, 'target', 'wasm32-unknown-unknown', 'release', 'gatehouse_spa.wasm');
if (existsSync(twiggy) && existsSync(bindgen) && existsSync(named)) {
  const out = join(dir, 'named');
  const b = spawnSync(bindgen, ['--target', 'web', '--keep-debug', '--out-dir', out, named], { encoding: 'utf8' });
  if (b.status === 0) {
    console.log('\nwhat dominates the wasm (twiggy top 10, before wasm-opt, names kept):');
    const r = spawnSync(twiggy, ['top', '-n', '11', join(out, 'gatehouse_spa_bg.wasm')], { encoding: 'utf8' });
    console.log(r.stdout.split('\n').filter((l) => !/function names/.test(l)).join('\n'));
  }
}
