import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChannelEvent } from '../../../core/event.js';
import { parseNotification, type ParseContext, type Parsed } from '../../../connectors/signal/parse.js';
import { quoteOf, signalLimit } from '../../../connectors/signal/send.js';
import { SignalRpcError } from '../../../connectors/signal/rpc.js';
import { ACCOUNT, ACCOUNT_UUID, rateLimit } from '../../fakes/signal/daemon.js';
import { ALICE_UUID, BOB_UUID, fixture, GROUP_ID, type Fixture } from '../../fakes/signal/fixtures.js';

const ctx = (over: Partial<ParseContext> = {}): ParseContext => ({
  platform: 'signal',
  account: ACCOUNT,
  selfUuid: ACCOUNT_UUID,
  assistant: undefined,
  answersUnmentioned: () => false,
  now: () => Date.parse('2024-06-22T10:00:00Z'),
  ...over,
});

const parse = (name: Fixture, over?: Partial<ParseContext>): Parsed => {
  const n = fixture(name);
  return parseNotification(n.method, n.params, ctx(over));
};

function eventOf(p: Parsed) {
  if (p.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(p)}`);
  // Whatever parse.ts produces must also pass core's own validation.
  return { ...p, event: parseChannelEvent(p.event) };
}

describe('signal parse: data messages', () => {
  it('maps a DM to a dm conversation keyed by the sender uuid, never the number', () => {
    const { event, addressed } = eventOf(parse('dm-text'));
    expect(addressed).toBe(true);
    expect(event).toMatchObject({
      platform: 'signal',
      account: ACCOUNT,
      conversation: { id: ALICE_UUID, kind: 'dm' },
      sender: { id: ALICE_UUID, name: 'Alice', isBot: false },
      text: 'hello from Alice',
      mentionsBot: false,
      edited: false,
      platformMessageId: `${ALICE_UUID}:1719000000001`,
    });
    expect(JSON.stringify(event)).not.toContain('+15551230001');
    // A very long display name is shortened, not a reason to drop the message.
    const named = fixture('dm-text');
    named.params.envelope.sourceName = 'N'.repeat(5_000);
    expect(eventOf(parseNotification('receive', named.params, ctx())).event.sender.name).toHaveLength(128);
    // A stable event id: the same notification twice is the same event.
    expect(eventOf(parse('dm-text')).event.id).toBe(event.id);
  });

  it('a group message without a mention is not addressed; with the bot mention it is, and U+FFFC is gone', () => {
    const plain = eventOf(parse('group-plain'));
    expect(plain.addressed).toBe(false);
    expect(plain.event.conversation).toEqual({ id: GROUP_ID, kind: 'group' });
    const mention = eventOf(parse('group-mention'));
    expect(mention).toMatchObject({ addressed: true, event: { mentionsBot: true, text: 'what is the capital of France?', sender: { id: BOB_UUID } } });
    // Before the own uuid is learned, the mention's number still identifies the account.
    expect(eventOf(parse('group-mention', { selfUuid: undefined })).event.mentionsBot).toBe(true);
    // A group whose channel says requireMention: false is addressed without one.
    expect(eventOf(parse('group-plain', { answersUnmentioned: (g) => g === GROUP_ID })).addressed).toBe(true);
  });

  it('replaces other people\'s mentions, and a mid-sentence bot mention reads @assistant', () => {
    // signal-cli's `name` is the number when it knows one: the text shows a short id, never the number.
    expect(eventOf(parse('group-mention-other')).event).toMatchObject({ text: 'ask @b0b00000 about it', mentionsBot: false });
    const named = fixture('group-mention-other');
    const mention = (named.params.envelope.dataMessage!.mentions as Array<{ name: string }>)[0]!;
    mention.name = 'Bob';
    expect(eventOf(parseNotification(named.method, named.params, ctx())).event.text).toBe('ask @Bob about it');
    mention.name = '(555) 123-4567';
    expect(eventOf(parseNotification(named.method, named.params, ctx())).event.text).toBe('ask @b0b00000 about it');
    const n = fixture('group-mention');
    const data = n.params.envelope.dataMessage!;
    data.message = 'hey \uFFFC, what about \uFFFC?';
    data.mentions = [
      { uuid: ACCOUNT_UUID, number: ACCOUNT, start: 4, length: 1 },
      { uuid: BOB_UUID, number: null, start: 18, length: 1 },
    ];
    const p = eventOf(parseNotification(n.method, n.params, ctx()));
    expect(p.event.text).toBe('hey @assistant, what about @b0b00000?');
  });

  it('a mention entry that points at ordinary text, not a U+FFFC placeholder, addresses no one and cuts nothing', () => {
    const n = fixture('group-mention');
    const data = n.params.envelope.dataMessage!;
    data.message = 'no placeholder here';
    data.mentions = [{ uuid: ACCOUNT_UUID, number: ACCOUNT, start: 0, length: 1 }];
    const p = eventOf(parseNotification(n.method, n.params, ctx()));
    expect(p).toMatchObject({ addressed: false, event: { mentionsBot: false, text: 'no placeholder here' } });
  });

  it('a quote of the assistant\'s message is a reply to the bot', () => {
    const { event, addressed } = eventOf(parse('group-quote-bot'));
    expect(addressed).toBe(true);
    expect(event.replyTo).toEqual({ messageId: `${ACCOUNT_UUID}:1719000000500`, toBot: true });
  });

  it('keeps attachment metadata, marks edits, and validates against core', () => {
    expect(eventOf(parse('dm-attachment')).event.attachments).toEqual([
      { kind: 'image', name: 'IMG_0042.jpg', mimeType: 'image/jpeg', size: 183422, platformFileId: 'Vbg7J0YoXDqTtr8y2F3c.jpg' },
    ]);
    const edit = eventOf(parse('dm-edit')).event;
    expect(edit).toMatchObject({ edited: true, text: 'hello from Alice (edited)', platformMessageId: `${ALICE_UUID}:1719000000007` });
  });
});

describe('signal parse: never answered', () => {
  it.each([
    ['sync-sent', 'sync'],
    ['typing', 'typing'],
    ['receipt', 'receipt'],
    ['dm-reaction', 'reaction'],
    ['undecryptable', 'undecryptable'],
  ] as const)('%s is ignored (%s)', (name, reason) => {
    expect(parse(name)).toMatchObject({ kind: 'ignored', reason });
  });

  it('a sync message teaches the account\'s own uuid', () => {
    expect(parse('sync-sent', { selfUuid: undefined })).toEqual({ kind: 'ignored', reason: 'sync', selfUuid: ACCOUNT_UUID });
  });

  it('ignores the account\'s own data messages and other accounts\' notifications', () => {
    const own = fixture('dm-text');
    own.params.envelope.sourceUuid = ACCOUNT_UUID;
    expect(parseNotification('receive', own.params, ctx())).toMatchObject({ kind: 'ignored', reason: 'self' });
    const other = fixture('dm-text');
    other.params.account = '+15559999999';
    expect(parseNotification('receive', other.params, ctx())).toEqual({ kind: 'ignored', reason: 'other-account', other: '+15559999999' });
  });
});

describe('signal parse: malformed and oversized', () => {
  it('rejects bad shapes and a missing sender uuid; leaves out text over 100,000 characters, keeping its length', () => {
    expect(parseNotification('receive', { envelope: { timestamp: 'soon' } }, ctx()).kind).toBe('rejected');
    expect(parseNotification('receive', 'nonsense', ctx()).kind).toBe('rejected');
    expect(parseNotification('receive', { account: ACCOUNT }, ctx()).kind).toBe('rejected');
    const anonymous = fixture('dm-text');
    delete anonymous.params.envelope.sourceUuid;
    expect(parseNotification('receive', anonymous.params, ctx())).toMatchObject({ kind: 'rejected', issues: [expect.stringContaining('sourceUuid')] });
    const long = fixture('dm-text');
    long.params.envelope.dataMessage!.message = 'x'.repeat(100_001);
    expect(parseNotification('receive', long.params, ctx())).toMatchObject({ kind: 'event', event: { text: '', tooLongChars: 100_001 } });
    // Far longer still (anything a 4 MB line holds) is the same over-long message, not a malformed envelope.
    long.params.envelope.dataMessage!.message = 'word '.repeat(200_000);
    expect(parseNotification('receive', long.params, ctx())).toMatchObject({ kind: 'event', event: { text: '', tooLongChars: 1_000_000 } });
    expect(parseNotification('subscribeReceive', {}, ctx())).toMatchObject({ kind: 'unsupported' });
  });

  it('unwraps the manual receive mode form {subscription, result}', () => {
    const n = fixture('dm-text');
    expect(parseNotification('receive', { subscription: 0, result: n.params }, ctx()).kind).toBe('event');
  });
});

describe('signal send helpers', () => {
  it('quotes from our platform message id, and caps maxMessageChars at 2,000 bytes', () => {
    expect(quoteOf(`${ALICE_UUID}:1719000000001`)).toEqual({ quoteTimestamp: 1719000000001, quoteAuthor: ALICE_UUID });
    expect(quoteOf('garbage')).toBeUndefined();
    expect(signalLimit(undefined)).toEqual({ max: 2000, unit: 'utf8' });
    expect(signalLimit(5000)).toEqual({ max: 2000, unit: 'utf8' });
    expect(signalLimit(500)).toEqual({ max: 500, unit: 'utf8' });
  });

  it('reads retryAfterSeconds from a -5 error as signal-cli shapes it', () => {
    const e = rateLimit(7);
    expect(new SignalRpcError(e.code, e.message, e.data).retryAfterSeconds).toBe(7);
    expect(new SignalRpcError(-5, 'x', { retryAfterSeconds: 3 }).retryAfterSeconds).toBe(3);
    const recorded = JSON.parse(readFileSync(new URL('../../fixtures/signal/rate-limit-error.json', import.meta.url), 'utf8')).error;
    expect(new SignalRpcError(recorded.code, recorded.message, recorded.data).retryAfterSeconds).toBe(1);
    expect(new SignalRpcError(-5, 'x', null).retryAfterSeconds).toBeUndefined();
  });
});
