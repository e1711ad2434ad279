import { Api } from 'grammy';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createSender } from '../../../connectors/telegram/send.js';
import type { Reply } from '../../../core/event.js';
import { TypingIndicator } from '../../../core/typing.js';
import { startFakeTelegram } from '../../fakes/telegram/server.js';
import { plainReply, sharedProgress } from '../../helpers/part-progress.js';
import { cleanups } from '../../helpers/wait.js';

const cleanup = cleanups();

async function sender() {
  const shared = await sharedProgress('telegram');
  const fake = await startFakeTelegram();
  cleanup.push(() => shared.close(), () => fake.close());
  const send = createSender({
    api: new Api(fake.token, { apiRoot: fake.url }),
    progress: shared.progress,
    limit: { max: 4_096, unit: 'utf16' },
    log: pino({ level: 'silent' }),
    typing: new TypingIndicator({ show: async () => undefined, keyOf: (c: { id: string }) => c.id, refreshMs: 4_500 }),
    onPlainFallback: async () => undefined,
  });
  return { fake, send };
}

const markdown = (text: string, key: string): Reply => ({ ...plainReply('telegram', '42', text), idempotencyKey: key, format: 'markdown' });

describe('telegram sender: a streamed draft replaced by the final reply', () => {
  it('an edit that only adds formatting is made: Telegram compares the text and its entities', async () => {
    const { fake, send } = await sender();
    const signal = new AbortController().signal;
    const [draft] = await send({ ...plainReply('telegram', '42', 'the answer is'), kind: 'draft' }, signal);
    expect(fake.sentTo(42)[0]).toMatchObject({ visible: 'the answer is', entities: [] });
    // The final reply shows the same characters, one word bold: a real edit.
    await send(markdown('the **answer** is', 'k2'), signal, { replace: draft! });
    await send(markdown('the __answer__ is', 'k3'), signal, { replace: draft! });
    const [message] = fake.sentTo(42);
    expect(message).toMatchObject({ text: 'the <b>answer</b> is', visible: 'the answer is', entities: [{ type: 'bold', offset: 4, length: 6 }] });
    await send(markdown('the answer is', 'k4'), signal, { replace: draft! });
    expect(fake.sentTo(42)).toHaveLength(1);
    expect(fake.sentTo(42)[0]).toMatchObject({ visible: 'the answer is', entities: [], edits: 2 });
    // The same formatting again is "not modified", which the sender takes as done.
    expect(fake.callsOf('editMessageText').map((c) => c.status)).toEqual([200, 400, 200]);
  });
});
