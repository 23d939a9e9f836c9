// Builds the Worker (release) with worker-build into crates/worker/build/, then strips the
// wasm's name section, which worker-build keeps on purpose (--debuginfo) for readable stack
// traces: it costs ~140 KB raw / ~37 KB gzipped. GATEHOUSE_KEEP_NAMES=1 keeps it.
// Also wrangler.toml's [build] command, so `wrangler dev` / `wrangler deploy` build the same way.
import { join } from 'node:path';
import { ROOT, WORKER_DIR, WORKER_WASM, run, setup, workerBuilt } from './lib.mjs';

// `npm start` builds once and then starts wrangler dev, whose [build] step would build again.
if (process.env.GATEHOUSE_SKIP_BUILD === '1' && workerBuilt()) process.exit(0);

if (!process.argv.includes('--no-setup')) setup();
run('worker-build', ['--release'], { cwd: WORKER_DIR });
if (!process.env.GATEHOUSE_KEEP_NAMES) {
  const features = ['mutable-globals', 'sign-ext', 'nontrapping-float-to-int', 'bulk-memory', 'multivalue',
    'reference-types', 'exception-handling'].map((f) => `--enable-${f}`);
  run(join(ROOT, 'node_modules', '.bin', 'wasm-opt'),
    [WORKER_WASM, '-o', WORKER_WASM, '--strip-debug', '--strip-producers', ...features]);
}
