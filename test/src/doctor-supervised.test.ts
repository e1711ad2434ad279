import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { supervisedVerdicts } from '../../src/doctor.js';
import { acquireLock, supervisorLock } from '../../src/lock.js';
import { CHILD_RECORDS } from '../../src/supervisor.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
// The built supervisor: it forks the built CLI beside it (dist/src/cli.js), as `npx monkeyclaw start` does.
const { Supervisor } = (await import(join('../../dist/src', 'supervisor.js'))) as typeof import('../../src/supervisor.js');

describe('doctor beside a running gateway', () => {
  it('fails a process that keeps crashing, with the reason it gave, and ignores records of an earlier gateway', async () => {
    const tmp = tempDir('mc-doctor-sup-');
    cleanup.push(() => tmp.remove());
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => store.close());
    await store.migrate();
    const supervisor = new Supervisor(store, pino({ level: 'silent' }), ['--data-dir', tmp.dir], { maxRestarts: 2, withinMs: 60_000, baseDelayMs: 10, maxDelayMs: 10, coolDownMs: 60_000, hungAfterMs: 60_000 });
    cleanup.push(() => supervisor.stop(2_000));
    // A connector that exits at once, every time: the way one refused by its platform behaves.
    supervisor.start({ name: 'connector:nowhere', args: ['connector', 'nowhere'], bootstrap: async () => ({}) });
    await until(() => supervisor.states()['connector:nowhere'] === 'failed', 30_000);

    // No gateway holds the data dir's lock: doctor says nothing of processes.
    expect(await supervisedVerdicts(tmp.dir, store)).toEqual([]);
    // This test process stands in for the gateway holding the data dir.
    cleanup.push(acquireLock(supervisorLock(tmp.dir)));
    const verdicts = await until(async () => {
      const v = await supervisedVerdicts(tmp.dir, store);
      return v.length > 0 ? v : undefined;
    });
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]).toMatchObject({ ok: false, what: 'process connector:nowhere' });
    expect(verdicts[0]!.detail).toMatch(/^keeps crashing \(3 crashes without staying up\); last exit: connector "nowhere" is not available in this build; the gateway tries it again every 60 s until it stays up$/);

    // Running this moment, but restarted again and again without staying up: crash-looping, with why it last ended.
    const record = (restarts: number) =>
      store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:loop`, { state: 'running', supervisor: process.pid, restarts, reason: 'IMAP login refused' });
    const loop = async () => (await supervisedVerdicts(tmp.dir, store)).find((v) => v.what === 'process connector:loop');
    await record(3);
    expect(await loop()).toEqual({ ok: false, what: 'process connector:loop', detail: 'crash-looping: crashed 3 times without staying up; last exit: IMAP login refused' });
    // Up this moment: the line says so, and that it fails until the process has stayed up for a minute.
    await store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:loop`, { state: 'running', supervisor: process.pid, restarts: 2, pid: 4243, reason: 'killed by SIGKILL' });
    expect(await loop()).toEqual({
      ok: false,
      what: 'process connector:loop',
      detail: 'crash-looping: crashed 2 times without staying up (running again as pid 4243, counted as failing until it stays up for a minute); last exit: killed by SIGKILL',
    });
    await record(1);
    expect(await loop()).toMatchObject({ ok: true, detail: expect.stringMatching(/crashed once recently; last exit: IMAP login refused$/) });
    // Each process names its own pid, not only the gateway's.
    await store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:loop`, { state: 'running', supervisor: process.pid, restarts: 0, pid: 4242 });
    expect(await loop()).toEqual({ ok: true, what: 'process connector:loop', detail: `running as pid 4242 under the gateway (pid ${process.pid})` });
    await store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:loop`, { state: 'stopped', supervisor: process.pid, restarts: 0 });

    // A record written by another (earlier) supervisor does not describe this gateway, even under the same pid.
    await store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:old`, { state: 'failed', supervisor: 1, restarts: 5 });
    expect((await supervisedVerdicts(tmp.dir, store)).map((v) => v.what)).toEqual(['process connector:nowhere']);
    await store.setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}connector:old`, { state: 'failed', supervisor: process.pid, restarts: 5 });
    const next = new Supervisor(store, pino({ level: 'silent' }), ['--data-dir', tmp.dir]);
    await next.forgetEarlierRuns();
    expect(await supervisedVerdicts(tmp.dir, store)).toEqual([]);
  }, 60_000);
});
