import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { BOOTSTRAP } from '../../src/credentials.js';
import { ACCOUNT, FakeSignalDaemon } from '../fakes/signal/daemon.js';
import { ALICE_UUID, message } from '../fakes/signal/fixtures.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();
// The built supervisor: it forks the built CLI beside it (dist/src/cli.js), as `npx monkeyclaw start` does.
const { Supervisor } = (await import(join('../../dist/src', 'supervisor.js'))) as typeof import('../../src/supervisor.js');

describe('a child that keeps crashing', () => {
  it('is marked failed, still tried again after each cool-down, and runs once what it needs comes up', async () => {
    const tmp = tempDir('mc-sup-failed-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    const config = join(tmp.dir, 'config.yaml');
    writeFileSync(config, [
      `access: { dm: allowlist, allow: ["signal:${ALICE_UUID}"] }`,
      `connectors: { signal: { enabled: true, rpc: "tcp://127.0.0.1:${port}", account: "${ACCOUNT}" } }`,
      '',
    ].join('\n'));
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => store.close());
    await store.migrate();
    const policy = { maxRestarts: 2, withinMs: 5_000, baseDelayMs: 10, maxDelayMs: 10, coolDownMs: 1_500, hungAfterMs: 60_000 };
    const logged: Array<{ msg: string; error?: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as { msg: string }) });
    const supervisor = new Supervisor(store, log, ['--data-dir', tmp.dir, '--config', config], policy);
    cleanup.push(() => supervisor.stop(2_000));
    // Nothing listens yet: the way a slow signal-cli JVM looks at boot.
    supervisor.start({ name: 'connector:signal', args: ['connector', 'signal'], bootstrap: async () => ({ type: BOOTSTRAP, queue: { driver: 'embedded' }, values: {} }) });
    const kinds = async () => (await store.auditTail(500)).filter((e) => e.subject === 'connector:signal').map((e) => ({ kind: e.kind, at: Date.parse(e.at), data: JSON.parse(e.data) as { failed?: boolean; attempt?: number } }));
    await until(async () => (await kinds()).some((e) => e.kind === 'process.gave_up'), 30_000);
    // The log says why, as the audit does: not only that it exited.
    expect(logged.find((l) => l.msg === 'child exited')?.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}`));
    // Tried again after the cool-down, not in a burst, and still failed while nothing listens.
    const seen = new Set<string>();
    const retries = await until(async () => {
      seen.add(supervisor.states()['connector:signal']!);
      const r = (await kinds()).filter((e) => e.kind === 'process.restarted' && e.data.failed);
      return r.length >= 3 ? r : undefined;
    }, 30_000);
    expect(retries[1]!.at - retries[0]!.at).toBeGreaterThanOrEqual(1_400);
    expect((await kinds()).filter((e) => e.kind === 'process.gave_up')).toHaveLength(1);
    // A retry that runs for a moment and crashes again is failed all along, never shown as running.
    expect([...seen]).toEqual(['failed']);
    // Restarts are counted since it last stayed up, not reset by the cool-down.
    const counted = retries.map((r) => r.data.attempt!);
    expect(counted).toEqual([...counted].sort((a, b) => a - b));
    expect(counted[0]).toBeGreaterThanOrEqual(3);

    const daemon = await FakeSignalDaemon.start({ tcpPort: port });
    cleanup.push(() => daemon.close());
    daemon.push(message('dm-text', { text: 'waited for the daemon' }));
    await until(() => daemon.clients === 1, 20_000);
    // Failed until it has stayed up for withinMs, then running.
    expect(supervisor.states()['connector:signal']).toBe('failed');
    await until(() => supervisor.states()['connector:signal'] === 'running', 10_000);
    expect(daemon.clients).toBe(1);
  }, 90_000);
});
