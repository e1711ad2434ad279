import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../core/config.js';
import { loadConfig } from '../../src/config-file.js';
import { certPaths, clientPaths, createCa, createClientCert, createP12, createServerCert } from '../../src/certs.js';
import { isClientCertExempt, requireClientCert, tlsServerOptions, tlsVerdict } from '../../src/tls.js';
import { tempDir } from '../helpers/tmp.js';
import { revokedCheck } from '../../src/revoked-certs.js';
import { certsClient, certsRevoke } from '../../src/commands/certs.js';

interface Answer {
  status: number;
  body: string;
  authorizedServer: boolean;
}

function listen(app: Hono, mode: 'tls' | 'mtls', dataDir: string): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    // As startHttpServer does it: @hono/node-server's serve with node:https and the options from tlsServerOptions.
    const server = serve(
      { fetch: app.fetch, hostname: '127.0.0.1', port: 0, createServer, serverOptions: tlsServerOptions(mode, dataDir) },
      (info: AddressInfo) => resolve({ server, port: info.port }),
    );
    server.once('error', reject);
  });
}

describe('HTTPS with client certificates (server.tls.mode: mtls)', () => {
  const tmp = tempDir('mc-tls-');
  const foreign = tempDir('mc-tls-foreign-');
  const dataDir = tmp.dir;
  let port = 0;
  let server: ServerType;
  let caPem: Buffer;

  const app = new Hono();
  app.use('*', requireClientCert({ revoked: revokedCheck(certPaths(dataDir).dir) }));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/private', (c) => c.text('secret stuff'));
  app.post('/webhooks/:connector', (c) => c.text(`hook ${c.req.param('connector')}`));

  const get = (path: string, options: RequestOptions & Pick<ConnectionOptions, 'secureContext'> = {}, method = 'GET'): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, ca: caPem, agent: false, ...options }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, authorizedServer: (res.socket as { authorized?: boolean }).authorized === true }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    await createCa(dataDir);
    await createServerCert(dataDir, []);
    await createClientCert(dataDir, 'alice');
    await createP12(dataDir, 'alice', 'p12 password');
    await createCa(foreign.dir);
    await createClientCert(foreign.dir, 'mallory');
    caPem = readFileSync(certPaths(dataDir).caCrt);
    ({ server, port } = await listen(app, 'mtls', dataDir));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    tmp.remove();
    foreign.remove();
  });

  const pemCredentials = (dir: string, name: string) => ({ cert: readFileSync(clientPaths(dir, name).crt), key: readFileSync(clientPaths(dir, name).key) });

  it('lets a request with a client certificate from the CA through', async () => {
    const r = await get('/private', pemCredentials(dataDir, 'alice'));
    expect(r).toEqual({ status: 200, body: 'secret stuff', authorizedServer: true });
  });

  it('refuses a request without a client certificate', async () => {
    const r = await get('/private');
    expect(r.status).toBe(401);
    expect(r.body).not.toContain('secret');
    expect(JSON.parse(r.body)).toEqual({ error: { message: 'client certificate required', type: 'unauthorized', param: null, code: 'client_certificate_required' } });
  });

  it('refuses a client certificate from a foreign CA', async () => {
    const r = await get('/private', pemCredentials(foreign.dir, 'mallory'));
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('secret');
    expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'forbidden', param: null, code: 'client_certificate_untrusted' } });
  });

  it('refuses a revoked certificate from its next request, and the one a --force replacement took over from', async () => {
    const io = { out: () => undefined, err: () => undefined, env: {} };
    await createClientCert(dataDir, 'bob');
    await createClientCert(dataDir, 'carol');
    const [bob, carolOld] = [pemCredentials(dataDir, 'bob'), pemCredentials(dataDir, 'carol')];
    expect((await get('/private', bob)).status).toBe(200);
    expect(await certsRevoke('bob', { dataDir }, io)).toBe(0);
    expect((await get('/private', bob)).status).toBe(403);
    await expect(certsRevoke('bob', { dataDir }, io)).rejects.toThrow(/no client certificate named bob/);
    expect(await certsClient('carol', { dataDir, force: true }, io)).toBe(0);
    expect((await get('/private', carolOld)).status).toBe(403);
    expect((await get('/private', pemCredentials(dataDir, 'carol'))).status).toBe(200);
    // Nobody else is touched.
    expect((await get('/private', pemCredentials(dataDir, 'alice'))).status).toBe(200);
  });

  it('refuses a certificate from the right CA that is not for client authentication (the server certificate)', async () => {
    const p = certPaths(dataDir);
    const r = await get('/private', { cert: readFileSync(p.serverCrt), key: readFileSync(p.serverKey) });
    expect(r.status).toBe(403);
  });

  it('accepts the PKCS#12 bundle as the client credentials, and trusts the server through the CA inside it', async () => {
    const secureContext = createSecureContext({ pfx: readFileSync(clientPaths(dataDir, 'alice').p12), passphrase: 'p12 password' });
    const r = await get('/private', { secureContext, ca: undefined });
    expect(r).toEqual({ status: 200, body: 'secret stuff', authorizedServer: true });
  });

  it('exempts webhook routes and the health check, and nothing else', async () => {
    expect(await get('/webhooks/slack', {}, 'POST')).toMatchObject({ status: 200, body: 'hook slack' });
    expect(await get('/health')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect((await get('/webhooks/slack')).status).toBe(401);
    expect((await get('/health', {}, 'POST')).status).toBe(401);
    expect(isClientCertExempt('POST', '/webhooks/telegram')).toBe(true);
    expect(isClientCertExempt('POST', '/webhooks/a/b')).toBe(false);
    expect(isClientCertExempt('POST', '/webhooks/..%2fprivate')).toBe(false);
    expect(isClientCertExempt('GET', '/healthz')).toBe(false);
  });

  it('fails closed when the request did not come over TLS', async () => {
    expect((await app.request('/private')).status).toBe(401);
  });

  it('serves plain TLS (server.tls.mode: tls) without asking for a client certificate', async () => {
    const options = tlsServerOptions('tls', dataDir);
    expect(options.requestCert).toBeUndefined();
    expect(options.ca).toBeUndefined();
    const plain = new Hono().get('/', (c) => c.text('hello'));
    const s = await listen(plain, 'tls', dataDir);
    try {
      const r = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port: s.port, path: '/', ca: caPem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      expect(r).toBe(200);
    } finally {
      await new Promise<void>((resolve) => s.server.close(() => resolve()));
    }
  });

  it('builds mtls options that ask for a certificate and leave the decision to the app', () => {
    const options = tlsServerOptions('mtls', dataDir);
    expect(options).toMatchObject({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    expect(String(options.ca)).toContain('BEGIN CERTIFICATE');
  });

  it('says which file is missing and how to make it', () => {
    const empty = tempDir('mc-tls-empty-');
    try {
      expect(() => tlsServerOptions('mtls', empty.dir)).toThrow(/server\.tls\.mode is mtls but .*server\.key is missing: run `monkeyclaw certs ca`/);
      // A config error: `start` exits 2, as for any setting it cannot run with.
      expect(() => tlsServerOptions('mtls', empty.dir)).toThrow(ConfigError);
    } finally {
      empty.remove();
    }
  });

  it('refuses a server key that others can read', async () => {
    const other = tempDir('mc-tls-mode-');
    try {
      await createCa(other.dir);
      await createServerCert(other.dir, []);
      chmodSync(certPaths(other.dir).serverKey, 0o640);
      expect(() => tlsServerOptions('tls', other.dir)).toThrow(/accessible by others .*chmod 600/);
    } finally {
      other.remove();
    }
  });

  it("doctor's verdict fails on what start would refuse: missing files, a key that is not the certificate's", async () => {
    const other = tempDir('mc-tls-doctor-');
    const server = (mode: 'off' | 'tls' | 'mtls') => ({ host: '127.0.0.1', port: 7420, allowedHosts: [], allowPlainHttp: false, tls: { mode } });
    try {
      expect(tlsVerdict(server('off'), other.dir)).toMatchObject({ ok: true, what: 'server TLS', detail: 'off (plain HTTP on loopback, 127.0.0.1)' });
      // Plain HTTP beyond loopback carries the password and API keys readable: said, in plain words.
      for (const host of ['0.0.0.0', '192.168.1.10', '::']) {
        expect(tlsVerdict({ ...server('off'), host }, other.dir)).toMatchObject({ ok: false, detail: expect.stringContaining(`server.host is ${host}: passwords and API keys`) });
        // Said to be meant (a container publishing the port on loopback, a TLS proxy in front): passes, and says so.
        expect(tlsVerdict({ ...server('off'), host, allowPlainHttp: true }, other.dir)).toMatchObject({ ok: true, detail: expect.stringContaining('as server.allowPlainHttp says') });
      }
      expect(tlsVerdict({ ...server('off'), host: '0:0:0:0:0:0:0:1' }, other.dir)).toMatchObject({ ok: true });
      // The repository's own container config listens beyond loopback, published on the host's loopback only.
      const docker = loadConfig(fileURLToPath(new URL('../../docker/monkeyclaw.config.yaml', import.meta.url))).config;
      expect(tlsVerdict(docker.server, other.dir)).toMatchObject({ ok: true, detail: expect.stringContaining('plain HTTP on 0.0.0.0') });
      expect(tlsVerdict(server('mtls'), other.dir)).toMatchObject({ ok: false, detail: expect.stringMatching(/server\.key is missing/) });
      await createCa(other.dir);
      await createServerCert(other.dir, []);
      expect(tlsVerdict(server('mtls'), other.dir)).toMatchObject({ ok: true, detail: expect.stringMatching(/^mtls: certificate valid until \d{4}-/) });
      // Another server certificate's key beside this certificate: the handshake could never succeed.
      const p = certPaths(other.dir);
      const cert = readFileSync(p.serverCrt);
      await createServerCert(other.dir, []);
      writeFileSync(p.serverCrt, cert);
      expect(tlsVerdict(server('tls'), other.dir)).toMatchObject({ ok: false, detail: expect.stringMatching(/key values mismatch/) });
    } finally {
      other.remove();
    }
  });
});
