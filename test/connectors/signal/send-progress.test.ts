import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSend } from '../../../connectors/signal/send.js';
import { partProgress } from '../../../core/part-progress.js';
import { SqliteStore } from '../../../core/sqlite/store.js';
import { tempDir } from '../../helpers/tmp.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('signal send across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part signal-cli accepted', async () => {
    const tmp = tempDir('mc-signal-progress-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    await store.migrate();
    cleanup.push(() => tmp.remove(), () => store.close());
    const sent: string[] = [];
    // signal-cli as the connector's JSON-RPC sees it: the connection drops on send number `failAt`.
    const send = (failAt = -1) => {
      let calls = 0;
      return createSend({
        call: async (_method, params) => {
          if (calls++ === failAt) throw new Error('signal-cli connection closed');
          sent.push(params.message as string);
          return { timestamp: 1_700_000_000_000 + sent.length };
        },
        progress: partProgress(store, 'signal'),
        log: pino({ level: 'silent' }),
        selfId: () => 'self-uuid',
        maxMessageChars: undefined,
      });
    };
    const text = Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' ');
    const reply = {
      v: 1 as const,
      idempotencyKey: 'k1',
      eventId: 'e1',
      address: { platform: 'signal', account: '+15550000000', conversation: { id: 'uuid-1', kind: 'dm' as const } },
      text,
      format: 'plain' as const,
      kind: 'reply' as const,
    };
    const signal = new AbortController().signal;

    await expect(send(2)(reply, signal)).rejects.toThrow(/connection closed/);
    expect(sent).toHaveLength(2);
    const ids = await send()(reply, signal);
    expect(ids).toHaveLength(sent.length);
    expect(sent.join(' ')).toBe(text);
  });
});
