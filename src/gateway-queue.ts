import type { SqliteStore } from '../core/sqlite/store.js';
import { lockHolder, supervisorLock } from './lock.js';

/** Kept in the data dir's connector state, under the gateway's name. */
const ROLE = 'gateway';
const KEY = 'queue';

/** Said by `start` as it starts, before any of its workers: which queues it reads (`QueueDriver.where`). */
export const recordGatewayQueue = (store: Pick<SqliteStore, 'setConnectorState'>, where: string): Promise<void> => store.setConnectorState(ROLE, KEY, where);

/** Said by `start` first of all: an earlier run's record (other settings, perhaps) no longer speaks for it. */
export const forgetGatewayQueue = (store: Pick<SqliteStore, 'deleteConnectorState'>): Promise<void> => store.deleteConnectorState(ROLE, [KEY]);

/**
 * Which queues the gateway holding this data dir reads (driver, Redis address, database, prefix), or undefined when
 * no gateway runs on it. Workers record theirs too, a worker started by hand included, so this, not the last
 * worker's record, is what a `chat` or another worker must match.
 */
export async function gatewayQueue(rt: { dataDir: string; store: Pick<SqliteStore, 'getConnectorState'> }): Promise<string | undefined> {
  if (lockHolder(supervisorLock(rt.dataDir)) === undefined) return undefined;
  const where = await rt.store.getConnectorState(ROLE, KEY);
  return typeof where === 'string' ? where : undefined;
}
