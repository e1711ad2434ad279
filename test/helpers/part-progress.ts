import { join } from 'node:path';
import type { Reply } from '../../core/event.js';
import { partProgress, type PartProgress } from '../../core/part-progress.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { tempDir } from './tmp.js';

/**
 * What two connector processes one after the other share: the data dir's store, and through it the parts of a
 * reply already sent. `close` removes it all.
 */
export async function sharedProgress(connector: string): Promise<{ progress: PartProgress; close(): Promise<void> }> {
  const tmp = tempDir(`mc-${connector}-progress-`);
  const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
  await store.migrate();
  return {
    progress: partProgress(store, connector),
    async close() {
      await store.close();
      tmp.remove();
    },
  };
}

/** A plain reply of `text` to a DM on `platform`. */
export const plainReply = (platform: string, conversationId: string, text: string): Reply => ({
  v: 1,
  idempotencyKey: 'k1',
  eventId: 'e1',
  address: { platform, account: platform, conversation: { id: conversationId, kind: 'dm' } },
  text,
  format: 'plain',
  kind: 'reply',
});
