import { describe, expect, it } from 'vitest';
import { normalize, type Normalized, type ParseContext } from '../../../connectors/slack/parse.js';
import { parseChannelEvent } from '../../../core/event.js';
import { FAKE_BOT } from '../../fakes/slack/server.js';
import { fixture } from './helpers.js';

const ctx = (over: Partial<ParseContext> = {}): ParseContext => ({
  account: 'slack',
  botUserId: FAKE_BOT.userId,
  botId: FAKE_BOT.botId,
  now: () => Date.parse('2024-05-01T12:00:00Z'),
  botInThread: async () => false,
  ...over,
});

async function event(payload: unknown, c = ctx()) {
  const r = await normalize(payload, c);
  if (r.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(r)}`);
  return parseChannelEvent(r.event); // every normalized event passes core's own validation
}
const outcome = async (payload: unknown, c = ctx()): Promise<Normalized> => normalize(payload, c);

describe('slack parse', () => {
  it('normalizes a DM (message.im) as a dm at top level', async () => {
    const e = await event(fixture('message.im'));
    expect(e).toMatchObject({
      platform: 'slack',
      account: 'slack',
      conversation: { id: 'D024BE91L', kind: 'dm' },
      sender: { id: 'U2147483697', isBot: false },
      text: 'Hello hello can you hear me?',
      mentionsBot: false,
      edited: false,
      platformMessageId: 'D024BE91L:1355517523.000005',
      receivedAt: '2024-05-01T12:00:00.000Z',
      // Slack's server stamped it (`ts`): a backlog is rate-limited at the pace it was sent.
      sentAt: '2012-12-14T20:38:43.000Z',
    });
    expect(e.conversation.threadId).toBeUndefined();
  });

  it('puts a channel message in its own thread, unaddressed without the mention entity', async () => {
    const e = await event(fixture('message.channels'));
    expect(e.conversation).toEqual({ id: 'C0LAN2Q65', kind: 'channel', threadId: '1515449520.000010' });
    expect(e.mentionsBot).toBe(false);
    // The bot's name typed in text is not a mention.
    expect((await event(fixture('message.channels', { text: 'monkeyclaw, hello' }))).mentionsBot).toBe(false);
  });

  it('gives message and app_mention of one message the same identity, and strips the leading mention', async () => {
    const a = await event(fixture('message.channels.mention'));
    const b = await event(fixture('app_mention'));
    expect(a.platformMessageId).toBe(b.platformMessageId);
    expect(a.id).toBe(b.id);
    expect([a.mentionsBot, b.mentionsBot]).toEqual([true, true]);
    expect(a.text).toBe('is it everything a river should be?');
    expect(b.conversation).toEqual(a.conversation);
  });

  it('finds the mention in the blocks user element even when the text does not carry it', async () => {
    const e = await event(fixture('message.channels.mention', { text: 'hey monkeyclaw is it everything a river should be?' }));
    expect(e.mentionsBot).toBe(true);
    const other = fixture('message.channels.mention', { text: 'hi' });
    other.event.blocks[0].elements[0].elements[0].user_id = 'U999OTHER';
    expect((await event(other)).mentionsBot).toBe(false);
  });

  it('maps thread_ts to the thread and a reply in the bot’s thread to replyTo.toBot', async () => {
    const plain = await event(fixture('message.thread'));
    expect(plain.conversation.threadId).toBe('1515449500.000100');
    expect(plain.replyTo).toEqual({ messageId: 'C0LAN2Q65:1515449500.000100', toBot: false });
    const toBotParent = await event(fixture('message.thread', { parent_user_id: FAKE_BOT.userId }));
    expect(toBotParent.replyTo?.toBot).toBe(true);
    const botSpokeThere = await event(fixture('message.thread'), ctx({ botInThread: async (c, t) => c === 'C0LAN2Q65' && t === '1515449500.000100' }));
    expect(botSpokeThere.replyTo?.toBot).toBe(true);
  });

  it('maps channel types: mpim and private channels are groups, app_home a DM', async () => {
    expect((await event(fixture('message.im', { channel_type: 'mpim', channel: 'G024BE91L' }))).conversation.kind).toBe('group');
    expect((await event(fixture('message.im', { channel_type: 'group', channel: 'C0PRIVATE1' }))).conversation.kind).toBe('group');
    expect((await event(fixture('message.im', { channel_type: 'app_home' }))).conversation.kind).toBe('dm');
  });

  it('normalizes an edit as edited, under an id of its own', async () => {
    const e = await event(fixture('message_changed'));
    expect(e).toMatchObject({ edited: true, text: 'Hello, world!', sender: { id: 'U2147483697' }, conversation: { kind: 'dm' } });
    expect(e.platformMessageId).toBe('D024BE91L:1355517523.000005:edit:1358878755.000001');
    const notAnEdit = fixture('message_changed');
    delete notAnEdit.event.message.edited;
    expect(await outcome(notAnEdit)).toMatchObject({ kind: 'ignored', audit: 'inbound.unsupported' });
  });

  it('ignores its own messages and other bots’, and unsupported subtypes and event types', async () => {
    expect(await outcome(fixture('message.im', { user: FAKE_BOT.userId }))).toMatchObject({ kind: 'ignored', reason: 'own message' });
    expect(await outcome(fixture('message.im', { bot_id: FAKE_BOT.botId, user: undefined }))).toMatchObject({ kind: 'ignored', reason: 'own message' });
    expect(await outcome(fixture('bot_message'))).toMatchObject({ kind: 'ignored', audit: 'inbound.ignored', reason: 'bot message' });
    expect(await outcome(fixture('message.im', { bot_id: 'B0OTHER' }))).toMatchObject({ kind: 'ignored', reason: 'bot message' });
    // Another app mentioning ours: an app_mention with a bot_id and no user is a bot's message, not a malformed one.
    expect(await outcome(fixture('app_mention', { bot_id: 'B0OTHER', user: undefined }))).toMatchObject({ kind: 'ignored', audit: 'inbound.ignored', reason: 'bot message' });
    expect(await outcome(fixture('app_mention', { user: undefined }))).toMatchObject({ kind: 'rejected' });
    expect(await outcome(fixture('message.channels', { subtype: 'channel_join' }))).toMatchObject({ kind: 'ignored', audit: 'inbound.unsupported' });
    expect(await outcome(fixture('message.im', { type: 'reaction_added' }))).toMatchObject({ kind: 'ignored', audit: 'inbound.unsupported' });
  });

  it('keeps files as attachment metadata and decodes Slack’s escaping', async () => {
    const e = await event(
      fixture('message.im', {
        subtype: 'file_share',
        text: 'a &lt;b&gt; &amp; c',
        files: [{ id: 'F0S43PZDF', name: 'tedair.gif', mimetype: 'image/gif', size: 137531 }, { id: 'F0S43PZDG', mimetype: 'application/pdf' }],
      }),
    );
    expect(e.text).toBe('a <b> & c');
    expect(e.attachments).toEqual([
      { kind: 'image', platformFileId: 'F0S43PZDF', name: 'tedair.gif', mimeType: 'image/gif', size: 137531 },
      { kind: 'file', platformFileId: 'F0S43PZDG', mimeType: 'application/pdf' },
    ]);
  });

  it('shows links, mentions and channels as the user saw them, not as Slack\'s markup', async () => {
    const text =
      'see <http://example.com> and <http://example.org|example.org>, ask <@U2147483697> or <@U0ADA|ada> in <#C0LAN2Q65|general> or <#C0OTHER> or <#C0EMPTY|>, ' +
      '<!here>, <!subteam^S0TEAM|@oncall>, <mailto:bob@example.com|bob@example.com>, <https://x.example/a?b=1&amp;c=2|click>; typed: a &lt;b&gt; &amp;lt;';
    expect((await event(fixture('message.im', { text }))).text).toBe(
      'see http://example.com and example.org, ask @U2147483697 or @ada in #general or #C0OTHER or #C0EMPTY, @here, @oncall, bob@example.com, click (https://x.example/a?b=1&c=2); typed: a <b> &lt;',
    );
  });

  it('rejects malformed payloads naming the field; text over 100,000 characters as typed is left out, its length kept', async () => {
    expect(await outcome(undefined)).toMatchObject({ kind: 'rejected' });
    expect(await outcome({ type: 'event_callback', event_id: 'Ev1' })).toMatchObject({ kind: 'rejected' });
    expect(await outcome(fixture('message.im', { ts: 1355517523 }))).toMatchObject({ kind: 'rejected', issues: [expect.stringContaining('ts')] });
    expect(await outcome(fixture('message.im', { channel: '../../etc' }))).toMatchObject({ kind: 'rejected' });
    expect(await outcome(fixture('message.im', { user: undefined }))).toMatchObject({ kind: 'rejected', issues: ['event.user: required'] });
    expect(await outcome(fixture('message.im', { text: 'x'.repeat(100_001) }))).toMatchObject({ kind: 'event', event: { text: '', tooLongChars: 100_001 } });
    // Counted as typed: Slack's `&amp;` is one character of the user's text.
    expect(await event(fixture('message.im', { text: '&amp;'.repeat(100_000) }))).toMatchObject({ text: '&'.repeat(100_000) });
  });
});
