import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueDriver } from '../../core/queue.js';

/** Opens a driver on the shared backing store of one test (the same SQLite file, the same Redis prefix). */
export interface DriverHarness {
  open(): Promise<QueueDriver>;
  cleanup(): Promise<void>;
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** What a contract's tests are given: a driver on the test's shared store, and a fresh queue name. */
export interface ContractContext {
  open(): Promise<QueueDriver>;
  name(): string;
}
