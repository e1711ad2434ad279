import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { AuditInput } from './audit.js';

/** Secret names are identifiers: never paths, never anything a shell or a file system would interpret. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_SECRET_BYTES = 1024 * 1024;
const KEY_CHECK_PLAINTEXT = Buffer.from('monkeyclaw vault key check v1');
const aad = (name: string) => Buffer.from(`monkeyclaw:secret:v1:${name}`);
const CHECK_AAD = Buffer.from('monkeyclaw:keycheck:v1');

export interface SealedSecret {
  name: string;
  nonce: Buffer;
  ciphertext: Buffer;
  createdAt: string;
  updatedAt: string;
}

/** The vault's persistence: rows of ciphertext only. */
export interface VaultStore {
  keyCheck(): Promise<{ nonce: Buffer; sealed: Buffer } | undefined>;
  setKeyCheck(nonce: Buffer, sealed: Buffer): Promise<void>;
  get(name: string): Promise<SealedSecret | undefined>;
  /** Each change commits with its audit entries, or neither does: no change goes unrecorded. */
  put(name: string, nonce: Buffer, ciphertext: Buffer, audit: AuditInput[]): Promise<void>;
  /** `audit` is recorded only when there was a row to remove. */
  remove(name: string, audit: AuditInput[]): Promise<boolean>;
  all(): Promise<SealedSecret[]>;
  /** Re-encrypted rows and the new key check, atomically: a rotation is all or nothing. */
  replaceAll(rows: Array<{ name: string; nonce: Buffer; ciphertext: Buffer }>, check: { nonce: Buffer; sealed: Buffer }, audit: AuditInput[]): Promise<void>;
}

/** One meaning each: the key does not open this vault / a stored value was altered / a name is unusable. */
export class WrongMasterKeyError extends Error {
  override readonly name = 'WrongMasterKeyError';
  constructor() {
    super('the master key does not open this vault (MONKEYCLAW_MASTER_KEY or <data-dir>/master.key is not the key it was sealed with)');
  }
}
export class CorruptSecretError extends Error {
  override readonly name = 'CorruptSecretError';
}
export class SecretNameError extends Error {
  override readonly name = 'SecretNameError';
}

function seal(key: Buffer, plaintext: Buffer, additional: Buffer): { nonce: Buffer; ciphertext: Buffer } {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(additional);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, ciphertext: Buffer.concat([body, cipher.getAuthTag()]) };
}

function open(key: Buffer, nonce: Buffer, ciphertext: Buffer, additional: Buffer): Buffer {
  if (ciphertext.length < 16) throw new Error('too short');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(additional);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
}

export function checkSecretName(name: string): string {
  if (!SECRET_NAME.test(name)) {
    throw new SecretNameError(`secret name must be letters, digits and underscores, starting with a letter or underscore (at most 128)`);
  }
  return name;
}

/**
 * The encrypted secret vault: AES-256-GCM under a 32-byte master key, a fresh nonce per write, the secret's name
 * bound as associated data (a ciphertext moved to another name does not decrypt). Every access is audited by name,
 * never by value.
 */
export class Vault {
  constructor(
    private readonly store: VaultStore,
    private key: Buffer,
    private readonly audit: (entries: AuditInput[]) => Promise<void>,
    private readonly actor: string,
  ) {
    if (key.length !== 32) throw new Error('master key must be 32 bytes');
  }

  /** Proves the key opens this vault, sealing a check on first use. Call before anything else. */
  async unlock(): Promise<void> {
    const check = await this.store.keyCheck();
    if (!check) {
      const sealed = seal(this.key, KEY_CHECK_PLAINTEXT, CHECK_AAD);
      await this.store.setKeyCheck(sealed.nonce, sealed.ciphertext);
      return;
    }
    try {
      open(this.key, check.nonce, check.sealed, CHECK_AAD);
    } catch {
      throw new WrongMasterKeyError();
    }
  }

  async set(name: string, value: string): Promise<void> {
    checkSecretName(name);
    const plaintext = Buffer.from(value, 'utf8');
    if (plaintext.length === 0) throw new SecretNameError(`secret ${name}: the value is empty`);
    if (plaintext.length > MAX_SECRET_BYTES) throw new SecretNameError(`secret ${name}: the value is larger than 1 MiB`);
    const { nonce, ciphertext } = seal(this.key, plaintext, aad(name));
    await this.store.put(name, nonce, ciphertext, [{ kind: 'secret.set', actor: this.actor, subject: name }]);
  }

  async get(name: string): Promise<string | undefined> {
    checkSecretName(name);
    const row = await this.store.get(name);
    await this.audit([{ kind: 'secret.read', actor: this.actor, subject: name, data: { found: row !== undefined } }]);
    if (!row) return undefined;
    try {
      return open(this.key, row.nonce, row.ciphertext, aad(name)).toString('utf8');
    } catch {
      throw new CorruptSecretError(`secret ${name} does not decrypt: its stored value was altered or damaged (set it again)`);
    }
  }

  async list(): Promise<Array<{ name: string; createdAt: string; updatedAt: string }>> {
    return (await this.store.all()).map(({ name, createdAt, updatedAt }) => ({ name, createdAt, updatedAt }));
  }

  async remove(name: string): Promise<boolean> {
    checkSecretName(name);
    return this.store.remove(name, [{ kind: 'secret.removed', actor: this.actor, subject: name }]);
  }

  /** Re-encrypts every secret under `newKey` in one transaction; the vault then uses the new key. */
  async rotate(newKey: Buffer): Promise<number> {
    if (newKey.length !== 32) throw new Error('master key must be 32 bytes');
    const rows = await this.store.all();
    const resealed = rows.map((row) => {
      let plaintext: Buffer;
      try {
        plaintext = open(this.key, row.nonce, row.ciphertext, aad(row.name));
      } catch {
        throw new CorruptSecretError(`secret ${row.name} does not decrypt; nothing was rotated`);
      }
      return { name: row.name, ...seal(newKey, plaintext, aad(row.name)) };
    });
    const check = seal(newKey, KEY_CHECK_PLAINTEXT, CHECK_AAD);
    await this.store.replaceAll(resealed, { nonce: check.nonce, sealed: check.ciphertext }, [{ kind: 'secret.key_rotated', actor: this.actor, data: { secrets: rows.length } }]);
    this.key = newKey;
    return rows.length;
  }

  /** Does `key` open this vault? (Used to finish a rotation interrupted between commit and key-file rename.) */
  async opensWith(key: Buffer): Promise<boolean> {
    const check = await this.store.keyCheck();
    if (!check) return false;
    try {
      open(key, check.nonce, check.sealed, CHECK_AAD);
      return true;
    } catch {
      return false;
    }
  }
}
