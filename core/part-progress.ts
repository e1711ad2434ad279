import type { Store } from './store.js';

/**
 * The platform ids of the parts of a multi-part reply sent so far, kept in the connector's state in the store: a
 * retry of the reply, in this process or in the next one after a restart, goes on after the last part the platform
 * accepted instead of posting the first parts again. (The send record, written once all parts are out, closes the
 * reply; only a reply cut off part-way ever has progress to read.)
 */
export interface PartProgress {
  sent(idempotencyKey: string): Promise<string[]>;
  record(idempotencyKey: string, ids: string[]): Promise<void>;
}

/** Where a reply's progress is kept; the send record's completion removes it (core/sqlite/store.ts `completeSend`). */
export const progressKey = (idempotencyKey: string): string => `sent:${idempotencyKey}`;

export function partProgress(store: Pick<Store, 'getConnectorState' | 'setConnectorState'>, connector: string): PartProgress {
  return {
    async sent(idempotencyKey) {
      const ids = await store.getConnectorState(connector, progressKey(idempotencyKey));
      return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? [...ids] : [];
    },
    async record(idempotencyKey, ids) {
      await store.setConnectorState(connector, progressKey(idempotencyKey), ids);
    },
  };
}
