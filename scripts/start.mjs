// `npm start`: builds the Worker, runs it under workerd (wrangler dev) on 127.0.0.1:$PORT
// (default 8787) with local KV and Durable Object state in .wrangler/state (kept between runs),
// imports the demo tenant (demo/tenant.json) and prints where to go.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, buildEnv, run, setup } from './lib.mjs';
import { devVars } from './devvars.mjs';
import { call, spaOrigin, tenantFile } from './admin.mjs';
import { startDemo } from './demo-server.mjs';

const PORT = Number(process.env.PORT || 8787);
const origin = `http://127.0.0.1:${PORT}`;
const t0 = Date.now();

setup();
run('node', ['scripts/build-worker.mjs', '--no-setup']);
run('node', ['scripts/build-spa.mjs', '--no-setup']);
const secrets = devVars();

// wrangler.toml's [build] would rebuild (twice) at start; the Worker was just built.
const wrangler = spawn(
  join(ROOT, 'node_modules', '.bin', 'wrangler'),
  ['dev', '--ip', '127.0.0.1', '--port', String(PORT), '--persist-to', join(ROOT, '.wrangler', 'state'),
    '--show-interactive-dev-session=false', '--log-level', 'warn'],
  { cwd: ROOT, env: buildEnv({ GATEHOUSE_SKIP_BUILD: '1', PORT: String(PORT) }), stdio: ['ignore', 'inherit', 'inherit'] },
);
const stop = (signal) => wrangler.kill(signal);
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
wrangler.on('exit', (code) => process.exit(code ?? 0));

async function waitForWorker() {
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`${origin}/.well-known/openid-configuration`);
      if (res.ok) return await res.json();
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Worker did not answer on ${origin} within 60 s`);
}

try {
  const discovery = await waitForWorker();
  // Signing needs the stored keys to open under this checkout's KEY_ENCRYPTION_KEY.
  const signed = await fetch(`${origin}/.well-known/oauth-authorization-server`);
  if (!signed.ok) {
    throw new Error(
      'The Worker cannot open its stored signing keys: .wrangler/state was made with another\n' +
        'KEY_ENCRYPTION_KEY than the one in .dev.vars. Restore that .dev.vars, or delete .wrangler/state.',
    );
  }
  process.env.GATEHOUSE_URL = origin;
  process.env.ADMIN_TOKEN = secrets.ADMIN_TOKEN;
  const { imported } = await call('PUT', '/admin/tenant', tenantFile(origin));
  const demo = await startDemo({ workerOrigin: origin, port: Number(new URL(spaOrigin()).port) });
  const jwks = await (await fetch(`${origin}/.well-known/jwks.json`)).json();
  const tenant = JSON.parse(tenantFile(origin));
  const line = '─'.repeat(72);
  const tryUrl = `${origin}/authorize?` + new URLSearchParams({
    client_id: 'demo-web', response_type: 'code', redirect_uri: 'http://127.0.0.1:3000/callback',
    scope: 'openid profile email', state: 'demo-state', nonce: 'demo-nonce',
  });
  console.log(`
${line}
 Gatehouse is running at ${origin}/   (ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)
 Demo SPA         ${demo.origin}/   ← open this: log in, call the API, refresh, log out
${line}
 Issuer           ${discovery.issuer}
 Discovery        ${origin}/.well-known/openid-configuration
 AS metadata      ${origin}/.well-known/oauth-authorization-server
 JWKS             ${origin}/.well-known/jwks.json   (${jwks.keys.map((k) => k.alg).join(', ')})

 Demo tenant (demo/tenant.json, imported: ${imported.clients} clients, ${imported.apis} APIs, ${imported.users} user)
${tenant.clients.map((c) => `   ${c.client_id.padEnd(12)} ${c.app_type.padEnd(16)} ${c.token_endpoint_auth_method}${c.client_secret ? `  secret: ${c.client_secret}` : ''}`).join('\n')}
${(tenant.client_grants || []).map((g) => `   ${g.client_id.padEnd(12)} may get ${g.scope.join(' ')} for ${g.audience} (client credentials: see README)`).join('\n')}
${tenant.apis.map((a) => `   API            ${a.identifier}  scopes: ${a.scopes.map((s) => s.value).join(' ')}${a.require_dpop ? '  (DPoP required)' : ''}${(a.authorization_details || []).length ? `  details: ${a.authorization_details.map((d) => d.type).join(' ')}` : ''}`).join('\n')}
   User           ${tenant.users[0].email} / ${tenant.users[0].password}

 Try a login      ${tryUrl}
                  (log in as the user below; the code lands on 127.0.0.1:3000/callback: see README)
 Try a payment    npm run demo:pay   (PAR + JAR + RAR + DPoP, as demo-fapi: see README)

 Operator         ADMIN_TOKEN, INITIAL_ACCESS_TOKEN, KEY_ENCRYPTION_KEY are in .dev.vars (local only)
                  ${origin}/oidc/register takes INITIAL_ACCESS_TOKEN as a Bearer token
                  npm run rotate-keys   rotate the signing keys
 State            .wrangler/state (delete it to start from scratch)
 Stop             Ctrl-C
${line}`);
} catch (e) {
  console.error(String(e.message || e));
  stop('SIGTERM');
  process.exitCode = 1;
}
