import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { BOOTSTRAP } from '../../src/credentials.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
// The built supervisor: it forks the built CLI beside it (dist/src/cli.js), as `npx monkeyclaw start` does.
const { Supervisor, DEFAULT_RESTART } = (await import(join('../../dist/src', 'supervisor.js'))) as typeof import('../../src/supervisor.js');

describe('a child that stops responding', () => {
  it('is killed once silent past hungAfterMs, audited as hung, and restarted; a responsive one is left alone, even across a stall of the supervisor itself', async () => {
    const tmp = tempDir('mc-sup-hung-');
    cleanup.push(() => tmp.remove());
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => store.close());
    await store.migrate();
    const supervisor = new Supervisor(store, pino({ level: 'silent' }), ['--data-dir', tmp.dir], { ...DEFAULT_RESTART, baseDelayMs: 10, hungAfterMs: 12_000 });
    cleanup.push(() => supervisor.stop(2_000));
    supervisor.start({ name: 'worker', args: ['worker'], bootstrap: async () => ({ type: BOOTSTRAP, queue: { driver: 'embedded' }, values: {} }) });
    const audits = async () => (await store.auditTail(500)).filter((e) => e.subject === 'worker').map((e) => ({ kind: e.kind, data: JSON.parse(e.data) as Record<string, unknown> }));
    const first = await until(async () => (await audits()).find((e) => e.kind === 'process.started'), 30_000);
    const pid = first.data.pid as number;
    // Running and answering, it is left alone past hungAfterMs, even when the supervisor itself stood still that long
    // (its loop held, as a suspended machine's is): the child's signs of life wait unread, and are no silence.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 14_000);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect((await audits()).map((e) => e.kind)).toEqual(['process.started']);
    // As good as an event loop stuck for ever: the process exists, and says nothing.
    process.kill(pid, 'SIGSTOP');
    const after = await until(async () => {
      const a = await audits();
      return a.filter((e) => e.kind === 'process.started').length >= 2 ? a : undefined;
    }, 40_000);
    expect(after.map((e) => e.kind)).toEqual(['process.started', 'process.hung', 'process.crashed', 'process.restarted', 'process.started']);
    expect(after[1]!.data).toMatchObject({ pid });
    expect(after[2]!.data).toMatchObject({ signal: 'SIGKILL', error: expect.stringMatching(/^stopped responding for 1\d s \(its event loop was blocked\): killed$/) });
    expect(after[4]!.data.pid).not.toBe(pid);
  }, 90_000);
});
