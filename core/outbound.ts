import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidPayloadError, parseReply, type Reply } from './event.js';
import { RetryLaterError, UnrecoverableJobError, type JobHandler } from './queue.js';
import type { Store } from './store.js';

export interface SendOptions {
  /** Post the first part by editing this earlier message of ours (a streamed reply's draft) instead of a new one. */
  replace?: string;
  /** Only the first part: a draft never spills into a second message. */
  firstPartOnly?: boolean;
}

/** A connector's platform send: returns the platform's ids of the messages it posted (one per part, in order). */
export type SendReply = (reply: Reply, signal: AbortSignal, options?: SendOptions) => Promise<string[]>;

/** The platform refused to edit a draft's message (deleted, too old to edit): the text is posted as a new message. */
export class EditRefusedError extends Error {
  override readonly name = 'EditRefusedError';
}

/**
 * Errors a send threw after the platform answered that it did not take the message, each connector deciding what
 * proves it (Telegram's and Discord's 4xx, an SMTP answer, signal-cli's own refusals): nothing reached anyone, so the
 * intent is withdrawn and a retry is not audited as `resent`. A timeout, a dropped connection or a 5xx is never
 * marked, nor an answer that may follow a retry of one inside the client: the platform may have posted the message.
 */
const refusals = new WeakSet<Error>();
export function refused<E extends Error>(error: E): E {
  refusals.add(error);
  return error;
}
export const isRefused = (error: unknown): boolean => error instanceof Error && refusals.has(error);

/** What the outbound side needs of a connector. `edits`: it honours `SendOptions.replace`. */
export interface Sender {
  send: SendReply;
  edits?: boolean;
}

export type OutboundStore = Pick<Store, 'beginSend' | 'withdrawSend' | 'completeSend' | 'sentMessageIds' | 'appendAudit'>;

/** What the connector process is told of, beside the job's own outcome. */
export interface OutboundHooks {
  /** A streamed draft was not shown (the final reply still will be). */
  onDraftError?(error: unknown): void;
  /** A reply the platform took could not be recorded yet (the database is locked or failing): retried, never resent. */
  onRecordError?(error: unknown, attempt: number): void;
  /** A send failed (the platform refused or could not be reached): the job is tried again, or dead-lettered. */
  onSendError?(error: unknown, reply: Reply, attempt: number): void;
  /** How long a failing record is retried before the job is dead-lettered (default ten minutes). */
  recordGiveUpMs?: number;
}

const RECORD_RETRY_MS = { first: 100, max: 5_000 };
/** A record still failing after this long is not a lock that will pass: the job is dead-lettered, not sent again. */
const RECORD_GIVE_UP_MS = 10 * 60_000;

/**
 * Records a send the platform took, trying until it is on record: failing the job instead would send the reply a
 * second time. The job being taken away (a drain that ran out of time) ends the trying; that is the crash window
 * the README names, between the platform's answer and its record. A store that keeps failing (ten minutes by
 * default) dead-letters the job with what happened, for an operator to judge: `dlq retry` would send it again.
 */
