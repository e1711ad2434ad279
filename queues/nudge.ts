import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Unix socket paths are limited to about 107 bytes; past that we fall back to polling alone. */
const MAX_SOCKET_PATH = 100;
const RESCAN_MS = 1_000;

/**
 * Wakes consumers of the embedded queue across processes: each consuming process listens on a Unix socket in
 * `<data-dir>/run/`, and a producer writes the queue's name to every socket there after its commit. A lost nudge
 * costs at most one poll interval, so this needs no delivery guarantee of its own.
 */
export class Nudger extends EventEmitter<{ wake: [queue: string] }> {
  private server?: Server;
  private ownPath?: string;
  private peers = new Map<string, Socket>();
  private accepted = new Set<Socket>();
  private scannedAt = 0;
  private closed = false;
  /** Queue names to tell the peers, written once per turn of the loop however many commits named them. */
  private outbox = new Set<string>();

  constructor(private readonly dir: string) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Starts listening; called once a process consumes something. A run dir it cannot write (a data dir made
   * read-only) leaves this process without a socket: its consumers find work by polling, every 50 ms.
   */
  async listen(): Promise<void> {
    if (this.server || this.closed) return;
    try {
      await this.open();
    } catch {
      this.server = undefined;
      this.ownPath = undefined;
    }
  }

  private async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `q-${process.pid}-${randomBytes(3).toString('hex')}.sock`);
    if (path.length > MAX_SOCKET_PATH) return;
    const server = createServer((socket) => {
      this.accepted.add(socket);
      socket.on('close', () => this.accepted.delete(socket));
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const queue of new Set(lines)) if (queue) this.emit('wake', queue);
      });
      socket.on('error', () => socket.destroy());
    });
    this.server = server;
    this.ownPath = path;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    server.unref();
  }

  /** Tells every consuming process (this one at once, without a socket) that `queues` have new work. */
  notify(queues: Iterable<string>): void {
    if (this.closed) return;
    const first = this.outbox.size === 0;
    for (const q of new Set(queues)) {
      this.emit('wake', q);
      this.outbox.add(q);
    }
    // Jobs completed by one group commit resume together: their nudges leave as one write per peer.
    if (first && this.outbox.size > 0) queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const message = [...this.outbox].map((q) => `${q}\n`).join('');
    this.outbox.clear();
    if (this.closed) return;
    this.rescan();
    for (const [path, socket] of this.peers) {
      if (path === this.ownPath) continue;
      if (!socket.destroyed) socket.write(message);
    }
  }

  private rescan(): void {
    const now = Date.now();
    if (now - this.scannedAt < RESCAN_MS) return;
    this.scannedAt = now;
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.sock'));
    } catch {
      return;
    }
    for (const f of files) {
      const path = join(this.dir, f);
      if (this.peers.has(path) || path === this.ownPath) continue;
      const socket = createConnection(path);
      socket.unref();
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // A socket file whose process is gone: remove it so nobody tries it again.
        if (error.code === 'ECONNREFUSED') rmSync(path, { force: true });
      });
      socket.on('close', () => this.peers.delete(path));
      this.peers.set(path, socket);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // Peers keep their connections open; close() would wait on them forever.
    for (const socket of [...this.peers.values(), ...this.accepted]) socket.destroy();
    this.peers.clear();
    this.accepted.clear();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.ownPath) rmSync(this.ownPath, { force: true });
    this.removeAllListeners();
  }
}
