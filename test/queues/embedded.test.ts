import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, openSharedDb, migrate } from '../../core/db.js';
import { UnrecoverableJobError, type HopNext, type HopResult, type Job } from '../../core/queue.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { queueContract } from '../contracts/queue.js';

/** A fresh database file with the gateway's tables, and a connection to it standing for another process. */
function migratedFile(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'monkeyclaw.db');
  const db = openDb(file);
  migrate(db);
  return { dir, file, db };
}

queueContract('embedded', async () => {
  const { dir, file, db } = migratedFile('mc-q-');
  db.close();
  return {
    open: async () => new EmbeddedDriver({ file, leaseMs: 2_000 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('embedded driver under a database locked by another process', () => {
  it('rides out a write lock held past the 10 s deadline: nothing throws, and the jobs run once it is released', async () => {
    const { dir, file, db } = migratedFile('mc-q-lock-');
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

describe('embedded driver without a wake-up socket', () => {
  it('finds work by polling when its run dir cannot be made (a read-only data dir), instead of crashing', async () => {
    const { dir, file, db } = migratedFile('mc-q-norun-');
    db.close();
    // A file where the run dir would go: mkdir fails, as it does in a directory this user cannot write.
    writeFileSync(join(dir, 'blocked'), '');
    const driver = new EmbeddedDriver({ file, runDir: join(dir, 'blocked', 'run') });
    try {
      const done: string[] = [];
      const consumer = driver.consume('q', async (job) => void done.push(job.id));
      await driver.enqueue('q', [{ id: 'a', partition: 'p', payload: 1 }]);
      for (let i = 0; i < 100 && done.length < 1; i++) await sleep(20);
      expect(done).toEqual(['a']);
      await consumer.close();
    } finally {
      await driver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded driver: a lease that ran out under a locked database', () => {
  it('is never claimed again by the consumer still running its job', async () => {
    const { dir, file, db: other } = migratedFile('mc-q-relet-');
    const driver = new EmbeddedDriver({ file, leaseMs: 300 });
    try {
      await driver.enqueue('q', [{ id: 'a', partition: 'p', payload: 1 }]);
      const calls: string[] = [];
      const consumer = driver.consume('q', async (job) => {
        calls.push(job.id);
        if (calls.length > 1) return;
        // Another process holds the write lock for longer than the lease: no renewal gets through meanwhile.
        other.prepare('BEGIN IMMEDIATE').run();
        await sleep(1_000);
        other.prepare('COMMIT').run();
        await sleep(500);
      });
      for (let i = 0; i < 60 && (await driver.depth('q')).waiting + (await driver.depth('q')).active > 0; i++) await sleep(50);
      await sleep(200);
      expect(calls).toEqual(['a']);
      await consumer.close();
    } finally {
      await driver.close();
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded driver: a job back from its backoff while a claim waits for the write lock', () => {
  it('does not leave the claim loop waiting for a slot, so close keeps to its drain time', async () => {
    const { dir, file, db: other } = migratedFile('mc-q-slot-');
    const driver = new EmbeddedDriver({ file, leaseMs: 5_000 });
    try {
      let tries = 0;
      const consumer = driver.consume(
        'q',
        async (job) => {
          if (job.id !== 'A') return;
          if (tries++ === 0) {
            // The loop's next claim meets the write lock of another process, and A comes back from its backoff meanwhile.
            other.prepare('BEGIN IMMEDIATE').run();
            setTimeout(() => other.prepare('COMMIT').run(), 300);
            throw new Error('fail once');
          }
          await sleep(3_000);
        },
        { concurrency: 1, backoffMs: 100 },
      );
      await driver.enqueue('q', [{ id: 'A', partition: 'p', payload: 1 }, { id: 'X', partition: 'x', payload: 1 }]);
      await sleep(700);
      const t0 = Date.now();
      await consumer.close(100);
      expect(Date.now() - t0).toBeLessThan(1_000);
    } finally {
      await driver.close();
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded driver: a commit through its own connection is one transaction with the acknowledgement', () => {
  const setup = () => {
    const { dir, file, db: other } = migratedFile('mc-q-join-');
    other.exec('CREATE TABLE turns (job TEXT)');
    const driver = new EmbeddedDriver({ file, leaseMs: 2_000 });
    // The process's one connection to the file, which the driver acknowledges on.
    const shared = openSharedDb(file);
    const rows = () => (other.prepare('SELECT job FROM turns').pluck().all() as string[]);
    const left = () => (other.prepare('SELECT COUNT(*) FROM queue_jobs').pluck().get() as number);
    const joined = (job: Job, write: () => void, next: HopNext = []): HopResult => ({
      commit: {
        commit: async () => {
          throw new Error('a joinable commit is never made on its own');
        },
        joinable: {
          connection: shared.db,
          write: () => {
            shared.db.prepare('INSERT INTO turns (job) VALUES (?)').run(`${job.id}@${job.attempt}`);
            write();
            return next;
          },
        },
      },
    });
    const close = async () => {
      await driver.close();
      shared.release();
      other.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { driver, other, rows, left, joined, close };
  };

  it('writes the commit with the ack, and a write that throws takes the ack back with it', async () => {
    const t = setup();
    try {
      const c = t.driver.consume('q', async (job) => t.joined(job, () => {
        if (job.attempt === 1) throw new Error('constraint failed');
      }), { backoffMs: 20 });
      await t.driver.enqueue('q', [{ id: 'a', partition: 'p', payload: null }]);
      for (let i = 0; i < 100 && t.left() > 0; i++) await sleep(20);
      await c.close();
      // The first attempt's row went with its failed ack; the second attempt's stayed with its ack.
      expect(t.rows()).toEqual(['a@2']);
      expect(t.left()).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('takes back a commit that went through when the enqueue of its follow-ups fails after it', async () => {
    const t = setup();
    try {
      // The first attempt's follow-up cannot be enqueued (no queue name): its already written turn must go with it.
      const c = t.driver.consume('q', async (job) => t.joined(job, () => undefined, job.attempt === 1 ? [{ queue: null as unknown as string, job: { id: 'r', partition: 'p', payload: null } }] : []), { backoffMs: 20 });
      await t.driver.enqueue('q', [{ id: 'c', partition: 'p', payload: null }]);
      for (let i = 0; i < 100 && t.left() > 0; i++) await sleep(20);
      await c.close();
      expect(t.rows()).toEqual(['c@2']);
    } finally {
      await t.close();
    }
  });

  it('writes nothing of a hop whose lease another consumer took meanwhile', async () => {
    const t = setup();
    try {
      let ran = 0;
      const c = t.driver.consume('q', async (job) => {
        ran++;
        // Another consumer owns the job from here on (its lease ran out while this one worked).
        t.other.prepare("UPDATE queue_jobs SET lease_owner = 'elsewhere', lease_until = ? WHERE job_id = ?").run(Date.now() + 60_000, job.id);
        return t.joined(job, () => undefined);
      });
      await t.driver.enqueue('q', [{ id: 'b', partition: 'p', payload: null }]);
      for (let i = 0; i < 100 && ran === 0; i++) await sleep(20);
      await sleep(200);
      await c.close();
      expect(ran).toBe(1);
      expect(t.rows()).toEqual([]);
      expect(t.left()).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe('embedded driver: a job stored by something else than this driver', () => {
  it('is dead-lettered as stored, whether not JSON or nested too deep to write back, and the jobs claimed with it still run', async () => {
    const { dir, file, db: other } = migratedFile('mc-q-poison-');
    const driver = new EmbeddedDriver({ file, leaseMs: 2_000 });
    try {
      const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
      const insert = other.prepare('INSERT INTO queue_jobs (queue, job_id, partition, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)');
      // In one transaction, so that one claim takes them all.
      other.transaction(() => {
        insert.run('q', 'bad', 'p1', '{"v":1,', Date.now());
        insert.run('q', 'deep', 'p2', deep, Date.now());
        insert.run('q', 'good', 'p3', JSON.stringify({ ok: true }), Date.now());
      })();
      const handled: string[] = [];
      const dead: string[] = [];
      const c = driver.consume(
        'q',
        async (job) => {
          // As every handler of the gateway does: a payload of the wrong shape is refused for good.
          if (typeof job.payload !== 'object' || job.payload === null || !('ok' in job.payload)) throw new UnrecoverableJobError('not a job payload');
          handled.push(job.id);
        },
        { concurrency: 4, onDead: (job) => void dead.push(job.id) },
      );
      for (let i = 0; i < 100 && (handled.length < 1 || dead.length < 2); i++) await sleep(50);
      await c.close(1_000);
      expect(handled).toEqual(['good']);
      expect(dead.sort()).toEqual(['bad', 'deep']);
      const letters = await driver.deadLetters();
      expect(letters.find((l) => l.jobId === 'bad')).toMatchObject({ payload: '{"v":1,', error: 'the stored payload is not JSON', attempts: 0 });
      expect(letters.find((l) => l.jobId === 'deep')).toBeDefined();
      expect(other.prepare('SELECT COUNT(*) FROM queue_jobs').pluck().get()).toBe(0);
    } finally {
      await driver.close();
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