async function recordSent(write: () => Promise<void>, signal: AbortSignal, hooks: OutboundHooks): Promise<void> {
  const giveUpAt = Date.now() + (hooks.recordGiveUpMs ?? RECORD_GIVE_UP_MS);
  for (let attempt = 1, wait = RECORD_RETRY_MS.first; ; attempt++, wait = Math.min(wait * 2, RECORD_RETRY_MS.max)) {
    try {
      return await write();
    } catch (error) {
      hooks.onRecordError?.(error, attempt);
      if (signal.aborted) throw error;
      if (Date.now() >= giveUpAt) throw new UnrecoverableJobError(`sent, but it could not be recorded (${(error as Error).message}): not sent again`);
      await sleep(wait, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw error;
    }
  }
}

/**
 * The connector side of every outbound queue: validate, record the intent, send, record the platform's ids.
 * A job whose reply was already sent is acknowledged without sending. The crash window left is the moment between
 * the platform's answer and the record; platforms with idempotency keys (Discord's nonce) close it. A send that
 * finds an earlier attempt's intent unfinished is audited as `resent`: that attempt may have reached the platform. A
 * send the platform refused withdraws its intent, so its retry is not.
 *
 * Streamed replies: the first draft is posted and recorded under the stream's key, later drafts edit that message,
 * and the final reply (or the notice that replaced it) edits it once more with the whole text, posting any further
 * parts as new messages. Drafts are best effort: one that fails is dropped, never retried, so it cannot hold up the
 * final reply queued behind it in the same conversation.
 */
export function outboundHandler(store: OutboundStore, actor: string, to: Sender | SendReply, hooks: OutboundHooks = {}): JobHandler {
  const sender: Sender = typeof to === 'function' ? { send: to } : to;
  const paced = new DraftPace(
    (draft, stream, signal) => showDraft(store, sender, draft, stream, signal),
    (error) => hooks.onDraftError?.(error),
  );
  return async (job, signal) => {
    let reply: Reply;
    try {
      reply = parseReply(job.payload);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      await store.appendAudit([{ kind: 'outbound.rejected', actor, subject: job.id, data: { issues: error.issues } }]);
      throw new UnrecoverableJobError(error.message);
    }
    if (reply.kind === 'draft') {
      if (sender.edits && reply.stream) await paced.draft(reply, reply.stream, signal);
      return;
    }
    if (reply.stream) await paced.end(reply.stream);
    const state = await store.beginSend(reply.idempotencyKey, reply.address.platform);
    if (state === 'sent') return;
    let draft = sender.edits && reply.stream ? (await store.sentMessageIds(reply.stream))?.[0] : undefined;
    let ids: string[];
    try {
      ids = await sender.send(reply, signal, draft !== undefined ? { replace: draft } : {}).catch((error: unknown) => {
        if (!(error instanceof EditRefusedError)) throw error;
        draft = undefined;
        return sender.send(reply, signal);
      });
    } catch (error) {
      // Only this attempt's own intent: one left by an earlier attempt that may have arrived keeps its mark.
      if (isRefused(error) && state === 'new') await store.withdrawSend(reply.idempotencyKey);
      hooks.onSendError?.(error, reply, job.attempt);
      throw error;
    }
    const sent = {
      kind: 'outbound.sent',
      actor,
      subject: reply.eventId,
      data: {
        key: reply.idempotencyKey,
        conversation: `${reply.address.platform}:${reply.address.conversation.id}`,
        parts: ids.length,
        resent: state === 'sending',
        ...(draft !== undefined ? { streamed: true } : {}),
      },
    };
    await recordSent(() => store.completeSend(reply.idempotencyKey, ids, [sent]), signal, hooks);
  };
}

/**
 * Paces each stream's drafts in this process: a draft due less than a pace (`paceMs`, the connector's
 * `streamEditMs`) after the last one shown waits, and is shown then unless a later draft, or the final reply, has
 * come meanwhile. Drafts queue up behind a send that waits out a 429, and used to go out back to back once it ended,
 * right after the platform had asked for less; but the last of them must still be shown, or the text stays stale for
 * as long as the backend then pauses. For that reason a draft the platform refused with "try again in N s" waits that
 * long and is tried again, unless a later one came. The draft's job is acknowledged at once (drafts are best effort);
 * the final reply waits for a draft being shown, so it always lands last.
 */
/** The longest a draft waits for its turn: a day, as the platforms' waits are capped (core/platform-waits.ts). */
const MAX_DRAFT_WAIT_MS = 24 * 3_600_000;

class DraftPace {
  private static readonly MAX_STREAMS = 1_000;
  private readonly streams = new Map<string, StreamPace>();

  constructor(
    private readonly show: (draft: Reply, stream: string, signal: AbortSignal) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  async draft(draft: Reply, stream: string, signal: AbortSignal): Promise<void> {
    const state = this.streams.get(stream) ?? { shownAt: -Infinity, showing: Promise.resolve(), busy: false };
    this.track(stream, state);
    // The newest draft is the one worth showing: it replaces any still waiting.
    state.waiting = draft;
    clearTimeout(state.later);
    // One is being shown: this one follows a pace after that send ends (see flush).
    if (state.busy) return;
    // A pace after the last one shown, and not before a wait the platform asked for is over.
    const wait = Math.max(state.shownAt + (draft.paceMs ?? 0), state.quietUntil ?? 0) - performance.now();
    if (wait <= 0) return this.flush(stream, state, signal);
    this.later(stream, state, wait);
  }

  async end(stream: string): Promise<void> {
    const state = this.streams.get(stream);
    if (!state) return;
    clearTimeout(state.later);
    state.waiting = undefined;
    this.streams.delete(stream);
    await state.showing;
  }

  private async flush(stream: string, state: StreamPace, signal: AbortSignal): Promise<void> {
    const draft = state.waiting;
    if (!draft || this.streams.get(stream) !== state) return;
    state.waiting = undefined;
    state.busy = true;
    let retryAfterMs = 0;
    state.showing = this.show(draft, stream, signal).catch((error: unknown) => {
      // Asked to wait: shown once the wait is over, if no later draft takes its place meanwhile.
      if (error instanceof RetryLaterError) {
        retryAfterMs = error.afterMs;
        state.waiting ??= draft;
      }
      this.onError(error);
    });
    await state.showing;
    state.busy = false;
    // The pace counts from when the platform showed it: a send that waited out a 429 pushes the next one back.
    state.shownAt = performance.now();
    state.quietUntil = retryAfterMs > 0 ? state.shownAt + retryAfterMs : undefined;
    // A draft that came meanwhile (the await above lets it in, which TypeScript cannot see).
    const next = state.waiting as Reply | undefined;
    if (next && this.streams.get(stream) === state) this.later(stream, state, Math.max(retryAfterMs, next.paceMs ?? 0));
  }

  /** Shown after its job: the job's signal ends with it, and a draft is not worth holding a shutdown for. */
  private later(stream: string, state: StreamPace, wait: number): void {
    // Node fires a timer of more than 2^31 ms at once: a platform's absurd wait must not become a tight loop.
    const ms = Math.min(wait, MAX_DRAFT_WAIT_MS);
    state.later = setTimeout(() => void this.flush(stream, state, new AbortController().signal), ms).unref();
  }

  /**
   * Streams whose final reply never came here (handed to another process) are forgotten, the one drafted least
   * recently first, but never one whose draft is being sent: its final reply must still find it to wait for it.
   */
  private track(stream: string, state: StreamPace): void {
    this.streams.delete(stream);
    this.streams.set(stream, state);
    if (this.streams.size <= DraftPace.MAX_STREAMS) return;
    for (const [name, idle] of this.streams) {
      if (idle.busy) continue;
      clearTimeout(idle.later);
      this.streams.delete(name);
      return;
    }
  }
}

interface StreamPace {
  /** When the platform last took one of its drafts. */
  shownAt: number;
  /** The send of the draft being shown (the final reply waits for it). */
  showing: Promise<void>;
  busy: boolean;
  /** The newest draft not shown yet. */
  waiting?: Reply;
  /** Until when the platform asked for quiet (a refused draft's "try again in N s"). */
  quietUntil?: number;
  later?: NodeJS.Timeout;
}

async function showDraft(store: OutboundStore, sender: Sender, draft: Reply, stream: string, signal: AbortSignal): Promise<void> {
  const shown = (await store.sentMessageIds(stream))?.[0];
  // A draft whose message cannot be edited any more is not shown; the final reply is posted anew.
  if (shown !== undefined) return void (await sender.send(draft, signal, { replace: shown, firstPartOnly: true }));
  // A stream left 'sending' by a crash posts a fresh draft message: the final reply edits whichever was recorded.
  await store.beginSend(stream, draft.address.platform);
  await store.completeSend(stream, await sender.send(draft, signal, { firstPartOnly: true }));
}
