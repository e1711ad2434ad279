import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../../fakes/openai-server.js';
import { fixture, freshTs, startSlack, type SlackRig } from './helpers.js';

const DM = 'D024BE91L';
let rig: SlackRig | undefined;
let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
afterEach(async () => {
  await rig?.stop();
  await gpt?.close();
  rig = gpt = undefined;
});

/** Slack with streamEdits on, answered by the fake LLM `gpt` (started by the test, which scripts its stream). */
const streamingSlack = (streamEditMs: number) =>
  startSlack({
    slack: { streamEdits: true, streamEditMs },
    gateway: {
      backends: { gpt: { type: 'openai', baseUrl: gpt!.url, model: 'fake-gpt' } },
      assistants: { default: { backend: 'gpt', systemPrompt: 'Be brief.' } },
    },
  });

const dm = (text: string, ts = freshTs()) => fixture('message.im', { text, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` });

describe('slack streamEdits', () => {
  it('posts the first piece, grows it with chat.update, and the last update is the whole reply', async () => {
    gpt = await startOpenAIFake();
    const deltas = Array.from({ length: 20 }, (_, i) => `part${i} `);
    gpt.script({ kind: 'stream', deltas, delayMs: 50 });
    rig = await streamingSlack(250);
    rig.fake.push(dm('stream please'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('outbound.sent'));
    const posts = rig.postsIn(DM);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.text).toBe(deltas.join('').trim());
    expect(posts[0]!.edits).toBeGreaterThanOrEqual(2);
  });

  it('a 429 on the final chat.update is waited out (Retry-After), then the whole text is in the one message, posted once', async () => {
    gpt = await startOpenAIFake();
    const deltas = Array.from({ length: 10 }, (_, i) => `word${i} `);
    const whole = deltas.join('').trim();
    gpt.script({ kind: 'stream', deltas, delayMs: 30 });
    // One draft: the first piece is posted at once and the stream ends long before the next draft is due, so the
    // only chat.update with the whole text is the final reply's.
    rig = await streamingSlack(3_000);
    rig.fake.rateLimitNext(1, 1, { method: 'chat.update', when: (body) => body.text === whole });
    rig.fake.push(dm('stream please'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('outbound.sent'), 15_000);

    const updates = rig.fake.calls.filter((c) => c.method === 'chat.update');
    const limited = updates.find((c) => c.status === 429);
    expect(limited).toBeDefined();
    // Nothing edits the message again before Slack's Retry-After is over; then one edit lands.
    const later = updates.filter((c) => c.at > limited!.at);
    expect(later.map((c) => c.status)).toEqual([200]);
    expect(later[0]!.at - limited!.at).toBeGreaterThanOrEqual(1_000);
    // One message, its text complete, never posted a second time.
    expect(rig.fake.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.status)).toEqual([200]);
    const posts = rig.postsIn(DM);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.text).toBe(whole);
    expect(posts[0]!.edits).toBe(1);
    expect((await rig.harness.auditKinds()).filter((k) => k === 'outbound.sent')).toHaveLength(1);
  });

  it("a 429 on a draft's chat.update holds every later edit until Retry-After is over; the final text still lands", async () => {
    gpt = await startOpenAIFake();
    const deltas = Array.from({ length: 20 }, (_, i) => `part${i} `);
    gpt.script({ kind: 'stream', deltas, delayMs: 50 });
    rig = await streamingSlack(250);
    // The first edit is a draft's: Slack asks for 3 s of quiet, and refuses every edit in this channel meanwhile.
    rig.fake.rateLimitNext(3, 1, { method: 'chat.update' });
    rig.fake.push(dm('stream please'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('outbound.sent'), 15_000);

    const updates = rig.fake.calls.filter((c) => c.method === 'chat.update');
    const limited = updates.find((c) => c.status === 429)!;
    expect(limited).toBeDefined();
    // Before: the drafts after it and the final reply were sent into the wait, each one more 429.
    expect(updates.filter((c) => c.status === 429)).toHaveLength(1);
    for (const c of updates.filter((u) => u.at > limited.at)) expect(c.at - limited.at).toBeGreaterThanOrEqual(3_000);
    const posts = rig.postsIn(DM);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.text).toBe(deltas.join('').trim());
  });

  it('keeps a streamed plain reply in mrkdwn from its first post to its last edit (chat.update cannot turn it off)', async () => {
    rig = await startSlack({ slack: { streamEdits: true, streamEditMs: 250 } });
    rig.fake.push(dm('snake_case *not bold*'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('outbound.sent'));
    const [post] = rig.postsIn(DM);
    expect(post!.mrkdwn).toBeUndefined();
    expect(post!.text).not.toBe('snake_case *not bold*');
    expect(post!.text.replaceAll('\u200b', '')).toBe('snake_case *not bold*');
  });
});
