import { existsSync, readFileSync, statSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { join, resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { ConfigError, type Config } from '../core/config.js';
import { isLoopbackHost } from '../core/config-urls.js';
import { httpError } from './http/errors.js';

/**
 * TLS for the gateway's HTTP server, from the files `monkeyclaw certs` writes under `<data-dir>/certs/`.
 * Under `mtls` the handshake asks for a client certificate but does not abort without one (`rejectUnauthorized:
 * false`): the decision is made per route by `requireClientCert()`, because webhook routes are exempt (DESIGN "HTTP").
 */

export interface CertPaths {
  dir: string;
  caCrt: string;
  caKey: string;
  serverCrt: string;
  serverKey: string;
  clientsDir: string;
}

export function certPaths(dataDir: string): CertPaths {
  const dir = join(dataDir, 'certs');
  return {
    dir,
    caCrt: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCrt: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientsDir: join(dir, 'clients'),
  };
}

/** Refuses a private key file that the group or others can access (as the vault's key file). */
export function assertPrivateFile(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new Error(`${path} is accessible by others (mode ${mode.toString(8).padStart(3, '0')}): run chmod 600 ${path}`);
}

/** Optional overrides (config `server.tls.cert/key/ca`); relative paths are taken from the data directory. */
export interface TlsFiles {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
}

export function tlsServerOptions(mode: 'tls' | 'mtls', dataDir: string, files: TlsFiles = {}): ServerOptions {
  const p = certPaths(dataDir);
  const pick = (override: string | undefined, fallback: string) => (override ? resolve(dataDir, override) : fallback);
  const read = (path: string, hint: string) => {
    // The config asks for what is not there: a config error (exit 2), before the server takes its port.
    if (!existsSync(path)) throw new ConfigError(`server.tls.mode is ${mode} but ${path} is missing: ${hint}`);
    return readFileSync(path);
  };
  const keyPath = pick(files.key, p.serverKey);
  const hint = 'run `monkeyclaw certs ca` and `monkeyclaw certs server --san <host>`';
  const key = read(keyPath, hint);
  assertPrivateFile(keyPath);
  const options: ServerOptions = { key, cert: read(pick(files.cert, p.serverCrt), hint), minVersion: 'TLSv1.2' };
  if (mode === 'tls') return options;
  return { ...options, ca: read(pick(files.ca, p.caCrt), 'run `monkeyclaw certs ca`'), requestCert: true, rejectUnauthorized: false };
}

/**
 * Plain HTTP is only as private as the host it listens on: on loopback nothing crosses a network; anywhere else the
 * dashboard password, session cookies and API keys would, readable by anyone on the path, unless the config says
 * the port is reached another way (`server.allowPlainHttp`).
 */
export function plainHttpVerdict(server: Pick<Config['server'], 'host' | 'allowPlainHttp'>): { ok: boolean; what: string; detail: string } {
  const what = 'server TLS';
  const { host } = server;
  if (isLoopbackHost(host)) return { ok: true, what, detail: `off (plain HTTP on loopback, ${host})` };
  if (server.allowPlainHttp) return { ok: true, what, detail: `off, plain HTTP on ${host}, as server.allowPlainHttp says: reach it only through loopback or a proxy that speaks TLS` };
  return {
    ok: false,
    what,
    detail: `off, and server.host is ${host}: passwords and API keys would cross the network readable. Set server.tls.mode: tls (or mtls), listen on 127.0.0.1 behind a proxy that speaks TLS, or say it is meant with server.allowPlainHttp: true`,
  };
}

/**
 * What `doctor` says of the server's TLS material: what `start` would refuse (a missing file, a key others can
 * read, a key that does not match its certificate) fails here first, and so does a server certificate that expired.
 */
export function tlsVerdict(config: Config['server'], dataDir: string): { ok: boolean; what: string; detail: string } {
  const what = 'server TLS';
  const { mode } = config.tls;
  if (mode === 'off') return plainHttpVerdict(config);
  try {
    const options = tlsServerOptions(mode, dataDir, config.tls);
    createSecureContext(options);
    const notAfter = new Date(new X509Certificate(options.cert as Buffer).validTo);
    if (notAfter.getTime() <= Date.now()) return { ok: false, what, detail: `the server certificate expired on ${notAfter.toISOString()}` };
    return { ok: true, what, detail: `${mode}: certificate valid until ${notAfter.toISOString().slice(0, 10)}` };
  } catch (error) {
    return { ok: false, what, detail: (error as Error).message };
  }
}

/** Routes that answer without a client certificate under `mtls`: webhooks (the connector verifies the platform's
 * signature) and the health check, which DESIGN says answers 200 without auth and holds nothing private. */
export function isClientCertExempt(method: string, path: string): boolean {
  if (method === 'POST' && /^\/webhooks\/[A-Za-z0-9_-]+\/?$/.test(path)) return true;
  return (method === 'GET' || method === 'HEAD') && path === '/health';
}

export interface ClientCertOptions {
  exempt?: (method: string, path: string) => boolean;
  /** Whether a certificate (by SHA-256 fingerprint) was revoked: refused like one from another CA. */
  revoked?: (fingerprint: string) => boolean;
}

/**
 * Lets a request through only when its TLS connection presented a certificate that verified against the configured
 * CA (`socket.authorized`, which also requires the clientAuth purpose) and was not revoked. No certificate: 401. A
 * certificate from another CA, expired, revoked, or not for client use: 403. Anything that is not a TLS socket is refused (fail closed).
 */
export function requireClientCert(options: ClientCertOptions = {}): MiddlewareHandler {
  const exempt = options.exempt ?? isClientCertExempt;
  return async (c, next) => {
    if (exempt(c.req.method, c.req.path)) return next();
    const socket = (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
    if (socket instanceof TLSSocket && socket.authorized && !options.revoked?.(socket.getPeerCertificate().fingerprint256)) return next();
    const presented = socket instanceof TLSSocket && Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
    return presented
      ? c.json(httpError('client certificate not trusted', 'forbidden', 'client_certificate_untrusted'), 403)
      : c.json(httpError('client certificate required', 'unauthorized', 'client_certificate_required'), 401);
  };
}
