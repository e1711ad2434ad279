import type { Approval, ApprovalStore } from '../approvals.js';
import type { AuditInput } from '../audit.js';
import type { Db, GroupCommit } from '../db.js';

interface Row {
  id: string;
  assistant: string;
  tool: string;
  summary: string;
  requester: string;
  event_id: string;
  status: Approval['status'];
  created_at: number;
  expires_at: number;
}
const toApproval = (r: Row): Approval => ({
  id: r.id,
  assistant: r.assistant,
  tool: r.tool,
  summary: r.summary,
  requester: r.requester,
  eventId: r.event_id,
  status: r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export class SqliteApprovalStore implements ApprovalStore {
  /** Writes go through `group`: a lock held by another process must not block a worker's event loop. */
  constructor(
    private readonly db: Db,
    private readonly group: GroupCommit,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  async create(a: Omit<Approval, 'status'>): Promise<void> {
    await this.group.run(() =>
      this.db
        .prepare('INSERT INTO approvals (id, assistant, tool, summary, requester, event_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(a.id, a.assistant, a.tool, a.summary, a.requester, a.eventId, a.createdAt, a.expiresAt),
    );
  }

  async get(id: string): Promise<Approval | undefined> {
    const row = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as Row | undefined;
    return row && toApproval(row);
  }

  async pending(now: number): Promise<Approval[]> {
    return (this.db.prepare(`SELECT * FROM approvals WHERE status = 'pending' AND expires_at > ? ORDER BY created_at`).all(now) as Row[]).map(toApproval);
  }

  async decide(id: string, decision: 'approved' | 'rejected', by: string, now: number, audit: AuditInput[]): Promise<boolean> {
    return this.group.run(() => {
      const decided =
        this.db
          .prepare(`UPDATE approvals SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?`)
          .run(decision, by, now, id, now).changes > 0;
      if (decided) this.appendAudit(audit);
      return decided;
    });
  }

  async supersede(eventId: string, now: number): Promise<string[]> {
    return this.group.run(() => {
      const ids = this.db.prepare(`SELECT id FROM approvals WHERE event_id = ? AND status = 'pending'`).pluck().all(eventId) as string[];
      this.db.prepare(`UPDATE approvals SET status = 'expired', decided_at = ? WHERE event_id = ? AND status = 'pending'`).run(now, eventId);
      return ids;
    });
  }

  async expire(id: string, now: number): Promise<void> {
    await this.group.run(() => this.db.prepare(`UPDATE approvals SET status = 'expired', decided_at = ? WHERE id = ? AND status = 'pending'`).run(now, id));
  }
}
