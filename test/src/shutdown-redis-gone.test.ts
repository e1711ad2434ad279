import { describe, expect, it } from 'vitest';
import { exited, gatewayDir, spawnCliKilledAfter } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startRedis } from '../helpers/redis-server.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();

describe('monkeyclaw start on BullMQ with Redis gone', () => {
  it('exits 0 within 10 s of SIGTERM, and its queue errors are structured log lines, not a flood', async () => {
    // Nothing listens on port 1: the queue can never connect, so every Redis call hangs in ioredis' offline queue.
    const tmp = await gatewayDir('mc-noredis-', ['queue: { driver: bullmq, redisUrl: "redis://127.0.0.1:1" }']);
    cleanup.push(() => tmp.remove());
    const gateway = spawnCliKilledAfter(cleanup, ['start'], { cwd: tmp.dir });
    await until(() => gateway.output().includes('monkeyclaw started'), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    const lines = gateway.output().split('\n').filter((l) => l.trim());
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual([]);
    expect(lines.filter((l) => l.includes('queue backend error')).length).toBeLessThan(10);
  }, 60_000);

  it('a worker says once that Redis is away and once that it is back, for its queue and its rate limiter together', async () => {
    const port = await freePort();
    const tmp = await gatewayDir('mc-redis-late-', [`queue: { driver: bullmq, redisUrl: "redis://127.0.0.1:${port}" }`]);
    cleanup.push(() => tmp.remove());
    const worker = spawnCliKilledAfter(cleanup, ['worker'], { cwd: tmp.dir });
    await until(() => worker.output().includes('queue backend error'), 20_000);
    const redis = await startRedis({ port });
    cleanup.push(() => redis.stop());
    await until(() => worker.output().includes('reachable again'), 20_000);
    // Both connections are back by now (the queue's consumers have started); a second line would have come with them.
    await until(() => worker.output().includes('worker started'), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const lines = worker.output().split('\n');
    expect(lines.filter((l) => l.includes('queue backend error'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('queue backend reachable again'))).toHaveLength(1);
  }, 60_000);
});
