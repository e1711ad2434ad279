import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../core/backend.js';
import { parseConfig } from '../../core/config.js';
import { draftStream, streamDraftLimit, type DraftOptions } from '../../core/drafts.js';
import { parseChannelEvent, type Reply } from '../../core/event.js';
import { EditRefusedError, outboundHandler, type SendOptions } from '../../core/outbound.js';
import { RetryLaterError } from '../../core/queue.js';
import { halt, NO_OPTIONS, type Context, type Plug } from '../../core/plug.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { talk, type RuntimeAssistant } from '../../core/talk.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';

afterEach(() => vi.useRealTimers());

function recorder(overrides: Partial<DraftOptions> = {}) {
  const published: string[] = [];
  const stream = draftStream({
    intervalMs: 1_000,
    now: Date.now,
    shape: async (text) => text,
    publish: async (text) => void published.push(text),
    onError: (e) => {
      throw e;
    },
    ...overrides,
  });
  return { stream, published };
}

describe('draftStream', () => {
  it('shows the first piece at once, then the text so far at most once per interval', async () => {
    vi.useFakeTimers();
    const { stream, published } = recorder();
    stream.onDelta('a', 'plain');
    await vi.advanceTimersByTimeAsync(0);
    expect(published).toEqual(['a']);
    for (const piece of ['b', 'c', 'd']) {
      stream.onDelta(piece, 'plain');
      await vi.advanceTimersByTimeAsync(200);
    }
    expect(published).toEqual(['a']); // 600 ms in: still the first
    await vi.advanceTimersByTimeAsync(400);
    expect(published).toEqual(['a', 'abcd']);
    stream.onDelta('e', 'plain');
    await stream.close();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(published).toEqual(['a', 'abcd']); // closed: the final reply carries 'e'
  });

  it('starts over after a restart and never sends the same text twice', async () => {
    vi.useFakeTimers();
    const { stream, published } = recorder({ shape: async (t) => t.toUpperCase() });
    stream.onDelta('ab', 'plain');
    await vi.advanceTimersByTimeAsync(0);
    stream.onRestart();
    stream.onDelta('AB'.toLowerCase(), 'plain'); // shapes to what is already shown
    await vi.advanceTimersByTimeAsync(1_000);
    stream.onDelta('c', 'plain');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(published).toEqual(['AB', 'ABC']);
  });

  it('stops once a draft fills the platform message: later ones could only repeat its first part', async () => {
    vi.useFakeTimers();
    const { stream, published } = recorder({ maxChars: 5 });
    stream.onDelta('abc', 'plain');
    await vi.advanceTimersByTimeAsync(0);
    stream.onDelta('defg', 'plain');
    await vi.advanceTimersByTimeAsync(1_000);
    stream.onDelta('hij', 'plain');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(published).toEqual(['abc', 'abcdefg']);
    // Where the worker takes that limit from: the connector's maxMessageChars, else its platform's; none on a surface.
    const config = parseConfig({ connectors: { telegram: { enabled: false, maxMessageChars: 1_000 } } });
    expect([streamDraftLimit(config, 'telegram', 'telegram'), streamDraftLimit(config, 'discord', 'discord'), streamDraftLimit(config, 'web', 'web')]).toEqual([1_000, 2_000, undefined]);
  });

  it('stops for the rest of the turn when shaping refuses a draft', async () => {
    vi.useFakeTimers();
    const { stream, published } = recorder({ shape: async (t) => (t.includes('x') ? undefined : t) });
    stream.onDelta('a', 'plain');
    await vi.advanceTimersByTimeAsync(0);
    stream.onDelta('x', 'plain');
    await vi.advanceTimersByTimeAsync(1_000);
    stream.onDelta('b', 'plain');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(published).toEqual(['a']);
  });

  it('close waits for the draft being handed on, so the final reply queues behind it', async () => {
    let release!: () => void;
    const order: string[] = [];
    const { stream } = recorder({
      publish: async () => {
        await new Promise<void>((r) => (release = r));
        order.push('draft');
      },
    });
    stream.onDelta('a', 'plain');
    await sleep(5);
    const closed = stream.close().then(() => order.push('closed'));
    release();
    await closed;
    expect(order).toEqual(['draft', 'closed']);
  });
});

