import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ADA, dm, FORUM, GROUP, message, setup, type Env } from './helpers.js';

let env: Env | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const words = (n: number): string => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

describe('telegram connector: round trips through the whole gateway', () => {
  it('answers a DM in the same chat, shows typing first, and records the platform message id', async () => {
    env = await setup();
    const { fake } = env;
    const update = dm('Hello <b>world</b> & friends');
    const chat = update.message.chat.id as number;
    const updateId = fake.push(update);
    const [reply] = await env.replies(chat);
    // Echo is plain text: escaped, so it shows exactly as typed.
    expect(reply).toMatchObject({ visible: 'Hello <b>world</b> & friends', parse_mode: 'HTML', text: 'Hello &lt;b&gt;world&lt;/b&gt; &amp; friends' });
    expect(reply!.reply_to).toBeUndefined();
    expect(fake.actions).toContainEqual({ chat_id: String(chat), action: 'typing' });
    const typingAt = fake.callsOf('sendChatAction')[0]!.at;
    expect(typingAt).toBeLessThanOrEqual(reply!.at);
    const kinds = await env.h.until(async () => ((await env!.h.auditKinds()).includes('outbound.sent') ? env!.h.auditKinds() : undefined));
    expect(kinds).toContain('inbound.received');
    // The offset stored (and confirmed to Telegram with the next poll) is past the update.
    expect(await env.h.store.getConnectorState('telegram', 'offset')).toBe(updateId + 1);
    await env.h.until(() => fake.confirmed === updateId + 1);
  });

  it('in a group: ignores a message without a mention, answers an @mention (quoting it) and a reply to the bot', async () => {
    env = await setup();
    const { fake } = env;
    fake.push(message('group-plain'));
    const mention = message('group-mention');
    fake.push(mention);
    const [first] = await env.replies(GROUP);
    expect(first!.visible).toBe('@monkeyclaw_test_bot what is 2 + 2?');
    expect(first!.reply_to).toBe(mention.message.message_id);
    fake.push(message('group-reply-to-bot'));
    const answers = await env.replies(GROUP, 2);
    expect(answers.map((m) => m.visible)).toEqual(['@monkeyclaw_test_bot what is 2 + 2?', 'and 3 + 3?']);
    // The unaddressed message (same conversation, processed first, in order) never got a reply.
    await sleep(300);
    expect(fake.sentTo(GROUP)).toHaveLength(2);
    // Another bot mentioning ours is never answered.
    fake.push(message('from-bot'));
    fake.push(message('group-mention', { text: '@monkeyclaw_test_bot last' }));
    await env.replies(GROUP, 3);
    expect(fake.sentTo(GROUP).map((m) => m.visible)).not.toContain('@monkeyclaw_test_bot ping');
  });

  it('replies to a forum topic inside the same topic (message_thread_id)', async () => {
    env = await setup();
    env.fake.push(message('forum-topic'));
    const [reply] = await env.replies(FORUM);
    expect(reply).toMatchObject({ message_thread_id: 3300, visible: '@monkeyclaw_test_bot explain note G' });
    expect(env.fake.actions).toContainEqual({ chat_id: String(FORUM), action: 'typing', message_thread_id: 3300 });
  });

  it('answers a plain group\'s reply chain in the chat: its message_thread_id names no topic', async () => {
    env = await setup();
    // Telegram sets message_thread_id on a reply in any supergroup; only in a forum (is_topic_message) is it a place
    // to post into. Sent back, it is refused: 400 "message thread not found".
    const mention = message('group-mention', { message_thread_id: 4242 });
    env.fake.push(mention);
    const [reply] = await env.replies(GROUP);
    expect(reply).toMatchObject({ visible: '@monkeyclaw_test_bot what is 2 + 2?', reply_to: mention.message.message_id });
    expect(reply!.message_thread_id).toBeUndefined();
    expect(env.fake.callsOf('sendMessage').map((c) => c.status)).toEqual([200]);
    expect(env.fake.actions).toContainEqual({ chat_id: String(GROUP), action: 'typing' });
  });

  it('splits a 10,000-character reply into ordered parts within 4,096, about one per second per chat', async () => {
    env = await setup();
    const text = words(1_300).slice(0, 10_000);
    const update = dm(text);
    env.fake.push(update);
    const parts = await env.replies(update.message.chat.id, 3);
    await sleep(1_200);
    const all = env.fake.sentTo(update.message.chat.id);
    expect(all).toHaveLength(3);
    for (const p of all) expect(p.text.length).toBeLessThanOrEqual(4096);
    // Split at whitespace, in order, nothing added or lost.
    expect(all.map((p) => p.visible.trim()).join(' ')).toBe(text);
    // Per-chat throttling (transformer-throttler): Telegram allows about one message a second in a chat. The
    // throttler spaces request starts by 1 s; the fake stamps arrival, so allow for the first request's connect.
    expect(parts[1]!.at - parts[0]!.at).toBeGreaterThanOrEqual(800);
    expect(parts[2]!.at - parts[1]!.at).toBeGreaterThanOrEqual(800);
    // The parts' progress was kept while they went out; with the send recorded it is gone, not kept for good.
    await env.h.until(async () => ((await env!.h.auditKinds()).includes('outbound.sent') ? true : undefined));
    expect(await env.h.store.listConnectorState('telegram', 'sent:')).toEqual([]);
  });

  it('a long reply interrupted by a network failure continues where it stopped on retry (no part twice)', async () => {
    env = await setup({ options: { throttle: { out: { maxConcurrent: 1, minTime: 0 } } } });
    env.fake.failNext('sendMessage', 1, { error_code: 0, description: 'connection dropped' }, 1);
    const text = words(1_300).slice(0, 10_000);
    const update = dm(text);
    env.fake.push(update);
    const parts = await env.replies(update.message.chat.id, 3);
    await sleep(500);
    expect(env.fake.callsOf('sendMessage').map((c) => c.status)).toEqual([200, 0, 200, 200]);
    expect(env.fake.sentTo(update.message.chat.id)).toHaveLength(3);
    expect(parts.map((p) => p.visible.trim()).join(' ')).toBe(text);
  });

  it('counts a reply as Telegram does, after entity parsing: 3,000 "<" (12,000 escaped) are one message, 5,000 two', async () => {
    env = await setup({ options: { throttle: { out: { maxConcurrent: 1, minTime: 0 } } } });
    const short = dm('<'.repeat(3_000));
    env.fake.push(short);
    const [one] = await env.replies(short.message.chat.id);
    expect(one!.text).toBe('&lt;'.repeat(3_000));
    expect(one!.visible).toBe('<'.repeat(3_000));
    const long = dm('<'.repeat(5_000));
    env.fake.push(long);
    const parts = await env.replies(long.message.chat.id, 2);
    expect(env.fake.callsOf('sendMessage').every((c) => c.status === 200)).toBe(true);
    expect(parts.map((p) => p.visible)).toEqual(['<'.repeat(4096), '<'.repeat(904)]);
  });

  it('waits out a 429 for the advised retry_after before sending again', async () => {
    env = await setup();
    env.fake.failNext('sendMessage', 1, { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
    const update = dm('rate me');
    env.fake.push(update);
    const [reply] = await env.replies(update.message.chat.id);
    const [refused, accepted] = env.fake.callsOf('sendMessage');
    expect(refused!.status).toBe(429);
    expect(accepted!.status).toBe(200);
    const waited = accepted!.at - refused!.at;
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(2_500);
    expect(reply!.visible).toBe('rate me');
    expect(env.fake.sentTo(update.message.chat.id)).toHaveLength(1);
  });

  it('a restart during a 429 wait still waits out what is left of it', async () => {
    env = await setup();
    env.fake.failNext('sendMessage', 1, { error_code: 429, description: 'Too Many Requests: retry after 4', parameters: { retry_after: 4 } });
    const update = dm('patience');
    env.fake.push(update);
    await env.h.until(() => env!.fake.callsOf('sendMessage').length === 1);
    // The connector process ends during the wait and a new one takes the reply over.
    await env.h.stopConnector();
    await env.h.startConnector();
    const [reply] = await env.replies(update.message.chat.id, 1, 15_000);
    const [refused, ...rest] = env.fake.callsOf('sendMessage');
    expect(refused!.status).toBe(429);
    // Nothing reached Telegram for that chat before the 4 s were up.
    for (const call of rest) expect(call.at - refused!.at).toBeGreaterThanOrEqual(3_900);
    expect(reply!.visible).toBe('patience');
    await sleep(500);
    expect(env.fake.sentTo(update.message.chat.id)).toHaveLength(1);
  });

  it('chats told to wait do not hold up the replies of another: the wait is done without a slot of the outbound queue', async () => {
    env = await setup();
    // Four chats, as many as the connector sends to at once, are each told to wait 3 s.
    env.fake.failNext('sendMessage', 4, { error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } });
    const waiting = ['w1', 'w2', 'w3', 'w4'].map((t) => dm(t));
    for (const u of waiting) env.fake.push(u);
    await env.h.until(() => env!.fake.callsOf('sendMessage').filter((c) => c.status === 429).length === 4);
    const other = dm('not held up');
    const pushed = Date.now();
    env.fake.push(other);
    const [reply] = await env.replies(other.message.chat.id);
    expect(reply!.visible).toBe('not held up');
    expect(Date.now() - pushed).toBeLessThan(2_000);
    // The four still wait out their 3 s, and each is sent once.
    const refusedAt = Math.min(...env.fake.callsOf('sendMessage').filter((c) => c.status === 429).map((c) => c.at));
    for (const u of waiting) await env.replies(u.message.chat.id, 1, 10_000);
    const sentAt = env.fake.callsOf('sendMessage').filter((c) => c.status === 200 && waiting.some((u) => String(u.message.chat.id) === String(c.payload.chat_id)));
    expect(sentAt).toHaveLength(4);
    for (const c of sentAt) expect(c.at - refusedAt).toBeGreaterThanOrEqual(2_900);
    await sleep(300);
    for (const u of waiting) expect(env.fake.sentTo(u.message.chat.id)).toHaveLength(1);
  });

  it('leaves a 5xx to the queue\'s retry schedule: no inner retry of its own (minutes of them) within each attempt', async () => {
    env = await setup();
    env.fake.failNext('sendMessage', 2, { error_code: 502, description: 'Bad Gateway' });
    const update = dm('through the storm');
    env.fake.push(update);
    const [reply] = await env.replies(update.message.chat.id);
    const calls = env.fake.callsOf('sendMessage');
    expect(calls.map((c) => c.status)).toEqual([502, 502, 200]);
    // The harness's queue backs off from 50 ms; grammY's auto-retry would wait 3 s, then 6 s, before each of these.
    expect(calls[2]!.at - calls[0]!.at).toBeLessThan(2_500);
    expect(reply!.visible).toBe('through the storm');
  });

  it('resends as plain text when Telegram cannot parse the entities, rather than dropping the reply', async () => {
    env = await setup();
    env.fake.failNext('sendMessage', 1, { error_code: 400, description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0" });
    const update = dm('5 < 6 && "quotes" stay');
    env.fake.push(update);
    const [reply] = await env.replies(update.message.chat.id);
    expect(reply).toMatchObject({ text: '5 < 6 && "quotes" stay', visible: '5 < 6 && "quotes" stay' });
    expect(reply!.parse_mode).toBeUndefined();
    expect(await env.h.auditKinds()).toContain('outbound.plain_fallback');
  });

  it('edits are published (edited: true) and audited by the worker, never answered', async () => {
    env = await setup();
    const update = dm('original');
    const chat = update.message.chat.id;
    env.fake.push(update);
    await env.replies(chat);
    env.fake.push(message('edited-message', { chat: update.message.chat, from: update.message.from, message_id: update.message.message_id, text: 'changed' }, 'edited_message'));
    env.fake.push(dm('after the edit', chat));
    await env.replies(chat, 2);
    expect(env.fake.sentTo(chat).map((m) => m.visible)).toEqual(['original', 'after the edit']);
  });

  it('DMs with access.dm allowlist: an unknown sender is not answered (nor shown typing); a listed one is', async () => {
    env = await setup({ access: { dm: 'allowlist', allow: [`telegram:${ADA}`] } });
    const stranger = dm('let me in');
    env.fake.push(stranger);
    env.fake.push(message('private-text'));
    await env.replies(ADA);
    await sleep(300);
    expect(env.fake.sentTo(stranger.message.chat.id)).toHaveLength(0);
    // Dropped silently: not even "typing…" for someone the gateway will not answer.
    expect(env.fake.actions.map((a) => a.chat_id)).toEqual([String(ADA)]);
  });

  it('shows no "typing…" to a sender blocked at run time (pair deny), nor to a stranger waiting for pairing', async () => {
    env = await setup({ access: { dm: 'pairing' } });
    const blocked = dm('anyone?');
    await env.h.store.accessStore().setOverride(`telegram:${blocked.message.from.id}`, 'deny', 'pairing', []);
    env.fake.push(blocked);
    await env.h.until(async () => ((await env!.h.auditKinds()).includes('plug.halted') ? true : undefined));
    // The owner-less stranger in pairing mode gets a code, once, and no indicator either.
    const stranger = message('private-text');
    env.fake.push(stranger);
    await env.replies(stranger.message.chat.id);
    expect(env.fake.sentTo(blocked.message.chat.id)).toHaveLength(0);
    expect(env.fake.actions).toEqual([]);
  });
});
