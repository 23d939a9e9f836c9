// The demo "TV": RFC 8628 from a page without a login — POST /oauth/device/code, show the
// user code and the link, poll /oauth/token (honouring interval and slow_down) until the user
// approves in another tab, then call the demo API with the access token.
const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const CLIENT_ID = 'demo-device';
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const form = (fields) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields),
});
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));
let run = 0;

async function start() {
  const mine = ++run;
  $('waiting').hidden = false;
  $('done').hidden = true;
  $('status').textContent = '';
  const res = await fetch(`${config.domain}/oauth/device/code`,
    form({ client_id: CLIENT_ID, scope: 'openid profile read:messages', audience: config.audience }));
  const codes = await res.json();
  if (!res.ok) {
    $('status').textContent = `${codes.error}: ${codes.error_description}`;
    return;
  }
  $('user-code').textContent = codes.user_code;
  $('verify').textContent = codes.verification_uri;
  $('verify').href = codes.verification_uri_complete;
  document.body.dataset.userCode = codes.user_code;
  let interval = codes.interval;
  $('poll').textContent = `Waiting for approval… (polling every ${interval} s)`;
  for (;;) {
    await sleep(interval);
    if (mine !== run) return;
    const poll = await fetch(`${config.domain}/oauth/token`, form({ grant_type: GRANT, client_id: CLIENT_ID, device_code: codes.device_code }));
    const body = await poll.json();
    if (poll.ok) return signedIn(body);
    if (body.error === 'slow_down') interval += 5;
    else if (body.error !== 'authorization_pending') {
      $('poll').textContent = `Stopped: ${body.error} (${body.error_description})`;
      document.body.dataset.outcome = body.error;
      return;
    }
    $('poll').textContent = `Waiting for approval… (polling every ${interval} s)`;
  }
}

async function signedIn(tokens) {
  $('waiting').hidden = true;
  $('done').hidden = false;
  const api = await fetch('/api/messages', { headers: { authorization: `Bearer ${tokens.access_token}` } });
  $('tv-result').textContent = `HTTP ${api.status}\n${JSON.stringify(await api.json(), null, 2)}`;
  document.body.dataset.outcome = 'signed-in';
}

$('restart').onclick = () => start();
start();
