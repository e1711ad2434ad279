import type { ConnectorDeps } from '../../core/connector.js';
import type { WaKey, WaQuoted } from './socket.js';

export const QUOTE_PREFIX = 'quote:';
const MAX_IN_MEMORY = 1_000;
/** A kept quote whose reply never came (a plug halted the turn) is dropped this long after. */
const KEEP_MS = 2 * 24 * 3_600_000;
/** How often a running connector drops them: a gateway that runs for months keeps no rows for its halted turns. */
export const PRUNE_EVERY_MS = 6 * 3_600_000;

/** What is kept of a quote across a restart: its key, and its text as the stand-in for its content. */
interface Kept {
  key: WaKey;
  text: string;
}
const isKept = (v: unknown): v is Kept =>
  typeof v === 'object' && v !== null && typeof (v as Kept).text === 'string' && typeof (v as Kept).key?.id === 'string' && typeof (v as Kept).key?.remoteJid === 'string';

/**
 * The messages replies quote, by conversation and message id. All are remembered in memory, as they came; those a
 * reply will quote in a group are also sealed in connector state, so that a reply still queued when the connector
 * restarts quotes its message all the same (by its text alone: content from the wire does not survive JSON whole).
 */
export class Quotes {
  private readonly memory = new Map<string, WaQuoted>();
  /** Entries in connector state, so that only those are deleted once their reply went out. */
  private readonly kept = new Set<string>();
  /** Quoted already: a reply faster than `keep` must not leave a row behind it. */
  private readonly answered = new Set<string>();

  constructor(private readonly d: Pick<ConnectorDeps, 'name' | 'store' | 'sealed' | 'now' | 'log'>) {}

  /** A quote is a nicety: a store that fails is logged, and the message is simply not quoted. */
  private async bestEffort<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (error) {
      this.d.log.warn({ error: (error as Error).message }, `whatsapp: could not ${what} a quote`);
      return undefined;
    }
  }

  remember(conversation: string, id: string, quoted: WaQuoted): void {
    this.memory.set(`${conversation}/${id}`, quoted);
    if (this.memory.size > MAX_IN_MEMORY) this.memory.delete(this.memory.keys().next().value!);
  }

  /** Sealed too: a reply will quote it. */
  async keep(conversation: string, id: string, quoted: WaQuoted, text: string): Promise<void> {
    const k = `${conversation}/${id}`;
    if (this.answered.delete(k)) return;
    this.kept.add(k);
    await this.bestEffort('keep', () => this.d.sealed.setConnectorState(this.d.name, QUOTE_PREFIX + k, { key: quoted.key, text: text.slice(0, 1_000) } satisfies Kept));
  }

  async find(conversation: string, id: string): Promise<WaQuoted | undefined> {
    const k = `${conversation}/${id}`;
    const remembered = this.memory.get(k);
    if (remembered) return remembered;
    const stored = await this.bestEffort('read', () => this.d.sealed.getConnectorState(this.d.name, QUOTE_PREFIX + k));
    if (!isKept(stored)) return undefined;
    this.kept.add(k);
    return { key: stored.key, message: { conversation: stored.text } };
  }

  /** The reply went out: its quote is not needed again. */
  async forget(conversation: string, id: string): Promise<void> {
    const k = `${conversation}/${id}`;
    this.memory.delete(k);
    if (!this.kept.delete(k)) {
      this.answered.add(k);
      if (this.answered.size > MAX_IN_MEMORY) this.answered.delete(this.answered.values().next().value!);
      return;
    }
    await this.bestEffort('delete', () => this.d.store.deleteConnectorState(this.d.name, [QUOTE_PREFIX + k]));
  }

  /** Prunes every `everyMs` until the returned function is called; a failure waits for the next round. */
  pruneEvery(everyMs: number): () => void {
    const timer = setInterval(() => void this.bestEffort('prune', () => this.prune()), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Quotes kept for replies that never came. */
  async prune(): Promise<void> {
    const before = new Date(this.d.now() - KEEP_MS).toISOString();
    const stale = (await this.d.store.listConnectorState(this.d.name, QUOTE_PREFIX)).filter((e) => e.updatedAt < before).map((e) => e.key);
    if (stale.length > 0) await this.d.store.deleteConnectorState(this.d.name, stale);
  }
}
