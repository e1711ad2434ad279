import { describe, expect, it } from 'vitest';
import { discordMessageSchema, placeOf, toChannelEvent, type ParseContext } from '../../../connectors/discord/parse.js';
import { limitFor, messageBody, nonceFor } from '../../../connectors/discord/send.js';
import { parseChannelEvent, type Reply } from '../../../core/event.js';
import { fixture, type Json } from '../../fakes/discord/index.js';

const BOT = '80351110224678912';
const ctx = (over: Partial<ParseContext> = {}): ParseContext => ({
  eventId: 'e1',
  account: 'discord',
  botId: BOT,
  place: { kind: 'channel', thread: false, guildId: '197038439483310086' },
  replyToBot: false,
  edited: false,
  receivedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});
const message = (over: Json = {}) => discordMessageSchema.parse({ ...fixture<Json>('message'), ...over });
const event = (m: ReturnType<typeof message>, c?: Partial<ParseContext>) => {
  const v = toChannelEvent(m, ctx(c));
  if (!v.ok) throw new Error(v.reason);
  return parseChannelEvent(v.event);
};

describe('discord parse: Message object to ChannelEvent', () => {
  it('normalizes the documented example message with stable ids', () => {
    const e = event(message());
    expect(e).toMatchObject({
      platform: 'discord',
      conversation: { id: '290926798999357250', kind: 'channel' },
      sender: { id: '53908099506183680', name: 'Mason', isBot: false },
      text: 'Supa Hot',
      mentionsBot: false,
      edited: false,
      platformMessageId: '334385199974967042',
      // Discord's server stamped it (`timestamp`): a backlog is rate-limited at the pace it was sent.
      sentAt: '2017-07-11T17:27:07.299Z',
    });
    expect(e.conversation.threadId).toBeUndefined();
  });

  it('tells DMs, guild channels and threads apart by channel type; a thread is its own conversation', () => {
    expect(placeOf(1, undefined)).toEqual({ kind: 'dm', thread: false });
    expect(placeOf(0, 'g')).toEqual({ kind: 'channel', thread: false, guildId: 'g' });
    for (const t of [10, 11, 12]) expect(placeOf(t, 'g').thread).toBe(true);
    const inThread = event(message({ channel_id: '1105555555555555555' }), { place: placeOf(11, 'g') });
    expect(inThread.conversation).toEqual({ id: '1105555555555555555', kind: 'channel', threadId: '1105555555555555555', within: ['g'] });
    expect(event(message(), { place: placeOf(1, undefined) }).conversation.kind).toBe('dm');
  });

  it('counts a mention only as the mention entity, and shows it as people saw it', () => {
    const named = event(message({ content: 'hey MonkeyClaw, <@80351110224678912> is not an entity here' }));
    expect(named.mentionsBot).toBe(false);
    const mentioned = event(message({ content: '<@!80351110224678912> hi', mentions: [{ id: BOT, username: 'MonkeyClaw', global_name: null, bot: true }] }));
    expect(mentioned).toMatchObject({ mentionsBot: true, text: '@MonkeyClaw hi' });
  });

  it('shows role and channel mentions by the names people see, where they are known', () => {
    const names = { role: (id: string) => (id === '800000000000000099' ? 'moderators' : undefined), channel: (id: string) => (id === '700000000000000001' ? 'general' : undefined) };
    const e = event(message({ content: 'ask <@&800000000000000099> in <#700000000000000001>, not <@&1> or <#2>' }), { names });
    expect(e.text).toBe('ask @moderators in #general, not <@&1> or <#2>');
  });

  it('marks a reply to the bot, but not a forward nor a reply to someone else', () => {
    const reply = { type: 19, message_reference: { type: 0, message_id: '334385199974967000', channel_id: '290926798999357250' } };
    expect(event(message(reply), { replyToBot: true }).replyTo).toEqual({ messageId: '334385199974967000', toBot: true });
    expect(event(message(reply), { replyToBot: false }).replyTo).toEqual({ messageId: '334385199974967000', toBot: false });
    const forward = { type: 0, message_reference: { type: 1, message_id: '334385199974967000' } };
    expect(event(message(forward), { replyToBot: true }).replyTo).toBeUndefined();
  });

  it('flags bots and webhook posts as bots, and drops its own messages', () => {
    expect(event(message({ author: { id: '1', username: 'MEE6', bot: true } })).sender.isBot).toBe(true);
    expect(event(message({ webhook_id: '223704706495545344' })).sender.isBot).toBe(true);
    expect(toChannelEvent(message({ author: { id: BOT, username: 'MonkeyClaw', bot: true } }), ctx())).toEqual({ ok: false, reason: 'own message' });
  });

  it('keeps attachments and stickers as metadata', () => {
    const e = event(message({ content: '', attachments: [fixture('attachment'), { id: '2', filename: 'notes.txt', size: 12 }], sticker_items: [{ id: '3', name: 'wave', format_type: 1 }] }));
    expect(e.attachments).toEqual([
      { kind: 'image', name: 'holiday.png', mimeType: 'image/png', size: 204811, platformFileId: '1101244430232793098' },
      { kind: 'file', name: 'notes.txt', size: 12, platformFileId: '2' },
      { kind: 'sticker', name: 'wave', platformFileId: '3' },
    ]);
  });

  it('keys an edit by its edit time, and ignores updates that are no edit', () => {
    const edited = event(message({ edited_timestamp: '2017-07-11T17:30:00.000000+00:00' }), { edited: true });
    expect(edited).toMatchObject({ edited: true, platformMessageId: '334385199974967042:edited:2017-07-11T17:30:00.000000+00:00' });
    expect(toChannelEvent(message(), ctx({ edited: true }))).toEqual({ ok: false, reason: 'update without an edit' });
  });

  it('refuses system messages and empty messages with an audit kind; text over 100,000 characters is left out, its length kept', () => {
    expect(toChannelEvent(message({ type: 7 }), ctx())).toMatchObject({ ok: false, audit: 'inbound.unsupported' });
    expect(toChannelEvent(message({ content: '' }), ctx())).toMatchObject({ ok: false, audit: 'inbound.unsupported' });
    expect(toChannelEvent(message({ content: 'x'.repeat(100_001) }), ctx())).toMatchObject({ ok: true, event: { text: '', tooLongChars: 100_001 } });
    expect(toChannelEvent(message({ content: 'x'.repeat(100_000) }), ctx())).toMatchObject({ ok: true, event: { text: 'x'.repeat(100_000) } });
  });

  it('refuses malformed payloads by schema', () => {
    for (const bad of [null, {}, { ...fixture<Json>('message'), id: 5 }, { ...fixture<Json>('message'), author: null }, { ...fixture<Json>('message'), mentions: [{}] }]) {
      expect(discordMessageSchema.safeParse(bad).success).toBe(false);
    }
  });
});

