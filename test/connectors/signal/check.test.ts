import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../core/config.js';
import type { ConnectorDeps } from '../../../core/connector.js';
import { createSignalConnector, type SignalConfig } from '../../../connectors/signal/index.js';
import type { Timing } from '../../../connectors/signal/link.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCOUNT, ACCOUNT_UUID, FakeSignalDaemon } from '../../fakes/signal/daemon.js';
import { message } from '../../fakes/signal/fixtures.js';
import type { Cleanup } from './helpers.js';
import { noSealedState } from '../../../core/sealed-state.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
const NO_SEALED_STATE = noSealedState('not used by this test');

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** A connector outside any gateway, as `doctor` would build one: a state map stands in for the store. */
function bare(config: Partial<SignalConfig>, state = new Map<string, unknown>(), timing: Partial<Timing> = {}) {
  const deps: ConnectorDeps<SignalConfig> = {
    name: 'signal',
    config: { enabled: true, ...config },
    gateway: parseConfig({}),
    resolve: (ref) => ref,
    sealed: NO_SEALED_STATE, access: NO_ACCESS_CHANGES, store: {
      appendAudit: async () => undefined,
      getConnectorState: async (_c, key) => state.get(key),
      setConnectorState: async (_c, key, value) => void state.set(key, value),
      listConnectorState: async () => [], deleteConnectorState: async () => undefined, handledTurn: async () => null,
    },
    log: pino({ level: 'silent' }),
    dataDir: '/nonexistent',
    now: Date.now,
  };
  return createSignalConnector(deps, { timing: { pingTimeoutMs: 3_000, connectTimeoutMs: 3_000, ...timing } });
}

const io = { publish: async () => [], fail: () => undefined };

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const start = Date.now(); !(await check()); await sleep(50)) if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
}

