import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { migrate, openDb } from '../core/db.js';
import type { JobInput } from '../core/queue.js';
import { EmbeddedDriver } from '../queues/embedded.js';
import { announceReady, closedLoop, exitOnSignal, openLoop, report, Tracker, type OpenLoopParams } from './drive.js';

/**
 * The embedded driver's ceiling: the same two hops on its SQLite storage with no gateway work. `hop` consumes A
 * and returns `{ next: [B job] }` (so the ack and the follow-up enqueue are one transaction, as in the worker);
 * `producer` enqueues on A, consumes B, and reports. Jobs are spread over `partitions` partitions. With `latency`
 * set, the producer offers one job at a time at a fixed rate instead (the baseline for the gateway's latency).
 *
 *   node dist/bench/raw-sqlite.js hop|producer '{"dataDir":…,"concurrency":…,"total":…}'
 */
interface Params {
  dataDir: string;
  concurrency: number;
  partitions: number;
  warmup: number;
  total: number;
  window: number;
  batch: number;
  timeoutMs: number;
  latency?: OpenLoopParams;
}

const QUEUE_A = 'bench-a';
const QUEUE_B = 'bench-b';

function open(p: Params): EmbeddedDriver {
  const file = join(p.dataDir, 'monkeyclaw.db');
  // The queue tables come from the gateway's migrations; applying them is idempotent across processes.
  const db = openDb(file);
  migrate(db);
  db.close();
  return new EmbeddedDriver({ file });
}

async function hop(p: Params): Promise<void> {
  const driver = open(p);
  const consumer = driver.consume(
    QUEUE_A,
    // The payload goes on as it came: null under load, the producer's id when it times each job.
    async (job) => ({ next: [{ queue: QUEUE_B, job: { id: `b:${job.id}`, partition: job.partition, payload: job.payload } }] }),
    { concurrency: p.concurrency },
  );
  exitOnSignal(async () => {
    await consumer.close(1_000);
    await driver.close();
  });
  announceReady();
}

async function producer(p: Params): Promise<void> {
  const driver = open(p);
  const tracker = new Tracker();
  const consumer = driver.consume(QUEUE_B, async (job) => tracker.received((job.payload as string | null) ?? undefined), { concurrency: p.concurrency });
  let seq = 0;
  const job = (timed: boolean): JobInput => {
    const n = seq++;
    return { id: `a:${n}`, partition: `p-${n % p.partitions}`, payload: timed ? String(n) : null };
  };
  if (p.latency) {
    const publishOne = async (record: boolean) => {
      const j = job(true);
      tracker.expect(j.payload as string, performance.now(), record);
      await driver.enqueue(QUEUE_A, [j]);
    };
    report(await openLoop({ ...p.latency, tracker, publishOne }));
  } else {
    const publish = async (n: number) => driver.enqueue(QUEUE_A, Array.from({ length: n }, () => job(false)));
    const loop = { tracker, window: p.window, batch: p.batch, timeoutMs: p.timeoutMs, publish };
    // Warm-up also covers the nudge sockets: each process finds its peers' sockets on a rescan (at most every 1 s).
    const warm = await closedLoop({ ...loop, total: p.warmup });
    const measured = await closedLoop({ ...loop, total: p.total });
    report({ ...measured, warmupTimedOut: warm.timedOut, concurrency: p.concurrency, partitions: p.partitions, window: p.window, batch: p.batch });
  }
  await consumer.close(1_000);
  await driver.close();
}

const [role, json] = process.argv.slice(2);
const params = JSON.parse(json ?? '{}') as Params;
if (role === 'hop') await hop(params);
else if (role === 'producer') {
  await producer(params);
  process.exit(0);
} else throw new Error(`usage: raw-sqlite.js hop|producer '<json params>'`);
