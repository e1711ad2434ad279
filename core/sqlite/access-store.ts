import type { Statement } from 'better-sqlite3';
import type { AccessStore, DecideResult, OverrideAction, PairingLimits, PairingOutcome, PairingRequest } from '../access.js';
import { newPairingCode } from '../access.js';
import type { AuditInput } from '../audit.js';
import type { Db, GroupCommit } from '../db.js';

interface RequestRow {
  code: string;
  platform: string;
  account: string;
  sender_id: string;
  name: string;
  created_at: number;
  expires_at: number;
  status: string;
}

const toRequest = (r: RequestRow): PairingRequest => ({
  code: r.code,
  identity: `${r.platform}:${r.sender_id}`,
  account: r.account,
  name: r.name,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

/** Access overrides and pairing requests in SQLite, shared by every worker on the file. */
export class SqliteAccessStore implements AccessStore {
  private overrideQuery?: Statement;

  /** Writes go through `group`: a lock held by another process must not block a worker's event loop. */
  constructor(
    private readonly db: Db,
    private readonly group: GroupCommit,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  async overrides(identities: string[]): Promise<Map<string, OverrideAction>> {
    // Asked on every message, for several identities: one statement for all of them, prepared once on first use
    // (the table exists only once migrations ran).
    const query = (this.overrideQuery ??= this.db.prepare(
      'SELECT identity, action FROM access_overrides WHERE identity IN (SELECT value FROM json_each(?))',
    ));
    const rows = query.all(JSON.stringify(identities)) as Array<{ identity: string; action: OverrideAction }>;
    return new Map(rows.map((r) => [r.identity, r.action]));
  }

  async allOverrides() {
    return this.db.prepare('SELECT identity, action, source, updated_at AS updatedAt FROM access_overrides ORDER BY identity').all() as Array<{
      identity: string; action: OverrideAction; source: string; updatedAt: string;
    }>;
  }

  async setOverride(identity: string, action: OverrideAction, source: string, audit: AuditInput[]): Promise<void> {
    await this.group.run(() => {
      this.writeOverride(identity, action, source);
      this.appendAudit(audit);
      // An allow answers the person's open pairing request: it no longer holds a pending slot, and a later
      // `pair deny` of its code cannot block someone just allowed.
      if (action !== 'allow') return;
      const at = identity.indexOf(':');
      this.db
        .prepare(`UPDATE pairing_requests SET status = 'approved', decided_at = ? WHERE platform = ? AND sender_id = ? AND status = 'pending'`)
        .run(Date.now(), identity.slice(0, at), identity.slice(at + 1));
    });
  }

  private writeOverride(identity: string, action: OverrideAction, source: string): void {
    this.db
      .prepare(`INSERT INTO access_overrides (identity, action, source, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (identity) DO UPDATE SET action = excluded.action, source = excluded.source, updated_at = excluded.updated_at`)
      .run(identity, action, source, new Date().toISOString());
  }

  async requestPairing(input: Parameters<AccessStore['requestPairing']>[0], limits: PairingLimits): Promise<PairingOutcome> {
    const { platform, account, senderId, name, now } = input;
    // One person, one code an hour, under whichever of their ids (a WhatsApp number and its LID) they wrote.
    const ids = [senderId, ...(input.aliases ?? [])];
    return this.group.run((): PairingOutcome => {
      const recent = this.db
        .prepare(`SELECT 1 FROM pairing_requests WHERE platform = ? AND sender_id IN (${ids.map(() => '?').join(', ')}) AND created_at > ?`)
        .get(platform, ...ids, now - limits.ttlMs);
      if (recent) return { kind: 'suppressed', reason: 'recent-code' };
      const pending = this.db
        .prepare(`SELECT COUNT(*) FROM pairing_requests WHERE platform = ? AND account = ? AND status = 'pending' AND expires_at > ?`)
        .pluck()
        .get(platform, account, now) as number;
      if (pending >= limits.maxPending) return { kind: 'suppressed', reason: 'too-many-pending' };
      const insert = this.db.prepare(`INSERT INTO pairing_requests (code, platform, account, sender_id, name, created_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING`);
      for (;;) {
        const code = newPairingCode();
        if (insert.run(code, platform, account, senderId, name, now, now + limits.ttlMs).changes === 1) {
          return { kind: 'issued', request: { code, identity: `${platform}:${senderId}`, account, name, createdAt: now, expiresAt: now + limits.ttlMs } };
        }
      }
    });
  }

  async pendingPairings(now: number): Promise<PairingRequest[]> {
    const rows = this.db
      .prepare(`SELECT * FROM pairing_requests WHERE status = 'pending' AND expires_at > ? ORDER BY created_at`)
      .all(now) as RequestRow[];
    return rows.map(toRequest);
  }

  async decidePairing(code: string, decision: 'approved' | 'denied', now: number, audit: (identity: string) => AuditInput[]): Promise<DecideResult> {
    return this.group.run((): DecideResult => {
      const row = this.db.prepare('SELECT * FROM pairing_requests WHERE code = ?').get(code) as RequestRow | undefined;
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.status !== 'pending') return { ok: false, reason: 'decided' };
      if (row.expires_at <= now) return { ok: false, reason: 'expired' };
      this.db.prepare('UPDATE pairing_requests SET status = ?, decided_at = ? WHERE code = ?').run(decision, now, code);
      const identity = `${row.platform}:${row.sender_id}`;
      this.writeOverride(identity, decision === 'approved' ? 'allow' : 'deny', 'pairing');
      this.appendAudit(audit(identity));
      return { ok: true, identity };
    });
  }
}
