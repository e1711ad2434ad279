import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendRequestError, BackendUnavailableError, type BackendMessage } from '../../../core/backend.js';
import { parseConfig } from '../../../core/config.js';
import { startAnthropicFake } from '../../fakes/anthropic-server.js';
import { backendFrom, conversation, run } from './helpers.js';

let fake: Awaited<ReturnType<typeof startAnthropicFake>>;
beforeEach(async () => {
  fake = await startAnthropicFake();
});
afterEach(async () => {
  await fake.close();
});

const claude = (extra: Record<string, unknown> = {}) =>
  backendFrom({ type: 'anthropic', baseUrl: fake.url, model: 'claude-fake', apiKey: 'secret:ANTHROPIC_KEY', idleTimeoutMs: 400, ...extra }, { 'secret:ANTHROPIC_KEY': 'sk-ant-test' });

describe('Anthropic backend', () => {
  it('streams text deltas and reports usage from message_start and message_delta', async () => {
    fake.script({ kind: 'stream', deltas: ['Bonjour', ', ', '*monde*'], inputTokens: 33, outputTokens: 12 });
    const backend = claude();
    expect(backend.format).toBe('markdown');
    const { chunks, error } = await run(backend, conversation('salut', [{ role: 'user', content: 'avant' }, { role: 'assistant', content: 'oui' }]));
    expect(error).toBeUndefined();
    expect(chunks).toEqual([
      { type: 'delta', text: 'Bonjour' },
      { type: 'delta', text: ', ' },
      { type: 'delta', text: '*monde*' },
      { type: 'usage', inputTokens: 33, outputTokens: 12 },
    ]);
  });

  it('sends the system prompt as `system`, never among the messages, with the configured key', async () => {
    await run(claude({ maxTokens: 321 }), conversation('q'));
    const [req] = fake.messageRequests();
    expect(req!.path).toBe('/v1/messages');
    // This SDK version sends the key as a bearer token; older ones used x-api-key.
    expect(req!.headers['x-api-key'] ?? req!.headers.authorization?.replace(/^Bearer /, '')).toBe('sk-ant-test');
    expect(req!.body).toMatchObject({ model: 'claude-fake', max_tokens: 321, stream: true, system: 'You are terse.' });
    expect(req!.body.messages).toEqual([{ role: 'user', content: 'q' }]);
  });

  it("leaves out a message with no text, which Anthropic refuses (an API caller's assistant turn that only called a tool)", async () => {
    await run(claude(), conversation('and now?', [{ role: 'user', content: 'list files' }, { role: 'assistant', content: '' }]));
    expect(fake.messageRequests()[0]!.body.messages).toEqual([
      { role: 'user', content: 'list files' },
      { role: 'user', content: 'and now?' },
    ]);
  });

  it('keeps to the context budget (after reserving maxTokens for the answer)', async () => {
    const turn = (role: 'user' | 'assistant', i: number): BackendMessage => ({ role, content: `${role}${i}`.padEnd(800, '.') });
    const history = [turn('user', 1), turn('assistant', 1), turn('user', 2), turn('assistant', 2)];
    await run(claude({ maxTokens: 300, contextTokens: 800 }), conversation('now', history));
    const sent = fake.messageRequests()[0]!.body.messages as BackendMessage[];
    expect(sent.map((m) => m.content.slice(0, 10))).toEqual(['user2.....', 'assistant2', 'now']);
  });

  it('maps 429 with retry-after, and 529 overloaded, to unavailable; 400 to a request error', async () => {
    fake.script(
      { kind: 'status', status: 429, headers: { 'retry-after': '3' }, errorType: 'rate_limit_error' },
      { kind: 'status', status: 529, errorType: 'overloaded_error' },
      { kind: 'status', status: 400, errorType: 'invalid_request_error' },
    );
    expect((await run(claude(), conversation())).error).toMatchObject({ name: 'BackendUnavailableError', kind: 'rate_limited', retryAfterMs: 3000 });
    expect((await run(claude(), conversation())).error).toMatchObject({ name: 'BackendUnavailableError', kind: 'server_error', status: 529 });
    const bad = (await run(claude(), conversation())).error;
    expect(bad).toBeInstanceOf(BackendRequestError);
    expect(bad).toMatchObject({ status: 400 });
    expect(fake.messageRequests()).toHaveLength(3); // no retries inside the client
  });

  it('fails an error event mid-stream as unavailable, keeping what arrived', async () => {
    fake.script({ kind: 'error-mid-stream', deltas: ['half'] });
    const { text, error, chunks } = await run(claude(), conversation());
    expect(text).toBe('half');
    expect(error).toMatchObject({ name: 'BackendUnavailableError', kind: 'stream_error' });
    // What the failed attempt cost (message_start's usage) is said before it fails: the budget charges it.
    expect(chunks.at(-1)).toEqual({ type: 'usage', inputTokens: 21, outputTokens: 1 });
  });

  it('fails a malformed event as unavailable', async () => {
    fake.script({ kind: 'malformed', deltas: ['a'] });
    expect((await run(claude(), conversation())).error).toMatchObject({ name: 'BackendUnavailableError', kind: 'malformed' });
  });

  it('abandons a stalled stream after idleTimeoutMs', async () => {
    fake.script({ kind: 'stall', deltas: ['wait'] });
    const { error, ms } = await run(claude({ idleTimeoutMs: 250 }), conversation());
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error).toMatchObject({ kind: 'stalled' });
    expect(ms).toBeLessThan(3_000);
  });

  it('honours the overall timeout when it is shorter than the idle one', async () => {
    fake.script({ kind: 'stall', deltas: [] });
    const { error } = await run(claude({ timeoutMs: 200, idleTimeoutMs: 10_000 }), conversation());
    expect(error).toMatchObject({ name: 'BackendUnavailableError', kind: 'timeout' });
  });

  it('ignores ANTHROPIC_BASE_URL in the environment: only the config says where to go', async () => {
    const saved = process.env.ANTHROPIC_BASE_URL;
    process.env.ANTHROPIC_BASE_URL = 'http://127.0.0.2:9';
    try {
      const { error } = await run(claude(), conversation());
      expect(error).toBeUndefined();
      expect(fake.messageRequests()).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.ANTHROPIC_BASE_URL;
      else process.env.ANTHROPIC_BASE_URL = saved;
    }
  });

  it('refuses an API key over plain http to a non-loopback host, and a literal key', () => {
    expect(() => parseConfig({ backends: { c: { type: 'anthropic', baseUrl: 'http://example.org', model: 'm', apiKey: 'env:K' } } })).toThrow(/backends\.c\.baseUrl/);
    expect(() => parseConfig({ backends: { c: { type: 'anthropic', model: 'm', apiKey: 'sk-ant-literal' } } })).toThrow(/backends\.c\.apiKey/);
    expect(() => parseConfig({ backends: { c: { type: 'anthropic', baseUrl: 'file:///etc', model: 'm', apiKey: 'env:K' } } })).toThrow(/backends\.c\.baseUrl/);
  });

  it('checks reachability cheaply for doctor', async () => {
    await expect(claude().check!(new AbortController().signal)).resolves.toMatch(/reachable/);
  });
});
