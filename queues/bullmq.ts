import { createHash } from 'node:crypto';
import { Queue, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import {
  DEDUPE_RETENTION_MS,
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type JobHandler,
  type JobInput,
  type QueueDepth,
  type QueueDriver,
} from '../core/queue.js';
import { isLoopbackHost } from '../core/config-urls.js';
import { settlesWithin, withTimeout } from '../core/deadline.js';
import type { Envelope } from './bullmq-envelope.js';
import { plainRedisError } from './redis-errors.js';
import { QUIT_MS, quitRedis } from './redis-quit.js';
import { allPartitionQueues, bullJobId, DEFAULT_PARTITIONS, partitionQueueFor } from './bullmq-names.js';
import { BullmqConsumer } from './bullmq-consumer.js';
import { LockOwners } from './lock-owners.js';

export interface BullmqOptions {
  url: string;
  /** Redis key prefix; drivers sharing it share queues and dead letters. */
  prefix?: string;
  /**
   * Ordering slots per logical queue: partitions hash onto this many BullMQ queues, each run one job at a time.
   * Every process sharing the prefix must use the same number, or a partition would live in two queues at once.
   */
  partitions?: number;
  /** Lock duration: a job held by a consumer that died is redelivered about this long after its last renewal. */
  leaseMs?: number;
  /** Errors BullMQ reports in the background (connection loss, failed lock renewals). */
  onError?: (error: Error) => void;
  /** Redis answers again after an error: the outage the errors told of is over. */
  onRecovered?: () => void;
}

/** A dead letter as stored: one whose payload JSON cannot hold (nested too deep) keeps a note in its place. */
function deadLetterText(entry: DeadLetter): string {
  try {
    return JSON.stringify(entry);
  } catch (error) {
    return JSON.stringify({ ...entry, payload: { unstorable: `the payload could not be stored: ${(error as Error).message}` } });
  }
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Queues, jobs and dead letters in Redis through BullMQ, for deployments that run several gateway processes. */
export class BullmqDriver implements QueueDriver {
  readonly name = 'bullmq' as const;
  readonly prefix: string;
  readonly where: string;
  readonly partitions: number;
  readonly leaseMs: number;
  private readonly redis: Redis;
  private readonly queues = new Map<string, Promise<Queue<Envelope>>>();
  private readonly consumers = new Set<BullmqConsumer>();
  private readonly keys;
  /** @internal Which process runs each worker: a restarted process hands back its dead predecessor's jobs. */
  readonly owners: LockOwners;
  /** The last error ioredis reported: why commands are waiting, when Redis is away. */
  private lastError?: Error;

  constructor(readonly options: BullmqOptions) {
    this.prefix = options.prefix ?? 'monkeyclaw';
    this.partitions = options.partitions ?? DEFAULT_PARTITIONS;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.redis = new Redis(options.url);
    const { host, port, path, db } = this.redis.options;
    // Every name for this machine is one: `localhost` in one config and 127.0.0.1 in another reach the same Redis.
    const at = path ?? `${host && isLoopbackHost(host) ? '127.0.0.1' : host}:${port}`;
    this.where = `BullMQ on Redis at ${at} database ${db ?? 0}, keys under ${this.prefix}`;
    this.redis.on('error', (e: Error) => this.reportError(e));
    // An error from before the last reconnect says nothing about why Redis is away now.
    this.redis.on('ready', () => {
      if (this.lastError) this.options.onRecovered?.();
      this.lastError = undefined;
    });
    // ':' in the middle keeps these clear of BullMQ's keys: every BullMQ queue we create is named `mc-…`.
    const base = `${this.prefix}:mc:dead`;
    this.keys = { dead: base, order: `${base}:order`, ofQueue: (queue: string) => `${base}:q:${queue}` };
    this.owners = new LockOwners(this.redis, `${this.prefix}:mc:workers`);
  }

  reportError(error: Error): void {
    this.lastError = error;
    if (this.options.onError) this.options.onError(error);
    else console.error(`[bullmq] ${error.message}`);
  }

  /**
   * @internal
   * Global concurrency 1 is what makes a partition queue strictly ordered across processes; every opener sets it
   * before its first add or fetch, so no worker can ever see the queue without it.
   */
  partitionQueue(name: string): Promise<Queue<Envelope>> {
    let queue = this.queues.get(name);
    if (!queue) {
      // Nobody reads BullMQ's event streams here; its default keeps 10,000 events per partition queue.
      const q = new Queue<Envelope>(name, { connection: this.redis, prefix: this.prefix, streams: { events: { maxLen: 100 } } });
      q.on('error', (e) => this.reportError(e));
      queue = q.setGlobalConcurrency(1).then(() => q);
      queue.catch(() => {
        this.queues.delete(name);
        void q.close();
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async enqueue(queue: string, jobs: JobInput[]): Promise<void> {
    const retainS = DEDUPE_RETENTION_MS / 1000;
    const byQueue = groupBy(jobs, (job) => partitionQueueFor(queue, job.partition, this.partitions));
    // One addBulk per partition queue: it pipelines in order, so a batch keeps its order within each partition.
    await Promise.all(
      [...byQueue].map(async ([name, batch]) => {
        const q = await this.partitionQueue(name);
        // A Redis that restarted empty has forgotten the limit of one active job (and running workers would take
        // a partition's jobs side by side): every add re-asserts it first, on the same connection, so no job can
        // be in a partition queue without it. The queue speaks over this.redis too: pipelined with the add, in order.
        this.redis.hset(`${this.prefix}:${name}:meta`, 'concurrency', 1).catch((e: Error) => this.reportError(e));
        const adds = batch.map((job) => ({
          name: 'job',
          data: { queue, id: job.id, partition: job.partition, payload: job.payload },
          // Retaining completed jobs is what makes a re-enqueue of a recent id a no-op. Jobs only fail through
          // BullMQ's own stall limit; they are kept as long, for inspection.
          opts: { jobId: bullJobId(job.id), removeOnComplete: { age: retainS }, removeOnFail: { age: retainS } },
        }));
        // One job (a reply, a message as it arrives) is a plain add: addBulk builds an ioredis pipeline, which
        // copies every BullMQ script onto itself; in the bench's profile a worker's adds fell from 10% to 5% of it.
        if (adds.length === 1) await q.add(adds[0]!.name, adds[0]!.data, adds[0]!.opts);
        else await q.addBulk(adds);
      }),
    );
  }

  /** @internal A handler's follow-ups, grouped so each target queue gets one ordered batch. */
  async enqueueHops(next: Array<{ queue: string; job: JobInput }>): Promise<void> {
    const byQueue = groupBy(next, (hop) => hop.queue);
    await Promise.all([...byQueue].map(([queue, hops]) => this.enqueue(queue, hops.map((h) => h.job))));
  }

  consume(queue: string, handler: JobHandler, options: ConsumeOptions = {}): Consumer {
    const consumer = new BullmqConsumer(this, queue, handler, options);
    this.consumers.add(consumer);
    return {
      close: async (drainMs) => {
        await consumer.close(drainMs);
        this.consumers.delete(consumer);
      },
    };
  }

  async discard(queue: string): Promise<void> {
    // obliterate removes every key of a partition queue: its jobs, the completed ids kept for dedupe, its meta.
    await Promise.all(
      allPartitionQueues(queue, this.partitions).map(async (name) => {
        const q = await this.partitionQueue(name);
        await q.obliterate({ force: true });
        this.queues.delete(name);
        await q.close();
      }),
    );
  }

  async depth(queue: string): Promise<QueueDepth> {
    const counts = await Promise.all(
      allPartitionQueues(queue, this.partitions).map(async (name) =>
        (await this.partitionQueue(name)).getJobCounts('wait', 'delayed', 'prioritized', 'active'),
      ),
    );
    const sum = (types: string[]) => counts.reduce((n, c) => n + types.reduce((m, t) => m + (c[t] ?? 0), 0), 0);
    const dead = await this.redis.scard(this.keys.ofQueue(queue));
    return { waiting: sum(['wait', 'delayed', 'prioritized']), active: sum(['active']), dead };
  }

  /**
   * The id is derived from the BullMQ job's creation time, so a job redelivered after a crash between recording
   * and completing does not leave a second entry; a job re-enqueued by retryDead is a new BullMQ job, a new id.
   * Hex: an id must never begin with `-`, which `dlq retry <id>` would take for an option.
   */
  async recordDead(job: BullJob, outcome: { error: string; attempts: number }, envelope: Envelope): Promise<void> {
    const { queue, id: jobId, partition, payload } = envelope;
    const id = createHash('sha1').update(`${job.queueName}\n${job.id}\n${job.timestamp}`).digest('hex').slice(0, 16);
    const entry: DeadLetter = { id, queue, jobId, partition, attempts: outcome.attempts, error: outcome.error.slice(0, 2000), deadAt: new Date().toISOString(), payload };
    await this.redis
      .multi()
      .hsetnx(this.keys.dead, id, deadLetterText(entry))
      .zadd(this.keys.order, 'NX', String(Date.now()), id)
      .sadd(this.keys.ofQueue(queue), id)
      .exec();
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    const ids = await this.redis.zrange(this.keys.order, 0, String(limit - 1));
    if (!ids.length) return [];
    const raw = await this.redis.hmget(this.keys.dead, ...ids);
    return raw.flatMap((r) => (r ? [JSON.parse(r) as DeadLetter] : []));
  }

  async retryDead(id: string): Promise<boolean> {
    const raw = await this.redis.hget(this.keys.dead, id);
    if (!raw) return false;
    const dead = JSON.parse(raw) as DeadLetter;
    // The dead job completed and is retained for dedupe; it must go, or the re-enqueue would be ignored.
    const q = await this.partitionQueue(partitionQueueFor(dead.queue, dead.partition, this.partitions));
    await q.remove(bullJobId(dead.jobId));
    await this.enqueue(dead.queue, [{ id: dead.jobId, partition: dead.partition, payload: dead.payload }]);
    await this.redis.multi().hdel(this.keys.dead, id).zrem(this.keys.order, id).srem(this.keys.ofQueue(dead.queue), id).exec();
    return true;
  }

  /**
   * Redis answers within `timeoutMs`, or an error says why not in plain words: while Redis is unreachable ioredis
   * holds commands and retries, so the reason is the last connection error it reported.
   */
  async ping(timeoutMs = 5_000): Promise<void> {
    try {
      await withTimeout(this.redis.ping(), timeoutMs, `no answer within ${timeoutMs / 1000} s`);
    } catch (error) {
      throw new Error(plainRedisError(this.lastError ?? error, this.options.url) ?? (error as Error).message);
    }
  }

  /**
   * Whether Redis keeps what it is given across its own restart: with no append-only file, a restart loses every
   * job since the last snapshot (all of them, with none), where the gateway counted them as safe. Undefined when
   * Redis will not say (CONFIG is often renamed on managed Redis).
   */
  async persistence(): Promise<{ durable: boolean; detail: string } | undefined> {
    try {
      const [, aof] = (await this.redis.config('GET', 'appendonly')) as [string, string];
      if (aof === 'yes') return { durable: true, detail: 'appendonly yes' };
      const [, save] = (await this.redis.config('GET', 'save')) as [string, string];
      return { durable: false, detail: save ? `appendonly no, snapshots only (save ${save})` : 'appendonly no, no snapshots' };
    } catch {
      return undefined;
    }
  }

  async stranded(): Promise<Array<{ queue: string; partition: number; jobs: number }>> {
    const found: Array<{ queue: string; partition: number; jobs: number }> = [];
    const metaOf = new RegExp(`^${escapeRegExp(this.prefix)}:(mc-.+-(\\d+)):meta$`);
    for await (const keys of this.redis.scanStream({ match: `${this.prefix}:mc-*:meta`, count: 500 }) as AsyncIterable<string[]>) {
      for (const key of keys) {
        const m = metaOf.exec(key);
        if (!m || Number(m[2]) < this.partitions) continue;
        const base = `${this.prefix}:${m[1]}`;
        const [wait, active, paused, delayed, prioritized] = await Promise.all([
          this.redis.llen(`${base}:wait`),
          this.redis.llen(`${base}:active`),
          this.redis.llen(`${base}:paused`),
          this.redis.zcard(`${base}:delayed`),
          this.redis.zcard(`${base}:prioritized`),
        ]);
        const jobs = wait + active + paused + delayed + prioritized;
        if (jobs > 0) found.push({ queue: m[1]!, partition: Number(m[2]), jobs });
      }
    }
    // By name, then partition number (mc-…-9 before mc-…-10).
    return found.sort((a, b) => a.queue.localeCompare(b.queue, 'en', { numeric: true }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.consumers.clear();
    // A queue still being set up while Redis is gone never settles: those are not waited for.
    await settlesWithin(Promise.all([...this.queues.values()].map((q) => q.then((queue) => queue.close()).catch(() => undefined))), QUIT_MS);
    this.queues.clear();
    await quitRedis(this.redis);
  }
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
