// `npm test`: installs what is missing, then runs every test of the project and prints a summary.
//   lint        cargo fmt --check, clippy (native core, wasm crates) with warnings denied
//   core        cargo test: the protocol crate's rules and vectors, the core's unit tests, RFC
//               vectors, in-process endpoint tests (pure-Rust crypto)
//   webcrypto   wasm-pack test --headless --chrome: WebCrypto vs the pure-Rust reference
//   spa         wasm-pack test --headless --chrome and --firefox: the browser package
//   build       the browser package (wasm-pack) and the Worker (worker-build), release
//   e2e         node --test: the built Worker under workerd (Miniflare), real clients
// `npm test -- --skip-lint` skips the lint step.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TOOLS, WORKER_WASM, buildEnv, setup } from './lib.mjs';

const started = Date.now();
setup({ browser: true });
const env = buildEnv({ CHROMEDRIVER: '/usr/bin/chromedriver', GECKODRIVER: join(TOOLS, 'bin', 'geckodriver') });
const results = [];

function step(name, cmd, args, { cwd = ROOT, count } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    console.log(`\n━━ ${name}: ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('close', (code) => {
      const counted = count ? count(out) : { passed: 0, failed: 0 };
      results.push({ name, code, seconds: (Date.now() - t0) / 1000, ...counted });
      resolve(code);
    });
  });
}

// `test result: ok. 29 passed; 0 failed; ...` (cargo test and wasm-bindgen-test-runner)
const cargoCounts = (out) => {
  let passed = 0, failed = 0;
  for (const m of out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1]);
    failed += Number(m[2]);
  }
  return { passed, failed };
};
// node --test: `# pass 10` / `# fail 0`
const nodeCounts = (out) => ({
  passed: Number(out.match(/^# pass (\d+)/m)?.[1] ?? 0),
  failed: Number(out.match(/^# fail (\d+)/m)?.[1] ?? 0),
});

const chromeTest = ['test', '--headless', '--chrome', '--mode', 'no-install'];
const firefoxTest = ['test', '--headless', '--firefox', '--mode', 'no-install'];
const skipLint = process.argv.includes('--skip-lint');

let ok = true;
const must = async (p) => { if ((await p) !== 0) ok = false; };
if (!skipLint) {
  await must(step('lint: rustfmt', 'cargo', ['fmt', '--all', '--', '--check']));
  await must(step('lint: clippy (core)', 'cargo', ['clippy', '-p', 'gatehouse-protocol', '-p', 'gatehouse-core', '--all-targets', '--', '-D', 'warnings']));
  await must(step('lint: clippy (wasm crates)', 'cargo', [
    'clippy', '-p', 'gatehouse-webcrypto', '-p', 'gatehouse-worker', '-p', 'gatehouse-spa',
    '--target', 'wasm32-unknown-unknown', '--all-targets', '--', '-D', 'warnings',
  ]));
  // The browser package's release build: no std (its own panic handler and allocator).
  await must(step('lint: clippy (spa, no std)', 'cargo', [
    'clippy', '-p', 'gatehouse-spa', '--target', 'wasm32-unknown-unknown', '--features', 'bare', '--lib', '--', '-D', 'warnings',
  ]));
}
await must(step('core', 'cargo', ['test', '-p', 'gatehouse-protocol', '-p', 'gatehouse-core'], { count: cargoCounts }));
await must(step('webcrypto (Chromium)', 'wasm-pack', chromeTest, { cwd: join(ROOT, 'crates/webcrypto'), count: cargoCounts }));
await must(step('spa (Chromium)', 'wasm-pack', chromeTest, { cwd: join(ROOT, 'crates/spa'), count: cargoCounts }));
await must(step('spa (Firefox)', 'wasm-pack', firefoxTest, { cwd: join(ROOT, 'crates/spa'), count: cargoCounts }));
await must(step('webcrypto (Firefox)', 'wasm-pack', firefoxTest, { cwd: join(ROOT, 'crates/webcrypto'), count: cargoCounts }));
await must(step('build: browser package', 'node', ['scripts/build-spa.mjs', '--no-setup']));
const workerOk = (await step('build: worker', 'node', ['scripts/build-worker.mjs', '--no-setup'])) === 0;
if (workerOk) await must(step('e2e (workerd)', 'node', ['--test', '--test-concurrency=1', 'tests/e2e/'], { count: nodeCounts }));
else ok = false;

// The browser package's size next to its peers: a report, not a test (issue 13); it never fails
// the run.
if (ok) await step('size (npm run size)', 'node', ['bench/size.mjs']);

const size = (file) => {
  try {
    const raw = statSync(file).size;
    return `${(raw / 1024).toFixed(1)} KiB raw, ${(gzipSync(readFileSync(file), { level: 9 }).length / 1024).toFixed(1)} KiB gzip -9`;
  } catch { return 'not built'; }
};
console.log('\n━━ summary');
for (const r of results) {
  const counts = r.passed || r.failed ? ` ${r.passed} passed, ${r.failed} failed` : '';
  console.log(`  ${r.code === 0 ? '✓' : '✗'} ${r.name.padEnd(28)} ${r.seconds.toFixed(1).padStart(6)} s${counts}`);
}
console.log(`  worker wasm: ${size(WORKER_WASM)}`);
console.log(`  browser wasm: ${size(join(ROOT, 'pkg', 'gatehouse_spa_bg.wasm'))}`);
console.log(`  total ${((Date.now() - started) / 1000).toFixed(1)} s`);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0) + (ok || results.some((r) => r.failed) ? 0 : 1);
console.log(`gatehouse: ${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