describe('discord send: nonce, body and limit', () => {
  const reply = (kind: 'dm' | 'channel', replyTo?: string): Reply => ({
    v: 1,
    idempotencyKey: 'k',
    eventId: 'e',
    address: { platform: 'discord', account: 'discord', conversation: { id: '1', kind } },
    ...(replyTo ? { replyTo } : {}),
    text: 't',
    format: 'plain',
    kind: 'reply',
  });

  it('derives a 25-character nonce, stable per key and part, different across parts and keys', () => {
    expect(nonceFor('k', 0)).toHaveLength(25);
    expect(nonceFor('k', 0)).toBe(nonceFor('k', 0));
    expect(new Set([nonceFor('k', 0), nonceFor('k', 1), nonceFor('k2', 0)]).size).toBe(3);
  });

  it('quotes the original in guild channels on the first part only, never in DMs, and never pings', () => {
    expect(messageBody(reply('channel', '334385199974967042'), 'a', 0)).toEqual({
      content: 'a',
      nonce: nonceFor('k', 0),
      enforce_nonce: true,
      allowed_mentions: { parse: [] },
      message_reference: { message_id: '334385199974967042', fail_if_not_exists: false },
    });
    expect(messageBody(reply('channel', '334385199974967042'), 'b', 1).message_reference).toBeUndefined();
    expect(messageBody(reply('dm', '334385199974967042'), 'a', 0).message_reference).toBeUndefined();
    // An edit's id is no message id: nothing to quote.
    expect(messageBody(reply('channel', '1:edited:2017'), 'a', 0).message_reference).toBeUndefined();
  });

  it('splits at 2,000 by default, lower when configured, never higher', () => {
    expect(limitFor(undefined)).toEqual({ max: 2_000, unit: 'utf16' });
    expect(limitFor(500).max).toBe(500);
    expect(limitFor(4_000).max).toBe(2_000);
  });
});
