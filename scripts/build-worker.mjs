// Builds the Worker (release) with worker-build into crates/worker/build/.
// Also wrangler.toml's [build] command, so `wrangler dev` / `wrangler deploy` build the same way.
import { WORKER_DIR, run, setup } from './lib.mjs';

if (!process.argv.includes('--no-setup')) setup();
run('worker-build', ['--release'], { cwd: WORKER_DIR });
