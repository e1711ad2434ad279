import { describe, expect, it } from 'vitest';
import { exited, gatewayDir, hasExited, spawnCli } from '../helpers/cli.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();

describe('monkeyclaw start on BullMQ with Redis gone', () => {
  it('exits 0 within 10 s of SIGTERM, and its queue errors are structured log lines, not a flood', async () => {
    // Nothing listens on port 1: the queue can never connect, so every Redis call hangs in ioredis' offline queue.
    const tmp = await gatewayDir('mc-noredis-', ['queue: { driver: bullmq, redisUrl: "redis://127.0.0.1:1" }']);
    cleanup.push(() => tmp.remove());
    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });
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
});
