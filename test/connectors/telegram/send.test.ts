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

/** A fake Telegram and its part-progress store; `sender()` builds one as a connector process does (call it again for a new process). */
async function telegram() {
  const shared = await sharedProgress('telegram');
  const fake = await startFakeTelegram();
  cleanup.push(() => shared.close(), () => fake.close());
  const sender = () =>
    createSender({
      api: new Api(fake.token, { apiRoot: fake.url }),
      progress: shared.progress,
      limit: { max: 4_096, unit: 'utf16' },
      log: pino({ level: 'silent' }),
      typing: new TypingIndicator({ show: async () => undefined, keyOf: (c: { id: string }) => c.id, refreshMs: 4_500 }),
      onPlainFallback: async () => undefined,
    });
  return { fake, sender };
}

const markdown = (text: string, key: string): Reply => ({ ...plainReply('telegram', '42', text), idempotencyKey: key, format: 'markdown' });

describe('telegram sender across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part Telegram accepted', async () => {
    const { fake, sender } = await telegram();
    const text = Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(' ').slice(0, 12_000);
    const reply = plainReply('telegram', '42', text);
    const signal = new AbortController().signal;

    // The first process gets two parts out, then loses the connection on the third.
    fake.failNext('sendMessage', 1, { error_code: 0, description: 'connection dropped' }, 2);
    await expect(sender()(reply, signal)).rejects.toThrow();
    expect(fake.sentTo(42)).toHaveLength(2);

    // The next process sends the rest, never the first two again.
    const ids = await sender()(reply, signal);
    const sent = fake.sentTo(42);
    expect(ids).toHaveLength(3);
    expect(sent).toHaveLength(3);
    expect(sent.map((m) => m.visible.trim()).join(' ')).toBe(text);
  });
});

describe('telegram sender: a streamed draft replaced by the final reply', () => {
  it('an edit that only adds formatting is made: Telegram compares the text and its entities', async () => {
    const { fake, sender } = await telegram();
    const send = sender();
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
