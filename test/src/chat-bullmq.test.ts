import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SqliteStore } from '../../core/sqlite/store.js';
import { CLI, exited, gatewayDir, runCli, spawnCli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';
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

  it('refuses, saying why, when the gateway on the data dir reads the other queue', async () => {
    const tmp = tempDir('mc-chat-mismatch-');
    try {
      // A gateway's worker on the embedded queue, as `start` without REDIS_URL leaves it: alive, and saying which queue.
      const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
      await store.migrate();
      await store.setConnectorState('worker', 'queue', 'the embedded queue');
      const beat = setInterval(() => void store.heartbeat('worker'), 500);
      await store.heartbeat('worker');
      const inboundKeys = async () => (await redis.keys('*')).filter((k) => k.includes('mc-inbound')).sort();
      const before = await inboundKeys();
      try {
        const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'anyone?', env: { REDIS_URL: server.url } });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/the gateway running on this data dir uses the embedded queue, and this chat BullMQ on Redis at 127\.0\.0\.1:\d+ database 0/);
      } finally {
        clearInterval(beat);
        await store.close();
      }
      // Nothing was left in Redis for a worker that will never come.
      expect(await inboundKeys()).toEqual(before);
    } finally {
      tmp.remove();
    }
  }, 60_000);

  it('refuses as well when the gateway reads another Redis database: the same driver is not the same queues', async () => {
    const tmp = tempDir('mc-chat-other-db-');
    try {
      // This chat's own worker records where it reads, as a gateway's does.
      expect((await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'first', env: { REDIS_URL: server.url } })).code).toBe(0);
      const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
      const beat = setInterval(() => void store.heartbeat('worker'), 500);
      await store.heartbeat('worker');
      const other = new Redis(`${server.url}/5`);
      try {
        const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'anyone?', env: { REDIS_URL: `${server.url}/5` } });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/uses BullMQ on Redis at 127\.0\.0\.1:\d+ database 0, keys under \S+, and this chat BullMQ on Redis at 127\.0\.0\.1:\d+ database 5, keys under \S+: give chat/);
        expect(await other.keys('*')).toEqual([]);
        // Another name for the same Redis is the same queues: answered through the running worker's.
        const same = await runCli(['chat', '--once', '--timeout', '1'], { cwd: tmp.dir, input: 'same one?', env: { REDIS_URL: server.url.replace('127.0.0.1', 'localhost') } });
        expect(same.stderr).not.toContain('give chat the same queue settings');
      } finally {
        clearInterval(beat);
        other.disconnect();
        await store.close();
      }
    } finally {
      tmp.remove();
    }
  }, 60_000);

  it('a worker started by hand on other queues than the running gateway is refused, and chats still go by the gateway', async () => {
    const tmp = await gatewayDir('mc-worker-mismatch-', []);
    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    try {
      await until(() => fetch(`http://127.0.0.1:${tmp.port}/health`).then((r) => r.ok, () => false));
      // The gateway's own worker answers: it runs on the embedded queue, as start without REDIS_URL does.
      expect(await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'first' })).toMatchObject({ code: 0, stdout: 'first\n' });
      const stray = await runCli(['worker'], { cwd: tmp.dir, env: { REDIS_URL: server.url } });
      expect(stray.code).toBe(2);
      expect(stray.stderr).toMatch(/the gateway running on this data dir uses the embedded queue, and this worker BullMQ on Redis at 127\.0\.0\.1:\d+ database 0, keys under \S+: give the worker the same queue settings/);
      // A worker of an older build, or one that got past, recorded other queues: the gateway's record is what counts.
      const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
      await store.setConnectorState('worker', 'queue', 'BullMQ on Redis at 127.0.0.1:1 database 0');
      await store.close();
      expect(await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'second' })).toMatchObject({ code: 0, stdout: 'second\n' });
    } finally {
      gateway.kill('SIGTERM');
      await exited(gateway);
      tmp.remove();
    }
  }, 60_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('an interactive chat ended by %s also leaves none of its reply queue behind', async (signal) => {
    const tmp = tempDir('mc-chat-signal-');
    try {
      const chat = spawn(process.execPath, [CLI, 'chat'], { cwd: tmp.dir, env: { ...process.env, REDIS_URL: server.url }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      chat.stdout.on('data', (d) => (out += d));
      chat.stdin.write('hello, then ' + signal + '\n');
      await until(() => out.includes('assistant> hello, then'));
      const code = new Promise((resolve) => chat.once('exit', resolve));
      chat.kill(signal);
      expect(await code).toBe(signal === 'SIGINT' ? 130 : 143);
      expect((await redis.keys('*')).filter((k) => k.includes('mc-outbound-loopback'))).toEqual([]);
    } finally {
      tmp.remove();
    }
  }, 60_000);

  it('says at once, in plain words, that Redis cannot be reached, instead of waiting for it', async () => {
    const tmp = tempDir('mc-chat-noredis-');
    try {
      const port = await freePort();
      const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
      for (const args of [['chat', '--once'], ['dlq', 'list']]) {
        const r = await runCli(args, { cwd: tmp.dir, input: 'anyone?', env });
        expect({ args, code: r.code }).toEqual({ args, code: 1 });
        expect(r.stderr).toContain(`cannot reach the queue: Redis: connection refused: nothing is listening at 127.0.0.1:${port}`);
        // Said once, in words: no log line of the same error before it, nor the driver's own.
        expect(r.stderr).not.toContain('queue backend error');
        expect(r.stderr).not.toContain('[bullmq]');
      }
      const doctor = await runCli(['doctor'], { cwd: tmp.dir, env });
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/FAIL +queue: .*connection refused/);
      expect(doctor.stderr).not.toMatch(/queue backend error|\[bullmq\]/);
      const notRedis = await runCli(['dlq', 'list'], { cwd: tmp.dir, env: { REDIS_URL: `http://127.0.0.1:${port}` } });
      expect(notRedis.code).toBe(2);
      expect(notRedis.stderr).toContain('queue.redisUrl: env:REDIS_URL does not hold a redis:// or rediss:// URL');
    } finally {
      tmp.remove();
    }
  }, 60_000);
});
