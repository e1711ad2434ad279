import { write, type Db } from '../db.js';
import type { SealedSecret, VaultStore } from '../vault.js';

/** The vault's rows in SQLite; rotation replaces every row and the key check in one transaction. */
export class SqliteVaultStore implements VaultStore {
  constructor(private readonly db: Db) {}

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

  async put(name: string, nonce: Buffer, ciphertext: Buffer): Promise<void> {
    const now = new Date().toISOString();
    this.db
      .prepare(`INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`)
      .run(name, nonce, ciphertext, now, now);
  }

  async remove(name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM secrets WHERE name = ?').run(name).changes > 0;
  }

  async all(): Promise<SealedSecret[]> {
    return this.db.prepare('SELECT name, nonce, ciphertext, created_at AS createdAt, updated_at AS updatedAt FROM secrets ORDER BY name').all() as SealedSecret[];
  }

  async replaceAll(rows: Array<{ name: string; nonce: Buffer; ciphertext: Buffer }>, check: { nonce: Buffer; sealed: Buffer }): Promise<void> {
    const update = this.db.prepare('UPDATE secrets SET nonce = ?, ciphertext = ? WHERE name = ?');
    write(this.db, () => {
      for (const r of rows) update.run(r.nonce, r.ciphertext, r.name);
      this.writeKeyCheck(check.nonce, check.sealed);
    });
  }
}
