import { z } from 'zod';
import type { ConnectorDeps } from '../../core/connector.js';
import type { Place } from './parse.js';

const PREFIX = 'channel:';
/** DESIGN: after downtime, catch up in the channels talked in during the last 24 hours. */
export const CATCH_UP_WINDOW_MS = 24 * 60 * 60_000;
/** DESIGN: at most 100 messages per channel (one page of GET /channels/:id/messages). */
export const CATCH_UP_LIMIT = 100;
const TALKED_PRECISION_MS = 60_000;

const memoSchema = z.object({
  last: z.string().regex(/^\d{1,20}$/),
  talkedAt: z.number(),
  kind: z.enum(['dm', 'group', 'channel']),
  thread: z.boolean(),
  guildId: z.string().optional(),
  parentId: z.string().optional(),
});
type Memo = z.infer<typeof memoSchema>;

const later = (a: string, b: string): string => (BigInt(a) >= BigInt(b) ? a : b);

/**
 * The channels the assistant talks in, each with the newest message id handled there, kept in connector state so
 * a restarted connector knows where to resume. A channel is remembered from its first addressed message, and
 * counts as talked in from the assistant's first post there: a channel where every mention was refused (not on
 * the allowlist) is never fetched after downtime.
 */
export class ChannelMemory {
  private readonly memos = new Map<string, Memo>();

  constructor(
    private readonly store: ConnectorDeps['store'],
    private readonly connector: string,
    private readonly now: () => number,
  ) {}

  async load(): Promise<void> {
    for (const { key, value } of await this.store.listConnectorState(this.connector, PREFIX)) {
      const memo = memoSchema.safeParse(value);
      if (memo.success) this.memos.set(key.slice(PREFIX.length), memo.data);
    }
  }

  place(channelId: string): Place | undefined {
    const m = this.memos.get(channelId);
    return m && { kind: m.kind, thread: m.thread, ...(m.guildId ? { guildId: m.guildId } : {}), ...(m.parentId ? { parentId: m.parentId } : {}) };
  }

  /** Whether a message this old was handled here already: a duplicate delivery (a resume replay, a catch-up overlap). */
  handled(channelId: string, messageId: string): boolean {
    const memo = this.memos.get(channelId);
    return memo !== undefined && BigInt(memo.last) >= BigInt(messageId);
  }

  /** Records a handled message (published, or deliberately dropped) in a channel we talk in, or that joins now. */
  async seen(channelId: string, messageId: string, place: Place, addressed: boolean): Promise<void> {
    const memo = this.memos.get(channelId);
    if (!memo && !addressed) return;
    const next: Memo = {
      last: memo ? later(memo.last, messageId) : messageId,
      talkedAt: memo?.talkedAt ?? 0,
      kind: place.kind,
      thread: place.thread,
      ...(place.guildId ? { guildId: place.guildId } : {}),
      ...(place.parentId ? { parentId: place.parentId } : {}),
    };
    if (memo && next.last === memo.last && next.talkedAt === memo.talkedAt) return;
    this.memos.set(channelId, next);
    await this.store.setConnectorState(this.connector, PREFIX + channelId, next);
  }

  /** The assistant posted in a remembered channel: it is talked in, from now. */
  async talked(channelId: string): Promise<void> {
    const memo = this.memos.get(channelId);
    // Within a minute of the last time is the same to a 24-hour window, and spares a write per reply.
    if (!memo || this.now() - memo.talkedAt < TALKED_PRECISION_MS) return;
    const next = { ...memo, talkedAt: this.now() };
    this.memos.set(channelId, next);
    await this.store.setConnectorState(this.connector, PREFIX + channelId, next);
  }

  /** Channels talked in within the window, with where to resume. */
  recent(): Array<{ channelId: string; after: string; place: Place }> {
    const since = this.now() - CATCH_UP_WINDOW_MS;
    return [...this.memos.entries()]
      .filter(([, m]) => m.talkedAt >= since)
      .map(([channelId, m]) => ({ channelId, after: m.last, place: this.place(channelId)! }));
  }
}

/**
 * One promise chain per channel: messages of a channel are published in the order they arrived (a lookup for one
 * must not let the next overtake it), and a catch-up runs before the live messages that follow it.
 */
export class Lanes {
  private readonly tails = new Map<string, Promise<void>>();

  run(key: string, task: () => Promise<void>, onError: (error: unknown) => void): void {
    const tail = (this.tails.get(key) ?? Promise.resolve()).then(task).catch(onError);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
  }

  /** Resolves once every queued task has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values());
  }
}

/** The page of messages after `after`, oldest first (Discord answers newest first). */
export function oldestFirst<T extends { id: string }>(messages: T[]): T[] {
  return [...messages].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
}
