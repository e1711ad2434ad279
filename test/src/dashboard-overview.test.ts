import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../core/redactor.js';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram/server.js';
import { makeEvent } from '../helpers/tmp.js';
import { dashboardHarness, SECRET_VALUE, type Harness } from './dashboard-harness.js';

let h: Harness | undefined;
let telegram: FakeTelegram | undefined;
afterEach(async () => {
  await h?.stop();
  await telegram?.close();
  h = undefined;
  telegram = undefined;
});

const knowsTheSecret = () => {
  const r = new Redactor();
  r.addSecret(SECRET_VALUE);
  return r;
};
/** The text of one cell of a process row, as the server rendered it. */
const cell = (page: string, process: string, col: string) =>
  new RegExp(`<tr data-process="${process}">.*?<td data-col="${col}"[^>]*>([^<]*)</td>`).exec(page)?.[1];

describe('overview charts', () => {
  it('serves uPlot from the gateway, only to a session, at a URL named by its content, under the strict CSP', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const page = await h.get('/', { cookie: s.cookie });
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    const html = await page.text();
    const js = /<script src="(\/assets\/uplot-[0-9a-f]{16}\.js)" integrity="(sha256-[A-Za-z0-9+/=]+)" defer/.exec(html);
    const css = /<link rel="stylesheet" href="(\/assets\/uplot-[0-9a-f]{16}\.css)" integrity="(sha256-[A-Za-z0-9+/=]+)"/.exec(html);
    expect(js).not.toBeNull();
    expect(css).not.toBeNull();
    // Nothing inline, nothing from elsewhere.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc="\/assets\/)/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    // Both charts' regions, with their figures in words.
    expect(html).toContain('<figure class="chart" aria-label="Throughput"><h2>Throughput</h2><div class="plot" id="chart-throughput" aria-hidden="true"></div>');
    expect(html).toContain('<figure class="chart" aria-label="Reply latency">');

    for (const [, path, integrity] of [js!, css!]) {
      expect((await h.app.request(path!)).status, path).toBe(401);
      expect((await h.get(path!)).status, `${path} asked for as a page`).toBe(401);
      const r = await h.get(path!, { cookie: s.cookie });
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
      expect(r.headers.get('content-type')).toMatch(path!.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const body = await r.text();
      expect(`sha256-${createHash('sha256').update(body).digest('base64')}`).toBe(integrity);
      if (path!.endsWith('.js')) expect(body).toContain('uPlot');
    }
    const other = await dashboardHarness({ password: null });
    try {
      expect((await other.get(js![1]!)).status).toBe(401);
    } finally {
      await other.stop();
    }
  });

  it('counts a message in and its reply out, with the latency from when the connector received it', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const live = await h.liveSnapshots(s);
    const first = await live.next();
    for (const k of ['t', 'in', 'out', 'p50', 'p95'] as const) expect(first.series[k]).toHaveLength(60);
    expect(first.series.t[1]! - first.series.t[0]!).toBe(5);
    expect(first.recent).toEqual({ in: 0, out: 0, replies: 0, p50: null, p95: null });

    // Received 1.5 s before it reaches the queue: the latency counts from the connector's receipt.
    await h.g.publish([makeEvent({ receivedAt: new Date(Date.now() - 1_500).toISOString(), text: 'how long?' })]);
    await h.g.waitForReplies(1);
    let latest = first;
    for (let i = 0; i < 10 && latest.recent.replies === 0; i++) latest = await live.next();
    await live.close();
    expect(latest.recent).toMatchObject({ in: 1, out: 1, replies: 1 });
    expect(latest.recent.p50).toBeGreaterThanOrEqual(1_500);
    expect(latest.recent.p50).toBeLessThan(10_000);
    expect(latest.recent.p95).toBe(latest.recent.p50);
    expect(latest.series.in.reduce((a, b) => a + b, 0)).toBe(1);
    expect(latest.series.p50.filter((v) => v !== null)).toEqual([latest.recent.p50]);
    expect(latest.children.find((c) => c.name === 'connector:telegram')).toMatchObject({ in: 1, out: 1 });
    expect(latest.children.find((c) => c.name === 'worker')).toMatchObject({ in: null, out: null });
  });
});

