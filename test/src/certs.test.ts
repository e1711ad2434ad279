import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certPaths, clientPaths, createCa, createClientCert, parseSans, validateClientName, VALIDITY_DAYS } from '../../src/certs.js';
import { certsCa, certsClient, certsP12, certsServer, type CertsIo } from '../../src/commands/certs.js';
import { UsageError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli } from '../helpers/cli.js';
import { SqliteStore } from '../../core/sqlite/store.js';

const DAY = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function captureIo(env: NodeJS.ProcessEnv = {}, answers?: string[]): CertsIo & { lines: string[]; errors: string[]; asked: number } {
  const io = {
    lines: [] as string[],
    errors: [] as string[],
    asked: 0,
    out: (line: string) => void io.lines.push(line),
    err: (line: string) => void io.errors.push(line),
    env,
    prompt: answers ? async () => answers[io.asked++] ?? '' : undefined,
  };
  return io;
}

const cert = (path: string) => new X509Certificate(readFileSync(path));
const mode = (path: string) => statSync(path).mode & 0o777;
const days = (c: X509Certificate) => (Date.parse(c.validTo) - Date.parse(c.validFrom)) / DAY;

describe('monkeyclaw certs', () => {
  const tmp = tempDir('mc-certs-');
  const dataDir = join(tmp.dir, 'data');
  const p = certPaths(dataDir);
  const output: string[] = [];

  beforeAll(async () => {
    for (const run of [
      (io: CertsIo) => certsCa({ dataDir }, io),
      (io: CertsIo) => certsServer({ dataDir }, io),
      (io: CertsIo) => certsClient('alice', { dataDir }, io),
      (io: CertsIo) => certsP12('alice', { dataDir }, io),
    ]) {
      const io = captureIo({ MONKEYCLAW_P12_PASSWORD: 'correct horse' });
      expect(await run(io)).toBe(0);
      output.push(...io.lines, ...io.errors);
    }
  });
  afterAll(() => tmp.remove());

  it('prints one line per file written and no key material', () => {
    const c = clientPaths(dataDir, 'alice');
    expect(output).toEqual([p.caKey, p.caCrt, p.serverKey, p.serverCrt, c.key, c.crt, c.p12].map((f) => `wrote ${f}`));
    expect(output.join('\n')).not.toMatch(/PRIVATE KEY|correct horse/);
  });

  it('puts each certificate made on the audit record: what, for whom, which files, never a key or the password', async () => {
    const store = new SqliteStore(join(dataDir, 'monkeyclaw.db'));
    try {
      const entries = await store.auditTail(10);
      expect(entries.map((e) => [e.kind, e.subject])).toEqual([
        ['certs.ca_created', null],
        ['certs.server_issued', null],
        ['certs.client_issued', 'alice'],
        ['certs.p12_written', 'alice'],
      ]);
      expect(JSON.parse(entries[1]!.data)).toMatchObject({ dns: ['localhost'], ips: ['127.0.0.1', '::1'] });
      expect(entries.map((e) => e.data).join('\n')).not.toMatch(/PRIVATE KEY|correct horse/);
    } finally {
      await store.close();
    }
  });

  it('makes a self-signed CA valid for ten years', () => {
    const ca = cert(p.caCrt);
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(ca.subject).toMatch(/CN=MonkeyClaw CA [0-9a-f]{8}/);
    expect(days(ca)).toBeGreaterThan(VALIDITY_DAYS.ca - 1);
    expect(Date.parse(ca.validFrom)).toBeLessThanOrEqual(Date.now());
  });

  it('makes a server certificate issued by the CA, for localhost, 127.0.0.1 and ::1 by default', () => {
    const ca = cert(p.caCrt);
    const server = cert(p.serverCrt);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.keyUsage).toEqual([SERVER_AUTH]);
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('example.org')).toBeUndefined();
    expect(days(server)).toBeGreaterThan(365);
    expect(days(server)).toBeLessThanOrEqual(398);
    expect(Date.parse(server.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(server.validTo)).toBeGreaterThan(Date.now());
  });

  it('makes a client certificate for client authentication only', () => {
    const ca = cert(p.caCrt);
    const alice = cert(clientPaths(dataDir, 'alice').crt);
    expect(alice.checkIssued(ca)).toBe(true);
    expect(alice.verify(ca.publicKey)).toBe(true);
    expect(alice.subject).toContain('CN=alice');
    expect(alice.keyUsage).toEqual([CLIENT_AUTH]);
    expect(alice.ca).toBe(false);
    expect(Date.parse(alice.validTo)).toBeLessThanOrEqual(Date.parse(ca.validTo));
  });

  it('writes private keys and bundles 0600 in 0700 directories', () => {
    const c = clientPaths(dataDir, 'alice');
    for (const key of [p.caKey, p.serverKey, c.key, c.p12]) expect(mode(key), key).toBe(0o600);
    for (const dir of [p.dir, p.clientsDir]) expect(mode(dir), dir).toBe(0o700);
    expect(readdirSync(p.clientsDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a PKCS#12 bundle that node:crypto opens with the password, and only with it', () => {
    const pfx = readFileSync(clientPaths(dataDir, 'alice').p12);
    expect(() => createSecureContext({ pfx, passphrase: 'correct horse' })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'wrong' })).toThrow(/mac verify failure/);
  });

  it('takes the PKCS#12 password from a hidden prompt, asked twice, when the environment has none', async () => {
    const io = captureIo({}, ['s3cret!', 's3cret!']);
    expect(await certsP12('alice', { dataDir }, io)).toBe(0);
    expect(io.asked).toBe(2);
    expect(() => createSecureContext({ pfx: readFileSync(clientPaths(dataDir, 'alice').p12), passphrase: 's3cret!' })).not.toThrow();
    await expect(certsP12('alice', { dataDir }, captureIo({}, ['one', 'two']))).rejects.toThrow(/do not match/);
  });

  it('refuses to make a PKCS#12 bundle without a password (no environment, no terminal)', async () => {
    const err = await certsP12('alice', { dataDir }, captureIo({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/MONKEYCLAW_P12_PASSWORD.*never taken from the command line/);
    await expect(certsP12('alice', { dataDir }, captureIo({ MONKEYCLAW_P12_PASSWORD: '' }))).rejects.toBeInstanceOf(UsageError);
  });

  it('checks everything before asking for the password', async () => {
    const io = captureIo({}, ['x', 'x']);
    await expect(certsP12('bob', { dataDir }, io)).rejects.toThrow(/no client certificate named bob: run `monkeyclaw certs client bob` first/);
    await expect(certsP12('../alice', { dataDir }, io)).rejects.toBeInstanceOf(UsageError);
    expect(io.asked).toBe(0);
  });

  it('refuses client names with path characters, with a clear message', async () => {
    for (const name of ['../x', '/etc/passwd', 'a/b', 'a\\b', '..', '.hidden', '', 'a b', 'x'.repeat(65), 'é']) {
      const err = await certsClient(name, { dataDir }, captureIo()).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/letters, digits, dots, dashes or underscores.*no path characters/);
    }
    expect(existsSync(join(p.dir, 'x.key'))).toBe(false);
    expect(validateClientName('laptop-2.home_1')).toBe('laptop-2.home_1');
  });

  it('refuses to overwrite the CA or a client without --force', async () => {
    const before = cert(p.caCrt).fingerprint256;
    await expect(certsCa({ dataDir }, captureIo())).rejects.toThrow(/a CA already exists .*--force/);
    await expect(certsClient('alice', { dataDir }, captureIo())).rejects.toThrow(/already exists; pass --force/);
    expect(cert(p.caCrt).fingerprint256).toBe(before);
  });

  it('replaces the server certificate each time it is made, with or without --force (the CLI accepts it)', async () => {
    const before = cert(p.serverCrt).fingerprint256;
    const again = await runCli(['certs', 'server', '--data-dir', dataDir], { cwd: tmp.dir });
    expect(again.code).toBe(0);
    const renewed = cert(p.serverCrt).fingerprint256;
    const forced = await runCli(['certs', 'server', '--force', '--data-dir', dataDir], { cwd: tmp.dir });
    expect(forced.code).toBe(0);
    expect(new Set([before, renewed, cert(p.serverCrt).fingerprint256]).size).toBe(3);
  });

  it('replaces the CA with --force, after which old client certificates are refused for bundling', async () => {
    const other = tempDir('mc-certs-force-');
    try {
      await createCa(other.dir);
      await createClientCert(other.dir, 'carol');
      const before = cert(certPaths(other.dir).caCrt).fingerprint256;
      const io = captureIo();
      expect(await certsCa({ dataDir: other.dir, force: true }, io)).toBe(0);
      expect(cert(certPaths(other.dir).caCrt).fingerprint256).not.toBe(before);
      expect(io.errors.join('\n')).toMatch(/no longer trusted/);
      await expect(certsP12('carol', { dataDir: other.dir }, captureIo({ MONKEYCLAW_P12_PASSWORD: 'pw' }))).rejects.toThrow(/not issued by the current CA/);
    } finally {
      other.remove();
    }
  });

  it('tells IP addresses from DNS names in --san, and uses only the names given', async () => {
    const other = tempDir('mc-certs-san-');
    try {
      await createCa(other.dir);
      await certsServer({ dataDir: other.dir, san: ['gw.example.org', '192.168.1.10,[2001:db8::1]', 'fe80::1', '*.lan.example.org'] }, captureIo());
      const server = cert(certPaths(other.dir).serverCrt);
      expect(server.checkHost('gw.example.org')).toBe('gw.example.org');
      expect(server.checkHost('nas.lan.example.org')).toBe('*.lan.example.org');
      expect(server.checkIP('192.168.1.10')).toBe('192.168.1.10');
      expect(server.checkIP('2001:db8::1')).toBe('2001:db8::1');
      expect(server.checkIP('fe80::1')).toBe('fe80::1');
      expect(server.checkHost('localhost')).toBeUndefined();
      expect(server.subjectAltName).toBe(
        'DNS:gw.example.org, DNS:*.lan.example.org, IP Address:192.168.1.10, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:0:1',
      );
    } finally {
      other.remove();
    }
  });

  it('refuses a --san that is neither an IP address nor a DNS name', () => {
    expect(parseSans(['Example.ORG.', '10.0.0.1', '::1'])).toEqual({ dns: ['example.org'], ips: ['10.0.0.1', '::1'] });
    for (const bad of ['bad name', 'a..b', '-x.org', 'x-.org', '1.2.3', 'http://x', 'a_b.org', '*.org', 'host/../x', '300.1.1.1', '', 'a.org,', 'fe80::1%eth0']) {
      expect(() => parseSans([bad]), bad).toThrow(UsageError);
    }
    // IPv6 with a dotted IPv4 tail goes in as hex groups, the same address (the certificate library misreads the dots).
    expect(parseSans(['::ffff:127.0.0.1', '[64:ff9b::192.0.2.33]', '2001:DB8::1']).ips).toEqual(['::ffff:7f00:1', '64:ff9b::c000:221', '2001:db8::1']);
    expect(parseSans([]).dns).toEqual(['localhost']);
  });

  it('makes nothing when the config is wrong: what it would make could not be audited', async () => {
    const other = tempDir('mc-certs-badconfig-');
    try {
      const config = join(other.dir, 'bad.yaml');
      writeFileSync(config, 'server: { colour: blue }\n');
      await expect(certsCa({ dataDir: join(other.dir, 'data'), config }, captureIo())).rejects.toThrow(/server\.colour/);
      expect(existsSync(certPaths(join(other.dir, 'data')).caCrt)).toBe(false);
    } finally {
      other.remove();
    }
  });

  it('says to make a CA first when there is none', async () => {
    const empty = tempDir('mc-certs-empty-');
    try {
      for (const run of [() => certsServer({ dataDir: empty.dir }, captureIo()), () => certsClient('dave', { dataDir: empty.dir }, captureIo())]) {
        const err = await run().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(UsageError);
        expect((err as Error).message).toMatch(/no CA in .*: run `monkeyclaw certs ca` first/);
      }
      expect(existsSync(certPaths(empty.dir).serverKey)).toBe(false);
    } finally {
      empty.remove();
    }
  });

  it('refuses a CA key that others can read', async () => {
    const other = tempDir('mc-certs-mode-');
    try {
      await createCa(other.dir);
      chmodSync(certPaths(other.dir).caKey, 0o644);
      await expect(certsServer({ dataDir: other.dir }, captureIo())).rejects.toThrow(/accessible by others .*chmod 600/);
    } finally {
      other.remove();
    }
  });
});
