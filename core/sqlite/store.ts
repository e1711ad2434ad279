import { hostname } from 'node:os';
import type { AuditInput, RecordedEntry } from '../audit.js';
import type { AssistantConfig } from '../config.js';
import type { Statement } from 'better-sqlite3';
import { GroupCommit, migrate, openSharedDb, rowsInsert, type Db, type SharedDb } from '../db.js';
import { sessionScope, type ChannelEvent } from '../event.js';
import { progressKey } from '../part-progress.js';
import type { HopCommit } from '../queue.js';
import { DEFAULT_WORKSPACE, type BudgetHold, type BudgetView, type Channel, type HistoryEntry, type QueuedReply, type SendState, type Session, type Store, type TurnRecord, type UsageTotals } from '../store.js';
import { holdBudget } from './budget-holds.js';
import { SqliteAuditLog } from './audit-log.js';
import { SqliteVaultStore } from './vault-store.js';
import { SqliteAccessStore } from './access-store.js';
import { SqliteAuthStore } from './auth-store.js';
import { SqliteApprovalStore } from './approval-store.js';
import { SqliteDashboardQueries } from './dashboard-queries.js';
import { DatabaseFileChecks } from './file-checks.js';
import { SqliteSettingsStore } from './settings-store.js';
import type { Redactor } from '../redactor.js';

const now = () => new Date().toISOString();

/** Sessions whose recent turns are held in memory (least recently read dropped first). */
const RECENT_SESSIONS = 2_000;

/** The SQLite implementation of the Store: the only module that speaks SQL to the gateway's state. */
export class SqliteStore implements Store {
  private readonly connection: SharedDb;
  private readonly db: Db;
  /**
   * The writes of the message path and of running processes go through it: those of jobs running side by side share
   * one transaction per loop turn, and a lock held by another process delays them without blocking the event loop
   * (a connector's sockets go on). Admin writes (CLI, dashboard settings) take the lock directly.
   */
  private readonly group: GroupCommit;
  /** A turn's history (a user message and its reply) goes in one statement, not one each. */
  private readonly insertMessages;
  private auditLog?: SqliteAuditLog;

  private readonly statements = new Map<string, Statement>();
  /**
   * The last turns of recently active sessions. Messages are append-only, so a read asks SQLite only for rows newer
   * than those held (written by this process or any other), not for the whole window every message.
   */
  private readonly recent = new Map<number, { limit: number; lastId: number; entries: HistoryEntry[] }>();

  constructor(
    file: string,
    private readonly options: { redactor?: Redactor } = {},
  ) {
    this.connection = openSharedDb(file);
    this.db = this.connection.db;
    this.group = this.connection.group;
    this.insertMessages = rowsInsert(this.db, 'INSERT INTO messages (session_id, role, text, format, event_id, created_at)', 6);
  }

