// Builds the browser package into pkg/: the wasm module of protocol rules with wasm-pack (release,
// ESM for the web), the client that uses it (crates/spa/js/index.js, the package's entry), and
// the package.json and README for npm (wasm-pack's generated ones name the crate, not the package).
import { readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, setup } from './lib.mjs';

if (!process.argv.includes('--no-setup')) setup();
const PKG = join(ROOT, 'pkg');
// `--features bare`: the release build without std (crates/spa/Cargo.toml).
run('wasm-pack', ['build', '--target', 'web', '--release', '--mode', 'no-install', '--out-dir', '../../pkg', '--out-name', 'gatehouse_spa', '--', '--features', 'bare'],
  { cwd: join(ROOT, 'crates', 'spa') });
const version = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version;
const manifest = {
  name: '@gatehouse/spa',
  version,
  description: 'Log in to a Gatehouse authorization server from a single-page app: PKCE, ID token validation, rotating refresh tokens',
  license: 'Apache-2.0',
  type: 'module',
  main: './index.js',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    '.': { types: './index.d.ts', default: './index.js' },
    './gatehouse_spa_bg.wasm': './gatehouse_spa_bg.wasm',
  },
  files: ['index.js', 'index.d.ts', 'gatehouse_spa.js', 'gatehouse_spa.d.ts', 'gatehouse_spa_bg.wasm', 'gatehouse_spa_bg.wasm.d.ts', 'README.md'],
  sideEffects: false,
  keywords: ['oauth2', 'openid-connect', 'pkce', 'spa', 'wasm'],
};
writeFileSync(join(PKG, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
copyFileSync(join(ROOT, 'crates', 'spa', 'npm', 'README.md'), join(PKG, 'README.md'));
// The client (js/index.js) over the wasm module of rules that wasm-pack generated.
for (const file of ['index.js', 'index.d.ts']) copyFileSync(join(ROOT, 'crates', 'spa', 'js', file), join(PKG, file));
rmSync(join(PKG, '.gitignore'), { force: true });
