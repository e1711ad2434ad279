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

const dm = (text: string, ts = freshTs()) => fixture('message.im', { text, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` });

describe('slack streamEdits', () => {
  it('posts the first piece, grows it with chat.update, and the last update is the whole reply', async () => {
    gpt = await startOpenAIFake();
    const deltas = Array.from({ length: 20 }, (_, i) => `part${i} `);
    gpt.script({ kind: 'stream', deltas, delayMs: 50 });
    rig = await startSlack({
      slack: { streamEdits: true, streamEditMs: 250 },
      gateway: {
        backends: { gpt: { type: 'openai', baseUrl: gpt.url, model: 'fake-gpt' } },
        assistants: { default: { backend: 'gpt', systemPrompt: 'Be brief.' } },
      },
    });
    rig.fake.push(dm('stream please'));
    await rig.harness.until(async () => (await rig!.harness.auditKinds()).includes('outbound.sent'));
    const posts = rig.postsIn(DM);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.text).toBe(deltas.join('').trim());
    expect(posts[0]!.edits).toBeGreaterThanOrEqual(2);
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
