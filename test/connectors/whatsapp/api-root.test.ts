import { once } from 'node:events';
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
