import { randomBytes } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { ConfigError } from '../../core/config.js';
import { keyFile, loadMasterKey, MASTER_KEY_ENV, parseMasterKey, pendingKeyFile, writeKeyFile } from '../../core/master-key.js';
import { resealConnectorState } from '../../core/sealed-state.js';
import { Redactor } from '../../core/redactor.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { checkSecretName, SecretNameError, type Vault } from '../../core/vault.js';
import { openVault } from '../credentials.js';
import { UsageError } from '../errors.js';
import { acquireLock, LockedError, supervisorLock } from '../lock.js';
import { readSecretInput } from '../prompt.js';
import { dbFile, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { failed, out } from './with-store.js';

async function withVault<T>(options: GlobalOptions, create: boolean, work: (vault: Vault, dataDir: string, store: SqliteStore) => Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(options);
  const store = new SqliteStore(dbFile(dataDir));
  try {
    await store.migrate();
    const vault = await openVault(dataDir, store, 'cli', { create });
    if (!vault) throw new ConfigError(`there is no vault yet: no ${MASTER_KEY_ENV} and no ${keyFile(dataDir)}`);
    return await work(vault, dataDir, store);
  } finally {
    await store.close();
  }
}

const validName = (name: string): string => {
  try {
    return checkSecretName(name);
  } catch (error) {
    throw new UsageError((error as SecretNameError).message);
  }
};

export async function secretsSet(name: string, options: GlobalOptions): Promise<number> {
  validName(name);
  const value = await readSecretInput(`value for ${name}: `);
  if (value === '') throw new UsageError('no value given: pipe it on stdin or type it at the prompt');
  // The vault's refusal of the value (over 1 MiB) is bad input like the name's: exit 2.
  await withVault(options, true, (vault) => vault.set(name, value)).catch((error: unknown) => {
    throw error instanceof SecretNameError ? new UsageError(error.message) : error;
  });
  out(`secret ${name} stored`);
  // Masking a value this short would blank out ordinary words wherever they appear, so it is left as it is.
  if (!Redactor.masks(value)) process.stderr.write(`warning: ${name} is ${value.length} characters long: values that short are not masked in logs and output; is it the whole secret?\n`);
  return 0;
}

export async function secretsList(options: GlobalOptions): Promise<number> {
  const secrets = await withVault(options, false, (vault) => vault.list()).catch((error: unknown) => {
    if (error instanceof ConfigError && error.message.startsWith('there is no vault')) return [];
    throw error;
  });
  // Said on stderr: stdout lists, one line per secret, and an empty list is no lines (as pair, apikey and dlq).
  if (secrets.length === 0) process.stderr.write('no secrets stored\n');
  for (const s of secrets) out(`${s.name}\tcreated ${s.createdAt}\tupdated ${s.updatedAt}`);
  return 0;
}

export async function secretsRemove(name: string, options: GlobalOptions): Promise<number> {
  validName(name);
  const removed = await withVault(options, false, (vault) => vault.remove(name));
  if (!removed) {
    failed(`no secret ${name}`);
    return 1;
  }
  out(`secret ${name} removed`);
  return 0;
}

/**
 * Re-encrypts every secret under a new master key in one transaction. The new key comes from stdin, or is made
 * here and written as the new key file. The key file is replaced only after the database commit, through a
 * `master.key.new` written first, so an interruption at any point leaves a vault that opens.
 */
export async function secretsRotateKey(options: GlobalOptions): Promise<number> {
  // Held for the whole rotation: a running gateway's processes keep the old key, and a connector sealing state with
  // it afterwards (WhatsApp's link) would lose it; nor may one start halfway.
  let release: () => void;
  try {
    release = acquireLock(supervisorLock(resolveDataDir(options)));
  } catch (error) {
    if (!(error instanceof LockedError)) throw error;
    throw new LockedError(`${error.message}: a running gateway holds the old key; stop it, rotate, then start it again`);
  }
  try {
    return await rotate(options);
  } finally {
    release();
  }
}

async function rotate(options: GlobalOptions): Promise<number> {
  const fromEnv = Boolean(process.env[MASTER_KEY_ENV]);
  const input = process.stdin.isTTY ? '' : await readSecretInput('');
  const newKey = input.trim() ? parseMasterKey(input, 'new master key on stdin') : randomBytes(32);
  if (fromEnv && !input.trim()) {
    throw new UsageError(`${MASTER_KEY_ENV} is set: pipe the new key on stdin, then set ${MASTER_KEY_ENV} to it`);
  }
  const count = await withVault(options, false, async (vault, dataDir, store) => {
    const oldKey = loadMasterKey(dataDir, process.env, { create: false })!.key;
    // Connector state sealed under keys derived from the old master key follows it (not atomic with the vault:
    // an interruption here leaves that state unreadable, and e.g. WhatsApp must be linked again).
    const reseal = () => resealConnectorState(store, oldKey, newKey);
    if (fromEnv) {
      const n = await vault.rotate(newKey);
      await reseal();
      return n;
    }
    const pending = pendingKeyFile(dataDir);
    if (existsSync(pending)) throw new UsageError(`${pending} exists: a rotation is unfinished; start the gateway once to finish it`);
    writeKeyFile(pending, newKey);
    const n = await vault.rotate(newKey);
    await reseal();
    renameSync(pending, keyFile(dataDir));
    return n;
  });
  out(`re-encrypted ${count} secret(s) under the new master key${fromEnv ? `; now set ${MASTER_KEY_ENV} to the new key` : ''}`);
  return 0;
}
