import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, ACCOUNT_UUID, rateLimit } from '../../fakes/signal/daemon.js';
import { ALICE_UUID, BOB_UUID, fixture, GROUP_ID, message } from '../../fakes/signal/fixtures.js';
import { delayedPublish } from '../../helpers/connector-harness.js';
import { audited, notingStored, signalGateway, type Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe.each(['tcp', 'http'] as const)('signal DM round trip over %s', (transport) => {
  it('stores a message before anything else: no typing (nor any read) until it is durably enqueued', async () => {
    const slow = delayedPublish(300);
    const { daemon, h } = await signalGateway(cleanup, transport, {}, {}, slow.wrap);
    await h.until(() => daemon.clients === 1);
    daemon.push(message('dm-text', { text: 'store me first' }));
    await h.until(() => (daemon.sends.length ? daemon.sends : undefined));
    expect(slow.storedAt()).toBeDefined();
    expect(daemon.typing.length).toBeGreaterThan(0);
    // signal-cli never sends a message twice: a crash before the store must be the only way to lose one.
    expect(Math.min(...daemon.typing.map((c) => c.at))).toBeGreaterThanOrEqual(slow.storedAt()!);
  });

  it('stores each read at once, not behind what an earlier read still does after its store (a crash would lose it)', async () => {
    // The first message's access check (for its typing) hangs until released: the second must be stored meanwhile.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const stored: string[] = [];
    const { daemon, h } = await signalGateway(
      cleanup,
      transport,
      {},
      {},
      notingStored(stored),
      (access) => ({ overrides: async (ids) => (await held, access.overrides(ids)) }),
    );
    await h.until(() => daemon.clients === 1);
    daemon.push(message('dm-text', { text: 'first read' }));
    await h.until(() => stored.includes('first read') || undefined);
    daemon.push(message('dm-text', { text: 'second read' }));
    await h.until(() => stored.includes('second read') || undefined, 3_000);
    release();
    const sends = await h.until(() => (daemon.sends.length >= 2 ? daemon.sends : undefined));
    expect(sends.map((s) => s.message)).toEqual(['first read', 'second read']);
  });

  it('answers a DM to the sender uuid, typing first, and names the sent message by the own uuid', async () => {
    const { daemon, h } = await signalGateway(cleanup, transport);
    await h.until(() => daemon.clients === 1);
    daemon.push(message('dm-text', { text: 'hello over ' + transport }));
    const [sent] = await h.until(() => (daemon.sends.length ? daemon.sends : undefined));
    expect(sent).toMatchObject({ recipient: [ALICE_UUID], message: 'hello over ' + transport });
    // No quote in a DM: the conversation is the two of them.
    expect(sent!.quoteTimestamp).toBeUndefined();
    const typing = daemon.typing.find((c) => JSON.stringify(c.params.recipient) === JSON.stringify([ALICE_UUID]));
    expect(typing?.params.account).toBe(ACCOUNT);
    expect(daemon.calls.findIndex((c) => c.method === 'sendTyping')).toBeLessThan(daemon.calls.findIndex((c) => c.method === 'send'));
    expect(new Set(daemon.calls.map((c) => c.transport))).toEqual(new Set([transport]));
    // The reply ends the indicator: no refresh (every 200 ms here) after the send.
    const sentAt = daemon.calls.find((c) => c.method === 'send')!.at;
    await sleep(600);
    expect(daemon.typing.filter((c) => c.at > sentAt)).toEqual([]);
    const sentRows = await h.until(async () => (await audited(h, 'outbound.sent')).at(0));
    expect(JSON.parse(sentRows.data)).toMatchObject({ conversation: `signal:${ALICE_UUID}`, parts: 1 });
    const checks = await h.connector.check!();
    expect(checks.map((c) => [c.what, c.ok])).toEqual([
      ['signal daemon', true],
      ['signal account', true],
      ['signal inbound', true],
    ]);
    expect(checks[1]!.detail).toContain(ACCOUNT_UUID);
    expect(checks[2]!.detail).toMatch(/last message 20\d\d-/);
  });
});

describe('signal reads at start-up', () => {
  it('with its own uuid known from an earlier run, stores what the daemon flushes on connect before start-up calls are answered', async () => {
    const stored: string[] = [];
    const { daemon, h } = await signalGateway(cleanup, 'tcp', {}, {}, notingStored(stored));
    await h.until(() => daemon.clients === 1);
    await h.stopConnector();
    await h.until(() => daemon.clients === 0);
    daemon.push(message('dm-text', { text: 'sent while down' }));
    // A daemon slow to answer: start-up waits 1.5 s for it, the backlog must not.
    daemon.delayAnswers('version', 1_500);
    const started = Date.now();
    const restart = h.startConnector();
    await h.until(() => stored.includes('sent while down') || undefined, 5_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    await restart;
    const [sent] = await h.until(() => (daemon.sends.length ? daemon.sends : undefined));
    expect(sent!.message).toBe('sent while down');
  });
});

describe('signal groups and what is never answered', () => {
  it('ignores a group message without a mention; answers one with a mention in the group, quoting it', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    daemon.push(message('group-plain'));
    const mention = message('group-mention');
    daemon.push(mention);
    await h.until(() => daemon.sends.length === 1);
    await sleep(300);
    expect(daemon.sends).toEqual([
      {
        groupId: GROUP_ID,
        message: 'what is the capital of France?',
        quoteTimestamp: mention.params.envelope.timestamp,
        quoteAuthor: BOB_UUID,
        timestamp: expect.any(Number),
      },
    ]);
    const halts = (await audited(h, 'plug.halted')).map((e) => JSON.parse(e.data).reason);
    expect(halts).toEqual(['not-addressed']);
    // A reply to one of the assistant's own messages addresses it too.
    daemon.push(message('group-quote-bot'));
    await h.until(() => daemon.sends.length === 2);
    expect(daemon.sends[1]).toMatchObject({ groupId: GROUP_ID, message: 'and of Italy?', quoteAuthor: ALICE_UUID });
  });

  it('never answers sync messages, typing or receipts, and counts them', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    for (const name of ['sync-sent', 'typing', 'receipt', 'dm-reaction'] as const) daemon.push(fixture(name));
    daemon.push(message('dm-text', { text: 'after the noise' }));
    await h.until(() => daemon.sends.length === 1);
    await sleep(300);
    expect(daemon.sends.map((s) => s.message)).toEqual(['after the noise']);
    const inbound = (await h.connector.check!()).find((c) => c.what === 'signal inbound');
    expect(inbound?.detail).toContain('ignored: sync 1, typing 1, receipt 1, reaction 1');
  });
});