describe('signal config and doctor checks', () => {
  it('refuses a missing or malformed rpc or account before any network call, naming the field', async () => {
    await expect(bare({ account: ACCOUNT }).start(io)).rejects.toThrow(/connectors\.signal\.rpc: required/);
    await expect(bare({ rpc: 'tcp://127.0.0.1:7583', account: '5550000000' }).start(io)).rejects.toThrow(/connectors\.signal\.account/);
    await expect(bare({ rpc: 'udp://127.0.0.1:1', account: ACCOUNT }).start(io)).rejects.toBeInstanceOf(ConfigError);
    expect(await bare({ account: ACCOUNT }).check!()).toEqual([{ ok: false, what: 'signal config', detail: expect.stringContaining('rpc') }]);
  });

  it('fails to start with a clear message when the daemon is not there or does not serve the account', async () => {
    const daemon = await FakeSignalDaemon.start({ multiAccount: true });
    cleanup.push(() => daemon.close());
    await expect(bare({ rpc: 'tcp://127.0.0.1:1', account: ACCOUNT }).start(io)).rejects.toThrow(/cannot reach signal-cli at tcp:\/\/127\.0\.0\.1:1/);
    await expect(bare({ rpc: daemon.tcpUrl, account: '+15559999999' }).start(io)).rejects.toThrow(/does not serve \+15559999999/);
    const ok = bare({ rpc: daemon.tcpUrl, account: ACCOUNT });
    await ok.start(io);
    await ok.stop();
    expect(daemon.calls.map((c) => c.method)).toContain('listAccounts');
  });

  it('doctor never opens a TCP receive connection (it would take queued messages); it reports the running connector\'s record', async () => {
    const daemon = await FakeSignalDaemon.start();
    cleanup.push(() => daemon.close());
    const state = new Map<string, unknown>();
    const running = bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state);
    await running.start(io);
    await running.stop();
    const before = daemon.connections;
    const checks = await bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state).check!();
    expect(daemon.connections).toBe(before);
    expect(checks).toEqual([
      { ok: true, what: 'signal daemon', detail: expect.stringMatching(/^the connector is not running \(stopped .*\); signal-cli at tcp:.* last answered it /) },
      { ok: true, what: 'signal account', detail: `${ACCOUNT} (uuid ${ACCOUNT_UUID})` },
      { ok: true, what: 'signal inbound', detail: expect.stringContaining('last message never') },
    ]);
    // With no record at all, the kernel still tells whether anything listens there, without a connection.
    const unknown = await bare({ rpc: daemon.tcpUrl, account: ACCOUNT }).check!();
    expect(unknown[0]).toMatchObject({ ok: true, detail: expect.stringMatching(/^something listens at tcp:.* no connector has heard it answer yet$/) });
    await daemon.close();
    for (const record of [new Map<string, unknown>(), state]) {
      const gone = await bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, record).check!();
      expect(gone[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/^nothing listens at tcp:\/\/127\.0\.0\.1:\d+: start signal-cli daemon/) });
    }
    expect(daemon.connections).toBe(before);
  });

  it('doctor says a running connector that lost its daemon cannot reach it, in plain words, until it is back', async () => {
    const daemon = await FakeSignalDaemon.start();
    cleanup.push(() => daemon.close());
    const state = new Map<string, unknown>();
    const running = bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state, { reconnectBaseMs: 50, reconnectMaxMs: 200 });
    cleanup.push(() => running.stop());
    await running.start(io);
    const doctor = () => bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state).check!();
    expect((await doctor())[0]).toMatchObject({ ok: true, detail: expect.stringContaining('the running connector last heard') });
    const port = Number(new URL(daemon.tcpUrl).port);
    await daemon.close();
    await until(async () => (await doctor())[0]!.detail.includes('cannot reach it'));
    const [daemonVerdict, , inbound] = await doctor();
    expect(daemonVerdict).toMatchObject({ ok: false, what: 'signal daemon' });
    expect(daemonVerdict!.detail).toMatch(new RegExp(`^the connector lost signal-cli at tcp://127\\.0\\.0\\.1:${port} .* and cannot reach it: connection refused: nothing is listening at 127\\.0\\.0\\.1:${port}`));
    expect(inbound).toMatchObject({ ok: false, what: 'signal inbound' });
  });

  it('doctor counts a start that could not reach the daemon as a failure, whatever an earlier clean run heard', async () => {
    const daemon = await FakeSignalDaemon.start();
    const state = new Map<string, unknown>();
    const connector = bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state);
    await connector.start(io);
    await connector.stop();
    const doctor = () => bare({ rpc: daemon.tcpUrl, account: ACCOUNT }, state).check!();
    expect((await doctor())[0]).toMatchObject({ ok: true, detail: expect.stringContaining('the connector is not running') });
    await daemon.close();
    await expect(connector.start(io)).rejects.toThrow();
    await connector.stop();
    expect((await doctor())[0]).toMatchObject({ ok: false, detail: expect.stringContaining('cannot reach it: connection refused') });
  });

  it('over HTTP doctor probes with a plain request, which never subscribes to receiving', async () => {
    const daemon = await FakeSignalDaemon.start();
    cleanup.push(() => daemon.close());
    const checks = await bare({ rpc: daemon.httpUrl, account: ACCOUNT }).check!();
    expect(checks[0]).toEqual({ ok: true, what: 'signal daemon', detail: `signal-cli 0.13.22 answers at ${daemon.httpUrl}` });
    expect(daemon.connections).toBe(0);
    await daemon.close();
    cleanup = [];
    const down = await bare({ rpc: daemon.httpUrl, account: ACCOUNT }).check!();
    expect(down[0]).toMatchObject({ ok: false, detail: expect.stringContaining('no answer from signal-cli') });
  });

  it.each([
    [false, 'a single-account daemon delivering another account is a misconfiguration'],
    [true, 'a multi-account daemon delivers every account: others are ignored quietly'],
  ])('multiAccount %s: %s', async (multiAccount) => {
    const daemon = await FakeSignalDaemon.start({ multiAccount });
    cleanup.push(() => daemon.close());
    const published: unknown[] = [];
    const connector = bare({ rpc: daemon.tcpUrl, account: ACCOUNT });
    await connector.start({ publish: async (events) => (published.push(...events), []), fail: () => undefined });
    cleanup.push(() => connector.stop());
    const other = message('dm-text');
    other.params.account = '+15559999999';
    daemon.push(other);
    daemon.push(message('dm-text', { text: 'ours' }));
    // Notifications are handled in order: once ours is published, the other one was judged.
    for (let i = 0; published.length === 0 && i < 200; i++) await sleep(25);
    expect(published).toHaveLength(1);
    const account = (await connector.check!()).find((c) => c.what === 'signal account')!;
    expect(account.ok).toBe(multiAccount);
    if (!multiAccount) expect(account.detail).toBe(`the daemon delivers for +15559999999, not the configured ${ACCOUNT}`);
  });
});
