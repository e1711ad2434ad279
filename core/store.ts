import type { AuditEntry, AuditInput, RecordedEntry, VerifyResult } from './audit.js';
import type { AssistantConfig } from './config.js';
import type { ChannelEvent, Reply } from './event.js';
import type { HopCommit } from './queue.js';

/**
 * The gateway's persistent state behind one narrow, asynchronous interface. SQLite implements it today; a
 * PostgreSQL store can follow without touching a caller, which is why every method returns a Promise even where
 * better-sqlite3 is synchronous, and why no SQL lives outside the store's own module.
 */
/** The workspace a conversation joins when first seen, until it is moved. */
export const DEFAULT_WORKSPACE = 'default';

export interface Channel {
  id: number;
  platform: string;
  conversationId: string;
  kind: 'dm' | 'group' | 'channel';
  workspaceId: string;
}

export interface Session {
  id: number;
  channelId: number;
  workspaceId: string;
  scope: string;
}

export interface HistoryEntry {
  role: 'user' | 'assistant';
  text: string;
  at: string;
}

/** A reply waiting in, or already handed to, an outbound queue. */
export interface QueuedReply {
  queue: string;
  partition: string;
  reply: Reply;
}

/** Everything one handled event changes, committed atomically with its dedupe mark. */
export interface TurnRecord {
  dedupeKey: string;
  eventId: string;
  sessionId?: number;
  /**
   * `format` of an assistant's message: how the dashboard shows it (markdown rendered); plain when left out. `at`:
   * when it was said (the user's message, when the connector took it); the commit's time when left out.
   */
  history: Array<{ role: HistoryEntry['role']; text: string; format?: 'plain' | 'markdown'; at?: string }>;
  audit: AuditInput[];
  replies: QueuedReply[];
  /** Backend usage charged to a workspace on the day of the turn. */
  usage?: { workspaceId: string; inputTokens: number; outputTokens: number; costUsd: number };
}

export interface UsageTotals {
  tokens: number;
  costUsd: number;
}

/** A turn asking the budget to start: which workspace, which UTC day and month (YYYY-MM-DD) it counts in. */
export interface BudgetHold {
  eventId: string;
  workspaceId: string;
  day: string;
  month: string;
  /** When the hold stops counting if the turn never commits (a crashed worker). */
  expiresAt: string;
}

/** What the budget sees when a turn asks: spent so far, held by turns running now, and an average turn's cost. */
export interface BudgetView {
  day: UsageTotals;
  month: UsageTotals;
  held: UsageTotals;
  perTurn: UsageTotals;
}

export type SendState = 'new' | 'sending' | 'sent';

export interface Store {
  migrate(): Promise<string[]>;
  /** The event's channel (created in the default workspace on first sight) and its open session for the event's scope. */
  /** A conversation seen for the first time joins `workspace` (created if new), else the default one. */
  ensureSession(event: ChannelEvent, workspace?: string): Promise<{ channel: Channel; session: Session }>;
  history(sessionId: number, limit: number): Promise<HistoryEntry[]>;
  /** Keeps a message that waits for `/fallback` consent in its session, replacing any earlier one. */
  setPendingFallback(sessionId: number, text: string, expiresAt: number): Promise<void>;
  /** The waiting message, removed as it is taken; undefined when none or expired. */
  takePendingFallback(sessionId: number, now: number): Promise<string | undefined>;
  /** Closes the event's open session (`/reset`): the next message starts a new one. False if none was open. */
  closeSession(event: ChannelEvent): Promise<boolean>;
  /** null when the event was never handled; otherwise the replies its turn produced (to re-enqueue idempotently). */
  handledTurn(dedupeKey: string): Promise<QueuedReply[] | null>;
  /**
   * A turn's commit, for its queue hop to make: it yields the replies to hand on, this turn's, or (with nothing of
   * this turn written) those of another delivery that committed the same event first. Joinable when the store writes
   * through the connection the embedded queue acknowledges on; a store elsewhere (PostgreSQL) offers `commit` alone.
   */
  turnCommit(turn: TurnRecord): HopCommit<QueuedReply[]>;
  /**
   * Marks an event handled with no replies, with `audit`, unless its turn committed first (then false): a surface
   * that already answered its caller (shutdown, timeout) must not have the turn run later for nobody.
   */
  abandonTurn(dedupeKey: string, eventId: string, audit: AuditInput[]): Promise<boolean>;
  appendAudit(entries: AuditInput[]): Promise<void>;
  /** A workspace's usage from `fromDay` (YYYY-MM-DD, UTC) on. */
  usageSince(workspaceId: string, fromDay: string): Promise<UsageTotals>;
  /**
   * In one step: shows `admit` the workspace's budget; when it admits (returns no refusal), the turn holds an
   * average turn's cost until it commits, so turns running at once count against the budget before they report.
   * Returns the refusal.
   */
  holdBudget(hold: BudgetHold, admit: (view: BudgetView) => string | undefined): Promise<string | undefined>;
  /** The workspace the conversation's channel is in now (moved in the dashboard or not); undefined before it is seen. */
  channelWorkspace(event: Pick<ChannelEvent, 'platform' | 'conversation'>): Promise<string | undefined>;
  auditTail(limit: number): Promise<AuditEntry[]>;
  /** Walks the hash chain; `recorded`, an entry noted earlier, must still be in it unchanged. */
  verifyAudit(recorded?: RecordedEntry): Promise<VerifyResult>;
  /** Records the intent to send; reports 'sent' when an earlier attempt already completed. */
  beginSend(idempotencyKey: string, platform: string): Promise<SendState>;
  /** Removes an unfinished intent: the platform refused the send, so nothing of it can have arrived. */
  withdrawSend(idempotencyKey: string): Promise<void>;
  /** Records the platform's ids, and the audit entries of the send, in one transaction. */
  completeSend(idempotencyKey: string, platformMessageIds: string[], audit?: AuditInput[]): Promise<void>;
  /** The platform's ids of a completed send; undefined while it is not (or never was) sent. */
  sentMessageIds(idempotencyKey: string): Promise<string[] | undefined>;
  /** The key prefix of this data dir's queues on Redis: its own, so gateways sharing a Redis keep apart. */
  queuePrefix(): Promise<string>;
  /** A connector's own durable state (offsets, cursors), as JSON-serializable values. */
  getConnectorState(connector: string, key: string): Promise<unknown>;
  setConnectorState(connector: string, key: string, value: unknown): Promise<void>;
  listConnectorState(connector: string, keyPrefix: string): Promise<Array<{ key: string; value: unknown; updatedAt: string }>>;
  deleteConnectorState(connector: string, keys: string[]): Promise<void>;
  upsertAssistants(assistants: Record<string, AssistantConfig>): Promise<void>;
  heartbeat(role: string): Promise<void>;
  /** Removes this process's heartbeat on a clean stop, so nobody waits on a worker that is gone. */
  endHeartbeat(role: string): Promise<void>;
  /** Processes of `role` that beat within `withinMs`. */
  liveProcesses(role: string, withinMs: number): Promise<number>;
  close(): Promise<void>;
}
