import { API_KEY, digestEquals, sha256, type ApiKeyRecord, type AuthStore, type WebSession } from '../auth.js';
import type { AuditInput } from '../audit.js';
import { write, type Db } from '../db.js';

interface KeyRow {
  id: string;
  name: string;
  assistant: string | null;
  key_hash: string;
  created_at: string;
  revoked_at: string | null;
}
const toRecord = (r: KeyRow): ApiKeyRecord => ({ id: r.id, name: r.name, assistant: r.assistant, createdAt: r.created_at, revokedAt: r.revoked_at });

export class SqliteAuthStore implements AuthStore {
  constructor(
    private readonly db: Db,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  async adminPasswordHash(): Promise<string | undefined> {
    return this.db.prepare('SELECT password_hash FROM admin_credentials WHERE id = 1').pluck().get() as string | undefined;
  }

  async setAdminPasswordHash(hash: string, audit: AuditInput[]): Promise<void> {
    const set = this.db.prepare(`INSERT INTO admin_credentials (id, password_hash, updated_at) VALUES (1, ?, ?)
        ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`);
    const endSessions = this.db.prepare('DELETE FROM web_sessions');
    write(this.db, () => {
      set.run(hash, new Date().toISOString());
      // A new password ends every existing dashboard session.
      endSessions.run();
      this.appendAudit(audit);
    });
  }

  async createApiKey(r: { id: string; name: string; assistant: string | null; hash: string }, audit: AuditInput[]): Promise<void> {
    const insert = this.db.prepare('INSERT INTO api_keys (id, name, assistant, key_hash, created_at) VALUES (?, ?, ?, ?, ?)');
    write(this.db, () => {
      insert.run(r.id, r.name, r.assistant, r.hash, new Date().toISOString());
      this.appendAudit(audit);
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (this.db.prepare('SELECT * FROM api_keys ORDER BY created_at').all() as KeyRow[]).map(toRecord);
  }

  async findApiKey(key: string): Promise<ApiKeyRecord | undefined> {
    const id = API_KEY.exec(key)?.[1];
    if (!id) return undefined;
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL').get(id) as KeyRow | undefined;
    return row && digestEquals(row.key_hash, sha256(key)) ? toRecord(row) : undefined;
  }

  async revokeApiKey(id: string, audit: AuditInput[]): Promise<boolean> {
    const revoke = this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    return write(this.db, () => {
      const revoked = revoke.run(new Date().toISOString(), id).changes > 0;
      if (revoked) this.appendAudit(audit);
      return revoked;
    });
  }

  async createSession(idHash: string, s: WebSession): Promise<void> {
    this.db.prepare('INSERT INTO web_sessions (id_hash, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?)').run(idHash, s.csrfToken, Date.now(), s.expiresAt);
  }

  async findSession(idHash: string, now: number): Promise<WebSession | undefined> {
    const row = this.db.prepare('SELECT csrf_token, expires_at FROM web_sessions WHERE id_hash = ? AND expires_at > ?').get(idHash, now) as
      | { csrf_token: string; expires_at: number }
      | undefined;
    return row && { csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  async deleteSession(idHash: string): Promise<void> {
    this.db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(idHash);
  }
}
