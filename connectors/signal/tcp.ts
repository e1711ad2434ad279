import { connect as netConnect, type Socket } from 'node:net';
import { MAX_LINE_BYTES, route, SignalConnectionError, type Endpoint, type LinkHandlers, type Pending, type RpcConnection } from './rpc.js';

/** `tcp://host:port`: newline-delimited JSON-RPC over one long-lived socket; notifications arrive on the same socket. */
export function connectTcp(endpoint: Endpoint, handlers: LinkHandlers, timeoutMs: number): Promise<RpcConnection> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: endpoint.host, port: endpoint.port });
    const pending = new Map<string, Pending>();
    let nextId = 1;
    let buffer = '';
    let discarding = false;
    let endReason = 'closed by the daemon';
    const opening = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    const closed = new Promise<string>((done) => {
      socket.once('close', () => {
        clearTimeout(opening);
        for (const p of pending.values()) {
          clearTimeout(p.timer);
          p.reject(new SignalConnectionError(`connection to ${endpoint.url} ${endReason}`));
        }
        pending.clear();
        done(endReason);
      });
    });
    socket.on('error', (error) => {
      endReason = error.message;
      reject(new SignalConnectionError(`cannot reach signal-cli at ${endpoint.url}: ${error.message}`));
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      handlers.onActivity();
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (discarding) {
          discarding = false;
          continue;
        }
        if (!line) continue;
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          handlers.onMalformed('not valid JSON');
          continue;
        }
        route(message, pending, handlers);
      }
      // An endless line would grow the buffer without bound: drop it up to its newline.
      if (Buffer.byteLength(buffer) > MAX_LINE_BYTES) {
        buffer = '';
        if (!discarding) handlers.onMalformed(`a line over ${MAX_LINE_BYTES} bytes`);
        discarding = true;
      }
    });
    socket.once('connect', () => {
      clearTimeout(opening);
      socket.setNoDelay(true);
      // Kernel keep-alive notices a peer that vanished without a FIN; the ping in link.ts notices a hung daemon.
      socket.setKeepAlive(true, 10_000);
      resolve({
        closed,
        close(reason = 'closed by the connector') {
          endReason = reason;
          socket.destroy();
        },
        call(method, params, callTimeoutMs) {
          if (socket.destroyed) return Promise.reject(new SignalConnectionError(`connection to ${endpoint.url} ${endReason}`));
          const id = String(nextId++);
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => {
              pending.delete(id);
              fail(new SignalConnectionError(`signal-cli did not answer ${method} within ${callTimeoutMs} ms`));
            }, callTimeoutMs);
            pending.set(id, { resolve: ok, reject: fail, timer });
            socket.write(`${JSON.stringify({ jsonrpc: '2.0', method, params, id })}\n`);
          });
        },
      });
    });
  });
}
