// Shared helpers for the project's scripts (no dependencies beyond Node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TOOLS =
  process.env.GATEHOUSE_TOOLS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gatehouse-tools');
export const WORKER_DIR = join(ROOT, 'crates', 'worker');
export const WORKER_SHIM = join(WORKER_DIR, 'build', 'worker', 'shim.mjs');
export const WORKER_WASM = join(WORKER_DIR, 'build', 'index_bg.wasm');

/** The environment for builds: pinned tools first on PATH, and every binary worker-build would
 *  otherwise download named explicitly (see shared TOOLCHAIN notes). */
export function buildEnv(extra = {}) {
  const bin = join(ROOT, 'node_modules', '.bin');
  return {
    ...process.env,
    PATH: `${join(TOOLS, 'bin')}:${bin}:${process.env.PATH}`,
    WASM_BINDGEN_BIN: join(TOOLS, 'bin', 'wasm-bindgen'),
    ESBUILD_BIN: join(bin, 'esbuild'),
    WASM_OPT_BIN: join(bin, 'wasm-opt'),
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    XDG_CONFIG_HOME: join(ROOT, '.config'),
    ...extra,
  };
}

/** Runs a command, inheriting stdio; exits the process on failure. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, env: buildEnv(), ...opts });
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

/** Installs whatever is missing (idempotent; about a second when warm). */
export function setup({ browser = false } = {}) {
  run('bash', [join(ROOT, 'scripts', 'setup.sh'), ...(browser ? ['--browser'] : [])]);
}

export function workerBuilt() {
  return existsSync(WORKER_SHIM) && existsSync(WORKER_WASM);
}
