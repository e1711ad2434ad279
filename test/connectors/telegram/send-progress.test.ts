import { join } from 'node:path';
import { Api } from 'grammy';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSender } from '../../../connectors/telegram/send.js';
import { Typing } from '../../../connectors/telegram/typing.js';
import { partProgress } from '../../../core/part-progress.js';
import { SqliteStore } from '../../../core/sqlite/store.js';
import { startFakeTelegram, type FakeTelegram } from '../../fakes/telegram/server.js';
import { tempDir } from '../../helpers/tmp.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

describe('telegram sender across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part Telegram accepted', async () => {
    const tmp = tempDir('mc-tg-progress-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    await store.migrate();
    const fake: FakeTelegram = await startFakeTelegram();
    cleanup.push(() => tmp.remove(), () => store.close(), () => fake.close());
    // A sender as a connector process builds it: each "process" gets its own, sharing only the store.
    const sender = () =>
      createSender({
        api: new Api(fake.token, { apiRoot: fake.url }),
        progress: partProgress(store, 'telegram'),
        limit: { max: 4_096, unit: 'utf16' },
        log: pino({ level: 'silent' }),
        typing: new Typing(async () => undefined),
        onPlainFallback: async () => undefined,
      });
    const text = words(2_000).slice(0, 12_000);
    const reply = {
      v: 1 as const,
      idempotencyKey: 'k1',
      eventId: 'e1',
      address: { platform: 'telegram', account: 'telegram', conversation: { id: '42', kind: 'dm' as const } },
      text,
      format: 'plain' as const,
      kind: 'reply' as const,
    };
    const signal = new AbortController().signal;

    // The first process gets two parts out, then loses the connection on the third.
    fake.failNext('sendMessage', 1, { error_code: 0, description: 'connection dropped' }, 2);
    await expect(sender()(reply, signal)).rejects.toThrow();
    expect(fake.sentTo(42)).toHaveLength(2);

    // The next process sends the rest, never the first two again.
    const ids = await sender()(reply, signal);
    const sent = fake.sentTo(42);
    expect(sent).toHaveLength(ids.length);
    expect(ids).toHaveLength(3);
    expect(sent.map((m) => m.visible.trim()).join(' ')).toBe(text);
  });
});
