import { setTimeout as sleep } from 'node:timers/promises';
import type { PlatformWaits } from '../../core/platform-waits.js';
import type { ConnectorLog } from '../../core/connector.js';
import type { Conversation, Reply } from '../../core/event.js';
import { refused } from '../../core/outbound.js';
import type { PartProgress } from '../../core/part-progress.js';
import { UnrecoverableJobError } from '../../core/queue.js';
import { PLATFORM_LIMITS, renderReply, type Limit } from '../../core/render/index.js';
import { type SilentTurn, TypingIndicator } from '../../core/typing.js';
import { messageId } from './parse.js';
import { RATE_LIMIT_ERROR, SignalConnectionError, SignalRpcError } from './rpc.js';

type Call = (method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<unknown>;

/** Where a Signal message (or typing indicator) goes: a person by ACI (uuid) or a group by its base64 id. */
export const target = (c: Pick<Conversation, 'id' | 'kind'>): Record<string, unknown> => (c.kind === 'dm' ? { recipient: [c.id] } : { groupId: c.id });

/** Signal shows a typing indicator for 15 s unless refreshed. */
export function signalTyping(call: Call, silent: SilentTurn, deps: { log: ConnectorLog; now(): number }, refreshMs = 10_000) {
  return new TypingIndicator<Pick<Conversation, 'id' | 'kind'>>({
    show: (conversation) => call('sendTyping', target(conversation), 10_000),
    keyOf: (conversation) => conversation.id,
    silent: (conversation, turn) => silent(conversation.id, turn),
    refreshMs,
    now: deps.now,
    onError: (error) => deps.log.debug({ error: (error as Error).message }, 'sendTyping failed'),
  });
}

export interface SendDeps {
  call: Call;
  /** Parts of a multi-part reply already sent, kept across retries and restarts. */
  progress: PartProgress;
  log: ConnectorLog;
  /** How our own messages are named (`<own uuid or number>:<timestamp>`), the form a quote of them carries. */
  selfId(): string;
  /** connectors.signal.maxMessageChars, in UTF-8 bytes as Signal counts; never above Signal's 2,000. */
  maxMessageChars: number | undefined;
  /** Called before the first part goes out (the typing indicator stops). */
  onSending?(reply: Reply): void;
  sendTimeoutMs?: number;
  /** How many rate-limit waits one part may take before the job is handed back to the queue's retries. */
  maxRateLimitWaits?: number;
  /** A rate limit longer than this is not waited out in-line: the queue retries later. */
  maxRateLimitWaitMs?: number;
  /** Rate limits kept across restarts: Signal limits the account, so one wait holds every send. */
  waits?: PlatformWaits;
}

const ACCOUNT_WIDE = 'account';

/** signal-cli errors that retrying cannot fix: bad parameters, an unknown method, an untrusted identity (needs `trust`). */
const PERMANENT = new Set([-32602, -32601, -32600, -4]);

export function signalLimit(maxMessageChars: number | undefined): Limit {
  const platform = PLATFORM_LIMITS.signal;
  // renderReply needs room for one code point with its markup; 16 is its floor.
  return { unit: 'utf8', max: Math.max(16, Math.min(maxMessageChars ?? platform.max, platform.max)) };
}

/** `<uuid>:<timestamp>` (our platformMessageId) → what signal-cli's quote parameters need. */
export function quoteOf(replyTo: string | undefined): { quoteTimestamp: number; quoteAuthor: string } | undefined {
  const at = replyTo?.lastIndexOf(':') ?? -1;
  if (!replyTo || at <= 0) return undefined;
  const quoteTimestamp = Number(replyTo.slice(at + 1));
  return Number.isSafeInteger(quoteTimestamp) && quoteTimestamp > 0 ? { quoteTimestamp, quoteAuthor: replyTo.slice(0, at) } : undefined;
}

/**
 * Posts one reply: rendered as plain text (Signal has no markup we trust), split at 2,000 UTF-8 bytes — never a
 * long-text attachment — and sent in order. In a group the first part quotes the message it answers. A rate
 * limit (-5) is waited out for `retryAfterSeconds` and the same part is sent again; earlier parts are not repeated,
 * by a later attempt of the job either (or after a restart): the parts sent so far are recorded in the store.
 */
export function createSend(deps: SendDeps) {
  const timeoutMs = deps.sendTimeoutMs ?? 60_000;
  const maxWaits = deps.maxRateLimitWaits ?? 3;
  const maxWaitMs = deps.maxRateLimitWaitMs ?? 10 * 60_000;
  return async function send(reply: Reply, signal: AbortSignal): Promise<string[]> {
    const conversation = reply.address.conversation;
    const parts = renderReply(reply.text, reply.format, 'plain', signalLimit(deps.maxMessageChars)).filter((p) => p.length > 0);
    const quote = conversation.kind === 'group' ? quoteOf(reply.replyTo) : undefined;
    deps.onSending?.(reply);
    const multi = parts.length > 1;
    const ids = multi ? await deps.progress.sent(reply.idempotencyKey) : [];
    for (let i = ids.length; i < parts.length; i++) {
      const params = { ...target(conversation), message: parts[i]!, ...(i === 0 && quote ? quote : {}) };
      const result = await sendPart(params, conversation.kind === 'dm', signal);
      ids.push(messageId(deps.selfId(), result));
      if (multi) await deps.progress.record(reply.idempotencyKey, ids);
    }
    return ids;
  };

  async function sendPart(params: Record<string, unknown>, dm: boolean, signal: AbortSignal): Promise<number> {
    for (let waits = 0; ; waits++) {
      signal.throwIfAborted();
      await deps.waits?.wait(ACCOUNT_WIDE, signal);
      try {
        const result = (await deps.call('send', params, timeoutMs)) as { timestamp?: unknown } | null;
        if (typeof result?.timestamp !== 'number') throw new Error('signal-cli answered send without a timestamp');
        return result.timestamp;
      } catch (error) {
        if (error instanceof SignalConnectionError && /did not answer/.test(error.message)) {
          // signal-cli may have sent it and answered late (a large group, a slow server): the retry may repeat it.
          deps.log.warn({ timeoutMs }, 'signal-cli did not answer a send in time; sending it again, which may repeat it');
        }
        if (!(error instanceof SignalRpcError)) throw error;
        // Refusals signal-cli names before sending anything; its other errors, and a group's rate limit (counted
        // per recipient), may come after part of the conversation got it.
        if (PERMANENT.has(error.code) || allUnregistered(error.data)) throw refused(new UnrecoverableJobError(error.message));
        if (error.code !== RATE_LIMIT_ERROR) throw error;
        const waitMs = (error.retryAfterSeconds ?? 2 ** (waits + 1)) * 1000;
        // Kept before anything else: a wait too long to do here is still waited out by every later attempt (this
        // job's retries, other replies, a restarted connector), not hammered into by the queue's own backoff.
        if (error.retryAfterSeconds !== undefined) await deps.waits?.hold(ACCOUNT_WIDE, error.retryAfterSeconds);
        if (waits >= maxWaits || waitMs > maxWaitMs) throw dm ? refused(error) : error;
        deps.log.warn({ waitMs }, 'signal-cli rate limit: waiting before sending again');
        // Cut short (shutdown) while waiting: signal-cli refused this part, so in a DM nothing of it reached anyone.
        await sleep(waitMs, undefined, { signal }).catch((error: Error) => {
          throw dm ? refused(error) : error;
        });
      }
    }
  }
}

/** signal-cli reports a send to an unregistered number as a user error whose results all say UNREGISTERED_FAILURE. */
function allUnregistered(data: unknown): boolean {
  const results = (data as { response?: { results?: Array<{ type?: unknown }> } } | null)?.response?.results;
  return Array.isArray(results) && results.length > 0 && results.every((r) => r?.type === 'UNREGISTERED_FAILURE');
}