describe('signal outbound', () => {
  it('splits a 5,000-byte reply with emoji into parts of at most 2,000 UTF-8 bytes, in order', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    let text = '';
    for (let i = 0; Buffer.byteLength(text) < 5_000; i++) text += `word${i} 🐒 banana 🍌 `;
    text = text.trim();
    daemon.push(message('dm-text', { text }));
    await h.until(() => daemon.sends.length >= 3 && daemon.sends);
    await sleep(300);
    const parts = daemon.sends.map((s) => s.message);
    expect(parts.length).toBe(3);
    for (const p of parts) expect(Buffer.byteLength(p, 'utf8')).toBeLessThanOrEqual(2_000);
    expect(parts.join('').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
    expect(parts.join(' ')).not.toContain('\uFFFD');
    const [row] = await h.until(async () => { const r = await audited(h, 'outbound.sent'); return r.length ? r : undefined; });
    expect(JSON.parse(row!.data).parts).toBe(3);
  });

  it('waits out a -5 rate limit for retryAfterSeconds and sends once', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    daemon.failNextSend(rateLimit(1));
    daemon.push(message('dm-text', { text: 'patience' }));
    await h.until(() => daemon.sends.length === 1);
    const attempts = daemon.calls.filter((c) => c.method === 'send');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(daemon.sends.map((s) => s.message)).toEqual(['patience']);
  });

  it('a -5 wait too long to do inline is still waited out by the retries, never sent into', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp', { maxRateLimitWaitMs: 500 });
    await h.until(() => daemon.clients === 1);
    daemon.failNextSend(rateLimit(3));
    daemon.push(message('dm-text', { text: 'patience, handed back' }));
    await h.until(() => daemon.sends.length === 1, 15_000);
    const [limited, ...later] = daemon.calls.filter((c) => c.method === 'send');
    expect(later).toHaveLength(1);
    expect(later[0]!.at - limited!.at).toBeGreaterThanOrEqual(2_900);
    expect(daemon.sends.map((s) => s.message)).toEqual(['patience, handed back']);
  });

  it('a restart during a -5 wait still waits out what is left of it', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    daemon.failNextSend(rateLimit(4));
    daemon.push(message('dm-text', { text: 'patience, again' }));
    await h.until(() => daemon.calls.some((c) => c.method === 'send'));
    await h.stopConnector();
    await h.startConnector();
    await h.until(() => daemon.sends.length === 1, 15_000);
    const [limited, ...later] = daemon.calls.filter((c) => c.method === 'send');
    for (const call of later) expect(call.at - limited!.at).toBeGreaterThanOrEqual(3_900);
    expect(daemon.sends.map((s) => s.message)).toEqual(['patience, again']);
    // Nothing had reached anyone before the restart: the send is not audited as a resend.
    const sent = await h.until(async () => (await audited(h, 'outbound.sent')).at(0));
    expect(JSON.parse(sent.data)).toMatchObject({ resent: false });
  });
});

