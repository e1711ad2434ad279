import { Api } from 'grammy';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createSender } from '../../../connectors/telegram/send.js';
import { TypingIndicator } from '../../../core/typing.js';
import { startFakeTelegram } from '../../fakes/telegram/server.js';
import { plainReply, sharedProgress } from '../../helpers/part-progress.js';
import { cleanups } from '../../helpers/wait.js';

const cleanup = cleanups();

describe('telegram sender across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part Telegram accepted', async () => {
    const shared = await sharedProgress('telegram');
    const fake = await startFakeTelegram();
    cleanup.push(() => shared.close(), () => fake.close());
    // A sender as a connector process builds it: each "process" gets its own, sharing only the store.
    const sender = () =>
      createSender({
        api: new Api(fake.token, { apiRoot: fake.url }),
        progress: shared.progress,
        limit: { max: 4_096, unit: 'utf16' },
        log: pino({ level: 'silent' }),
        typing: new TypingIndicator({ show: async () => undefined, keyOf: (c: { id: string }) => c.id, refreshMs: 4_500 }),
        onPlainFallback: async () => undefined,
      });
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
