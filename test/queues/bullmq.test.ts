import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableJobError, type Job } from '../../core/queue.js';
import { BullmqDriver } from '../../queues/bullmq.js';
import { LockOwners } from '../../queues/lock-owners.js';
import {
  bullJobId,
  bullQueueBase,
  fnv1a,
  jobIdFromBull,
  partitionIndex,
  partitionQueueFor,
  partitionQueueName,
} from '../../queues/bullmq-names.js';
import { queueContract } from '../contracts/queue.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = join(root, 'test/fixtures/bullmq-consumer.mjs');

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const freshPrefix = () => `mc-test-${randomUUID().slice(0, 8)}`;

queueContract('bullmq', async () => {
  const prefix = freshPrefix();
  return {
    open: async () => new BullmqDriver({ url: redis.url, prefix, leaseMs: 2_000 }),
    cleanup: async () => {},
  };
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Child processes import the compiled driver; compile just its module graph when dist/ is missing or stale. */
function ensureCompiled(): void {
  const out = join(root, 'dist/queues/bullmq.js');
  const sources = ['queues/bullmq.ts', 'queues/bullmq-consumer.ts', 'queues/bullmq-names.ts', 'queues/lock-owners.ts', 'core/process-identity.ts', 'core/queue.ts', 'core/queue-retry.ts'];
  if (existsSync(out) && sources.every((s) => statSync(join(root, s)).mtimeMs <= statSync(out).mtimeMs)) return;
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const flags = ['--outDir', 'dist', '--rootDir', '.', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2023'];
  execFileSync(process.execPath, [tsc, ...flags, '--skipLibCheck', '--types', 'node', '--noCheck', 'queues/bullmq.ts'], { cwd: root });
}

describe('bullmq names', () => {
  it('keeps ":" out of queue names and job ids, injectively', () => {
    expect(bullQueueBase('outbound:loopback-abc')).toBe('mc-outbound-loopback-abc');
    expect(partitionQueueName('t:1a2b3c4d', 7)).toBe('mc-t-1a2b3c4d-7');
    for (const id of ['42', 'a:b:c', 'héllo 👋', 'x', '']) {
      const bull = bullJobId(id);
      expect(bull).not.toContain(':');
      expect(`${parseInt(bull, 10)}`).not.toBe(bull);
      expect(jobIdFromBull(bull)).toBe(id);
    }
    expect(bullJobId('a:b')).not.toBe(bullJobId('a-b'));
  });

  it('hashes a partition key to the same slot in every process, spreading keys over all slots', () => {
    // FNV-1a 32-bit reference vectors: a change of hash would silently reorder live partitions.
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    const used = new Set(Array.from({ length: 1000 }, (_, i) => partitionIndex(`conv-${i}`, 16)));
    expect(used.size).toBe(16);
    expect(partitionQueueFor('inbound', 'telegram:123', 16)).toBe(partitionQueueFor('inbound', 'telegram:123', 16));
  });
});

describe('bullmq driver', () => {
  const drivers: BullmqDriver[] = [];
  const children: ChildProcess[] = [];
  const open = (prefix: string, leaseMs = 2_000) => {
    const driver = new BullmqDriver({ url: redis.url, prefix, leaseMs });
    drivers.push(driver);
    return driver;
  };
  const spawnConsumer = (prefix: string, queue: string, mode: 'hang' | 'once', leaseMs = 1_000) => {
    const child = spawn(process.execPath, [fixture, redis.url, prefix, queue, mode, String(leaseMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const started: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const job = JSON.parse(line) as { id: string; attempt: number };
      started.push(`${job.id}@${job.attempt}`);
    });
    return { child, started };
  };
  const twoSlots = () => {
    const p = 'p';
    const q = ['q', 'r', 's', 't', 'u'].find((k) => partitionIndex(k, 16) !== partitionIndex(p, 16))!;
    return { p, q };
  };

  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const driver of drivers.splice(0)) await driver.close();
  });

  it('stores a partition in exactly one BullMQ queue, named without ":", in enqueue order', async () => {
    const prefix = freshPrefix();
    const driver = open(prefix);
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const ids = ['42', 'a:b', 'héllo', 'x:1:2', '7'];
    await driver.enqueue(queue, ids.map((id) => ({ id, partition: 'telegram:chat:9', payload: null })));

    const raw = new Redis(redis.url);
    try {
      const keys = await raw.keys(`${prefix}:*`);
      const bullQueues = new Set(keys.map((k) => k.slice(prefix.length + 1).split(':')[0]));
      expect([...bullQueues]).toEqual([partitionQueueFor(queue, 'telegram:chat:9', 16)]);
      // BullMQ pushes new jobs on the left and takes from the right.
      const wait = await raw.lrange(`${prefix}:${[...bullQueues][0]}:wait`, 0, -1);
      expect(wait.reverse()).toEqual(ids.map(bullJobId));
    } finally {
      raw.disconnect();
    }
    expect(await driver.depth(queue)).toEqual({ waiting: 5, active: 0, dead: 0 });
  });

  it('re-asserts one active job per partition queue with every add: a Redis restarted empty has forgotten it', async () => {
    const prefix = freshPrefix();
    const driver = open(prefix);
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const meta = `${prefix}:${partitionQueueFor(queue, 'c', 16)}:meta`;
    const raw = new Redis(redis.url);
    try {
      await driver.enqueue(queue, [{ id: 'a', partition: 'c', payload: null }]);
      expect(await raw.hget(meta, 'concurrency')).toBe('1');
      // What a restart without persistence leaves: no limit, while this process still has the queue open.
      await raw.del(meta);
      await driver.enqueue(queue, [{ id: 'b', partition: 'c', payload: null }]);
      expect(await raw.hget(meta, 'concurrency')).toBe('1');
    } finally {
      raw.disconnect();
    }
  });

  it('hands unfinished work back at the head of its partition on close, without spending an attempt', async () => {
    const prefix = freshPrefix();
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const { p, q } = twoSlots();
    const first = open(prefix);
    const started: string[] = [];
    // Concurrency 1: while a1 hangs, b1 is fetched but waits for the slot.
    const c = first.consume(queue, async (job) => {
      started.push(job.id);
      await new Promise(() => {});
    }, { concurrency: 1 });
    await first.enqueue(queue, [{ id: 'a1', partition: p, payload: 1 }, { id: 'a2', partition: p, payload: 2 }]);
    await until(() => started.includes('a1'));
    await first.enqueue(queue, [{ id: 'b1', partition: q, payload: 3 }]);
    await until(async () => (await first.depth(queue)).active === 2);

    const t0 = Date.now();
    await c.close(300);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(started).toEqual(['a1']);

    const seen: string[] = [];
    open(prefix).consume(queue, async (job: Job) => {
      seen.push(`${job.id}@${job.attempt}`);
    });
    // Well inside the 2 s lease: handed back, not recovered by the stalled check.
    await until(() => seen.length === 3, 1_500);
    expect(seen.filter((s) => s.startsWith('a'))).toEqual(['a1@1', 'a2@1']);
    expect(seen).toContain('b1@1');
  });

  it('redelivers the jobs of a consumer process killed mid-job, counting the lost delivery and its retries', async () => {
    ensureCompiled();
    const prefix = freshPrefix();
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const { p, q } = twoSlots();
    const driver = open(prefix, 1_000);
    await driver.enqueue(queue, [
      { id: 'plain', partition: p, payload: null },
      { id: 'after', partition: p, payload: null },
      { id: 'retried', partition: q, payload: null },
    ]);
    const { child, started } = spawnConsumer(prefix, queue, 'hang');
    await until(() => started.length === 2, 20_000);
    expect(started.sort()).toEqual(['plain@1', 'retried@2']);
    // Already running when the other dies (as on another host), this consumer learns of it from the lock alone.
    const seen: string[] = [];
    driver.consume(queue, async (job: Job) => {
      seen.push(`${job.id}@${job.attempt}`);
    });
    await sleep(300);
    child.kill('SIGKILL');
    const t0 = Date.now();
    await until(() => seen.length === 3, 15_000);
    expect(seen.filter((s) => !s.startsWith('retried'))).toEqual(['plain@2', 'after@1']);
    expect(seen).toContain('retried@3');
    // Not before the dead consumer's lease ran out: the lock, not a guess, decides.
    expect(Date.now() - t0).toBeGreaterThan(300);
  });

  it("takes over at once, when it starts, the jobs of a killed consumer process on this host, never a live one's", async () => {
    ensureCompiled();
    const prefix = freshPrefix();
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const { p, q } = twoSlots();
    const driver = open(prefix, 60_000);
    await driver.enqueue(queue, [
      { id: 'plain', partition: p, payload: null },
      { id: 'retried', partition: q, payload: null },
    ]);
    const { child, started } = spawnConsumer(prefix, queue, 'hang', 60_000);
    await until(() => started.length === 2, 20_000);
    const seen: string[] = [];
    const handler = async (job: Job) => void seen.push(`${job.id}@${job.attempt}`);
    // Alive, its locks hold: a consumer starting now leaves its jobs alone.
    const early = driver.consume(queue, handler);
    await sleep(1_500);
    expect(seen).toEqual([]);
    await early.close();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const t0 = Date.now();
    driver.consume(queue, handler);
    await until(() => seen.length === 2, 15_000);
    expect(seen.sort()).toEqual(['plain@2', 'retried@3']);
    // Long before the dead process's 60 s locks would have expired.
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("takes over a killed process's jobs in every queue, whichever queue's consumer starts first", async () => {
    ensureCompiled();
    const prefix = freshPrefix();
    const [qa, qb] = [`a:${randomUUID().slice(0, 8)}`, `b:${randomUUID().slice(0, 8)}`];
    const driver = open(prefix, 60_000);
    await driver.enqueue(qa, [{ id: 'a1', partition: 'p', payload: null }]);
    await driver.enqueue(qb, [{ id: 'b1', partition: 'p', payload: null }]);
    const { child, started } = spawnConsumer(prefix, `${qa},${qb}`, 'hang', 60_000);
    await until(() => started.length === 2, 20_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const seen: string[] = [];
    const t0 = Date.now();
    driver.consume(qa, async (job: Job) => void seen.push(job.id));
    await until(() => seen.includes('a1'), 10_000);
    // The first consumer to start must not have dropped what the other queue's consumer needs to know.
    driver.consume(qb, async (job: Job) => void seen.push(job.id));
    await until(() => seen.includes('b1'), 10_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('dead-letters a job that is no envelope of ours, or whose payload is nested too deep to store, and runs the partition on', async () => {
    const prefix = freshPrefix();
    const driver = open(prefix);
    const queue = `t:${randomUUID().slice(0, 8)}`;
    const name = partitionQueueFor(queue, 'p', 16);
    // Written by something else than this driver, ahead of a good job in the same partition.
    const raw = new Queue(name, { connection: { url: redis.url }, prefix });
    await raw.add('x', { not: 'an envelope' }, { jobId: 'stray' });
    await raw.add('x', { queue, id: 'deep', partition: 'p', payload: null }, { jobId: bullJobId('deep') });
    await raw.close();
    // A payload JSON.parse takes and JSON.stringify cannot give back (its recursion runs out), written as stored.
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const direct = new Redis(redis.url);
    await direct.hset(`${prefix}:${name}:${bullJobId('deep')}`, 'data', JSON.stringify({ queue, id: 'deep', partition: 'p' }).replace(/}$/, `,"payload":${deep}}`));
    direct.disconnect();
    await driver.enqueue(queue, [{ id: 'good', partition: 'p', payload: { ok: true } }]);
    const handled: string[] = [];
    const dead: string[] = [];
    const c = driver.consume(
      queue,
      async (job) => {
        if (typeof job.payload !== 'object' || job.payload === null || !('ok' in job.payload)) throw new UnrecoverableJobError('not a job payload');
        handled.push(job.id);
      },
      { onDead: (job) => void dead.push(job.id) },
    );
    await until(() => handled.length === 1 && dead.length === 2);
    await c.close(1_000);
    expect(handled).toEqual(['good']);
    expect(dead).toEqual(['stray', 'deep']);
    const letters = await driver.deadLetters();
    expect(letters.find((l) => l.jobId === 'stray')).toMatchObject({ queue, error: expect.stringMatching(/^not a job of this gateway: queue: /) });
    expect(letters.find((l) => l.jobId === 'deep')).toMatchObject({ payload: { unstorable: expect.stringMatching(/^the payload could not be stored/) } });
  });

  it('drops worker entries nobody refreshed for a day, and entries it cannot read', async () => {
    const client = new Redis(redis.url);
    const key = `${freshPrefix()}:mc:workers`;
    let now = Date.now();
    const owners = new LockOwners(client, key, () => now);
    await owners.register([{ id: 'w1', queue: 'q' }]);
    await client.hset(key, 'junk', 'not json');
    await owners.breakDead([]);
    expect(await client.hkeys(key)).toEqual(['w1']);
    now += 25 * 3_600_000;
    await owners.breakDead([]);
    expect(await client.hkeys(key)).toEqual([]);
    await client.quit();
  });

  it('says once that Redis answers again after an outage, and never at its first connection', async () => {
    // A loopback relay in front of Redis: closed, it refuses connections as a Redis that went away does.
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: redis.port });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    const listen = (port = 0) => new Promise<number>((resolve) => relay.listen(port, '127.0.0.1', () => resolve((relay.address() as AddressInfo).port)));
    const port = await listen();
    const errors: string[] = [];
    let recovered = 0;
    const driver = new BullmqDriver({ url: `redis://127.0.0.1:${port}`, prefix: freshPrefix(), onError: (e) => errors.push(e.message), onRecovered: () => recovered++ });
    drivers.push(driver);
    await driver.ping();
    expect(recovered).toBe(0);
    await new Promise<void>((resolve) => {
      relay.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    await until(() => errors.some((m) => m.includes('ECONNREFUSED')), 10_000);
    expect(recovered).toBe(0);
    await listen(port);
    await until(() => recovered > 0, 10_000);
    await driver.ping();
    expect(recovered).toBe(1);
    relay.close();
    for (const s of sockets) s.destroy();
  });

  it('lets a consumer process exit by itself once the driver is closed', async () => {
    ensureCompiled();
    const prefix = freshPrefix();
    const queue = `t:${randomUUID().slice(0, 8)}`;
    await open(prefix).enqueue(queue, [{ id: 'only', partition: 'p', payload: null }]);
    const { child, started } = spawnConsumer(prefix, queue, 'once');
    const timer = new AbortController();
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
      sleep(15_000, 'still running' as const, { signal: timer.signal }),
    ]);
    timer.abort();
    expect(code).toBe(0);
    expect(started).toEqual(['only@1']);
  });
});
