import { afterEach, describe, expect, it } from 'vitest';
import { create } from '../../../connectors/discord/index.js';
import { parseConfig } from '../../../core/config.js';
import { GUILD_ID, startFakeDiscord, USERS } from '../../fakes/discord/index.js';
import { DM, GENERAL, QUIET, rig, THREAD, type Rig } from './setup.js';
import { noSealedState } from '../../../core/sealed-state.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

/** A DM answered once, the connector stopped, and a message said in the DM meanwhile: what a catch-up must find. */
async function missedWhileDown() {
  r = await rig();
  const { fake, h } = r;
  fake.say({ channelId: DM, author: USERS.alice, content: 'before' });
  await h.until(() => fake.sent(DM).length === 1);
  await h.stopConnector();
  fake.say({ channelId: DM, author: USERS.alice, content: 'missed during an outage', dispatch: false });
  return { fake, h };
}

describe('discord connector across downtime, reconnects and bad input', () => {
  it('answers, exactly once, what was posted while the connector was stopped (catch-up after READY), only where it had posted', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: 'before' });
    // A mention in a channel nobody allowlisted is refused: the assistant never talked there.
    fake.say({ channelId: QUIET, author: USERS.alice, content: `<@${fake.bot.id}> anyone?`, mentions: [fake.bot] });
    await h.until(() => fake.sent(DM).length === 1);
    await h.until(async () => (await r!.audits('plug.halted')).length === 1);
    await h.stopConnector();

    fake.say({ channelId: DM, author: USERS.alice, content: 'while you were away', dispatch: false });
    fake.say({ channelId: DM, author: USERS.alice, content: 'and this too', dispatch: false });
    fake.say({ channelId: QUIET, author: USERS.alice, content: `<@${fake.bot.id}> still there?`, mentions: [fake.bot], dispatch: false });
    await h.startConnector();
    await h.until(() => fake.sent(DM).length === 3);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['before', 'while you were away', 'and this too']);
    const fetched = fake.requests.filter((q) => q.method === 'GET' && q.path.includes('/messages?'));
    expect(fetched.map((q) => new URL(q.path, 'http://x').pathname)).toEqual([`/api/v10/channels/${DM}/messages`]);
    expect(new URL(fetched[0]!.path, 'http://x').searchParams.get('limit')).toBe('100');

    // Another restart finds nothing new: the memory moved past what was answered, and dedupe covers any overlap.
    await h.stopConnector();
    await h.startConnector();
    await settle(500);
    expect(fake.sent(DM)).toHaveLength(3);
  });

  it('tries a catch-up again when Discord answers it with server errors, and answers what was missed without a restart', async () => {
    const { fake, h } = await missedWhileDown();
    // Two tries' worth (discord.js itself asks four times a try).
    fake.failNext('GET', new RegExp(`^/channels/${DM}/messages$`), 8);
    await h.startConnector();
    await h.until(() => fake.sent(DM).length === 2, 15_000);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['before', 'missed during an outage']);
    // A live message after it is answered after it, and a restart finds nothing more to answer.
    fake.say({ channelId: DM, author: USERS.alice, content: 'live after' });
    await h.until(() => fake.sent(DM).length === 3);
    await h.stopConnector();
    await h.startConnector();
    await settle(500);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['before', 'missed during an outage', 'live after']);
  }, 30_000);

  it('stopped while a catch-up is retried, moves no channel memory past what it missed: the next start answers it all', async () => {
    const { fake, h } = await missedWhileDown();
    fake.failNext('GET', new RegExp(`^/channels/${DM}/messages$`), 1_000);
    const history = () => fake.requests.filter((q) => q.method === 'GET' && q.path.includes(`/channels/${DM}/messages?`)).length;
    await h.startConnector();
    await h.until(() => history() >= 4);
    // Queued behind the catch-up in its channel's lane when the stop comes.
    fake.say({ channelId: DM, author: USERS.alice, content: 'live while catching up' });
    await settle(200);
    await h.stopConnector();
    fake.recover();
    await h.startConnector();
    await h.until(() => fake.sent(DM).length === 3, 15_000);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['before', 'missed during an outage', 'live while catching up']);
  }, 30_000);

  it('tries a publish again until it is stored: a message the database could not take is answered, before the next one', async () => {
    let failures = 2;
    r = await rig({
      wrapPublish: (publish) => async (events) => {
        if (failures-- > 0) throw new Error('the database stayed locked for 10 s');
        return publish(events);
      },
    });
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: 'first, while the database is locked' });
    fake.say({ channelId: DM, author: USERS.alice, content: 'second' });
    await h.until(() => fake.sent(DM).length === 2, 15_000);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['first, while the database is locked', 'second']);
    await h.stopConnector();
    await h.startConnector();
    await settle(500);
    expect(fake.sent(DM)).toHaveLength(2);
  }, 30_000);

  it('says so when more was missed than a catch-up answers, and shows "typing…" once for the channel, not once a message', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: 'before' });
    await h.until(() => fake.sent(DM).length === 1);
    await h.stopConnector();
    for (let i = 1; i <= 105; i++) fake.say({ channelId: DM, author: USERS.alice, content: `missed ${i}`, dispatch: false });
    const typingBefore = fake.typing.filter((t) => t.channelId === DM).length;
    await h.startConnector();
    // Published (the replies then go out at Discord's pace, about one a second): the oldest 100, and the cut said.
    await h.until(async () => (await r!.audits('inbound.received')).length === 101, 30_000);
    const texts = (await r.audits('inbound.received')).length;
    expect(texts).toBe(101);
    expect(await r.audits('inbound.catchup_truncated')).toEqual([expect.objectContaining({ subject: `discord:${DM}`, data: expect.objectContaining({ fetched: 100 }) })]);
    expect(fake.typing.filter((t) => t.channelId === DM).length - typingBefore).toBeLessThan(5);
  }, 60_000);

  it('catches up in a thread remembered without its parent as the guild thread it is, never as a DM', async () => {
    r = await rig({ config: { access: { dm: 'open', groups: 'allowlist', allow: [`discord:${GENERAL}`] } } });
    const { fake, h } = r;
    await h.stopConnector();
    const before = fake.say({ channelId: THREAD, author: USERS.alice, content: 'earlier', dispatch: false });
    await h.store.setConnectorState('discord', `channel:${THREAD}`, { last: before.id, talkedAt: Date.now(), kind: 'channel', thread: true, guildId: GUILD_ID });
    fake.say({ channelId: THREAD, author: USERS.alice, content: `<@${fake.bot.id}> missed`, mentions: [fake.bot], dispatch: false });
    await h.startConnector();
    // Fetched messages carry no guild_id: the memory knows the guild, and the lookup the parent it is admitted by.
    const [post] = await h.until(() => (fake.sent(THREAD).length ? fake.sent(THREAD) : undefined));
    expect(post!.body.content).toBe('@MonkeyClaw missed');
    expect((await r.audits('inbound.received')).map((a) => a.data.kind)).toEqual(['channel']);
  });

  it('does not catch up in a channel last talked in more than 24 hours ago', async () => {
    r = await rig();
    const { fake, h } = r;
    await h.stopConnector();
    const old = fake.say({ channelId: GENERAL, author: USERS.alice, content: 'ancient', dispatch: false });
    await h.store.setConnectorState('discord', `channel:${GENERAL}`, { last: old.id, talkedAt: Date.now() - 25 * 3_600_000, kind: 'channel', thread: false });
    fake.say({ channelId: GENERAL, author: USERS.alice, content: `<@${fake.bot.id}> missed`, mentions: [fake.bot], dispatch: false });
    await h.startConnector();
    await settle(500);
    expect(fake.requests.some((q) => q.path.startsWith(`/api/v10/channels/${GENERAL}/messages?`))).toBe(false);
    expect(fake.sent(GENERAL)).toHaveLength(0);
  });

  it('resumes a dropped gateway connection at resume_gateway_url and answers what was dispatched meanwhile', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: 'one' });
    await h.until(() => fake.sent(DM).length === 1);
    fake.gateway.drop();
    fake.say({ channelId: DM, author: USERS.alice, content: 'two, sent while the socket was down' });
    await h.until(() => fake.sent(DM).length === 2, 15_000);
    fake.say({ channelId: DM, author: USERS.alice, content: 'three' });
    await h.until(() => fake.sent(DM).length === 3);
    expect(fake.sent(DM).map((p) => p.body.content)).toEqual(['one', 'two, sent while the socket was down', 'three']);
    expect(fake.gateway.identifies).toHaveLength(1); // resumed, not a new session
    expect(fake.gateway.resumes).toHaveLength(1);
    expect(fake.gateway.connections.map((u) => u.pathname)).toEqual(['/gateway', '/resume']);
  });

  it('gives up, saying why, when Discord closes a running gateway for good (an intent switched off): no deaf process', async () => {
    r = await rig();
    const { fake, h } = r;
    fake.say({ channelId: DM, author: USERS.alice, content: 'before' });
    await h.until(() => fake.sent(DM).length === 1);
    expect(h.failures).toEqual([]);
    fake.gateway.closeWith(4014, 'Disallowed intent(s).');
    const [failure] = await h.until(() => h.failures.length > 0 && h.failures);
    expect(failure!.message).toMatch(/^Discord closed the gateway \(4014\): enable "Message Content Intent"/);
  });

  it('rejects malformed dispatches (audited), never crashes, and keeps answering; an over-long text gets a notice', async () => {
    r = await rig();
    const { fake, h } = r;
    const valid = fake.gatewayShape(fake.say({ channelId: DM, author: USERS.alice, content: 'template', dispatch: false }));
    const { author: _author, ...noAuthor } = valid;
    const frames: unknown[] = [
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: null },
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: noAuthor },
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: { ...valid, id: 1234 } },
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: { ...valid, mentions: 'everyone' } },
      { op: 0, s: null, t: 'MESSAGE_UPDATE', d: { ...valid, edited_timestamp: new Date().toISOString(), author: { id: '<script>' } } },
      { op: 0, s: null, t: 'MESSAGE_UPDATE', d: { id: valid.id, channel_id: DM, embeds: [] } }, // a partial embed update: no edit, no audit
      { op: 0, s: null, t: 'CHANNEL_CREATE', d: 'not an object' },
      { op: 0, s: null, d: { id: '1' } },
      '{ not json',
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: { ...valid, id: '1105555555555555001', content: 'x'.repeat(150_000) } },
      { op: 0, s: null, t: 'MESSAGE_CREATE', d: { ...valid, id: '1105555555555555002', type: 7, content: '' } }, // a member joined
    ];
    for (const f of frames) fake.gateway.raw(f);
    fake.say({ channelId: DM, author: USERS.alice, content: 'still here?' });
    // The over-long message is not rejected: its sender hears why it is not answered, before the next answer.
    await h.until(() => fake.sent(DM).length === 2);
    expect(fake.sent(DM)[0]!.body.content).toContain('Your message is too long (150,000 characters)');
    expect(fake.sent(DM)[1]!.body.content).toBe('still here?');
    const rejected = await h.until(async () => {
      const a = await r!.audits('inbound.rejected');
      return a.length >= 7 ? a : undefined;
    });
    await settle();
    expect(await r.audits('inbound.rejected')).toHaveLength(7); // the partial embed update is not among them
    expect(rejected.map((a) => a.data.event ?? 'history')).toEqual(
      expect.arrayContaining(['MESSAGE_CREATE', 'MESSAGE_UPDATE', 'CHANNEL_CREATE']),
    );
    expect((await r.audits('inbound.unsupported')).map((a) => a.data.reason)).toEqual(['message type 7']);
    expect(fake.gateway.identifies).toHaveLength(1); // the session survived every bad frame
  });

  it('check(): the token through GET /users/@me and the gateway through HELLO; a bad token is named as such', async () => {
    r = await rig();
    const { fake, h } = r;
    const results = await h.connector.check!();
    expect(results).toEqual([
      { ok: true, what: 'discord token', detail: `authorized as MonkeyClaw (${fake.bot.id})` },
      expect.objectContaining({ ok: true, what: 'discord gateway', detail: expect.stringMatching(/^reachable at ws:\/\/127\.0\.0\.1:\d+\/gateway \(heartbeat every 45000 ms\)/) }),
      expect.objectContaining({ ok: true, what: 'discord events' }),
    ]);

    const config = parseConfig({ connectors: { discord: { enabled: true, token: 'env:WRONG', apiRoot: fake.apiRoot } } });
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const wrong = create({
      name: 'discord',
      config: config.connectors.discord!,
      gateway: config,
      resolve: () => 'not-the-token',
      sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: h.store,
      log,
      dataDir: '/nonexistent',
      now: Date.now,
    });
    const refused = await wrong.check!();
    expect(refused).toEqual([{ ok: false, what: 'discord token', detail: 'Discord refused the bot token: copy it again from Developer Portal → Bot → Reset Token' }]);
    // Discord answering the gateway request is no unreachable gateway: its refusal is said as such.
    fake.failNext('GET', /^\/gateway\/bot$/, 1, 401);
    expect((await h.connector.check!())[1]).toEqual({ ok: false, what: 'discord gateway', detail: 'Discord refused the bot token: copy it again from Developer Portal → Bot → Reset Token' });
    // discord.js retries a 5xx itself (three times): the outage outlasts its retries.
    fake.failNext('GET', /^\/gateway\/bot$/, 10, 503);
    expect((await h.connector.check!())[1]).toMatchObject({ ok: false, what: 'discord gateway', detail: expect.stringMatching(/^Discord answered 503 to GET \/gateway\/bot: /) });
    fake.recover();
    // Nothing listening: Discord refused nothing, it was never reached.
    const closed = parseConfig({ connectors: { discord: { enabled: true, token: 'env:T', apiRoot: 'http://127.0.0.1:1/api' } } });
    const unreachable = create({ name: 'discord', config: closed.connectors.discord!, gateway: closed, resolve: () => 'some-token', sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: h.store, log, dataDir: '/x', now: Date.now });
    expect(await unreachable.check!()).toEqual([
      { ok: false, what: 'discord token', detail: 'could not reach Discord at http://127.0.0.1:1/api: connection refused: nothing is listening at 127.0.0.1:1' },
    ]);
    // A wrong root is a config error naming its field, before any process starts (exit 2), not a crash-looping connector.
    const rootError = (apiRoot: string) => () => parseConfig({ connectors: { discord: { enabled: true, token: 'env:T', apiRoot } } });
    expect(rootError(`${fake.apiRoot}/v10`)).toThrow(/connectors\.discord\.apiRoot: must be the root without a version/);
    expect(rootError('http://discord.example.org/api')).toThrow(/connectors\.discord\.apiRoot: must be https:\/\//);
  });
});

describe('discord connector start-up failures, in plain words', () => {
  it('names the Message Content intent when the gateway refuses the intents (close 4014)', async () => {
    const fake = await startFakeDiscord();
    fake.state.disallowedIntents = 1 << 15;
    const config = parseConfig({ connectors: { discord: { enabled: true, token: 'env:DISCORD_TOKEN', apiRoot: fake.apiRoot } } });
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const state = { appendAudit: async () => undefined, getConnectorState: async () => undefined, setConnectorState: async () => undefined, listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null };
    const connector = create({ name: 'discord', config: config.connectors.discord!, gateway: config, resolve: () => fake.token, sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: state, log, dataDir: '/x', now: Date.now });
    try {
      await expect(connector.start({ publish: async () => [], fail: () => undefined })).rejects.toThrow(/enable "Message Content Intent"/);
      fake.state.disallowedIntents = 0;
      const bad = create({ name: 'discord', config: config.connectors.discord!, gateway: config, resolve: () => 'wrong', sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: state, log, dataDir: '/x', now: Date.now });
      await expect(bad.start({ publish: async () => [], fail: () => undefined })).rejects.toThrow(/Discord refused the bot token/);
    } finally {
      await fake.close();
    }
  });
});
