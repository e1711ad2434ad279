import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { announceReady, closedLoop, exitOnSignal, openLoop, report, Tracker, type OpenLoopParams } from './drive.js';

/**
 * The BullMQ ceiling: empty jobs through two hops using bullmq directly (not our driver), on the same process
 * layout as the gateway. `hop` is the worker process (A → B); `producer` publishes to A and consumes B.
 * Jobs are removed on completion: this measures the queue alone, with no dedupe retention (our driver keeps them).
 * With `latency` set, the producer offers one job at a time at a fixed rate instead: the queue's own latency, the
 * baseline for the gateway's at the same rate.
 *
 *   node dist/bench/raw-bullmq.js hop|producer '{"url":…,"concurrency":…,"total":…}'
 */
interface Params {
  url: string;
  concurrency: number;
  warmup: number;
  total: number;
  window: number;
  batch: number;
  timeoutMs: number;
  latency?: OpenLoopParams;
}

const PREFIX = 'rawbench';
const QUEUE_A = 'hop-a';
const QUEUE_B = 'hop-b';
const JOB_OPTS = { removeOnComplete: true, removeOnFail: true };

// Workers need maxRetriesPerRequest: null (BullMQ refuses otherwise); each Worker adds its own blocking duplicate.
const connect = (url: string) => new Redis(url, { maxRetriesPerRequest: null });

async function hop(p: Params): Promise<void> {
  const redis = connect(p.url);
  const next = new Queue(QUEUE_B, { connection: redis, prefix: PREFIX });
  // The job's data goes on as it came: empty under load, the producer's id when it times each job.
  const worker = new Worker(QUEUE_A, async (job) => void (await next.add('j', job.data, JOB_OPTS)), {
    connection: redis,
    prefix: PREFIX,
    concurrency: p.concurrency,
  });
  await worker.waitUntilReady();
  exitOnSignal(async () => {
    await worker.close();
    await next.close();
    redis.disconnect();
  });
  announceReady();
}

async function producer(p: Params): Promise<void> {
  const redis = connect(p.url);
  const first = new Queue(QUEUE_A, { connection: redis, prefix: PREFIX });
  const tracker = new Tracker();
  const worker = new Worker(QUEUE_B, async (job) => tracker.received((job.data as { id?: string }).id), {
    connection: redis,
    prefix: PREFIX,
    concurrency: p.concurrency,
  });
  await worker.waitUntilReady();
  if (p.latency) {
    let seq = 0;
    const publishOne = async (record: boolean) => {
      const id = String(seq++);
      tracker.expect(id, performance.now(), record);
      await first.add('j', { id }, JOB_OPTS);
    };
    report(await openLoop({ ...p.latency, tracker, publishOne }));
  } else {
    const publish = async (n: number) => void (await first.addBulk(Array.from({ length: n }, () => ({ name: 'j', data: {}, opts: JOB_OPTS }))));
    const loop = { tracker, window: p.window, batch: p.batch, timeoutMs: p.timeoutMs, publish };
    // Warm-up: connections, Lua script loading, JIT; it also proves the hop process is consuming.
    const warm = await closedLoop({ ...loop, total: p.warmup });
    const measured = await closedLoop({ ...loop, total: p.total });
    report({ ...measured, warmupTimedOut: warm.timedOut, concurrency: p.concurrency, window: p.window, batch: p.batch });
  }
  await worker.close();
  await first.close();
  redis.disconnect();
}

const [role, json] = process.argv.slice(2);
const params = JSON.parse(json ?? '{}') as Params;
if (role === 'hop') await hop(params);
else if (role === 'producer') {
  await producer(params);
  process.exit(0);
} else throw new Error(`usage: raw-bullmq.js hop|producer '<json params>'`);