describe('overview processes', () => {
  it("shows each process's last error beside its state, redacted and cut short, and updates it live", async () => {
    h = await dashboardHarness({ redactor: knowsTheSecret() });
    const crashed = (subject: string, data: Record<string, unknown>, kind = 'process.crashed') => h!.g.store.appendAudit([{ kind, actor: 'supervisor', subject, data }]);
    await crashed('connector:telegram', { code: 1, signal: null, error: 'an older failure' });
    await crashed('connector:telegram', { code: 1, signal: null, error: `Telegram refused the bot token (getMe: 401 Unauthorized ${SECRET_VALUE}): check connectors.telegram.token${' and more'.repeat(60)}` });
    // A credential shape is masked even by a dashboard whose redactor does not know the value.
    await crashed('worker', { reason: 'secret X: 123456789:AAH0123456789abcdefghijklmnopqrstuvw was refused' }, 'process.failed_to_start');
    const s = await h.login();

    const page = await (await h.get('/', { cookie: s.cookie })).text();
    expect(page).not.toContain(SECRET_VALUE);
    expect(page).not.toContain('an older failure');
    const shown = cell(page, 'connector:telegram', 'error')!;
    expect(shown).toMatch(/^Telegram refused the bot token \(getMe: 401 Unauthorized \[secret\]\): check connectors\.telegram\.token and more/);
    expect(shown).toHaveLength(300);
    expect(shown.endsWith('…')).toBe(true);
    expect(cell(page, 'connector:telegram', 'errorAt')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(cell(page, 'connector:telegram', 'state')).toBe('restarting');
    expect(cell(page, 'worker', 'error')).toBe('could not start: secret X: [redacted] was refused');

    const live = await h.liveSnapshots(s);
    expect((await live.next()).children.find((c) => c.name === 'connector:telegram')!.lastError!.text).toBe(shown);
    await crashed('connector:telegram', { code: null, signal: 'SIGKILL' });
    let text = '';
    for (let i = 0; i < 5 && text !== 'killed by SIGKILL'; i++) text = (await live.next()).children.find((c) => c.name === 'connector:telegram')!.lastError!.text;
    await live.close();
    expect(text).toBe('killed by SIGKILL');
  });
});

describe("a connector's doctor from the dashboard", () => {
  it('runs only on a same-origin POST with the CSRF token, once at a time, and shows the verdict lines without a secret', async () => {
    telegram = await startFakeTelegram(SECRET_VALUE);
    // A platform that quotes the token back in an error: the verdict must not.
    telegram.failNext('getWebhookInfo', 1, { error_code: 400, description: `Bad Request: token ${SECRET_VALUE} is not allowed here` });
    h = await dashboardHarness({ telegramApiRoot: telegram.url, redactor: knowsTheSecret() });
    const s = await h.login();
    const overview = await (await h.get('/', { cookie: s.cookie })).text();
    expect(overview).toContain('<a href="/connectors/telegram">connector:telegram</a>');
    expect(overview).toContain('<form method="post" action="/connectors/telegram/doctor" class="inline">');
    expect(overview).toContain('aria-label="Run doctor for telegram"');

    const path = '/connectors/telegram/doctor';
    expect((await h.post(path, { _csrf: s.csrf })).status, 'no session').toBe(401);
    expect((await h.post(path, {}, { cookie: s.cookie })).status, 'no CSRF token').toBe(403);
    expect((await h.post(path, { _csrf: 'wrong' }, { cookie: s.cookie })).status, 'wrong CSRF token').toBe(403);
    expect((await h.post(path, { _csrf: s.csrf }, { cookie: s.cookie, origin: 'https://evil.example' })).status, 'cross-origin').toBe(403);
    expect((await h.app.request(path, { method: 'GET', headers: { cookie: s.cookie } })).status).not.toBe(200);
    expect(telegram.callsOf('getMe')).toHaveLength(0);
    expect(await (await h.get('/connectors/telegram', { cookie: s.cookie })).text()).toContain('Not checked since the gateway started.');

    // Two clicks at once make one run.
    const [a, b] = await Promise.all([h.act(s, path, {}), h.act(s, path, {})]);
    for (const r of [a, b]) {
      expect(r.status).toBe(303);
      expect(r.headers.get('location')).toBe('/connectors/telegram');
    }
    expect(telegram.callsOf('getMe')).toHaveLength(1);
    const page = await (await h.get('/connectors/telegram', { cookie: s.cookie })).text();
    expect(page).not.toContain(SECRET_VALUE);
    expect(page).toContain('Doctor for telegram: 1 of 3 checks failed.');
    expect(page).toContain('<ul class="verdicts" aria-label="Doctor verdict for telegram">');
    const lines = [...page.matchAll(/<li class="(ok|bad)"><strong>(ok|FAIL)<\/strong> ([^<]*)<\/li>/g)].map((m) => `${m[2]} ${m[3]}`);
    expect(lines).toEqual([
      'ok connector telegram token: authorized as @monkeyclaw_test_bot (id 7012345678)',
      'FAIL connector telegram webhook: getWebhookInfo failed: getWebhookInfo: 400 Bad Request: token [secret] is not allowed here',
      'ok connector telegram polling: no update received yet',
    ]);
    expect(page).toContain('State: <strong class="state-restarting">restarting</strong>');

    // Straight after, a click shows that verdict again instead of calling the platform.
    expect((await h.act(s, path, {})).status).toBe(303);
    expect(await (await h.get('/connectors/telegram', { cookie: s.cookie })).text()).toContain('Doctor for telegram ran moments ago (1 of 3 checks failed)');
    expect(telegram.callsOf('getMe')).toHaveLength(1);

    expect((await h.act(s, '/connectors/slack/doctor', {})).status, 'not enabled').toBe(404);
    expect((await h.get('/connectors/nope', { cookie: s.cookie })).status).toBe(404);
  });

  it('offers no doctor button where the gateway has no way to run one', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    expect(await (await h.get('/', { cookie: s.cookie })).text()).not.toContain('Run doctor');
    expect((await h.act(s, '/connectors/telegram/doctor', {})).status).toBe(404);
  });
});