/** A backend that streams its pieces with a pause between them. */
const slowBackend = (pieces: string[], pauseMs: number): Backend => ({
  name: 'slow',
  format: 'markdown',
  async *stream() {
    for (const text of pieces) {
      await sleep(pauseMs);
      yield { type: 'delta', text };
    }
  },
});

describe('talk: drafts pass the response and outbound plugs', () => {
  it('shapes drafts with text plugs, skips counting plugs on drafts, and stops drafts a plug halts', async () => {
    const counted: string[] = [];
    const shout: Plug = { name: 'shout', options: NO_OPTIONS, init: () => ({}), call: (ctx: Context) => ({ ...ctx, reply: { ...ctx.reply!, text: ctx.reply!.text.toUpperCase() } }) };
    const count: Plug = { name: 'count', skipsDrafts: true, options: NO_OPTIONS, init: () => ({}), call: (ctx: Context) => (counted.push(ctx.reply!.text), ctx) };
    const gate: Plug = { name: 'gate', options: NO_OPTIONS, init: () => ({}), call: (ctx: Context) => (ctx.draft && ctx.reply!.text.includes('STOP') ? halt(ctx, 'gate', 'draft held') : ctx) };
    const config = parseConfig({});
    const assistant: RuntimeAssistant = {
      name: 'default',
      config: config.assistants.default!,
      pipelines: { inbound: [], request: [], response: [{ plug: shout, state: {} }], outbound: [{ plug: count, state: {} }, { plug: gate, state: {} }] },
      backends: [slowBackend(['one ', 'two ', 'stop ', 'four'], 30)],
    };
    const drafts: string[] = [];
    const store = { ensureSession: async () => ({ channel: {} as never, session: { id: 1, channelId: 1, workspaceId: 'default', scope: 'dm:1' } }), history: async () => [] };
    const result = await talk(
      { store, assistantFor: () => assistant, now: Date.now, drafts: { intervalMs: 1, publish: async (t) => void drafts.push(t), onError: () => undefined } },
      parseChannelEvent(makeEvent({ text: 'go' })),
    );
    expect(drafts.length).toBeGreaterThanOrEqual(2);
    expect(drafts.every((d) => d === d.toUpperCase() && !d.includes('STOP'))).toBe(true);
    expect(drafts.at(-1)).toBe('ONE TWO ');
    expect(counted).toEqual(['ONE TWO STOP FOUR']); // once, for the final reply
    expect(result.reply?.text).toBe('ONE TWO STOP FOUR');
  });
});

