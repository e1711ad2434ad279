import { toEntry, type AuditRow } from './audit-log.js';
import type { AuditEntry, AuditInput } from '../audit.js';
import { write, type Db } from '../db.js';
import type { Channel } from '../store.js';

export interface ChannelSummary extends Channel {
  createdAt: string;
  messages: number;
  lastAt: string | null;
}

export interface ChannelMessage {
  role: 'user' | 'assistant';
  text: string;
  format: 'plain' | 'markdown';
  at: string;
  scope: string;
  workspaceId: string;
}

/**
 * One audited message for the overview's counters: `platform` is where it came from or went to, `subject` the
 * event it belongs to, and `receivedAt` (inbound only) when its connector received it.
 */
export interface TrafficRow {
  seq: number;
  kind: 'inbound.received' | 'outbound.sent';
  at: string;
  platform: string;
  subject: string | null;
  receivedAt: string | null;
}

/** A supervised process's latest crash or failure to start, as the supervisor audited it. */
export interface ProcessErrorRow {
  seq: number;
  at: string;
  kind: 'process.crashed' | 'process.failed_to_start';
  subject: string;
  data: string;
}

export const WORKSPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const TRAFFIC = `kind IN ('inbound.received', 'outbound.sent')`;
/** inbound.received is acted by `platform:sender`; outbound.sent names its `platform:conversation` in data. */
const TRAFFIC_PLATFORM = `CASE kind WHEN 'inbound.received' THEN substr(actor, 1, instr(actor, ':') - 1)
  ELSE substr(json_extract(data, '$.conversation'), 1, instr(json_extract(data, '$.conversation'), ':') - 1) END`;

const PROCESS_ERRORS = `kind IN ('process.crashed', 'process.failed_to_start') AND subject IS NOT NULL`;
const TRAFFIC_SELECT = `SELECT seq, kind, at, ${TRAFFIC_PLATFORM} AS platform, subject,
  CASE kind WHEN 'inbound.received' THEN json_extract(data, '$.receivedAt') END AS receivedAt FROM audit_log`;

const CHANNEL_SELECT = `SELECT c.id, c.platform, c.conversation_id AS conversationId, c.kind, c.workspace_id AS workspaceId,
    c.created_at AS createdAt,
    (SELECT COUNT(*) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.channel_id = c.id) AS messages,
    (SELECT MAX(m.created_at) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.channel_id = c.id) AS lastAt
  FROM channels c`;

