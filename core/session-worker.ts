import { randomUUID } from 'node:crypto';
import { APPROVAL_COMMAND } from './approvals.js';
import type { AuditInput } from './audit.js';
import type { Config } from './config.js';
import { dedupeKey, InvalidPayloadError, outboundQueue, parseChannelEvent, senderIdentities, type Address, type ChannelEvent, type Reply } from './event.js';
import { mapCommit, UnrecoverableJobError, type HopNext, type JobHandler, type JobInput } from './queue.js';
import type { Redactor } from './redactor.js';
import type { QueuedReply, Store } from './store.js';
import { talk, type TalkDeps } from './talk.js';

export const INBOUND_QUEUE = 'inbound';

/** How often a running turn looks whether it was given up meanwhile (one primary-key read). */
const GIVEN_UP_CHECK_MS = 1_000;

export interface WorkerDeps extends Omit<TalkDeps, 'drafts'> {
  store: TalkDeps['store'] & Pick<Store, 'handledTurn' | 'turnCommit' | 'appendAudit'>;
  /** Streamed replies, for events whose connector shows them growing (`streamEdits`). */
  streaming?: {
    /** The edit interval for this event's connector; undefined: its replies are sent finished. */
    intervalFor(event: ChannelEvent): number | undefined;
    /** The message limit of this event's connector, past which drafts stop; undefined for none. */
    limitFor?(event: ChannelEvent): number | undefined;
    /** Queues a draft at once, outside the turn's commit: drafts are shown, never kept or redelivered. */
    enqueue(queue: string, job: JobInput): Promise<void>;
    onError(error: unknown): void;
  };
  /**
   * Masks what must never be shown (the process's secrets, credential shapes) in the turn's replies, drafts and
   * history: a backend that prints a key from its environment has it stored and sent as `[secret]`.
   */
  redactor?: Pick<Redactor, 'redact' | 'redactGrowing'>;
}

/**
 * Conversations are the unit of order: all of one conversation's events share a partition. Keyed as channels are
 * (platform and conversation, not the connector account): two terminal chats are two loopback accounts on one
 * conversation and one session, and a turn of one must never overtake a turn of the other.
 */
export const conversationPartition = (e: Pick<ChannelEvent, 'platform' | 'conversation'>): string => `${e.platform}:${e.conversation.id}`;

/**
 * An event's partition, for it and its replies. A request that brings its own context (the API is stateless)
 * depends on no other: it gets a partition of its own, so one caller's requests run side by side instead of waiting
 * behind a slow one (a key is one conversation, and every request on it used to queue).
 */
export const eventPartition = (e: ChannelEvent): string => (e.context ? `${conversationPartition(e)}:${e.id}` : conversationPartition(e));

/**
 * Where an owner's `/approve ID` or `/reject ID` goes instead of `inbound`: the turn it decides may be waiting in the
 * same conversation (an owner approving their own request in their DM), and behind it the decision would wait for
 * ever. Workers consume it apart from `inbound`, so no turn holding `inbound` (its partition, its slots) delays it.
 */
export const CONTROL_QUEUE = 'control';

/** Which events take the control queue: approval decisions from an owner, and nothing anyone else can send. */
export const isOwnerDecision = (config: Pick<Config, 'access'>) => (e: ChannelEvent): boolean =>
  APPROVAL_COMMAND.test(e.text.trim()) && senderIdentities(e).some((id) => config.access.owners.includes(id));

const nextJobs = (replies: QueuedReply[]): HopNext => replies.map((r) => ({ queue: r.queue, job: { id: r.reply.idempotencyKey, partition: r.partition, payload: r.reply } }));

function replyFor(event: ChannelEvent, key: string, text: string, format: Reply['format'], extra: Partial<Reply> = {}): QueuedReply {
  const address = { platform: event.platform, account: event.account, conversation: event.conversation };
  return {
    queue: outboundQueue(address),
    partition: eventPartition(event),
    reply: { v: 1, idempotencyKey: key, eventId: event.id, address, replyTo: event.platformMessageId, text, format, kind: 'reply', ...extra },
  };
}

