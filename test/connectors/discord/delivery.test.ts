import { afterEach, describe, expect, it } from 'vitest';
import { nonceFor } from '../../../connectors/discord/send.js';
import type { Reply } from '../../../core/event.js';
import { USERS } from '../../fakes/discord/index.js';
import { DM, GENERAL, rig, type Rig } from './setup.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
const unescape = (s: string) => s.replace(/\\([^\sA-Za-z0-9])/g, '$1');

describe('discord connector delivery', () => {
  it('splits a 10,000-character reply into parts of at most 2,000, in order, quoting the original only once', async () => {
    r = await rig();
    const { fake, h } = r;
    const words = Array.from({ length: 1_600 }, (_, i) => `word${i}`).join(' ');
    const text = `<@${fake.bot.id}> ${words}`.slice(0, 10_000);
    const asked = fake.say({ channelId: GENERAL, author: USERS.alice, content: text, mentions: [fake.bot] });
    await h.until(async () => (await r!.audits('outbound.sent')).length === 1);
    const parts = fake.sent(GENERAL);
    expect(parts.length).toBeGreaterThanOrEqual(5);
    for (const p of parts) expect((p.body.content as string).length).toBeLessThanOrEqual(2_000);
    expect(squash(parts.map((p) => p.body.content).join(' '))).toBe(squash(text.replace(`<@${fake.bot.id}>`, '@MonkeyClaw')));
    // Posted in order (message ids grow with time) and only the first part answers the original.
    const ids = parts.map((p) => BigInt(p.messageId));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(parts[0]!.body.message_reference).toEqual({ message_id: asked.id, fail_if_not_exists: false });
    expect(parts.slice(1).every((p) => p.body.message_reference === undefined)).toBe(true);
    // Every part has its own nonce, derived from the reply's idempotency key and the part's index.
    expect(new Set(parts.map((p) => p.body.nonce)).size).toBe(parts.length);
  });

  it('posts a reply of more than ten parts without piling listeners on the send\'s abort signal', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      r = await rig();
      const { fake, h } = r;
      const words = Array.from({ length: 5_000 }, (_, i) => `word${i}`).join(' ');
      fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@${fake.bot.id}> ${words}`, mentions: [fake.bot] });
      await h.until(async () => (await r!.audits('outbound.sent')).length === 1);
      expect(fake.sent(GENERAL).length).toBeGreaterThan(12);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('splits by the escaped length: 1,500 characters of markdown punctuation escape to 2,700 and still arrive', async () => {
    r = await rig();
    const { fake, h } = r;
    const text = '*_*_ '.repeat(300).trim();
    fake.say({ channelId: DM, author: USERS.alice, content: text });
    await h.until(async () => (await r!.audits('outbound.sent')).length === 1);
    const parts = fake.sent(DM);
    expect(parts.length).toBe(2); // the fake, like Discord, refuses anything over 2,000
    for (const p of parts) expect((p.body.content as string).length).toBeLessThanOrEqual(2_000);
    expect(squash(unescape(parts.map((p) => p.body.content).join(' ')))).toBe(text);
  });

  it('lets maxMessageChars lower the split limit but never raise it past what Discord accepts', async () => {
    r = await rig({ connector: { maxMessageChars: 300 } });
    const text = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    r.fake.say({ channelId: DM, author: USERS.alice, content: text });
    await r.h.until(async () => (await r!.audits('outbound.sent')).length === 1);
    expect(r.fake.sent(DM).length).toBeGreaterThan(2);
    for (const p of r.fake.sent(DM)) expect((p.body.content as string).length).toBeLessThanOrEqual(300);
    await r.stop();

    r = await rig({ connector: { maxMessageChars: 5_000 } });
    r.fake.say({ channelId: DM, author: USERS.alice, content: 'x '.repeat(1_500) });
    await r.h.until(async () => (await r!.audits('outbound.sent')).length === 1);
    for (const p of r.fake.sent(DM)) expect((p.body.content as string).length).toBeLessThanOrEqual(2_000);
  });

  it('never pings: @everyone, role and user mentions in the text go out with allowed_mentions.parse empty', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: `@everyone @here <@&197038439483310086> <@${USERS.bob.id}> look` });
    fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@${fake.bot.id}> @everyone ${'long '.repeat(500)}`, mentions: [fake.bot] });
    await h.until(async () => (await r!.audits('outbound.sent')).length === 2);
    expect(fake.posts.length).toBeGreaterThanOrEqual(3);
    for (const p of fake.posts) expect(p.body.allowed_mentions).toEqual({ parse: [] }); // no users, roles, nor replied_user
    expect(fake.sent(DM)[0]!.body.content).toContain('@everyone');
  });

  it('dead-letters a reply Discord refuses (404 Unknown Channel) after one try, not after every retry', async () => {
    r = await rig();
    const { fake, h } = r;
    const gone = '41771983423140000';
    const reply: Reply = { v: 1, idempotencyKey: 'gone:reply', eventId: 'gone', address: { platform: 'discord', account: 'discord', conversation: { id: gone, kind: 'channel' } }, text: 'hello?', format: 'plain', kind: 'reply' };
    await h.queue.enqueue('outbound:discord', [{ id: reply.idempotencyKey, partition: `discord:discord:${gone}`, payload: reply }]);
    await h.until(async () => (await h.queue.deadLetters()).some((d) => d.jobId === 'gone:reply'));
    expect(fake.requests.filter((q) => q.method === 'POST' && q.path.includes(gone))).toHaveLength(1);
    expect((await h.queue.deadLetters()).find((d) => d.jobId === 'gone:reply')!.error).toContain('Discord refused the message (404 10003)');
  });

  it('waits out a 429 for retry_after seconds, then posts the reply once', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.rateLimitNext('POST', /^\/channels\/\d+\/messages$/, 1);
    fake.say({ channelId: DM, author: USERS.alice, content: 'patience' });
    await h.until(() => fake.sent(DM).length === 1, 15_000);
    const posts = fake.requests.filter((q) => q.method === 'POST' && q.path === `/api/v10/channels/${DM}/messages`);
    expect(posts.map((q) => q.status)).toEqual([429, 200]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1_000);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['patience']);
  });

  it('keeps a channel\'s 429 across a restart: the restarted connector waits it out instead of posting into another', async () => {
    r = await rig();
    const { fake, h } = r;
    const reply = (id: string): Reply => ({
      v: 1,
      idempotencyKey: id,
      eventId: id,
      address: { platform: 'discord', account: 'discord', conversation: { id: DM, kind: 'dm' } },
      text: id,
      format: 'plain',
      kind: 'reply',
    });
    fake.rateLimitNext('POST', new RegExp(`^/channels/${DM}/messages$`), 30);
    // discord.js sits the 30 s out in memory; the process ends during the wait (a restart) and that send is lost with it.
    void h.connector.send(reply('before'), new AbortController().signal).catch(() => undefined);
    await h.until(async () => (await h.store.getConnectorState('discord', `wait:${DM}`)) !== undefined);
    await h.stopConnector();
    await h.startConnector();
    const posts = () => fake.requests.filter((q) => q.method === 'POST' && q.path === `/api/v10/channels/${DM}/messages`);
    await expect(h.connector.send(reply('after'), new AbortController().signal)).rejects.toMatchObject({ name: 'RetryLaterError' });
    expect(posts()).toHaveLength(1);
  });

  it('a 429 on "typing…" does not hold the channel\'s replies: only posts and edits of messages keep a wait', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.rateLimitNext('POST', /^\/channels\/\d+\/typing$/, 30);
    fake.say({ channelId: DM, author: USERS.alice, content: 'still answered' });
    await h.until(() => fake.sent(DM).length === 1, 5_000);
    expect(fake.requests.some((q) => q.status === 429 && q.path.endsWith('/typing'))).toBe(true);
    expect(await h.store.getConnectorState('discord', `wait:${DM}`)).toBeUndefined();
  });

  it('honours a global 429 on every route: once it arrives, a post to another channel waits too', async () => {
    r = await rig();
    const { fake, h } = r;
    const reply = (id: string, channel: string): Reply => ({
      v: 1,
      idempotencyKey: id,
      eventId: id,
      address: { platform: 'discord', account: 'discord', conversation: { id: channel, kind: channel === DM ? 'dm' : 'channel' } },
      text: id,
      format: 'plain',
      kind: 'reply',
    });
    fake.rateLimitNext('POST', new RegExp(`^/channels/${DM}/messages$`), 1, true);
    const first = h.connector.send(reply('first', DM), new AbortController().signal);
    const limited = await h.until(() => fake.requests.find((q) => q.status === 429));
    // The client learns of the global limit when it reads the 429; a request it issued before then cannot know.
    await new Promise((resolve) => setTimeout(resolve, 250));
    await h.connector.send(reply('second', GENERAL), new AbortController().signal);
    await first;
    const second = fake.requests.find((q) => q.path === `/api/v10/channels/${GENERAL}/messages`)!;
    expect(second.arrived - limited.at).toBeGreaterThanOrEqual(950);
    expect(fake.sent().map((p) => p.body.content)).toEqual(expect.arrayContaining(['first', 'second']));
  });

  it('answers a redelivered MESSAGE_CREATE (same message id) once', async () => {
    r = await rig();
    const { fake, h } = r;
    const m = fake.say({ channelId: DM, author: USERS.alice, content: 'only once' });
    await h.until(() => fake.sent(DM).length === 1);
    const typed = fake.typing.filter((t) => t.channelId === DM).length;
    fake.gateway.dispatch('MESSAGE_CREATE', fake.gatewayShape(m));
    fake.gateway.dispatch('MESSAGE_CREATE', fake.gatewayShape(m));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // No "typing…" for a repeat: no second answer would ever end it.
    expect(fake.typing.filter((t) => t.channelId === DM)).toHaveLength(typed);
    fake.say({ channelId: DM, author: USERS.alice, content: 'barrier' }); // same conversation: handled after the repeats
    await h.until(() => fake.sent(DM).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['only once', 'barrier']);
  });

  it('a send retried with the same idempotency key posts nothing twice: its parts are recorded, and its nonces reused', async () => {
    r = await rig();
    const { fake, h } = r;
    const reply: Reply = {
      v: 1,
      idempotencyKey: 'evt-42:reply',
      eventId: 'evt-42',
      address: { platform: 'discord', account: 'discord', conversation: { id: DM, kind: 'dm' } },
      text: 'paragraph one. '.repeat(150).trim(), // over 2,000: two parts
      format: 'plain',
      kind: 'reply',
    };
    const first = await h.connector.send(reply, new AbortController().signal);
    expect(first).toHaveLength(2);
    // The job runs again (the send record was never written): the recorded parts are not posted again.
    expect(await h.connector.send(reply, new AbortController().signal)).toEqual(first);
    expect(fake.posts).toHaveLength(2);
    // As if the process died after Discord answered but before the parts were recorded: the nonces catch it.
    await h.store.setConnectorState('discord', 'sent:evt-42:reply', []);
    expect(await h.connector.send(reply, new AbortController().signal)).toEqual(first);
    expect(fake.sent(DM)).toHaveLength(2);
    expect(fake.posts.filter((p) => p.deduped)).toHaveLength(2);
    expect(fake.posts.map((p) => p.body.nonce)).toEqual([0, 1, 0, 1].map((i) => nonceFor('evt-42:reply', i)));
  });
});
