import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChannelEvent } from '../../../core/event.js';
import { parseUpdate, withLinkTargets, type ParseContext, type Parsed } from '../../../connectors/telegram/parse.js';
import { BOT, fixture, FORUM, GROUP } from './fixtures.js';

const ctx: ParseContext = { account: 'telegram', bot: { id: BOT.id, username: BOT.username }, assistant: 'default', now: () => Date.parse('2025-01-01T00:00:00Z') };
const event = (p: Parsed) => {
  if (p.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(p)}`);
  return parseChannelEvent(p.event);
};

describe('telegram parse: documented updates to ChannelEvents', () => {
  it('a private message: dm conversation, sender and conversation ids as strings, stable message id', () => {
    const e = event(parseUpdate(fixture('private-text'), ctx));
    expect(e).toMatchObject({
      platform: 'telegram',
      account: 'telegram',
      conversation: { id: '1111111', kind: 'dm' },
      sender: { id: '1111111', name: 'Ada Lovelace', isBot: false },
      text: 'Hello, assistant',
      mentionsBot: false,
      edited: false,
      assistant: 'default',
      platformMessageId: '1365',
      receivedAt: '2025-01-01T00:00:00.000Z',
      // Telegram's server stamped it (`date`, seconds): a backlog is rate-limited at the pace it was sent.
      sentAt: new Date(1441645532 * 1000).toISOString(),
    });
    expect(e.replyTo).toBeUndefined();
    // The same update parsed twice is the same event: redelivery dedupes.
    expect(event(parseUpdate(fixture('private-text'), ctx)).id).toBe(e.id);
  });

  it('a group mention through the mention entity, and no mention from the name in plain text', () => {
    expect(event(parseUpdate(fixture('group-mention'), ctx))).toMatchObject({ conversation: { id: String(GROUP), kind: 'group' }, mentionsBot: true });
    expect(event(parseUpdate(fixture('group-plain'), ctx))).toMatchObject({ mentionsBot: false });
  });

  it('mention entities of someone else, text_mention of the bot user, and /cmd@bot', () => {
    const base = fixture('group-plain');
    const at = (text: string, entities: unknown[]) => event(parseUpdate({ ...base, message: { ...base.message, text, entities } }, ctx)).mentionsBot;
    expect(at('@someone_else hi', [{ type: 'mention', offset: 0, length: 13 }])).toBe(false);
    expect(at('@MonkeyClaw_Test_Bot hi', [{ type: 'mention', offset: 0, length: 20 }])).toBe(true);
    expect(at('👋 @monkeyclaw_test_bot', [{ type: 'mention', offset: 3, length: 20 }])).toBe(true);
    expect(at('MonkeyClaw, hi', [{ type: 'text_mention', offset: 0, length: 10, user: { ...BOT } }])).toBe(true);
    expect(at('Ada, hi', [{ type: 'text_mention', offset: 0, length: 3, user: { id: 1, is_bot: false, first_name: 'Ada' } }])).toBe(false);
    expect(at('/help@monkeyclaw_test_bot', [{ type: 'bot_command', offset: 0, length: 25 }])).toBe(true);
  });

  it('a reply to the bot is marked toBot; a reply to a person is not', () => {
    expect(event(parseUpdate(fixture('group-reply-to-bot'), ctx)).replyTo).toEqual({ messageId: '2203', toBot: true });
    const other = fixture('group-reply-to-bot');
    other.message.reply_to_message.from = { id: 42, is_bot: false, first_name: 'Mary' };
    expect(event(parseUpdate(other, ctx)).replyTo).toEqual({ messageId: '2203', toBot: false });
  });

  it('a forum topic message: threadId from message_thread_id, and the topic root is not taken for a reply', () => {
    const e = event(parseUpdate(fixture('forum-topic'), ctx));
    expect(e.conversation).toEqual({ id: String(FORUM), kind: 'group', threadId: '3300' });
    expect(e.replyTo).toBeUndefined();
    expect(e.mentionsBot).toBe(true);
  });

  it('edits are normalized with edited: true and an id of their own; channel posts speak as the channel', () => {
    const edited = event(parseUpdate(fixture('edited-message'), ctx));
    expect(edited).toMatchObject({ edited: true, text: 'Hello, assistant (edited)', platformMessageId: '1365:edited:1441645590' });
    const post = event(parseUpdate(fixture('channel-post'), ctx));
    expect(post).toMatchObject({ conversation: { kind: 'channel' }, sender: { id: '-1005555555555', name: 'Engine News', isBot: false }, mentionsBot: true });
  });

  it('a text_link hides its address: the assistant sees the text followed by it, in text and caption alike', () => {
    const base = fixture('group-plain');
    const text = (message: Record<string, unknown>) => event(parseUpdate({ ...base, message: { ...base.message, ...message } }, ctx)).text;
    const entities = [
      { type: 'bold', offset: 0, length: 2 },
      { type: 'text_link', offset: 3, length: 4, url: 'https://a.example/x' },
      { type: 'text_link', offset: 12, length: 5, url: 'https://b.example/' },
      { type: 'text_link', offset: 18, length: 18, url: 'https://c.example/' },
    ];
    expect(text({ text: '👋 here and there https://c.example/', entities })).toBe(
      '👋 here (https://a.example/x) and there (https://b.example/) https://c.example/',
    );
    expect(text({ text: undefined, photo: [{ file_id: 'p', file_unique_id: 'u', width: 1, height: 1 }], caption: 'see this', caption_entities: [{ type: 'text_link', offset: 4, length: 4, url: 'tg://user?id=1' }] })).toBe(
      'see this (tg://user?id=1)',
    );
  });

  it('a text made of links gets every address after its own label, in any order the entities are listed', () => {
    const label = 'abcdefghij';
    const links = [...label].map((_, i) => ({ type: 'text_link', offset: i, length: 1, url: `u${i}` })).reverse();
    expect(withLinkTargets(label, links)).toBe([...label].map((c, i) => `${c} (u${i})`).join(''));
    // As many links as an update can carry (the connector refuses more): each address still follows its label.
    const long = 'x'.repeat(4_096);
    const many = Array.from({ length: 4_096 }, (_, i) => ({ type: 'text_link', offset: i, length: 1, url: `https://e.example/${i}` }));
    const out = withLinkTargets(long, many);
    expect(out.startsWith('x (https://e.example/0)x (https://e.example/1)')).toBe(true);
    expect(out.endsWith('x (https://e.example/4095)')).toBe(true);
    expect(out.length).toBe(long.length + many.reduce((n, e) => n + e.url.length + 3, 0));
  });

  it('captions are text; attachments are metadata with their file_id', () => {
    const photo = event(parseUpdate(fixture('photo-caption'), ctx));
    expect(photo.text).toBe('what is on this diagram?');
    expect(photo.attachments).toEqual([{ kind: 'image', platformFileId: 'AgACAgQAAxkBAAIBsmQ-large', mimeType: 'image/jpeg', size: 61034 }]);
    expect(event(parseUpdate(fixture('attachments'), ctx)).attachments).toEqual([
      { kind: 'file', platformFileId: 'BQACAgQAAxkBAAIBs2Q-doc', name: 'notes.pdf', mimeType: 'application/pdf', size: 204800 },
      { kind: 'audio', platformFileId: 'AwACAgQAAxkBAAIBtGQ-voice', mimeType: 'audio/ogg', size: 8123 },
    ]);
    expect(event(parseUpdate(fixture('sticker'), ctx))).toMatchObject({ text: '', attachments: [{ kind: 'sticker', size: 21450 }] });
  });

  it('other bots are marked isBot; an anonymous admin (GroupAnonymousBot + sender_chat) is the group, not a bot', () => {
    expect(event(parseUpdate(fixture('from-bot'), ctx)).sender).toMatchObject({ id: '5555555', isBot: true });
    const anon = fixture('group-mention');
    anon.message.from = { id: 1087968824, is_bot: true, first_name: 'Group', username: 'GroupAnonymousBot' };
    anon.message.sender_chat = { id: GROUP, title: 'Analytical Engine Club', type: 'supergroup' };
    expect(event(parseUpdate(anon, ctx)).sender).toEqual({ id: String(GROUP), name: 'Analytical Engine Club', isBot: false });
  });

  it('unsupported kinds are named; malformed updates are rejected with the field; an over-long text is left out, its length kept', () => {
    expect(parseUpdate(fixture('callback-query'), ctx)).toEqual({ kind: 'unsupported', updateId: 10011, type: 'callback_query' });
    expect(parseUpdate(fixture('new-chat-members'), ctx)).toMatchObject({ kind: 'unsupported', type: 'message:new_chat_participant' });
    const noChat = fixture('private-text');
    delete noChat.message.chat;
    expect(parseUpdate(noChat, ctx)).toMatchObject({ kind: 'rejected', updateId: 10000, issues: [expect.stringContaining('message.chat')] });
    const wrongType = fixture('private-text');
    wrongType.message.from.is_bot = 'no';
    expect(parseUpdate(wrongType, ctx)).toMatchObject({ kind: 'rejected', issues: [expect.stringContaining('message.from.is_bot')] });
    const long = fixture('private-text');
    long.message.text = 'x'.repeat(100_001);
    // Too long: the text is left out and its length kept, so an admitted sender hears why nothing was answered.
    expect(parseUpdate(long, ctx)).toMatchObject({ kind: 'event', event: { text: '', tooLongChars: 100_001 } });
    const huge = fixture('private-text');
    huge.message.padding = 'y'.repeat(1_100_000);
    expect(parseUpdate(huge, ctx)).toMatchObject({ kind: 'rejected', updateId: 10000, issues: [expect.stringContaining('larger than')] });
    expect(parseUpdate({ update_id: 'x' }, ctx)).toMatchObject({ kind: 'rejected', updateId: undefined });
    expect(parseUpdate(null, ctx)).toMatchObject({ kind: 'rejected' });
  });

  it('never throws, whatever arrives (property)', () => {
    const base = fixture('group-mention');
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.string(), (anything, field, text) => {
        for (const raw of [anything, { update_id: 1, message: anything }, { ...base, message: { ...base.message, text, entities: field } }]) {
          const p = parseUpdate(raw, ctx);
          expect(['event', 'unsupported', 'rejected']).toContain(p.kind);
        }
      }),
      { numRuns: 300 },
    );
  });
});
