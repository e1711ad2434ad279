import { createPrivateKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { UsageError } from './errors.js';
// @peculiar/x509 resolves its services through tsyringe, which needs Reflect metadata loaded first.
import 'reflect-metadata';
import { buildPkcs12 } from './pkcs12.js';
import { assertPrivateFile, certPaths } from './tls.js';

export { certPaths, type CertPaths } from './tls.js';

/**
 * mTLS material under `<data-dir>/certs/` (DESIGN "Certificates"): a private CA, the server's certificate and one
 * certificate per client, with ECDSA P-256 keys from node:crypto and certificates from @peculiar/x509. Keys and
 * bundles are written 0600 in 0700 directories, each file atomically (temp file, then rename).
 */

// @peculiar/x509 must load after the Reflect polyfill: hence the dynamic import.
const x509: typeof X509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const subtle = webcrypto.subtle;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const DAY = 86_400_000;
const SKEW = 5 * 60_000; // notBefore a little in the past, for clocks that run behind
export const VALIDITY_DAYS = { ca: 3650, server: 397, client: 730 } as const; // 397: browsers refuse server certs > 398 days
const CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
};

const CLIENT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export function validateClientName(name: string): string {
  if (!CLIENT_NAME.test(name)) {
    throw new UsageError(
      `client name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, dots, dashes or underscores, not starting with a dot (no path characters)`,
    );
  }
  return name;
}

export function clientPaths(dataDir: string, name: string): { crt: string; key: string; p12: string } {
  const base = join(certPaths(dataDir).clientsDir, validateClientName(name));
  return { crt: `${base}.crt`, key: `${base}.key`, p12: `${base}.p12` };
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** `--san` values (repeatable, commas allowed): IPv4/IPv6 addresses are told from DNS names; none means loopback. */
export function parseSans(values: readonly string[]): { dns: string[]; ips: string[] } {
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  // An empty one is a mistake (`--san "$HOST"` with HOST unset), never a request for the loopback defaults.
  if (items.some((v) => v === '')) throw new UsageError('--san is empty: give a DNS name or an IP address');
  if (items.length === 0) items.push('localhost', '127.0.0.1', '::1');
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const item of items) {
    const bare = /^\[.*\]$/.test(item) ? item.slice(1, -1) : item;
    if (bare.includes('%')) throw new UsageError(`--san ${JSON.stringify(item)}: a zone id (%…) cannot be part of a certificate's address`);
    if (isIP(bare) === 4) {
      ips.add(bare);
      continue;
    }
    if (isIP(bare) === 6) {
      // In hex groups only: the certificate library misreads a dotted IPv4 tail (::ffff:127.0.0.1) as other groups.
      ips.add(new URL(`http://[${bare}]`).hostname.slice(1, -1));
      continue;
    }
    const name = item.toLowerCase().replace(/\.$/, '');
    const labels = name.split('.');
    const ok =
      name.length <= 253 &&
      labels.every((l, i) => DNS_LABEL.test(l) || (i === 0 && l === '*' && labels.length > 2)) &&
      !/^\d+$/.test(labels[labels.length - 1]!);
    if (!ok) throw new UsageError(`--san ${JSON.stringify(item)} is neither an IP address nor a DNS name`);
    dns.add(name);
  }
  return { dns: [...dns], ips: [...ips] };
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

function writeAtomic(path: string, data: string | Uint8Array, mode: number): string {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  return path;
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, 16 bytes, no leading zero
  return b.toString('hex');
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function createCa(dataDir: string, { force = false } = {}): Promise<string[]> {
  const p = certPaths(dataDir);
  if (!force && (existsSync(p.caCrt) || existsSync(p.caKey))) {
    throw new Error(`a CA already exists in ${p.dir}; pass --force to replace it (every certificate it issued stops being trusted)`);
  }
  ensureDir(p.dir);
  const keys = await newKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=MonkeyClaw CA ${randomBytes(4).toString('hex')}, O=MonkeyClaw`,
    notBefore: new Date(now - SKEW),
    notAfter: new Date(now + VALIDITY_DAYS.ca * DAY),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return [writeAtomic(p.caKey, await privateKeyPem(keys.privateKey), 0o600), writeAtomic(p.caCrt, cert.toString('pem'), 0o644)];
}

interface LoadedCa {
  cert: X509.X509Certificate;
  pem: string;
  signingKey: CryptoKey;
  hash: string;
  notAfter: Date;
}

export async function loadCa(dataDir: string): Promise<LoadedCa> {
  const p = certPaths(dataDir);
  if (!existsSync(p.caCrt) || !existsSync(p.caKey)) throw new Error(`no CA in ${p.dir}: run \`monkeyclaw certs ca\` first`);
  assertPrivateFile(p.caKey);
  const pem = readFileSync(p.caCrt, 'utf8');
  const nodeCert = new NodeX509(pem);
  const key = createPrivateKey(readFileSync(p.caKey));
  if (!nodeCert.ca || !nodeCert.checkPrivateKey(key)) throw new Error(`${p.caKey} and ${p.caCrt} are not a CA key pair`);
  const notAfter = new Date(nodeCert.validTo);
  if (notAfter.getTime() <= Date.now()) throw new Error(`the CA expired on ${notAfter.toISOString()}: make a new one with \`monkeyclaw certs ca --force\``);
  const curve = key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!curve) throw new Error(`${p.caKey} is not an ECDSA P-256 or P-384 key`);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['sign']);
  return { cert: new x509.X509Certificate(pem), pem, signingKey, hash: curve.hash, notAfter };
}

