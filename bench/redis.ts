import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A throwaway redis-server on a free loopback port with persistence off, in a directory of its own, for the bench
 * and the tests: it never touches a shared 6379 instance and leaves nothing on disk. Commands go over a raw socket so this file needs no
 * client library (and tests of the client do not depend on the client under test).
 */
export interface BenchRedis {
  url: string;
  port: number;
  /** Empties the server between phases, so one phase's retained jobs and buckets never weigh on the next. */
  flush(): Promise<void>;
  /** CPU seconds the server has used (INFO cpu, user + sys): tells whether Redis was the bottleneck of a phase. */
  cpuSeconds(): Promise<number | undefined>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and resolves with the reply: its first line, or a whole bulk string ('' on any failure). */
function command(port: number, line: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (r: string) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done(''));
    socket.on('error', () => done(''));
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      if (!reply.startsWith('$')) return done(reply.slice(0, end));
      const length = Number(reply.slice(1, end));
      if (Buffer.byteLength(reply) >= end + 2 + length) done(reply.slice(end + 2, end + 2 + length));
    });
  });
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));

/** `port`: one chosen before (a test whose gateway waits for Redis to come up there); else a free one. */
export async function startRedis({ port = 0 } = {}): Promise<BenchRedis> {
  port ||= await freePort();
  // Its own working directory, removed at stop: a test that turns persistence on writes there, not into the repo.
  const dir = mkdtempSync(join(tmpdir(), 'mc-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let failure: Error | undefined;
  child.once('error', (e: NodeJS.ErrnoException) => {
    failure = e.code === 'ENOENT' ? new Error('redis-server not found on PATH (apt-get install -y redis-server)') : e;
  });
  child.once('exit', (code, signal) => (failure ??= new Error(`redis-server exited (${code ?? signal}): ${stderr.trim()}`)));
  // If the bench dies without reaching stop(), the server must not outlive it.
  const reap = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', reap);

  const deadline = Date.now() + 10_000;
  while ((await command(port, 'PING', 500)) !== '+PONG') {
    if (failure || Date.now() > deadline) {
      reap();
      process.off('exit', reap);
      throw failure ?? new Error(`redis-server on port ${port} did not answer PING within 10 s`);
    }
    await sleep(20);
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async flush() {
      const r = await command(port, 'FLUSHALL');
      if (r !== '+OK') throw new Error(`FLUSHALL answered "${r}"`);
    },
    async cpuSeconds() {
      const info = await command(port, 'INFO cpu');
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return info ? field('used_cpu_sys') + field('used_cpu_user') : undefined;
    },
    async stop() {
      process.off('exit', reap);
      if (child.exitCode !== null || child.signalCode !== null) return rmSync(dir, { recursive: true, force: true });
      const gone = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
