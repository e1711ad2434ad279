import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';

/** Polls `probe` until it returns something other than undefined or false; fails after `timeoutMs`. */
export async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

/** Registers teardown steps run after each test, last registered first. */
export function cleanups(): Array<() => Promise<void> | void> {
  const steps: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of steps.splice(0).reverse()) await f();
  });
  return steps;
}
