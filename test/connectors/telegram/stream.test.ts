import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAIFake } from '../../fakes/openai-server.js';
import { dm, setup, type Env } from './helpers.js';

let env: Env | undefined;
let gpt: Awaited<ReturnType<typeof startOpenAIFake>> | undefined;
afterEach(async () => {
  await env?.close();
  await gpt?.close();
  env = gpt = undefined;
});

const INTERVAL = 300;
const pieces = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

/** The gateway with a language model that streams slowly, and Telegram's streamEdits as given. */
async function streaming(telegram: Record<string, unknown>) {
  gpt = await startOpenAIFake();
  env = await setup({
    telegram: { streamEdits: true, streamEditMs: INTERVAL, ...telegram },
    gateway: {
      backends: { gpt: { type: 'openai', baseUrl: gpt.url, model: 'fake-gpt' } },
      assistants: { default: { backend: 'gpt', systemPrompt: 'Be brief.' } },
    },
  });
  return { env, gpt };
}

const finished = (e: Env) => e.h.until(async () => (await e.h.auditKinds()).includes('outbound.sent'));

describe('telegram streamEdits: a reply grows in place', () => {
  it('posts the first piece at once, edits it no faster than the interval, and the final edit carries the whole text', async () => {
    const { env, gpt } = await streaming({});
    const deltas = pieces(30);
    gpt.script({ kind: 'stream', deltas, delayMs: 40 });
    const update = dm('tell me');
    const chat = update.message.chat.id as number;
    env.fake.push(update);
    await finished(env);

    const messages = env.fake.sentTo(chat);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.visible).toBe(deltas.join('').trim());
    // An edit to the text already shown is answered "not modified" and changes nothing: only the others count.
    const edits = env.fake.callsOf('editMessageText').filter((c) => c.status === 200);
    // It grew: at least one draft edit before the final one.
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(messages[0]!.edits).toBe(edits.length);
    // Throttled: never more drafts than intervals the stream lasted (plus the first piece and the final edit).
    const first = env.fake.callsOf('sendMessage')[0]!.at;
    const last = edits.at(-1)!.at;
    expect(edits.length).toBeLessThanOrEqual(Math.ceil((last - first) / INTERVAL) + 2);
    // Every edit showed a prefix of the reply, in order: the text only ever grew.
    const shown = edits.map((c) => String((c.payload as { text: string }).text));
    for (let i = 1; i < shown.length; i++) expect(shown[i]!.startsWith(shown[i - 1]!.trim())).toBe(true);
    const sent = (await env.h.store.auditTail(100)).find((e) => e.kind === 'outbound.sent');
    expect(JSON.parse(String(sent?.data))).toMatchObject({ streamed: true, parts: 1 });
  });

  it('a final reply longer than one message edits the draft to the first part and posts the rest after it', async () => {
    const { env, gpt } = await streaming({ maxMessageChars: 60 });
    const deltas = pieces(40); // about 160 characters: three parts of at most 60
    gpt.script({ kind: 'stream', deltas, delayMs: 10 });
    const update = dm('a long one');
    const chat = update.message.chat.id as number;
    env.fake.push(update);
    await finished(env);
    const messages = env.fake.sentTo(chat);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    expect(messages.every((m) => m.visible.length <= 60)).toBe(true);
    expect(messages.map((m) => m.visible).join(' ')).toBe(deltas.join('').trim());
    expect(messages[0]!.edits).toBeGreaterThanOrEqual(1);
  });

  it('a draft that can no longer be edited does not cost the reply: the final text is posted anew', async () => {
    const { env, gpt } = await streaming({});
    const deltas = pieces(20);
    gpt.script({ kind: 'stream', deltas, delayMs: 40 });
    env.fake.failNext('editMessageText', 100, { error_code: 400, description: 'Bad Request: message to edit not found' });
    const update = dm('go');
    const chat = update.message.chat.id as number;
    env.fake.push(update);
    await finished(env);
    const messages = env.fake.sentTo(chat);
    expect(messages).toHaveLength(2);
    expect(messages[1]!.visible).toBe(deltas.join('').trim());
    expect(messages[0]!.visible.length).toBeLessThan(messages[1]!.visible.length);
  });

  it('without streamEdits the finished reply is sent once and nothing is edited', async () => {
    const { env, gpt } = await streaming({ streamEdits: false });
    const deltas = pieces(10);
    gpt.script({ kind: 'stream', deltas, delayMs: 40 });
    const update = dm('plain');
    const chat = update.message.chat.id as number;
    env.fake.push(update);
    await finished(env);
    expect(env.fake.sentTo(chat).map((m) => m.visible)).toEqual([deltas.join('').trim()]);
    expect(env.fake.callsOf('editMessageText')).toHaveLength(0);
  });
});
