import { setTimeout as sleep } from 'node:timers/promises';
import { QUOTE_PREFIX } from '../../../connectors/whatsapp/quotes.js';
import { afterEach, describe, expect, it } from 'vitest';
import { delayedPublish } from '../../helpers/connector-harness.js';
import type { ConnectorIO } from '../../../core/connector.js';
import type { ChannelEvent } from '../../../core/event.js';
import { ALICE, ALICE_LID, audited, BOB, fixture, GROUP, live, whatsappGateway, type Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('whatsapp DM round trip', () => {
  it.each([
    ['dm-conversation', 'hello from whatsapp'],
    ['dm-extended', 'see https://example.org please'],
    ['dm-ephemeral', 'this disappears in 7 days'],
    ['dm-view-once', 'look once'],
  ])('answers %s to the sender, typing first, read receipt after publish', async (name, text) => {
    const { h, current } = await whatsappGateway(cleanup);
    const u = fixture(name);
    current().upsert(live(u)); // as baileys emits it: the content a decoded protobuf
    const [sent] = await h.until(() => (current().sent.length ? current().sent : undefined));
    expect(sent).toMatchObject({ jid: ALICE, text, quoted: undefined }); // no quote in a DM
    const composing = current().presence.find((p) => p.type === 'composing');
    expect(composing?.jid).toBe(ALICE);
    expect(composing!.at).toBeLessThanOrEqual(sent!.at);
    await h.until(() => current().presence.some((p) => p.type === 'paused' && p.jid === ALICE));
    expect(current().reads).toEqual([[{ remoteJid: ALICE, id: u.messages[0]!.key.id, fromMe: false }]]);
  });

  it('stores a message before anything else: no typing until it is durably enqueued (baileys has acked it)', async () => {
    const slow = delayedPublish(300);
    const { h, current } = await whatsappGateway(cleanup, {}, {}, slow.wrap);
    current().upsert(live(fixture('dm-conversation')));
    await h.until(() => (current().sent.length ? current().sent : undefined));
    const composing = current().presence.filter((p) => p.type === 'composing');
    expect(composing.length).toBeGreaterThan(0);
    expect(Math.min(...composing.map((p) => p.at))).toBeGreaterThanOrEqual(slow.storedAt()!);
  });

  it('answers in a chat with disappearing messages on with a reply that disappears too', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(live(fixture('dm-ephemeral')));
    await h.until(() => current().sent.length === 1);
    expect(current().sent[0]).toMatchObject({ text: 'this disappears in 7 days', ephemeralExpiration: 604_800 });
    // Kept for replies still queued across a restart.
    await h.until(async () => (await h.store.getConnectorState('whatsapp', `expiration:${ALICE}`)) === 604_800);
    // The chat turned them off: its next message has no expiration, and neither has the reply.
    current().upsert(live(fixture('dm-conversation')));
    await h.until(() => current().sent.length === 2);
    expect(current().sent[1]!.ephemeralExpiration).toBeUndefined();
    await h.until(async () => (await h.store.getConnectorState('whatsapp', `expiration:${ALICE}`)) === null);
  });

  it('sends no read receipt to a sender access does not admit: no sign of life', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    const stranger = fixture('dm-conversation');
    stranger.messages[0]!.key = { ...stranger.messages[0]!.key, remoteJid: '15559990000@s.whatsapp.net', id: '3EB0STRANGER00000001' };
    current().upsert(live(stranger));
    const alice = fixture('dm-conversation');
    current().upsert(live(alice));
    await h.until(() => (current().sent.length ? current().sent : undefined));
    await h.until(() => current().reads.length > 0);
    expect(current().reads.flat().map((k) => k.id)).toEqual([alice.messages[0]!.key.id]);
  });

  it('remembers which number a LID stands for, for later messages that do not say (history sync), and keeps it for after a restart', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('dm-lid'));
    await h.until(() => current().sent.length === 1);
    const later = fixture('dm-lid');
    later.messages[0]!.key = { remoteJid: ALICE_LID, fromMe: false, id: '3EB0LID0000000000002' };
    current().upsert(later);
    await h.until(() => current().sent.length === 2);
    expect(await h.store.getConnectorState('whatsapp', `lid:${ALICE_LID}`)).toBe(ALICE);
    // One person, one session: both messages are the same DM's history.
    const turns = await h.store.auditTail(100);
    expect(turns.filter((e) => e.kind === 'inbound.received').map((e) => e.actor)).toEqual([`whatsapp:${ALICE_LID}`, `whatsapp:${ALICE_LID}`]);
  });

  it('finds a LID from its number, and a number given to someone new does not bring the last owner along', async () => {
    const published: ChannelEvent[] = [];
    const capture = (publish: ConnectorIO['publish']): ConnectorIO['publish'] => async (raw) => {
      const events = await publish(raw);
      published.push(...events);
      return events;
    };
    const { h, current } = await whatsappGateway(cleanup, {}, {}, capture);
    const said = (key: Record<string, unknown>) => {
      const u = fixture('dm-conversation');
      u.messages[0]!.key = { fromMe: false, id: `3EB0ALIAS${published.length}${'0'.repeat(8)}`, ...key };
      current().upsert(u);
      return h.until(() => published.at(-1)?.platformMessageId === u.messages[0]!.key.id && published.at(-1));
    };
    await said({ remoteJid: ALICE_LID, remoteJidAlt: ALICE });
    // Under the number, with nothing said of the LID: the LID WhatsApp named for it is an alias.
    expect((await said({ remoteJid: ALICE })).sender.aliases).toEqual([ALICE_LID]);
    // The number now belongs to someone else's LID: the old LID is no longer anyone's alias, and is forgotten.
    const newcomer = '999999999999999@lid';
    await said({ remoteJid: newcomer, remoteJidAlt: ALICE });
    expect((await said({ remoteJid: ALICE })).sender.aliases).toEqual([newcomer]);
    expect((await said({ remoteJid: ALICE_LID })).sender.aliases).toBeUndefined();
    await h.until(async () => (await h.store.getConnectorState('whatsapp', `lid:${ALICE_LID}`)) === null);
  });

  it('accepts a LID chat and answers it at its LID', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('dm-lid'));
    const [sent] = await h.until(() => (current().sent.length ? current().sent : undefined));
    expect(sent).toMatchObject({ jid: ALICE_LID, text: 'hello from a lid' });
  });

  it('keeps media as metadata with the caption as text', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('dm-document'));
    await h.until(() => current().sent.length === 1);
    expect(current().sent[0]!.text).toBe('the report');
  });
});

