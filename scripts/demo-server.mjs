// The demo SPA's server: www/ and the browser package (pkg/) as static files, plus a small
// resource server, GET /api/messages, that accepts only valid Gatehouse access tokens for the
// demo API (RFC 9068 validation with jose: signature against the issuer's JWKS, iss, aud, exp,
// typ at+jwt, and the read:messages scope) — what an API developer would write.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import * as jose from 'jose';
import { ROOT } from './lib.mjs';

export const DEMO_API = 'https://api.gatehouse.local/';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.json': 'application/json' };

/** Starts the demo on 127.0.0.1:`port` (0: any) against the Worker at `workerOrigin` (or the
 *  one given later to `setWorker`). */
export async function startDemo({ workerOrigin, port = 0 }) {
  let issuer, jwks;
  const setWorker = (origin) => {
    workerOrigin = origin;
    issuer = `${origin}/`;
    jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', origin));
  };
  if (workerOrigin) setWorker(workerOrigin);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://demo');
    try {
      if (url.pathname === '/api/messages') return await messages(req, res);
      if (url.pathname === '/ciba/notify' && req.method === 'POST') return await cibaNotice(req, res);
      if (url.pathname === '/config.json') {
        return send(res, 200, 'application/json', JSON.stringify({ domain: workerOrigin, clientId: 'demo-spa', audience: DEMO_API }));
      }
      const [root, rest] = url.pathname.startsWith('/pkg/') ? ['pkg', url.pathname.slice(5)] : ['www', url.pathname.slice(1) || 'index.html'];
      const path = normalize(join(ROOT, root, rest));
      if (!path.startsWith(join(ROOT, root))) return send(res, 404, 'text/plain', 'not found');
      const body = await readFile(path).catch(() => readFile(join(ROOT, 'www', 'index.html')));
      send(res, 200, TYPES[extname(path)] || TYPES['.html'], body);
    } catch (e) {
      send(res, 500, 'text/plain', String(e));
    }
  });

  // The operator's CIBA webhook (the tenant file's ciba.notify_url): a real deployment would
  // forward approve_url to the user's phone; the demo checks the signature and prints it.
  async function cibaNotice(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    try {
      const { payload } = await jose.compactVerify(req.headers['gatehouse-signature'] || '', jwks);
      if (new TextDecoder().decode(payload) !== body) throw new Error('the body is not what was signed');
      const notice = JSON.parse(body);
      if (notice.iss !== issuer) throw new Error('another issuer');
      console.log(`CIBA: ${notice.client_name} asks ${notice.user_id} to approve` +
        `${notice.binding_message ? ` "${notice.binding_message}"` : ''}: open ${notice.approve_url}`);
      send(res, 204, 'text/plain', '');
    } catch (e) {
      send(res, 401, 'text/plain', `signature refused: ${e.message}`);
    }
  }

  async function messages(req, res) {
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization' };
    if (req.method === 'OPTIONS') return send(res, 204, 'text/plain', '', cors);
    const token = (req.headers.authorization || '').replace(/^Bearer\s+/i, '');
    try {
      const { payload } = await jose.jwtVerify(token, jwks, { issuer, audience: DEMO_API, typ: 'at+jwt' });
      if (!String(payload.scope || '').split(' ').includes('read:messages')) {
        return send(res, 403, 'application/json', JSON.stringify({ error: 'insufficient_scope' }), {
          ...cors, 'www-authenticate': 'Bearer error="insufficient_scope", scope="read:messages"',
        });
      }
      const body = {
        for: payload.sub,
        client: payload.client_id,
        messages: [
          { from: 'Gatehouse', text: 'Your access token checked out: signature, issuer, audience, expiry, scope.' },
          { from: 'Demo API', text: `Token expires at ${new Date(payload.exp * 1000).toISOString()}.` },
        ],
      };
      return send(res, 200, 'application/json', JSON.stringify(body), cors);
    } catch (e) {
      return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_token', error_description: e.code || e.message }), {
        ...cors, 'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
  }

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, setWorker, close: () => new Promise((resolve) => server.close(resolve)) };
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}
