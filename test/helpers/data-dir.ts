import { join } from 'node:path';
import type { Reply } from '../../core/event.js';
import { outboundHandler } from '../../core/outbound.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { EmbeddedDriver } from '../../queues/embedded.js';

/**
 * The telegram connector's side of a migrated data dir whose worker runs in another process: the store, the
 * embedded queue, and what the worker sends to telegram, recorded. `close` releases them.
 */
export function telegramSide(dataDir: string) {
  const file = join(dataDir, 'monkeyclaw.db');
  const store = new SqliteStore(file);
  const queue = new EmbeddedDriver({ file });
  const sent: Reply[] = [];
  queue.consume('outbound:telegram', outboundHandler(store, 'test', async (r) => (sent.push(r), ['id'])));
  return {
    store,
    queue,
    sent,
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}
