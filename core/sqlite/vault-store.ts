import type { AuditInput } from '../audit.js';
import { write, type Db } from '../db.js';
import type { SealedSecret, VaultStore } from '../vault.js';

/**
 * The vault's rows in SQLite; rotation replaces every row and the key check in one transaction. Every change
 * commits in one transaction with its audit entries.
 */
export class SqliteVaultStore implements VaultStore {
  constructor(
    private readonly db: Db,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  async keyCheck(): Promise<{ nonce: Buffer; sealed: Buffer } | undefined> {
    const row = this.db.prepare('SELECT nonce, key_check FROM vault_meta WHERE id = 1').get() as { nonce: Buffer; key_check: Buffer } | undefined;
    return row && { nonce: row.nonce, sealed: row.key_check };
  }

  async setKeyCheck(nonce: Buffer, sealed: Buffer): Promise<void> {
    this.writeKeyCheck(nonce, sealed);
  }

  private writeKeyCheck(nonce: Buffer, sealed: Buffer): void {
    this.db
      .prepare(`INSERT INTO vault_meta (id, nonce, key_check, rotated_at) VALUES (1, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET nonce = excluded.nonce, key_check = excluded.key_check, rotated_at = excluded.rotated_at`)
      .run(nonce, sealed, new Date().toISOString());
  }

  async get(name: string): Promise<SealedSecret | undefined> {
    return this.db.prepare('SELECT name, nonce, ciphertext, created_at AS createdAt, updated_at AS updatedAt FROM secrets WHERE name = ?').get(name) as SealedSecret | undefined;
  }

  async put(name: string, nonce: Buffer, ciphertext: Buffer, audit: AuditInput[]): Promise<void> {
    const now = new Date().toISOString();
    const upsert = this.db.prepare(`INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`);
    write(this.db, () => {
      upsert.run(name, nonce, ciphertext, now, now);
      this.appendAudit(audit);
    });
  }

  async remove(name: string, audit: AuditInput[]): Promise<boolean> {
    const remove = this.db.prepare('DELETE FROM secrets WHERE name = ?');
    return write(this.db, () => {
      const removed = remove.run(name).changes > 0;
      if (removed) this.appendAudit(audit);
      return removed;
    });
  }

  async all(): Promise<SealedSecret[]> {
    return this.db.prepare('SELECT name, nonce, ciphertext, created_at AS createdAt, updated_at AS updatedAt FROM secrets ORDER BY name').all() as SealedSecret[];
  }

  async replaceAll(rows: Array<{ name: string; nonce: Buffer; ciphertext: Buffer }>, check: { nonce: Buffer; sealed: Buffer }, audit: AuditInput[]): Promise<void> {
    const update = this.db.prepare('UPDATE secrets SET nonce = ?, ciphertext = ? WHERE name = ?');
    write(this.db, () => {
      for (const r of rows) update.run(r.nonce, r.ciphertext, r.name);
      this.writeKeyCheck(check.nonce, check.sealed);
      this.appendAudit(audit);
    });
  }
}