async function issue(ca: LoadedCa, subject: string, days: number, extensions: X509.Extension[]): Promise<{ keyPem: string; certPem: string }> {
  const keys = await newKeyPair();
  const now = Date.now();
  const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - SKEW),
    notAfter: new Date(Math.min(now + days * DAY, ca.notAfter.getTime())),
    signingAlgorithm: { name: 'ECDSA', hash: ca.hash },
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...extensions,
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: cert.toString('pem') };
}

/** The server certificate is replaced freely (renewal, new SANs): clients trust the CA, not this certificate. */
export async function createServerCert(dataDir: string, sans: readonly string[]): Promise<string[]> {
  const { dns, ips } = parseSans(sans);
  const ca = await loadCa(dataDir);
  const p = certPaths(dataDir);
  const { keyPem, certPem } = await issue(ca, 'CN=MonkeyClaw server, O=MonkeyClaw', VALIDITY_DAYS.server, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    new x509.SubjectAlternativeNameExtension([...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))], false),
  ]);
  ensureDir(p.dir);
  return [writeAtomic(p.serverKey, keyPem, 0o600), writeAtomic(p.serverCrt, certPem, 0o644)];
}

/** A client's credential is not replaced silently: someone may hold it. */
export async function createClientCert(dataDir: string, name: string, { force = false } = {}): Promise<string[]> {
  const files = clientPaths(dataDir, name);
  if (!force && (existsSync(files.crt) || existsSync(files.key))) {
    throw new Error(`a client certificate named ${name} already exists; pass --force to replace it`);
  }
  const ca = await loadCa(dataDir);
  const { keyPem, certPem } = await issue(ca, `CN=${name}, O=MonkeyClaw`, VALIDITY_DAYS.client, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
  ]);
  ensureDir(certPaths(dataDir).clientsDir);
  rmSync(files.p12, { force: true }); // a bundle of the old key would no longer match
  return [writeAtomic(files.key, keyPem, 0o600), writeAtomic(files.crt, certPem, 0o644)];
}

/** `password` may be a function: it is then asked for only once every file has been checked. */
export async function createP12(
  dataDir: string,
  name: string,
  password: string | (() => Promise<string>),
  { iterations }: { iterations?: number } = {},
): Promise<string[]> {
  const files = clientPaths(dataDir, name);
  if (!existsSync(files.crt) || !existsSync(files.key)) {
    throw new Error(`no client certificate named ${name}: run \`monkeyclaw certs client ${name}\` first`);
  }
  assertPrivateFile(files.key);
  const p = certPaths(dataDir);
  if (!existsSync(p.caCrt)) throw new Error(`no CA in ${p.dir}: run \`monkeyclaw certs ca\` first`);
  const caPem = readFileSync(p.caCrt, 'utf8');
  const certPem = readFileSync(files.crt, 'utf8');
  const cert = new NodeX509(certPem);
  const caCert = new NodeX509(caPem);
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) {
    throw new Error(`the client certificate ${name} was not issued by the current CA: run \`monkeyclaw certs client ${name} --force\``);
  }
  const keyPem = readFileSync(files.key, 'utf8');
  const secret = typeof password === 'string' ? password : await password();
  const pfx = buildPkcs12({ keyPem, certPem, caPems: [caPem], password: secret, friendlyName: name, ...(iterations ? { iterations } : {}) });
  return [writeAtomic(files.p12, pfx, 0o600)];
}