describe('outboundHandler: streamed replies', () => {
  const tmp = tempDir('mc-drafts-');
  afterAll(() => tmp.remove());

  async function rig(edits: boolean, behaviour: (reply: Reply, options: SendOptions) => string[] | Error | Promise<string[]> = () => ['m1']) {
    const store = new SqliteStore(join(tmp.dir, `${Math.random()}.db`));
    await store.migrate();
    const calls: Array<{ kind: string; text: string; options: SendOptions }> = [];
    const errors: unknown[] = [];
    const handler = outboundHandler(
      store,
      'test',
      {
        edits,
        send: async (reply, _signal, options = {}) => {
          const out = await behaviour(reply, options);
          calls.push({ kind: reply.kind, text: reply.text, options });
          if (out instanceof Error) throw out;
          return out;
        },
      },
      { onDraftError: (e) => void errors.push(e) },
    );
    const address = { platform: 'telegram', account: 'telegram', conversation: { id: '1', kind: 'dm' as const } };
    const job = (key: string, text: string, kind: Reply['kind'], extra: Partial<Reply>) => ({
      id: key,
      queue: 'outbound:telegram',
      partition: 'p',
      attempt: 1,
      payload: { v: 1, idempotencyKey: key, eventId: 'e1', address, text, format: 'plain', kind, stream: 'e1:stream', ...extra },
    });
    const run = (key: string, text: string, kind: Reply['kind'] = 'draft', extra: Partial<Reply> = {}) => handler(job(key, text, kind, extra), new AbortController().signal);
    return { store, calls, errors, run };
  }

  it('posts the first draft, edits it with later drafts, and the final reply replaces it', async () => {
    const r = await rig(true, (_reply, o) => (o.replace ? [o.replace] : ['m1']));
    await r.run('d1', 'He');
    await r.run('d2', 'Hello');
    await r.run('final', 'Hello world', 'reply');
    expect(r.calls).toEqual([
      { kind: 'draft', text: 'He', options: { firstPartOnly: true } },
      { kind: 'draft', text: 'Hello', options: { replace: 'm1', firstPartOnly: true } },
      { kind: 'reply', text: 'Hello world', options: { replace: 'm1' } },
    ]);
    expect(await r.store.sentMessageIds('final')).toEqual(['m1']);
    await r.run('final', 'Hello world', 'reply'); // redelivered: never sent twice
    expect(r.calls).toHaveLength(3);
  });

  it('skips drafts due sooner than their pace after the last one shown: those queued behind a 429 do not go out back to back', async () => {
    const r = await rig(true, (_reply, o) => (o.replace ? [o.replace] : ['m1']));
    const paced = { paceMs: 60_000 };
    await r.run('d1', 'He', 'draft', paced);
    // Queued while d1 sat out the platform's wait, they come at once now.
    await r.run('d2', 'Hel', 'draft', paced);
    await r.run('d3', 'Hell', 'draft', paced);
    // The final reply is never skipped; a stream after it starts afresh.
    await r.run('final', 'Hello', 'reply');
    await r.run('d4', 'Again', 'draft', paced);
    expect(r.calls.map((c) => [c.kind, c.text])).toEqual([
      ['draft', 'He'],
      ['reply', 'Hello'],
      ['draft', 'Again'],
    ]);
    // Without a pace (an older worker's drafts), each is shown.
    const unpaced = await rig(true, (_reply, o) => (o.replace ? [o.replace] : ['m1']));
    await unpaced.run('d1', 'He');
    await unpaced.run('d2', 'Hel');
    expect(unpaced.calls).toHaveLength(2);
  });

  it('shows the last of the drafts it held back once their pace allows, unless the final reply came first', async () => {
    const r = await rig(true, (_reply, o) => (o.replace ? [o.replace] : ['m1']));
    const paced = { paceMs: 200 };
    await r.run('d1', 'He', 'draft', paced);
    await r.run('d2', 'Hel', 'draft', paced);
    await r.run('d3', 'Hell', 'draft', paced);
    expect(r.calls.map((c) => c.text)).toEqual(['He']);
    // The backend pauses here (a long tool call): the text shown must not stay two drafts behind.
    await vi.waitFor(() => expect(r.calls.map((c) => c.text)).toEqual(['He', 'Hell']), { timeout: 2_000, interval: 10 });
    await sleep(250);
    expect(r.calls).toHaveLength(2);
    // Held back again, then overtaken by the final reply: never shown after it.
    await r.run('d4', 'Hello', 'draft', paced);
    await r.run('d5', 'Hello,', 'draft', paced);
    await r.run('final', 'Hello, you', 'reply');
    await sleep(150);
    expect(r.calls.map((c) => [c.kind, c.text])).toEqual([
      ['draft', 'He'],
      ['draft', 'Hell'],
      ['draft', 'Hello'],
      ['reply', 'Hello, you'],
    ]);
  });

  it('the final reply waits for a draft still being shown, so it lands last', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = await rig(true, async (reply, o) => {
      if (reply.text === 'Hel') await gate;
      return [o.replace ?? 'm1'];
    });
    await r.run('d1', 'He', 'draft', { paceMs: 40 });
    await r.run('d2', 'Hel', 'draft', { paceMs: 40 }); // held back, then shown by its timer: that send hangs until released
    await sleep(60);
    const final = r.run('final', 'Hello', 'reply');
    await sleep(30);
    expect(r.calls.map((c) => c.text)).toEqual(['He']);
    release();
    await final;
    expect(r.calls.map((c) => c.text)).toEqual(['He', 'Hel', 'Hello']);
  });

  it('a draft that comes while a held-back one is being sent waits a pace after that send ends', async () => {
    const sends: Array<{ text: string; start: number; end: number }> = [];
    const r = await rig(true, async (reply, o) => {
      const start = performance.now();
      if (reply.text === 'Hel') await sleep(400); // a 429 waited out inline
      sends.push({ text: reply.text, start, end: performance.now() });
      return [o.replace ?? 'm1'];
    });
    const paced = { paceMs: 200 };
    await r.run('d1', 'He', 'draft', paced);
    await r.run('d2', 'Hel', 'draft', paced); // held ~200 ms, then its send takes 400 ms
    await sleep(250); // that send is under way
    await r.run('d3', 'Hell', 'draft', paced);
    await vi.waitFor(() => expect(sends).toHaveLength(3), { timeout: 2_000, interval: 10 });
    expect(sends.map((x) => x.text)).toEqual(['He', 'Hel', 'Hell']);
    expect(sends[2]!.start - sends[1]!.end).toBeGreaterThanOrEqual(190);
  });

  it('never forgets a stream whose draft is being sent, however many others come meanwhile', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = await rig(true, async (reply, o) => {
      if (reply.text === 'Hel') await gate;
      return [o.replace ?? 'm1'];
    });
    const job = (key: string, text: string, kind: Reply['kind'], stream: string) => r.run(key, text, kind, { stream, paceMs: 40 });
    void job('d1', 'Hel', 'draft', 's0'); // shown at once; its send hangs
    await sleep(10);
    // More streams than the pacer keeps: the oldest go, but not the one being sent.
    for (let i = 1; i <= 1_001; i++) await job(`x${i}`, 'x', 'draft', `s${i}`);
    const final = job('final', 'Hello', 'reply', 's0');
    await sleep(30);
    release();
    await final;
    expect(r.calls.filter((c) => c.text !== 'x').map((c) => c.text)).toEqual(['Hel', 'Hello']);
  }, 60_000);

  it('a draft the platform asked to wait for is tried again once the wait is over, not before', async () => {
    let refusals = 1;
    const r = await rig(true, (reply, o) => {
      if (reply.text === 'Hell' && refusals-- > 0) return new RetryLaterError(300, 'asked to wait');
      return [o.replace ?? 'm1'];
    });
    const paced = { paceMs: 50 };
    await r.run('d1', 'He', 'draft', paced);
    await sleep(60);
    await r.run('d2', 'Hell', 'draft', paced); // refused: the platform asks for 300 ms
    expect(r.errors).toHaveLength(1);
    // The backend pauses: nothing newer comes, so that same text is tried again once the wait is over, not before.
    await sleep(200);
    expect(r.calls.map((c) => c.text)).toEqual(['He', 'Hell']);
    await vi.waitFor(() => expect(r.calls.map((c) => c.text)).toEqual(['He', 'Hell', 'Hell']), { timeout: 2_000, interval: 10 });
    await sleep(400);
    expect(r.calls).toHaveLength(3);
  });

  it('a newer draft that comes during a wait the platform asked for waits it out too', async () => {
    const starts: Array<[string, number]> = [];
    let refusals = 1;
    const r = await rig(true, (reply, o) => {
      starts.push([reply.text, performance.now()]);
      if (reply.text === 'Hell' && refusals-- > 0) return new RetryLaterError(300, 'asked to wait');
      return [o.replace ?? 'm1'];
    });
    const paced = { paceMs: 50 };
    await r.run('d1', 'He', 'draft', paced);
    await sleep(60);
    await r.run('d2', 'Hell', 'draft', paced); // refused: quiet for 300 ms
    await sleep(100);
    await r.run('d3', 'Hello', 'draft', paced); // due by its pace, not by the platform's wait
    await vi.waitFor(() => expect(starts.map(([t]) => t)).toEqual(['He', 'Hell', 'Hello']), { timeout: 2_000, interval: 10 });
    expect(starts[2]![1] - starts[1]![1]).toBeGreaterThanOrEqual(290);
  });

  it('drops drafts for a connector that cannot edit, and sends the final reply as a new message', async () => {
    const r = await rig(false);
    await r.run('d1', 'He');
    await r.run('final', 'Hello', 'reply');
    expect(r.calls).toEqual([{ kind: 'reply', text: 'Hello', options: {} }]);
  });

  it('a failing draft is reported and acknowledged, never retried; a refused edit of the final posts it anew', async () => {
    let n = 0;
    const r = await rig(true, (_reply, o) => {
      n++;
      if (n === 2) return new Error('platform down');
      if (o.replace) return new EditRefusedError('message deleted');
      return [`m${n}`];
    });
    await r.run('d1', 'He');
    await expect(r.run('d2', 'Hell')).resolves.toBeUndefined();
    expect(r.errors).toHaveLength(1);
    await r.run('final', 'Hello', 'reply');
    expect(r.calls.map((c) => c.options)).toEqual([{ firstPartOnly: true }, { replace: 'm1', firstPartOnly: true }, { replace: 'm1' }, {}]);
    expect(await r.store.sentMessageIds('final')).toEqual(['m4']);
  });
});
