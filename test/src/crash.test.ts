import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { publishEvents } from '../../core/connector.js';
import type { Reply } from '../../core/event.js';
import { outboundHandler } from '../../core/outbound.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { exited, hasExited, spawnCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('a worker killed with SIGKILL mid-job', () => {
  it('loses no event, and every reply is sent exactly once after restart', async () => {
    const tmp = tempDir('mc-crash-');
    cleanup.push(() => tmp.remove());
    const dataDir = join(tmp.dir, 'data');
    // The default pipeline, with limits high enough for one terminal sending 400 messages at once.
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      'assistants:\n  default:\n    pipelines:\n      inbound: [{ plug: rate-limit, perSender: 100000, perConversation: 100000, perWorkspace: 100000 }, access, group-gate, redact, guard]\n',
    );
    const file = join(dataDir, 'monkeyclaw.db');
    const store = new SqliteStore(file);
    await store.migrate();
    const queue = new EmbeddedDriver({ file });
    cleanup.push(async () => {
      await queue.close();
      await store.close();
    });

    const sends = new Map<string, number>();
    const received: Reply[] = [];
    queue.consume('outbound:loopback-acct', outboundHandler(store, 'test', async (reply) => {
      sends.set(reply.idempotencyKey, (sends.get(reply.idempotencyKey) ?? 0) + 1);
      received.push(reply);
      return ['x'];
    }));

    const total = 400;
    const events = Array.from({ length: total }, (_, i) => ({
      v: 1,
      id: `e${i}`,
      platform: 'loopback',
      account: 'acct',
      conversation: { id: `c${i % 10}`, kind: 'dm' },
      sender: { id: 'local', isBot: false },
      text: `message ${i}`,
      platformMessageId: `p${i}`,
      receivedAt: new Date().toISOString(),
    }));
    for (let i = 0; i < total; i += 50) await publishEvents(queue, store, 'test', events.slice(i, i + 50), () => false);

    const startWorker = () => {
      const w = spawnCli(['worker', '--data-dir', dataDir], { cwd: tmp.dir, env: { MONKEYCLAW_LOG_LEVEL: 'warn' } });
      cleanup.push(async () => {
        if (!hasExited(w)) {
          w.kill('SIGKILL');
          await exited(w);
        }
      });
      return w;
    };
    const peek = new Database(file, { readonly: true });
    cleanup.push(() => void peek.close());
    const leasedBy = (pid: number) =>
      peek.prepare(`SELECT COUNT(*) FROM queue_jobs WHERE queue = 'inbound' AND lease_owner LIKE ?`).pluck().get(`%/${pid}/%`) as number;

    // Kill workers while they hold leases, until one kill has provably landed mid-job.
    let killedMidJob = 0;
    for (let attempt = 0; attempt < 8 && killedMidJob === 0; attempt++) {
      const worker = startWorker();
      const deadline = Date.now() + 15_000;
      while (leasedBy(worker.pid!) === 0 && Date.now() < deadline) await sleep(1);
      worker.kill('SIGKILL');
      await exited(worker);
      if (leasedBy(worker.pid!) > 0) killedMidJob++;
    }
    expect(killedMidJob).toBe(1);
    expect(received.length).toBeLessThan(total);

    startWorker();
    const deadline = Date.now() + 30_000;
    while (received.length < total && Date.now() < deadline) await sleep(20);
    await sleep(300);

    expect(received.length).toBe(total);
    expect([...sends.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(received.map((r) => r.eventId)).size).toBe(total);
    // Order per conversation held across the crash.
    for (let c = 0; c < 10; c++) {
      const seq = received.filter((r) => r.address.conversation.id === `c${c}`).map((r) => Number(r.eventId.slice(1)));
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
    }
    expect(await store.verifyAudit()).toMatchObject({ ok: true });
  });
});
