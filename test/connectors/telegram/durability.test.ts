import { setTimeout as sleep } from 'node:timers/promises';
import { Bot } from 'grammy';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startPoller } from '../../../connectors/telegram/poller.js';
import { startFakeTelegram, type FakeTelegram } from '../../fakes/telegram/server.js';
import { dm, fixture, message, setup, type Env } from './helpers.js';

let env: Env | undefined;
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await env?.close();
  env = undefined;
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

const offsetOf = (e: Env) => e.h.store.getConnectorState('telegram', 'offset');

describe('telegram connector: nothing lost, nothing twice', () => {
  it('answers an update that arrived while the connector was stopped exactly once, resuming from the stored offset', async () => {
    env = await setup();
    const { fake, h } = env;
    const first = dm('before the restart');
    const firstId = fake.push(first);
    await env.replies(first.message.chat.id);
    await h.until(async () => (await offsetOf(env!)) === firstId + 1);

    await h.stopConnector();
    const missed = dm('while you were out');
    const missedId = fake.push(missed);
    await sleep(500);
    expect(fake.sentTo(missed.message.chat.id)).toHaveLength(0);
    expect(fake.pending().map((u) => u.update_id)).toEqual([missedId]);

    const pollsBefore = fake.callsOf('getUpdates').length;
    await h.startConnector();
    const [reply] = await env.replies(missed.message.chat.id);
    expect(reply!.visible).toBe('while you were out');
    // The first poll after the restart asked from the stored offset; nothing was ever dropped.
    expect(fake.callsOf('getUpdates')[pollsBefore]!.payload.offset).toBe(firstId + 1);
    expect(fake.droppedPending).toBe(false);
    expect(fake.callsOf('deleteWebhook')).toHaveLength(0);
    await h.until(async () => (await offsetOf(env!)) === missedId + 1);
    await sleep(500);
    expect(fake.sentTo(missed.message.chat.id)).toHaveLength(1);
    expect(fake.sentTo(first.message.chat.id)).toHaveLength(1);
  });

  it('follows Telegram when its update ids start again below the stored offset: nothing is stuck behind the first 100', async () => {
    env = await setup();
    const { fake, h } = env;
    const first = dm('before');
    const firstId = fake.push(first);
    await env.replies(first.message.chat.id);
    await h.until(async () => (await offsetOf(env!)) === firstId + 1);
    fake.renumber(500);
    const later = Array.from({ length: 120 }, (_, i) => dm(`after ${i}`));
    for (const update of later) fake.push(update);
    await h.until(() => later.every((u) => fake.sentTo(u.message.chat.id).length === 1), 30_000);
    await h.until(async () => (await offsetOf(env!)) === 620);
    expect(fake.pending()).toEqual([]);
  });

  it('gives up a request Telegram never answers, and the queue sends the reply again', async () => {
    env = await setup({ options: { requestTimeoutSeconds: 2, poller: { timeoutSeconds: 1 } } });
    const { fake } = env;
    fake.failNext('sendMessage', 1, { error_code: -1, description: 'lost on the way' });
    const update = dm('are you there?');
    fake.push(update);
    const [reply] = await env.replies(update.message.chat.id, 1, 15_000);
    expect(reply!.visible).toBe('are you there?');
    expect(fake.callsOf('sendMessage').map((c) => c.status)).toEqual([-1, 200]);
  });

  it('a redelivered update (same update_id and message_id, offset lost in a crash) gets one reply', async () => {
    env = await setup();
    const { fake, h } = env;
    const update = dm('only once, please');
    const chat = update.message.chat.id;
    const id = fake.push(update);
    await env.replies(chat);
    await h.until(() => fake.confirmed === id + 1);

    // A crash between publishing and storing the offset: Telegram never got the confirmation and delivers again.
    await h.stopConnector();
    await h.store.setConnectorState('telegram', 'offset', id);
    fake.rewind(id);
    await h.startConnector();
    await h.until(() => fake.confirmed === id + 1);
    // The same message in a new update (a second delivery path) is the same event too.
    fake.push({ ...update });
    await h.until(() => fake.pending().length === 0 && fake.callsOf('getUpdates').length > 3);
    await sleep(800);
    expect(fake.sentTo(chat)).toHaveLength(1);
  });

  it('rejects malformed updates with no crash, audits them, advances past them and keeps answering; an over-long text gets a notice', async () => {
    env = await setup();
    const { fake, h } = env;
    const wrongType = fixture('private-text');
    wrongType.message.chat.id = 'not-a-number';
    const missing = fixture('private-text');
    delete missing.message.from;
    delete missing.message.date;
    const huge = dm('x');
    huge.message.text = 'y'.repeat(150_000);
    const padded = dm('z');
    padded.message.filler = 'p'.repeat(1_200_000);
    const surrogate = dm('broken \ud800 text');
    const ids = [wrongType, missing, padded, surrogate].map((u) => fake.push({ ...u, update_id: undefined }));
    const hugeId = fake.push({ ...huge, update_id: undefined });
    fake.push(fixture('callback-query'));
    fake.push(message('new-chat-members'));
    const good = dm('still here');
    const goodId = fake.push(good);
    const [reply] = await env.replies(good.message.chat.id);
    expect(reply!.visible).toBe('still here');
    await h.until(async () => (await offsetOf(env!)) === goodId + 1);

    const audit = await h.store.auditTail(1_000);
    const rejected = audit.filter((e) => e.kind === 'inbound.rejected').map((e) => e.subject);
    expect(rejected).toEqual(expect.arrayContaining(ids.map((id) => `update:${id}`)));
    expect(audit.filter((e) => e.kind === 'inbound.unsupported').map((e) => (JSON.parse(e.data) as { type: string }).type)).toEqual(
      expect.arrayContaining(['callback_query', 'message:new_chat_participant']),
    );
    expect(rejected).not.toContain(`update:${hugeId}`);
    const [notice] = await env.replies(huge.message.chat.id);
    expect(notice!.visible).toContain('Your message is too long (150,000 characters)');
    // The poller goes on.
    const later = dm('and after that');
    fake.push(later);
    await env.replies(later.message.chat.id);
  });
});

