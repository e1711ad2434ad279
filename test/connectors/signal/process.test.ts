import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, hasExited, runCli, spawnCli } from '../../helpers/cli.js';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/tmp.js';
import { ACCOUNT, FakeSignalDaemon } from '../../fakes/signal/daemon.js';
import { ALICE_UUID, message } from '../../fakes/signal/fixtures.js';
import type { Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('signal connector under monkeyclaw start', () => {
  it('runs supervised from config: answers a DM, answers what came while it was down, and stops on SIGTERM', async () => {
    const daemon = await FakeSignalDaemon.start();
    cleanup.push(() => daemon.close());
    const tmp = tempDir('mc-signal-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    const config = [
      `server: { port: ${port} }`,
      `access: { dm: allowlist, allow: ["signal:${ALICE_UUID}"] }`,
      `connectors:`,
      `  signal: { enabled: true, rpc: "${daemon.tcpUrl}", account: "${ACCOUNT}" }`,
      '',
    ].join('\n');
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), config);
    // Sent before the gateway exists: the daemon (on-connection mode) holds it until the connector connects.
    daemon.push(message('dm-text', { text: 'sent while the gateway was down' }));

    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });
    await until(() => daemon.sends.length === 1, `the held message's reply\n${gateway.output()}`);
    daemon.push(message('dm-text', { text: 'and now live' }));
    await until(() => daemon.sends.length === 2, `the live reply\n${gateway.output()}`);
    expect(daemon.sends.map((s) => [s.recipient, s.message])).toEqual([
      [[ALICE_UUID], 'sent while the gateway was down'],
      [[ALICE_UUID], 'and now live'],
    ]);

    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    await until(() => daemon.clients === 0, 'the connector to disconnect');
    expect(daemon.sends).toHaveLength(2);
    const tail = await runCli(['audit', 'tail', '-n', '200'], { cwd: tmp.dir });
    expect(tail.stdout).toContain('outbound.sent');
    expect((await runCli(['audit', 'verify'], { cwd: tmp.dir })).code).toBe(0);
  }, 60_000);
});
