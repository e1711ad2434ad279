import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../core/config.js';

/**
 * The gateway's HTTP surface. `/health` is the one unauthenticated route and says nothing private. Until an admin
 * password exists (`monkeyclaw admin set-password`) there is no way in: every other route answers 401. Loopback is
 * not trust.
 */
export function createApp(): Hono {
  const app = new Hono();
  app.use('*', secureHeaders());
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.all('*', (c) => c.json({ error: { message: 'authentication required', type: 'unauthorized' } }, 401));
  app.onError((_error, c) => c.json({ error: { message: 'internal error', type: 'server_error' } }, 500));
  return app;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(config: Config['server']): Promise<HttpServer> {
  const app = createApp();
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
    s.once('error', reject);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections must not hold shutdown past its deadline.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
