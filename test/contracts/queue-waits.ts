import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { RetryLaterError } from '../../core/queue.js';
import { until, type ContractContext } from './queue-context.js';

/**
 * The contract on waiting, every driver: a job waiting out a backoff or a platform's "later" keeps its partition
 * but not its consumer slot, and is handed back, never retried, when its consumer closes.
 */
export function queueWaitsContract({ open, name }: ContractContext): void {
  it('gives a retrying job\'s slot to other partitions while it waits out its backoff', async () => {
    const q = await open();
    const queue = name();
    const done: string[] = [];
    let failures = 3;
    q.consume(
      queue,
      async (job) => {
        if (job.id === 'stuck' && failures-- > 0) throw new Error('platform down');
        done.push(job.id);
      },
      // One slot: while `stuck` waits out its backoff, the other partitions' jobs take it.
      { backoffMs: 150, maxAttempts: 5, concurrency: 1 },
    );
    await q.enqueue(queue, [{ id: 'stuck', partition: 'p', payload: null }]);
    await sleep(100);
    await q.enqueue(queue, [
      { id: 'a', partition: 'q', payload: null },
      { id: 'b', partition: 'r', payload: null },
      { id: 'later', partition: 'p', payload: null },
    ]);
    await until(() => done.length === 4);
    // The others went while `stuck` still failed; its own partition's next job still waited for it.
    expect(done.slice(0, 2).sort()).toEqual(['a', 'b']);
    expect(done.slice(2)).toEqual(['stuck', 'later']);
  });

  it('hands back, never retries, a job whose backoff ends while the consumer closes and another holds the slot', async () => {
    const q = await open();
    const queue = name();
    const calls: string[] = [];
    let closing = false;
    const consumer = q.consume(
      queue,
      async (job) => {
        calls.push(`${job.id}${closing ? ' after close began' : ''}`);
        if (job.id === 'failing') throw new Error('transient');
        await sleep(800);
      },
      { backoffMs: 50, maxAttempts: 5, concurrency: 1 },
    );
    await q.enqueue(queue, [{ id: 'failing', partition: 'p', payload: null }]);
    await until(() => calls.length === 1);
    // The slot goes to `busy` while `failing` waits out its backoff; `failing` then waits for the slot.
    await q.enqueue(queue, [{ id: 'busy', partition: 'q', payload: null }]);
    await until(() => calls.includes('busy'));
    await sleep(150);
    closing = true;
    await consumer.close(5_000);
    expect(calls).toEqual(['failing', 'busy']);
    // Handed back: the next consumer has it.
    const again: string[] = [];
    q.consume(queue, async (job) => void again.push(job.id), { concurrency: 1 });
    await until(() => again.includes('failing'));
  });

  it('waits out a RetryLaterError without its slot and without counting it as an attempt', async () => {
    const q = await open();
    const queue = name();
    const done: string[] = [];
    let waits = 3;
    q.consume(
      queue,
      async (job) => {
        if (job.id === 'told' && waits-- > 0) throw new RetryLaterError(150, 'the platform asked for quiet');
        done.push(`${job.id}@${job.attempt}`);
      },
      // One attempt only: three waits are not three failures.
      { backoffMs: 50, maxAttempts: 1, concurrency: 1 },
    );
    await q.enqueue(queue, [{ id: 'told', partition: 'p', payload: null }]);
    await sleep(50);
    await q.enqueue(queue, [{ id: 'other', partition: 'q', payload: null }]);
    await until(() => done.length === 2);
    expect(done).toEqual(['other@1', 'told@1']);
    expect(await q.deadLetters()).toEqual([]);
  });

  it('lets many jobs wait at once without warning of a listener leak (one shared shutdown signal)', async () => {
    const q = await open();
    const queue = name();
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const told = new Set<string>();
      let done = 0;
      q.consume(queue, async (job) => {
        if (!told.has(job.id)) {
          told.add(job.id);
          throw new RetryLaterError(300, 'the platform asked for quiet');
        }
        done++;
      }, { concurrency: 32 });
      // Twenty-four chats told to wait side by side, as a platform's rate limit does.
      await q.enqueue(queue, Array.from({ length: 24 }, (_, i) => ({ id: `j${i}`, partition: `chat-${i}`, payload: null })));
      await until(() => done === 24);
      await sleep(10);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
}
