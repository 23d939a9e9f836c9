// A browser for end-to-end tests: a cookie jar over fetch that never follows redirects by
// itself, and that fills in the Worker's hosted login and consent pages as a user would.
import assert from 'node:assert/strict';

let nextIp = 1;

/** Each browser has its own client IP (CF-Connecting-IP), so per-IP limits never couple tests. */
export class Browser {
  /** `origin`: the Worker's; `user`: who logs in when asked ({ email, password }). */
  constructor(origin, user) {
    this.origin = origin;
    this.user = user;
    this.jar = new Map();
    this.ip = `198.51.100.${nextIp++}`;
    this.setCookies = [];
  }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      this.setCookies.push({ name, value, attrs, line });
      if (maxAge && Number(maxAge.split('=')[1]) <= 0) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async fetch(url, init = {}) {
    const target = new URL(url, this.origin);
    assert.equal(target.origin, this.origin, `the browser only talks to the Worker here: ${target}`);
    const headers = new Headers(init.headers);
    headers.set('cf-connecting-ip', this.ip);
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    this.store(res);
    return res;
  }

  async submit(path, fields) {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /**
   * Drives an authorization request as a user would: follows the Worker's redirects, fills in the
   * login form and answers the consent page. Returns the URL the Worker finally sends the browser
   * to (the client's redirect_uri) and the Worker pages visited on the way.
   */
  async authorize(authUrl, options = {}) {
    return this.follow(await this.fetch(new URL(authUrl)), new URL(authUrl), options);
  }

  /**
   * The user's part of the device flow (RFC 8628 §3.3): enters `userCode` at /activate, logs in,
   * answers the confirmation page. Returns the page the Worker ends on ({ page, status }).
   */
  async activate(userCode, options = {}) {
    const here = new URL('/activate', this.origin);
    return this.follow(await this.submit(here, { user_code: userCode }), here, options);
  }

  /** Follows the Worker's redirects and answers its login and consent forms. */
  async follow(first, start, { user = this.user, decision = 'allow' } = {}) {
    const trail = [];
    let here = start;
    let res = first;
    for (let step = 0; step < 12; step++) {
      if (res.status >= 300 && res.status < 400) {
        const location = new URL(res.headers.get('location'), here);
        if (location.origin !== this.origin) return { url: location, trail, status: res.status };
        trail.push(location.pathname);
        here = location;
        res = await this.fetch(here);
        continue;
      }
      const html = await res.text();
      const form = hiddenInputs(html);
      if (/<form method="post" action="\/login"/.test(html)) {
        assert.equal(res.status, 200, `${here.pathname}: ${res.status} ${html.slice(0, 600)}`);
        res = await this.submit('/login', { ...form, username: user.email, password: user.password });
        assert.equal(res.status, 303, `login failed: ${res.status}`);
        here = new URL('/login', this.origin);
      } else if (/<form method="post" action="\/consent"/.test(html)) {
        assert.equal(res.status, 200, `${here.pathname}: ${res.status} ${html.slice(0, 600)}`);
        this.lastConsentPage = html;
        res = await this.submit('/consent', { ...form, decision });
        here = new URL('/consent', this.origin);
      } else {
        return { page: html, trail, status: res.status };
      }
    }
    assert.fail('too many steps');
  }
}

export function hiddenInputs(html) {
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = m[2];
  return fields;
}
