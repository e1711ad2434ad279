import { afterEach, describe, expect, it } from 'vitest';
import { createSlackConnector } from '../../../connectors/slack/index.js';
import { threadKey } from '../../../connectors/slack/send.js';
import type { ChannelEvent } from '../../../core/event.js';
import { FAST, SECRETS, fixture, freshTs, sleep, startSlack, type SlackRig } from './helpers.js';

const DM = 'D024BE91L';
const CHANNEL = 'C0LAN2Q65';

let rig: SlackRig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

const dm = (text: string, ts = freshTs()) => fixture('message.im', { text, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` });

describe('slack connector, Socket Mode', () => {
  it('answers a DM in the DM, at top level, and acks the envelope only once the event is enqueued', async () => {
    rig = await startSlack();
    const envelope = rig.fake.push(dm('Hello hello can you hear me?'));
    const [post] = await rig.waitPosts(DM, 1);
    expect(post).toMatchObject({ channel: DM, text: 'Hello hello can you hear me?', unfurl_links: 'false' });
    expect(post!.thread_ts).toBeUndefined();
    expect(rig.fake.acked(envelope)).toBe(true);
    const kinds = await rig.harness.until(async () => {
      const k = await rig!.harness.auditKinds();
      return k.includes('outbound.sent') && k;
    });
    expect(kinds).toContain('inbound.received');
  });

  it('a pairing request names the sender from users.info when the event carries no profile, asking once', async () => {
    rig = await startSlack({ gateway: { access: { dm: 'pairing' } }, people: { U2147483697: 'Ada Lovelace' } });
    rig.fake.push(dm('who goes there?'));
    const [notice] = await rig.waitPosts(DM, 1);
    expect(notice!.text).toMatch(/[A-HJ-NP-Z2-9]{8}/);
    const [request] = await rig.harness.store.accessStore().pendingPairings(Date.now());
    expect(request).toMatchObject({ identity: 'slack:U2147483697', name: 'Ada Lovelace' });
    rig.fake.push(dm('still there?'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).filter((k) => k === 'inbound.received').length >= 2);
    expect(rig.fake.calls.filter((c) => c.method === 'users.info')).toHaveLength(1);
  });

  it('without users:read a message still arrives, nameless, and no one else is looked up for a while', async () => {
    rig = await startSlack();
    rig.fake.push(dm('no scope for names'));
    const [post] = await rig.waitPosts(DM, 1);
    expect(post!.text).toBe('no scope for names');
    const ts = freshTs();
    rig.fake.push(fixture('message.im', { text: 'someone else', user: 'U0OTHER01', ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` }));
    await rig.waitPosts(DM, 2);
    expect(rig.fake.calls.filter((c) => c.method === 'users.info')).toHaveLength(1);
  });

  it('acks an envelope only after publish resolved, and leaves it un-acked when publishing fails', async () => {
    rig = await startSlack();
    await rig.harness.stopConnector(); // only the instance below holds a socket
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let failNext = true;
    const published: unknown[] = [];
    const c = createSlackConnector(rig.deps(), FAST);
    await c.start({
      fail: () => undefined,
      publish: async (events) => {
        if (failNext) {
          failNext = false;
          throw new Error('queue unavailable');
        }
        await gate;
        published.push(...events);
        return events as ChannelEvent[];
      },
    });
    try {
      const id = rig.fake.push(dm('durable first'));
      await sleep(300);
      expect(rig.fake.acked(id)).toBe(false);
      rig.fake.redeliver(id);
      await sleep(300);
      expect(published).toHaveLength(0);
      expect(rig.fake.acked(id)).toBe(false);
      release();
      await rig.harness.until(() => rig!.fake.acked(id));
      expect(published).toHaveLength(1);
    } finally {
      await c.stop();
    }
  });

  it('ignores a channel message without a mention, and answers a mention once (message + app_mention) in its thread', async () => {
    rig = await startSlack();
    const quiet = freshTs();
    const e1 = rig.fake.push(fixture('message.channels', { ts: quiet, event_ts: quiet }));
    await rig.harness.until(() => rig!.fake.acked(e1));

    const ts = freshTs();
    // Slack sends a channel mention twice: as `message` (with the user element in blocks) and as `app_mention`.
    const e2 = rig.fake.push(fixture('message.channels.mention', { ts, event_ts: ts }));
    const e3 = rig.fake.push(fixture('app_mention', { ts, event_ts: ts }));
    const [post] = await rig.waitPosts(CHANNEL, 1);
    expect(post).toMatchObject({ text: 'is it everything a river should be?', thread_ts: ts });
    await rig.harness.until(() => rig!.fake.acked(e2) && rig!.fake.acked(e3));
    await sleep(600);
    expect(rig.postsIn(CHANNEL)).toHaveLength(1);
    expect(await rig.harness.auditKinds()).toContain('plug.halted');
  });

  it('answers in the thread: a mention inside a thread, then a follow-up without mention in a thread it answered in', async () => {
    rig = await startSlack();
    const ts = freshTs();
    const parent = '1515449500.000100';
    rig.fake.push(fixture('message.thread', { ts, event_ts: ts, thread_ts: parent }));
    const [first] = await rig.waitPosts(CHANNEL, 1);
    expect(first).toMatchObject({ thread_ts: parent, text: 'and in this thread?' });
    // Recorded once Slack has answered the post: a reply racing that record (faster than any person) is not taken
    // for one in a thread the assistant spoke in.
    await rig.harness.until(async () => (await rig!.harness.store.getConnectorState('slack', threadKey(CHANNEL, parent))) !== undefined);

    // The assistant has spoken in this thread: a reply there addresses it without a mention.
    const next = freshTs();
    rig.fake.push(fixture('message.thread', { ts: next, event_ts: next, thread_ts: parent, text: 'and after that?' }));
    const posts = await rig.waitPosts(CHANNEL, 2);
    expect(posts[1]).toMatchObject({ thread_ts: parent, text: 'and after that?' });

    // A thread it never spoke in is not addressed without a mention.
    const other = freshTs();
    const e = rig.fake.push(fixture('message.thread', { ts: other, event_ts: other, thread_ts: '1515449400.000001', text: 'not for you' }));
    await rig.harness.until(() => rig!.fake.acked(e));
    await sleep(500);
    expect(rig.postsIn(CHANNEL)).toHaveLength(2);
  });

  it('answers a DM sent inside a thread in that thread', async () => {
    rig = await startSlack();
    const parent = freshTs();
    const ts = freshTs();
    rig.fake.push(fixture('message.im', { ts, event_ts: ts, thread_ts: parent, text: 'in a DM thread' }));
    const [post] = await rig.waitPosts(DM, 1);
    expect(post).toMatchObject({ thread_ts: parent, text: 'in a DM thread' });
  });

  it('splits a 10,000-character reply into ordered parts of at most 4,000, about a second apart', async () => {
    rig = await startSlack({ tuning: { channelIntervalMs: 1_000 } });
    const words = Array.from({ length: 2_000 }, (_, i) => `w${String(i).padStart(3, '0')}`);
    const text = words.join(' ').slice(0, 10_000);
    expect(text).toHaveLength(10_000);
    rig.fake.push(dm(text));
    const posts = await rig.waitPosts(DM, 3, 15_000);
    await sleep(300);
    const all = rig.postsIn(DM);
    expect(all).toHaveLength(3);
    for (const p of all) expect(p.text.length).toBeLessThanOrEqual(4_000);
    expect(all.map((p) => p.text).join(' ').split(/\s+/)).toEqual(text.split(' '));
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(990);
    expect(posts[2]!.at - posts[1]!.at).toBeGreaterThanOrEqual(990);
  });

  it('escapes user text so a mention, a broadcast or an entity stays text', async () => {
    rig = await startSlack();
    // A mention and a broadcast in the user's text are shown as they read (@U123, @channel), and only as text.
    rig.fake.push(dm('<@U123> & <!channel>'));
    const [post] = await rig.waitPosts(DM, 1);
    expect(post!.text).toBe('@U123 &amp; @channel');
    // What a person typed as `<b>` arrives escaped from Slack and goes back exactly as typed.
    rig.fake.push(dm('&lt;b&gt; &amp;amp;'));
    const posts = await rig.waitPosts(DM, 2);
    expect(posts[1]!.text).toBe('&lt;b&gt; &amp;amp;');
    // Formatting markers are not formatting in a plain reply: posted with mrkdwn off, byte for byte as typed.
    rig.fake.push(dm('a*b* snake_case ~x~ `y`'));
    const third = (await rig.waitPosts(DM, 3))[2]!;
    expect(third).toMatchObject({ text: 'a*b* snake_case ~x~ `y`', mrkdwn: 'false' });
  });

  it('honours a 429 Retry-After before posting again', async () => {
    rig = await startSlack();
    rig.fake.rateLimitNext(1);
    rig.fake.push(dm('patience'));
    const [post] = await rig.waitPosts(DM, 1, 15_000);
    const limited = rig.fake.calls.find((c) => c.method === 'chat.postMessage' && c.status === 429)!;
    expect(limited).toBeDefined();
    expect(post!.at - limited.at).toBeGreaterThanOrEqual(1_000);
    expect(post!.text).toBe('patience');
  });


  it("a 429 in one channel holds that channel's reply only: another chat's reply is posted meanwhile", async () => {
    rig = await startSlack();
    rig.fake.rateLimitNext(5);
    rig.fake.push(dm('held back'));
    const limited = await rig.harness.until(() => rig!.fake.calls.find((c) => c.method === 'chat.postMessage' && c.status === 429));
    const ts = freshTs();
    const other = 'D0OTHER001';
    rig.fake.push(fixture('message.im', { text: 'not held', user: 'U0OTHER01', channel: other, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` }));
    // Before: the client waited the 429 out itself and paused every request it had, this channel's too.
    const [free] = await rig.waitPosts(other, 1);
    expect(free!.at - limited.at).toBeLessThan(3_000);
    const [held] = await rig.waitPosts(DM, 1, 15_000);
    expect(held!.text).toBe('held back');
    expect(held!.at - limited.at).toBeGreaterThanOrEqual(5_000);
  });
  it('a restart during a Retry-After wait still waits out what is left of it', async () => {
    rig = await startSlack();
    rig.fake.rateLimitNext(4);
    rig.fake.push(dm('patience, again'));
    const limited = await rig.harness.until(() => rig!.fake.calls.find((c) => c.method === 'chat.postMessage' && c.status === 429));
    // The connector process ends during the wait and a new one takes the reply over.
    await rig.harness.stopConnector();
    await rig.harness.startConnector();
    const [post] = await rig.waitPosts(DM, 1, 15_000);
    for (const call of rig.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.at > limited.at)) expect(call.at - limited.at).toBeGreaterThanOrEqual(3_900);
    expect(post!.text).toBe('patience, again');
  });

  it('answers a redelivered envelope once', async () => {
    rig = await startSlack();
    const id = rig.fake.push(dm('only once'));
    await rig.waitPosts(DM, 1);
    rig.fake.redeliver(id);
    rig.fake.redeliver(id);
    await sleep(800);
    expect(rig.postsIn(DM)).toHaveLength(1);
    expect(rig.fake.acked(id)).toBe(true);
  });

  it('answers exactly once, after it starts, an event that arrived while it was stopped', async () => {
    rig = await startSlack();
    await rig.harness.stopConnector();
    const id = rig.fake.push(dm('are you there?'));
    await sleep(400);
    expect(rig.fake.posts).toHaveLength(0);
    expect(rig.fake.acked(id)).toBe(false);
    await rig.harness.startConnector();
    await rig.waitPosts(DM, 1);
    await rig.harness.until(() => rig!.fake.acked(id));
    await sleep(600);
    expect(rig.postsIn(DM)).toHaveLength(1);
  });

  it('reconnects on a disconnect message without losing the events around it', async () => {
    rig = await startSlack();
    rig.fake.push(dm('before'));
    await rig.waitPosts(DM, 1);
    rig.fake.disconnect('refresh_requested');
    rig.fake.push(dm('during'));
    await rig.harness.until(() => rig!.fake.connections >= 2);
    rig.fake.push(dm('after'));
    const posts = await rig.waitPosts(DM, 3);
    expect(posts.map((p) => p.text).sort()).toEqual(['after', 'before', 'during']);
    expect(rig.fake.unacked()).toEqual([]);
  });

  it('replaces a connected-but-deaf socket (no envelopes) and gets the held event', async () => {
    rig = await startSlack({ tuning: { idleReconnectMs: 800 } });
    rig.fake.deafen('silent');
    rig.fake.push(dm('hello? anyone?'));
    const [post] = await rig.waitPosts(DM, 1, 8_000);
    expect(post!.text).toBe('hello? anyone?');
    expect(rig.fake.connections).toBeGreaterThanOrEqual(2);
  });

  it('replaces a socket that stops answering pings', async () => {
    rig = await startSlack();
    rig.fake.deafen('no-pong');
    rig.fake.push(dm('ping?'));
    const [post] = await rig.waitPosts(DM, 1, 8_000);
    expect(post!.text).toBe('ping?');
    expect(rig.fake.connections).toBeGreaterThanOrEqual(2);
  });

  it('never answers its own messages, other bots or edits; acks and audits them', async () => {
    rig = await startSlack({ echoBotPosts: true });
    rig.fake.push(dm('echo me'));
    await rig.waitPosts(DM, 1);
    const bot = rig.fake.push(fixture('bot_message', { ts: freshTs() }));
    const edit = rig.fake.push(fixture('message_changed', { ts: freshTs() }));
    await rig.harness.until(() => rig!.fake.acked(bot) && rig!.fake.acked(edit));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('inbound.edit_ignored'));
    await sleep(500);
    expect(rig.fake.posts).toHaveLength(1);
    expect(rig.fake.unacked()).toEqual([]);
    const kinds = await rig.harness.auditKinds();
    expect(kinds.filter((k) => k === 'inbound.ignored').length).toBeGreaterThanOrEqual(2); // its own echo + the bot
  });

  it('rejects malformed and oversized input without crashing, and keeps answering; an over-long text gets a notice', async () => {
    rig = await startSlack({ tuning: { maxFrameBytes: 512 * 1024 } });
    rig.fake.sendRaw('not json at all');
    rig.fake.sendRaw(JSON.stringify({ type: 'events_api' }));
    rig.fake.sendRaw(JSON.stringify([1, 2, 3]));
    const noPayload = rig.fake.push(undefined);
    const wrongTypes = rig.fake.push(fixture('message.im', { ts: 12, user: { id: 'x' } }));
    const noEvent = rig.fake.push({ type: 'event_callback', event_id: 'Ev1' });
    const tooLong = rig.fake.push(dm('x'.repeat(100_001)));
    rig.fake.sendRaw(JSON.stringify({ envelope_id: 'huge', type: 'events_api', payload: { pad: 'y'.repeat(600 * 1024) } }));
    const other = rig.fake.push(fixture('message.im', { type: 'reaction_added' }));
    rig.fake.push(dm('still here'));
    // The over-long message is not rejected: a notice answers it, in order, before the next answer.
    const [notice, post] = await rig.waitPosts(DM, 2);
    expect(notice!.text).toContain('Your message is too long (100,001 characters)');
    expect(post!.text).toBe('still here');
    // Acked: redelivering them could never make them valid.
    for (const id of [noPayload, wrongTypes, noEvent, tooLong, other]) expect(rig.fake.acked(id)).toBe(true);
    const kinds = await rig.harness.auditKinds();
    expect(kinds.filter((k) => k === 'inbound.rejected').length).toBeGreaterThanOrEqual(6);
    expect(kinds).toContain('inbound.unsupported');
    expect(rig.fake.posts).toHaveLength(2);
  });

  it('keeps reconnecting while Slack is unreachable, says so in check(), and still stops promptly', async () => {
    rig = await startSlack();
    await rig.fake.close();
    const events = await rig.harness.until(async () => {
      const r = (await rig!.harness.connector.check!()).find((c) => c.what === 'slack events');
      return r && !r.ok && r;
    });
    expect(events.detail).toMatch(/socket not connected/);
    await sleep(1_500); // into the backoff
    const t0 = Date.now();
    await rig.harness.stopConnector();
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('check() says who it is authorized as, that the app token opens sockets, and when the last event arrived', async () => {
    rig = await startSlack();
    rig.fake.push(dm('hi'));
    await rig.waitPosts(DM, 1);
    const results = await rig.harness.connector.check!();
    expect(results).toEqual([
      { ok: true, what: 'slack bot token', detail: 'authorized as monkeyclaw in Acme' },
      { ok: true, what: 'slack app token', detail: expect.stringContaining('apps.connections.open') },
      { ok: true, what: 'slack events', detail: expect.stringMatching(/socket connected .*last event \d{4}-/) },
    ]);
  });

  it('refuses to start with a bad bot token, and check() says why without starting', async () => {
    const secrets = { 'env:SLACK_BOT_TOKEN': 'xoxb-wrong', 'env:SLACK_APP_TOKEN': 'xapp-wrong', 'env:SLACK_SIGNING_SECRET': 'x' };
    await expect(startSlack({ secrets })).rejects.toThrow(/^Slack refused the token in connectors\.slack\.botToken \(invalid_auth\)/);
    await expect(startSlack({ secrets: { ...SECRETS, 'env:SLACK_APP_TOKEN': 'xapp-wrong' } })).rejects.toThrow(/refused the app token \(invalid_auth\)/);
    rig = await startSlack();
    const wrong = createSlackConnector({ ...rig.deps(), resolve: (ref: string) => secrets[ref as keyof typeof secrets] });
    const results = await wrong.check!();
    expect(results.slice(0, 2)).toEqual([
      { ok: false, what: 'slack bot token', detail: 'Slack refused the token in connectors.slack.botToken (invalid_auth): check it is a bot token (xoxb-…) of this workspace' },
      { ok: false, what: 'slack app token', detail: expect.stringMatching(/^Slack refused the token in connectors\.slack\.appToken \(invalid_auth\)/) },
    ]);
  });
});