describe('signal delivery exactly once', () => {
  it('answers a duplicated notification once', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    const n = message('dm-text', { text: 'only once' });
    daemon.push(n);
    daemon.push(structuredClone(n));
    await h.until(() => daemon.sends.length === 1);
    await sleep(500);
    expect(daemon.sends.map((s) => s.message)).toEqual(['only once']);
  });

  it.each(['tcp', 'http'] as const)('stores a backlog read at once in one write, not one message at a time (%s): a crash after the read loses none', async (transport) => {
    // signal-cli flushes what waited for it in one go when a client connects; once read, it exists nowhere else.
    const batches: number[] = [];
    const slow = (publish: Parameters<NonNullable<Parameters<typeof signalGateway>[4]>>[0]) => async (events: unknown[]) => {
      batches.push(events.length);
      await sleep(100);
      return publish(events);
    };
    const { daemon, h } = await signalGateway(cleanup, transport, {}, {}, slow);
    await h.until(() => daemon.clients === 1);
    // 15: under the default rate limit of 20 messages a minute per sender.
    for (let i = 0; i < 15; i++) daemon.push(message('dm-text', { text: `backlog ${i}` }));
    await h.until(() => daemon.sends.length === 15, 20_000);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(15);
    // One message per write took 15 writes, each waiting for the one before: here, what was read meanwhile goes together.
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(daemon.sends.map((s) => s.message)).toEqual(Array.from({ length: 15 }, (_, i) => `backlog ${i}`));
  });

  it('shows typing in a group for an addressed message read together with an unaddressed one before it', async () => {
    // Slow stores: what arrives meanwhile is read into one batch, plain chatter first, then the mention.
    const slow = delayedPublish(200);
    const { daemon, h } = await signalGateway(cleanup, 'tcp', {}, {}, slow.wrap);
    await h.until(() => daemon.clients === 1);
    daemon.push(message('dm-text', { text: 'keeps the store busy' }));
    await sleep(50);
    daemon.push(message('group-plain'));
    daemon.push(message('group-mention'));
    await h.until(() => daemon.sends.some((s) => s.groupId === GROUP_ID));
    expect(daemon.typing.filter((c) => c.params.groupId === GROUP_ID).length).toBeGreaterThan(0);
  });

  it('answers what arrived while the connector was stopped, once, in order, when it connects', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp');
    await h.until(() => daemon.clients === 1);
    await h.stopConnector();
    await h.until(() => daemon.clients === 0);
    daemon.push(message('dm-text', { text: 'while you were out 1' }));
    daemon.push(message('dm-text', { text: 'while you were out 2' }));
    await sleep(200);
    expect(daemon.sends).toEqual([]);
    await h.startConnector();
    await h.until(() => daemon.sends.length === 2);
    // A second restart must not answer them again.
    await h.stopConnector();
    await h.startConnector();
    await h.until(() => daemon.clients === 1);
    await sleep(500);
    expect(daemon.sends.map((s) => s.message)).toEqual(['while you were out 1', 'while you were out 2']);
  });
});
