import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const MISSING = 'redis-server not found: apt-get install -y redis-server';

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

/** One raw PING, so the helper does not depend on the client library under test. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * A throwaway redis-server on a free loopback port with persistence off: tests never touch a shared 6379 instance,
 * and nothing is left on disk.
 */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const failed = new Promise<Error>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ENOENT' ? new Error(MISSING) : e));
    child.once('exit', (code, signal) => resolve(new Error(`redis-server exited (${code ?? signal}) before answering PING: ${stderr.trim()}`)));
  });
  let failure: Error | undefined;
  void failed.then((e) => (failure = e));
  // A test process that dies without afterAll must not leave a server behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);

  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (failure) {
      process.off('exit', reap);
      throw failure;
    }
    if (Date.now() > deadline) {
      reap();
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${stderr.trim()}`);
    }
    await sleep(20);
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      process.off('exit', reap);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
