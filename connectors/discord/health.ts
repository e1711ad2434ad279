import { WebSocket } from 'ws';

/**
 * Opens the gateway as discord.js would (`?v=10&encoding=json`) and waits for HELLO (op 10), then closes without
 * identifying: proves the gateway answers without starting a session (which would count against the daily limit).
 */
export function gatewayHello(url: string, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/\/+$/, '')}?v=10&encoding=json`, { handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => finish(new Error(`no HELLO within ${timeoutMs} ms`)), timeoutMs);
    function finish(outcome: Error | number): void {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      else socket.terminate();
      if (typeof outcome === 'number') resolve(outcome);
      else reject(outcome);
    }
    socket.on('message', (data) => {
      try {
        const frame = JSON.parse(String(data)) as { op?: unknown; d?: { heartbeat_interval?: unknown } };
        if (frame.op === 10 && typeof frame.d?.heartbeat_interval === 'number') return finish(frame.d.heartbeat_interval);
      } catch {
        // fall through: anything but HELLO first is a failure
      }
      finish(new Error('the first gateway frame was not HELLO'));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', (code) => finish(new Error(`gateway closed the connection (${code})`)));
  });
}
