import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job, QueueDriver } from '../../core/queue.js';
import { UnrecoverableJobError } from '../../core/queue.js';
import { until, type DriverHarness } from './queue-context.js';
import { queueWaitsContract } from './queue-waits.js';

export type { DriverHarness } from './queue-context.js';

/** One suite, every driver: what callers may rely on whichever queue runs underneath. */
export function queueContract(label: string, makeHarness: () => Promise<DriverHarness>): void {
  describe(`queue contract: ${label}`, () => {
    let harness: DriverHarness;
    const drivers: QueueDriver[] = [];
    const open = async () => {
      harness ??= await makeHarness();
      const d = await harness.open();
      drivers.push(d);
      return d;
    };
    const name = () => `t:${randomUUID().slice(0, 8)}`;

    afterEach(async () => {
      for (const d of drivers.splice(0)) await d.close();
      await harness?.cleanup();
      harness = undefined as unknown as DriverHarness;
    });

    it('delivers a payload intact, first attempt numbered 1', async () => {
      const q = await open();
      const queue = name();
      const seen: Job[] = [];
      q.consume(queue, async (job) => {
        seen.push(job);
      });
      const payload = { text: 'héllo 👋 "quoted"', n: [1, 2, 3] };
      await q.enqueue(queue, [{ id: 'a', partition: 'p', payload }]);
      await until(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ id: 'a', partition: 'p', queue, attempt: 1, payload });
    });

    it('ignores a job id it has already seen, before and after completion', async () => {
      const q = await open();
      const queue = name();
      const ids: string[] = [];
      await q.enqueue(queue, [
        { id: 'x', partition: 'p', payload: 1 },
        { id: 'x', partition: 'p', payload: 2 },
      ]);
      const c = q.consume(queue, async (job) => {
        ids.push(`${job.id}:${String(job.payload)}`);
      });
      await until(() => ids.length === 1);
      await q.enqueue(queue, [{ id: 'x', partition: 'p', payload: 3 }, { id: 'y', partition: 'p', payload: 4 }]);
      await until(() => ids.length === 2);
      await sleep(150);
      await c.close();
      expect(ids).toEqual(['x:1', 'y:4']);
    });

    it('keeps order per partition under concurrency 8: 1,000 interleaved jobs over 50 partitions, two consumers', async () => {
      const a = await open();
      const b = await open();
      const queue = name();
      const partitions = 50;
      const total = 1000;
      const jobs = Array.from({ length: total }, (_, i) => ({
        id: `j${i}`,
        partition: `conv-${i % partitions}`,
        payload: { seq: Math.floor(i / partitions) },
      }));
      const lastSeq = new Map<string, number>();
      const inFlight = new Set<string>();
      const violations: string[] = [];
      let running = 0;
      let maxRunning = 0;
      let done = 0;
      const handler = async (job: Job) => {
        if (inFlight.has(job.partition)) violations.push(`overlap in ${job.partition}`);
        inFlight.add(job.partition);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const seq = (job.payload as { seq: number }).seq;
        const prev = lastSeq.get(job.partition) ?? -1;
        if (seq !== prev + 1) violations.push(`${job.partition}: ${prev} then ${seq}`);
        lastSeq.set(job.partition, seq);
        await sleep(Math.random() * 3);
        running--;
        inFlight.delete(job.partition);
        done++;
      };
      a.consume(queue, handler, { concurrency: 8 });
      b.consume(queue, handler, { concurrency: 8 });
      // Enqueue in interleaved batches, as connectors would.
      for (let i = 0; i < total; i += 100) await a.enqueue(queue, jobs.slice(i, i + 100));
      await until(() => done === total, 60_000);
      expect(violations).toEqual([]);
      expect(maxRunning).toBeGreaterThan(1);
      expect([...lastSeq.values()].every((s) => s === total / partitions - 1)).toBe(true);
    });

    it('retries a failing job with backoff, holding later jobs of its partition until it succeeds', async () => {
      const q = await open();
      const queue = name();
      const order: string[] = [];
      const stamps: number[] = [];
      let failures = 2;
      q.consume(
        queue,
        async (job) => {
          if (job.id === 'first' && failures-- > 0) {
            stamps.push(Date.now());
            throw new Error('transient');
          }
          order.push(`${job.id}@${job.attempt}`);
        },
        { backoffMs: 50, maxAttempts: 5, concurrency: 4 },
      );
      await q.enqueue(queue, [
        { id: 'first', partition: 'p', payload: null },
        { id: 'second', partition: 'p', payload: null },
        { id: 'other', partition: 'q', payload: null },
      ]);
      await until(() => order.length === 3);
      expect(order.indexOf('first@3')).toBeLessThan(order.indexOf('second@1'));
      expect(order.indexOf('other@1')).toBeLessThan(order.indexOf('second@1'));
      expect(stamps[1]! - stamps[0]!).toBeGreaterThanOrEqual(40);
    });

    queueWaitsContract({ open, name });

    it('dead-letters after maxAttempts, moves the partition on, and retries a dead job on request', async () => {
      const q = await open();
      const queue = name();
      const done: string[] = [];
      let poisoned = true;
      q.consume(
        queue,
        async (job) => {
          if (job.id.startsWith('poison') && poisoned) throw new Error('always fails');
          done.push(job.id);
        },
        { backoffMs: 10, maxAttempts: 3 },
      );
      await q.enqueue(queue, [
        { id: 'poison', partition: 'p', payload: { keep: 'me' } },
        { id: 'after', partition: 'p', payload: null },
      ]);
      await until(() => done.includes('after'));
      const dead = (await q.deadLetters()).filter((d) => d.queue === queue);
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ jobId: 'poison', partition: 'p', attempts: 3, payload: { keep: 'me' } });
      expect(dead[0]!.error).toContain('always fails');
      // Typed as `dlq retry <id>`: letters and digits only (an id beginning with `-` would be taken for an option).
      expect(dead[0]!.id).toMatch(/^[0-9a-z]+$/);
      expect((await q.depth(queue)).dead).toBe(1);

      poisoned = false;
      expect(await q.retryDead(dead[0]!.id)).toBe(true);
      await until(() => done.includes('poison'));
      expect((await q.deadLetters()).filter((d) => d.queue === queue)).toHaveLength(0);
      expect(await q.retryDead('no-such-entry')).toBe(false);

      // A later dead letter never takes a retried one's id: `dlq retry` typed again from an old list does nothing.
      poisoned = true;
      await q.enqueue(queue, [{ id: 'poison-2', partition: 'p', payload: 'again' }]);
      await until(async () => (await q.depth(queue)).dead === 1);
      const later = (await q.deadLetters()).filter((d) => d.queue === queue);
      expect(later.map((d) => d.id)).not.toContain(dead[0]!.id);
      expect(await q.retryDead(dead[0]!.id)).toBe(false);
    });

    it('dead-letters an unrecoverable failure at once, and tells onDead only once it is on record', async () => {
      const q = await open();
      const queue = name();
      let calls = 0;
      const told: Array<{ id: string; listed: boolean }> = [];
      const onDead = async (job: { id: string }) => void told.push({ id: job.id, listed: (await q.deadLetters()).some((d) => d.queue === queue && d.jobId === job.id) });
      q.consume(
        queue,
        async () => {
          calls++;
          throw new UnrecoverableJobError('malformed; the platform said: bad token xoxb-1234567890-abcdefghijkl');
        },
        { onDead },
      );
      await q.enqueue(queue, [{ id: 'bad', partition: 'p', payload: 'x' }]);
      await until(async () => (await q.depth(queue)).dead === 1);
      expect(calls).toBe(1);
      const dead = (await q.deadLetters()).find((d) => d.queue === queue);
      expect(dead?.attempts).toBe(1);
      // What a dead letter keeps of the error never holds a credential, whatever a library put in its message.
      expect(dead?.error).toBe('UnrecoverableJobError: malformed; the platform said: bad token [redacted]');
      await until(() => told.length === 1);
      expect(told).toEqual([{ id: 'bad', listed: true }]);
    });

    it('enqueues the jobs a handler returns as part of its acknowledgement', async () => {
      const q = await open();
      const from = name();
      const to = name();
      const got: unknown[] = [];
      q.consume(from, async (job) => ({ next: [{ queue: to, job: { id: `${job.id}-r`, partition: job.partition, payload: { reply: job.payload } } }] }));
      q.consume(to, async (job) => {
        got.push(job.payload);
      });
      await q.enqueue(from, [{ id: 'm', partition: 'c', payload: 'hi' }]);
      await until(() => got.length === 1);
      expect(got).toEqual([{ reply: 'hi' }]);
    });

    it("makes a handler's commit once, within its attempt, and enqueues the jobs it yields; a commit that fails is retried", async () => {
      const q = await open();
      const from = name();
      const to = name();
      const got: unknown[] = [];
      const commits: number[] = [];
      q.consume(
        from,
        async (job) => ({
          commit: {
            commit: async () => {
              commits.push(job.attempt);
              if (job.attempt === 1) throw new Error('database locked');
              return [{ queue: to, job: { id: `${job.id}-r`, partition: job.partition, payload: { reply: job.payload, attempt: job.attempt } } }];
            },
          },
        }),
        { backoffMs: 20 },
      );
      q.consume(to, async (job) => {
        got.push(job.payload);
      });
      await q.enqueue(from, [{ id: 'm', partition: 'c', payload: 'hi' }]);
      await until(() => got.length === 1);
      await sleep(150);
      expect(commits).toEqual([1, 2]);
      expect(got).toEqual([{ reply: 'hi', attempt: 2 }]);
    });

    it('discards a queue: its waiting jobs are gone and a job id it had seen is taken again', async () => {
      const q = await open();
      const queue = name();
      await q.enqueue(queue, [{ id: 'a', partition: 'p', payload: 1 }, { id: 'b', partition: 'r', payload: 2 }]);
      const seen: string[] = [];
      const c = q.consume(queue, async (job) => void seen.push(job.id), { concurrency: 1 });
      await until(() => seen.length === 2);
      await c.close();
      await q.enqueue(queue, [{ id: 'waiting', partition: 'p', payload: 3 }]);
      await q.discard(queue);
      expect(await q.depth(queue)).toMatchObject({ waiting: 0, active: 0 });
      await q.enqueue(queue, [{ id: 'a', partition: 'p', payload: 4 }]);
      const again: Job[] = [];
      q.consume(queue, async (job) => void again.push(job));
      await until(() => again.length === 1);
      expect(again[0]).toMatchObject({ id: 'a', payload: 4 });
    });

    it('reports depth', async () => {
      const q = await open();
      const queue = name();
      await q.enqueue(queue, [
        { id: '1', partition: 'a', payload: null },
        { id: '2', partition: 'b', payload: null },
        { id: '3', partition: 'a', payload: null },
      ]);
      expect(await q.depth(queue)).toEqual({ waiting: 3, active: 0, dead: 0 });
    });

    it('drains in-flight work on close and hands unfinished work to the next consumer', async () => {
      const a = await open();
      const queue = name();
      let finished = 0;
      const c = a.consume(queue, async (job) => {
        await sleep(job.id === 'slow' ? 100 : 5_000);
        finished++;
      });
      await a.enqueue(queue, [{ id: 'slow', partition: 'p', payload: null }, { id: 'stuck', partition: 'q', payload: null }]);
      await until(async () => (await a.depth(queue)).active === 2);
      await c.close(500);
      expect(finished).toBe(1);

      const b = await open();
      const redelivered: Job[] = [];
      b.consume(queue, async (job) => {
        redelivered.push(job);
      });
      await until(() => redelivered.length === 1, 30_000);
      expect(redelivered[0]!.id).toBe('stuck');
    });

    it('hands back a job that fails while the consumer closes, without retrying it into the dead letters', async () => {
      const a = await open();
      const queue = name();
      let attempts = 0;
      const c = a.consume(
        queue,
        async () => {
          attempts++;
          await sleep(50);
          throw new Error('platform down');
        },
        // Two attempts left when the close begins: retrying on through the drain would dead-letter it within 100 ms.
        { backoffMs: 5, maxAttempts: 4 },
      );
      await a.enqueue(queue, [{ id: 'failing', partition: 'p', payload: null }]);
      await until(() => attempts >= 2);
      await c.close(5_000);
      const tried = attempts;
      expect(tried).toBeLessThanOrEqual(3);
      expect((await a.deadLetters()).filter((d) => d.queue === queue)).toHaveLength(0);

      const b = await open();
      const redelivered: Job[] = [];
      b.consume(queue, async (job) => {
        redelivered.push(job);
      });
      await until(() => redelivered.length === 1, 30_000);
      expect(redelivered[0]!.id).toBe('failing');
      expect(attempts).toBe(tried);
    });
  });
}