/** What the dashboard reads (and the one move it makes) that the Store interface has no verb for. */
export class SqliteDashboardQueries {
  constructor(
    private readonly db: Db,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  async channels(limit = 500): Promise<ChannelSummary[]> {
    return this.db.prepare(`${CHANNEL_SELECT} ORDER BY c.platform, c.conversation_id LIMIT ?`).all(limit) as ChannelSummary[];
  }

  async channel(id: number): Promise<ChannelSummary | undefined> {
    return this.db.prepare(`${CHANNEL_SELECT} WHERE c.id = ?`).get(id) as ChannelSummary | undefined;
  }

  async channelByConversation(platform: string, conversationId: string): Promise<number | undefined> {
    return this.db.prepare('SELECT id FROM channels WHERE platform = ? AND conversation_id = ?').pluck().get(platform, conversationId) as number | undefined;
  }

  /** The latest `limit` messages of every session the channel has had, oldest first. */
  async channelHistory(channelId: number, limit = 200): Promise<ChannelMessage[]> {
    const rows = this.db
      .prepare(`SELECT m.role, m.text, m.format, m.created_at AS at, s.scope, s.workspace_id AS workspaceId
        FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.channel_id = ? ORDER BY m.id DESC LIMIT ?`)
      .all(channelId, limit) as ChannelMessage[];
    return rows.reverse();
  }

  async workspaces(): Promise<string[]> {
    return this.db.prepare('SELECT id FROM workspaces ORDER BY id').pluck().all() as string[];
  }

  /**
   * Binds a channel to another workspace (created when new). Its open sessions are closed, so the next message
   * starts a session in the new workspace: history never crosses workspaces.
   */
  /**
   * Moves a channel to a workspace (made when new), closing its open sessions; `audit` gives the entries of a move
   * that changed something, committed with it.
   */
  async moveChannel(
    channelId: number,
    workspace: string,
    audit: (moved: { from: string; to: string; created: boolean }) => AuditInput[] = () => [],
  ): Promise<{ from: string; to: string; created: boolean } | undefined> {
    if (!WORKSPACE_NAME.test(workspace)) throw new Error(`invalid workspace name "${workspace}"`);
    return write(this.db, () => {
      const from = this.db.prepare('SELECT workspace_id FROM channels WHERE id = ?').pluck().get(channelId) as string | undefined;
      if (from === undefined) return undefined;
      if (from === workspace) return { from, to: workspace, created: false };
      const at = new Date().toISOString();
      const created = this.db.prepare('INSERT INTO workspaces (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(workspace, at).changes === 1;
      this.db.prepare('UPDATE channels SET workspace_id = ? WHERE id = ?').run(workspace, channelId);
      this.db.prepare('UPDATE sessions SET closed_at = ? WHERE channel_id = ? AND closed_at IS NULL').run(at, channelId);
      const moved = { from, to: workspace, created };
      this.appendAudit(audit(moved));
      return moved;
    });
  }

  /** Deletes expired dashboard sessions (called at each login, so the table holds only live ones). */
  async pruneSessions(now: number): Promise<number> {
    return this.db.prepare('DELETE FROM web_sessions WHERE expires_at <= ?').run(now).changes;
  }

  /** Newest first; `kind` matches exactly or as a dotted prefix (`pairing` finds `pairing.approved`). */
  async auditPage(options: { kind?: string; before?: number; limit: number }): Promise<AuditEntry[]> {
    const kind = options.kind || null;
    const prefix = kind && `${kind.replace(/[\\%_]/g, (m) => `\\${m}`)}.%`;
    const rows = this.db
      .prepare(`SELECT * FROM audit_log WHERE (@kind IS NULL OR kind = @kind OR kind LIKE @prefix ESCAPE '\\')
        AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit`)
      .all({ kind, prefix, before: options.before ?? null, limit: options.limit }) as AuditRow[];
    return rows.map(toEntry);
  }

  /** The highest audit sequence number (0 when empty). */
  async auditHead(): Promise<number> {
    return (this.db.prepare('SELECT COALESCE(MAX(seq), 0) FROM audit_log').pluck().get() as number) ?? 0;
  }

  /** Totals of received and sent messages per platform up to `seq` (one scan, done once). */
  async trafficTotals(upToSeq: number): Promise<Array<{ kind: TrafficRow['kind']; platform: string; count: number }>> {
    return this.db
      .prepare(`SELECT kind, ${TRAFFIC_PLATFORM} AS platform, COUNT(*) AS count FROM audit_log WHERE ${TRAFFIC} AND seq <= ? GROUP BY 1, 2`)
      .all(upToSeq) as Array<{ kind: TrafficRow['kind']; platform: string; count: number }>;
  }

  /** Messages audited in (`afterSeq`, `upTo`] (a primary-key range: cheap to ask every second). */
  async trafficSince(afterSeq: number, options: { upTo: number; sinceAt?: string }): Promise<TrafficRow[]> {
    return this.db
      .prepare(`${TRAFFIC_SELECT} WHERE seq > ? AND seq <= ? AND ${TRAFFIC} AND at >= ? ORDER BY seq`)
      .all(afterSeq, options.upTo, options.sinceAt ?? '') as TrafficRow[];
  }

  /** Each process's latest crash or failure to start up to `seq` (one scan, done once). */
  async lastProcessErrors(upToSeq: number): Promise<ProcessErrorRow[]> {
    return this.db
      .prepare(`SELECT seq, at, kind, subject, data FROM audit_log WHERE seq IN
        (SELECT MAX(seq) FROM audit_log WHERE ${PROCESS_ERRORS} AND seq <= ? GROUP BY subject) ORDER BY seq`)
      .all(upToSeq) as ProcessErrorRow[];
  }

  /** Crashes and failures to start audited in (`afterSeq`, `upTo`]. */
  async processErrorsSince(afterSeq: number, upTo: number): Promise<ProcessErrorRow[]> {
    return this.db
      .prepare(`SELECT seq, at, kind, subject, data FROM audit_log WHERE seq > ? AND seq <= ? AND ${PROCESS_ERRORS} ORDER BY seq`)
      .all(afterSeq, upTo) as ProcessErrorRow[];
  }
}