  /** Prepares each statement once: preparing cost more per message than running the statements. */
  private sql(text: string): Statement {
    let s = this.statements.get(text);
    if (!s) this.statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  /** For the stores below: an admin change and its audit entries commit in one transaction. */
  private readonly appendInTransaction = (entries: AuditInput[]): void => this.audit.appendInTransaction(entries);

  /** Tool calls waiting for an owner's approval live in this database too. */
  approvalStore(): SqliteApprovalStore {
    return new SqliteApprovalStore(this.db, this.group, this.appendInTransaction);
  }

  /** Dashboard password, API keys and web sessions live in this database too. */
  authStore(): SqliteAuthStore {
    return new SqliteAuthStore(this.db, this.appendInTransaction);
  }

  /** Run-time access changes and pairing requests live in this database too. */
  accessStore(): SqliteAccessStore {
    return new SqliteAccessStore(this.db, this.group, this.appendInTransaction);
  }

  /** What the dashboard lists (channels, history, audit pages) and the channel move it makes. */
  dashboardQueries(): SqliteDashboardQueries {
    return new SqliteDashboardQueries(this.db, this.appendInTransaction);
  }

  /** What `doctor` asks of the file itself: is it whole, can it be written now. */
  fileChecks(): DatabaseFileChecks {
    return new DatabaseFileChecks(this.db);
  }

  /** Assistants and workspaces as the dashboard set them; each change is committed with its audit entries. */
  settingsStore(): SqliteSettingsStore {
    return new SqliteSettingsStore(this.db, this.appendInTransaction);
  }

  /** The vault's rows live in this database too. */
  vaultStore(): SqliteVaultStore {
    return new SqliteVaultStore(this.db, this.appendInTransaction);
  }

  /** Prepared on first use: the table exists only once migrations ran. */
  private get audit(): SqliteAuditLog {
    return (this.auditLog ??= new SqliteAuditLog(this.db, this.options.redactor));
  }

  async migrate(): Promise<string[]> {
    return migrate(this.db);
  }

  async ensureSession(event: ChannelEvent, workspace = DEFAULT_WORKSPACE): Promise<{ channel: Channel; session: Session }> {
    // Nearly every message finds both already there: read first, and take the write lock only to create them.
    const { channel, session } = this.findSession(event) ?? {};
    return channel && session ? { channel, session } : this.group.run(() => this.createSession(event, workspace));
  }

  /** The conversation's channel, and its open session for the event's scope, in one read. */
  private findSession(event: ChannelEvent): { channel: Channel; session?: Session } | undefined {
    const scope = sessionScope(event);
    const c = this.sql(`SELECT c.id, c.platform, c.conversation_id, c.kind, c.workspace_id, s.id AS session_id FROM channels AS c
      LEFT JOIN sessions AS s ON s.channel_id = c.id AND s.scope = ? AND s.closed_at IS NULL
      WHERE c.platform = ? AND c.conversation_id = ?`).get(scope, event.platform, event.conversation.id) as
      | { id: number; platform: string; conversation_id: string; kind: Channel['kind']; workspace_id: string; session_id: number | null }
      | undefined;
    if (!c) return undefined;
    const channel: Channel = { id: c.id, platform: c.platform, conversationId: c.conversation_id, kind: c.kind, workspaceId: c.workspace_id };
    const session = c.session_id === null ? undefined : { id: c.session_id, channelId: channel.id, workspaceId: channel.workspaceId, scope };
    return { channel, session };
  }

  private createSession(event: ChannelEvent, workspace: string): { channel: Channel; session: Session } {
    const { platform, conversation } = event;
    if (workspace !== DEFAULT_WORKSPACE) this.sql('INSERT INTO workspaces (id) VALUES (?) ON CONFLICT DO NOTHING').run(workspace);
    this.sql(`INSERT INTO channels (platform, conversation_id, kind, workspace_id, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (platform, conversation_id) DO NOTHING`).run(platform, conversation.id, conversation.kind, workspace, now());
    // Inside the write lock: another process may have created either since the read outside it.
    const { channel, session } = this.findSession(event)!;
    if (session) return { channel, session };
    const scope = sessionScope(event);
    const id = this.sql('INSERT INTO sessions (channel_id, workspace_id, scope, created_at) VALUES (?, ?, ?, ?)').run(channel.id, channel.workspaceId, scope, now())
      .lastInsertRowid as number;
    return { channel, session: { id: Number(id), channelId: channel.id, workspaceId: channel.workspaceId, scope } };
  }

  async setPendingFallback(sessionId: number, text: string, expiresAt: number): Promise<void> {
    await this.group.run(() => this.sql('INSERT OR REPLACE INTO pending_fallbacks (session_id, text, expires_at) VALUES (?, ?, ?)').run(sessionId, text, expiresAt));
  }

  async takePendingFallback(sessionId: number, now: number): Promise<string | undefined> {
    return this.group.run(() => {
      const row = this.sql('SELECT text, expires_at FROM pending_fallbacks WHERE session_id = ?').get(sessionId) as { text: string; expires_at: number } | undefined;
      if (row) this.sql('DELETE FROM pending_fallbacks WHERE session_id = ?').run(sessionId);
      return row && row.expires_at > now ? row.text : undefined;
    });
  }

  async closeSession(event: ChannelEvent): Promise<boolean> {
    const result = await this.group.run(() =>
      this
        .sql(`UPDATE sessions SET closed_at = ? WHERE closed_at IS NULL AND scope = ?
          AND channel_id = (SELECT id FROM channels WHERE platform = ? AND conversation_id = ?)`)
        .run(now(), sessionScope(event), event.platform, event.conversation.id),
    );
    return result.changes > 0;
  }

  async history(sessionId: number, limit: number): Promise<HistoryEntry[]> {
    const held = this.recent.get(sessionId);
    const since = held && held.limit >= limit ? held.lastId : 0;
    const rows = (
      this
        .sql('SELECT id, role, text, created_at AS at FROM messages WHERE session_id = ? AND id > ? ORDER BY id DESC LIMIT ?')
        .all(sessionId, since, limit) as Array<HistoryEntry & { id: number }>
    ).reverse();
    const entries = [...(since > 0 ? held!.entries : []), ...rows.map(({ role, text, at }) => ({ role, text, at }))].slice(-limit);
    this.recent.delete(sessionId);
    this.recent.set(sessionId, { limit, lastId: rows.at(-1)?.id ?? since, entries });
    if (this.recent.size > RECENT_SESSIONS) this.recent.delete(this.recent.keys().next().value!);
    return [...entries];
  }

  async handledTurn(dedupeKey: string): Promise<QueuedReply[] | null> {
    return this.committedReplies(dedupeKey);
  }

  private committedReplies(dedupeKey: string): QueuedReply[] | null {
    const replies = this.sql('SELECT replies FROM processed_events WHERE dedupe_key = ?').pluck().get(dedupeKey) as string | undefined;
    return replies === undefined ? null : (JSON.parse(replies) as QueuedReply[]);
  }

  turnCommit(turn: TurnRecord): HopCommit<QueuedReply[]> {
    const replies = JSON.stringify(turn.replies.map(({ queue, partition, reply }) => ({ queue, partition, reply })));
    const audit = this.audit.prepare(turn.audit);
    const write = (): QueuedReply[] => {
      const at = now();
      const fresh = this
        .sql('INSERT INTO processed_events (dedupe_key, event_id, processed_at, replies) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(turn.dedupeKey, turn.eventId, at, replies);
      // What the backend call cost was spent, whether or not the turn is kept; what it held for that is let go.
      this.chargeUsage(turn.usage, at);
      this.sql('DELETE FROM budget_holds WHERE event_id = ?').run(turn.eventId);
      // Another delivery of the same platform message committed first, or a surface gave the turn up: its replies go
      // on, and nothing of ours but its cost, its audit (its backend call did happen) and a note that it was discarded.
      if (fresh.changes === 0) {
        const discarded = { kind: 'turn.discarded', actor: 'worker', subject: turn.eventId, data: { why: 'the event was already handled or given up' } };
        this.audit.appendPrepared([...audit, ...this.audit.prepare([discarded])]);
        return this.committedReplies(turn.dedupeKey) ?? [];
      }
      if (turn.sessionId !== undefined && turn.history.length > 0) {
        this.insertMessages(turn.history.length).run(turn.history.flatMap((h) => [turn.sessionId, h.role, h.text, h.format ?? 'plain', turn.eventId, h.at ?? at]));
      }
      this.audit.appendPrepared(audit);
      return turn.replies;
    };
    return { commit: () => this.group.run(write), joinable: { connection: this.db, write } };
  }

  /** Adds a turn's usage to its workspace's day. A turn that cost nothing (echo, refused before the backend) adds no row. */
  private chargeUsage(usage: TurnRecord['usage'], at: string): void {
    if (!usage || !(usage.inputTokens || usage.outputTokens || usage.costUsd)) return;
    this.sql(`INSERT INTO usage_daily (workspace_id, day, input_tokens, output_tokens, cost_usd, turns, turn_tokens, turn_cost_usd)
        VALUES (?, ?, ?, ?, ?, 1, ?, ?)
        ON CONFLICT (workspace_id, day) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
          output_tokens = output_tokens + excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd,
          turns = turns + 1, turn_tokens = turn_tokens + excluded.turn_tokens, turn_cost_usd = turn_cost_usd + excluded.turn_cost_usd`)
      .run(usage.workspaceId, at.slice(0, 10), usage.inputTokens, usage.outputTokens, usage.costUsd, usage.inputTokens + usage.outputTokens, usage.costUsd);
  }

  async abandonTurn(dedupeKey: string, eventId: string, audit: AuditInput[]): Promise<boolean> {
    const prepared = this.audit.prepare(audit);
    return this.group.run(() => {
      const marked = this.sql("INSERT INTO processed_events (dedupe_key, event_id, processed_at, replies) VALUES (?, ?, ?, '[]') ON CONFLICT DO NOTHING")
        .run(dedupeKey, eventId, now());
      if (marked.changes === 0) return false;
      // A tool call the turn was waiting on will never run: an owner must not be told they approved it.
      this.sql("UPDATE approvals SET status = 'expired', decided_at = ? WHERE event_id = ? AND status = 'pending'").run(now(), eventId);
      this.sql('DELETE FROM budget_holds WHERE event_id = ?').run(eventId);
      this.audit.appendPrepared(prepared);
      return true;
    });
  }

  async queuePrefix(): Promise<string> {
    return this.sql('SELECT queue_prefix FROM gateway_identity').pluck().get() as string;
  }

  async holdBudget(hold: BudgetHold, admit: (view: BudgetView) => string | undefined): Promise<string | undefined> {
    return this.group.run(() => holdBudget((text) => this.sql(text), hold, admit));
  }

  async channelWorkspace(event: Pick<ChannelEvent, 'platform' | 'conversation'>): Promise<string | undefined> {
    const row = this.sql('SELECT workspace_id FROM channels WHERE platform = ? AND conversation_id = ?').get(event.platform, event.conversation.id) as { workspace_id: string } | undefined;
    return row?.workspace_id;
  }

  async usageSince(workspaceId: string, fromDay: string): Promise<UsageTotals> {
    const row = this
      .sql('SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens, COALESCE(SUM(cost_usd), 0) AS costUsd FROM usage_daily WHERE workspace_id = ? AND day >= ?')
      .get(workspaceId, fromDay) as UsageTotals;
    return row;
  }

  async appendAudit(entries: AuditInput[]): Promise<void> {
    if (entries.length === 0) return;
    const prepared = this.audit.prepare(entries);
    await this.group.run(() => this.audit.appendPrepared(prepared));
  }

  async auditTail(limit: number) {
    return this.audit.tail(limit);
  }

  async verifyAudit(recorded?: RecordedEntry) {
    return this.audit.verify(recorded);
  }

  async untrustedAuditTriggers(): Promise<string[]> {
    return this.audit.untrustedTriggers();
  }

  async beginSend(idempotencyKey: string, platform: string): Promise<SendState> {
    const state = (key: string) => this.sql('SELECT state FROM sent_messages WHERE idempotency_key = ?').pluck().get(key) as SendState | undefined;
    // A redelivered job finds its record without taking the write lock.
    const known = state(idempotencyKey);
    if (known) return known;
    return this.group.run((): SendState => {
      const inserted = this
        .sql(`INSERT INTO sent_messages (idempotency_key, platform, state, updated_at) VALUES (?, ?, 'sending', ?) ON CONFLICT DO NOTHING`)
        .run(idempotencyKey, platform, now());
      return inserted.changes === 1 ? 'new' : state(idempotencyKey)!;
    });
  }

  async withdrawSend(idempotencyKey: string): Promise<void> {
    await this.group.run(() => this.sql(`DELETE FROM sent_messages WHERE idempotency_key = ? AND state = 'sending'`).run(idempotencyKey));
  }

  async completeSend(idempotencyKey: string, platformMessageIds: string[], entries: AuditInput[] = []): Promise<void> {
    const audit = this.audit.prepare(entries);
    await this.group.run(() => {
      this.sql(`UPDATE sent_messages SET state = 'sent', platform_message_ids = ?, updated_at = ? WHERE idempotency_key = ?`).run(
        JSON.stringify(platformMessageIds),
        now(),
        idempotencyKey,
      );
      // A reply of several parts kept its progress for a retry; with the record complete, none will come.
      if (platformMessageIds.length > 1) this.sql('DELETE FROM connector_state WHERE key = ?').run(progressKey(idempotencyKey));
      this.audit.appendPrepared(audit);
    });
  }

  async sentMessageIds(idempotencyKey: string): Promise<string[] | undefined> {
    const ids = this.sql(`SELECT platform_message_ids FROM sent_messages WHERE idempotency_key = ? AND state = 'sent'`).pluck().get(idempotencyKey) as
      | string
      | undefined;
    return ids === undefined ? undefined : (JSON.parse(ids) as string[]);
  }

  async getConnectorState(connector: string, key: string): Promise<unknown> {
    const v = this.sql('SELECT value FROM connector_state WHERE connector = ? AND key = ?').pluck().get(connector, key) as string | undefined;
    return v === undefined ? undefined : (JSON.parse(v) as unknown);
  }

  async setConnectorState(connector: string, key: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    await this.group.run(() =>
      this
        .sql(`INSERT INTO connector_state (connector, key, value, updated_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`)
        .run(connector, key, json, now()),
    );
  }

  async deleteConnectorState(connector: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const remove = this.sql('DELETE FROM connector_state WHERE connector = ? AND key = ?');
    await this.group.run(() => {
      for (const key of keys) remove.run(connector, key);
    });
  }

  async connectorsWithState(): Promise<string[]> {
    return this.sql('SELECT DISTINCT connector FROM connector_state ORDER BY connector').pluck().all() as string[];
  }

  async listConnectorState(connector: string, keyPrefix: string) {
    const rows = this
      .sql(`SELECT key, value, updated_at AS updatedAt FROM connector_state WHERE connector = ? AND substr(key, 1, ?) = ? ORDER BY key`)
      .all(connector, keyPrefix.length, keyPrefix) as Array<{ key: string; value: string; updatedAt: string }>;
    return rows.map((r) => ({ key: r.key, value: JSON.parse(r.value) as unknown, updatedAt: r.updatedAt }));
  }

  async upsertAssistants(assistants: Record<string, AssistantConfig>): Promise<void> {
    const upsert = this.sql(`INSERT INTO assistants (name, system_prompt, backends, model, pipelines, updated_at)
      VALUES (@name, @systemPrompt, @backends, @model, @pipelines, @at)
      ON CONFLICT (name) DO UPDATE SET system_prompt = excluded.system_prompt, backends = excluded.backends,
        model = excluded.model, pipelines = excluded.pipelines, updated_at = excluded.updated_at`);
    await this.group.run(() => {
      for (const [name, a] of Object.entries(assistants)) {
        upsert.run({
          name,
          systemPrompt: a.systemPrompt,
          backends: JSON.stringify([a.backend].flat()),
          model: a.model ?? null,
          pipelines: JSON.stringify(a.pipelines),
          at: now(),
        });
      }
    });
  }

  async heartbeat(role: string): Promise<void> {
    const at = Date.now();
    await this.group.run(() => this.sql('INSERT OR REPLACE INTO heartbeats (role, host, pid, beat_at) VALUES (?, ?, ?, ?)').run(role, hostname(), process.pid, at));
  }

  async endHeartbeat(role: string): Promise<void> {
    await this.group.run(() => this.sql('DELETE FROM heartbeats WHERE role = ? AND host = ? AND pid = ?').run(role, hostname(), process.pid));
  }

  async liveProcesses(role: string, withinMs: number): Promise<number> {
    return this
      .sql('SELECT COUNT(*) FROM heartbeats WHERE role = ? AND beat_at >= ?')
      .pluck()
      .get(role, Date.now() - withinMs) as number;
  }

  async close(): Promise<void> {
    this.connection.release();
  }
}
