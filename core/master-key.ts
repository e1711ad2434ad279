import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const MASTER_KEY_ENV = 'MONKEYCLAW_MASTER_KEY';

export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

/** 32 bytes, written as 64 hex digits or as base64. */
export function parseMasterKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]{42,43}={0,2}$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  if (!key || key.length !== 32) throw new MasterKeyError(`${where}: a master key is 32 bytes, written as 64 hex digits or base64`);
  return key;
}

export const keyFile = (dataDir: string): string => join(dataDir, 'master.key');
export const pendingKeyFile = (dataDir: string): string => join(dataDir, 'master.key.new');

/** Refuses a key file that anyone but its owner can read: a readable key makes the vault plaintext. */
function readKeyFile(file: string): Buffer {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new MasterKeyError(`${file} is readable by group or others (mode ${mode.toString(8)}): run chmod 600 on it`);
  }
  return parseMasterKey(readFileSync(file, 'utf8'), file);
}

export function writeKeyFile(file: string, key: Buffer): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
}

export interface MasterKey {
  key: Buffer;
  source: 'env' | 'file';
}

/**
 * The master key: MONKEYCLAW_MASTER_KEY, else `<data-dir>/master.key`, created (0600) on first use when `create`.
 * Returns undefined when there is none and none may be created.
 */
export function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv, { create }: { create: boolean }): MasterKey | undefined {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv) return { key: parseMasterKey(fromEnv, MASTER_KEY_ENV), source: 'env' };
  const file = keyFile(dataDir);
  if (existsSync(file)) return { key: readKeyFile(file), source: 'file' };
  if (!create) return undefined;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeKeyFile(file, key);
  return { key, source: 'file' };
}

/** A rotation writes the new key aside first; this reads it, if a rotation was interrupted. */
export function loadPendingKey(dataDir: string): Buffer | undefined {
  const file = pendingKeyFile(dataDir);
  return existsSync(file) ? readKeyFile(file) : undefined;
}

export function commitPendingKey(dataDir: string): void {
  renameSync(pendingKeyFile(dataDir), keyFile(dataDir));
}

export function discardPendingKey(dataDir: string): void {
  rmSync(pendingKeyFile(dataDir), { force: true });
}
