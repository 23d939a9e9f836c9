// The edge peer for `npm run bench`: Cloudflare's own OAuth provider library for Workers
// (@cloudflare/workers-oauth-provider), on KV, as a user would deploy it. Its /authorize approves
// the bench's user at once (the library leaves login and consent to the application; the bench
// compares the token endpoint and an API call, which the library implements). POST /setup
// registers the bench's public client (the library's own createClient()).
import { OAuthProvider } from './oauth-provider.js';

const USER = 'bench|ada';

const apiHandler = {
  async fetch(request, env, ctx) {
    return Response.json({ sub: ctx.props.userId, scope: ctx.auth?.scope });
  },
};

const defaultHandler = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/authorize') {
      const authRequest = await env.OAUTH_PROVIDER.parseAuthRequest(request);
      const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
        request: authRequest,
        userId: USER,
        metadata: {},
        scope: authRequest.scope,
        props: { userId: USER },
        revokeExistingGrants: false,
      });
      return Response.redirect(redirectTo, 302);
    }
    if (url.pathname === '/setup' && request.method === 'POST') {
      return Response.json(await env.OAUTH_PROVIDER.createClient(await request.json()));
    }
    return new Response('not found', { status: 404 });
  },
};

export default new OAuthProvider({
  apiRoute: '/api/',
  apiHandler,
  defaultHandler,
  authorizeEndpoint: '/authorize',
  tokenEndpoint: '/oauth/token',
  scopesSupported: ['read', 'offline_access'],
  resourceMetadata: { resource: 'https://api.bench.local/' },
});
