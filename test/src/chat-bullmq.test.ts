import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('chat on BullMQ', () => {
  it('answers, and leaves none of its own reply queue behind in Redis when it exits', async () => {
    const tmp = tempDir('mc-chat-bullmq-');
    try {
      const chat = () => runCli(['chat', '--once'], { cwd: tmp.dir, input: 'hello over redis', env: { REDIS_URL: server.url } });
      const first = await chat();
      expect(first.code).toBe(0);
      expect(first.stdout.trim()).toBe('hello over redis');
      const terminalKeys = async () => (await redis.keys('*')).filter((k) => k.includes('mc-outbound-loopback'));
      expect(await terminalKeys()).toEqual([]);
      expect((await chat()).code).toBe(0);
      expect(await terminalKeys()).toEqual([]);
    } finally {
      tmp.remove();
    }
  }, 60_000);
});
