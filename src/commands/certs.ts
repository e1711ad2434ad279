import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolveDataDir, type GlobalOptions } from '../runtime.js';
import { UsageError } from '../errors.js';
import { withStore } from './with-store.js';
import { hiddenPrompt } from '../prompt.js';
import { revoke } from '../revoked-certs.js';

/**
 * `monkeyclaw certs ca | server | client | p12`. Each prints one line per file written and never key material or the
 * PKCS#12 password. Bad usage throws UsageError (exit 2); any other failure throws Error (exit 1).
 */

export interface CertsIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Hidden prompt; only used when stdin is a TTY. */
  prompt?: ((question: string) => Promise<string>) | undefined;
}

const defaultIo = (): CertsIo => ({
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  prompt: process.stdin.isTTY ? hiddenPrompt : undefined,
});

/** Options as commander hands them over (see src/cli.ts): global flags plus `--force` / `--san`. */
export type CertsOptions = GlobalOptions & { force?: unknown; san?: unknown };

const certs = () => import('../certs.js');
const sanList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : typeof v === 'string' ? [v] : []);
const report = (io: CertsIo, files: string[]) => files.forEach((f) => io.out(`wrote ${f}`));

/**
 * Every certificate made is an admin action on record: what, for whom, which files; never key material or password.
 * The store is opened (config checked, database migrated) before anything is made, so a made file is not left unaudited.
 */
const audited = (options: CertsOptions, kind: string, make: () => Promise<{ files: string[]; data?: Record<string, unknown> }>, subject?: string) =>
  withStore(options, async (store) => {
    const { files, data } = await make();
    await store.appendAudit([{ kind, actor: 'cli', ...(subject ? { subject } : {}), data: { ...data, files } }]);
    return files;
  });

export async function certsCa(options: CertsOptions, io: CertsIo = defaultIo()): Promise<number> {
  const { createCa, certPaths } = await certs();
  const dataDir = resolveDataDir(options);
  const replacing = options.force === true && existsSync(certPaths(dataDir).caCrt);
  const make = async () => ({ files: await createCa(dataDir, { force: options.force === true }) });
  report(io, await audited(options, replacing ? 'certs.ca_replaced' : 'certs.ca_created', make));
  if (replacing) io.err('note: certificates issued by the previous CA are no longer trusted: issue the server and client certificates again');
  return 0;
}

export async function certsServer(options: CertsOptions, io: CertsIo = defaultIo()): Promise<number> {
  const { createServerCert, parseSans } = await certs();
  const sans = sanList(options.san);
  const make = async () => ({ files: await createServerCert(resolveDataDir(options), sans), data: parseSans(sans) });
  report(io, await audited(options, 'certs.server_issued', make));
  return 0;
}

export async function certsClient(name: string, options: CertsOptions, io: CertsIo = defaultIo()): Promise<number> {
  const { createClientCert, clientPaths, certPaths } = await certs();
  const dataDir = resolveDataDir(options);
  const old = clientPaths(dataDir, name).crt;
  const make = async () => {
    const replaced = options.force === true && existsSync(old) ? readFileSync(old) : undefined;
    const files = await createClientCert(dataDir, name, { force: options.force === true });
    // Whoever holds the certificate replaced is shut out with it: replacing is what a lost device calls for.
    return { files, data: replaced ? { revoked: revoke(certPaths(dataDir).dir, replaced, name) } : {} };
  };
  report(io, await audited(options, 'certs.client_issued', make, name));
  return 0;
}

/** Takes a client certificate back: refused under mtls from the next request on, its files deleted. */
export async function certsRevoke(name: string, options: CertsOptions, io: CertsIo = defaultIo()): Promise<number> {
  const { clientPaths, certPaths } = await certs();
  const dataDir = resolveDataDir(options);
  const files = clientPaths(dataDir, name);
  if (!existsSync(files.crt)) throw new Error(`no client certificate named ${name}`);
  const make = async () => {
    const fingerprint = revoke(certPaths(dataDir).dir, readFileSync(files.crt), name);
    for (const f of Object.values(files)) rmSync(f, { force: true });
    return { files: [], data: { revoked: fingerprint } };
  };
  await audited(options, 'certs.client_revoked', make, name);
  io.out(`revoked ${name}: refused from its next request; its files are deleted`);
  return 0;
}

export async function certsP12(name: string, options: CertsOptions, io: CertsIo = defaultIo()): Promise<number> {
  const { createP12 } = await certs();
  const make = async () => ({ files: await createP12(resolveDataDir(options), name, () => p12Password(io)) });
  report(io, await audited(options, 'certs.p12_written', make, name));
  return 0;
}

/** From MONKEYCLAW_P12_PASSWORD, else a hidden prompt (twice) on a TTY; never from argv. */
export async function p12Password(io: CertsIo): Promise<string> {
  const fromEnv = io.env.MONKEYCLAW_P12_PASSWORD;
  if (fromEnv !== undefined) {
    if (fromEnv === '') throw new UsageError('MONKEYCLAW_P12_PASSWORD is empty: the PKCS#12 bundle needs a password');
    return fromEnv;
  }
  if (!io.prompt) {
    throw new UsageError('no PKCS#12 password: set MONKEYCLAW_P12_PASSWORD or run on a terminal to be prompted (it is never taken from the command line)');
  }
  const first = await io.prompt('PKCS#12 password: ');
  if (first === '') throw new UsageError('the PKCS#12 password must not be empty');
  if ((await io.prompt('Again: ')) !== first) throw new UsageError('the passwords do not match');
  return first;
}