describe('telegram poller: the offset follows publish()', () => {
  let fake: FakeTelegram;
  const state = new Map<string, unknown>();
  const store = {
    appendAudit: async () => undefined,
    getConnectorState: async (_c: string, k: string) => state.get(k),
    setConnectorState: async (_c: string, k: string, v: unknown) => void state.set(k, v),
    listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null,
  };

  it('is not stored or confirmed while publishing fails; the same updates come back until it succeeds', async () => {
    fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const api = new Bot(fake.token, { client: { apiRoot: fake.url } }).api;
    const seen: number[][] = [];
    let failing = true;
    const poller = startPoller(api, { name: 'telegram', store, log: pino({ level: 'silent' }), now: Date.now }, async (updates) => {
      const ids = updates.map((u) => (u as { update_id: number }).update_id);
      seen.push(ids);
      if (failing) throw new Error('queue unavailable');
      return Math.max(...ids) + 1;
    }, { timeoutSeconds: 2, conflictBackoffMs: 1_000, errorBackoffMs: 50, maxBackoffMs: 200 });
    cleanup.push(() => poller.stop());
    const a = fake.push(dm('a'));
    const b = fake.push(dm('b'));
    while (seen.length < 3) await sleep(20);
    expect(state.get('offset')).toBeUndefined();
    expect(fake.confirmed).toBeLessThanOrEqual(a);
    expect(seen.every((ids) => ids.join() === `${a},${b}`)).toBe(true);
    failing = false;
    while (state.get('offset') === undefined) await sleep(20);
    expect(state.get('offset')).toBe(b + 1);
    while (fake.confirmed !== b + 1) await sleep(20);
    await poller.stop();
  });

  it('backs off while publishing fails, where it used to try again every second for as long as it lasted', async () => {
    fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const api = new Bot(fake.token, { client: { apiRoot: fake.url } }).api;
    state.clear();
    const tries: number[] = [];
    const poller = startPoller(api, { name: 'telegram', store, log: pino({ level: 'silent' }), now: Date.now }, async () => {
      tries.push(performance.now());
      throw new Error('database or disk is full');
    }, { timeoutSeconds: 2, conflictBackoffMs: 1_000, errorBackoffMs: 50, maxBackoffMs: 400 });
    cleanup.push(() => poller.stop());
    fake.push(dm('a'));
    while (tries.length < 5) await sleep(20);
    await poller.stop();
    // 50, 100, 200, 400 ms between tries (and whatever a busy host adds), not 50 each time.
    const gaps = tries.slice(1).map((t, i) => t - tries[i]!);
    expect(gaps[3]).toBeGreaterThanOrEqual(390);
  });

  it('waits out the retry_after of a 429 on getUpdates, not its own shorter backoff', async () => {
    fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const api = new Bot(fake.token, { client: { apiRoot: fake.url } }).api;
    state.clear();
    fake.failNext('getUpdates', 1, { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
    // Waiting already: the poll after the 429 is answered at once (the fake records a call when it answers).
    fake.push(dm('a'));
    const poller = startPoller(api, { name: 'telegram', store, log: pino({ level: 'silent' }), now: Date.now }, async (updates) => {
      return Math.max(...updates.map((u) => (u as { update_id: number }).update_id)) + 1;
    }, { timeoutSeconds: 2, conflictBackoffMs: 1_000, errorBackoffMs: 50, maxBackoffMs: 400 });
    cleanup.push(() => poller.stop());
    const polls = () => fake.calls.filter((c) => c.method === 'getUpdates');
    while (polls().length < 2) await sleep(20);
    await poller.stop();
    const [limited, next] = polls();
    expect(limited!.status).toBe(429);
    expect(next!.at - limited!.at).toBeGreaterThanOrEqual(1_000);
  });

  it('says which step failed: updates enqueued whose offset was not saved are not said to be fetched again', async () => {
    fake = await startFakeTelegram();
    cleanup.push(() => fake.close());
    const api = new Bot(fake.token, { client: { apiRoot: fake.url } }).api;
    state.clear();
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void errors.push((JSON.parse(line) as { msg: string }).msg) });
    let offsetFails = 1;
    const failingStore = {
      ...store,
      setConnectorState: async (c: string, k: string, v: unknown) => {
        if (k === 'offset' && offsetFails-- > 0) throw new Error('database is locked');
        return store.setConnectorState(c, k, v);
      },
    };
    const handled: number[] = [];
    const poller = startPoller(api, { name: 'telegram', store: failingStore, log, now: Date.now }, async (updates) => {
      const ids = updates.map((u) => (u as { update_id: number }).update_id);
      handled.push(...ids);
      return Math.max(...ids) + 1;
    }, { timeoutSeconds: 2, conflictBackoffMs: 1_000, errorBackoffMs: 50, maxBackoffMs: 200 });
    cleanup.push(() => poller.stop());
    const a = fake.push(dm('a'));
    while (fake.confirmed !== a + 1) await sleep(20);
    await poller.stop();
    expect(handled).toEqual([a]);
    expect(errors).toEqual(['telegram: could not save the offset; the updates are enqueued (deduped if fetched again after a restart)']);
  });
});
