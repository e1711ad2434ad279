import { z } from 'zod';
import { ConfigError, resolveQueue, type Config, type QueueConfig } from '../core/config.js';
import { credentialFormProblems } from '../core/credential-forms.js';
import { commitPendingKey, discardPendingKey, keyFile, loadMasterKey, loadPendingKey, MASTER_KEY_ENV } from '../core/master-key.js';
import { connectorStateKey } from '../core/sealed-state.js';
import { processRedactor } from '../core/redactor.js';
import type { SqliteStore } from '../core/sqlite/store.js';
import { Vault } from '../core/vault.js';

/** Turns a config reference (`secret:NAME`, `env:NAME`) into its value; plain values pass through. */
export type Resolver = (ref: string, field: string) => string;

const REF = /^(secret|env):[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Every reference in a config subtree. */
function collectRefs(node: unknown, out: Set<string>): Set<string> {
  if (typeof node === 'string') {
    if (REF.test(node)) out.add(node);
  } else if (node && typeof node === 'object') {
    for (const v of Object.values(node)) collectRefs(v, out);
  }
  return out;
}

/** What a process of `role` may hold: the queue's, plus a worker's backends or one connector's own credentials. */
export function refsFor(config: Config, queue: QueueConfig, role: string): string[] {
  const refs = collectRefs(queue, new Set());
  if (role === 'worker' || role === 'chat') collectRefs(config.backends, refs);
  if (role.startsWith('connector:')) collectRefs((config.connectors as Record<string, unknown>)[role.slice('connector:'.length)], refs);
  return [...refs].sort();
}

/** Opens the vault with the master key, finishing a rotation that was interrupted before its key file was renamed. */
export async function openVault(dataDir: string, store: SqliteStore, actor: string, { create }: { create: boolean }): Promise<Vault | undefined> {
  // A vault sealed under a key that is not here (unset variable, deleted key file) is not empty: a new key would only
  // lock it for good, and its secrets would read as absent.
  const sealed = (await store.vaultStore().keyCheck()) !== undefined;
  const master = loadMasterKey(dataDir, process.env, { create: create && !sealed });
  if (!master) {
    if (sealed) throw new ConfigError(`the vault holds secrets sealed under a master key that is not here: set ${MASTER_KEY_ENV} or restore ${keyFile(dataDir)}`);
    return undefined;
  }
  const audit = (entries: Parameters<SqliteStore['appendAudit']>[0]) => store.appendAudit(entries);
  const pending = master.source === 'file' ? loadPendingKey(dataDir) : undefined;
  let vault = new Vault(store.vaultStore(), master.key, audit, actor);
  if (pending) {
    if (await vault.opensWith(pending)) {
      commitPendingKey(dataDir);
      vault = new Vault(store.vaultStore(), pending, audit, actor);
    } else discardPendingKey(dataDir);
  }
  await vault.unlock();
  return vault;
}

/** The config fields that hold `ref`, e.g. `connectors.telegram.token`. */
function pathsOf(value: unknown, ref: string, path: string[] = []): string[] {
  if (value === ref) return [path.join('.')];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => pathsOf(v, ref, [...path, k]));
}

/**
 * Resolves references in this process: env from the environment, secrets from the vault (each read audited).
 * `writtenIn`, the config the references come from (its queue section resolved), lets a missing one be named by its
 * field, e.g. `connectors.telegram.token`, as DESIGN asks of every command.
 */
export async function resolveRefs(refs: string[], dataDir: string, store: SqliteStore, actor: string, writtenIn?: unknown): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  const secrets = refs.filter((r) => r.startsWith('secret:'));
  const vault = secrets.length ? await openVault(dataDir, store, actor, { create: false }) : undefined;
  if (secrets.length && !vault) {
    throw new ConfigError(`${secrets.join(', ')} referenced, but there is no vault key: set MONKEYCLAW_MASTER_KEY or store the secrets with \`monkeyclaw secrets set NAME\``);
  }
  // Every missing one is named at once: fixing them one start at a time is a chore.
  const missing: Array<{ ref: string; why: string }> = [];
  for (const ref of refs) {
    const name = ref.slice(ref.indexOf(':') + 1);
    const value = ref.startsWith('env:') ? process.env[name] : await vault!.get(name);
    if (value === undefined || value === '') {
      missing.push({ ref, why: ref.startsWith('env:') ? `environment variable ${name} is not set` : `secret ${name} is not in the vault: run \`monkeyclaw secrets set ${name}\`` });
      continue;
    }
    values[ref] = value;
    processRedactor.addSecret(value);
  }
  // A reference with no value behind it (an unset variable, a secret not in the vault) is a config error.
  // One reference may be written in several fields (two backends on one key): each is named, then why, once.
  const named = (ref: string, why: string) => [(writtenIn ? pathsOf(writtenIn, ref) : []).join(', '), why].filter(Boolean).join(': ');
  if (missing.length > 0) throw new ConfigError(missing.map(({ ref, why }) => named(ref, why)).join('; '));
  const malformed = writtenIn ? credentialFormProblems(writtenIn, (ref) => values[ref]) : [];
  if (malformed.length > 0) throw new ConfigError(malformed.join('; '));
  return values;
}

