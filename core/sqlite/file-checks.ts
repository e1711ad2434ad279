import type { Db } from '../db.js';

/** What `doctor` asks of the database file itself, beyond opening and migrating it. */
export class DatabaseFileChecks {
  constructor(private readonly db: Db) {}

  /**
   * What SQLite finds damaged in the file (PRAGMA quick_check: every page and row format, not index contents), or
   * nothing. Damage the header does not show opens and migrates as if all were well, and fails later, in `start`.
   */
  async integrityProblems(): Promise<string[]> {
    try {
      const found = this.db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>;
      return found.map((r) => r.quick_check).filter((r) => r !== 'ok');
    } catch (error) {
      return [(error as Error).message];
    }
  }

  /**
   * Takes the write lock and writes, then rolls back: throws when another process holds the lock past `waitMs`, or
   * the file cannot be written (read-only). Nothing is kept.
   */
  async probeWrite(waitMs: number): Promise<void> {
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.round(waitMs))}`);
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      try {
        this.db.prepare("INSERT INTO heartbeats (role, host, pid, beat_at) VALUES ('doctor-probe', '', 0, 0)").run();
      } finally {
        this.db.prepare('ROLLBACK').run();
      }
    } finally {
      this.db.pragma('busy_timeout = 10000');
    }
  }
}
