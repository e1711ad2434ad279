import { afterEach, describe, expect, it } from 'vitest';
import { GUILD_ID, USERS } from '../../fakes/discord/index.js';
import { DM, GENERAL, QUIET, rig, THREAD, type Rig } from './setup.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

describe('discord connector round trips (fake Discord, whole gateway)', () => {
  it('answers a DM in the DM, showing "typing…" first, identifying with the needed intents over plain JSON', async () => {
    r = await rig();
    const { fake, h } = r;
    // The identify carried GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT, over ?v=10&encoding=json.
    expect(fake.gateway.identifies).toHaveLength(1);
    expect(fake.gateway.identifies[0]!.intents).toBe(1 | 512 | 4096 | 32768);
    const url = fake.gateway.connections[0]!;
    expect([url.pathname, url.searchParams.get('v'), url.searchParams.get('encoding'), url.searchParams.has('compress')]).toEqual(['/gateway', '10', 'json', false]);

    const asked = fake.say({ channelId: DM, author: USERS.alice, content: 'hello *there*, <b>friend</b>' });
    const [post] = await h.until(() => (fake.sent(DM).length ? fake.sent(DM) : undefined));
    // Plain text (echo) is escaped for Discord markdown so it shows exactly as typed.
    expect(post!.body.content).toBe('hello \\*there\\*, <b>friend</b>');
    expect(post!.body).toMatchObject({ allowed_mentions: { parse: [] }, enforce_nonce: true });
    expect(post!.body.nonce).toMatch(/^[A-Za-z0-9_-]{25}$/);
    expect(post!.body.message_reference).toBeUndefined(); // a DM needs no quote
    const typed = fake.typing.find((t) => t.channelId === DM);
    expect(typed && typed.at <= post!.at).toBe(true);
    // The sender, conversation and id reached the gateway as Discord's stable ids.
    const received = await r.audits('inbound.received');
    expect(received).toEqual([expect.objectContaining({ actor: `discord:${USERS.alice.id}`, data: expect.objectContaining({ conversation: `discord:${DM}`, kind: 'dm' }) })]);
    expect(asked.id).toBeDefined();
  });

  it('in a guild channel answers only a mention entity or a reply to the bot, quoting the message it answers', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: GENERAL, author: USERS.alice, content: 'MonkeyClaw, are you there? @MonkeyClaw' }); // a name in text is no mention
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'not-addressed'));
    expect(fake.sent(GENERAL)).toHaveLength(0);
    expect(fake.typing.filter((t) => t.channelId === GENERAL)).toHaveLength(0);

    const mention = fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@${fake.bot.id}> what time is it`, mentions: [fake.bot] });
    const [answer] = await h.until(() => (fake.sent(GENERAL).length === 1 ? fake.sent(GENERAL) : undefined));
    expect(answer!.body.content).toBe('@MonkeyClaw what time is it'); // the mention token as people saw it
    expect(answer!.body.message_reference).toEqual({ message_id: mention.id, fail_if_not_exists: false });

    // Replying to the bot's message, without mentioning it, addresses it too.
    fake.say({ channelId: GENERAL, author: USERS.bob, content: 'and tomorrow?', replyTo: answer!.messageId });
    await h.until(() => fake.sent(GENERAL).length === 2);
    expect(fake.sent(GENERAL)[1]!.body.content).toBe('and tomorrow?');

    // Replying to someone else is not addressing the bot.
    fake.say({ channelId: GENERAL, author: USERS.bob, content: 'agreed', replyTo: mention.id as string });
    await h.until(async () => (await r!.audits('plug.halted')).filter((a) => a.data.reason === 'not-addressed').length === 2);
    expect(fake.sent(GENERAL)).toHaveLength(2);
  });

  it("takes a mention of the bot's own role (what clients offer beside the bot) as a mention, and no other role's", async () => {
    r = await rig();
    const { fake, h } = r;
    const botRole = '90351110224678912';
    fake.joinGuild(botRole);
    fake.say({ channelId: GENERAL, author: USERS.alice, content: '<@&555> moderators, look', mentionRoles: ['555'] });
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'not-addressed'));
    fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@&${botRole}> what time is it`, mentionRoles: [botRole] });
    const [answer] = await h.until(() => (fake.sent(GENERAL).length === 1 ? fake.sent(GENERAL) : undefined));
    expect(answer!.body.content).toContain('what time is it');
  });

  it('does not answer in a guild channel nobody allowlisted, even when mentioned', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: QUIET, author: USERS.alice, content: `<@${fake.bot.id}> hi`, mentions: [fake.bot] });
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'group-not-allowlisted'));
    expect(fake.sent(QUIET)).toHaveLength(0);
    // No "typing…" where the config says no answer will come.
    expect(fake.typing.filter((t) => t.channelId === QUIET)).toHaveLength(0);
  });

  it('shows no "typing…" to a sender or channel that run-time access drops: blocked by pair deny, revoked by access revoke', async () => {
    r = await rig();
    const { fake, h } = r;
    await h.store.accessStore().setOverride(`discord:${USERS.alice.id}`, 'deny', 'pairing', []);
    await h.store.accessStore().setOverride(`discord:${GENERAL}`, 'revoke', 'cli', []);
    fake.say({ channelId: DM, author: USERS.alice, content: 'anyone there?' });
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'blocked'));
    fake.say({ channelId: GENERAL, author: USERS.bob, content: `<@${fake.bot.id}> hi`, mentions: [fake.bot] });
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'group-not-allowlisted'));
    // A control said after them, and admitted: its "typing…" and its answer come, so any for the others would have too.
    fake.say({ channelId: THREAD, author: USERS.bob, content: `<@${fake.bot.id}> and here?`, mentions: [fake.bot] });
    await h.until(() => fake.sent(THREAD).length === 1);
    expect(fake.typing.filter((t) => t.channelId === THREAD)).not.toHaveLength(0);
    expect(fake.sent(DM)).toHaveLength(0);
    expect(fake.sent(GENERAL)).toHaveLength(0);
    expect(fake.typing.filter((t) => t.channelId === DM || t.channelId === GENERAL)).toHaveLength(0);
  });

  it('answers a thread message in the thread (a thread is its own channel), learning it is a thread from the Channel object', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: THREAD, author: USERS.alice, content: `<@${fake.bot.id}> in the thread`, mentions: [fake.bot], withChannelType: false });
    const [post] = await h.until(() => (fake.sent(THREAD).length ? fake.sent(THREAD) : undefined));
    expect(post!.body.content).toBe('@MonkeyClaw in the thread');
    expect(fake.sent(GENERAL)).toHaveLength(0);
    expect(fake.requests.some((q) => q.method === 'GET' && q.path === `/api/v10/channels/${THREAD}`)).toBe(true);
  });

  it('admits a thread of an allowlisted channel (its parent from the Channel object), but not a thread of another', async () => {
    r = await rig({ config: { access: { dm: 'open', groups: 'allowlist', allow: [`discord:${GENERAL}`] } } });
    const { fake, h } = r;
    const OTHER_THREAD = '1105555555555555777';
    fake.addThread(OTHER_THREAD, QUIET);
    fake.say({ channelId: OTHER_THREAD, author: USERS.alice, content: `<@${fake.bot.id}> over here`, mentions: [fake.bot] });
    fake.say({ channelId: THREAD, author: USERS.alice, content: `<@${fake.bot.id}> in the thread`, mentions: [fake.bot] });
    const [post] = await h.until(() => (fake.sent(THREAD).length ? fake.sent(THREAD) : undefined));
    expect(post!.body.content).toBe('@MonkeyClaw in the thread');
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'group-not-allowlisted'));
    expect(fake.sent(OTHER_THREAD)).toHaveLength(0);
  });

  it('looks a thread known without its parent up again: one bad lookup does not refuse it for good', async () => {
    r = await rig({ config: { access: { dm: 'open', groups: 'allowlist', allow: [`discord:${GENERAL}`] } } });
    const { fake, h } = r;
    await h.stopConnector();
    // What an earlier run kept of the thread when neither the cache nor a lookup gave its parent.
    await h.store.setConnectorState('discord', `channel:${THREAD}`, { last: '1', talkedAt: Date.now(), kind: 'channel', thread: true, guildId: GUILD_ID });
    await h.startConnector();
    fake.say({ channelId: THREAD, author: USERS.alice, content: `<@${fake.bot.id}> in the thread`, mentions: [fake.bot] });
    const [post] = await h.until(() => (fake.sent(THREAD).length ? fake.sent(THREAD) : undefined));
    expect(post!.body.content).toBe('@MonkeyClaw in the thread');
  });

  it('never answers bots: other bots, webhooks, and its own messages echoed back by the gateway', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: GENERAL, author: USERS.otherBot, content: `<@${fake.bot.id}> ping`, mentions: [fake.bot] });
    await h.until(async () => (await r!.audits('plug.halted')).some((a) => a.data.reason === 'bot'));
    // A webhook post carries a made-up author without the bot flag: still automated, never answered.
    const hook = fake.say({ channelId: GENERAL, author: USERS.bob, content: `<@${fake.bot.id}> deploy done`, mentions: [fake.bot], dispatch: false });
    fake.gateway.dispatch('MESSAGE_CREATE', { ...fake.gatewayShape(hook), webhook_id: '223704706495545344' });
    await h.until(async () => (await r!.audits('plug.halted')).filter((a) => a.data.reason === 'bot').length === 2);
    // The bot's own reply comes back as MESSAGE_CREATE (as on Discord); answering it would loop.
    fake.say({ channelId: DM, author: USERS.alice, content: 'one' });
    await h.until(() => fake.sent(DM).length === 1);
    fake.say({ channelId: DM, author: USERS.alice, content: 'two' });
    await h.until(() => fake.sent(DM).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['one', 'two']);
    expect(fake.sent(GENERAL)).toHaveLength(0);
  });

  it('normalizes an edit as edited (audited, never answered) and ignores link-unfurl updates', async () => {
    r = await rig();
    const { fake, h } = r;
    const m = fake.say({ channelId: DM, author: USERS.alice, content: 'first' });
    await h.until(() => fake.sent(DM).length === 1);
    fake.edit(DM, m.id as string, 'first, edited');
    await h.until(async () => (await r!.audits('inbound.edit_ignored')).length === 1);
    // MESSAGE_UPDATE with edited_timestamp null (an embed was added) is not an edit.
    fake.gateway.dispatch('MESSAGE_UPDATE', { ...fake.gatewayShape(m), edited_timestamp: null });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await r.audits('inbound.edit_ignored')).toHaveLength(1);
    expect(fake.sent(DM)).toHaveLength(1);
  });

  it('asks Discord who wrote the original when a reply arrives without referenced_message', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@${fake.bot.id}> first`, mentions: [fake.bot] });
    const [answer] = await h.until(() => (fake.sent(GENERAL).length === 1 ? fake.sent(GENERAL) : undefined));
    const reply = fake.say({ channelId: GENERAL, author: USERS.bob, content: 'a reply', replyTo: answer!.messageId, dispatch: false });
    const { referenced_message: _omitted, ...shape } = fake.gatewayShape(reply);
    fake.gateway.dispatch('MESSAGE_CREATE', shape);
    await h.until(() => fake.sent(GENERAL).length === 2);
    expect(fake.requests.some((q) => q.method === 'GET' && q.path === `/api/v10/channels/${GENERAL}/messages/${answer!.messageId}`)).toBe(true);
  });
});
