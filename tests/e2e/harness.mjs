// Starts the built Worker under workerd (Miniflare) on a loopback port, with local KV and the
// SQLite-backed ledger Durable Object — the same bindings wrangler.toml declares.
import { Miniflare } from 'miniflare';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WORKER_SHIM, workerBuilt } from '../../scripts/lib.mjs';

export const ADMIN_TOKEN = 'test-operator-token-' + randomBytes(8).toString('hex');
export const INITIAL_ACCESS_TOKEN = 'test-registration-token-' + randomBytes(8).toString('hex');

/** A fresh key-encryption key (32 bytes, base64url). */
export function newKek() {
  return randomBytes(32).toString('base64url');
}

/**
 * Starts a Worker. `persistDir`: keep KV and Durable Object state there (to test restarts);
 * otherwise state lives in memory. Returns { url, origin, mf, stop }.
 */
export async function startWorker({ persistDir, kek = newKek(), vars = {} } = {}) {
  if (!workerBuilt()) throw new Error('the Worker is not built: run `npm run build` (npm test does)');
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER_SHIM,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2026-04-26',
    kvNamespaces: ['GATEHOUSE_KV'],
    durableObjects: { GATEHOUSE_LEDGER: { className: 'LedgerObject', useSQLite: true } },
    bindings: { KEY_ENCRYPTION_KEY: kek, ADMIN_TOKEN, INITIAL_ACCESS_TOKEN, ISSUER: '', ...vars },
    ...(persistDir ? { kvPersist: join(persistDir, 'kv'), durableObjectsPersist: join(persistDir, 'do') } : {}),
    host: '127.0.0.1',
    port: 0,
    cf: false,
  });
  const ready = await mf.ready;
  const origin = ready.origin;
  return { mf, origin, url: `${origin}/`, kek, stop: () => mf.dispose() };
}

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Imports a tenant file into a started Worker (`PUT /admin/tenant`); returns the summary. */
export async function importTenant(worker, tenant) {
  const res = await fetch(new URL('/admin/tenant', worker.origin), {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(tenant),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`tenant import: ${res.status} ${text}`);
  return JSON.parse(text).imported;
}

/** Awaits a promise expected to fail with an OAuth error (openid-client, oauth4webapi). */
export async function oauthError(promise) {
  try {
    await promise;
  } catch (e) {
    return { status: e.status, error: e.error, e };
  }
  throw new Error('expected an OAuth error');
}

/**
 * Sends an oversized request until its answer is read. The Worker answers an oversized body from
 * its declared length, before reading it; the local runtime may then close the connection while
 * the upload is still going, and the client sees a network error rather than the answer.
 */
export async function untilAnswered(call, attempts = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (attempt >= attempts) throw e;
    }
  }
}
