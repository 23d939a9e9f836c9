// Builds the browser package into pkg/ with wasm-pack (release, ESM for the web), then writes
// its package.json and README for npm (wasm-pack's generated ones name the crate, not the package).
import { readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, setup } from './lib.mjs';

if (!process.argv.includes('--no-setup')) setup();
const PKG = join(ROOT, 'pkg');
run('wasm-pack', ['build', '--target', 'web', '--release', '--mode', 'no-install', '--out-dir', '../../pkg', '--out-name', 'gatehouse_spa'],
  { cwd: join(ROOT, 'crates', 'spa') });
const version = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version;
const manifest = {
  name: '@gatehouse/spa',
  version,
  description: 'Log in to a Gatehouse authorization server from a single-page app: PKCE, ID token validation, rotating refresh tokens',
  license: 'Apache-2.0',
  type: 'module',
  main: './gatehouse_spa.js',
  module: './gatehouse_spa.js',
  types: './gatehouse_spa.d.ts',
  exports: {
    '.': { types: './gatehouse_spa.d.ts', default: './gatehouse_spa.js' },
    './gatehouse_spa_bg.wasm': './gatehouse_spa_bg.wasm',
  },
  files: ['gatehouse_spa.js', 'gatehouse_spa.d.ts', 'gatehouse_spa_bg.wasm', 'gatehouse_spa_bg.wasm.d.ts', 'README.md'],
  sideEffects: false,
  keywords: ['oauth2', 'openid-connect', 'pkce', 'spa', 'wasm'],
};
writeFileSync(join(PKG, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
copyFileSync(join(ROOT, 'crates', 'spa', 'npm', 'README.md'), join(PKG, 'README.md'));
rmSync(join(PKG, '.gitignore'), { force: true });
