import { afterEach, describe, expect, it } from 'vitest';
import { createSlackConnector } from '../../../connectors/slack/index.js';
import { parseConfig } from '../../../core/config.js';
import type { ChannelEvent } from '../../../core/event.js';
import { FAST, fixture, freshTs, SECRETS, signedRequest, sleep, startSlack, type SlackRig } from './helpers.js';

const DM = 'D024BE91L';
const CHANNEL = 'C0LAN2Q65';

let rig: SlackRig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

const dm = (text: string, ts = freshTs()) => fixture('message.im', { text, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` });
const webhook = (r: ReturnType<typeof signedRequest>) => rig!.harness.connector.handleWebhook!(r);

describe('slack connector, HTTP Events API', () => {
  it('publishes a correctly signed event before answering 200, and answers it', async () => {
    rig = await startSlack({ mode: 'http' });
    const answer = await webhook(signedRequest(dm('over http')));
    expect(answer.status).toBe(200);
    const [post] = await rig.waitPosts(DM, 1);
    expect(post!.text).toBe('over http');
    // No socket in HTTP mode.
    expect(rig.fake.connections).toBe(0);
  });

  it('answers the url_verification challenge', async () => {
    rig = await startSlack({ mode: 'http' });
    const challenge = fixture('url_verification');
    delete challenge.event;
    const answer = await webhook(signedRequest(challenge));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body!)).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
  });

  it('refuses a bad signature, a stale or future timestamp and a missing one with 401, publishing nothing', async () => {
    rig = await startSlack({ mode: 'http' });
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      signedRequest(dm('forged'), { secret: 'not-the-secret' }),
      // Past the 300 s window by a margin: a busy machine may take seconds between these lines and the checks.
      signedRequest(dm('replayed'), { timestamp: now - 330 }),
      signedRequest(dm('from the future'), { timestamp: now + 330 }),
      { ...signedRequest(dm('unsigned')), headers: { 'content-type': 'application/json' } },
      // A valid signature over other bytes than those delivered.
      { ...signedRequest(dm('original')), body: Buffer.from(JSON.stringify(dm('tampered'))) },
    ];
    for (const request of cases) expect((await webhook(request)).status).toBe(401);
    await sleep(500);
    expect(rig.fake.posts).toHaveLength(0);
    const kinds = await rig.harness.auditKinds();
    expect(kinds).not.toContain('inbound.received');
    // Audited, but at most once a minute: five forgeries in a row are one entry, not five.
    expect(kinds.filter((k) => k === 'webhook.refused')).toHaveLength(1);
  });

  it('fails closed without a signing secret: the config refuses none, and an empty one gets every request 401', async () => {
    expect(() => parseConfig({ connectors: { slack: { enabled: true, botToken: 'env:B', mode: 'http' } } })).toThrow(/connectors\.slack\.signingSecret: required/);
    rig = await startSlack({ mode: 'http', secrets: { ...SECRETS, 'env:SLACK_SIGNING_SECRET': '' } });
    expect((await webhook(signedRequest(dm('let me in')))).status).toBe(401);
    const check = await rig.harness.connector.check!();
    expect(check).toContainEqual({ ok: false, what: 'slack signing secret', detail: 'missing: every webhook is refused' });
    await sleep(300);
    expect(rig.fake.posts).toHaveLength(0);
  });

  it('answers a retry (X-Slack-Retry-Num) of a published event at once, and the twin app_mention too, with one reply', async () => {
    rig = await startSlack({ mode: 'http' });
    const ts = freshTs();
    const message = fixture('message.channels.mention', { ts, event_ts: ts });
    expect((await webhook(signedRequest(message))).status).toBe(200);
    const retry = await webhook(signedRequest(message, { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } }));
    expect(retry.status).toBe(200);
    expect(JSON.parse(retry.body!)).toMatchObject({ duplicate: true });
    // The app_mention of the same message, and a retry the connector has not seen (e.g. after a restart).
    expect((await webhook(signedRequest(fixture('app_mention', { ts, event_ts: ts }), { headers: { 'x-slack-retry-num': '2' } }))).status).toBe(200);
    const [post] = await rig.waitPosts(CHANNEL, 1);
    expect(post).toMatchObject({ thread_ts: ts, text: 'is it everything a river should be?' });
    await sleep(700);
    expect(rig.postsIn(CHANNEL)).toHaveLength(1);
  });

  it('rejects malformed and oversized bodies without crashing, and keeps answering; an over-long text gets a notice', async () => {
    rig = await startSlack({ mode: 'http' });
    expect((await webhook(signedRequest(undefined, { raw: '{"type": "event_callback", ' }))).status).toBe(400);
    expect((await webhook(signedRequest(undefined, { raw: 'z'.repeat(1024 * 1024 + 1) }))).status).toBe(413);
    expect((await webhook(signedRequest({ type: 'event_callback', event_id: 'Ev1', event: { type: 'message', ts: 5 } }))).status).toBe(200);
    expect((await webhook(signedRequest(dm('y'.repeat(100_001))))).status).toBe(200);
    expect((await webhook(signedRequest({ type: 'app_rate_limited', minute_rate_limited: 1518467820 }))).status).toBe(200);
    expect((await webhook({ ...signedRequest(dm('x')), method: 'GET' })).status).toBe(405);
    expect((await webhook(signedRequest(dm('after all that')))).status).toBe(200);
    // One conversation, in order: the notice, then the answer.
    const [notice, post] = await rig.waitPosts(DM, 2);
    expect(notice!.text).toContain('Your message is too long (100,001 characters)');
    expect(post!.text).toBe('after all that');
    await sleep(300);
    expect(rig.fake.posts).toHaveLength(2);
    const kinds = await rig.harness.auditKinds();
    expect(kinds.filter((k) => k === 'inbound.rejected').length).toBe(2);
    expect(kinds).toContain('inbound.too_long');
    expect(kinds).toContain('inbound.unsupported');
  });

  it('answers 200 only once publish resolved, and 500 (so Slack retries) when it cannot enqueue', async () => {
    rig = await startSlack({ mode: 'http' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let failNext = true;
    const c = createSlackConnector(rig.deps(), FAST);
    await c.start({
      fail: () => undefined,
      publish: async (events) => {
        if (failNext) {
          failNext = false;
          throw new Error('queue unavailable');
        }
        await gate;
        return events as ChannelEvent[];
      },
    });
    const payload = dm('durable');
    expect((await c.handleWebhook!(signedRequest(payload))).status).toBe(500);
    let answered: number | undefined;
    const pending = c.handleWebhook!(signedRequest(payload, { headers: { 'x-slack-retry-num': '1' } })).then((a) => (answered = a.status));
    await sleep(300);
    expect(answered).toBeUndefined();
    release();
    await pending;
    expect(answered).toBe(200);
    await c.stop();
  });
});
