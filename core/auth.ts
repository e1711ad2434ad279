import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { AuditInput } from './audit.js';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, options, (e, k) => (e ? reject(e) : resolve(k))));

/** scrypt parameters in the stored string, so they can be raised later without invalidating old hashes. */
const N = 2 ** 15;
const R = 8;
const P = 1;
const MAX_MEM = 64 * 1024 * 1024;
export const MIN_PASSWORD_CHARS = 12;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { N, r: R, p: P, maxmem: MAX_MEM });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAX_MEM });
  return timingSafeEqual(key, expected);
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Constant-time comparison of two hex digests. */
export const digestEquals = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const randomText = (n: number): string => Array.from(randomBytes(n), (b) => ALPHANUM[b % 62]).join('');

/** `mc_<id>_<secret>`: the id finds the row, the secret is only ever stored hashed. 46 characters, no spaces. */
export function newApiKey(): { id: string; key: string; hash: string } {
  const id = randomText(8);
  const secret = randomText(32);
  const key = `mc_${id}_${secret}`;
  return { id, key, hash: sha256(key) };
}

export const API_KEY = /^mc_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$/;

export interface ApiKeyRecord {
  id: string;
  name: string;
  assistant: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface WebSession {
  csrfToken: string;
  expiresAt: number;
}

export interface AuthStore {
  adminPasswordHash(): Promise<string | undefined>;
  /** Each change below commits with its audit entries, or neither does: no admin action goes unrecorded. */
  setAdminPasswordHash(hash: string, audit: AuditInput[]): Promise<void>;
  createApiKey(record: { id: string; name: string; assistant: string | null; hash: string }, audit: AuditInput[]): Promise<void>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** The active key matching `key` (checked by digest in constant time), or undefined. */
  findApiKey(key: string): Promise<ApiKeyRecord | undefined>;
  /** `audit` is recorded only when an active key was revoked. */
  revokeApiKey(id: string, audit: AuditInput[]): Promise<boolean>;
  createSession(idHash: string, session: WebSession): Promise<void>;
  findSession(idHash: string, now: number): Promise<WebSession | undefined>;
  deleteSession(idHash: string): Promise<void>;
}

export const newSessionId = (): string => randomBytes(32).toString('base64url');
export const newCsrfToken = (): string => randomBytes(24).toString('base64url');
