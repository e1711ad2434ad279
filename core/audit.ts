import { createHash } from 'node:crypto';

/** What callers hand the audit log; the store adds sequence, time and the chain. */
export interface AuditInput {
  /** Dotted event kind, e.g. `inbound.received`, `plug.halted`, `backend.call`, `outbound.sent`. */
  kind: string;
  /** Who acted: a process (`worker`, `connector:telegram`), an identity (`telegram:42`) or `cli`. */
  actor: string;
  subject?: string;
  data?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  subject: string | null;
  /** JSON text exactly as stored: the hash covers these bytes. */
  data: string;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 over the previous hash and every stored field, serialized unambiguously. */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return chainedHash(e.prevHash, e.seq, chainTail(e));
}

/**
 * The hashed text after the chain's own fields: `JSON.stringify([prevHash, seq, at, kind, actor, subject, data])`
 * minus its start. It can be serialized before the write lock is taken; only the start waits for the chain's head.
 */
export const chainTail = (e: Pick<AuditEntry, 'at' | 'kind' | 'actor' | 'subject' | 'data'>): string =>
  JSON.stringify([e.at, e.kind, e.actor, e.subject, e.data]).slice(1);

export const chainedHash = (prevHash: string, seq: number, tail: string): string =>
  createHash('sha256').update(`[${JSON.stringify(prevHash)},${seq},${tail}`).digest('hex');

export type VerifyResult =
  | { ok: true; entries: number; head: string; headSeq: number }
  | { ok: false; entries: number; badSeq: number; reason: string };

/**
 * An entry recorded earlier outside the database (`seq:hash`, as `audit verify` prints its head). A chain checks
 * its own links only: whoever can write the file can cut entries off its end and leave a valid chain. The recorded
 * entry must still be there, unchanged.
 */
export interface RecordedEntry {
  seq: number;
  hash: string;
}

/** Walks entries in order; the first whose link or hash does not hold is named. */
export function verifyChain(entries: Iterable<AuditEntry>, recorded?: RecordedEntry): VerifyResult {
  let prev = GENESIS_HASH;
  let expectedSeq: number | undefined;
  let count = 0;
  for (const e of entries) {
    if (expectedSeq !== undefined && e.seq !== expectedSeq) {
      return { ok: false, entries: count, badSeq: expectedSeq, reason: `entry ${expectedSeq} is missing` };
    }
    if (e.prevHash !== prev) return { ok: false, entries: count, badSeq: e.seq, reason: 'does not link to the entry before it' };
    if (entryHash(e) !== e.hash) return { ok: false, entries: count, badSeq: e.seq, reason: 'content does not match its hash' };
    if (e.seq === recorded?.seq && e.hash !== recorded.hash) {
      return { ok: false, entries: count, badSeq: e.seq, reason: 'is not the entry recorded earlier: the chain was rewritten at or before it' };
    }
    prev = e.hash;
    expectedSeq = e.seq + 1;
    count++;
  }
  const headSeq = (expectedSeq ?? 1) - 1;
  if (recorded && recorded.seq > headSeq) {
    return { ok: false, entries: count, badSeq: recorded.seq, reason: `is missing: the log ends at entry ${headSeq}, so entries were cut off its end` };
  }
  return { ok: true, entries: count, head: prev, headSeq };
}
