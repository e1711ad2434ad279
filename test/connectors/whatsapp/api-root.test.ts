import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createWhatsapp, STATUS_KEY } from '../../../connectors/whatsapp/index.js';
import { startConnectorHarness } from '../../helpers/connector-harness.js';
import type { Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** A websocket server on loopback that records each connection's path and first frame, then drops it. */
async function recordingServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const seen: Array<{ path: string; first: Buffer }> = [];
  wss.on('connection', (ws: WebSocket, request) => {
    ws.once('message', (data: Buffer) => {
      seen.push({ path: request.url ?? '', first: Buffer.from(data) });
      ws.close();
    });
  });
  cleanup.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  return { port: (wss.address() as AddressInfo).port, seen };
}

describe('whatsapp apiRoot', () => {
  it('makes the connection again, saying why, when the websocket upgrade is answered with an HTTP error', async () => {
    // What a proxy in front of WhatsApp, or an outage, answers: an HTTP status instead of the upgrade.
    const server = createServer();
    let upgrades = 0;
    server.on('upgrade', (_request, socket) => {
      upgrades++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const h = await startConnectorHarness({
      name: 'whatsapp',
      config: { connectors: { whatsapp: { enabled: true, apiRoot: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` } } },
      create: (deps) => createWhatsapp(deps as never, { backoff: { baseMs: 60_000, maxMs: 60_000, random: () => 0 } }),
    });
    cleanup.push(() => h.stop());
    // Closed and waiting out its backoff (it used to wait for ever on the dead socket, 'connecting').
    await h.until(async () => ((await h.store.getConnectorState('whatsapp', STATUS_KEY)) as { state?: string } | undefined)?.state === 'reconnecting');
    expect(upgrades).toBe(1);
    const [check] = await h.connector.check!();
    expect(check!.detail).toContain('WhatsApp answered the websocket with HTTP 503');
  });

  it('gives a connection that neither opens nor closes up after its deadline, and makes it again', async () => {
    // A server that takes the upgrade and then says nothing at all, for ever.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    let connections = 0;
    let closed = 0;
    wss.on('connection', (ws: WebSocket) => {
      connections++;
      ws.on('close', () => void closed++);
    });
    cleanup.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const h = await startConnectorHarness({
      name: 'whatsapp',
      config: { connectors: { whatsapp: { enabled: true, apiRoot: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` } } },
      create: (deps) => createWhatsapp(deps as never, { backoff: { baseMs: 50, maxMs: 50, random: () => 0 }, connectDeadlineMs: 300 }),
    });
    cleanup.push(() => h.stop());
    await h.until(() => connections >= 2 || undefined);
    // The connection given up is ended, not left open beside its successor.
    await h.until(() => closed >= 1 || undefined);
  });

  it('points the real baileys socket at the configured websocket, and a lost one is reported as unreachable', async () => {
    const server = await recordingServer();
    const h = await startConnectorHarness({
      name: 'whatsapp',
      config: { connectors: { whatsapp: { enabled: true, apiRoot: `ws://127.0.0.1:${server.port}/ws/chat` } } },
      // No socket factory: the production one, real baileys, dials the root.
      create: (deps) => createWhatsapp(deps as never, { backoff: { baseMs: 60_000, maxMs: 60_000, random: () => 0 } }),
    });
    cleanup.push(() => h.stop());
    await h.until(async () => server.seen.length >= 1);
    expect(server.seen[0]!.path).toBe('/ws/chat');
    // Baileys opens WhatsApp's Noise handshake with its header: 'W', 'A', the protocol's major version.
    expect([...server.seen[0]!.first.subarray(0, 3)]).toEqual([0x57, 0x41, 6]);
    // The server hung up: the connector waits out its backoff and says so.
    await h.until(async () => ((await h.store.getConnectorState('whatsapp', STATUS_KEY)) as { state?: string } | undefined)?.state === 'reconnecting');
  });
});