describe('whatsapp groups and what is never answered', () => {
  it('ignores a group message without a mention; answers a mention (jid or LID) in the group, quoting it', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('group-plain'));
    const mention = fixture('group-mention');
    current().upsert(live(mention));
    await h.until(() => current().sent.length === 1);
    await sleep(200);
    expect(current().sent).toHaveLength(1);
    const sent = current().sent[0]!;
    expect(sent).toMatchObject({ jid: GROUP, text: '@15550001111 what is the capital of France?' });
    expect(sent.quoted?.key).toEqual({ remoteJid: GROUP, id: '3EB0GROUP00000000002', fromMe: false, participant: BOB });
    expect(sent.quoted?.message).toMatchObject({ extendedTextMessage: { text: '@15550001111 what is the capital of France?', contextInfo: { mentionedJid: ['15550001111@s.whatsapp.net'] } } });
    current().upsert(fixture('group-lid-mention'));
    await h.until(() => current().sent.length === 2);
    expect(current().sent[1]!.quoted?.key.participant).toBe('55512345678901@lid');
  });

  it('a group reply still queued when the connector restarts quotes its message all the same, and the kept quote goes once used', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    // Sends fail (the connection drops under them), then the connector process stops with the reply still queued.
    const failing = 1_000;
    current().failSends = failing;
    current().upsert(live(fixture('group-mention')));
    await h.until(async () => current().failSends < failing && (await h.store.listConnectorState('whatsapp', QUOTE_PREFIX)).length === 1);
    // Sealed like every credential the connector keeps: the message's text is not in the row as written.
    expect(JSON.stringify(await h.store.listConnectorState('whatsapp', QUOTE_PREFIX))).not.toContain('capital of France');
    await h.stopConnector();
    await h.startConnector();
    current().open();
    await h.until(() => current().sent.length === 1);
    const sent = current().sent[0]!;
    expect(sent.quoted?.key).toEqual({ remoteJid: GROUP, id: '3EB0GROUP00000000002', fromMe: false, participant: BOB });
    expect(sent.quoted?.message).toEqual({ conversation: '@15550001111 what is the capital of France?' });
    await h.until(async () => (await h.store.listConnectorState('whatsapp', QUOTE_PREFIX)).length === 0);
  });

  it('ignores status broadcasts and its own messages; audits reactions and revokes as unsupported', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    for (const name of ['status', 'from-me', 'reaction', 'protocol-revoke']) current().upsert(fixture(name));
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    await sleep(200);
    expect(current().sent.map((s) => s.text)).toEqual(['hello from whatsapp']);
    const unsupported = (await audited(h, 'inbound.unsupported')).map((e) => JSON.parse(e.data).type);
    expect(unsupported).toEqual(['reactionMessage', 'protocolMessage']);
  });

  it('normalizes an edit (edited: true) and never answers it', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('edit'));
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    await sleep(300);
    expect(current().sent.map((s) => s.text)).toEqual(['hello from whatsapp']);
    const edits = await h.until(async () => ((await audited(h, 'inbound.edit_ignored')).length ? audited(h, 'inbound.edit_ignored') : undefined));
    expect(edits[0]!.subject).toBe(`whatsapp:${ALICE}:3EB0C431D5D9B2A1F0E4:edited:3EB0EDIT000000000001`);
    expect(await audited(h, 'inbound.rejected')).toEqual([]);
  });

  it('rejects malformed upserts and messages without crashing, and keeps answering; an over-long text gets a notice', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(null);
    current().upsert({ type: 'notify', messages: [{ key: { remoteJid: 'not a jid', id: 'x' } }] });
    current().upsert({ type: 'bogus', messages: [] });
    const huge = fixture('dm-conversation', { id: '3EB0HUGE' });
    huge.messages[0]!.message = { conversation: 'x'.repeat(100_001) };
    current().upsert(huge);
    current().upsert(fixture('dm-conversation'));
    // The over-long message gets a notice, in order, before the answer to the next one.
    await h.until(() => current().sent.length === 2);
    expect(current().sent.map((s) => s.text)).toEqual([expect.stringContaining('Your message is too long (100,001 characters)'), 'hello from whatsapp']);
    expect(await audited(h, 'inbound.rejected')).toHaveLength(3);
  });
});

