import { rowsInsert, type Db } from '../db.js';
import type { Redactor } from '../redactor.js';
import { chainedHash, chainTail, GENESIS_HASH, verifyChain, type AuditEntry, type AuditInput, type RecordedEntry, type VerifyResult } from '../audit.js';

/** The triggers of migration 001 that refuse UPDATE and DELETE on the log, as it wrote them. */
const AUDIT_GUARDS: Record<string, string> = {
  audit_log_no_update: "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
  audit_log_no_delete: "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
};
const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/** An audit entry ready for the chain: see `SqliteAuditLog.prepare`. */
export type PreparedEntry = Pick<AuditEntry, 'at' | 'kind' | 'actor' | 'subject' | 'data'> & { tail: string };

/** At most this many entries per INSERT (8 values each, far under SQLite's limit on bound values). */
const ROWS_PER_INSERT = 64;

/** An audit_log row as SQLite returns it. */
export interface AuditRow {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  subject: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export const toEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  at: r.at,
  kind: r.kind,
  actor: r.actor,
  subject: r.subject,
  data: r.data,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/** The hash-chained audit log in SQLite. Appends must run inside a write transaction so the chain never forks. */
export class SqliteAuditLog {
  private readonly head;
  /** A turn's entries go in one statement. */
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly redactor?: Redactor,
  ) {
    this.head = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.insert = rowsInsert(db, 'INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash)', 8);
  }

  /**
   * An entry with everything but its place in the chain worked out (redacted, serialized), so that the work done
   * inside the write lock every process shares is only the chain: head, hashes, insert.
   */
  prepare(entries: AuditInput[]): PreparedEntry[] {
    const at = new Date().toISOString();
    // Redacted before hashing: the chain covers exactly what is stored, and no secret is ever stored.
    const clean = (text: string) => (this.redactor ? this.redactor.redact(text) : text);
    return entries.map((input) => {
      const entry = {
        at,
        kind: input.kind,
        actor: clean(input.actor),
        subject: input.subject === undefined ? null : clean(input.subject),
        data: clean(JSON.stringify(input.data ?? {})),
      };
      return { ...entry, tail: chainTail(entry) };
    });
  }

  /** Call within a transaction (the caller's, or the one this opens). */
  appendInTransaction(entries: AuditInput[]): void {
    this.appendPrepared(this.prepare(entries));
  }

  /** `appendInTransaction` for entries prepared before the transaction. */
  appendPrepared(prepared: PreparedEntry[]): void {
    if (prepared.length === 0) return;
    const last = this.head.get() as { seq: number; hash: string } | undefined;
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const rows: unknown[][] = [];
    for (const e of prepared) {
      seq++;
      const hash = chainedHash(prevHash, seq, e.tail);
      rows.push([seq, e.at, e.kind, e.actor, e.subject, e.data, prevHash, hash]);
      prevHash = hash;
    }
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + ROWS_PER_INSERT);
      // Fails the transaction, and so the action it records, rather than leave an action off the record: a trigger
      // added to the file can make SQLite drop rows silently (RAISE(IGNORE)).
      const { changes } = this.insert(chunk.length).run(chunk.flat());
      if (changes !== chunk.length) throw new Error(`audit log: ${chunk.length - changes} of ${chunk.length} entries were not written (a trigger on audit_log keeps them out: see \`monkeyclaw audit verify\`)`);
    }
  }

  tail(limit: number): AuditEntry[] {
    const rows = this.db.prepare('SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?').all(limit) as AuditRow[];
    return rows.reverse().map(toEntry);
  }

  /**
   * Triggers on the log that are not as migration 001 left them, by someone who could write the file: append-only
   * guards gone or replaced by ones that let changes through, and triggers of their own (one that ignores chosen
   * inserts keeps entries out of the chain without breaking it). None, normally.
   */
  untrustedTriggers(): string[] {
    const rows = this.db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`).all() as Array<{ name: string; sql: string }>;
    const present = new Map(rows.map((r) => [r.name, oneLine(r.sql)]));
    const altered = Object.entries(AUDIT_GUARDS).filter(([name, sql]) => present.get(name) !== sql).map(([name]) => name);
    const added = rows.filter((r) => !(r.name in AUDIT_GUARDS)).map((r) => r.name);
    return [...altered, ...added];
  }

  verify(recorded?: RecordedEntry): VerifyResult {
    const rows = this.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<AuditRow>;
    return verifyChain((function* () {
      for (const r of rows) yield toEntry(r);
    })(), recorded);
  }
}
