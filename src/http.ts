import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { AuditInput } from '../core/audit.js';
import type { Config } from '../core/config.js';
import { httpError } from './http/errors.js';
import { certPaths, requireClientCert, tlsServerOptions } from './tls.js';
import { revokedCheck } from './revoked-certs.js';
import { webhookRoutes, type WebhookForwarder } from './http/webhooks.js';
import { openaiRoutes } from './http/openai-api.js';
import { dashboardRoutes, type DashboardDeps } from './http/dashboard/index.js';

/**
 * The gateway's HTTP surface. `/health` is the one unauthenticated route and says nothing private. Until an admin
 * password exists (`monkeyclaw admin set-password`) there is no way in: every other route answers 401. Loopback is
 * not trust.
 */
export interface AppOptions {
  /** Client certificates required; the ones revoked (`certs revoke`) found by this check. */
  mtls?: { revoked: (fingerprint: string) => boolean };
  webhooks?: WebhookForwarder;
  /** The OpenAI-compatible API; without it /v1 answers 401 like every other private route. */
  api?: Parameters<typeof openaiRoutes>[0];
  /** The owner's dashboard and web chat; without it every dashboard route answers 401. */
  dashboard?: DashboardDeps;
  /** Where the HTTP server itself audits what it refuses (an oversized webhook). */
  audit?: (entries: AuditInput[]) => Promise<void>;
  /** Served over TLS (server.tls.mode tls or mtls): HSTS is sent. */
  https?: boolean;
  /** Told of every error no route answered: the caller sees a bare 500, the log says what happened. */
  onError?: (error: Error, request: { method: string; path: string }) => void;
}

/**
 * HSTS, served over HTTPS only (a browser ignores it over HTTP), and only to a DNS name: a browser keeps it per host
 * whatever the port, so sent for `localhost` it would make every other service on this machine HTTPS-only for half a
 * year (IP addresses are ignored by browsers anyway). Without includeSubDomains, for the same reason one level up.
 */
const strictTransport = (): MiddlewareHandler => async (c, next) => {
  await next();
  // `localhost.` is localhost: a trailing dot makes a name absolute, not another host.
  const host = (c.req.header('host') ?? '').replace(/:\d+$/, '').replace(/\.$/, '').toLowerCase();
  const named = /[a-z]/.test(host) && !host.startsWith('[') && host !== 'localhost' && !host.endsWith('.localhost');
  if (named) c.header('strict-transport-security', 'max-age=15552000');
};

export function createApp(options: AppOptions = {}): Hono {
  const app = new Hono();
  app.use('*', secureHeaders({ strictTransportSecurity: false }));
  if (options.https) app.use('*', strictTransport());
  // Under server.tls.mode: mtls every route needs a client certificate from the CA, except webhooks and /health.
  if (options.mtls) app.use('*', requireClientCert({ revoked: options.mtls.revoked }));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.route('/', webhookRoutes(options.webhooks ?? (async () => ({ missing: 'not running' })), options.audit));
  if (options.api) app.route('/', openaiRoutes(options.api));
  if (options.dashboard) app.route('/', dashboardRoutes(options.dashboard));
  app.all('*', (c) => c.json(httpError('authentication required', 'unauthorized', 'authentication_required'), 401));
  app.onError((error, c) => {
    // A request refused on its way in (a body over its limit, a form that does not parse) is the caller's error.
    if (error instanceof HTTPException && error.status < 500) {
      const message = error.status === 413 ? 'payload too large' : error.message || 'bad request';
      return c.json(httpError(message, 'invalid_request_error', error.status === 413 ? 'payload_too_large' : 'bad_request'), error.status);
    }
    options.onError?.(error, { method: c.req.method, path: c.req.path });
    return c.json(httpError('internal error', 'server_error', 'internal_error'), 500);
  });
  return app;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/** Why the server could not listen, in words that name the config field to change. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const said = (message: string) => new Error(message, { cause: error });
  if (error.code === 'EADDRINUSE') return said(`${at} is already in use by another program: stop it, or set another server.port in the config`);
  if (error.code === 'EADDRNOTAVAIL') return said(`${at}: this machine has no such address (server.host in the config)`);
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return said(`${at}: no such host name (server.host in the config)`);
  if (error.code === 'EACCES') return said(`${at}: not allowed to listen there (ports below 1024 need privileges): set another server.port in the config`);
  return error;
}

export async function startHttpServer(config: Config['server'], dataDir: string, options: Omit<AppOptions, 'mtls'> = {}): Promise<HttpServer> {
  const { mode } = config.tls;
  const app = createApp({ ...options, https: mode !== 'off', ...(mode === 'mtls' ? { mtls: { revoked: revokedCheck(certPaths(dataDir).dir) } } : {}) });
  // The certificate files are read (and the key's mode checked) before listening: a missing file stops the start.
  const tls = mode === 'off' ? {} : { createServer: createHttpsServer, serverOptions: tlsServerOptions(mode, dataDir, config.tls) };
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port, ...tls }, () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, config.host, config.port)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections go at once; a request in flight gets its answer (the surfaces end their turns
        // within DRAIN_MS, src/http/turns.ts), and whatever is still open after that is cut, inside the 10 s.
        const s = server as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
        s.closeIdleConnections?.();
        setTimeout(() => s.closeAllConnections?.(), 7_500).unref();
      }),
  };
}
