import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, BackendRequest } from '../../core/backend.js';
import { parseConfig } from '../../core/config.js';
import { InvalidPayloadError, parseChannelEvent } from '../../core/event.js';
import { eventPartition, isOwnerDecision } from '../../core/session-worker.js';
import { Redactor } from '../../core/redactor.js';
import { startTestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { makeEvent } from '../helpers/tmp.js';

/** Replies with every user line it was shown, so a test can see exactly what history reached the model. */
class RecallBackend implements Backend {
  readonly name = 'recall';
  readonly format = 'plain' as const;
  async *stream(req: BackendRequest) {
    yield { type: 'delta' as const, text: req.messages.filter((m) => m.role === 'user').map((m) => m.content).join(' | ') };
  }
}

const open = { access: { dm: 'open', groups: 'open' } };
let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('session worker', () => {
  it('answers through the full path with the echo reply, addressed to the originating conversation', async () => {
    gw = await startTestGateway({ config: open });
    const [event] = await gw.publish([makeEvent({ text: 'ping <b>&amp;', conversation: { id: '7', kind: 'dm', threadId: 't9' } })]);
    const [reply] = await gw.waitForReplies(1);
    expect(reply).toMatchObject({ text: 'ping <b>&amp;', format: 'plain', eventId: event!.id, replyTo: event!.platformMessageId });
    expect(reply!.address).toEqual({ platform: 'telegram', account: 'bot1', conversation: { id: '7', kind: 'dm', threadId: 't9' } });
    // The send is recorded (with its audit entry) once the platform answered, a moment after the reply went out.
    const kinds = await until(async () => {
      const k = (await gw!.store.auditTail(20)).map((e) => e.kind);
      return k.includes('outbound.sent') && k;
    });
    expect(kinds).toEqual(expect.arrayContaining(['inbound.received', 'backend.call', 'outbound.sent']));
    expect((await gw.store.verifyAudit()).ok).toBe(true);
  });

  it('dates the question in history when the connector took it, and the answer when it was stored', async () => {
    gw = await startTestGateway({ config: open });
    const asked = new Date(Date.now() - 5_000).toISOString();
    await gw.publish([makeEvent({ text: 'when?', conversation: { id: '8', kind: 'dm' }, receivedAt: asked })]);
    await gw.waitForReplies(1);
    const queries = gw.store.dashboardQueries();
    const [user, assistant] = await queries.channelHistory((await queries.channelByConversation('telegram', '8'))!);
    expect(user).toMatchObject({ role: 'user', text: 'when?', at: asked });
    expect(assistant!.role).toBe('assistant');
    expect(Date.parse(assistant!.at) - Date.parse(asked)).toBeGreaterThanOrEqual(5_000);
  });

  it('tells the sender when the backend answered nothing visible, instead of staying silent', async () => {
    const blank: Backend = {
      name: 'blank',
      format: 'markdown',
      async *stream() {
        yield { type: 'delta' as const, text: ' \n\n ' };
      },
    };
    gw = await startTestGateway({ config: open, backend: blank });
    await gw.publish([makeEvent({ text: 'say nothing' })]);
    const [reply] = await gw.waitForReplies(1);
    expect(reply).toMatchObject({ kind: 'notice', text: 'The assistant answered with nothing to show.' });
  });

  it('answers a backend reply holding a lone UTF-16 surrogate with U+FFFD in its place, never dead-lettering the reply', async () => {
    // Split across deltas, a pair stays whole; alone (a model cut off mid-character), it is replaced.
    const broken: Backend = {
      name: 'broken',
      format: 'plain',
      async *stream() {
        yield { type: 'delta' as const, text: 'bad \ud800 text \ud83d' };
        yield { type: 'delta' as const, text: '\ude00 end \udc00' };
      },
    };
    gw = await startTestGateway({ config: open, backend: broken });
    await gw.publish([makeEvent({ text: 'go' })]);
    const [reply] = await gw.waitForReplies(1);
    expect(reply).toMatchObject({ kind: 'reply', text: 'bad \ufffd text \u{1f600} end \ufffd' });
    expect((await gw.store.auditTail(50)).map((e) => e.kind)).not.toContain('outbound.rejected');
  });

  it('never shows one DM conversation to another, while a group shares one session', async () => {
    gw = await startTestGateway({ config: open, backend: new RecallBackend() });
    const dm = (sender: string, text: string) => makeEvent({ conversation: { id: sender, kind: 'dm' }, sender: { id: sender, isBot: false }, text });
    await gw.publish([dm('alice', 'alice secret')]);
    await gw.waitForReplies(1);
    await gw.publish([dm('bob', 'bob asks')]);
    const replies = await gw.waitForReplies(2);
    expect(replies[1]!.text).toBe('bob asks');
    expect(replies[1]!.text).not.toContain('alice');

    const group = (sender: string, text: string) =>
      makeEvent({ conversation: { id: '-100', kind: 'group' }, sender: { id: sender, isBot: false }, text, mentionsBot: true });
    await gw.publish([group('alice', 'first')]);
    await gw.waitForReplies(3);
    await gw.publish([group('bob', 'second')]);
    expect((await gw.waitForReplies(4))[3]!.text).toBe('first | second');
  });

  it('puts a conversation the config file names in its workspace when first seen, everything else in default', async () => {
    gw = await startTestGateway({ config: { ...open, channels: { 'telegram:-100': { workspace: 'team' } } } });
    await gw.publish([makeEvent({ conversation: { id: '-100', kind: 'group' }, mentionsBot: true, text: 'hi team' })]);
    await gw.publish([makeEvent({ conversation: { id: 'solo', kind: 'dm' }, text: 'hi' })]);
    await gw.waitForReplies(2);
    const channels = await gw.store.dashboardQueries().channels();
    expect(channels.map((c) => [c.conversationId, c.workspaceId]).sort()).toEqual([['-100', 'team'], ['solo', 'default']]);
  });

  it('answers a redelivered platform message once', async () => {
    gw = await startTestGateway({ config: open });
    const first = makeEvent({ platformMessageId: '555' });
    // The same platform message again under a new event id, as a reconnecting connector would produce it.
    await gw.publish([first]);
    await gw.waitForReplies(1);
    await gw.publish([{ ...first, id: crypto.randomUUID() }]);
    await gw.publish([makeEvent({ text: 'next' })]);
    await gw.waitForReplies(2);
    await sleep(200);
    expect(gw.sent.map((r) => r.text)).toEqual(['hello', 'next']);
  });

  it('rejects and audits malformed events at the connector boundary, enqueuing the valid neighbours', async () => {
    gw = await startTestGateway({ config: open });
    const bad = { ...makeEvent(), text: 42 };
    await expect(gw.publish([bad, makeEvent({ text: 'fine' })])).rejects.toBeInstanceOf(InvalidPayloadError);
    expect((await gw.waitForReplies(1))[0]!.text).toBe('fine');
    const rejected = (await gw.store.auditTail(50)).filter((e) => e.kind === 'inbound.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.data).toContain('text');
  });

  it('dead-letters a malformed job that reached the queue anyway, and audits it', async () => {
    gw = await startTestGateway({ config: open });
    await gw.queue.enqueue('inbound', [{ id: 'raw', partition: 'x', payload: { v: 1, text: '\uD800' } }]);
    for (let i = 0; i < 200 && (await gw.queue.depth('inbound')).dead === 0; i++) await sleep(10);
    expect((await gw.queue.deadLetters())[0]).toMatchObject({ jobId: 'raw', attempts: 1 });
    expect((await gw.store.auditTail(10)).map((e) => e.kind)).toContain('inbound.rejected');
  });

  it('is silent to an unknown DM sender by default, and stores nothing of it', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist', allow: ['telegram:4242'] } } });
    await gw.publish([makeEvent({ sender: { id: '5353', isBot: false }, conversation: { id: '5353', kind: 'dm' }, text: 'let me in' })]);
    await gw.publish([makeEvent({ sender: { id: '4242', isBot: false }, conversation: { id: '4242', kind: 'dm' }, text: 'hi' })]);
    await gw.waitForReplies(1);
    await sleep(100);
    expect(gw.sent.map((r) => r.text)).toEqual(['hi']);
    const halted = (await gw.store.auditTail(50)).find((e) => e.kind === 'plug.halted');
    expect(halted?.actor).toBe('plug:access');
  });
});

describe('session worker: what is never answered, and what gets a notice', () => {
  it('tells an admitted sender an over-long message was too long, and a stranger nothing', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist', allow: ['telegram:4242'] } } });
    const tooLong = { text: '', tooLongChars: 150_000 };
    await gw.publish([makeEvent({ sender: { id: '5353', isBot: false }, conversation: { id: '5353', kind: 'dm' }, ...tooLong })]);
    await gw.publish([makeEvent({ sender: { id: '4242', isBot: false }, conversation: { id: '4242', kind: 'dm' }, ...tooLong })]);
    const [notice] = await gw.waitForReplies(1);
    await sleep(100);
    expect(gw.sent).toHaveLength(1);
    expect(notice).toMatchObject({
      kind: 'notice',
      address: { conversation: { id: '4242' } },
      text: 'Your message is too long (150,000 characters): the limit is 100,000. Please send it in shorter parts.',
    });
    const audit = await gw.store.auditTail(50);
    expect(audit.filter((e) => e.kind === 'inbound.too_long').map((e) => e.actor)).toEqual(['telegram:4242']);
  });

  it('never answers a bot, even through a pipeline without the access plug', async () => {
    gw = await startTestGateway({ config: { ...open, assistants: { default: { backend: 'echo', pipelines: { inbound: [] } } } } });
    await gw.publish([makeEvent({ sender: { id: 'robot', isBot: true }, conversation: { id: 'robot', kind: 'dm' }, text: 'beep' })]);
    await gw.publish([makeEvent({ sender: { id: 'human', isBot: false }, conversation: { id: 'human', kind: 'dm' }, text: 'hello' })]);
    await gw.waitForReplies(1);
    await sleep(100);
    expect(gw.sent.map((r) => r.text)).toEqual(['hello']);
    expect((await gw.store.auditTail(50)).map((e) => e.kind)).toContain('inbound.bot_ignored');
  });
});

