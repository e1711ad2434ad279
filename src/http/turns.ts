import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_DEADLINE_MS } from '../../core/turn-deadline.js';
import { publishEvents } from '../../core/connector.js';
import { dedupeKey, outboundQueue, type ChannelEvent, type ChannelEventInput, type Reply } from '../../core/event.js';
import { outboundHandler } from '../../core/outbound.js';
import { newEventId } from '../../core/ids.js';
import type { Consumer, QueueDriver } from '../../core/queue.js';
import type { Store } from '../../core/store.js';
import { recordDeadLetters } from '../../core/dead-letters.js';

/** `stopped`: the gateway shut down before the turn was answered; `gone`: the caller went away first. */
export type TurnOutcome = { kind: 'replies'; replies: Reply[] } | { kind: 'silent' } | { kind: 'timeout' } | { kind: 'stopped' } | { kind: 'gone' };

/** What a caller whose turn was cut short by shutdown is told, on every surface. */
export const STOPPED_TEXT = 'The gateway is shutting down; please try again in a moment.';

/** On shutdown, turns in flight are waited for this long (the worker drains meanwhile) before they are let go. */
const DRAIN_MS = 6_000;
const ABANDON_MS = 500;


/**
 * A surface of the HTTP server (the OpenAI-compatible API, web chat) as a connector: it publishes events like any
 * other connector and receives the worker's replies on its own outbound queue, so every surface
 * goes through the same plugs, audit and backends. `ask` resolves once the turn is committed and its replies came.
 */
export class TurnClient {
  private readonly waiting = new Map<string, Reply[]>();
  private readonly wake = new Map<string, () => void>();
  private readonly drafts = new Map<string, (text: string, format: Reply['format']) => void>();
  private consumer?: Consumer;
  private stopped = false;

  constructor(
    private readonly queue: QueueDriver,
    private readonly store: Pick<Store, 'appendAudit' | 'beginSend' | 'withdrawSend' | 'completeSend' | 'sentMessageIds' | 'handledTurn' | 'abandonTurn'>,
    readonly platform: string,
    /** Which events go to the control queue (an owner's `/approve` in web chat): see `publishEvents`. */
    private readonly control: (e: ChannelEvent) => boolean,
    /** How long a turn for this assistant is waited for before it is given up (core/turn-deadline.ts). */
    private readonly deadlineFor: (assistant: string | undefined) => Promise<number> = async () => DEFAULT_DEADLINE_MS,
  ) {}

  start(): void {
    const actor = `surface:${this.platform}`;
    this.consumer = this.queue.consume(
      outboundQueue({ platform: this.platform, account: this.platform }),
      outboundHandler(this.store, actor, {
        // A draft "edits" the caller's view: it is handed to the caller as the whole text so far.
        edits: true,
        send: async (reply) => {
          if (reply.kind === 'draft') {
            this.drafts.get(reply.eventId)?.(reply.text, reply.format);
            return [reply.stream ?? reply.idempotencyKey];
          }
          // A reply whose caller went away is still recorded as sent: there is nobody to show it to.
          this.waiting.get(reply.eventId)?.push(reply);
          this.wake.get(reply.eventId)?.();
          return [reply.idempotencyKey];
        },
      }),
      { concurrency: 16, onDead: recordDeadLetters(this.store, actor) },
    );
  }

  /**
   * `onDraft` is told the reply so far while it is written, where the worker streams this surface's replies.
   * `caller` aborts when the caller goes away (a closed connection): the turn is given up at once.
   */
  async ask(
    input: Omit<ChannelEventInput, 'v' | 'id' | 'platform' | 'account' | 'platformMessageId' | 'receivedAt'>,
    onDraft?: (text: string, format: Reply['format']) => void,
    caller?: AbortSignal,
  ): Promise<TurnOutcome> {
    const timeoutMs = await this.deadlineFor(input.assistant);
    const id = newEventId();
    this.waiting.set(id, []);
    if (onDraft) this.drafts.set(id, onDraft);
    const gone = () => this.wake.get(id)?.();
    caller?.addEventListener('abort', gone, { once: true });
    try {
      const [event] = await publishEvents(
        this.queue,
        this.store,
        `surface:${this.platform}`,
        [{ ...input, v: 1, id, platform: this.platform, account: this.platform, platformMessageId: id, receivedAt: new Date().toISOString() }],
        this.control,
      );
      const key = dedupeKey(event!);
      const answered = async (): Promise<TurnOutcome | undefined> => {
        const turn = await this.store.handledTurn(key);
        const got = this.waiting.get(id)!;
        if (turn && got.length >= turn.length) return turn.length === 0 ? { kind: 'silent' } : { kind: 'replies', replies: got };
        return undefined;
      };
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && !this.stopped && !caller?.aborted) {
        const outcome = await answered();
        if (outcome) return outcome;
        await new Promise<void>((resolve) => {
          this.wake.set(id, resolve);
          void sleep(100).then(resolve);
        });
      }
      const kind = this.stopped ? 'stopped' : caller?.aborted ? 'gone' : 'timeout';
      // The caller is answered now (503, a timeout): the turn must not run later, after a restart, for nobody. If it
      // committed first, its answer may be here already.
      const entry = { kind: 'turn.abandoned', actor: `surface:${this.platform}`, subject: id, data: { why: kind } };
      const given = await this.store.abandonTurn(key, id, [entry]).catch(() => true);
      return (given ? undefined : await answered()) ?? { kind };
    } finally {
      caller?.removeEventListener('abort', gone);
      this.waiting.delete(id);
      this.wake.delete(id);
      this.drafts.delete(id);
    }
  }

  /** Lets the turns in flight finish for a while (their callers get an answer, not a cut connection), then stops. */
  async close(): Promise<void> {
    for (const end = Date.now() + DRAIN_MS; this.waiting.size > 0 && Date.now() < end; ) await sleep(50);
    this.stopped = true;
    for (const wake of this.wake.values()) wake();
    // Each turn let go is marked abandoned before the store closes.
    for (const end = Date.now() + ABANDON_MS; this.waiting.size > 0 && Date.now() < end; ) await sleep(10);
    await this.consumer?.close(1_500);
  }
}
