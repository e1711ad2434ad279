import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE_UUID, message } from '../../fakes/signal/fixtures.js';
import { audited, signalGateway, type Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

// Short enough for a test, long enough that a loaded CI machine does not look like a dead daemon.
const FAST = { pingIntervalMs: 100, pingTimeoutMs: 1_000, connectTimeoutMs: 1_000, streamIdleMs: 1_500, reconnectBaseMs: 20, reconnectMaxMs: 200 };

describe.each(['tcp', 'http'] as const)('signal silent daemon over %s', (transport) => {
  it('detects a daemon that is connected but answers nothing, reconnects with backoff, and is answered again', async () => {
    const { daemon, h } = await signalGateway(cleanup, transport, { timing: FAST }, { keepAliveMs: 50 });
    await h.until(() => daemon.clients === 1);
    daemon.goSilent();
    await h.until(async () => (await audited(h, 'connector.disconnected')).length > 0);
    const inbound = await h.until(async () => (await h.connector.check!()).find((c) => c.what === 'signal daemon' && !c.ok));
    expect(inbound.detail).toMatch(/no answer|disconnected/);
    // Reconnects keep being attempted while it stays silent, spaced by backoff, not in a tight loop.
    const before = daemon.connections;
    await sleep(1_500);
    expect(daemon.connections - before).toBeGreaterThanOrEqual(1);
    expect(daemon.connections - before).toBeLessThan(15);
    daemon.speak();
    await h.until(() => daemon.clients === 1, 10_000);
    daemon.push(message('dm-text', { text: 'are you back?' }));
    await h.until(() => daemon.sends.length === 1);
    expect(daemon.sends[0]).toMatchObject({ recipient: [ALICE_UUID], message: 'are you back?' });
    const [reconnected] = await audited(h, 'connector.reconnected');
    expect(JSON.parse(reconnected!.data)).toMatchObject({ reason: expect.stringMatching(/no answer|idle/), attempts: expect.any(Number) });
    const checks = await h.until(async () => { const c = await h.connector.check!(); return c.every((x) => x.ok) && c; });
    expect(checks.find((c) => c.what === 'signal inbound')!.detail).toMatch(/[1-9]\d* reconnects \(last: /);
  });
});

describe('signal connection upkeep', () => {
  it('recycles a connection that answers pings but delivers nothing for silentAfterMs', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp', { timing: { ...FAST, silentAfterMs: 400 } });
    await h.until(() => daemon.clients === 1);
    const [entry] = await h.until(async () => { const r = await audited(h, 'connector.reconnected'); return r.length ? r : undefined; });
    expect(JSON.parse(entry!.data).reason).toMatch(/^silent: no notification for/);
    expect(daemon.connections).toBeGreaterThanOrEqual(2);
    await h.until(() => daemon.clients === 1);
    daemon.push(message('dm-text', { text: 'still here' }));
    await h.until(() => daemon.sends.length === 1);
  });

  it('reconnects after the daemon drops the connection and keeps answering', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp', { timing: FAST });
    await h.until(() => daemon.clients === 1);
    daemon.dropConnections();
    // Pushed while down: held by the daemon (on-connection mode) and delivered on reconnect.
    daemon.push(message('dm-text', { text: 'during the drop' }));
    await h.until(() => daemon.sends.length === 1);
    expect(daemon.sends[0]!.message).toBe('during the drop');
    expect((await audited(h, 'connector.disconnected')).map((e) => JSON.parse(e.data).reason)).toEqual(['closed by the daemon']);
  });

  it('rejects malformed notifications with an audit entry and answers an over-long one with a notice, without crashing', async () => {
    const { daemon, h } = await signalGateway(cleanup, 'tcp', { timing: FAST });
    await h.until(() => daemon.clients === 1);
    daemon.pushRaw('this is not json');
    daemon.pushRaw('{"jsonrpc":"2.0","method":"receive","params":{"envelope":{"timestamp":"soon"}}}');
    const anonymous = message('dm-text');
    delete anonymous.params.envelope.sourceUuid;
    daemon.push(anonymous);
    daemon.push(message('dm-text', { text: 'x'.repeat(100_001) }));
    daemon.pushRaw('{"jsonrpc":"2.0","method":"somethingNew","params":{}}');
    daemon.pushRaw('[1,2,3]');
    daemon.push(message('dm-text', { text: 'a good one' }));
    // The over-long message is answered with a notice, in order, before the good one.
    await h.until(() => daemon.sends.length === 2);
    expect(daemon.sends.map((s) => s.message)).toEqual([expect.stringContaining('Your message is too long (100,001 characters)'), 'a good one']);
    const rejected = (await audited(h, 'inbound.rejected')).map((e) => JSON.stringify(JSON.parse(e.data).issues));
    expect(rejected).toEqual([
      expect.stringContaining('not valid JSON'),
      expect.stringContaining('envelope.timestamp'),
      expect.stringContaining('sourceUuid'),
      expect.stringContaining('not a JSON object'),
    ]);
    expect((await audited(h, 'inbound.unsupported')).map((e) => JSON.parse(e.data).what)).toEqual(['method somethingNew']);
    // The connection survived it all.
    expect(await audited(h, 'connector.disconnected')).toEqual([]);
  });
});
