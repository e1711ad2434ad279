import { afterEach, describe, expect, it } from 'vitest';
import { dashboardHarness, ORIGIN, PASSWORD, SECRET_VALUE, XSS, XSS_ESCAPED, type Harness } from './dashboard-harness.js';

const PAGES = [
  '/', '/conversations', '/conversations/1', '/assistants', '/assistants/new', '/assistants/default/edit', '/workspaces', '/workspaces/default/edit',
  '/governance', '/audit', '/audit?kind=pairing', '/chat', '/chat?assistant=default',
];
const ACTIONS = [
  '/logout', '/conversations/1/workspace', '/assistants', '/assistants/default', '/assistants/default/reset', '/workspaces', '/workspaces/default',
  '/governance/pairing', '/governance/approval', '/governance/access', '/audit/verify', '/chat', '/chat/stream', '/connectors/telegram/doctor',
];

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Reads an SSE response until `until` matches what came so far, then hangs up. */
async function readSse(r: Response, until: RegExp, timeoutMs = 5_000): Promise<string> {
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  while (!until.test(text) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return text;
}

describe('dashboard access control', () => {
  it('answers 401 on every route, the login page included, until a password is set', async () => {
    h = await dashboardHarness({ password: null });
    for (const path of [...PAGES, '/login', '/events', '/assets/dashboard.js', '/assets/dashboard.css']) {
      expect((await h.get(path)).status, `GET ${path}`).toBe(401);
    }
    for (const path of [...ACTIONS, '/login']) expect((await h.post(path, { password: '' })).status, `POST ${path}`).toBe(401);
    // However large the body: a 413 would tell which routes exist.
    for (const path of ACTIONS) expect((await h.post(path, { text: 'x'.repeat(2_000_000) })).status, `POST ${path} (2 MB)`).toBe(401);
  });

  it('sends pages without a session to /login (never with a target), and answers 401 to anything else', async () => {
    h = await dashboardHarness();
    for (const path of PAGES) {
      const r = await h.get(`${path}${path.includes('?') ? '&' : '?'}next=https://evil.example`);
      expect(r.status, `GET ${path}`).toBe(303);
      expect(r.headers.get('location')).toBe('/login');
    }
    for (const path of PAGES) expect((await h.app.request(path)).status, `GET ${path} (not a page request)`).toBe(401);
    expect((await h.get('/events', { origin: ORIGIN })).status).toBe(401);
    for (const path of ACTIONS) expect((await h.post(path, { _csrf: 'x' })).status, `POST ${path}`).toBe(401);
    for (const path of ACTIONS) expect((await h.post(path, { text: 'x'.repeat(2_000_000) })).status, `POST ${path} (2 MB)`).toBe(401);
    const login = await h.get('/login');
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('type="password"');
  });

  it('logs in with the password: an HttpOnly SameSite=Strict cookie, then / (whatever ?next says)', async () => {
    h = await dashboardHarness();
    const r = await h.post('/login?next=https://evil.example', { password: PASSWORD });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/');
    const cookie = r.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^mc_session=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure');
    const again = await h.get('/login?next=https://evil.example', { cookie: cookie.split(';')[0]! });
    expect(again.headers.get('location')).toBe('/');
    const page = await h.get('/', { cookie: cookie.split(';')[0]! });
    expect(page.status).toBe(200);
    // An address that is no page: 404 for the signed-in owner, not a 401 that would say they were signed out.
    expect((await h.get('/assistants/default', { cookie: cookie.split(';')[0]! })).status).toBe(404);
    expect((await h.get('/assistants/default')).status).not.toBe(404);
    // Nor is what a page names and does not exist a bare line of text: the laid-out page, with the way back.
    for (const [path, said] of [['/conversations/99999', 'No such conversation.'], ['/connectors/nosuch', 'No such connector.'], ['/assistants/nosuch/edit', 'No such assistant.'], ['/workspaces/nosuch/edit', 'No such workspace.']]) {
      const missing = await h.get(path!, { cookie: cookie.split(';')[0]! });
      expect([path, missing.status]).toEqual([path, 404]);
      expect(await missing.text()).toMatch(new RegExp(`<p>${said!.replace('.', '\\.')} <a href="/">Back to the overview</a></p>`));
    }
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    // Signing in again from the same browser ends the session it carried: one browser, one live session.
    const renewed = await h.post('/login', { password: PASSWORD }, { cookie: cookie.split(';')[0]! });
    expect(renewed.status).toBe(303);
    const next = renewed.headers.getSetCookie().find((c) => c.startsWith('mc_session='))!.split(';')[0]!;
    expect(next).not.toBe(cookie.split(';')[0]);
    expect((await h.get('/', { cookie: next })).status).toBe(200);
    expect((await h.get('/', { cookie: cookie.split(';')[0]! })).status).toBe(303);
  });

  it('marks the cookie Secure (and __Host-) under TLS', async () => {
    h = await dashboardHarness();
    const r = await h.app.request('https://localhost/login', {
      method: 'POST',
      body: new URLSearchParams({ password: PASSWORD }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://localhost' },
    });
    expect(r.headers.getSetCookie()[0]).toMatch(/^__Host-mc_session=.*; Secure/);
  });

  it('refuses a wrong password, a cross-origin login, and too many attempts from one address', async () => {
    h = await dashboardHarness({ loginLimits: { perAddress: 3, global: 100, windowMs: 60_000 } });
    const wrong = await h.post('/login', { password: 'not the password' });
    expect(wrong.status).toBe(400);
    expect(wrong.headers.getSetCookie()).toEqual([]);
    expect(await wrong.text()).toContain('Wrong password.');
    expect((await h.post('/login', { password: PASSWORD }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await h.post('/login', { password: '' })).status).toBe(400);
    expect((await h.post('/login', { password: 'again wrong' })).status).toBe(400);
    const limited = await h.post('/login', { password: PASSWORD });
    expect(limited.status).toBe(429);
    // Until the first of the three attempts leaves the minute's window.
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(55);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(limited.headers.getSetCookie()).toEqual([]);
  });

  it('lets a browser that signed in before log in while its address is locked out by others\' guesses (its device mark)', async () => {
    h = await dashboardHarness({ loginLimits: { perAddress: 3, global: 100, windowMs: 60_000 } });
    const first = await h.post('/login', { password: PASSWORD });
    expect(first.status).toBe(303);
    const mark = first.headers.getSetCookie().find((c) => c.startsWith('mc_device='))!;
    expect(mark).toMatch(/HttpOnly/i);
    expect(mark).toMatch(/SameSite=Strict/i);
    const device = mark.split(';')[0]!;
    // Someone else, from the same address (every client behind a proxy), guesses until the address is locked.
    for (let i = 0; i < 3; i++) expect((await h.post('/login', { password: `guess ${i}` })).status).toBe(400);
    expect((await h.post('/login', { password: PASSWORD })).status).toBe(429);
    // A forged or altered mark is no mark.
    const [id] = device.slice('mc_device='.length).split('.');
    expect((await h.post('/login', { password: PASSWORD }, { cookie: `mc_device=${id}.forged` })).status).toBe(429);
    expect((await h.post('/login', { password: PASSWORD }, { cookie: 'mc_device=made-up.value' })).status).toBe(429);
    // The owner's browser still gets in, and its own guesses meet their own limit.
    expect((await h.post('/login', { password: PASSWORD }, { cookie: device })).status).toBe(303);
    for (let i = 0; i < 3; i++) expect((await h.post('/login', { password: `mine ${i}` }, { cookie: device })).status).toBe(400);
    expect((await h.post('/login', { password: PASSWORD }, { cookie: device })).status).toBe(429);
  });

  it('answers only host names it knows: a page on a name rebound to this address gets 403, even same-origin', async () => {
    const d = (h = await dashboardHarness({ config: { server: { allowedHosts: ['gateway.example.org'] } } }));
    const rebound = 'http://rebind.example:7420';
    const login = (origin: string) => d.app.request(`${origin}/login`, { method: 'POST', body: 'password=guess', headers: { 'content-type': 'application/x-www-form-urlencoded', origin } });
    expect((await login(rebound)).status).toBe(403);
    expect((await d.app.request(`${rebound}/`, { headers: { accept: 'text/html' } })).status).toBe(403);
    // Names that cannot be rebound, and the ones the owner listed, are answered.
    for (const origin of ['http://127.0.0.1:7420', 'http://[::1]:7420', 'http://localhost:7420', 'http://gateway.example.org']) {
      expect((await login(origin)).status).toBe(400);
    }
    // Webhooks (signed) do not rely on the browser's origin: a proxy's public name reaches them, and /health.
    expect((await d.app.request(`${rebound}/webhooks/telegram`, { method: 'POST', body: '{}' })).status).toBe(503);
    expect((await d.app.request(`${rebound}/health`)).status).toBe(200);
  });

  it('refuses state-changing POSTs without the CSRF token, with a wrong one, or from another origin, even with a session', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    for (const path of ACTIONS) {
      expect((await h.post(path, {}, { cookie: s.cookie })).status, `no token: ${path}`).toBe(403);
      expect((await h.post(path, { _csrf: `${s.csrf}x` }, { cookie: s.cookie })).status, `wrong token: ${path}`).toBe(403);
      expect((await h.post(path, { _csrf: s.csrf }, { cookie: s.cookie, origin: 'https://evil.example' })).status, `cross-origin: ${path}`).toBe(403);
      expect((await h.post(path, { _csrf: s.csrf }, { cookie: s.cookie, origin: 'null' })).status, `null origin: ${path}`).toBe(403);
    }
    // No Origin at all: a same-origin Sec-Fetch-Site or Referer is needed instead.
    const bare = (headers: Record<string, string>) =>
      h!.app.request('/audit/verify', { method: 'POST', body: `_csrf=${s.csrf}`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie, ...headers } });
    expect((await bare({})).status).toBe(403);
    expect((await bare({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await bare({ 'sec-fetch-site': 'same-origin' })).status).toBe(303);
    expect((await bare({ referer: `${ORIGIN}/audit` })).status).toBe(303);
    // The JSON chat endpoint takes the token as a header, never from a cookie alone.
    const chat = (headers: Record<string, string>) =>
      h!.app.request('/chat/stream', { method: 'POST', body: JSON.stringify({ assistant: 'default', text: 'hi' }), headers: { 'content-type': 'application/json', cookie: s.cookie, origin: ORIGIN, ...headers } });
    expect((await chat({})).status).toBe(403);
    expect((await chat({ 'x-csrf-token': 'nope' })).status).toBe(403);
    // Logging out ends the session: the old cookie and token are worthless.
    expect((await h.act(s, '/logout', {})).status).toBe(303);
    expect((await h.get('/', { cookie: s.cookie })).status).toBe(303);
    expect((await h.act(s, '/audit/verify', {})).status).toBe(401);
  });

  it('answers a web chat message over 100,000 characters with the notice every connector gives, not a refusal', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const stream = await h.app.request('/chat/stream', {
      method: 'POST',
      body: JSON.stringify({ assistant: 'default', text: `${'word '.repeat(24_000)}END-MARKER` }),
      headers: { 'content-type': 'application/json', cookie: s.cookie, origin: ORIGIN, 'x-csrf-token': s.csrf },
    });
    expect(stream.status).toBe(200);
    const events = await readSse(stream, /event: done/, 15_000);
    expect(events).toMatch(/event: notice\ndata: "Your message is too long \(120,010 characters\)/);
    expect(events).not.toContain('END-MARKER');
    expect(events).not.toContain('event: reply');
    // The page leaves the length to the gateway: a browser cap would cut the text silently instead.
    expect(await (await h.get('/chat', { cookie: s.cookie })).text()).not.toContain('maxlength');
    // Without script, the form's answer page shows the notice once (notices are not kept in the history it lists).
    expect((await h.act(s, '/chat', { assistant: 'default', text: 'z'.repeat(120_000) })).status).toBe(303);
    expect(await (await h.get('/chat?assistant=default', { cookie: s.cookie })).text()).toContain('Your message is too long (120,000 characters)');
  });

  it('answers an oversized or unparsable form with 413 or 400, never a 500', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const big = 'a'.repeat(16 * 1024 + 1);
    expect((await h.post('/login', { password: big })).status).toBe(413);
    expect((await h.act(s, '/governance/access', { identity: big, action: 'allow' })).status).toBe(413);
    const broken = (path: string, cookie?: string) =>
      h!.app.request(path, { method: 'POST', body: '--x\r\nnot a part', headers: { 'content-type': 'multipart/form-data; boundary=x', origin: ORIGIN, ...(cookie ? { cookie } : {}) } });
    for (const r of [await broken('/login'), await broken('/workspaces', s.cookie)]) {
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { message: 'malformed form body' } });
    }
  });

  it('opens the live stream only for a session and a same-origin caller', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const events = (headers: Record<string, string>) => h!.app.request('/events', { headers: { cookie: s.cookie, ...headers } });
    expect((await events({ origin: 'https://evil.example' })).status).toBe(403);
    expect((await events({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await events({})).status).toBe(403);
    const ok = await events({ 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/event-stream');
    const first = await readSse(ok, /event: snapshot\ndata: .*\n\n/);
    expect(JSON.parse(/data: (.*)\n/.exec(first)![1]!)).toMatchObject({ children: [{ name: 'worker', state: 'running' }, { name: 'connector:telegram', state: 'restarting' }] });
  });
});

describe('what pages show', () => {
  it('escapes message text everywhere it renders: history, web chat, pairing names, audit', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    await h.telegram('100', XSS);
    await h.telegram('4242', 'hello', XSS);
    await h.g.store.appendAudit([{ kind: 'test.xss', actor: 'test', subject: XSS, data: { text: XSS } }]);
    const stream = await h.app.request('/chat/stream', {
      method: 'POST',
      body: JSON.stringify({ assistant: 'default', text: XSS }),
      headers: { 'content-type': 'application/json', cookie: s.cookie, origin: ORIGIN, 'x-csrf-token': s.csrf },
    });
    await readSse(stream, /event: done/);
    const channels = await h.g.store.dashboardQueries().channels();
    const pages = ['/conversations', ...channels.map((c) => `/conversations/${c.id}`), '/governance', '/audit', '/audit?kind=test', '/chat'];
    for (const path of pages) {
      const html = await (await h.get(path, { cookie: s.cookie })).text();
      expect(html, path).not.toMatch(/<script>alert|<img src=x|onerror=alert\(1\)>/);
      expect(html, path).not.toContain('<script>');
      expect(html).toMatch(/<script src="\/assets\/dashboard.js" defer=""><\/script>|<script src="\/assets\/dashboard.js" defer><\/script>/);
    }
    const history = await (await h.get(`/conversations/${channels.find((c) => c.conversationId === '100')!.id}`, { cookie: s.cookie })).text();
    expect(history).toContain(XSS_ESCAPED);
    expect(await (await h.get('/chat', { cookie: s.cookie })).text()).toContain(XSS_ESCAPED);
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain(XSS_ESCAPED);
    expect(await (await h.get('/audit?kind=test.xss', { cookie: s.cookie })).text()).toContain(XSS_ESCAPED);
  });

  it('never shows a secret from the vault (nor the password) on any page, stream or asset', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    await h.telegram('100', 'hi there');
    await h.telegram('4242', 'who are you');
    const channels = await h.g.store.dashboardQueries().channels();
    const paths = [...PAGES, ...channels.map((c) => `/conversations/${c.id}`), '/audit?kind=secret', '/assets/dashboard.js', '/assets/dashboard.css'];
    for (const path of paths) {
      const r = await h.get(path, { cookie: s.cookie });
      expect(r.status, path).toBeLessThan(400);
      const text = await r.text();
      expect(text, path).not.toContain(SECRET_VALUE);
      expect(text, path).not.toContain(PASSWORD);
    }
    const live = await readSse(await h.get('/events', { cookie: s.cookie, origin: ORIGIN }), /event: snapshot/);
    expect(live).not.toContain(SECRET_VALUE);
  });
});
