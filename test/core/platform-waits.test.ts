import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { PlatformWaits } from '../../core/platform-waits.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

describe('PlatformWaits', () => {
  const tmp = tempDir('mc-waits-');
  afterAll(() => tmp.remove());

  /** A migrated store of its own and a clock the test moves; `deps` makes a PlatformWaits as a connector process does. */
  async function rig(name: string) {
    const store = new SqliteStore(join(tmp.dir, `${name}.db`));
    await store.migrate();
    const clock = { now: 1_000_000 };
    return { store, clock, deps: { store, name, now: () => clock.now, log: pino({ level: 'silent' }) } };
  }

  it('a wait outlives its process; the next start keeps the waits still running and deletes those that are over', async () => {
    const { store, clock, deps } = await rig('slack');
    const first = new PlatformWaits(deps);
    await first.hold('C-short', 1);
    await first.hold('C-long', 600);

    clock.now += 5_000; // C-short is over, C-long has 595 s left
    const second = new PlatformWaits(deps);
    const aborted = AbortSignal.abort();
    await expect(second.wait('C-long', aborted)).rejects.toThrow(/abort/i);
    await second.wait('C-short', aborted); // nothing left to wait: returns at once, even under an aborted signal
    expect((await store.listConnectorState('slack', 'wait:')).map((r) => r.key)).toEqual(['wait:C-long']);
    await store.close();
  });

  it('a shorter wait told later (another route spent at the same place) does not cut a longer one short', async () => {
    const { store, clock, deps } = await rig('discord');
    const waits = new PlatformWaits(deps);
    await waits.hold('C1', 30);
    await waits.hold('C1', 1);
    clock.now += 5_000;
    await expect(waits.wait('C1', AbortSignal.abort())).rejects.toThrow(/abort/i);
    // And after a restart too: what is kept is the longer one.
    await expect(new PlatformWaits(deps).wait('C1', AbortSignal.abort())).rejects.toThrow(/abort/i);
    await store.close();
  });
});
