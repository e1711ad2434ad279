import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { announceReady, closedLoop, exitOnSignal, report, Tracker } from './drive.js';

/**
 * The BullMQ ceiling: empty jobs through two hops using bullmq directly (not our driver), on the same process
 * layout as the gateway. `hop` is the worker process (A → B); `producer` publishes to A and consumes B.
 * Jobs are removed on completion: this measures the queue alone, with no dedupe retention (our driver keeps them).
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
  const worker = new Worker(QUEUE_A, async () => void (await next.add('j', {}, JOB_OPTS)), {
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
  const worker = new Worker(QUEUE_B, async () => tracker.received(), { connection: redis, prefix: PREFIX, concurrency: p.concurrency });
  await worker.waitUntilReady();
  const publish = async (n: number) => void (await first.addBulk(Array.from({ length: n }, () => ({ name: 'j', data: {}, opts: JOB_OPTS }))));
  const loop = { tracker, window: p.window, batch: p.batch, timeoutMs: p.timeoutMs, publish };
  // Warm-up: connections, Lua script loading, JIT; it also proves the hop process is consuming.
  const warm = await closedLoop({ ...loop, total: p.warmup });
  const measured = await closedLoop({ ...loop, total: p.total });
  report({ ...measured, warmupTimedOut: warm.timedOut, concurrency: p.concurrency, window: p.window, batch: p.batch });
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
