import type { Store } from './store.js';

/** What a platform needs to show "typing…" somewhere: its request, and how two places are told apart. */
export interface TypingOptions<T> {
  /** One indicator request; a platform shows it for a few seconds. */
  show(target: T): Promise<unknown>;
  /** Ends the indicator at once, where the platform can (WhatsApp's `paused`); elsewhere the reply itself ends it. */
  hide?(target: T): Promise<unknown>;
  /** Tells places apart (a chat and a topic in it are two); the target itself when it is a string. */
  keyOf?(target: T): string;
  /** Re-sent this often: a little less than the platform shows one request for. */
  refreshMs: number;
  /** Given up after this long. */
  maxMs?: number;
  now?: () => number;
  /** A failed request costs only the indicator: reported here, never thrown. */
  onError?(error: unknown): void;
  /**
   * Whether the turn of a message (its dedupe key) ended with no reply to `target`: a sender limited in silence, an
   * empty answer. Asked at each refresh; once every message typing was shown for is answered so, typing stops.
   */
  silent?(target: T, turn: string): Promise<boolean>;
}

/** Whether a message's turn (its dedupe key) ended with no reply to a conversation. */
export type SilentTurn = (conversationId: string, turn: string) => Promise<boolean>;

/** `silent` from the store: the turn is committed, and none of its replies goes to that conversation. */
export const silentTurn =
  (store: Pick<Store, 'handledTurn'>): SilentTurn =>
  async (conversationId, turn) => {
    const replies = await store.handledTurn(turn);
    return replies !== null && !replies.some((r) => r.reply.address.conversation.id === conversationId);
  };

const MAX_MS = 60_000;

/**
 * "typing…" while the assistant works, for every connector: refreshed until the reply goes out (`stop`) or `maxMs`
 * passes, so an event that is never answered (a sender access refuses, a silent backend) does not type forever.
 *
 * Where a message must be stored before anything else (Signal and WhatsApp will not send it again), typing cannot
 * start before the store, and a fast reply may go out meanwhile: `expect` marks the place before the store, the
 * reply's `stop` clears the mark, and `startExpected` after the store starts typing only if the mark is still there.
 */
export class TypingIndicator<T = string> {
  private readonly active = new Map<string, { timer: NodeJS.Timeout; until: number; turns: Set<string> }>();
  /** Messages being stored, per place, whose typing waits for their store (see `expect`). */
  private readonly expected = new Map<string, number>();
  private readonly keyOf: (target: T) => string;
  private readonly now: () => number;
  private readonly maxMs: number;

  constructor(private readonly options: TypingOptions<T>) {
    this.keyOf = options.keyOf ?? String;
    this.now = options.now ?? Date.now;
    this.maxMs = options.maxMs ?? MAX_MS;
  }

  /** Shows typing for messages (their turns' dedupe keys) that will be answered at `target`. */
  start(target: T, turns: string[] = []): void {
    const key = this.keyOf(target);
    const until = this.now() + this.maxMs;
    const running = this.active.get(key);
    // Already showing: another message for the same place (a catch-up brings many) extends it, with no request more.
    if (running) {
      running.until = until;
      for (const t of turns) running.turns.add(t);
      return;
    }
    const entry = { timer: setInterval(() => void this.refresh(target, key), this.options.refreshMs), until, turns: new Set(turns) };
    // Never what keeps a process alive: the connector stops every indicator when it stops.
    entry.timer.unref();
    this.active.set(key, entry);
    this.request(this.options.show, target);
  }

  /** Adds messages to an indicator that is showing; starts none (a catch-up asks for "typing…" once). */
  join(target: T, turns: string[]): void {
    const running = this.active.get(this.keyOf(target));
    if (running) for (const t of turns) running.turns.add(t);
  }

  /** A message for `target` is being stored; see `startExpected`. */
  expect(target: T): void {
    const key = this.keyOf(target);
    this.expected.set(key, (this.expected.get(key) ?? 0) + 1);
  }

  /**
   * Starts typing (when `show`) for stored messages, unless their reply began meanwhile. Counted per place: a batch
   * settling takes its own mark, never the one a later batch for the same place set meanwhile.
   */
  startExpected(target: T, show: boolean, turns: string[] = []): void {
    const key = this.keyOf(target);
    const pending = this.expected.get(key) ?? 0;
    if (pending === 0) return;
    if (pending === 1) this.expected.delete(key);
    else this.expected.set(key, pending - 1);
    if (show) this.start(target, turns);
  }

  stop(target: T): void {
    const key = this.keyOf(target);
    this.expected.delete(key);
    const entry = this.active.get(key);
    if (!entry) return;
    clearInterval(entry.timer);
    this.active.delete(key);
    if (this.options.hide) this.request(this.options.hide, target);
  }

  isActive(target: T): boolean {
    return this.active.has(this.keyOf(target));
  }

  /** Stops every indicator quietly: the connector is going away, and so is its connection. */
  stopAll(): void {
    this.expected.clear();
    for (const { timer } of this.active.values()) clearInterval(timer);
    this.active.clear();
  }

  private async refresh(target: T, key: string): Promise<void> {
    const entry = this.active.get(key);
    if (!entry || this.now() >= entry.until) return this.stop(target);
    const { silent } = this.options;
    if (silent && entry.turns.size > 0) {
      for (const turn of [...entry.turns]) if (await silent(target, turn).catch(() => false)) entry.turns.delete(turn);
      // Every message typing was shown for is answered, with nothing for this place: nobody is typing.
      if (entry.turns.size === 0 && this.active.get(key) === entry) return this.stop(target);
    }
    if (this.active.get(key) === entry) this.request(this.options.show, target);
  }

  private request(send: (target: T) => Promise<unknown>, target: T): void {
    const report = (error: unknown) => this.options.onError?.(error);
    try {
      send(target).catch(report);
    } catch (error) {
      report(error);
    }
  }
}