describe('whatsapp outbound', () => {
  it('splits a 70,000-character reply into parts within 65,536, in order, at least 1 s apart', async () => {
    const { h, current } = await whatsappGateway(cleanup, { spacingMs: 1_000 });
    const long = Array.from({ length: 7_000 }, (_, i) => `word${String(i).padStart(5, '0')}`).join(' ').slice(0, 70_000);
    const u = fixture('dm-conversation');
    u.messages[0]!.message = { conversation: long };
    current().upsert(u);
    await h.until(() => current().sent.length === 2, 15_000);
    const parts = current().sent;
    for (const p of parts) expect(p.text.length).toBeLessThanOrEqual(65_536);
    expect(parts.map((p) => p.text).join(' ')).toBe(long);
    expect(parts[1]!.at - parts[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('sends a part again under the same message id when WhatsApp took it but its answer was lost', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().loseAnswers = 1;
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 2);
    const [first, again] = current().sent;
    // The chat already holds that id: the repeat is the same message, not a second one.
    expect(first!.messageId).toMatch(/^3EB0[0-9A-F]{18}$/);
    expect(again!.messageId).toBe(first!.messageId);
  });

  it('retries a send that failed while the socket was closing, and sends the reply once', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().failSends = 2;
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    await sleep(300);
    expect(current().sent.map((s) => s.text)).toEqual(['hello from whatsapp']);
    expect(current().failSends).toBe(0);
  });
});
