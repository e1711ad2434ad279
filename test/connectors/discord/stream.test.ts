import { afterEach, describe, expect, it } from 'vitest';
import { USERS } from '../../fakes/discord/index.js';
import { startOpenAIFake } from '../../fakes/openai-server.js';
import { DM, rig, type Rig } from './setup.js';

let r: Rig | undefined;
let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
afterEach(async () => {
  await r?.stop();
  await gpt?.close();
  r = gpt = undefined;
});

describe('discord streamEdits', () => {
  it('posts the first piece, grows it by editing the message, and the last edit is the whole reply', async () => {
    gpt = await startOpenAIFake();
    const deltas = Array.from({ length: 20 }, (_, i) => `part${i} `);
    gpt.script({ kind: 'stream', deltas, delayMs: 50 });
    r = await rig({
      connector: { streamEdits: true, streamEditMs: 250 },
      config: {
        backends: { gpt: { type: 'openai', baseUrl: gpt.url, model: 'fake-gpt' } },
        assistants: { default: { backend: 'gpt', systemPrompt: 'Be brief.' } },
      },
    });
    r.fake.say({ channelId: DM, author: USERS.alice, content: 'stream please' });
    await r.h.until(async () => (await r!.audits('outbound.sent')).length > 0);
    const posted = r.fake.sent(DM);
    expect(posted).toHaveLength(1);
    const edits = r.fake.state.edits.filter((e) => e.messageId === posted[0]!.messageId);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits.at(-1)!.content).toBe(deltas.join('').trim());
    expect(r.fake.state.find(DM, posted[0]!.messageId)?.content).toBe(deltas.join('').trim());
  });
});