/** Hands a turn's drafts straight to the outbound queue, each under a key of its own attempt at the turn. */
function draftsFor(deps: WorkerDeps, event: ChannelEvent, stream: string): TalkDeps['drafts'] {
  const drafts = deps.streaming;
  const intervalMs = drafts?.intervalFor(event);
  if (!drafts || intervalMs === undefined) return undefined;
  const attempt = randomUUID().slice(0, 8);
  const maxChars = drafts.limitFor?.(event);
  return {
    intervalMs,
    ...(maxChars !== undefined ? { maxChars } : {}),
    onError: drafts.onError,
    publish: async (text, format, seq) => {
      // A draft may end halfway through a secret the final text will mask.
      // Whole words only (talk.ts), so a surrogate left alone here is one the final reply shows as U+FFFD too.
      const shown = (deps.redactor ? deps.redactor.redactGrowing(text) : text).toWellFormed();
      // All of it held back (it may be the start of a secret): nothing to show yet, and an empty edit is refused.
      if (!shown.trim()) return;
      const { queue, partition, reply } = replyFor(event, `${event.id}:draft:${attempt}:${seq}`, shown, format, { kind: 'draft', stream, paceMs: intervalMs });
      await drafts.enqueue(queue, { id: reply.idempotencyKey, partition, payload: reply });
    },
  };
}

/** A message to another conversation than the event's (an owner told of a pairing request). */
function notification(event: ChannelEvent, key: string, address: Address, text: string): QueuedReply {
  return {
    queue: outboundQueue(address),
    partition: `${address.platform}:${address.account}:${address.conversation.id}`,
    reply: { v: 1, idempotencyKey: key, eventId: event.id, address, text, format: 'plain', kind: 'notice' },
  };
}

/**
 * The session worker's job handler. Each inbound event becomes one committed turn (dedupe mark, history, audit,
 * replies) and its replies are handed on as this hop's follow-up jobs, keyed by idempotency key. A redelivered
 * event — after a crash, or sent twice by its platform — finds its committed turn and re-offers the same replies,
 * which the queue and the connector's send record both refuse to deliver twice.
 */
export function inboundHandler(deps: WorkerDeps): JobHandler {
  return async (job) => {
    let event: ChannelEvent;
    try {
      event = parseChannelEvent(job.payload);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      await deps.store.appendAudit([{ kind: 'inbound.rejected', actor: 'worker', subject: job.id, data: { issues: error.issues } }]);
      throw new UnrecoverableJobError(error.message);
    }
    const key = dedupeKey(event);
    const prior = await deps.store.handledTurn(key);
    if (prior) return { next: nextJobs(prior) };

    const stream = `${event.id}:stream`;
    const drafts = draftsFor(deps, event, stream);
    // A surface gives a turn up when its caller goes away (it marks the turn handled): the backend call then stops,
    // instead of running (and costing) for nobody, and the turn commits as discarded with that call audited.
    const given = new AbortController();
    const watch = setInterval(() => void deps.store.handledTurn(key).then((t) => t && given.abort(), () => undefined), GIVEN_UP_CHECK_MS);
    const result = await talk(drafts ? { ...deps, drafts } : deps, event, given.signal).finally(() => clearInterval(watch));
    const clean = (text: string) => (deps.redactor ? deps.redactor.redact(text) : text);
    // Whatever ends a streamed turn, reply or notice, replaces its drafts.
    const streamed = drafts ? { stream } : {};
    const replies: QueuedReply[] = [];
    if (result.notice) {
      const retry = result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {};
      replies.push(replyFor(event, `${event.id}:notice`, clean(result.notice), 'plain', { kind: 'notice', ...(result.haltedBy ? { haltedBy: result.haltedBy } : {}), ...retry, ...streamed }));
    }
    const usage = result.usage ? { usage: { inputTokens: result.usage.inputTokens, outputTokens: result.usage.outputTokens } } : {};
    if (result.reply) replies.push(replyFor(event, `${event.id}:reply`, clean(result.reply.text), result.reply.format, { ...streamed, ...usage }));
    for (const [i, n] of (result.notify ?? []).entries()) replies.push(notification(event, `${event.id}:notify:${i}`, n.address, clean(n.text)));
    const received: AuditInput = {
      kind: 'inbound.received',
      actor: `${event.platform}:${event.sender.id}`,
      subject: event.id,
      // receivedAt: when the connector took the message, the start of the end-to-end latency the dashboard shows.
      data: { conversation: `${event.platform}:${event.conversation.id}`, kind: event.conversation.kind, chars: event.tooLongChars ?? event.text.length, receivedAt: event.receivedAt },
    };
    const commit = deps.store.turnCommit({
      dedupeKey: key,
      eventId: event.id,
      ...(result.sessionId !== undefined ? { sessionId: result.sessionId } : {}),
      // The question is dated when it was asked, the answer when it is stored: the history shows how long it took.
      history: result.history.map((entry) => ({ ...entry, text: clean(entry.text), ...(entry.role === 'user' ? { at: event.receivedAt } : {}) })),
      audit: [received, ...result.audit],
      replies,
      ...(result.usage ? { usage: result.usage } : {}),
    });
    // Committed with the job's acknowledgement, in one transaction where the queue can (the embedded driver).
    return { commit: mapCommit(commit, nextJobs) };
  };
}
