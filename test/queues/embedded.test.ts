import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, migrate } from '../../core/db.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { queueContract } from '../contracts/queue.js';

queueContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mc-q-'));
  const file = join(dir, 'monkeyclaw.db');
  const db = openDb(file);
  migrate(db);
  db.close();
  return {
    open: async () => new EmbeddedDriver({ file, leaseMs: 2_000 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('embedded driver under a database locked by another process', () => {
  it('rides out a write lock held past the 10 s deadline: nothing throws, and the jobs run once it is released', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-q-lock-'));
    const file = join(dir, 'monkeyclaw.db');
    const db = openDb(file);
    migrate(db);
    const driver = new EmbeddedDriver({ file, leaseMs: 2_000 });
    try {
      await driver.enqueue('q', [{ id: 'a', partition: 'p', payload: 1 }, { id: 'b', partition: 'r', payload: 2 }]);
      // Another process takes the write lock and keeps it longer than any write here waits.
      db.prepare('BEGIN IMMEDIATE').run();
      const done: string[] = [];
      const consumer = driver.consume('q', async (job) => void done.push(job.id));
      await sleep(11_000);
      expect(done).toEqual([]);
      db.prepare('COMMIT').run();
      for (let i = 0; i < 100 && done.length < 2; i++) await sleep(50);
      expect(done.sort()).toEqual(['a', 'b']);
      await consumer.close();
    } finally {
      await driver.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