export function resolverFrom(values: Record<string, string>): Resolver {
  return (ref, field) => {
    if (!REF.test(ref)) return ref;
    const value = values[ref];
    if (value === undefined) throw new ConfigError(`${field}: ${ref} was not provided to this process`);
    return value;
  };
}

/** What the supervisor hands a child over IPC, never through argv or the environment. */
export const BOOTSTRAP = 'monkeyclaw:bootstrap';
const bootstrapSchema = z.object({
  type: z.literal(BOOTSTRAP),
  queue: z.record(z.string(), z.unknown()),
  values: z.record(z.string(), z.string()),
  stateKey: z.string().optional(),
});
export type Bootstrap = { type: typeof BOOTSTRAP; queue: QueueConfig; values: Record<string, string>; stateKey?: string };

export const SUPERVISED_ENV = 'MONKEYCLAW_SUPERVISED';

/** This process is a child of `start`: it takes its credentials over IPC and stops when its supervisor says. */
export const isSupervised = (): boolean => !!process.send && process.env[SUPERVISED_ENV] === '1';

export function receiveBootstrap(timeoutMs = 15_000): Promise<Bootstrap> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no bootstrap message from the supervisor')), timeoutMs);
    process.once('message', (message: unknown) => {
      clearTimeout(timer);
      const parsed = bootstrapSchema.safeParse(message);
      if (parsed.success) resolve(parsed.data as Bootstrap);
      else reject(new Error('malformed bootstrap message from the supervisor'));
    });
  });
}

export interface Credentials {
  queue: QueueConfig;
  resolve: Resolver;
  /** A connector's key to its own sealed state (derived from the master key, which it never holds). */
  stateKey?: Buffer;
}

/** The sealed-state key for a connector role, derived here from the master key; undefined for other roles or no vault. */
/** What a connector that keeps sealed state is told when no master key exists yet, and what to do. */
export const NO_MASTER_KEY = 'no master key: run `monkeyclaw start` once (it creates the vault key), or set MONKEYCLAW_MASTER_KEY';

export function stateKeyFor(role: string, dataDir: string): Buffer | undefined {
  if (!role.startsWith('connector:')) return undefined;
  const master = loadMasterKey(dataDir, process.env, { create: false });
  return master && connectorStateKey(master.key, role.slice('connector:'.length));
}

/**
 * A process's credentials: from its supervisor over IPC when supervised, otherwise resolved here (a `chat`, or a
 * worker started by hand). Every value also feeds this process's redactor.
 */
export async function loadCredentials(config: Config, role: string, local: { dataDir: string; store: SqliteStore }): Promise<Credentials> {
  let queue: QueueConfig;
  let values: Record<string, string>;
  let stateKey: Buffer | undefined;
  if (isSupervised()) {
    const bootstrap = await receiveBootstrap();
    ({ queue, values } = bootstrap);
    stateKey = bootstrap.stateKey ? Buffer.from(bootstrap.stateKey, 'base64') : undefined;
  } else {
    queue = resolveQueue(config, process.env);
    values = await resolveRefs(refsFor(config, queue, role), local.dataDir, local.store, role, { ...config, queue });
    stateKey = stateKeyFor(role, local.dataDir);
  }
  // Values handed over by the supervisor were never resolved here: the process's redactor learns them now.
  for (const v of Object.values(values)) processRedactor.addSecret(v);
  return { queue, resolve: resolverFrom(values), ...(stateKey ? { stateKey } : {}) };
}
