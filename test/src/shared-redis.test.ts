import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { BullmqDriver } from '../../queues/bullmq.js';
import { partitionIndex } from '../../queues/bullmq-names.js';
import { runCli, spawnCliKilledAfter } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});
const cleanup = cleanups();

/** A data dir whose worker answers in its own way: B's redacts the word "marker". */
function gatewayDir(name: 'a' | 'b') {
  const tmp = tempDir(`mc-shared-redis-${name}-`);
  cleanup.push(() => tmp.remove());
  const redact = name === 'b' ? ', { plug: redact, custom: [{ name: mark, pattern: marker }] }' : '';
  writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), [
    `queue: { driver: bullmq, redisUrl: env:REDIS_URL }`,
    // 5 a minute each: the 8 messages of both gateways would be throttled if they shared a sender's bucket.
    `assistants: { default: { backend: echo, pipelines: { inbound: [{ plug: rate-limit, perSender: 5 }, access, group-gate${redact}] } } }`,
    '',
  ].join('\n'));
  return tmp.dir;
}

describe('two gateways on one Redis', () => {
  it('keep apart: each data dir has its own queue prefix and rate-limit buckets, and each chat is answered by its own worker', async () => {
    const env = { REDIS_URL: server.url };
    const dirs = { a: gatewayDir('a'), b: gatewayDir('b') };
    for (const dir of Object.values(dirs)) {
      const worker = spawnCliKilledAfter(cleanup, ['worker'], { cwd: dir, env });
      await until(() => worker.output().includes('worker started'), 20_000);
    }
    const chats = await Promise.all(
      [1, 2, 3, 4].flatMap((i) => (['a', 'b'] as const).map(async (g) => ({ g, r: await runCli(['chat', '--once'], { cwd: dirs[g], input: `marker ${i}`, env }) }))),
    );
    for (const { g, r } of chats) {
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toMatch(g === 'a' ? /^marker \d$/ : /^\[redacted:mark\] \d$/);
    }
    const prefixes: string[] = [];
    for (const dir of Object.values(dirs)) {
      const store = new SqliteStore(join(dir, 'data', 'monkeyclaw.db'));
      prefixes.push(await store.queuePrefix());
      expect((await store.auditTail(500)).filter((e) => e.kind === 'inbound.received')).toHaveLength(4);
      await store.close();
    }
    expect(prefixes[0]).toMatch(/^mc-[0-9a-f]{12}$/);
    expect(prefixes[0]).not.toBe(prefixes[1]);
    const doctor = await runCli(['doctor'], { cwd: dirs.a, env });
    expect(doctor.stdout).toContain(`queue: bullmq driver answers (Redis keys under ${prefixes[0]})`);
    // This Redis keeps nothing on disk: a restart of it would lose what the gateway counted as queued.
    // A warning, not a failure: the gateway works on it while it runs.
    expect(doctor.stdout).toContain('WARN  queue persistence: a Redis restart would lose queued messages (appendonly no, no snapshots): run it with appendonly yes');
    expect(doctor.code).toBe(0);
    const admin = new Redis(server.url);
    await admin.config('SET', 'appendonly', 'yes');
    admin.disconnect();
    expect((await runCli(['doctor'], { cwd: dirs.a, env })).stdout).toContain('ok    queue persistence: Redis keeps queued messages across a restart (appendonly yes)');
  }, 90_000);

  it('doctor fails jobs left in partition queues beyond queue.partitions (it was lowered), naming them and the fix', async () => {
    const env = { REDIS_URL: server.url };
    const tmp = tempDir('mc-stranded-');
    cleanup.push(() => tmp.remove());
    const config = (partitions: number) =>
      writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `queue: { driver: bullmq, redisUrl: env:REDIS_URL, partitions: ${partitions} }\n`);
    config(16);
    expect((await runCli(['migrate'], { cwd: tmp.dir, env })).code).toBe(0);
    const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
    const prefix = await store.queuePrefix();
    await store.close();
    // Replies queued by a run with 16 partitions, for chats that hash beyond the first 4.
    const keys = Array.from({ length: 40 }, (_, i) => `telegram:chat-${i}`).filter((k) => partitionIndex(k, 16) >= 4);
    const driver = new BullmqDriver({ url: server.url, prefix, partitions: 16 });
    await driver.enqueue('outbound:telegram', keys.map((k, i) => ({ id: `r${i}`, partition: k, payload: null })));
    await driver.close();
    const line = (out: string) => out.split('\n').find((l) => l.includes('queue partitions'));

    config(4);
    const lowered = await runCli(['doctor'], { cwd: tmp.dir, env });
    expect(lowered.code).toBe(1);
    const highest = Math.max(...keys.map((k) => partitionIndex(k, 16)));
    // Listed in partition order: mc-…-9 before mc-…-10.
    const listed = [...line(lowered.stdout)!.matchAll(/mc-outbound-telegram-(\d+) \(/g)].map((m) => Number(m[1]));
    expect(listed).toEqual([...new Set(keys.map((k) => partitionIndex(k, 16)))].sort((a, b) => a - b));
    expect(line(lowered.stdout)).toMatch(new RegExp(`^FAIL  queue partitions: jobs wait in partition queues beyond queue.partitions, which nothing reads: mc-outbound-telegram-\\d+ \\(\\d+\\).*; set queue.partitions back to at least ${highest + 1} until they are done$`));
    config(16);
    expect(line((await runCli(['doctor'], { cwd: tmp.dir, env })).stdout)).toBe('ok    queue partitions: no job waits outside the partition queues read now');
  }, 60_000);
});
