// Operator actions against a running Gatehouse (local by default):
//   npm run rotate-keys          rotate the signing keys (POST /admin/keys/rotate)
//   npm run seed [-- FILE]       import a tenant file (PUT /admin/tenant), default demo/tenant.json
// GATEHOUSE_URL (default http://127.0.0.1:$PORT, PORT default 8787) and ADMIN_TOKEN (default:
// the local one in .dev.vars) point it elsewhere, e.g. at a deployed Worker.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';
import { devVars } from './devvars.mjs';

export function baseUrl() {
  return (process.env.GATEHOUSE_URL || `http://127.0.0.1:${process.env.PORT || 8787}`).replace(/\/$/, '');
}

/** The demo SPA's origin (npm start serves it; DEMO_PORT overrides the port). */
export const spaOrigin = () => `http://127.0.0.1:${process.env.DEMO_PORT || 5173}`;

/** The tenant file with {{origin}} (the Worker) and {{spa}} (the demo SPA) filled in. */
export function tenantFile(origin, file = join(ROOT, 'demo', 'tenant.json'), spa = spaOrigin()) {
  return readFileSync(file, 'utf8').replaceAll('{{origin}}', origin).replaceAll('{{spa}}', spa);
}

export async function call(method, path, body) {
  const token = process.env.ADMIN_TOKEN || devVars().ADMIN_TOKEN;
  const res = await fetch(baseUrl() + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [action, file] = process.argv.slice(2);
  try {
    if (action === 'rotate') {
      const state = await call('POST', '/admin/keys/rotate');
      console.log(`rotated to generation ${state.generation}:`);
      for (const k of state.keys) console.log(`  ${k.alg}  ${k.status.padEnd(8)} ${k.kid}`);
    } else if (action === 'seed') {
      const result = await call('PUT', '/admin/tenant', tenantFile(baseUrl(), file));
      console.log('imported', result.imported);
    } else {
      console.error('usage: node scripts/admin.mjs rotate | seed [tenant.json]');
      process.exit(2);
    }
  } catch (e) {
    console.error(String(e.message || e));
    process.exit(1);
  }
}
