import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseMessage, parseUpsert, plain, type ParseContext } from '../../../connectors/whatsapp/parse.js';
import { ALICE, ALICE_LID, BOB, decoded, fixture, GROUP, live } from './helpers.js';

const ctx: ParseContext = {
  account: 'whatsapp',
  self: { ids: new Set(['15550001111@s.whatsapp.net', '98765432109876@lid']) },
  assistant: 'helper',
  now: () => Date.parse('2026-01-01T00:00:00Z'),
};

function parseUpsertOk(name: string) {
  const u = parseUpsert(fixture(name));
  if (!u.ok) throw new Error(u.issues.join('; '));
  return u.upsert.messages[0]!;
}

function parse(name: string, shape: (u: ReturnType<typeof fixture>) => unknown = (u) => u) {
  const u = parseUpsert(shape(fixture(name)));
  if (!u.ok) throw new Error(u.issues.join('; '));
  return parseMessage(u.upsert.messages[0]!, ctx);
}
const event = (name: string) => {
  const p = parse(name);
  if (p.kind !== 'event') throw new Error(`${name}: ${p.kind}`);
  return p.event;
};

afterEach(() => void vi.restoreAllMocks());

describe('whatsapp messages.upsert to ChannelEvent', () => {
  it('maps a DM: conversation and sender are the chat jid, name from pushName, key id as platform id', () => {
    expect(event('dm-conversation')).toMatchObject({
      id: `whatsapp:${ALICE}:3EB0C431D5D9B2A1F0E4`,
      platform: 'whatsapp',
      account: 'whatsapp',
      conversation: { id: ALICE, kind: 'dm' },
      sender: { id: ALICE, name: 'Alice', isBot: false },
      text: 'hello from whatsapp',
      mentionsBot: false,
      edited: false,
      assistant: 'helper',
      platformMessageId: '3EB0C431D5D9B2A1F0E4',
    });
  });

  it('reads a quote of the bot (participant = own jid) as replyTo.toBot', () => {
    expect(event('dm-extended').replyTo).toEqual({ messageId: '3EB0SENT0001', toBot: true });
  });

  it('keeps the LID as the id, with the number WhatsApp gives as an alias (access rules under either apply)', () => {
    expect(event('dm-lid')).toMatchObject({ conversation: { id: ALICE_LID, kind: 'dm' }, sender: { id: ALICE_LID, aliases: [ALICE] } });
    // Without the alternate address the LID is all there is, unless an earlier message said which number it is.
    const hidden = (aliases?: Map<string, string>) => {
      const u = parseUpsert({ ...fixture('dm-lid'), messages: fixture('dm-lid').messages.map((m) => ({ ...m, key: { ...m.key, remoteJidAlt: undefined } })) });
      if (!u.ok) throw new Error(u.issues.join('; '));
      return parseMessage(u.upsert.messages[0]!, { ...ctx, ...(aliases ? { aliases } : {}) });
    };
    expect(hidden()).toMatchObject({ kind: 'event', event: { sender: { id: ALICE_LID } } });
    expect(hidden()).not.toMatchObject({ event: { sender: { aliases: expect.anything() } } });
    expect(hidden(new Map([[ALICE_LID, ALICE]]))).toMatchObject({ kind: 'event', event: { sender: { id: ALICE_LID, aliases: [ALICE] } }, alias: undefined });
    // And the other way: a message under the number finds the LID.
    expect(parseMessage(parseUpsertOk('dm-conversation'), { ...ctx, aliases: new Map([[ALICE, ALICE_LID]]) })).toMatchObject({ event: { sender: { id: ALICE, aliases: [ALICE_LID] } } });
  });

  it('unwraps view-once and document-with-caption; media as metadata, Long and string sizes as numbers', () => {
    expect(event('dm-view-once')).toMatchObject({ text: 'look once', attachments: [{ kind: 'image', mimeType: 'image/jpeg', size: 48213 }] });
    expect(event('dm-document')).toMatchObject({ text: 'the report', attachments: [{ kind: 'file', name: 'report.pdf', mimeType: 'application/pdf', size: 204800 }] });
  });

  it('groups: the participant is the sender; a mention of the own jid or LID addresses the bot', () => {
    expect(event('group-plain')).toMatchObject({ conversation: { id: GROUP, kind: 'group' }, sender: { id: BOB }, mentionsBot: false });
    expect(event('group-mention')).toMatchObject({ sender: { id: BOB, name: 'Bob' }, mentionsBot: true });
    // Bob by his LID, with his number as an alias: a deny of his number holds here too.
    expect(event('group-lid-mention')).toMatchObject({ sender: { id: '55512345678901@lid', aliases: [BOB] }, mentionsBot: true });
  });

  it('ignores status, own messages; reactions and revokes are unsupported; an edit is edited', () => {
    expect(parse('status')).toEqual({ kind: 'ignored', reason: 'status' });
    expect(parse('from-me')).toEqual({ kind: 'ignored', reason: 'own' });
    expect(parse('reaction')).toEqual({ kind: 'unsupported', type: 'reactionMessage' });
    expect(parse('protocol-revoke')).toEqual({ kind: 'unsupported', type: 'protocolMessage' });
    expect(event('edit')).toMatchObject({ edited: true, text: 'hello, edited', platformMessageId: '3EB0C431D5D9B2A1F0E4:edited:3EB0EDIT000000000001' });
  });

  it('marks official bots as bots in either jid form, and ignores our own jid or LID even without fromMe', () => {
    const from = (participant: string) => (u: ReturnType<typeof fixture>) => ((u.messages[0]!.key.participant = participant), u);
    for (const bot of ['13135550002@c.us', '13135550002@s.whatsapp.net']) {
      const p = parse('group-mention', from(bot));
      expect(p.kind === 'event' && p.event.sender).toEqual({ id: '13135550002@s.whatsapp.net', name: 'Bob', isBot: true });
    }
    expect(event('group-mention').sender.isBot).toBe(false);
    // A bot writing under a LID is still a bot: WhatsApp's alternate address (its number) says so.
    const underLid = parse('group-mention', (u) => ((u.messages[0]!.key = { ...u.messages[0]!.key, participant: '55500000000001@lid', participantAlt: '13135550002@s.whatsapp.net' }), u));
    expect(underLid.kind === 'event' && underLid.event.sender).toMatchObject({ id: '55500000000001@lid', isBot: true });
    expect(parse('group-mention', from('15550001111@s.whatsapp.net'))).toEqual({ kind: 'ignored', reason: 'own' });
    expect(parse('group-mention', from('98765432109876@lid'))).toEqual({ kind: 'ignored', reason: 'own' });
  });

  it('reads an edit wrapped in editedMessage as an edit', () => {
    const wrapped = (u: ReturnType<typeof fixture>) => {
      const m = u.messages[0]!;
      m.message = { editedMessage: { message: m.message } };
      return u;
    };
    const p = parse('edit', wrapped);
    expect(p.kind === 'event' && p.event).toMatchObject({ edited: true, text: 'hello, edited' });
  });

  it('rejects a group message without participant and an envelope that is not an upsert', () => {
    const u = fixture('group-plain');
    delete u.messages[0]!.key.participant;
    const p = parseUpsert(u);
    expect(p.ok && parseMessage(p.upsert.messages[0]!, ctx)).toMatchObject({ kind: 'rejected' });
    expect(parseUpsert({ type: 'notify', messages: 'x' })).toMatchObject({ ok: false });
    expect(parseUpsert({ type: 'notify', messages: [{ key: { remoteJid: ALICE, id: '' } }] })).toMatchObject({ ok: false });
  });

  it.each(['dm-conversation', 'dm-extended', 'dm-ephemeral', 'dm-view-once', 'dm-document', 'dm-lid', 'group-mention', 'group-lid-mention', 'edit', 'reaction', 'protocol-revoke'])(
    '%s parses the same from what baileys emits: protobuf instances, Longs and bytes',
    (name) => {
      // Each parse makes its fixture afresh, stamped with now: one clock for all, or a second boundary between two
      // of them tells them apart.
      vi.spyOn(Date, 'now').mockReturnValue(Date.now());
      // The quoted content keeps the shape it came in (bytes, Longs): baileys reads either when it quotes.
      const sans = (p: ReturnType<typeof parse>) => (p.kind === 'event' ? { ...p, quoted: undefined } : p);
      const expected = sans(parse(name));
      expect(sans(parse(name, live))).toEqual(expected);
      // The alternate addressing is baileys' addition to the key, outside the protobuf: a decoded WebMessageInfo
      // (history sync) has none, and reads as the same message without it.
      const withoutAlt = (u: ReturnType<typeof fixture>) => ({ ...u, messages: u.messages.map((m) => ({ ...m, key: { ...m.key, remoteJidAlt: undefined, participantAlt: undefined } })) });
      expect(sans(parse(name, decoded))).toEqual(sans(parse(name, withoutAlt)));
    },
  );

  it('remembers a large message for quoting by the start of its text only', () => {
    const u = fixture('group-mention');
    u.messages[0]!.message = { extendedTextMessage: { text: 'y'.repeat(50_000), contextInfo: { mentionedJid: ['15550001111@s.whatsapp.net'] } } };
    const p = parseUpsert(u);
    const r = p.ok ? parseMessage(p.upsert.messages[0]!, ctx) : undefined;
    expect(r?.kind === 'event' && r.quoted.message).toEqual({ conversation: 'y'.repeat(1_000) });
    expect(r?.kind === 'event' && r.event.text.length).toBe(50_000);
  });

  it('turns protobuf instances into plain data and refuses absurd nesting', () => {
    const m = live(fixture('dm-view-once')).messages[0]!.message;
    expect(Object.getPrototypeOf(plain(m))).toBe(Object.prototype);
    expect(plain(m)).toMatchObject({ viewOnceMessageV2: { message: { imageMessage: { fileLength: 48213, caption: 'look once' } } } });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { message: deep };
    expect(parseUpsert({ type: 'notify', messages: [{ key: { remoteJid: ALICE, id: 'x' }, message: deep }] })).toMatchObject({ ok: false });
  });
});
