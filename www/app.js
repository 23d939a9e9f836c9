// The demo SPA: three calls to log in (createGatehouseClient, loginWithRedirect,
// handleRedirectCallback), then getTokenSilently / fetch to call the API.
import init, { createCookieSession, createGatehouseClient } from '/pkg/index.js';

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
};
const decode = (jwt) => JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));

await init();
const config = await (await fetch('/config.json')).json();
const auth = await createGatehouseClient({
  domain: config.domain,
  clientId: config.clientId,
  authorizationParams: { redirect_uri: `${location.origin}/`, audience: config.audience, scope: 'openid profile email read:messages' },
  cacheLocation: 'localstorage',
});

async function showToken(token) {
  const claims = decode(token);
  const left = claims.exp - Math.floor(Date.now() / 1000);
  $('token-info').textContent = JSON.stringify({ scope: claims.scope, aud: claims.aud, expires_in: `${left} s`, jti: claims.jti }, null, 2);
  $('token-info').dataset.jti = claims.jti;
}

const cookies = createCookieSession({ domain: config.domain });
// For the curious (and the end-to-end tests): the two clients, from the devtools console.
window.gatehouseDemo = { auth, cookies };
let mode = 'none';

async function render() {
  const user = await auth.getUser();
  const cookieState = user ? { authenticated: false } : await cookies.session().catch(() => ({ authenticated: false }));
  mode = user ? 'pkce' : cookieState.authenticated ? 'cookie' : 'none';
  const signedIn = mode !== 'none';
  $('welcome').hidden = signedIn;
  $('app').hidden = mode !== 'pkce';
  $('cookie-app').hidden = mode !== 'cookie';
  $('login').hidden = signedIn;
  $('login-cookie').hidden = signedIn;
  $('logout').hidden = !signedIn;
  $('who').hidden = !signedIn;
  document.body.dataset.mode = mode;
  if (mode === 'cookie') {
    $('who').textContent = cookieState.user.email;
    $('cookie-user').textContent = JSON.stringify(cookieState.user, null, 2);
    return;
  }
  if (!signedIn) return;
  $('who').textContent = user.email;
  $('name').textContent = user.name || user.sub;
  $('email').textContent = user.email || '';
  $('avatar').textContent = (user.given_name || user.name || '?').slice(0, 1);
  $('user').textContent = JSON.stringify(await auth.getIdTokenClaims().then(({ __raw, ...c }) => c), null, 2);
  await showToken(await auth.getTokenSilently());
}

$('login').onclick = () => auth.loginWithRedirect();
$('login-cookie').onclick = () => cookies.login(`${location.origin}/`);
$('logout').onclick = () =>
  mode === 'cookie' ? cookies.logout(`${location.origin}/`) : auth.logout({ returnTo: `${location.origin}/` });
$('cookie-call-api').onclick = async () => {
  status('Calling the API through the Worker…');
  const res = await cookies.fetch('/messages');
  $('cookie-api-result').textContent = `HTTP ${res.status}\n` + JSON.stringify(await res.json(), null, 2);
  status(res.ok ? 'The Worker called the API with the session\'s access token.' : 'The call was refused.', !res.ok);
};
$('call-api').onclick = async () => {
  status('Calling the API…');
  const res = await auth.fetch('/api/messages');
  $('api-result').textContent = `HTTP ${res.status}\n` + JSON.stringify(await res.json(), null, 2);
  status(res.ok ? 'The API accepted the access token.' : 'The API refused the token.', !res.ok);
};
$('refresh').onclick = async () => {
  status('Refreshing with the rotating refresh token…');
  await showToken(await auth.getTokenSilently({ cacheMode: 'off' }));
  status('New access token (and a new refresh token).');
};

try {
  const params = new URLSearchParams(location.search);
  const pkceLogin = sessionStorage.getItem(`gatehouse.tx.${config.clientId}`) !== null;
  if (pkceLogin && (params.has('code') || params.has('error'))) {
    await auth.handleRedirectCallback();
    history.replaceState({}, '', '/');
    status('Logged in.');
  } else if (params.has('error')) {
    // A cookie-session login that did not complete comes back with ?error=.
    history.replaceState({}, '', '/');
    status(`Login failed: ${params.get('error')}`, true);
  }
  await render();
} catch (e) {
  status(`${e.error || 'error'}: ${e.error_description || e.message}`, true);
  await render().catch(() => {});
}
document.body.dataset.ready = 'true';
