import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/http.js';
import { webhookRoutes } from '../../src/http/webhooks.js';

describe('HTTP surface', () => {
  const app = createApp();

  it('answers /health without auth and with nothing private', async () => {
    const r = await app.request('/health');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    // Plain HTTP: HSTS would be ignored, and is not sent.
    expect(r.headers.get('strict-transport-security')).toBeNull();
  });

  it('sends HSTS over HTTPS to a DNS name only: for localhost it would force HTTPS on every other local service', async () => {
    const https = createApp({ https: true });
    const hsts = async (host: string) => (await https.request('/health', { headers: { host } })).headers.get('strict-transport-security');
    expect(await hsts('gateway.example.org')).toBe('max-age=15552000'); // no includeSubDomains
    expect(await hsts('gateway.example.org:7420')).toBe('max-age=15552000');
    for (const host of ['localhost:7420', 'LOCALHOST', 'localhost.', 'app.localhost', '127.0.0.1:7420', '[::1]:7420']) expect(await hsts(host), host).toBeNull();
  });

  it('answers 401 everywhere else until an admin password exists', async () => {
    for (const [method, path] of [['GET', '/'], ['GET', '/v1/models'], ['POST', '/v1/chat/completions'], ['GET', '/api/config'], ['GET', '/health/../admin']]) {
      const r = await app.request(path!, { method: method! });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
  });
});

describe('webhook routes', () => {
  it('hand the raw body and lower-cased headers to the connector, and relay its answer', async () => {
    const seen: Array<{ name: string; body: string; sig?: string }> = [];
    const app = createApp({
      webhooks: async (name, req) => {
        seen.push({ name, body: req.body.toString('utf8'), sig: req.headers['x-slack-signature'] });
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'challenge-ok' };
      },
    });
    const raw = '{"type":"url_verification","challenge":"x"}  ';
    const r = await app.request('/webhooks/slack', { method: 'POST', body: raw, headers: { 'X-Slack-Signature': 'v0=abc' } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('challenge-ok');
    expect(seen).toEqual([{ name: 'slack', body: raw, sig: 'v0=abc' }]);
  });

  it('hold at most 16 MiB of bodies at once, however many senders: past that a busy 503, audited, until some are answered', async () => {
    const waiting: Array<() => void> = [];
    const audited: unknown[] = [];
    const app = createApp({
      webhooks: () => new Promise((resolve) => waiting.push(() => resolve({ status: 200 }))),
      audit: async (entries) => void audited.push(...entries),
    });
    const post = (body: string) => app.request('/webhooks/telegram', { method: 'POST', body, headers: { 'content-length': String(Buffer.byteLength(body)) } });
    const big = 'x'.repeat(1024 * 1024);
    const held = Array.from({ length: 16 }, () => post(big));
    await vi.waitFor(() => expect(waiting).toHaveLength(16));
    const refused = await post('{}');
    expect([refused.status, await refused.json(), refused.headers.get('retry-after')]).toEqual([503, { error: 'busy' }, '5']);
    expect(audited).toEqual([expect.objectContaining({ kind: 'webhook.refused', data: expect.objectContaining({ why: expect.stringMatching(/^busy/) }) })]);
    waiting.shift()!();
    expect((await held[0]!).status).toBe(200);
    // One answered frees its megabyte: small updates fit again, many of them at once.
    const small = Array.from({ length: 200 }, () => post('{"update_id":1}'));
    await vi.waitFor(() => expect(waiting).toHaveLength(15 + 200));
    waiting.splice(0).forEach((answer) => answer());
    expect(new Set((await Promise.all([...held, ...small])).map((r) => r.status))).toEqual(new Set([200]));
  });

  it('count bodies as they arrive, for 10 s at most: senders trickling bytes hold neither the budget nor the route', async () => {
    const audited: Array<{ data?: unknown }> = [];
    const app = webhookRoutes(async () => ({ status: 200 }), async (entries) => void audited.push(...entries), { readDeadlineMs: 300 });
    // Each declares a megabyte, sends ten bytes and stops: sixteen of them used to hold the whole budget.
    const trickle = () => {
      const body = new ReadableStream({ start: (ctrl) => ctrl.enqueue(new Uint8Array(10)) });
      return app.request('/webhooks/telegram', { method: 'POST', body, headers: { 'content-length': String(1024 * 1024) }, duplex: 'half' } as RequestInit);
    };
    const held = Array.from({ length: 32 }, trickle);
    const real = await app.request('/webhooks/telegram', { method: 'POST', body: '{"update_id":1}', headers: { 'content-length': '15' } });
    expect(real.status).toBe(200);
    const cut = await Promise.all(held);
    expect(new Set(cut.map((r) => [r.status, r.headers.get('connection')].join(' ')))).toEqual(new Set(['408 close']));
    expect(audited).toEqual([expect.objectContaining({ data: expect.objectContaining({ why: 'body not all there within 0.3 s (/webhooks/telegram)' }) })]);
  });

  it('give back what a sender held when it goes away mid-body: sixteen such used to shut every larger webhook out for good', async () => {
    const app = webhookRoutes(async () => ({ status: 200 }));
    const abandoned = () => {
      let sent = false;
      // Most of a megabyte arrives, then the connection drops.
      const body = new ReadableStream({
        pull: (ctrl) => (sent ? ctrl.error(new Error('aborted')) : ((sent = true), ctrl.enqueue(new Uint8Array(1024 * 1024 - 10)))),
      });
      return app.request('/webhooks/telegram', { method: 'POST', body, headers: { 'content-length': String(1024 * 1024) }, duplex: 'half' } as RequestInit);
    };
    await Promise.all(Array.from({ length: 16 }, abandoned));
    const update = JSON.stringify({ update_id: 1, text: 'x'.repeat(200_000) });
    expect((await app.request('/webhooks/telegram', { method: 'POST', body: update, headers: { 'content-length': String(update.length) } })).status).toBe(200);
  });

  it('fail closed: 503 when no connector process answers, 413 over 1 MiB, 404 for a bad name', async () => {
    const app = createApp();
    const none = await app.request('/webhooks/telegram', { method: 'POST', body: '{}' });
    expect([none.status, await none.json(), none.headers.get('retry-after')]).toEqual([503, { error: 'connector not running' }, '5']);
    // A connector that runs but is slow (its database locked) is not called "not running".
    const slow = createApp({ webhooks: async () => ({ missing: 'gave no answer within 10 s' }) });
    expect(await (await slow.request('/webhooks/slack', { method: 'POST', body: '{}' })).json()).toEqual({ error: 'connector gave no answer within 10 s' });
    const big = createApp({ webhooks: async () => ({ status: 200 }) });
    const tooBig = await big.request('/webhooks/telegram', { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) });
    // The unread body leaves the connection unusable: the client is told it closes, not left to fail its next request.
    expect([tooBig.status, tooBig.headers.get('connection')]).toEqual([413, 'close']);
    expect((await big.request('/webhooks/..%2Fetc', { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await big.request('/webhooks/telegram', { method: 'GET' })).status).toBe(401);
  });
});