describe('the control queue', () => {
  it('orders a conversation as one whatever connector account its events come through (two terminal chats share one session)', () => {
    const on = (account: string, conversation: string) => parseChannelEvent(makeEvent({ platform: 'loopback', account, conversation: { id: conversation, kind: 'dm' } }));
    expect(eventPartition(on('term-a', 'local'))).toBe(eventPartition(on('term-b', 'local')));
    expect(eventPartition(on('term-a', 'local'))).not.toBe(eventPartition(on('term-a', 'local:other')));
  });

  it("takes an owner's approval decisions, and nothing anyone else sends", () => {
    const control = isOwnerDecision(parseConfig({ access: { owners: ['telegram:1'] } }));
    const from = (id: string, text: string) => parseChannelEvent(makeEvent({ sender: { id, isBot: false }, conversation: { id, kind: 'dm' }, text }));
    expect(control(from('1', '/approve K7QXM2'))).toBe(true);
    expect(control(from('1', '/reject@monkeyclaw_bot k7qxm2 '))).toBe(true);
    // Anyone else's stays in its conversation's order, and so does an owner's ordinary message.
    expect(control(from('2', '/approve K7QXM2'))).toBe(false);
    expect(control(from('1', 'please /approve K7QXM2'))).toBe(false);
    expect(control(from('1', '/approve'))).toBe(false);
  });
});

describe('streamed drafts', () => {
  it('queues no draft that redaction held back whole (it may be the start of a secret): an empty edit is refused', async () => {
    class Pausing implements Backend {
      readonly name = 'pausing';
      readonly format = 'plain' as const;
      async *stream() {
        yield { type: 'delta' as const, text: 'Restart1.' };
        await sleep(700); // a pause long enough for a draft of what came so far
        yield { type: 'delta' as const, text: ' And the rest of it.\n' };
      }
    }
    const config = { ...open, connectors: { telegram: { enabled: false, token: 'env:TELEGRAM_TOKEN', streamEdits: true, streamEditMs: 250 } } };
    gw = await startTestGateway({ config, backend: new Pausing(), redactor: new Redactor() });
    await gw.publish([makeEvent({ text: 'go', account: 'telegram' })]);
    await gw.waitForReplies(1);
    expect(gw.sent[0]!.text).toBe('Restart1. And the rest of it.\n');
    expect(gw.drafts.length).toBeGreaterThan(0);
    expect(gw.drafts.filter((d) => !d.text.trim())).toEqual([]);
  });
});
